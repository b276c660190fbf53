//! The `signals` strategy: entries and exits from a file, replayed by the engine. Parity with
//! backtesting.py 0.6.6 on fixed signals over GOOG (`tests/fixtures/signals/`, made by the committed
//! `make_oracle.py`) from CSV and from the Parquet file pandas wrote; the hand-built bracket orders of
//! `tests/fixtures/brackets/` through the command line; playbooks that record the file's sha256 so
//! `--check` notices a changed file; and the refusals.

use std::path::Path;

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::support::{Run, bundled_home, empty_home, fixture, flowrex, json};

/// `flowrex backtest --strategy signals --param file=FILE` on `symbol` `interval`, as JSON.
fn replay(home: &Path, file: &Path, market: (&str, &str), extra: &[&str]) -> Run {
    Run::of(
        flowrex(home)
            .args(["--json", "backtest", "--strategy", "signals", "--param"])
            .arg(format!("file={}", file.display()))
            .args(["--symbol", market.0, "--interval", market.1])
            .args(extra),
    )
}

/// `(entry bar, exit bar, size, entry price, exit price, pnl)` of every closed trade of a run.
fn trades(doc: &Value) -> Vec<(u64, u64, f64, f64, f64, f64)> {
    doc["trades"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            let f = |k: &str| t[k].as_f64().unwrap();
            (
                t["entry_bar"].as_u64().unwrap(),
                t["exit_bar"].as_u64().unwrap(),
                f("size"),
                f("entry_price"),
                f("exit_price"),
                f("pnl"),
            )
        })
        .collect()
}

/// The same columns from an oracle CSV (PnL is the last column).
fn oracle(path: &Path) -> Vec<(u64, u64, f64, f64, f64, f64)> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let (eb, xb, sz, ep, xp, pnl) = (
        col("EntryBar"),
        col("ExitBar"),
        col("Size"),
        col("EntryPrice"),
        col("ExitPrice"),
        col("PnL"),
    );
    lines
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            let n = |i: usize| f[i].parse::<f64>().unwrap();
            (
                f[eb].parse().unwrap(),
                f[xb].parse().unwrap(),
                n(sz),
                n(ep),
                n(xp),
                n(pnl),
            )
        })
        .collect()
}

#[test]
fn fixed_signals_on_goog_match_backtesting_py_from_csv_and_parquet() {
    let home = bundled_home();
    let want = oracle(&fixture("signals/goog_signals.trades.csv"));
    let summary = std::fs::read_to_string(fixture("signals/goog_signals.summary.csv")).unwrap();
    let (count, equity) = summary.lines().nth(1).unwrap().split_once(',').unwrap();
    for file in ["goog_signals.csv", "goog_signals.parquet"] {
        let run = replay(
            home.path(),
            &fixture(&format!("signals/{file}")),
            ("GOOG", "1d"),
            &["--commission", "0.002", "--stop-policy", "reference"],
        );
        assert_eq!(run.code, 0, "{file}: {}", run.stderr);
        let doc = json(&run);
        assert_eq!(trades(&doc), want, "{file}");
        assert_eq!(want.len(), count.parse::<usize>().unwrap());
        assert_eq!(
            doc["metrics"]["equity_final"].as_f64(),
            Some(equity.parse::<f64>().unwrap()),
            "{file}"
        );
        // Five-unit signals kept their size whatever --size says.
        assert!(
            doc["trades"]
                .as_array()
                .unwrap()
                .iter()
                .any(|t| t["size"] == -5.0)
        );
    }
}

#[test]
fn the_hand_built_bracket_orders_replay_through_the_command_line() {
    let home = empty_home();
    let import = Run::of(
        flowrex(home.path())
            .args(["fetch", "--provider", "csv", "--file"])
            .arg(fixture("brackets/bars.csv"))
            .args(["--symbol", "BR", "--interval", "1d"]),
    );
    assert_eq!(import.code, 0, "{}", import.stderr);
    let file = fixture("brackets/signals.csv");
    let run = replay(
        home.path(),
        &file,
        ("BR", "1d"),
        &["--stop-policy", "reference"],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        trades(&json(&run)),
        oracle(&fixture("brackets/oracle.plain.trades.csv"))
    );
    // With costs the order the reference refuses is cancelled and counted.
    let run = replay(
        home.path(),
        &file,
        ("BR", "1d"),
        &[
            "--stop-policy",
            "reference",
            "--spread",
            "0.01",
            "--commission",
            "0.002",
        ],
    );
    let doc = json(&run);
    assert_eq!(
        trades(&doc),
        oracle(&fixture("brackets/oracle.costs.trades.csv"))
    );
    assert_eq!(doc["metrics"]["cancelled_orders"], 1);
}

