//! The live state under seal (src/db/seal.rs): `risk_state`, `strategy_budgets`, `risk_trades` and
//! `paper_cursors` edited with sqlite3 (triggers dropped and put back, as the adversarial review did)
//! are named by `risk-check verify` and `paper-trade account --verify` (exit 3, table, row and field),
//! and the gate refuses to check, record or process on them, writing nothing. Untampered use — twice,
//! concurrently — verifies clean, and a database made before the seal existed is anchored as found.

use std::path::Path;

use crate::support::{Run, bundled_home, empty_home, run};

const T: &str = "2026-03-02T10:00:00Z";

/// Drops `table`'s triggers (if any), runs `sql` (which must change at least one row), puts them back.
fn tamper(home: &Path, table: &str, sql: &str) {
    let (_, changed) = crate::support::tamper(home, table, sql);
    assert!(changed >= 1, "{sql}");
}

fn count(home: &Path, table: &str) -> i64 {
    let c = rusqlite::Connection::open(home.join("flowrex.db")).unwrap();
    c.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
        .unwrap()
}

fn ok(home: &Path, args: &[&str]) -> Run {
    let r = run(home, args);
    assert_eq!(r.code, 0, "{args:?}: {}{}", r.stdout, r.stderr);
    r
}

/// The gate on a trade of strategy `s`: risk 0.5 × (1000 − 900) = 50 on 10 000 (0.5%), R:R 2.
fn gate(home: &Path) -> Run {
    run(
        home,
        &[
            "risk-check",
            "--symbol",
            "BTCUSD",
            "--side",
            "long",
            "--entry",
            "1000",
            "--stop",
            "900",
            "--target",
            "1200",
            "--size",
            "0.5",
            "--strategy",
            "s",
            "--now",
            T,
        ],
    )
}

fn fill(home: &Path) {
    fill_at(home, T);
}

fn fill_at(home: &Path, now: &str) {
    ok(
        home,
        &[
            "risk-check",
            "record",
            "fill",
            "--symbol",
            "BTCUSD",
            "--strategy",
            "s",
            "--now",
            now,
        ],
    );
}

fn close(home: &Path, pnl: &str) {
    ok(
        home,
        &[
            "risk-check",
            "record",
            "close",
            "--symbol",
            "BTCUSD",
            "--strategy",
            "s",
            "--pnl",
            pnl,
            "--now",
            T,
        ],
    );
}

/// A book with the balance 10 000 set and two fills recorded today.
fn book() -> tempfile::TempDir {
    let home = empty_home();
    let h = home.path();
    ok(
        h,
        &["risk-check", "state", "--balance", "10000", "--now", T],
    );
    fill(h);
    fill(h);
    assert_eq!(ok(h, &["risk-check", "verify"]).code, 0);
    home
}

/// `risk-check verify` says tampered, naming `what`.
fn verify_names(h: &Path, what: &str) {
    let r = run(h, &["risk-check", "verify"]);
    assert_eq!(r.code, 3, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains(what),
        "expected {what:?} in:\n{}",
        r.stdout
    );
}

/// The gate refuses (exit 3) naming `what`, and writes no audit row.
fn gate_refuses_naming(h: &Path, what: &str) {
    let before = count(h, "risk_decisions");
    let r = gate(h);
    assert_eq!(r.code, 3, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains("live state tampered") && r.stderr.contains(what),
        "expected {what:?} in:\n{}",
        r.stderr
    );
    // A broken risk_trades row is history `reseal` cannot accept: the message does not offer it.
    if what.contains("risk_trades row") {
        assert!(
            r.stderr.contains("restore flowrex.db from a backup"),
            "{}",
            r.stderr
        );
        assert!(!r.stderr.contains("reseal --reason"), "{}", r.stderr);
    }
    assert_eq!(count(h, "risk_decisions"), before);
}

#[test]
fn a_raised_balance_is_named_by_verify_and_the_gate_refuses_it() {
    let home = book();
    let h = home.path();
    // A close of −1400: balance 10 000 − 1400 = 8600, 14% below the peak (the emergency stop is 15%).
    close(h, "-1400");
    tamper(
        h,
        "risk_state",
        "UPDATE risk_state SET balance = 20000 WHERE id = 1",
    );
    let what = "risk_state: row 1: balance is 20000.0 but was sealed as 8600.0";
    verify_names(h, what);
    gate_refuses_naming(h, what);
    // Every writer refuses too, and writes nothing.
    let trades = count(h, "risk_trades");
    let r = run(
        h,
        &["risk-check", "record", "fill", "--symbol", "X", "--now", T],
    );
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert_eq!(count(h, "risk_trades"), trades);
}

