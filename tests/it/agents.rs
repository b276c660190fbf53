//! `paper-trade run`, the agents' pipeline: a paper run over stored history equals `backtest
//! --risk-gate` trade for trade; running chunk by chunk as bars arrive equals one run over all of
//! them; guide mode recommends and changes no account; the trading state stops and limits runs; one
//! run per home at a time.

use std::path::Path;

use serde_json::Value;

use crate::support::{bundled_home, empty_home, json, load, run, write};
use flowrex::candles::time::format_ts_full;

/// A hand-written playbook for `strategy` on `symbol`/`interval` with the backtest costs and a
/// `[paper]` section. The market range covers every stored bar (the paper run trades them all).
fn playbook(
    name: &str,
    strategy: &str,
    market: (&str, &str),
    costs: (f64, f64),
    paper: &str,
) -> String {
    format!(
        "[playbook]\nname = \"{name}\"\nstatus = \"active\"\ncreated_at = \"2026-11-30T00:00:00Z\"\n\
         flowrex_version = \"0.1.0\"\n\n[strategy]\nname = \"{strategy}\"\n\n[strategy.params]\n\n\
         [market]\nsymbol = \"{}\"\ninterval = \"{}\"\nstart = \"1990-01-01T00:00:00Z\"\n\
         end = \"2030-01-01T00:00:00Z\"\nbars = 0\ndata_sha256 = \"-\"\n\n[backtest]\ncash = 10000.0\n\
         commission = {}\nspread = {}\nfill = \"next-open\"\nclose_at_end = false\nsize = \"all\"\n\
         stop_policy = \"pessimistic\"\n\n[metrics]\n\n[paper]\n{paper}\n",
        market.0, market.1, costs.0, costs.1
    )
}

/// The fill model that adds nothing to the backtest (slippage 0, latency 0, fill probability 1) with
/// the playbook's costs, and the instruments' lot sizes.
fn config(costs: (f64, f64)) -> String {
    format!(
        "[paper]\nslippage_bps = 0\nlatency_ms = 0\nfill_probability = 1\ncommission = {}\nspread = {}\n\n\
         [instruments.GOOG]\nlot_size = 100\n\n[instruments.EURUSD]\nlot_size = 100000\npip_size = 0.0001\n",
        costs.0, costs.1
    )
}

fn ok_json(home: &Path, args: &[&str]) -> Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let r = run(home, &all);
    assert_eq!(r.code, 0, "{args:?}: {}{}", r.stdout, r.stderr);
    json(&r)
}

