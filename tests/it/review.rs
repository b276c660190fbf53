//! Findings of an adversarial review of the command line (a demanding user trying to break it), each
//! pinned by the run that used to go wrong: an output that replaced the signals file it read, CSV rows
//! whose values landed in the wrong columns, and the refusals and messages that now name what is wrong.

use std::path::Path;

use crate::support::{BACKTEST_SMA_GOOG, Run, bundled_home, command, fixture, load, run, write};

/// One EURUSD trade the default limits approve (0.2 lots, stop 50 pips, target 100).
const EURUSD_TRADE: [&str; 15] = [
    "risk-check",
    "--symbol",
    "EURUSD",
    "--side",
    "long",
    "--entry",
    "1.1",
    "--stop",
    "1.095",
    "--target",
    "1.11",
    "--size",
    "0.2",
    "--lot-size",
    "100000",
];

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

#[test]
fn a_store_file_recording_another_symbol_fails_verify_and_lists_as_damaged() {
    let home = bundled_home();
    let dir = home.path();
    // GOOG's file copied into OTHER's folder: its metadata still says GOOG, and every load of OTHER
    // refuses it.
    std::fs::create_dir_all(dir.join("data/OTHER")).unwrap();
    std::fs::copy(
        dir.join("data/GOOG/1d.parquet"),
        dir.join("data/OTHER/1d.parquet"),
    )
    .unwrap();
    let holds = "the file holds GOOG, not OTHER";
    let load = run(
        dir,
        &[
            "backtest",
            "--strategy",
            "sma_cross",
            "--symbol",
            "OTHER",
            "--interval",
            "1d",
        ],
    );
    assert_eq!(load.code, 1, "{}", load.stderr);
    assert!(load.stderr.contains(holds), "{}", load.stderr);
    // `--verify` used to say `ok` (exit 0) about the file the loads refuse.
    let verify = run(dir, &["fetch", "--verify", "OTHER/1d"]);
    assert_eq!(verify.code, 3, "{}", verify.stdout);
    assert!(verify.stderr.contains(holds), "{}", verify.stderr);
    // `--list` used to show it as a second, healthy GOOG row.
    let list = run(dir, &["fetch", "--list"]);
    assert_eq!(list.code, 1, "{}", list.stderr);
    let table: Vec<&str> = list.stdout.lines().filter(|l| l.starts_with('│')).collect();
    let goog: Vec<&&str> = table.iter().filter(|l| l.starts_with("│ GOOG ")).collect();
    assert_eq!(goog.len(), 1, "{}", list.stdout);
    assert!(goog[0].contains("│ ok "), "{}", list.stdout);
    let other = table.iter().find(|l| l.starts_with("│ OTHER ")).unwrap();
    assert!(other.contains("│ damaged │"), "{}", list.stdout);
    // The status column is the one a damaged file needs; it used to be the first left out at 80
    // columns, while the error pointed at it. The reason follows the table.
    assert!(table[0].contains("│ status "), "{}", list.stdout);
    for line in list.stdout.lines().filter(|l| !l.starts_with("damaged: ")) {
        assert!(line.chars().count() <= 80, "{line}");
    }
    let line = list
        .stdout
        .lines()
        .find(|l| l.starts_with("damaged: "))
        .unwrap();
    assert!(
        line.contains("data/OTHER/1d.parquet: ") && line.contains(holds),
        "{}",
        list.stdout
    );
    // JSON keeps the whole status in the document.
    let doc = crate::support::json(&run(dir, &["--json", "fetch", "--list"]));
    let status = doc
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["symbol"] == "OTHER")
        .map(|e| e["status"].as_str().unwrap().to_string())
        .unwrap();
    assert!(
        status.starts_with("damaged: ") && status.contains(holds),
        "{status}"
    );
}

/// `playbooks/goog_sma_cross.toml` of the repository with `old` replaced by `new`, written to `dir`.
fn edited_playbook(dir: &Path, name: &str, old: &str, new: &str) -> std::path::PathBuf {
    let text =
        std::fs::read_to_string(crate::support::repo().join("playbooks/goog_sma_cross.toml"))
            .unwrap();
    assert!(text.contains(old), "{old}");
    write(dir, name, &text.replacen(old, new, 1))
}