#[test]
fn deleted_trades_are_named_by_verify_and_the_gate_refuses_them() {
    // The last row deleted (the seal holds the head): rows 1 and 2 are the two fills.
    let home = book();
    let h = home.path();
    tamper(h, "risk_trades", "DELETE FROM risk_trades WHERE id = 2");
    let what = "risk_trades: the last row is id 1";
    verify_names(h, what);
    gate_refuses_naming(h, what);

    // The first of the two deleted: row 2 no longer chains.
    let home = book();
    let h = home.path();
    tamper(h, "risk_trades", "DELETE FROM risk_trades WHERE id = 1");
    verify_names(
        h,
        "risk_trades row 2: it is the first row but its prev_hash",
    );
    gate_refuses_naming(h, "risk_trades row 2");

    // A fill moved to yesterday (out of today's count) by editing its time: its hash no longer matches.
    let home = book();
    let h = home.path();
    tamper(
        h,
        "risk_trades",
        "UPDATE risk_trades SET ts_ms = ts_ms - 86400000 WHERE id = 1",
    );
    verify_names(h, "risk_trades row 1: its content does not match its hash");
    gate_refuses_naming(h, "risk_trades row 1");
}

#[test]
fn a_fill_moved_out_of_today_is_walked_though_ids_do_not_rise_with_time() {
    // The review's gap (2026-11-30): `--now` (and a paper fill, at its bar's time) can record an
    // older-looking row after a newer one. Fill 1 today, fill 2 yesterday, fill 3 today; the daily
    // limit is 2 trades.
    let home = empty_home();
    let h = home.path();
    std::fs::write(h.join("flowrex.toml"), "[risk]\nmax_trades_per_day = 2\n").unwrap();
    ok(
        h,
        &["risk-check", "state", "--balance", "10000", "--now", T],
    );
    fill_at(h, T);
    fill_at(h, "2026-03-01T10:00:00Z");
    fill_at(h, T);
    // Two fills today: a third trade is over the limit (a rejection by rule, audited).
    let r = gate(h);
    assert_eq!(r.code, 3, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("trades_today"), "{}", r.stdout);
    assert!(!r.stderr.contains("tampered"), "{}", r.stderr);
    // Fill 1 moved to yesterday: today's count would drop to 1 and the trade pass. The first row of
    // today by time is now fill 3, and the row before it, fill 2, is intact: the gate must still walk
    // fill 1.
    tamper(
        h,
        "risk_trades",
        "UPDATE risk_trades SET ts_ms = ts_ms - 86400000, ts = '2026-03-01T10:00:00.000Z' WHERE id = 1",
    );
    let what = "risk_trades row 1: its content does not match its hash";
    verify_names(h, what);
    let r = run(h, &["paper-trade", "account", "--verify"]);
    assert_eq!(r.code, 3, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains(what), "{}", r.stdout);
    gate_refuses_naming(h, "risk_trades row 1");
}

#[test]
fn a_budget_lifted_by_hand_is_named_by_verify_and_the_gate_refuses_it() {
    let home = book();
    let h = home.path();
    // Five losses in a row disable `s` (the hard limit is 5): the two open fills and three more.
    for i in 0..5 {
        if i >= 2 {
            fill(h);
        }
        close(h, "-10");
    }
    let before = count(h, "risk_decisions");
    let r = gate(h);
    assert_eq!(r.code, 3, "disabled: {}", r.stdout);
    assert_eq!(
        count(h, "risk_decisions"),
        before + 1,
        "a rejection is audited"
    );
    tamper(
        h,
        "strategy_budgets",
        "UPDATE strategy_budgets SET enabled = 1, consecutive_losses = 0 WHERE strategy = 's'",
    );
    let what = "strategy_budgets: row s: consecutive_losses is 0 but was sealed as 5, enabled is 1 but \
                was sealed as 0";
    verify_names(h, what);
    gate_refuses_naming(h, what);
}

/// A paper account with a long GOOG filled at the 2012-07-03 open, processed to 2012-10-19.
fn paper_home() -> tempfile::TempDir {
    let home = bundled_home();
    let h = home.path();
    ok(
        h,
        &["paper-trade", "mode", "autonomous", "--reason", "test"],
    );
    ok(h, &crate::support::PAPER_GOOG_ORDER);
    ok(h, &["paper-trade", "process", "--now", "2012-10-19"]);
    ok(h, &["paper-trade", "account", "--verify"]);
    home
}

fn cursor(h: &Path) -> i64 {
    let c = rusqlite::Connection::open(h.join("flowrex.db")).unwrap();
    c.query_row(
        "SELECT last_bar_ms FROM paper_cursors WHERE symbol = 'GOOG' AND interval = '1d'",
        [],
        |r| r.get(0),
    )
    .unwrap()
}

#[test]
fn a_moved_cursor_is_named_by_both_verifies_and_processing_refuses_it() {
    let home = paper_home();
    let h = home.path();
    let at = cursor(h);
    // Thirty days back: the next run would re-decide bars it already decided on.
    tamper(
        h,
        "paper_cursors",
        "UPDATE paper_cursors SET last_bar_ms = last_bar_ms - 2592000000",
    );
    let what = format!(
        "paper_cursors: row [\"GOOG\",\"1d\"]: last_bar_ms is {} but was sealed as {at}",
        at - 2_592_000_000
    );
    let r = run(h, &["paper-trade", "account", "--verify"]);
    assert_eq!(r.code, 3, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains(&what), "{what}\n{}", r.stdout);
    verify_names(h, &what);
    let fills = count(h, "paper_fills");
    let r = run(h, &["paper-trade", "process", "--now", "2013-03-02"]);
    assert_ne!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(r.stderr.contains(&what), "{what}\n{}", r.stderr);
    assert_eq!(
        (cursor(h), count(h, "paper_fills")),
        (at - 2_592_000_000, fills)
    );
}

