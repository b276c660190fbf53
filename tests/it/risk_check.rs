//! Integration tests of `flowrex risk-check`: the binary against a temporary home.

use std::io::Write;
use std::path::Path;
use std::process::{Command as StdCommand, Stdio};

use predicates::str::contains;
use serde_json::Value;

use crate::support::{BIN, Run, empty_home, flowrex, flowrex_std};

const T0: &str = "2026-03-02T10:00:00Z";

/// Runs `risk-check ARGS --now NOW` and returns (exit code, stdout, stderr).
fn rc(home: &Path, now: &str, args: &[&str]) -> (i32, String, String) {
    let r = Run::of(
        flowrex(home)
            .arg("risk-check")
            .args(args)
            .args(["--now", now]),
    );
    (r.code, r.stdout, r.stderr)
}

fn json(home: &Path, now: &str, args: &[&str]) -> (i32, Value) {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let (code, out, err) = rc(home, now, &all);
    let v = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out} {err}"));
    (code, v)
}

fn ok(home: &Path, now: &str, args: &[&str]) -> Value {
    let (code, v) = json(home, now, args);
    assert_eq!(code, 0, "{args:?}: {v}");
    v
}

fn setup(balance: &str) -> tempfile::TempDir {
    let dir = empty_home();
    ok(
        dir.path(),
        "2026-03-01T00:00:00Z",
        &["state", "--balance", balance],
    );
    dir
}

/// Risk 0.1 × 1 × 10 = 1 on 1000 (0.1%), R:R 2.
const GOOD: &[&str] = &[
    "--symbol", "BTCUSD", "--side", "long", "--entry", "100", "--stop", "90", "--target", "120",
    "--size", "0.1",
];

/// GOOD with some flags replaced or added (`extra` is flag, value pairs).
fn trade_args<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut args: Vec<&str> = GOOD.to_vec();
    for pair in extra.chunks(2) {
        match args.iter().position(|a| *a == pair[0]) {
            Some(i) => args[i + 1] = pair[1],
            None => args.extend_from_slice(pair),
        }
    }
    args
}

fn check(home: &Path, now: &str, extra: &[&str]) -> (i32, Value) {
    json(home, now, &trade_args(extra))
}

