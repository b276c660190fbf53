//! Integration tests of the home folder: every command that reads state refuses a home that does not
//! exist (one line naming the folder, exit 1) and creates nothing; the commands that create state on
//! purpose create the home and say so; database errors name the database file.

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;

use crate::support::{BACKTEST_SMA_GOOG, BIN, SMA_GOOG, command};
const T0: &str = "2026-03-02T10:00:00Z";

/// A scratch folder to run in, and a home path inside it that does not exist (a mistyped --home).
struct Scratch {
    dir: tempfile::TempDir,
    typo: PathBuf,
}

impl Scratch {
    fn new() -> Scratch {
        let dir = tempfile::tempdir().unwrap();
        let typo = dir.path().join("hmoe");
        Scratch { dir, typo }
    }

    /// Everything in the scratch folder (the current folder of every run), sorted.
    fn listing(&self) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }
}

/// Runs flowrex with `--home home` from inside `cwd`, without inherited FLOWREX_HOME or RUST_LOG.
fn run_in(cwd: &Path, home: &Path, args: &[&str], stdin: &str) -> Output {
    let mut cmd = assert_cmd::Command::new(BIN);
    cmd.current_dir(cwd)
        .arg("--home")
        .arg(home)
        .args(args)
        .env_remove("FLOWREX_HOME")
        .env_remove("RUST_LOG")
        .write_stdin(stdin);
    cmd.output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Asserts that `args` on the missing home fails with exit 1 and the one-line "no such home folder"
/// error, prints nothing on stdout, and leaves the scratch folder empty (no home, no flowrex.db, no
/// lock file, not even in the current folder).
fn refuses(s: &Scratch, args: &[&str], stdin: &str) {
    let out = run_in(s.dir.path(), &s.typo, args, stdin);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
    assert_eq!(
        err,
        // The suggested commands carry the home, as the error is read in another folder (issue 18).
        format!(
            "error: {0}: no such home folder; check --home / $FLOWREX_HOME, or create it with an \
             import (`flowrex --home {0} fetch --provider …`) or \
             `flowrex --home {0} risk-check state --balance X`\n",
            s.typo.display()
        ),
        "{args:?}"
    );
    assert_eq!(text(&out.stdout), "", "{args:?}");
    assert!(s.listing().is_empty(), "{args:?} created {:?}", s.listing());
}

const TRADE: &[&str] = &[
    "risk-check",
    "--symbol",
    "BTCUSD",
    "--side",
    "long",
    "--entry",
    "100",
    "--stop",
    "90",
    "--target",
    "120",
    "--size",
    "0.1",
    "--equity",
    "1000",
    "--now",
    T0,
];

#[test]
fn every_risk_check_verb_but_setting_the_balance_refuses_a_missing_home() {
    let s = Scratch::new();
    refuses(&s, TRADE, "");
    for verb in [
        &["state"][..],
        &["limits"],
        &["decisions", "--all"],
        &["record", "fill", "--symbol", "BTCUSD"],
        &["record", "close", "--pnl", "-5"],
        &["reset-emergency", "--reason", "x"],
        &["reset-daily", "--reason", "x"],
        &["enable-strategy", "s", "--reason", "x"],
        &["verify"],
    ] {
        let mut args = vec!["risk-check"];
        args.extend_from_slice(verb);
        refuses(&s, &args, "");
        args.insert(0, "--json");
        refuses(&s, &args, "");
    }
    refuses(
        &s,
        &["risk-check", "--stdin"],
        r#"{"symbol":"X","side":"long","entry":100,"stop":90,"target":120,"size":0.1,"equity":1000}"#,
    );
}

#[test]
fn backtest_optimize_and_the_store_listings_refuse_a_missing_home() {
    let s = Scratch::new();
    refuses(&s, &BACKTEST_SMA_GOOG, "");
    refuses(
        &s,
        &command(
            &SMA_GOOG,
            &["--param", "fast=5..10:5", "--param", "slow=20..30:10"],
        ),
        "",
    );
    refuses(&s, &["fetch", "--list"], "");
    refuses(&s, &["--json", "fetch", "--list"], "");
    refuses(&s, &["fetch", "--verify", "GOOG/1d"], "");
}

#[test]
fn commands_that_read_no_state_still_run_without_a_home() {
    let s = Scratch::new();
    let out = run_in(
        s.dir.path(),
        &s.typo,
        &["backtest", "--list-strategies"],
        "",
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("sma_cross"));
    assert!(s.listing().is_empty(), "{:?}", s.listing());
}

#[test]
fn a_mistyped_home_cannot_bypass_an_emergency_shutdown() {
    let real = tempfile::tempdir().unwrap();
    let s = Scratch::new();
    let rc = |home: &Path, args: &[&str]| {
        let mut all = vec!["risk-check"];
        all.extend_from_slice(args);
        run_in(s.dir.path(), home, &all, "")
    };
    // Balance 1000, then a 150 loss: drawdown 150 / 1000 = 15%, the hard emergency limit.
    let yesterday = "2026-03-01T12:00:00Z";
    for args in [
        &["state", "--balance", "1000", "--now", yesterday][..],
        &["record", "fill", "--symbol", "X", "--now", yesterday],
        &["record", "close", "--pnl", "-150", "--now", yesterday],
    ] {
        let out = rc(real.path(), args);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    }
    // The real home rejects the trade (exit 3) …
    assert_eq!(rc(real.path(), &TRADE[1..]).status.code(), Some(3));
    // … and the mistyped one is an error, not an approval against a fresh state.
    refuses(&s, TRADE, "");
}

#[test]
fn setting_the_balance_creates_the_home_and_says_so() {
    let s = Scratch::new();
    // A bad balance creates nothing.
    let out = run_in(
        s.dir.path(),
        &s.typo,
        &["risk-check", "state", "--balance", "lots"],
        "",
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("balance: 'lots' is not a number"));
    assert!(s.listing().is_empty(), "{:?}", s.listing());

    let out = run_in(
        s.dir.path(),
        &s.typo,
        &[
            "--json",
            "risk-check",
            "state",
            "--balance",
            "2500",
            "--now",
            T0,
        ],
        "",
    );
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains(&format!("created home folder {}", s.typo.display())),
        "{err}"
    );
    let v: Value = serde_json::from_str(&text(&out.stdout)).unwrap();
    assert_eq!(v["balance"], 2500.0);
    assert!(s.typo.join("flowrex.db").is_file());
    // The home exists now: reading verbs work, and it is not "created" again.
    let out = run_in(s.dir.path(), &s.typo, &["risk-check", "state"], "");
    assert_eq!(out.status.code(), Some(0));
    assert!(!text(&out.stderr).contains("created home folder"));
}