#[test]
fn untampered_use_twice_and_concurrently_verifies_clean() {
    let home = paper_home();
    let h = home.path();
    // The same processing asked again changes nothing; the next one moves on.
    ok(h, &["paper-trade", "process", "--now", "2012-10-19"]);
    ok(h, &["paper-trade", "process", "--now", "2013-03-02"]);
    ok(h, &["paper-trade", "account", "--verify"]);
    ok(h, &["risk-check", "verify"]);

    // Four processes record and check at once: each fill, close and check is one transaction.
    let home = book();
    let h = home.path().to_path_buf();
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let h = h.clone();
            std::thread::spawn(move || {
                for _ in 0..3 {
                    fill(&h);
                    close(&h, "1");
                    // Approved, or rejected by a rule (five trades an hour): never refused as tampered.
                    let r = gate(&h);
                    assert!(r.code == 0 || r.code == 3, "{}", r.stderr);
                    assert!(!r.stderr.contains("tampered"), "{}", r.stderr);
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    let r = ok(&h, &["risk-check", "verify", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    // 2 fills from the setup, then 4 workers × 3 × (fill + close).
    let trades = v["chains"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["table"] == "risk_trades")
        .unwrap()["rows"]
        .as_u64();
    assert_eq!(trades, Some(2 + 4 * 3 * 2));
    assert_eq!(v["intact"], true);
}

#[test]
fn reseal_accepts_the_state_on_purpose_and_is_audited() {
    let home = book();
    let h = home.path();
    let r = run(h, &["risk-check", "reseal", "--reason", "nothing changed"]);
    assert_eq!(r.code, 1, "refused when intact: {}", r.stderr);
    assert!(r.stderr.contains("nothing to reseal"), "{}", r.stderr);
    tamper(
        h,
        "risk_state",
        "UPDATE risk_state SET open_positions = 0 WHERE id = 1",
    );
    assert_eq!(gate(h).code, 3);
    ok(
        h,
        &["risk-check", "reseal", "--reason", "broker statement: flat"],
    );
    ok(h, &["risk-check", "verify"]);
    assert_eq!(gate(h).code, 0);
    let c = rusqlite::Connection::open(h.join("flowrex.db")).unwrap();
    let (old, reason): (String, String) = c
        .query_row(
            "SELECT old_value, reason FROM settings_audit WHERE setting = 'risk.state_seal'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert!(
        old.contains("risk_state: row 1: open_positions is 0 but was sealed as 2"),
        "{old}"
    );
    assert_eq!(reason, "broker statement: flat");
}

#[test]
fn a_database_made_before_the_seal_is_anchored_as_found() {
    let home = empty_home();
    let h = home.path();
    {
        let mut c = rusqlite::Connection::open(h.join("flowrex.db")).unwrap();
        c.query_row("PRAGMA journal_mode = WAL", [], |r| r.get::<_, String>(0))
            .unwrap();
        let all = flowrex::db::migrations::MIGRATIONS;
        let seal = all.iter().position(|m| m.name == "state_seal");
        // Before this change there is no such migration: the whole list is "before the seal".
        let before_seal = &all[..seal.unwrap_or(all.len())];
        flowrex::db::migrations::apply(&mut c, before_seal).unwrap();
        // As flowrex 0.7 left it: balance 10 000, one fill today (id 4: ids may have gaps).
        c.execute_batch(
            "UPDATE risk_state SET balance = 10000, equity_peak = 10000, day = '2026-03-02',
                    day_started_ms = 1772409600000, day_start_balance = 10000, open_positions = 1;
             INSERT INTO risk_trades (id, ts_ms, ts, kind, symbol, strategy)
                 VALUES (4, 1772445600000, '2026-03-02T10:00:00.000Z', 'fill', 'BTCUSD', 's');
             INSERT INTO strategy_budgets (strategy, updated_ts) VALUES ('s', '2026-03-02T10:00:00.000Z');",
        )
        .unwrap();
    }
    // 1772409600000 = 2026-03-02T00:00:00Z; 1772445600000 = 10:00 that day (the fill counts today).
    let r = ok(h, &["risk-check", "verify", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["intact"], true, "{}", r.stdout);
    let r = run(h, &["risk-check", "--json", "state", "--now", T]);
    let st: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(
        (&st["trades_today"], &st["open_positions"]),
        (&1.into(), &1.into())
    );
    assert_eq!(gate(h).code, 0);
    // The anchored state is protected from here on.
    tamper(
        h,
        "risk_trades",
        "UPDATE risk_trades SET kind = 'close' WHERE id = 4",
    );
    verify_names(h, "risk_trades row 4: its content does not match its hash");
    gate_refuses_naming(h, "risk_trades row 4");
}