#[test]
fn a_malformed_playbook_or_spec_is_one_line_naming_the_file_and_line() {
    let home = bundled_home();
    let dir = home.path();
    // Line 20 of the bundled playbook is `bars = 2148` in [market].
    let pb = edited_playbook(dir, "bars.toml", "bars = 2148", "bars = -5");
    let text = std::fs::read_to_string(&pb).unwrap();
    assert_eq!(text.lines().nth(19), Some("bars = -5"));
    let r = run(
        dir,
        &["backtest", "--playbook", pb.to_str().unwrap(), "--check"],
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    // toml's own text spans several lines with a caret drawing (`TOML parse error at line 20, column
    // 8 | 20 | bars = -5 | ^^ …` once joined); the message is one line naming file and line.
    assert_eq!(
        r.stderr.trim_end(),
        format!(
            "error: {}: not a valid playbook: line 20: invalid value: integer `-5`, expected u64",
            pb.display()
        )
    );
    let spec = write(
        dir,
        "spec.toml",
        "strategy = \"sma_cross\"\ncommission = \"x\"\n",
    );
    let out = dir.join("out.toml");
    let r = run(
        dir,
        &[
            "optimize",
            "--spec",
            spec.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert_eq!(
        r.stderr.trim_end(),
        format!(
            "error: --spec {}: line 2: invalid type: string \"x\", expected f64",
            spec.display()
        )
    );
}

#[test]
fn a_bad_value_in_a_playbook_names_the_playbook_and_is_bad_input() {
    let home = bundled_home();
    let dir = home.path();
    // Trades in the journal, for `journal analyze` to compare with a playbook below.
    let good = edited_playbook(dir, "goog_sma_cross.toml", "[playbook]", "[playbook]");
    let r = run(
        dir,
        &[
            "backtest",
            "--playbook",
            good.to_str().unwrap(),
            "--journal",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    for (name, old, new, what) in [
        (
            "cash.toml",
            "cash = 10000.0",
            "cash = nan",
            "--cash NaN: must be a number above 0",
        ),
        (
            "fast.toml",
            "fast = 10",
            "fast = -10",
            "parameter `fast`: -10 is out of range",
        ),
        (
            "strategy.toml",
            "name = \"sma_cross\"",
            "name = \"nope\"",
            "unknown strategy `nope`",
        ),
    ] {
        let pb = edited_playbook(dir, name, old, new);
        for check in [&[][..], &["--check"]] {
            let mut args = vec!["backtest", "--playbook", pb.to_str().unwrap()];
            args.extend_from_slice(check);
            let r = run(dir, &args);
            // Nothing typed on the command line was wrong: exit 1 (it was 2, a usage error that
            // did not say which file held the value).
            assert_eq!(r.code, 1, "{args:?}: {}", r.stderr);
            assert!(
                r.stderr
                    .starts_with(&format!("error: {}: {what}", pb.display())),
                "{args:?}: {}",
                r.stderr
            );
            assert!(r.stdout.is_empty());
        }
        // The journal's comparison with a playbook reads it the same way (it was exit 2 without
        // the file too).
        let r = run(
            dir,
            &[
                "journal",
                "analyze",
                "--strategy",
                "goog_sma_cross",
                "--symbol",
                "GOOG",
                "--source",
                "backtest",
                "--playbook",
                pb.to_str().unwrap(),
            ],
        );
        assert_eq!(r.code, 1, "{}", r.stderr);
        assert!(
            r.stderr
                .starts_with(&format!("error: {}: {what}", pb.display())),
            "{}",
            r.stderr
        );
        // So does a paper run of it (an unknown strategy was exit 2 naming no file). A paper run
        // trades with [paper]'s costs and balance, not [backtest]'s: it does not read `cash`.
        if name == "cash.toml" {
            continue;
        }
        let r = run(
            dir,
            &[
                "paper-trade",
                "run",
                "--playbook",
                pb.to_str().unwrap(),
                "--now",
                "2005-01-01",
            ],
        );
        assert_eq!(r.code, 1, "{}", r.stderr);
        assert!(
            r.stderr.starts_with(&format!("error: {}: ", pb.display())) && r.stderr.contains(what),
            "{}",
            r.stderr
        );
    }
}

#[test]
fn a_thread_count_beyond_1024_is_a_usage_error_before_any_thread_starts() {
    let home = bundled_home();
    // The pool starts every thread before the command runs: `-j 16000 fetch --list` took over 30 s
    // and `-j 65535` was killed.
    for j in ["1025", "65535"] {
        let r = run(home.path(), &["-j", j, "fetch", "--list"]);
        assert_eq!(r.code, 2, "-j {j}: {}", r.stderr);
        assert!(
            r.stderr.contains(&format!("{j} is not in 1..=1024")),
            "{}",
            r.stderr
        );
        assert!(r.stdout.is_empty());
    }
}

#[test]
fn the_playbook_list_names_files_apart_and_wide_shows_them_whole() {
    let home = bundled_home();
    let dir = home.path();
    let playbooks = dir.join("playbooks");
    std::fs::create_dir_all(&playbooks).unwrap();
    let bundled = crate::support::repo().join("playbooks/goog_sma_cross.toml");
    // What `journal feedback` → `optimize --spec` writes beside the original, and a copy made to edit
    // (its [playbook] name is still goog_sma_cross).
    let long = "goog_sma_cross-GOOG-1d-reopt-20261130T115527Z";
    for name in ["goog_sma_cross", long, "copy"] {
        std::fs::copy(&bundled, playbooks.join(format!("{name}.toml"))).unwrap();
    }
    let r = run(dir, &["playbooks"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let names: Vec<&str> = r
        .stdout
        .lines()
        .skip(1)
        .take(3)
        .map(|l| l.split(' ').next().unwrap())
        .collect();
    // By file name, as `show` and `set-status` take it; the long one cut after more than 15
    // characters, so that it no longer reads `goog_sma_cross…` like its neighbour. It used to be the
    // [playbook] name, cut at 15: two identical `goog_sma_cross…` rows and two `goog_sma_cross`.
    // Sorted by file name (`-` sorts before `.toml`'s dot).
    assert_eq!(names[0], "copy", "{}", r.stdout);
    assert!(
        names[1].starts_with("goog_sma_cross-") && names[1].ends_with('…'),
        "{}",
        r.stdout
    );
    assert_eq!(names[2], "goog_sma_cross", "{}", r.stdout);
    for line in r.stdout.lines() {
        assert!(line.chars().count() <= 80, "{line}");
    }
    assert!(r.stdout.contains("--wide shows them whole"), "{}", r.stdout);
    // `--wide` (documented as "every column unwrapped") used to cut as well.
    let wide = run(dir, &["--wide", "playbooks"]);
    assert_eq!(wide.code, 0, "{}", wide.stderr);
    assert!(
        wide.stdout
            .lines()
            .nth(2)
            .unwrap()
            .starts_with(&format!("{long} ")),
        "{}",
        wide.stdout
    );
    assert!(!wide.stdout.contains('…'), "{}", wide.stdout);
}

#[test]
fn every_since_and_until_takes_the_time_formats_and_names_itself() {
    let home = bundled_home();
    let dir = home.path();
    let ok = |args: &[&str]| {
        let r = run(dir, args);
        assert_eq!(r.code, 0, "{args:?}: {}", r.stderr);
        r
    };
    ok(&["risk-check", "state", "--balance", "10000"]);
    let check = EURUSD_TRADE;
    ok(&check);
    let decisions = |extra: &[&str]| {
        let mut args = vec!["--json", "risk-check", "decisions"];
        args.extend_from_slice(extra);
        let r = ok(&args);
        crate::support::json(&r)["decisions"]
            .as_array()
            .unwrap()
            .len()
    };
    // One decision, made now: after 2000 in every spelling of the README's table, none before it.
    // `--since 2000` and the epoch used to be refused ("unparsable time '2000'", exit 1); ISO only.
    for since in [
        "2000",
        "2000-01-01",
        "20000101",
        "946684800s",
        "0946684800",
        "2000-01-01T00:00:00Z",
    ] {
        assert_eq!(decisions(&["--since", since]), 1, "--since {since}");
        assert_eq!(decisions(&["--until", since]), 0, "--until {since}");
    }
    // A bad time is a usage error naming the flag (it named none, exit 1); the journal's named
    // --start instead of --since.
    for args in [
        &["risk-check", "decisions", "--since", "soon"][..],
        &["risk-check", "decisions", "--until", "soon"],
        &["journal", "list", "--since", "soon"],
        &["journal", "stats", "--until", "soon"],
    ] {
        let r = run(dir, args);
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
        let flag = args[args.len() - 2];
        assert!(
            r.stderr.starts_with(&format!(
                "error: {flag}: unparsable time 'soon'; accepted: YYYY"
            )),
            "{args:?}: {}",
            r.stderr
        );
    }
    let r = run(
        dir,
        &["journal", "list", "--since", "2013", "--until", "2012"],
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("--until 2012 is before --since 2013"),
        "{}",
        r.stderr
    );
}

#[test]
fn an_epoch_too_large_for_a_date_is_a_usage_error_not_the_largest_number() {
    let home = bundled_home();
    // These saturated to i64::MAX ms: the run logged `time window 9223372036854775807 to (last bar)`
    // and failed later with "no GOOG 1d bars" (exit 1).
    for (flag, value) in [
        ("--start", "99999999999999999999999s"),
        ("--end", "9223372036854775807ms"),
        ("--timerange", "99999999999999999999999999-"),
    ] {
        let r = run(home.path(), &command(&BACKTEST_SMA_GOOG, &[flag, value]));
        assert_eq!(r.code, 2, "{flag} {value}: {}", r.stderr);
        assert!(r.stderr.contains("is out of range"), "{}", r.stderr);
        assert!(!r.stderr.contains("9223372036854775807 to"), "{}", r.stderr);
    }
}

#[test]
fn verify_json_gives_rfc3339_times_and_an_empty_file_reads_as_empty() {
    let home = bundled_home();
    let dir = home.path();
    let doc = crate::support::json(&run(dir, &["--json", "fetch", "--verify", "GOOG/1d"]));
    // The README's rule for JSON times (RFC 3339, as `fetch --list --json`); they were `2004-08-19`.
    assert_eq!(doc["first"], "2004-08-19T00:00:00Z", "{doc}");
    assert_eq!(doc["last"], "2013-03-01T00:00:00Z", "{doc}");
    // A store file with no rows (an empty table pandas wrote): `ok: 0 rows,  to , …` before.
    crate::support::seed(dir, "EMPTY", "1d", &[]);
    let r = run(dir, &["fetch", "--verify", "EMPTY/1d"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.trim_end().ends_with("ok: 0 rows (an empty file)"),
        "{}",
        r.stdout
    );
    let doc = crate::support::json(&run(dir, &["--json", "fetch", "--verify", "EMPTY/1d"]));
    assert_eq!(doc["rows"], 0);
    assert!(doc["first"].is_null() && doc["last"].is_null(), "{doc}");
}

#[test]
fn a_huge_setting_is_echoed_in_exponent_form() {
    let home = bundled_home();
    for (flag, value, shown) in [
        (
            "--spread",
            "1e308",
            "--spread 1e308: must be a fraction in [0, 0.1)",
        ),
        (
            "--commission",
            "1e300",
            "--commission 1e300: must be a fraction in [0, 0.1)",
        ),
        (
            "--cash=-1e300",
            "",
            "--cash -1e300: must be a number above 0",
        ),
    ] {
        let mut args = vec!["backtest", "--strategy", "sma_cross", "--symbol", "GOOG"];
        args.extend(["--interval", "1d", flag]);
        if !value.is_empty() {
            args.push(value);
        }
        let r = run(home.path(), &args);
        assert_eq!(r.code, 2, "{}", r.stderr);
        // It printed the value's 301 to 309 digits.
        assert!(
            r.stderr.starts_with(&format!("error: {shown}")),
            "{}",
            r.stderr
        );
        assert!(r.stderr.len() < 120, "{}", r.stderr);
    }
}

#[test]
fn a_log_file_is_never_appended_to_the_store_or_the_database() {
    let home = bundled_home();
    let dir = home.path();
    let ok = run(dir, &["risk-check", "state", "--balance", "10000"]);
    assert_eq!(ok.code, 0, "{}", ok.stderr);
    let goog = dir.join("data/GOOG/1d.parquet");
    let db = dir.join("flowrex.db");
    for target in [&goog, &db] {
        let before = std::fs::read(target).unwrap();
        let r = run(
            dir,
            &[
                "-v",
                "--log-file",
                target.to_str().unwrap(),
                "fetch",
                "--list",
            ],
        );
        // `-v` logs a line before any command runs: it was appended to the file, and GOOG 1d read
        // back as "not a readable Parquet file (… Corrupt footer)".
        assert_eq!(r.code, 2, "{}", r.stderr);
        assert!(
            r.stderr
                .starts_with(&format!("error: --log-file {}: ", target.display())),
            "{}",
            r.stderr
        );
        assert_eq!(
            std::fs::read(target).unwrap(),
            before,
            "{}",
            target.display()
        );
    }
    let r = run(dir, &BACKTEST_SMA_GOOG);
    assert_eq!(r.code, 0, "{}", r.stderr);
    // Anywhere else the log is appended as before.
    let log = dir.join("flowrex.log");
    for _ in 0..2 {
        let r = run(
            dir,
            &["-v", "--log-file", log.to_str().unwrap(), "fetch", "--list"],
        );
        assert_eq!(r.code, 0, "{}", r.stderr);
    }
    let text = std::fs::read_to_string(&log).unwrap();
    assert_eq!(text.matches("DEBUG home ").count(), 2, "{text}");
}

#[test]
fn a_paper_run_never_writes_its_metrics_over_a_playbook() {
    let (home, pb) = crate::support::home_with_readme_playbook();
    let dir = home.path();
    let before = std::fs::read(&pb).unwrap();
    let p = pb.to_str().unwrap();
    // The run traded the playbook and then replaced it with Prometheus text (exit 0).
    for args in [
        &["paper-trade", "run", "--playbook", p, "--metrics-file", p][..],
        &[
            "paper-trade",
            "run",
            "--playbook",
            "goog_sma_cross",
            "--metrics-file",
            p,
        ],
        &["paper-trade", "run", "--metrics-file", p],
    ] {
        let mut args = args.to_vec();
        args.extend(["--now", "2013-01-01"]);
        let r = run(dir, &args);
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
        assert!(
            r.stderr
                .contains(": the file is also an input (--playbook "),
            "{args:?}: {}",
            r.stderr
        );
        assert_eq!(std::fs::read(&pb).unwrap(), before, "{args:?}");
    }
}

#[test]
fn a_tampered_audit_row_shows_in_the_verify_table_at_80_columns() {
    let home = bundled_home();
    let dir = home.path();
    let ok = |args: &[&str]| assert_eq!(run(dir, args).code, 0, "{args:?}");
    ok(&["risk-check", "state", "--balance", "10000"]);
    let trade = EURUSD_TRADE;
    ok(&trade);
    ok(&trade);
    // Row 2 edited with the guard dropped and put back, as someone with the sqlite3 tool would.
    let conn = rusqlite::Connection::open(dir.join("flowrex.db")).unwrap();
    let guard: String = conn
        .query_row(
            "SELECT sql FROM sqlite_master WHERE name = 'risk_decisions_no_update'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    conn.execute_batch(&format!(
        "DROP TRIGGER risk_decisions_no_update;
         UPDATE risk_decisions SET approved = 0 WHERE id = 2;
         {guard};"
    ))
    .unwrap();
    drop(conn);
    let r = run(dir, &["risk-check", "verify"]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    // The status column was the first left out (after it the head): the table showed `rows` only.
    let row = r
        .stdout
        .lines()
        .find(|l| l.starts_with("│ risk_decisions "))
        .unwrap();
    assert!(row.contains("BROKEN at row 2"), "{}", r.stdout);
    assert!(
        r.stdout
            .contains("(left out to fit 80 columns: head; --wide shows them)"),
        "{}",
        r.stdout
    );
    for line in r.stdout.lines().filter(|l| l.starts_with(['┌', '│', '└'])) {
        assert!(line.chars().count() <= 80, "{line}");
    }
}