fn failed_rules(v: &Value) -> Vec<String> {
    v["verdicts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| v["pass"] == false)
        .map(|v| v["rule"].as_str().unwrap().to_string())
        .collect()
}

fn decisions(home: &Path, filter: &[&str]) -> Vec<Value> {
    let mut args = vec!["decisions", "--all"];
    args.extend_from_slice(filter);
    ok(home, T0, &args)["decisions"].as_array().unwrap().clone()
}

#[test]
fn approved_exits_0_rejected_exits_3_with_every_verdict() {
    let home = setup("1000");
    let (code, v) = check(home.path(), T0, &[]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["approved"], true);
    let rules: Vec<&str> = v["verdicts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["rule"].as_str().unwrap())
        .collect();
    assert_eq!(
        rules,
        [
            "emergency_shutdown",
            "account_drawdown",
            "open_positions",
            "trades_today",
            "trades_this_hour",
            "position_size",
            "risk_per_trade",
            "reward_risk",
            "strategy_budget",
            "daily_loss"
        ]
    );
    for field in [
        "rule",
        "value",
        "limit",
        "comparison",
        "unit",
        "pass",
        "detail",
    ] {
        assert!(v["verdicts"][0].get(field).is_some(), "missing {field}");
    }

    // Too big and too risky: both reported.
    let (code, v) = check(home.path(), T0, &["--size", "3"]);
    assert_eq!(code, 3);
    assert_eq!(v["approved"], false);
    assert_eq!(failed_rules(&v), ["position_size", "risk_per_trade"]);

    // Lot size scales the risk: 0.1 lots × 25 units × 10 = 25 = 2.5% of 1000.
    let (code, v) = check(home.path(), T0, &["--lot-size", "25"]);
    assert_eq!(code, 3);
    assert_eq!(failed_rules(&v), ["risk_per_trade"]);
    // --equity overrides the balance for one check: 25 of 2000 is 1.25%.
    let (code, v) = check(home.path(), T0, &["--lot-size", "25", "--equity", "2000"]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["equity"], 2000.0);

    // Human output: a verdict table.
    let (code, out, _) = rc(home.path(), T0, &trade_args(&["--size", "3"]));
    assert_eq!(code, 3);
    assert!(out.starts_with("REJECTED"), "{out}");
    assert!(
        out.contains("risk_per_trade") && out.contains("FAIL"),
        "{out}"
    );

    let log = decisions(home.path(), &["--kind", "check"]);
    assert_eq!(log.len(), 5);
    assert_eq!(decisions(home.path(), &["--rejected"]).len(), 3);
}

#[test]
fn a_shell_script_can_gate_an_order() {
    let home = setup("1000");
    let good = GOOD.join(" ");
    let script = format!(
        "'{BIN}' --home '{h}' risk-check {good} --now {T0} >/dev/null && echo PLACED; \
         '{BIN}' --home '{h}' risk-check {good} --size 5 --now {T0} >/dev/null && echo SHOULD-NOT-PLACE; true",
        h = home.path().display()
    );
    let out = StdCommand::new("sh")
        .arg("-c")
        .arg(script)
        .output()
        .unwrap();
    assert_eq!(String::from_utf8(out.stdout).unwrap(), "PLACED\n");
}

#[test]
fn bad_input_exits_1_naming_the_field_and_is_not_recorded() {
    let home = setup("1000");
    let cases: &[(&[&str], &str)] = &[
        (&["--entry", "0"], "entry: must be a positive number"),
        (
            &["--entry", "-100"],
            "entry: must be a positive number, got -100",
        ),
        (
            &["--stop", "NaN"],
            "stop: must be a positive number, got NaN",
        ),
        (&["--target", "abc"], "target: 'abc' is not a number"),
        (&["--size", "lots"], "size: 'lots' is not a number"),
        (&["--size", "0"], "size: must be a positive number"),
        (&["--lot-size", "-1"], "lot_size: must be a positive number"),
        (
            &["--stop", "101"],
            "stop: 101 must be below the entry 100 for a long trade",
        ),
        (
            &["--target", "99"],
            "target: 99 must be above the entry 100",
        ),
        (
            &["--side", "short"],
            "stop: 90 must be above the entry 100 for a short trade",
        ),
        (
            &["--side", "sideways"],
            "side: unknown side 'sideways'; expected long or short",
        ),
        (&["--equity", "0"], "equity: must be a positive number"),
    ];
    for (extra, want) in cases {
        let (code, out, err) = rc(home.path(), T0, &trade_args(extra));
        assert_eq!(code, 1, "{extra:?}: {err}");
        assert!(out.is_empty(), "{extra:?}: {out}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains(want), "{extra:?}: {err} should contain {want}");
    }
    assert!(decisions(home.path(), &[]).is_empty());
    let state = ok(home.path(), T0, &["state"]);
    assert_eq!(state["trades_today"], 0);

    // A missing flag is a usage error.
    flowrex(home.path())
        .args(["risk-check", "--symbol", "X"])
        .assert()
        .code(2);
    // No balance and no --equity: an error, not a reject.
    let fresh = empty_home();
    let (code, _, err) = rc(fresh.path(), T0, GOOD);
    assert_eq!(code, 1);
    assert!(err.contains("state --balance"), "{err}");
}

#[test]
fn drawdown_trips_the_emergency_until_an_audited_reset() {
    let home = setup("1000");
    let h = home.path();
    // The losses happen the day before, so the daily-loss rule is not in play today.
    let yesterday = "2026-03-01T12:00:00Z";
    ok(h, yesterday, &["record", "fill", "--symbol", "BTCUSD"]);
    ok(h, yesterday, &["record", "fill", "--symbol", "BTCUSD"]);
    let v = ok(
        h,
        yesterday,
        &["record", "close", "--symbol", "BTCUSD", "--pnl", "-149.99"],
    );
    assert_eq!(v["emergency_tripped"], false);
    assert_eq!(check(h, T0, &[]).0, 0);
    let v = ok(h, yesterday, &["record", "close", "--pnl", "-0.01"]);
    assert_eq!(v["recorded"], "close");
    assert_eq!(v["emergency_tripped"], true);
    assert_eq!(v["state"]["emergency"], true);

    for now in [T0, "2026-03-09T10:00:00Z"] {
        let (code, v) = check(h, now, &["--size", "0.01"]);
        assert_eq!(code, 3);
        assert_eq!(failed_rules(&v)[0], "emergency_shutdown");
    }
    // The reason is required.
    flowrex(h)
        .args(["risk-check", "reset-emergency"])
        .assert()
        .code(2);
    let (code, _, err) = rc(h, T0, &["reset-emergency", "--reason", " "]);
    assert_eq!(code, 1, "{err}");

    // Still 15% below the peak: re-based on purpose first (audited), then reset.
    ok(
        h,
        T0,
        &["state", "--balance", "850", "--reason", "losses reviewed"],
    );
    let st = ok(h, T0, &["reset-emergency", "--reason", "losses reviewed"]);
    assert_eq!(st["emergency"], false);
    assert_eq!(check(h, T0, &[]).0, 0);

    let trips = decisions(h, &["--kind", "emergency-trip"]);
    assert_eq!(trips.len(), 1);
    let resets = decisions(h, &["--kind", "reset_emergency"]);
    assert_eq!(resets.len(), 1);
    assert_eq!(resets[0]["reason"], "losses reviewed");
    assert_eq!(resets[0]["inputs"]["equity_peak"], 850.0);
}

#[test]
fn five_losses_disable_a_strategy_a_win_resets_and_enable_strategy_re_enables() {
    let home = setup("10000");
    let h = home.path();
    // Each close follows its fill, two hours before the checks (so the hourly count stays clear).
    let close = |pnl: &str| fill_and_close(h, "2026-03-02T08:00:00Z", Some("sma"), pnl);
    for _ in 0..4 {
        close("-10");
    }
    close("25");
    for _ in 0..4 {
        assert!(close("-10")["strategy_disabled"].is_null());
    }
    assert_eq!(check(h, T0, &["--strategy", "sma"]).0, 0);
    let v = close("-10");
    assert_eq!(v["strategy_disabled"], "sma");
    let (code, v) = check(h, T0, &["--strategy", "sma"]);
    assert_eq!(code, 3);
    assert_eq!(failed_rules(&v), ["strategy_budget"]);
    // Human record output says what to do.
    ok(
        h,
        T0,
        &["record", "fill", "--symbol", "X", "--strategy", "sma"],
    );
    let (_, out, _) = rc(
        h,
        T0,
        &["record", "close", "--strategy", "sma", "--pnl", "-1"],
    );
    assert!(out.contains("recorded close"), "{out}");

    let (code, _, err) = rc(h, T0, &["enable-strategy", "nope", "--reason", "x"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("no risk budget named 'nope' (known: sma)"),
        "{err}"
    );
    let b = ok(
        h,
        T0,
        &["enable-strategy", "sma", "--reason", "re-optimized"],
    );
    assert_eq!(b["enabled"], true);
    assert_eq!(b["consecutive_losses"], 0);
    assert_eq!(check(h, T0, &["--strategy", "sma"]).0, 0);

    let log = decisions(h, &["--strategy", "sma", "--kind", "enable-strategy"]);
    assert_eq!(log.len(), 1);
    assert_eq!(log[0]["reason"], "re-optimized");
    assert_eq!(decisions(h, &["--kind", "strategy-disabled"]).len(), 1);
}

#[test]
fn hourly_and_daily_counts_roll_over_with_the_clock() {
    let home = setup("10000");
    let h = home.path();
    for m in 0..5 {
        ok(
            h,
            &format!("2026-03-02T22:0{m}:00Z"),
            &["record", "fill", "--symbol", "BTCUSD"],
        );
    }
    let (code, v) = check(h, "2026-03-02T22:59:59Z", &[]);
    assert_eq!(code, 3);
    assert_eq!(failed_rules(&v), ["trades_this_hour"]);
    assert_eq!(check(h, "2026-03-02T23:00:00Z", &[]).0, 0);
    let st = ok(h, "2026-03-02T23:00:30Z", &["state"]);
    assert_eq!(
        (st["trades_today"].as_u64(), st["trades_this_hour"].as_u64()),
        (Some(5), Some(4))
    );

    // Fill up the day: 15 more (spread over hours so the hourly limit is not in the way).
    for i in 0..15 {
        let t = format!("2026-03-02T{:02}:{:02}:00Z", i / 4, (i % 4) * 10);
        ok(h, &t, &["record", "fill", "--symbol", "BTCUSD"]);
        ok(
            h,
            &t,
            &["record", "close", "--symbol", "BTCUSD", "--pnl", "0"],
        );
    }
    let (code, v) = check(h, "2026-03-02T23:59:59Z", &[]);
    assert_eq!(code, 3);
    assert_eq!(failed_rules(&v), ["trades_today"]);
    assert_eq!(v["verdicts"][3]["value"], 21.0);
    // A new UTC day.
    let (code, v) = check(h, "2026-03-03T00:00:00Z", &[]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["verdicts"][3]["value"], 1.0);

    // Daily loss: 5% of the day's start is allowed, beyond is not, and the next day starts fresh.
    ok(
        h,
        "2026-03-03T01:00:00Z",
        &["record", "close", "--pnl", "-500"],
    );
    assert_eq!(check(h, "2026-03-03T02:00:00Z", &[]).0, 0);
    ok(
        h,
        "2026-03-03T03:00:00Z",
        &["record", "close", "--pnl", "-0.5"],
    );
    let (code, v) = check(h, "2026-03-03T04:00:00Z", &[]);
    assert_eq!(code, 3);
    assert_eq!(failed_rules(&v), ["daily_loss"]);
    assert_eq!(check(h, "2026-03-04T00:00:01Z", &[]).0, 0);
    // reset-daily clears it by hand, audited.
    ok(
        h,
        "2026-03-04T05:00:00Z",
        &["record", "close", "--pnl", "-600"],
    );
    assert_eq!(check(h, "2026-03-04T05:00:01Z", &[]).0, 3);
    let st = ok(
        h,
        "2026-03-04T05:00:02Z",
        &["reset-daily", "--reason", "new session"],
    );
    assert_eq!(st["daily_pnl"], 0.0);
    assert_eq!(check(h, "2026-03-04T05:00:03Z", &[]).0, 0);
    assert_eq!(decisions(h, &["--kind", "reset-daily"]).len(), 1);
}

#[test]
fn soft_limits_tighten_and_a_loosening_one_is_refused() {
    let home = setup("1000");
    let h = home.path();
    std::fs::write(
        h.join("flowrex.toml"),
        "[risk]\nmax_position_lots = 0.05\nmin_reward_risk = 2.5\n",
    )
    .unwrap();
    let limits = ok(h, T0, &["limits"]);
    let size = limits["limits"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["rule"] == "position_size")
        .unwrap()
        .clone();
    assert_eq!(
        (size["hard"].as_f64(), size["effective"].as_f64()),
        (Some(1.0), Some(0.05))
    );
    assert_eq!(size["config_key"], "max_position_lots");
    let (code, v) = check(h, T0, &[]);
    assert_eq!(code, 3);
    assert_eq!(failed_rules(&v), ["position_size", "reward_risk"]);
    assert_eq!(check(h, T0, &["--size", "0.05", "--target", "125"]).0, 0);

    std::fs::write(h.join("flowrex.toml"), "[risk]\nmax_trades_per_hour = 12\n").unwrap();
    let (code, out, err) = rc(h, T0, GOOD);
    assert_eq!(code, 1);
    assert!(out.is_empty());
    assert!(
        err.contains("flowrex.toml: [risk] max_trades_per_hour = 12 would loosen the hard limit 5"),
        "{err}"
    );
    std::fs::write(h.join("flowrex.toml"), "[risk]\nmax_trade_per_hour = 2\n").unwrap();
    let (code, _, err) = rc(h, T0, &["limits"]);
    assert_eq!(code, 1);
    assert!(err.contains("max_trade_per_hour"), "{err}");
}

#[test]
fn stdin_mode_answers_one_json_line_per_trade() {
    let home = setup("1000");
    let input = concat!(
        r#"{"id":"a","symbol":"BTCUSD","side":"long","entry":100,"stop":90,"target":120,"size":0.1}"#,
        "\n",
        r#"{"id":"b","symbol":"BTCUSD","side":"long","entry":100,"stop":90,"target":120,"size":5}"#,
        "\n",
        "\n",
        r#"{"symbol":"BTCUSD","side":"long","entry":100,"stop":110,"target":120,"size":0.1}"#,
        "\n",
    );
    let mut child = flowrex_std(home.path())
        .args(["risk-check", "--stdin", "--now", T0])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1), "a bad line makes the exit 1");
    let lines: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(
        (
            lines[0]["line"].as_u64(),
            &lines[0]["id"],
            &lines[0]["approved"]
        ),
        (Some(1), &"a".into(), &true.into())
    );
    assert_eq!(
        (lines[1]["id"].as_str(), lines[1]["approved"].as_bool()),
        (Some("b"), Some(false))
    );
    assert_eq!(lines[2]["line"], 4);
    assert!(
        lines[2]["error"].as_str().unwrap().starts_with("stop:"),
        "{}",
        lines[2]
    );
    assert_eq!(decisions(home.path(), &["--kind", "check"]).len(), 2);

    // All approved → 0; any rejected → 3.
    flowrex(home.path())
        .args(["risk-check", "--stdin", "--now", T0])
        .write_stdin(&input[..input.find('\n').unwrap() + 1])
        .assert()
        .code(0);
}

#[test]
fn concurrent_record_processes_lose_no_update() {
    let home = setup("1000");
    let h = home.path();
    let n = 8;
    // The fills race each other, then the closes do (a close needs a fill before it).
    let fills: Vec<_> = (0..n)
        .map(|_| {
            flowrex_std(h)
                .args([
                    "risk-check",
                    "record",
                    "fill",
                    "--symbol",
                    "BTCUSD",
                    "--strategy",
                    "s",
                    "--now",
                    T0,
                ])
                .stdout(Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    for mut c in fills {
        assert!(c.wait().unwrap().success());
    }
    let closes: Vec<_> = (0..n)
        .map(|i| {
            let pnl = if i % 2 == 0 { "-1.5" } else { "-0.25" };
            flowrex_std(h)
                .args([
                    "risk-check",
                    "record",
                    "close",
                    "--symbol",
                    "BTCUSD",
                    "--pnl",
                    pnl,
                    "--now",
                    T0,
                ])
                .stdout(Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    for mut c in closes {
        assert!(c.wait().unwrap().success());
    }
    let st = ok(h, T0, &["state"]);
    assert_eq!(st["trades_today"], n);
    assert_eq!(st["open_positions"], 0);
    // 4 × −1.5 + 4 × −0.25 = −7 exactly, whatever the order.
    assert_eq!(st["balance"], 993.0);
    assert_eq!(st["daily_pnl"], -7.0);
    let fills: i64 = flowrex::db::Db::open(h)
        .unwrap()
        .conn()
        .query_row("SELECT count(*) FROM risk_trades", [], |r| r.get(0))
        .unwrap();
    assert_eq!(fills, 2 * n as i64);

    // Processes racing to create a brand-new database (migrations, WAL switch) also lose nothing.
    let fresh = empty_home();
    let children: Vec<_> = (0..n)
        .map(|_| {
            flowrex_std(fresh.path())
                .args(["risk-check", "record", "fill", "--symbol", "X", "--now", T0])
                .stdout(Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    for mut c in children {
        assert!(c.wait().unwrap().success());
    }
    assert_eq!(ok(fresh.path(), T0, &["state"])["open_positions"], n);
}

#[test]
fn the_audit_table_rejects_update_and_delete() {
    let home = setup("1000");
    let h = home.path();
    assert_eq!(check(h, T0, &[]).0, 0);
    let db = flowrex::db::Db::open(h).unwrap();
    let conn = db.conn();
    for sql in [
        "UPDATE risk_decisions SET approved = 0",
        "DELETE FROM risk_decisions",
        "UPDATE settings_audit SET new_value = '1'",
        "DELETE FROM settings_audit WHERE 1",
    ] {
        let err = conn.execute(sql, []).unwrap_err().to_string();
        assert!(err.contains("append-only"), "{sql}: {err}");
    }
    assert_eq!(decisions(h, &[]).len(), 1);
    assert_eq!(decisions(h, &[])[0]["approved"], true);
}

#[test]
fn state_limits_and_decisions_render_for_people() {
    let home = setup("2500");
    let h = home.path();
    flowrex(h)
        .args(["risk-check", "state"])
        .assert()
        .success()
        .stdout(contains("2500"))
        .stdout(contains("emergency shutdown"));
    flowrex(h)
        .args(["risk-check", "limits"])
        .assert()
        .success()
        .stdout(contains("risk_per_trade_pct"))
        .stdout(contains("<= 2%"));
    flowrex(h)
        .args(["risk-check", "decisions"])
        .assert()
        .success()
        .stdout(contains("no audit entries match"));
    flowrex(h)
        .args(["risk-check", "--help"])
        .assert()
        .success()
        .stdout(contains("3 rejected"));
}

// ---- Hardening: the risk gate and its audit trail -------------------------------------------------
//
// Each test in this section failed on main before the fix it checks.

/// The database file of `home`, opened with rusqlite directly: no flowrex code in between, as a
/// person with the sqlite3 tool would.
fn raw_db(home: &Path) -> rusqlite::Connection {
    rusqlite::Connection::open(home.join("flowrex.db")).unwrap()
}

/// Records a fill and then a close of `pnl` at `now`.
fn fill_and_close(home: &Path, now: &str, strategy: Option<&str>, pnl: &str) -> Value {
    let mut fill = vec!["record", "fill", "--symbol", "BTCUSD"];
    let mut close = vec!["record", "close", "--symbol", "BTCUSD", "--pnl", pnl];
    if let Some(s) = strategy {
        fill.extend(["--strategy", s]);
        close.extend(["--strategy", s]);
    }
    ok(home, now, &fill);
    ok(home, now, &close)
}

#[test]
fn insert_or_replace_cannot_rewrite_an_audit_row() {
    let home = setup("1000");
    let h = home.path();
    assert_eq!(check(h, T0, &[]).0, 0);
    let conn = raw_db(h);
    // REPLACE deletes the old row without firing DELETE triggers, so only a BEFORE INSERT guard can
    // stop it. Each statement keeps every column but one (the verdict, the balance).
    for sql in [
        "INSERT OR REPLACE INTO risk_decisions (id, ts_ms, ts, kind, symbol, strategy, approved, reason, \
         inputs, verdicts) SELECT id, ts_ms, ts, kind, symbol, strategy, 0, 'forged', inputs, verdicts \
         FROM risk_decisions WHERE id = 1",
        "REPLACE INTO settings_audit (id, ts_ms, ts, setting, old_value, new_value, reason) \
         SELECT id, ts_ms, ts, setting, old_value, '1000000', reason FROM settings_audit WHERE id = 1",
    ] {
        let err = conn.execute(sql, []).unwrap_err().to_string();
        assert!(err.contains("append-only"), "{sql}: {err}");
    }
    drop(conn);
    let log = decisions(h, &[]);
    assert_eq!(log.len(), 1);
    assert_eq!(
        (&log[0]["approved"], &log[0]["reason"]),
        (&true.into(), &Value::Null)
    );
}

#[test]
fn verify_names_the_first_tampered_row_even_with_the_guards_dropped() {
    let home = setup("1000");
    let h = home.path();
    assert_eq!(check(h, T0, &[]).0, 0);
    assert_eq!(check(h, T0, &["--size", "3"]).0, 3);
    assert_eq!(check(h, T0, &[]).0, 0);
    let (code, v) = json(h, T0, &["verify"]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["intact"], true);
    let chains = v["chains"].as_array().unwrap();
    assert_eq!(chains[0]["table"], "risk_decisions");
    assert_eq!(chains[0]["rows"], 3);
    assert_eq!(chains[0]["head"].as_str().unwrap().len(), 64);

    // Turn the rejection (row 2) into an approval, the way someone with the sqlite3 tool would: drop the
    // guard, edit, put the guard back.
    let conn = raw_db(h);
    let guard: String = conn
        .query_row(
            "SELECT sql FROM sqlite_master WHERE name = 'risk_decisions_no_update'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    conn.execute_batch(&format!(
        "DROP TRIGGER risk_decisions_no_update;
         UPDATE risk_decisions SET approved = 1, reason = NULL WHERE id = 2;
         {guard};"
    ))
    .unwrap();
    drop(conn);
    let (code, v) = json(h, T0, &["verify"]);
    assert_eq!(code, 3, "{v}");
    assert_eq!(v["intact"], false);
    assert_eq!(v["first_fault"]["table"], "risk_decisions");
    assert_eq!(v["first_fault"]["id"], 2);
    let (code, out, _) = rc(h, T0, &["verify"]);
    assert_eq!(code, 3);
    assert!(out.contains("risk_decisions row 2"), "{out}");
}

#[test]
fn verify_catches_a_deleted_row_an_edited_setting_and_a_dropped_guard() {
    // A row deleted from the middle: the next row no longer chains to its predecessor.
    let home = setup("1000");
    let h = home.path();
    for _ in 0..3 {
        assert_eq!(check(h, T0, &[]).0, 0);
    }
    raw_db(h)
        .execute_batch(
            "DROP TRIGGER risk_decisions_no_delete; DELETE FROM risk_decisions WHERE id = 2;",
        )
        .unwrap();
    let (code, v) = json(h, T0, &["verify"]);
    assert_eq!(code, 3, "{v}");
    assert_eq!(
        (&v["first_fault"]["table"], &v["first_fault"]["id"]),
        (&"risk_decisions".into(), &3.into())
    );

    // The balance audit rewritten with the sqlite3 tool (when it is installed), else with rusqlite.
    let home = setup("1000");
    let h = home.path();
    let edit = "DROP TRIGGER settings_audit_no_update; \
                UPDATE settings_audit SET new_value = '1000000' WHERE id = 1;";
    let by_cli = StdCommand::new("sqlite3")
        .arg(h.join("flowrex.db"))
        .arg(edit)
        .output()
        .is_ok_and(|o| o.status.success());
    if !by_cli {
        raw_db(h).execute_batch(edit).unwrap();
    }
    let (code, v) = json(h, T0, &["verify"]);
    assert_eq!(code, 3, "{v}");
    assert_eq!(
        (&v["first_fault"]["table"], &v["first_fault"]["id"]),
        (&"settings_audit".into(), &1.into())
    );

    // Only a guard dropped, no row touched: the protection itself is gone, and verify says so.
    let home = setup("1000");
    let h = home.path();
    raw_db(h)
        .execute_batch("DROP TRIGGER risk_decisions_no_update;")
        .unwrap();
    let (code, out, _) = rc(h, T0, &["verify"]);
    assert_eq!(code, 3, "{out}");
    assert!(out.contains("risk_decisions_no_update"), "{out}");
}

#[test]
fn an_empty_database_file_is_an_error_not_a_fresh_state() {
    let home = setup("1000");
    let h = home.path();
    let v = fill_and_close(h, "2026-03-01T12:00:00Z", None, "-150");
    assert_eq!(v["emergency_tripped"], true);
    // A full disk or a bad copy leaves the file at 0 bytes.
    std::fs::File::create(h.join("flowrex.db")).unwrap();
    for args in [trade_args(&["--equity", "1000"]), vec!["state"]] {
        let (code, out, err) = rc(h, T0, &args);
        assert_eq!(code, 1, "{args:?}: {out}");
        assert!(out.is_empty(), "{out}");
        assert!(
            err.contains("flowrex.db") && err.contains("empty") && err.contains("restore"),
            "{err}"
        );
    }
    assert_eq!(std::fs::metadata(h.join("flowrex.db")).unwrap().len(), 0);
}

#[test]
fn absurd_amounts_are_refused_and_the_state_stays_finite() {
    let home = setup("1000");
    let h = home.path();
    for _ in 0..2 {
        ok(h, T0, &["record", "fill", "--symbol", "BTCUSD"]);
    }
    // 1.7e308 twice would be inf, which switches off the drawdown and daily-loss rules.
    for pnl in ["1.7e308", "1.7e308", "-1e16", "inf"] {
        let (code, _, err) = rc(h, T0, &["record", "close", "--pnl", pnl]);
        assert_eq!(code, 1, "--pnl {pnl}: {err}");
        assert!(err.contains("pnl:"), "{err}");
    }
    let (code, _, err) = rc(h, T0, &trade_args(&["--equity", "1e308"]));
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("equity:"), "{err}");
    let (code, _, err) = rc(h, T0, &["state", "--balance", "1e16"]);
    assert_eq!(code, 1, "{err}");
    // Each amount within the cap, but the sum would leave it: 1000 + 6e14 + 6e14 = 1.2e15 > 1e15.
    ok(h, T0, &["record", "close", "--pnl", "6e14"]);
    let (code, _, err) = rc(h, T0, &["record", "close", "--pnl", "6e14"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("balance"), "{err}");
    let st = ok(h, T0, &["state"]);
    assert_eq!(st["balance"], 600_000_000_001_000.0);
    assert_eq!(st["open_positions"], 1);
}

#[test]
fn reset_emergency_needs_an_active_emergency_and_never_moves_the_peak() {
    let home = setup("1000");
    let h = home.path();
    let day1 = "2026-03-01T12:00:00Z";
    // −14%: no emergency. A reset now would have restarted the peak at 860.
    assert_eq!(
        fill_and_close(h, day1, None, "-140")["emergency_tripped"],
        false
    );
    let (code, _, err) = rc(h, day1, &["reset-emergency", "--reason", "fresh start"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("no emergency shutdown is active"), "{err}");
    // −120 more: 740 is 26% below the real peak of 1000 (not 13.95% below 860): it trips.
    let v = fill_and_close(h, day1, None, "-120");
    assert_eq!(v["emergency_tripped"], true);
    assert_eq!(v["state"]["equity_peak"], 1000.0);
    // Still 26% down: a reset alone would trip again at the next check, so it is refused until the
    // account is re-based on purpose (audited in settings_audit with its reason).
    let (code, _, err) = rc(h, T0, &["reset-emergency", "--reason", "reviewed"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("state --balance"), "{err}");
    let st = ok(
        h,
        T0,
        &[
            "state",
            "--balance",
            "740",
            "--reason",
            "re-based after review",
        ],
    );
    assert_eq!(st["equity_peak"], 740.0);
    ok(h, T0, &["reset-emergency", "--reason", "reviewed"]);
    assert_eq!(check(h, T0, &[]).0, 0);
}

#[test]
fn a_disabled_strategy_is_rejected_under_any_spelling() {
    let home = setup("10000");
    let h = home.path();
    // Two hours before the checks, so the hourly trade count is not in the way.
    for _ in 0..5 {
        fill_and_close(h, "2026-03-02T08:00:00Z", Some("sma"), "-10");
    }
    for spelling in ["sma", "SMA", "sma ", " sma", "\tSma"] {
        let (code, v) = check(h, T0, &["--strategy", spelling]);
        assert_eq!(code, 3, "{spelling:?}: {v}");
        assert_eq!(failed_rules(&v), ["strategy_budget"], "{spelling:?}");
    }
    // One budget, under the normalized name; a loss recorded under another spelling counts toward it.
    let st = ok(h, T0, &["state"]);
    assert_eq!(st["strategies"].as_array().unwrap().len(), 1, "{st}");
    assert_eq!(st["strategies"][0]["strategy"], "sma");
    ok(
        h,
        T0,
        &["enable-strategy", "SMA", "--reason", "re-optimized"],
    );
    fill_and_close(h, "2026-03-02T08:00:00Z", Some(" Sma"), "-10");
    assert_eq!(
        ok(h, T0, &["state"])["strategies"][0]["consecutive_losses"],
        1
    );
}

#[test]
fn require_strategy_rejects_a_check_without_one() {
    let home = setup("1000");
    let h = home.path();
    assert_eq!(check(h, T0, &[]).0, 0, "off by default for risk-check");
    std::fs::write(h.join("flowrex.toml"), "[risk]\nrequire_strategy = true\n").unwrap();
    let (code, v) = check(h, T0, &[]);
    assert_eq!(code, 3, "{v}");
    assert_eq!(failed_rules(&v), ["strategy_budget"]);
    assert_eq!(check(h, T0, &["--strategy", "sma"]).0, 0);
}

#[test]
fn reset_daily_needs_a_reason() {
    let home = setup("1000");
    let h = home.path();
    flowrex(h)
        .args(["risk-check", "reset-daily", "--now", T0])
        .assert()
        .code(2);
    let (code, _, err) = rc(h, T0, &["reset-daily", "--reason", "  "]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("reason"), "{err}");
    assert!(decisions(h, &["--kind", "reset-daily"]).is_empty());
}

#[test]
fn a_close_needs_an_open_position() {
    let home = setup("1000");
    let h = home.path();
    let (code, _, err) = rc(h, T0, &["record", "close", "--pnl", "5"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("no open position"), "{err}");
    fill_and_close(h, T0, None, "-10");
    let (code, _, _) = rc(h, T0, &["record", "close", "--pnl", "-10"]);
    assert_eq!(code, 1);
    let st = ok(h, T0, &["state"]);
    assert_eq!(
        (st["balance"].as_f64(), st["open_positions"].as_u64()),
        (Some(990.0), Some(0))
    );
}

#[test]
fn since_after_until_is_a_usage_error() {
    let home = setup("1000");
    let (code, _, err) = rc(
        home.path(),
        T0,
        &[
            "decisions",
            "--since",
            "2026-03-02",
            "--until",
            "2026-03-01",
        ],
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--since"), "{err}");
}

#[test]
fn stdin_error_lines_echo_the_id() {
    let home = setup("1000");
    let input = concat!(
        r#"{"id":"x1","symbol":"BTCUSD","side":"long","entry":100,"stop":110,"target":120,"size":0.1}"#,
        "\n",
        r#"{"id":{"n":2},"symbol":"BTCUSD","side":"up","entry":100,"stop":90,"target":120,"size":0.1}"#,
        "\n",
        r#"{"symbol":"BTCUSD","side":"long","entry":100,"stop":90,"target":120,"size":"x"}"#,
        "\n",
    );
    let out = flowrex(home.path())
        .args(["risk-check", "--stdin", "--now", T0])
        .write_stdin(input)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let lines: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(
        (&lines[0]["line"], &lines[0]["id"]),
        (&1.into(), &"x1".into())
    );
    assert!(lines[0]["error"].as_str().unwrap().starts_with("stop:"));
    assert_eq!(lines[1]["id"], serde_json::json!({"n": 2}));
    assert!(lines[2].get("id").is_none(), "{}", lines[2]);
}

/// Makes `path` and everything under it readable (and executable where it was) but not writable, by
/// anyone but root.
#[cfg(unix)]
fn read_only_tree(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(path).unwrap();
    let mode = if meta.is_dir() {
        for e in std::fs::read_dir(path).unwrap() {
            read_only_tree(&e.unwrap().path());
        }
        0o555
    } else {
        (meta.permissions().mode() | 0o444) & 0o555
    };
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// Runs `risk-check ARGS` (with the flowrex executable `bin`) as a user who may read `home` but not write
/// to it: as root (which ignores file permissions) the child drops to uid/gid 65534 (nobody); as anyone
/// else, the permissions do it.
#[cfg(unix)]
fn rc_read_only(bin: &Path, home: &Path, args: &[&str]) -> (i32, String, String) {
    use std::os::unix::process::CommandExt;
    let mut cmd = StdCommand::new(bin);
    cmd.arg("--home")
        .arg(home)
        .arg("risk-check")
        .args(args)
        .args(["--now", T0])
        .env_remove("FLOWREX_HOME")
        .env_remove("RUST_LOG");
    // Running as root? A file this process creates is owned by its effective uid.
    let probe = tempfile::NamedTempFile::new().unwrap();
    use std::os::unix::fs::MetadataExt;
    if probe.as_file().metadata().unwrap().uid() == 0 {
        cmd.uid(65534).gid(65534);
    }
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[cfg(unix)]
#[test]
fn a_read_only_user_can_list_decisions_and_verify() {
    let home = setup("1000");
    assert_eq!(check(home.path(), T0, &[]).0, 0);
    // A copy of the home that another user (or a read-only mount) can read but not write.
    let outer = tempfile::tempdir().unwrap();
    let copy = outer.path().join("home");
    std::fs::create_dir(&copy).unwrap();
    for e in std::fs::read_dir(home.path()).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), copy.join(e.file_name())).unwrap();
    }
    // The executable beside it, where "nobody" can run it (the build folder may be private).
    let bin = outer.path().join("flowrex");
    std::fs::copy(BIN, &bin).unwrap();
    read_only_tree(outer.path());
    let before: Vec<_> = std::fs::read_dir(&copy)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    let (code, out, err) = rc_read_only(&bin, &copy, &["--json", "decisions"]);
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["decisions"].as_array().unwrap().len(), 1);
    let (code, out, err) = rc_read_only(&bin, &copy, &["--json", "state"]);
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["balance"], 1000.0);
    let (code, _, err) = rc_read_only(&bin, &copy, &["verify"]);
    assert_eq!(code, 0, "{err}");
    // A writing command still needs write access, and says so.
    let (code, _, _) = rc_read_only(&bin, &copy, &["record", "fill", "--symbol", "X"]);
    assert_eq!(code, 1);
    let after: Vec<_> = std::fs::read_dir(&copy)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(before, after);
    // Let the temp dir be removed.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
    for p in [outer.path().to_path_buf(), copy.clone()] {
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
}

/// Opens the home's risk book in this process, switches off automatic checkpoints (so what it writes
/// stays in the WAL until it closes), and trips the emergency shutdown: −150 on 1000.
fn hold_with_emergency_in_the_wal(h: &Path) -> flowrex::risk::RiskBook {
    let mut book =
        flowrex::risk::RiskBook::new(flowrex::db::Db::open(h).unwrap(), flowrex::risk::HARD);
    book.db()
        .conn()
        .pragma_update(None, "wal_autocheckpoint", 0)
        .unwrap();
    let day1 = chrono::DateTime::parse_from_rfc3339("2026-03-01T12:00:00Z")
        .unwrap()
        .to_utc();
    book.record_fill("BTCUSD", None, day1).unwrap();
    let (tripped, emergency) = book
        .db()
        .write(|tx| {
            let out = flowrex::risk::book::ops::record_close(
                tx,
                &flowrex::risk::HARD,
                Some("BTCUSD"),
                None,
                -150.0,
                day1,
            )?;
            Ok((out.emergency_tripped, out.state.emergency))
        })
        .unwrap();
    assert!(tripped && emergency);
    book
}

#[test]
fn a_wal_deleted_under_a_running_process_is_detected_at_open() {
    for also_shm in [false, true] {
        let home = setup("1000");
        let h = home.path();
        let book = hold_with_emergency_in_the_wal(h);
        std::fs::remove_file(h.join("flowrex.db-wal")).unwrap();
        if also_shm {
            std::fs::remove_file(h.join("flowrex.db-shm")).unwrap();
        }
        // Another process must not answer from the stale main file (no emergency there) nor write
        // beside the vanished log: it refuses, naming the missing file.
        let (code, out, err) = rc(h, T0, &trade_args(&["--equity", "1000"]));
        assert_eq!(code, 1, "also_shm {also_shm}: {out}");
        assert!(
            err.contains("flowrex.db-wal: the write-ahead log was deleted"),
            "{err}"
        );
        // With the index left behind, the index gives it away; without it, the other process's lock.
        let sign = if also_shm {
            "while another process has the database open"
        } else {
            "its index -shm is still there"
        };
        assert!(err.contains(sign), "{err}");
        assert!(out.is_empty());
        // The holder still has the log open: closing it writes everything back, and then the home
        // opens again with the emergency on.
        drop(book);
        let (code, v) = check(h, T0, &[]);
        assert_eq!(code, 3, "also_shm {also_shm}: {v}");
        assert_eq!(failed_rules(&v)[0], "emergency_shutdown");
    }
}
