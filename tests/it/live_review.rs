//! The live side as an unwatched cron job exercises it (the second review, of state): a paper
//! ledger edited in place behind the triggers is named by `account --verify`; a `paper-trade run`
//! that gives up busy still publishes its metrics file, marked failed.

use std::path::Path;

use crate::support::{bundled_home, run, write};

/// Drops `table`'s triggers, runs `sql`, puts the triggers back: an edit "by any means".
fn tamper(home: &Path, table: &str, sql: &str) {
    let (triggers, changed) = crate::support::tamper(home, table, sql);
    assert!(triggers > 0, "{table} has guard triggers");
    assert_eq!(changed, 1, "{sql}");
}

/// The README's forward test: long 0.25 GOOG filled at the 2012-07-03 open (580.01), reversed by a
/// short at the 2012-10-19 open: fill 1 opens, fill 2 closes the long (trade 2), fill 3 opens the short.
fn forward_test_home() -> tempfile::TempDir {
    let home = bundled_home();
    let h = home.path();
    write(
        h,
        "flowrex.toml",
        "[paper]\nslippage_bps = 0\ncommission = 0.002\n",
    );
    let steps: [&[&str]; 5] = [
        &["paper-trade", "mode", "autonomous", "--reason", "test"],
        &crate::support::PAPER_GOOG_ORDER,
        &["paper-trade", "process", "--now", "2012-10-19"],
        &[
            "paper-trade",
            "order",
            "--symbol",
            "GOOG",
            "--interval",
            "1d",
            "--side",
            "short",
            "--units",
            "0.25",
            "--stop-loss",
            "990",
            "--take-profit",
            "200",
            "--now",
            "2012-10-19",
        ],
        &["paper-trade", "process", "--now", "2013-03-02"],
    ];
    for args in steps {
        let r = run(h, args);
        assert_eq!(r.code, 0, "{args:?}: {}{}", r.stdout, r.stderr);
    }
    let r = run(h, &["paper-trade", "account", "--verify"]);
    assert_eq!(r.code, 0, "untouched: {}{}", r.stdout, r.stderr);
    home
}

fn verify_fails_naming(h: &Path, what: &str) {
    let r = run(h, &["paper-trade", "account", "--verify"]);
    assert_eq!(r.code, 3, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains(what),
        "expected {what:?} in:\n{}",
        r.stdout
    );
}

#[test]
fn account_verify_names_an_opening_fills_price_edited_in_place() {
    // The fold sums each fill's stored cash and P&L, never its price: before the fix a price moved by
    // one dollar (580.01 → 581.01) verified "no problem".
    let home = forward_test_home();
    tamper(
        home.path(),
        "paper_fills",
        "UPDATE paper_fills SET price = price + 1 WHERE id = 1",
    );
    verify_fails_naming(home.path(), "fill 1: price 581.01");
}

#[test]
fn account_verify_names_a_closing_fills_price_and_a_trade_edited_in_place() {
    let home = forward_test_home();
    let h = home.path();
    tamper(
        h,
        "paper_fills",
        "UPDATE paper_fills SET price = price + 1 WHERE id = 2",
    );
    verify_fails_naming(h, "fill 2: price");
    verify_fails_naming(h, "but its trade exited at");

    // The trade row alone: its journal entry (hash-chained, written in the same transaction) still
    // holds the exit price the fill made.
    let home = forward_test_home();
    let h = home.path();
    tamper(
        h,
        "paper_trades",
        "UPDATE paper_trades SET exit_reason = 'stop' WHERE id = 2",
    );
    verify_fails_naming(
        h,
        "trade 2: exit_reason stop but journal entry 1 recorded signal",
    );
    let r = run(h, &["journal", "verify"]);
    assert_eq!(r.code, 0, "the journal itself is intact: {}", r.stdout);
}

#[test]
fn a_busy_run_still_writes_its_metrics_file_marked_failed() {
    let home = forward_test_home();
    let h = home.path();
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(h.join("agents.lock"))
        .unwrap();
    lock.lock().unwrap();
    std::fs::create_dir_all(h.join("playbooks")).unwrap();
    let prom = h.join("m.prom");
    let r = run(
        h,
        &[
            "paper-trade",
            "run",
            "--wait-ms",
            "200",
            "--metrics-file",
            prom.to_str().unwrap(),
        ],
    );
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("busy"), "{}", r.stderr);
    let text = std::fs::read_to_string(&prom).expect("the busy run wrote its metrics file");
    let failed = text
        .lines()
        .find(|l| l.starts_with("flowrex_paper_run_failed{"))
        .expect("a failed gauge");
    assert!(failed.ends_with(" 1"), "{failed}");
    assert!(
        !text.contains("flowrex_paper_run_last_success_timestamp_seconds{"),
        "{text}"
    );
}

#[test]
fn journal_feedback_run_twice_on_the_same_trades_queues_one_optimization() {
    // The README's loop: the playbook's 93 backtest trades standing in for a paper record, stricter
    // floors → trigger_optimization. A cron line run again before any new trade used to queue a second,
    // identical spec (the nightly job then optimized twice); now it records the decision again and
    // names the one that queued the spec.
    let (home, pb) = crate::support::home_with_readme_playbook();
    let h = home.path();
    let r = run(
        h,
        &["backtest", "--playbook", pb.to_str().unwrap(), "--journal"],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    write(
        h,
        "flowrex.toml",
        "[journal]\nmin_win_rate_pct = 60\nmin_profit_factor = 1.2\n",
    );
    let feedback = || {
        let r = run(
            h,
            &[
                "--json",
                "journal",
                "feedback",
                "--strategy",
                "goog_sma_cross",
                "--symbol",
                "GOOG",
                "--source",
                "backtest",
            ],
        );
        assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
        crate::support::json(&r)["books"][0].clone()
    };
    let first = feedback();
    assert_eq!(first["evaluation"]["decision"], "trigger_optimization");
    assert!(first["action"]["spec"].is_string(), "{first}");
    let id = first["feedback_id"].as_i64().unwrap();
    for _ in 0..2 {
        let again = feedback();
        assert_eq!(again["evaluation"]["decision"], "trigger_optimization");
        assert!(again["action"]["spec"].is_null(), "{again}");
        assert_eq!(again["action"]["repeat_of"], id, "{again}");
    }
    let queued = std::fs::read_dir(h.join("queue")).unwrap().count();
    assert_eq!(queued, 1);
    let r = run(h, &["journal", "verify"]);
    assert_eq!(r.code, 0, "{}", r.stdout);
}