fn sha256_hex(path: &Path) -> String {
    Sha256::digest(std::fs::read(path).unwrap())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn a_playbook_records_the_file_and_its_sha256_and_check_notices_a_change() {
    let home = bundled_home();
    let signals = home.path().join("my signals.csv");
    std::fs::copy(fixture("signals/goog_signals.csv"), &signals).unwrap();
    let pb = home.path().join("playbooks/signals.toml");
    let run = Run::of(
        flowrex(home.path())
            .args(["optimize", "--strategy", "signals", "--param"])
            .arg(format!("file={}", signals.display()))
            .args([
                "--symbol",
                "GOOG",
                "--interval",
                "1d",
                "--commission",
                "0.002",
                "--out",
            ])
            .arg(&pb),
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let text = std::fs::read_to_string(&pb).unwrap();
    let doc: toml::Table = toml::from_str(&text).unwrap();
    let strategy = &doc["strategy"];
    assert_eq!(strategy["params"]["file"].as_str(), signals.to_str());
    assert_eq!(
        strategy["file_sha256"]["file"].as_str(),
        Some(sha256_hex(&signals).as_str())
    );
    let check = |extra: &[&str]| {
        Run::of(
            flowrex(home.path())
                .args(["backtest", "--playbook"])
                .arg(&pb)
                .arg("--check")
                .args(extra),
        )
    };
    let run = check(&[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    // Move one stop (line 2: 125.95 → 120.00): the file differs, so --check refuses before comparing.
    let original = std::fs::read_to_string(&signals).unwrap();
    std::fs::write(&signals, original.replacen("125.95", "120.00", 1)).unwrap();
    let run = check(&[]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(
        run.stderr.contains(&format!(
            "the file of parameter `file` changed: {} is sha256 {}",
            signals.display(),
            &sha256_hex(&signals)[..12]
        )),
        "{}",
        run.stderr
    );
    // Compared anyway, the metrics tell whether the change mattered; restored, the check passes again.
    let run = check(&["--ignore-data-hash"]);
    assert!(run.code == 0 || run.code == 3, "{}", run.stderr);
    assert!(run.stderr.contains("the file of parameter `file` changed"));
    std::fs::write(&signals, original).unwrap();
    assert_eq!(check(&[]).code, 0);
}

#[test]
fn relative_paths_are_stored_absolute() {
    let home = bundled_home();
    std::fs::copy(
        fixture("signals/goog_signals.csv"),
        home.path().join("s.csv"),
    )
    .unwrap();
    let run = Run::of(
        flowrex(home.path())
            .current_dir(home.path())
            .args([
                "--json",
                "backtest",
                "--strategy",
                "signals",
                "--param",
                "file=s.csv",
            ])
            .args(["--symbol", "GOOG", "--interval", "1d"]),
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let file = json(&run)["params"]["file"].as_str().unwrap().to_string();
    assert_eq!(
        Path::new(&file),
        std::path::absolute(home.path().join("s.csv")).unwrap()
    );
}

#[test]
fn bad_signals_are_refused_naming_the_file_and_line() {
    let home = bundled_home();
    let run = Run::of(flowrex(home.path()).args([
        "backtest",
        "--strategy",
        "signals",
        "--symbol",
        "GOOG",
        "--interval",
        "1d",
    ]));
    assert_eq!(run.code, 2);
    assert!(
        run.stderr
            .contains("parameter `file` is required: give --param file=PATH")
    );
    let missing = home.path().join("nope.csv");
    let run = replay(home.path(), &missing, ("GOOG", "1d"), &[]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains(&missing.display().to_string()),
        "{}",
        run.stderr
    );
    // 2004-08-21 was a Saturday: no GOOG bar opens then.
    let bad = home.path().join("bad.csv");
    std::fs::write(
        &bad,
        "time,action\n2004-08-20,enter-long\n2004-08-21,exit\n",
    )
    .unwrap();
    let run = replay(home.path(), &bad, ("GOOG", "1d"), &[]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains(
            "bad.csv: line 3: time 2004-08-21T00:00:00Z matches no bar (the bars around it open at \
             2004-08-20T00:00:00Z and 2004-08-23T00:00:00Z)"
        ),
        "{}",
        run.stderr
    );
    assert!(run.stdout.is_empty());
}
