//! Findings of an adversarial review of the command line (a demanding user trying to break it), each
//! pinned by the run that used to go wrong: an output that replaced the signals file it read, CSV rows
//! whose values landed in the wrong columns, and the refusals and messages that now name what is wrong.

use std::path::Path;

use crate::support::{Run, bundled_home, fixture, load, run, write};

/// `args` in `home` must be refused as a usage error (exit 2) naming `flag` as an input.
fn refused_as_input(home: &Path, args: &[&str], flag: &str) {
    let r = run(home, args);
    assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
    assert!(
        r.stderr.starts_with(&format!("error: {flag} "))
            && r.stderr
                .contains(": the file is also an input (--param file "),
        "{args:?}: {}",
        r.stderr
    );
    assert!(r.stdout.is_empty(), "{args:?} printed a result");
}

#[test]
fn no_output_replaces_the_signals_file_the_run_reads() {
    let home = bundled_home();
    let dir = home.path();
    let csv = dir.join("signals.csv");
    std::fs::copy(fixture("signals/goog_signals.csv"), &csv).unwrap();
    let parquet = dir.join("signals.parquet");
    std::fs::copy(fixture("signals/goog_signals.parquet"), &parquet).unwrap();
    let before = (
        std::fs::read(&csv).unwrap(),
        std::fs::read(&parquet).unwrap(),
    );
    let market = ["--symbol", "GOOG", "--interval", "1d"];
    let file_csv = format!("file={}", csv.display());
    let file_pq = format!("file={}", parquet.display());
    let c = csv.to_str().unwrap();
    let q = parquet.to_str().unwrap();
    let backtest = |file: &str, flag: &str, out: &str| {
        let mut a = vec!["backtest", "--strategy", "signals", "--param", file];
        a.extend(market);
        a.extend([flag, out]);
        a.iter().map(|s| s.to_string()).collect::<Vec<_>>()
    };
    for args in [
        backtest(&file_csv, "--trades", c),
        backtest(&file_csv, "--equity", c),
        backtest(&file_pq, "--trades", q),
    ] {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        refused_as_input(dir, &args, args[args.len() - 2]);
    }
    let pb = dir.join("p.toml");
    let mut optimize = vec!["optimize", "--strategy", "signals", "--param", &file_pq];
    optimize.extend(market);
    optimize.extend(["--results", q, "--out", pb.to_str().unwrap()]);
    refused_as_input(dir, &optimize, "--results");
    assert!(!pb.exists(), "a refused search wrote its playbook");
    let mut report = vec![
        "report",
        "backtest",
        "--strategy",
        "signals",
        "--param",
        &file_pq,
    ];
    report.extend(market);
    report.extend(["--out", q]);
    refused_as_input(dir, &report, "--out");
    // Untouched, byte for byte.
    assert_eq!(std::fs::read(&csv).unwrap(), before.0);
    assert_eq!(std::fs::read(&parquet).unwrap(), before.1);
}

/// `fetch --provider csv --file FILE --symbol X --interval 1d` in `home`.
fn import(home: &Path, file: &Path) -> Run {
    run(
        home,
        &[
            "fetch",
            "--provider",
            "csv",
            "--file",
            file.to_str().unwrap(),
            "--symbol",
            "X",
            "--interval",
            "1d",
        ],
    )
}

#[test]
fn a_csv_row_with_more_values_than_the_header_is_refused_not_shifted() {
    let home = bundled_home();
    let dir = home.path();
    // Line 3's close is written with a decimal comma in a `,` file: `1,5` is two fields, which used to
    // store close 1 and volume 5 (and drop the 10) without a word.
    let shifted = write(
        dir,
        "shifted.csv",
        "Date,Open,High,Low,Close,Volume\n2020-01-01,1,2,0.5,1.5,10\n\
         2020-01-02,1,2,0.5,1,5,10\n2020-01-03,1,2,0.5,1.5,10\n",
    );
    let r = import(dir, &shifted);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("shifted.csv: line 3: 7 fields, but the header names 6"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("nothing was written"), "{}", r.stderr);
    assert!(!dir.join("data/X").exists(), "the refused import wrote");
    // A trailing separator (an empty last field) is not a value: the file imports as written.
    let trailing = write(
        dir,
        "trailing.csv",
        "Date,Open,High,Low,Close,Volume\n2020-01-01,1,2,0.5,1.5,10,\n2020-01-02,1,2,0.5,1.5,10\n",
    );
    let r = import(dir, &trailing);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let stored = load(dir, "X", "1d");
    assert_eq!(stored.close, [1.5, 1.5]);
    assert_eq!(stored.volume, [10.0, 10.0]);
}

#[test]
fn a_csv_header_with_two_columns_for_one_price_is_refused() {
    let home = bundled_home();
    let dir = home.path();
    let two = write(
        dir,
        "two.csv",
        "Date,Open,High,Low,Close,c,Volume\n2020-01-01,1,2,0.5,1.5,1.6,10\n",
    );
    let r = import(dir, &two);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains(
            "two.csv: the header has two close columns, `Close` (column 5) and `c` (column 6)"
        ),
        "{}",
        r.stderr
    );
    assert!(!dir.join("data/X").exists());
}

#[test]
fn a_fills_or_signals_row_with_more_values_than_the_header_is_refused() {
    let home = bundled_home();
    let dir = home.path();
    // The price written `1,234.5` splits into price 1 and fee 234.5.
    let fills = write(
        dir,
        "fills.csv",
        "time,symbol,side,quantity,price,fee,order_id\n\
         2013-01-02T15:00:00Z,GOOG,buy,10,700,1,a1\n\
         2013-01-10T15:00:00Z,GOOG,sell,10,1,234.5,1,a2\n",
    );
    let r = run(
        dir,
        &[
            "journal",
            "import",
            "--file",
            fills.to_str().unwrap(),
            "--strategy",
            "sma",
        ],
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("fills.csv: line 3: 8 fields, but the header names 7"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("nothing was imported"), "{}", r.stderr);
    // A stop written `1,5`: stop 1 and a fourth value nobody reads.
    let signals = write(
        dir,
        "signals.csv",
        "time,action,stop\n2005-01-04,long,1,5\n2005-02-01,exit,\n",
    );
    let r = run(
        dir,
        &[
            "backtest",
            "--strategy",
            "signals",
            "--param",
            &format!("file={}", signals.display()),
            "--symbol",
            "GOOG",
            "--interval",
            "1d",
        ],
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("signals.csv: line 2: 4 fields, but the header names 3"),
        "{}",
        r.stderr
    );
}