#[test]
fn an_import_creates_the_home_and_a_failed_one_does_not() {
    let s = Scratch::new();
    let missing_csv = s.dir.path().join("no-such.csv");
    let out = run_in(
        s.dir.path(),
        &s.typo,
        &[
            "fetch",
            "--provider",
            "csv",
            "--file",
            missing_csv.to_str().unwrap(),
            "--symbol",
            "X",
            "--interval",
            "1d",
        ],
        "",
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(s.listing().is_empty(), "{:?}", s.listing());

    let out = run_in(
        s.dir.path(),
        &s.typo,
        &[
            "fetch",
            "--provider",
            "synthetic",
            "--bars",
            "30",
            "--seed",
            "1",
            "--symbol",
            "SYN",
            "--interval",
            "1d",
        ],
        "",
    );
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains(&format!("created home folder {}", s.typo.display())),
        "{err}"
    );
    assert!(s.typo.join("data/SYN/1d.parquet").is_file());
    // An import writes candles only: no state database.
    assert!(!s.typo.join("flowrex.db").exists());
    let out = run_in(s.dir.path(), &s.typo, &["--json", "fetch", "--list"], "");
    let list: Value = serde_json::from_str(&text(&out.stdout)).unwrap();
    assert_eq!(list[0]["symbol"], "SYN");
    assert_eq!(list[0]["rows"], 30);
}

#[test]
fn a_home_that_is_a_file_is_refused() {
    let s = Scratch::new();
    let file = s.dir.path().join("notes.txt");
    std::fs::write(&file, "x").unwrap();
    for args in [
        &["risk-check", "state"][..],
        &["risk-check", "state", "--balance", "5"],
    ] {
        let out = run_in(s.dir.path(), &file, args, "");
        assert_eq!(out.status.code(), Some(1));
        assert_eq!(
            text(&out.stderr),
            format!(
                "error: {}: not a folder; --home must name a home folder\n",
                file.display()
            )
        );
    }
    assert_eq!(s.listing(), ["notes.txt"]);
}

#[test]
fn a_database_error_names_the_database_file() {
    let home = tempfile::tempdir().unwrap();
    let db = home.path().join("flowrex.db");
    std::fs::write(&db, vec![b'x'; 4096]).unwrap();
    let out = run_in(home.path(), home.path(), &["risk-check", "state"], "");
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert_eq!(
        err,
        format!("error: {}: file is not a database\n", db.display())
    );
}
