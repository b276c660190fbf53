//! Safe to run twice, says what failed, publishes a metrics file (the third review, of unattended
//! cron use): `backtest --journal` run again journals nothing twice; a reused `--client-id` with other
//! order parameters is refused; every failed `paper-trade run --metrics-file` marks the file failed; a
//! bar written into the store behind a paper run's cursor is reported.

use std::path::Path;

use serde_json::Value;

use crate::support::{
    BACKTEST_SMA_GOOG, bundled_home, command, home_with_readme_playbook, json, load, run, seed,
    write,
};

fn ok_json(home: &Path, args: &[&str]) -> Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let r = run(home, &all);
    assert_eq!(r.code, 0, "{args:?}: {}{}", r.stdout, r.stderr);
    json(&r)
}

/// Every row of every table of the home's database: "nothing was written" checked whole.
fn rows(home: &Path) -> i64 {
    let c = rusqlite::Connection::open(home.join("flowrex.db")).unwrap();
    let tables: Vec<String> = c
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table'")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap();
    tables
        .iter()
        .map(|t| {
            c.query_row(&format!("SELECT count(*) FROM \"{t}\""), [], |r| {
                r.get::<_, i64>(0)
            })
            .unwrap()
        })
        .sum()
}

/// The journal's trades, as `journal list` prints them.
fn journaled(home: &Path) -> Vec<Value> {
    let list = ok_json(home, &["journal", "list", "--all"]);
    let entries = list["entries"].as_array().unwrap();
    entries.iter().map(|e| e["trade"].clone()).collect()
}

// ---- backtest --journal, twice ------------------------------------------------------------------

#[test]
fn backtest_journal_run_twice_journals_each_trade_once() {
    let (home, pb) = home_with_readme_playbook();
    let h = home.path();
    let args = ["backtest", "--playbook", pb.to_str().unwrap(), "--journal"];
    let first = ok_json(h, &args);
    let trades = first["trades"].as_array().unwrap();
    assert_eq!(first["journal"]["new"], trades.len());
    assert_eq!(first["journal"]["known"], 0);
    // The cron line again: the same 93 trades, nothing written, and it says so.
    let r = run(h, &args);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let want = format!("journal: 0 new trades, {} already journaled", trades.len());
    assert!(r.stderr.contains(&want), "{want:?} in {}", r.stderr);
    let again = ok_json(h, &args);
    assert_eq!(
        (
            again["journal"]["new"].as_u64(),
            again["journal"]["known"].as_u64()
        ),
        (Some(0), Some(trades.len() as u64))
    );
    assert!(again["journal"]["run_id"].is_null());
    assert_eq!(&journaled(h), trades);
    let r = run(h, &["journal", "verify"]);
    assert_eq!(r.code, 0, "{}", r.stdout);
}

#[test]
fn a_backtest_over_more_data_journals_only_its_new_trades() {
    let home = bundled_home();
    let h = home.path();
    let flags = command(&BACKTEST_SMA_GOOG, &["--journal=sma"]);
    let mut early = flags.to_vec();
    early.extend(["--end", "2010-06-30"]);
    let part = ok_json(h, &early);
    let full = ok_json(h, &flags);
    let (part, all) = (
        part["trades"].as_array().unwrap(),
        full["trades"].as_array().unwrap(),
    );
    // The premise: the shorter run's closed trades are the longer run's first ones (no look-ahead).
    assert!(part.len() > 10 && all.len() > part.len() + 10);
    assert_eq!(&all[..part.len()], &part[..]);
    assert_eq!(full["journal"]["known"], part.len());
    assert_eq!(full["journal"]["new"], all.len() - part.len());
    assert_eq!(&journaled(h), all);
    // Other parameters under the same name are other trades: all journaled.
    let mut other = flags.to_vec();
    other.extend(["--param", "fast=5"]);
    let five = ok_json(h, &other);
    assert_eq!(five["journal"]["known"], 0);
    assert_eq!(
        five["journal"]["new"],
        five["trades"].as_array().unwrap().len()
    );
}

// ---- --client-id --------------------------------------------------------------------------------

/// `paper-trade order` for 0.25 GOOG long under client id `k1`, with the flags of `change` set to
/// other values (or added), and `extra` flags last.
fn order(h: &Path, change: &[(&str, &str)], extra: &[&str]) -> crate::support::Run {
    let mut pairs = vec![
        ("--client-id", "k1"),
        ("--symbol", "GOOG"),
        ("--interval", "1d"),
        ("--side", "long"),
        ("--units", "0.25"),
        ("--stop-loss", "350"),
        ("--take-profit", "1800"),
        ("--now", "2012-07-03"),
    ];
    for &(flag, value) in change {
        match pairs.iter_mut().find(|(f, _)| *f == flag) {
            Some(p) => p.1 = value,
            None => pairs.push((flag, value)),
        }
    }
    let mut args = vec!["paper-trade", "order"];
    args.extend(pairs.iter().flat_map(|&(f, v)| [f, v]));
    args.extend_from_slice(extra);
    run(h, &args)
}

