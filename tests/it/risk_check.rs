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

    let st = ok(h, T0, &["reset-emergency", "--reason", "losses reviewed"]);
    assert_eq!(st["emergency"], false);
    assert_eq!(check(h, T0, &[]).0, 0);

    let trips = decisions(h, &["--kind", "emergency-trip"]);
    assert_eq!(trips.len(), 1);
    let resets = decisions(h, &["--kind", "reset_emergency"]);
    assert_eq!(resets.len(), 1);
    assert_eq!(resets[0]["reason"], "losses reviewed");
    assert_eq!(resets[0]["inputs"]["was_on"], true);
}

#[test]
fn five_losses_disable_a_strategy_a_win_resets_and_enable_strategy_re_enables() {
    let home = setup("10000");
    let h = home.path();
    let close = |pnl: &str| {
        ok(
            h,
            T0,
            &["record", "close", "--strategy", "sma", "--pnl", pnl],
        )
    };
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
    let children: Vec<_> = (0..n)
        .flat_map(|i| {
            let fill = flowrex_std(h)
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
                .unwrap();
            let pnl = if i % 2 == 0 { "-1.5" } else { "-0.25" };
            let close = flowrex_std(h)
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
                .unwrap();
            [fill, close]
        })
        .collect();
    for mut c in children {
        assert!(c.wait().unwrap().success());
    }
    let st = ok(h, T0, &["state"]);
    assert_eq!(st["trades_today"], n);
    // Closes that ran before any fill find nothing open (the count never goes below zero).
    assert!(st["open_positions"].as_u64().unwrap() <= n as u64);
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