/// A home with the bundled data, one playbook, the exact fill model and the given mode.
fn home_with(pb: &str, costs: (f64, f64), mode: &str) -> tempfile::TempDir {
    let home = bundled_home();
    std::fs::create_dir_all(home.path().join("playbooks")).unwrap();
    write(&home.path().join("playbooks"), "p.toml", pb);
    write(home.path(), "flowrex.toml", &config(costs));
    let r = run(
        home.path(),
        &["paper-trade", "mode", mode, "--reason", "test"],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    home
}

fn ms(text: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(text)
        .unwrap()
        .timestamp_millis()
}

/// Paper runs over the stored history and `backtest --risk-gate` on the same playbook: every trade's
/// side, size, times, prices, stop, target, P&L, commission and exit reason, and the final equity,
/// equal bit for bit; the gate's denials are the run's. Returns the trade count and the gate report.
fn assert_paper_equals_backtest(pb: &str, costs: (f64, f64)) -> (usize, Value) {
    let home = home_with(pb, costs, "autonomous");
    let h = home.path();
    let report = ok_json(h, &["paper-trade", "run"]);
    let paper = ok_json(h, &["paper-trade", "trades", "--limit", "100000"]);
    let paper = paper["trades"].as_array().unwrap().clone();
    let bt = ok_json(
        h,
        &[
            "backtest",
            "--playbook",
            h.join("playbooks/p.toml").to_str().unwrap(),
            "--risk-gate",
        ],
    );
    let want = bt["trades"].as_array().unwrap();
    assert_eq!(paper.len(), want.len(), "trade counts");
    for (k, (p, w)) in paper.iter().zip(want).enumerate() {
        assert_eq!(
            p["size"].as_f64().unwrap().abs(),
            w["size"].as_f64().unwrap().abs(),
            "trade {k} size"
        );
        assert_eq!(
            p["entry_ms"].as_i64().unwrap(),
            ms(w["entry_time"].as_str().unwrap()),
            "trade {k}"
        );
        assert_eq!(
            p["exit_ms"].as_i64().unwrap(),
            ms(w["exit_time"].as_str().unwrap()),
            "trade {k}"
        );
        for f in [
            "entry_price",
            "exit_price",
            "stop",
            "target",
            "pnl",
            "commission",
            "exit_reason",
        ] {
            assert_eq!(p[f], w[f], "trade {k} field {f}: {p} vs {w}");
        }
    }
    // Equity at the last close: the backtest's final equity, the paper account's ledger fold.
    let acct = ok_json(h, &["paper-trade", "account"]);
    assert_eq!(acct["account"]["equity"], bt["metrics"]["equity_final"]);
    // Every entry the strategy proposed went through the Risk stage in both; the paper run also
    // decides on the last stored bar (an order that would fill at the next bar), the backtest does not.
    let gate = bt["risk_gate"].clone();
    let pr = &report["playbooks"][0];
    let last = ok_json(h, &["paper-trade", "cycles", "--last", "1"]);
    let last_entry = (last["cycles"][0]["proposal"]["kind"] == "enter") as u64;
    assert_eq!(
        pr["entries"].as_u64().unwrap(),
        gate["proposed"].as_u64().unwrap() + last_entry
    );
    assert!(pr["denied"].as_u64().unwrap() >= gate["denied"].as_u64().unwrap());
    (want.len(), gate)
}

#[test]
fn paper_run_equals_the_gated_backtest_for_sma_cross_on_goog_with_the_protective_stop() {
    // sma_cross 10/20 gives no stop: the playbook's [paper] protective 3% stop and 6% target are
    // attached in both. Risk 1% of equity per trade, GOOG in lots of 100 (cap 100 shares).
    let costs = (0.001, 0.0002);
    let pb = playbook(
        "goog_sma",
        "sma_cross",
        ("GOOG", "1d"),
        costs,
        "risk_pct = 1\nstop_pct = 3\ntarget_pct = 6",
    );
    let (trades, gate) = assert_paper_equals_backtest(
        &pb.replace(
            "[strategy.params]\n",
            "[strategy.params]\nfast = 10\nslow = 20\n",
        ),
        costs,
    );
    assert!(trades > 20, "{trades}");
    // The risk rules engaged: five losses in a row disable the book's strategy budget, after which
    // every entry is denied with that reason (in both).
    assert!(gate["denied"].as_u64().unwrap() > 0, "{gate}");
    assert_eq!(gate["reasons"][0][0], "strategy_budget", "{gate}");
}

#[test]
fn paper_run_equals_the_gated_backtest_for_jadecap_brackets_on_eurusd() {
    // JadeCap places its own stop and target. Risk 0.1% of equity: 10 per trade over a stop of some
    // 20 pips is about 5 000 units, which a 10 000 cash account (leverage 1) covers.
    let costs = (0.0, 0.00005);
    let pb = playbook(
        "eur_jadecap",
        "jadecap",
        ("EURUSD", "1h"),
        costs,
        "risk_pct = 0.1",
    );
    let (trades, gate) = assert_paper_equals_backtest(&pb, costs);
    // 19 trades before five losses in a row disable the strategy's budget.
    assert!(trades > 10, "{trades} {gate}");
}

/// The GOOG sma_cross playbook of the equality test.
fn goog_playbook() -> String {
    playbook(
        "goog_sma",
        "sma_cross",
        ("GOOG", "1d"),
        (0.001, 0.0002),
        "risk_pct = 1\nstop_pct = 3\ntarget_pct = 6",
    )
    .replace(
        "[strategy.params]\n",
        "[strategy.params]\nfast = 10\nslow = 20\n",
    )
}

#[test]
fn running_as_the_bars_arrive_in_six_chunks_equals_one_run_over_all_of_them() {
    let costs = (0.001, 0.0002);
    let bundled = load(crate::support::repo(), "GOOG", "1d");
    // One run over everything.
    let once = home_with(&goog_playbook(), costs, "autonomous");
    ok_json(once.path(), &["paper-trade", "run"]);
    // Six chunks through `fetch --provider csv`, a run after each (the first chunk is short:
    // 30 bars, 10 past the warm-up).
    let inc = empty_home();
    let h = inc.path();
    std::fs::create_dir_all(h.join("playbooks")).unwrap();
    write(&h.join("playbooks"), "p.toml", &goog_playbook());
    write(h, "flowrex.toml", &config(costs));
    let r = run(
        h,
        &["paper-trade", "mode", "autonomous", "--reason", "test"],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let n = bundled.len();
    let cuts = [30, n / 5, 2 * n / 5, 3 * n / 5, 4 * n / 5, n];
    let mut from = 0;
    let mut cycles = 0;
    for (k, &to) in cuts.iter().enumerate() {
        let mut csv = String::from("time,open,high,low,close,volume\n");
        for i in from..to {
            let b = bundled.bar(i);
            csv.push_str(&format!(
                "{},{},{},{},{},{}\n",
                format_ts_full(b.ts),
                b.open,
                b.high,
                b.low,
                b.close,
                b.volume
            ));
        }
        let file = write(h, &format!("chunk{k}.csv"), &csv);
        let f = run(
            h,
            &[
                "fetch",
                "--provider",
                "csv",
                "--symbol",
                "GOOG",
                "--interval",
                "1d",
                "--file",
                file.to_str().unwrap(),
            ],
        );
        assert_eq!(f.code, 0, "chunk {k}: {}", f.stderr);
        let rep = ok_json(h, &["paper-trade", "run"]);
        cycles += rep["cycles"].as_u64().unwrap();
        from = to;
    }
    // A run with no new bar does nothing and says so.
    let again = run(h, &["paper-trade", "run"]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert!(
        again.stdout.contains("no new closed bars: nothing to do"),
        "{}",
        again.stdout
    );
    // The slow SMA (20) is first defined at bar 19, the warm-up; decisions run from bar 20 to the
    // last: n − 20 cycles.
    assert_eq!(cycles as usize, n - 20);
    for args in [
        &["paper-trade", "trades", "--limit", "100000"][..],
        &["paper-trade", "account"],
        &["paper-trade", "positions"],
        &["paper-trade", "orders", "--all"],
    ] {
        assert_eq!(ok_json(h, args), ok_json(once.path(), args), "{args:?}");
    }
    // The last cycle saw the same history: the same chained data hash.
    let a = ok_json(h, &["paper-trade", "cycles", "--last", "1"]);
    let b = ok_json(once.path(), &["paper-trade", "cycles", "--last", "1"]);
    assert_eq!(a["cycles"][0]["data_hash"], b["cycles"][0]["data_hash"]);
}

#[test]
fn guide_mode_recommends_every_entry_and_leaves_the_account_untouched() {
    let costs = (0.001, 0.0002);
    let auto = home_with(&goog_playbook(), costs, "autonomous");
    let auto_run = ok_json(auto.path(), &["paper-trade", "run"]);
    let guide = home_with(&goog_playbook(), costs, "guide");
    let g = guide.path();
    let guide_run = ok_json(g, &["paper-trade", "run"]);
    // sma_cross proposes on crosses whatever its position, so both runs see the same entries; guide
    // mode recommends each (no losses, so no budget ever stops it) and submits none.
    let (a, r) = (&auto_run["playbooks"][0], &guide_run["playbooks"][0]);
    assert_eq!(r["entries"], a["entries"]);
    assert_eq!(r["recommended"], a["entries"]);
    assert_eq!(r["submitted"], 0);
    assert!(a["submitted"].as_u64().unwrap() > 0);
    let acct = ok_json(g, &["paper-trade", "account"]);
    assert_eq!(acct["account"]["balance"], 10000.0);
    assert_eq!(acct["account"]["equity"], 10000.0);
    assert_eq!(acct["account"]["fills"], 0);
    assert_eq!(
        ok_json(g, &["paper-trade", "trades"])["trades"],
        Value::Array(vec![])
    );
    // A recommendation names its risk decision and its (previewed) order.
    let cycles = ok_json(g, &["paper-trade", "cycles", "--last", "100000"]);
    let rec = cycles["cycles"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["outcome"].as_str().unwrap().starts_with("recommended"))
        .unwrap();
    let d = ok_json(
        g,
        &[
            "paper-trade",
            "decisions",
            "--cycle",
            &rec["id"].to_string(),
        ],
    );
    let x = d["decisions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["stage"] == "execution")
        .unwrap();
    assert_eq!(x["decision"], "recommended");
    assert!(x["risk_decision_id"].is_i64(), "{x}");
    let order = ok_json(g, &["paper-trade", "events", &x["order_id"].to_string()]);
    assert_eq!(
        order["events"].as_array().unwrap().last().unwrap()["to_state"],
        "previewed"
    );
    assert_eq!(d["messages"][0]["kind"], "request");
    assert_eq!(
        d["messages"][1]["correlation_id"],
        d["messages"][0]["correlation_id"]
    );
}

#[test]
fn halt_stops_the_run_with_exit_3_reduce_blocks_entries_and_resume_trades_again() {
    let home = home_with(&goog_playbook(), (0.001, 0.0002), "autonomous");
    let h = home.path();
    assert_eq!(
        run(h, &["paper-trade", "halt", "--reason", "news at 14:00"]).code,
        0
    );
    let r = run(h, &["paper-trade", "run"]);
    assert_eq!(r.code, 3, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("halted: news at 14:00"), "{}", r.stdout);
    assert_eq!(
        ok_json(h, &["paper-trade", "cycles"])["cycles"],
        Value::Array(vec![])
    );
    // Reducing: every entry is blocked by the Risk stage, nothing is submitted.
    assert_eq!(
        run(h, &["paper-trade", "reduce", "--reason", "wind down"]).code,
        0
    );
    let rep = ok_json(h, &["paper-trade", "run"]);
    let p = &rep["playbooks"][0];
    assert!(p["entries"].as_u64().unwrap() > 0);
    assert_eq!(p["denied"], p["entries"]);
    assert_eq!(p["submitted"], 0);
    let cycles = ok_json(h, &["paper-trade", "cycles", "--last", "100000"]);
    let blocked = cycles["cycles"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["proposal"]["kind"] == "enter")
        .unwrap();
    assert_eq!(blocked["trading_state"], "reducing");
    assert!(
        blocked["outcome"]
            .as_str()
            .unwrap()
            .starts_with("blocked: trading state reducing"),
        "{blocked}"
    );
    // Resumed, a run has nothing new to decide (every bar was decided while reducing).
    assert_eq!(
        run(h, &["paper-trade", "resume", "--reason", "calm"]).code,
        0
    );
    let again = run(h, &["paper-trade", "run"]);
    assert_eq!(again.code, 0);
    assert!(again.stdout.contains("nothing to do"), "{}", again.stdout);
    // A reason is required.
    assert_eq!(run(h, &["paper-trade", "halt", "--reason", " "]).code, 1);
}

#[test]
fn a_second_concurrent_run_waits_then_gives_up_busy_and_changes_nothing() {
    let home = home_with(&goog_playbook(), (0.001, 0.0002), "autonomous");
    let h = home.path();
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(h.join("agents.lock"))
        .unwrap();
    lock.lock().unwrap();
    let r = run(h, &["paper-trade", "run", "--wait-ms", "300"]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("busy"), "{}", r.stderr);
    assert_eq!(
        ok_json(h, &["paper-trade", "cycles"])["cycles"],
        Value::Array(vec![])
    );
    drop(lock);
    assert!(
        ok_json(h, &["paper-trade", "run"])["cycles"]
            .as_u64()
            .unwrap()
            > 0
    );
}

/// What a run leaves that must not depend on how it was interrupted: the paper account, trades,
/// positions and orders, and each cycle's bar, data hash, state, proposal and outcome.
fn state_of(h: &Path) -> Vec<Value> {
    let mut out: Vec<Value> = [
        &["paper-trade", "trades", "--limit", "100000"][..],
        &["paper-trade", "account"],
        &["paper-trade", "positions"],
        &["paper-trade", "orders", "--all"],
    ]
    .iter()
    .map(|a| ok_json(h, a))
    .collect();
    let cycles = ok_json(h, &["paper-trade", "cycles", "--last", "100000"]);
    for c in cycles["cycles"].as_array().unwrap() {
        let keep = [
            "id",
            "playbook",
            "bar",
            "data_hash",
            "trading_state",
            "proposal",
            "outcome",
        ];
        out.push(
            keep.iter()
                .map(|k| (k.to_string(), c[*k].clone()))
                .collect(),
        );
    }
    out
}

/// Cycles logged so far (a read that meets a busy database counts as none yet).
fn cycles_in(conn: &rusqlite::Connection) -> i64 {
    conn.query_row("SELECT count(*) FROM agent_cycles", [], |r| r.get(0))
        .unwrap_or(0)
}

fn copy_home(from: &Path) -> tempfile::TempDir {
    let to = empty_home();
    let status = std::process::Command::new("cp")
        .arg("-a")
        .arg(format!("{}/.", from.display()))
        .arg(to.path())
        .status()
        .unwrap();
    assert!(status.success());
    to
}

/// Spawns `paper-trade run` on `h` and calls `at_k` once it has logged at least `k` cycles (or it
/// ended); returns the run's exit code.
fn run_until(h: &Path, k: i64, at_k: impl FnOnce(&mut std::process::Child)) -> Option<i32> {
    let conn = rusqlite::Connection::open_with_flags(
        h.join("flowrex.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .unwrap();
    let mut child = crate::support::flowrex_std(h)
        .args(["paper-trade", "run"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while cycles_in(&conn) < k && std::time::Instant::now() < deadline {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    if child.try_wait().unwrap().is_none() {
        at_k(&mut child);
    }
    child.wait().unwrap().code()
}

#[test]
fn a_run_killed_at_any_point_ends_as_an_uninterrupted_one() {
    let home = home_with(&goog_playbook(), (0.001, 0.0002), "autonomous");
    // The database exists once the mode is set; the reference runs uninterrupted.
    let reference = copy_home(home.path());
    ok_json(reference.path(), &["paper-trade", "run"]);
    let want = state_of(reference.path());
    let total = (want.len() - 4) as i64;
    assert!(total > 2000, "{total}");
    let h = home.path();
    // Killed at several points, each time the ledger verifies; the next run continues.
    let mut killed = 0;
    for k in [total / 10, total / 3, total / 2, 3 * total / 4] {
        run_until(h, k, |child| {
            child.kill().unwrap(); // SIGKILL
            killed += 1;
        });
        let v = ok_json(h, &["paper-trade", "account", "--verify"]);
        assert!(
            v["verify"]["problems"]
                .as_array()
                .is_none_or(|p| p.is_empty()),
            "{v}"
        );
    }
    assert!(killed >= 3, "only {killed} kills landed inside a run");
    ok_json(h, &["paper-trade", "run"]);
    assert_eq!(state_of(h), want);
}

#[test]
fn a_halt_recorded_during_a_run_stops_it_and_the_resumed_run_finishes_the_same() {
    // 20 000 synthetic one-minute bars: a run long enough for a halt to land inside it.
    let home = empty_home();
    let h = home.path();
    let f = run(
        h,
        &[
            "-q",
            "fetch",
            "--provider",
            "synthetic",
            "--symbol",
            "SYN",
            "--interval",
            "1m",
            "--bars",
            "20000",
            "--seed",
            "3",
        ],
    );
    assert_eq!(f.code, 0, "{}", f.stderr);
    std::fs::create_dir_all(h.join("playbooks")).unwrap();
    let pb = goog_playbook()
        .replace("symbol = \"GOOG\"", "symbol = \"SYN\"")
        .replace("interval = \"1d\"", "interval = \"1m\"");
    write(&h.join("playbooks"), "p.toml", &pb);
    write(h, "flowrex.toml", &config((0.001, 0.0002)));
    assert_eq!(
        run(
            h,
            &["paper-trade", "mode", "autonomous", "--reason", "test"]
        )
        .code,
        0
    );
    let reference = copy_home(h);
    ok_json(reference.path(), &["paper-trade", "run"]);
    let want = state_of(reference.path());
    let total = (want.len() - 4) as i64;
    // `halt` asks through `<home>/agents.halt` at once, then records the state; the run's next group
    // of cycles (at most 50 ms of work later) sees the request: exit 3, before the end of the
    // history. (On a machine so loaded that the whole run ends before the halt starts, the attempt is
    // repeated on a fresh copy.)
    let start = copy_home(h);
    let mut landed = None;
    for _ in 0..3 {
        let attempt = copy_home(start.path());
        let a = attempt.path();
        let halted = run_until(a, total / 10, |_| {
            let r = run(a, &["paper-trade", "halt", "--reason", "mid-run"]);
            assert_eq!(r.code, 0, "{}", r.stderr);
        });
        if halted == Some(3) {
            landed = Some(attempt);
            break;
        }
    }
    let attempt = landed.expect("the halt landed inside a run");
    let h = attempt.path();
    let cycles = ok_json(h, &["paper-trade", "cycles", "--last", "100000"]);
    assert!((cycles["cycles"].as_array().unwrap().len() as i64) < total);
    assert_eq!(
        run(h, &["paper-trade", "resume", "--reason", "go on"]).code,
        0
    );
    ok_json(h, &["paper-trade", "run"]);
    assert_eq!(state_of(h), want);
}

#[test]
fn an_execution_stage_failing_in_most_cycles_is_unhealthy_and_the_supervisor_skips_it() {
    let costs = (0.001, 0.0002);
    // Where the strategy proposes its third entry, from a full run.
    let full = home_with(&goog_playbook(), costs, "autonomous");
    ok_json(full.path(), &["paper-trade", "run"]);
    let cycles = ok_json(full.path(), &["paper-trade", "cycles", "--last", "100000"]);
    let entries: Vec<&Value> = cycles["cycles"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["proposal"]["kind"] == "enter")
        .collect();
    let bar = entries[2]["bar"].as_str().unwrap();
    let bar_ms = ms(bar);
    let day = 86_400_000;
    let iso = |t: i64| flowrex::candles::time::format_ts_full(t);
    // Up to the bar before it (the bar is not closed yet at its own open time + 1 h).
    let home = home_with(&goog_playbook(), costs, "autonomous");
    let h = home.path();
    ok_json(
        h,
        &["paper-trade", "run", "--now", &iso(bar_ms + 3_600_000)],
    );
    let before = ok_json(h, &["paper-trade", "health"]);
    let exec = |v: &Value| {
        v["stages"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["stage"] == "execution")
            .unwrap()
            .clone()
    };
    assert_ne!(exec(&before)["status"], "unhealthy", "{before}");
    // The execution stage failed in each of the last 20 cycles (written as the stage records an
    // error: rolled back to its savepoint, the error kept).
    let mut db = flowrex::db::Db::open(h).unwrap();
    db.write(|tx| {
        let ids: Vec<i64> = tx
            .prepare("SELECT id FROM agent_cycles ORDER BY id DESC LIMIT 20")?
            .query_map([], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        for id in ids {
            use rusqlite::types::Value as V;
            let row = [
                V::Integer(id),
                V::Text("execution".into()),
                V::Text("error".into()),
                V::Text("broker unreachable".into()),
                V::Null,
                V::Null,
                V::Null,
            ];
            flowrex::agents::log::DECISIONS.append(tx, &row)?;
        }
        Ok(())
    })
    .unwrap();
    drop(db);
    let after = ok_json(h, &["paper-trade", "health"]);
    assert_eq!(exec(&after)["status"], "unhealthy", "{after}");
    assert_eq!(exec(&after)["errors"], 20);
    // The entry at the next bar is sized and approved by the Risk stage, and the Supervisor skips
    // the execution: recorded, nothing submitted.
    let rep = ok_json(h, &["paper-trade", "run", "--now", &iso(bar_ms + day)]);
    assert_eq!(rep["cycles"], 1);
    assert_eq!(rep["playbooks"][0]["submitted"], 0);
    let last = ok_json(h, &["paper-trade", "cycles", "--last", "1"]);
    assert_eq!(last["cycles"][0]["bar"].as_str().unwrap(), bar);
    assert!(
        last["cycles"][0]["outcome"]
            .as_str()
            .unwrap()
            .starts_with("skipped"),
        "{last}"
    );
}

#[test]
fn a_follower_keeps_running_and_holds_the_home_so_a_cron_run_is_busy() {
    let home = home_with(&goog_playbook(), (0.001, 0.0002), "autonomous");
    let h = home.path();
    let conn_path = h.join("flowrex.db");
    let mut child = crate::support::flowrex_std(h)
        .args(["paper-trade", "run", "--follow", "--every", "1s"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let conn = rusqlite::Connection::open_with_flags(
        &conn_path,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while cycles_in(&conn) == 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(cycles_in(&conn) > 0);
    std::thread::sleep(std::time::Duration::from_millis(1500));
    assert!(
        child.try_wait().unwrap().is_none(),
        "the follower is still running"
    );
    let r = run(h, &["paper-trade", "run", "--wait-ms", "200"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("busy"), "{}", r.stderr);
    child.kill().unwrap();
    child.wait().unwrap();
    let bad = run(h, &["paper-trade", "run", "--follow", "--every", "0s"]);
    assert_eq!(bad.code, 2, "{}", bad.stderr);
}

#[test]
fn a_risk_emergency_halts_every_run_until_it_is_reset() {
    let home = home_with(&goog_playbook(), (0.001, 0.0002), "autonomous");
    let h = home.path();
    // A 16% loss from a 10 000 peak: the drawdown reaches the 15% limit and trips the emergency.
    for args in [
        &[
            "risk-check",
            "state",
            "--balance",
            "10000",
            "--reason",
            "test",
        ][..],
        &["risk-check", "record", "fill", "--symbol", "X"],
        &[
            "risk-check",
            "record",
            "close",
            "--symbol",
            "X",
            "--pnl",
            "-1600",
        ],
    ] {
        let r = run(h, args);
        assert_eq!(r.code, 0, "{args:?}: {}", r.stderr);
    }
    for _ in 0..2 {
        let r = run(h, &["paper-trade", "run"]);
        assert_eq!(r.code, 3, "{}{}", r.stdout, r.stderr);
        assert!(r.stdout.contains("halted: risk emergency"), "{}", r.stdout);
        assert!(r.stdout.contains("reset-emergency"), "{}", r.stdout);
    }
    assert_eq!(
        ok_json(h, &["paper-trade", "cycles"])["cycles"],
        Value::Array(vec![])
    );
    // Re-based and reset, the next run trades.
    for args in [
        &[
            "risk-check",
            "state",
            "--balance",
            "8400",
            "--reason",
            "re-base",
        ][..],
        &["risk-check", "reset-emergency", "--reason", "reviewed"],
    ] {
        let r = run(h, args);
        assert_eq!(r.code, 0, "{args:?}: {}", r.stderr);
    }
    assert!(
        ok_json(h, &["paper-trade", "run"])["cycles"]
            .as_u64()
            .unwrap()
            > 0
    );
}

#[test]
fn the_decision_log_is_hash_chained_and_verify_log_names_a_changed_row() {
    let home = home_with(&goog_playbook(), (0.001, 0.0002), "autonomous");
    let h = home.path();
    assert_eq!(
        run(h, &["paper-trade", "reduce", "--reason", "test"]).code,
        0
    );
    assert_eq!(
        run(h, &["paper-trade", "resume", "--reason", "test"]).code,
        0
    );
    ok_json(h, &["paper-trade", "run"]);
    let v = ok_json(h, &["paper-trade", "verify-log"]);
    let rows: Vec<u64> = v["chains"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["rows"].as_u64().unwrap())
        .collect();
    // Two state changes, one run, the cycles, and decisions and messages of the entry cycles.
    assert_eq!(rows[0], 2);
    assert_eq!(rows[1], 1);
    assert!(rows[2] > 2000 && rows[3] > 0 && rows[4] > 0, "{rows:?}");
    // Rewrite one cycle's outcome around the guard (as someone with the file could): the chain
    // breaks at that row.
    let conn = rusqlite::Connection::open(h.join("flowrex.db")).unwrap();
    conn.execute_batch(
        "DROP TRIGGER agent_cycles_no_update;
         UPDATE agent_cycles SET outcome = 'hold' WHERE id = (SELECT min(id) FROM agent_cycles WHERE outcome LIKE 'submitted%');",
    )
    .unwrap();
    let id: i64 = conn
        .query_row(
            "SELECT min(id) FROM agent_cycles WHERE proposal LIKE '%enter%' AND outcome = 'hold'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    drop(conn);
    let r = run(h, &["paper-trade", "verify-log"]);
    assert_eq!(r.code, 3, "{}", r.stdout);
    assert!(
        r.stdout.contains(&format!("agent_cycles row {id}")),
        "{}",
        r.stdout
    );
}

#[test]
fn journal_analyze_finds_the_playbook_a_paper_run_traded_without_being_told() {
    // A paper run journals its closes under the playbook's book; the entries record no playbook, so
    // `journal analyze` finds it by that name in <home>/playbooks (here the file is p.toml, the
    // playbook's name goog_sma) and replays it.
    let costs = (0.001, 0.0002);
    let pb = playbook(
        "goog_sma",
        "sma_cross",
        ("GOOG", "1d"),
        costs,
        "risk_pct = 1\nstop_pct = 3\ntarget_pct = 6",
    )
    .replace(
        "[strategy.params]\n",
        "[strategy.params]\nfast = 10\nslow = 20\n",
    );
    let home = home_with(&pb, costs, "autonomous");
    let h = home.path();
    ok_json(h, &["paper-trade", "run"]);
    let paper = ok_json(h, &["paper-trade", "trades", "--limit", "100000"]);
    let n = paper["trades"].as_array().unwrap().len();
    assert!(n > 0);
    let a = ok_json(
        h,
        &[
            "journal",
            "analyze",
            "--strategy",
            "goog_sma",
            "--symbol",
            "GOOG",
            "--source",
            "paper",
        ],
    );
    assert_eq!(a["real_trades"].as_u64(), Some(n as u64), "{a}");
    let reference = a["reference"].to_string();
    assert!(reference.contains("p.toml"), "{reference}");
    // A book no playbook is named after still needs --playbook.
    let r = run(
        h,
        &[
            "journal",
            "analyze",
            "--strategy",
            "other",
            "--symbol",
            "GOOG",
            "--source",
            "paper",
        ],
    );
    assert_ne!(r.code, 0);
}