#[test]
fn a_reused_client_id_returns_the_same_order_and_refuses_another() {
    let home = bundled_home();
    let h = home.path();
    write(h, "flowrex.toml", "[paper]\nslippage_bps = 0\n");
    let r = run(
        h,
        &["paper-trade", "mode", "autonomous", "--reason", "test"],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let first = order(h, &[], &["--json"]);
    assert_eq!(first.code, 0, "{}", first.stderr);
    let first = json(&first);
    assert_eq!(first["result"], "submitted");
    // The same order again (a retry): the first one, nothing new.
    let before = rows(h);
    let again = order(h, &[], &["--json"]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    let again = json(&again);
    assert_eq!(again["result"], "existing");
    assert_eq!(again["order"], first["order"]);
    assert_eq!(rows(h), before);
    // Another order under the same key: refused naming the first parameter that differs, exit 1,
    // nothing written.
    let id = first["order"]["id"].as_i64().unwrap();
    let exit = [
        "paper-trade",
        "order",
        "--exit",
        "--client-id",
        "k1",
        "--symbol",
        "GOOG",
        "--interval",
        "1d",
        "--now",
        "2012-07-03",
    ];
    // `None`: an exit under the key.
    type Change<'a> = Option<&'a [(&'a str, &'a str)]>;
    let cases: [(Change<'_>, &str, &str); 5] = [
        (Some(&[("--units", "0.5")]), "units 0.25", "units 0.5"),
        (
            Some(&[("--take-profit", "1900")]),
            "take_profit 1800",
            "take_profit 1900",
        ),
        (
            Some(&[
                ("--side", "short"),
                ("--stop-loss", "700"),
                ("--take-profit", "400"),
            ]),
            "side long",
            "side short",
        ),
        (
            Some(&[("--type", "limit"), ("--limit-price", "570")]),
            "type market",
            "type limit",
        ),
        (None, "role entry", "role exit"),
    ];
    for (change, was, now) in cases {
        let r = match change {
            Some(change) => order(h, change, &[]),
            None => run(h, &exit),
        };
        let want = format!(
            "error: client_id 'k1': already names order {id} with {was}; this request has {now}."
        );
        assert!(r.stderr.starts_with(&want), "{want:?} in {}", r.stderr);
        assert_eq!(r.stderr.trim_end().lines().count(), 1, "{}", r.stderr);
        assert!(r.stdout.is_empty(), "{}", r.stdout);
        assert_eq!(rows(h), before, "{now}: something was written");
    }
    // An exit under its own key: without units it closes the whole position as it then was, so a
    // retry without units is the same order; one with other units is not.
    let r = run(h, &["paper-trade", "process", "--now", "2012-08-01"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let mut close = exit.to_vec();
    close[4] = "x1";
    *close.last_mut().unwrap() = "2012-08-01";
    let first = run(h, &[&["--json"], &close[..]].concat());
    assert_eq!(first.code, 0, "{}", first.stderr);
    let first = json(&first);
    assert_eq!(first["order"]["quantity"], 0.25);
    let before = rows(h);
    let again = json(&run(h, &[&["--json"], &close[..]].concat()));
    assert_eq!(
        (&again["result"], &again["order"]),
        (&"existing".into(), &first["order"])
    );
    let r = run(h, &[&close[..], &["--units", "0.1"]].concat());
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("with units 0.25; this request has units 0.1."),
        "{}",
        r.stderr
    );
    assert_eq!(rows(h), before);
}

// ---- paper-trade run --metrics-file on every failure ----------------------------------------------

/// The value of `name`'s sample in a textfile, if there is one.
fn gauge(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(&format!("{name}{{")))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
}

#[test]
fn every_failed_paper_run_marks_its_metrics_file_failed_and_keeps_the_last_success() {
    let (home, _) = home_with_readme_playbook();
    let h = home.path();
    let dir = tempfile::tempdir().unwrap();
    let prom = dir.path().join("paper.prom");
    let m = prom.to_str().unwrap();
    let paper_run = |extra: &[&str]| {
        let mut args = vec!["paper-trade", "run", "--playbook", "goog_sma_cross"];
        args.extend_from_slice(extra);
        args.extend(["--metrics-file", m]);
        run(h, &args)
    };
    let r = paper_run(&[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let text = std::fs::read_to_string(&prom).unwrap();
    assert_eq!(gauge(&text, "flowrex_paper_run_failed"), Some(0.0));
    let mut success = gauge(&text, "flowrex_paper_run_last_success_timestamp_seconds").unwrap();
    // Each failure below used to return before the file was written (it kept saying "failed 0").
    let cases: [(&str, &str, &[&str], i32); 3] = [
        (
            "a broken flowrex.toml",
            "[risk]\nno_such_limit = 1\n",
            &[],
            1,
        ),
        (
            "bad risk limits",
            "[risk]\nrisk_per_trade_pct = -1\n",
            &[],
            1,
        ),
        ("a bad --every", "", &["--follow", "--every", "0s"], 2),
    ];
    for (what, config, extra, code) in cases {
        write(h, "flowrex.toml", config);
        let r = paper_run(extra);
        assert_eq!(r.code, code, "{what}: {}", r.stderr);
        let text = std::fs::read_to_string(&prom).unwrap();
        assert_eq!(
            gauge(&text, "flowrex_paper_run_failed"),
            Some(1.0),
            "{what}: {text}"
        );
        assert_eq!(
            gauge(&text, "flowrex_paper_run_last_success_timestamp_seconds"),
            Some(success),
            "{what}: {text}"
        );
        let _ = std::fs::remove_file(h.join("flowrex.toml"));
        // Back to a success, so each case starts from "failed 0".
        assert_eq!(paper_run(&[]).code, 0);
        let text = std::fs::read_to_string(&prom).unwrap();
        assert_eq!(gauge(&text, "flowrex_paper_run_failed"), Some(0.0));
        success = gauge(&text, "flowrex_paper_run_last_success_timestamp_seconds").unwrap();
    }
    // A home that is not there (a mistyped --home in the crontab): the file says failed, the home is
    // not created.
    let missing = dir.path().join("no-home");
    let other = dir.path().join("other.prom");
    let r = crate::support::flowrex(&missing)
        .args([
            "paper-trade",
            "run",
            "--metrics-file",
            other.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(r.status.code(), Some(1));
    let text = std::fs::read_to_string(&other).expect("the failed run wrote its metrics file");
    assert_eq!(
        gauge(&text, "flowrex_paper_run_failed"),
        Some(1.0),
        "{text}"
    );
    assert!(!missing.exists());
}

// ---- a bar stored behind the cursor -------------------------------------------------------------

#[test]
fn a_bar_stored_behind_the_cursor_is_reported_and_not_decided() {
    let (home, _) = home_with_readme_playbook();
    let h = home.path();
    // The store without one bar ten bars from the end.
    let all = load(h, "GOOG", "1d");
    let bars: Vec<flowrex::candles::Bar> = (0..all.len()).map(|i| all.bar(i)).collect();
    let late = bars.len() - 10;
    std::fs::remove_file(h.join("data/GOOG/1d.parquet")).unwrap();
    let mut without = bars.clone();
    without.remove(late);
    seed(h, "GOOG", "1d", &without);
    let dir = tempfile::tempdir().unwrap();
    let prom = dir.path().join("paper.prom");
    let m = prom.to_str().unwrap();
    let paper_run = || {
        let r = run(
            h,
            &[
                "--json",
                "paper-trade",
                "run",
                "--playbook",
                "goog_sma_cross",
                "--metrics-file",
                m,
            ],
        );
        assert_eq!(r.code, 0, "{}", r.stderr);
        (json(&r), r.stderr, std::fs::read_to_string(&prom).unwrap())
    };
    let (first, _, text) = paper_run();
    assert!(first["cycles"].as_u64().unwrap() > 100, "{first}");
    assert_eq!(first["late_bars"], 0);
    assert_eq!(gauge(&text, "flowrex_paper_run_late_bars"), Some(0.0));
    let decided = ok_json(h, &["paper-trade", "cycles", "--last", "100000"])["cycles"]
        .as_array()
        .unwrap()
        .len();
    // The missing bar arrives late: behind the last decided bar.
    seed(h, "GOOG", "1d", &bars[late..=late]);
    let (second, stderr, text) = paper_run();
    assert_eq!(second["cycles"], 0, "nothing is decided: {second}");
    assert_eq!(second["late_bars"], 1);
    assert_eq!(second["playbooks"][0]["late_bars"], 1);
    assert_eq!(
        gauge(&text, "flowrex_paper_run_late_bars"),
        Some(1.0),
        "{text}"
    );
    assert!(
        stderr.contains(
            "playbook goog_sma_cross: 1 GOOG 1d bar stored behind the last bar it decided"
        ),
        "{stderr}"
    );
    let after = ok_json(h, &["paper-trade", "cycles", "--last", "100000"])["cycles"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(after, decided);
    // A new bar after the end is decided as ever (one cycle); the run after it, whose cursor has
    // moved past the late bar, reports none.
    let last = bars[bars.len() - 1];
    let next = flowrex::candles::Bar {
        ts: last.ts + flowrex::candles::DAY_MS,
        ..last
    };
    seed(h, "GOOG", "1d", &[next]);
    let (third, _, _) = paper_run();
    assert_eq!(
        (third["cycles"].as_u64(), third["late_bars"].as_u64()),
        (Some(1), Some(1))
    );
    let (fourth, stderr, _) = paper_run();
    assert_eq!(fourth["late_bars"], 0, "{fourth}");
    assert!(!stderr.contains("behind"), "{stderr}");
}
