//! `flowrex journal`: `backtest --journal`, the append-only hash-chained entries and `journal verify`,
//! CSV import of fills, statistics, the analysis against a replay of the backtest, the feedback loop into
//! the risk budget and the optimize queue, snapshots, bad input and concurrent writers.

use std::path::{Path, PathBuf};

use flowrex::candles::DAY_MS;
use flowrex::db::Db;
use flowrex::journal::{self, NewEntry, PlaybookRef, Source};
use flowrex::risk::StrategyId;
use flowrex::trade::{ExitReason, Side, TradeRecord};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::support::{Run, bundled_home, empty_home, flowrex, json, run, write};

const PLAYBOOK: &str = "goog_sma_cross";

/// A bundled home with the repository's GOOG playbook in `<home>/playbooks/`.
fn home_with_playbook() -> (tempfile::TempDir, PathBuf) {
    crate::support::home_with_readme_playbook()
}

fn ok_json(home: &Path, args: &[&str]) -> Value {
    let r = run(home, args);
    assert_eq!(r.code, 0, "{args:?}: {}{}", r.stdout, r.stderr);
    json(&r)
}

/// Appends entries to the home's journal through the library (as the paper broker will).
fn add(home: &Path, entries: &[NewEntry]) {
    let mut db = Db::open(home).unwrap();
    db.write(|tx| journal::append_all(tx, entries, 1)).unwrap();
}

/// A trade of 10 units at 100 returning `ret` percent (no commission), entered `day` days after
/// Monday 2020-01-06 at `hour` UTC and closed a day later.
fn trade(side: Side, ret: f64, day: i64, hour: i64) -> TradeRecord {
    let exit = 100.0 * (1.0 + side.sign() * ret / 100.0);
    let size = 10.0 * side.sign();
    let entry_time = 1_578_268_800_000 + day * DAY_MS + hour * 3_600_000;
    TradeRecord {
        size,
        side,
        entry_bar: day as usize,
        exit_bar: day as usize + 1,
        entry_price: 100.0,
        exit_price: exit,
        stop: None,
        target: None,
        pnl: size * (exit - 100.0),
        commission: 0.0,
        return_pct: ret,
        entry_time,
        exit_time: entry_time + DAY_MS,
        duration_days: 1.0,
        exit_reason: ExitReason::Signal,
        ambiguous: false,
    }
}

fn entry(strategy: &str, symbol: &str, source: Source, trade: TradeRecord) -> NewEntry {
    NewEntry {
        source,
        run_id: None,
        strategy: StrategyId::parse("strategy", strategy).unwrap(),
        model: None,
        params: None,
        settings: None,
        playbook: None,
        symbol: symbol.into(),
        interval: None,
        account: None,
        order_ids: Vec::new(),
        trade,
        bars_known: true,
    }
}

fn sha256_of(path: &Path) -> String {
    Sha256::digest(std::fs::read(path).unwrap())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn raw_db(home: &Path) -> rusqlite::Connection {
    rusqlite::Connection::open(home.join("flowrex.db")).unwrap()
}

// ---- backtest --journal, append-only, verify -----------------------------------------------------

#[test]
fn backtest_journal_writes_exactly_the_backtests_trades() {
    let (home, pb) = home_with_playbook();
    let h = home.path();
    let pbs = pb.to_str().unwrap();
    let doc = ok_json(h, &["backtest", "--playbook", pbs, "--json"]);
    let trades = doc["trades"].as_array().unwrap();
    assert_eq!(trades.len(), 93);
    // The journaled run prints the same document, and what it journaled.
    let mut journaled = ok_json(h, &["backtest", "--playbook", pbs, "--json", "--journal"]);
    let said = journaled
        .as_object_mut()
        .unwrap()
        .remove("journal")
        .unwrap();
    assert_eq!(journaled, doc);
    assert_eq!(
        (said["new"].as_u64(), said["known"].as_u64()),
        (Some(93), Some(0))
    );
    let listed = ok_json(h, &["journal", "list", "--all", "--json"]);
    let entries = listed["entries"].as_array().unwrap();
    assert_eq!(entries.len(), trades.len());
    for (e, t) in entries.iter().zip(trades) {
        assert_eq!(&e["trade"], t);
        assert_eq!(e["source"], "backtest");
        assert_eq!(e["strategy"], PLAYBOOK);
        assert_eq!(e["symbol"], "GOOG");
        assert_eq!(e["interval"], "1d");
        assert_eq!(e["model"], "sma_cross");
        assert_eq!(e["params"], serde_json::json!({"fast": 10, "slow": 20}));
        assert_eq!(e["playbook"]["name"], PLAYBOOK);
        assert_eq!(e["playbook"]["sha256"], sha256_of(&pb));
        assert_eq!(e["run_id"], entries[0]["run_id"]);
    }
    // From flags, under a name of our own.
    let flags = [
        "backtest",
        "--strategy",
        "sma_cross",
        "--symbol",
        "EURUSD",
        "--interval",
        "1h",
        "--json",
    ];
    let doc = ok_json(h, &flags);
    let mut with = flags.to_vec();
    with.push("--journal=My SMA");
    ok_json(h, &with);
    let listed = ok_json(
        h,
        &["journal", "list", "--all", "--json", "--strategy", "my sma"],
    );
    let got: Vec<&Value> = listed["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["trade"])
        .collect();
    let want: Vec<&Value> = doc["trades"].as_array().unwrap().iter().collect();
    assert_eq!(got, want);
    assert!(listed["entries"][0]["playbook"].is_null());
}

#[test]
fn the_database_refuses_to_update_or_delete_entries() {
    let (home, pb) = home_with_playbook();
    let h = home.path();
    ok_json(
        h,
        &[
            "backtest",
            "--playbook",
            pb.to_str().unwrap(),
            "--json",
            "--journal",
        ],
    );
    let db = raw_db(h);
    for sql in [
        "UPDATE journal_entries SET exit_price = 1000 WHERE id = 5",
        "DELETE FROM journal_entries WHERE id = 5",
        "INSERT OR REPLACE INTO journal_entries SELECT * FROM journal_entries WHERE id = 5",
    ] {
        let err = db.execute(sql, []).unwrap_err().to_string();
        assert!(
            err.contains("journal_entries is append-only"),
            "{sql}: {err}"
        );
    }
    let r = run(h, &["journal", "verify"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("journal intact"), "{}", r.stdout);
}

#[test]
fn verify_names_the_first_altered_row_even_with_the_triggers_dropped() {
    let (home, pb) = home_with_playbook();
    let h = home.path();
    ok_json(
        h,
        &[
            "backtest",
            "--playbook",
            pb.to_str().unwrap(),
            "--json",
            "--journal",
        ],
    );
    let db = raw_db(h);
    db.execute_batch(
        "DROP TRIGGER journal_entries_no_update;
         UPDATE journal_entries SET exit_price = exit_price + 0.01 WHERE id = 17;",
    )
    .unwrap();
    drop(db);
    let r = run(h, &["journal", "verify"]);
    assert_eq!(r.code, 3, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains(
            "TAMPERED: journal_entries row 17: its content does not match its hash: it was edited"
        ),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("guard trigger journal_entries_no_update is missing"),
        "{}",
        r.stdout
    );
    let v = json(&run(h, &["journal", "verify", "--json"]));
    assert_eq!(v["intact"], false);
    assert_eq!(v["first_fault"]["table"], "journal_entries");
    assert_eq!(v["first_fault"]["id"], 17);
    // Deleting a row (the guard dropped too) names the row after it.
    let (home, pb) = home_with_playbook();
    let h = home.path();
    ok_json(
        h,
        &[
            "backtest",
            "--playbook",
            pb.to_str().unwrap(),
            "--json",
            "--journal",
        ],
    );
    raw_db(h)
        .execute_batch(
            "DROP TRIGGER journal_entries_no_delete; DELETE FROM journal_entries WHERE id = 40;",
        )
        .unwrap();
    let v = json(&run(h, &["journal", "verify", "--json"]));
    assert_eq!(v["first_fault"]["id"], 41);
}

// ---- import ---------------------------------------------------------------------------------------

/// Partial fills and a flip. Worked by hand:
/// - trip 1, long: A fills 60 @ 100 and 40 @ 101 → 100 units at (6000 + 4040)/100 = 100.4; B sells 30
///   @ 105; C sells 120 @ 110: 70 close the long, 50 open a short. Exit (30·105 + 70·110)/100 = 108.5.
///   Fees 0.6 + 0.4 + 0.3 + 1.2·70/120 = 2.0. pnl = 100 · (108.5 − 100.4) − 2 = 808.
/// - trip 2, short 50 @ 110 (fee 1.2·50/120 = 0.5), D buys 50 @ 108 (fee 0.5): pnl = 50 · 2 − 1 = 99.
const FILLS: &str = "time,symbol,side,quantity,price,fee,order_id
2024-01-02T10:00:00Z,ACME,buy,60,100,0.6,A
2024-01-02T10:00:05Z,ACME,buy,40,101,0.4,A
2024-01-02T11:00:00Z,ACME,sell,30,105,0.3,B
2024-01-02T12:00:00Z,ACME,sell,120,110,1.2,C
2024-01-02T13:00:00Z,ACME,buy,50,108,0.5,D
";

fn close(a: &Value, b: f64) -> bool {
    (a.as_f64().unwrap() - b).abs() < 1e-9 * b.abs().max(1.0)
}

#[test]
fn an_import_with_partial_fills_and_a_flip_builds_the_round_trips_once() {
    let home = empty_home();
    let h = home.path();
    let file = write(h, "fills.csv", FILLS);
    let f = file.to_str().unwrap();
    let args = [
        "journal",
        "import",
        "--file",
        f,
        "--strategy",
        "Breakout",
        "--account",
        "ib-1",
        "--json",
    ];
    let rep = ok_json(h, &args);
    assert_eq!(
        (
            rep["fills_new"].as_u64(),
            rep["entries"].as_array().unwrap().len()
        ),
        (Some(5), 2)
    );
    let e = ok_json(h, &["journal", "list", "--json"]);
    let e = e["entries"].as_array().unwrap();
    let (a, b) = (&e[0], &e[1]);
    assert_eq!(
        (
            a["source"].as_str(),
            a["strategy"].as_str(),
            a["account"].as_str()
        ),
        (Some("live"), Some("breakout"), Some("ib-1"))
    );
    assert_eq!(a["trade"]["side"], "long");
    assert_eq!(a["trade"]["size"], 100.0);
    assert!(close(&a["trade"]["entry_price"], 100.4) && close(&a["trade"]["exit_price"], 108.5));
    assert!(close(&a["trade"]["commission"], 2.0) && close(&a["trade"]["pnl"], 808.0));
    assert_eq!(a["trade"]["entry_time"], "2024-01-02T10:00:00Z");
    assert_eq!(a["trade"]["exit_time"], "2024-01-02T12:00:00Z");
    assert_eq!(a["trade"]["entry_bar"], Value::Null);
    assert_eq!(a["order_ids"], serde_json::json!(["A", "B", "C"]));
    assert_eq!(
        (b["trade"]["side"].as_str(), b["trade"]["size"].as_f64()),
        (Some("short"), Some(-50.0))
    );
    assert!(close(&b["trade"]["pnl"], 99.0) && close(&b["trade"]["commission"], 1.0));
    assert_eq!(b["order_ids"], serde_json::json!(["C", "D"]));
    // The same file again: nothing new.
    let rep = ok_json(h, &args);
    assert_eq!(
        (rep["fills_new"].as_u64(), rep["fills_known"].as_u64()),
        (Some(0), Some(5))
    );
    assert!(rep["entries"].as_array().unwrap().is_empty());
    assert_eq!(
        ok_json(h, &["journal", "list", "--json"])["entries"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
}

#[test]
fn a_broken_csv_row_is_an_error_naming_the_line_and_nothing_is_imported() {
    let home = empty_home();
    let h = home.path();
    let good = write(h, "good.csv", FILLS);
    ok_json(
        h,
        &[
            "journal",
            "import",
            "--file",
            good.to_str().unwrap(),
            "--strategy",
            "s",
            "--json",
        ],
    );
    for (rows, want) in [
        (
            "2024-02-01,ACME,buy,10,100,0,E\n2024-02-02,ACME,sell,-10,101,0,F\n",
            "line 3: quantity '-10' is not a positive number",
        ),
        (
            "2024-02-01,ACME,buy,10,100,0,E\n2024-02-02,ACME,flat,10,101,0,F\n",
            "line 3: side: unknown side 'flat'",
        ),
    ] {
        let bad = write(
            h,
            "bad.csv",
            &format!("time,symbol,side,quantity,price,fee,order_id\n{rows}"),
        );
        let r = run(
            h,
            &[
                "journal",
                "import",
                "--file",
                bad.to_str().unwrap(),
                "--strategy",
                "s",
            ],
        );
        assert_eq!(r.code, 1, "{}", r.stderr);
        assert!(r.stderr.contains(want), "{}", r.stderr);
        assert!(r.stderr.contains("nothing was imported"), "{}", r.stderr);
        assert_eq!(r.stderr.trim().lines().count(), 1, "{}", r.stderr);
    }
    let n: i64 = raw_db(h)
        .query_row("SELECT count(*) FROM journal_fills", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 5);
    assert_eq!(
        ok_json(h, &["journal", "list", "--json"])["entries"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
}

// ---- stats --------------------------------------------------------------------------------------

#[test]
fn stats_group_by_weekday_and_side_by_hand() {
    let home = empty_home();
    let h = home.path();
    // Monday 09:00 long +2 %, Monday 15:00 short −1 %, Tuesday 09:00 long +1 %, Tuesday 10:00 long −3 %.
    add(
        h,
        &[
            entry("s", "X", Source::Paper, trade(Side::Long, 2.0, 0, 9)),
            entry("s", "X", Source::Paper, trade(Side::Short, -1.0, 0, 15)),
            entry("s", "X", Source::Paper, trade(Side::Long, 1.0, 1, 9)),
            entry("s", "X", Source::Live, trade(Side::Long, -3.0, 1, 10)),
        ],
    );
    let s = ok_json(h, &["journal", "stats", "--by", "weekday", "--json"]);
    let g = s["groups"].as_array().unwrap();
    assert_eq!(
        (
            g[0]["key"]["weekday"].as_str(),
            g[1]["key"]["weekday"].as_str()
        ),
        (Some("Mon"), Some("Tue"))
    );
    // Monday: 1 win of 2 = 50 %; profit factor 2 / 1 = 2; expectancy (2 − 1) / 2 = 0.5 %.
    let mon = &g[0]["stats"];
    assert_eq!(
        (mon["trades"].as_u64(), mon["win_rate_pct"].as_f64()),
        (Some(2), Some(50.0))
    );
    assert_eq!(
        (
            mon["profit_factor"].as_f64(),
            mon["expectancy_pct"].as_f64()
        ),
        (Some(2.0), Some(0.5))
    );
    // Tuesday: +1, −3: PF 1/3, expectancy −1 %.
    assert_eq!(g[1]["stats"]["expectancy_pct"], -1.0);
    // Total: 2 wins of 4; PF 3/4; the last two closes are losses? No: closing order is +2, −1, +1, −3,
    // so the longest losing run is 1.
    let t = &s["total"];
    assert_eq!(
        (
            t["trades"].as_u64(),
            t["win_rate_pct"].as_f64(),
            t["profit_factor"].as_f64()
        ),
        (Some(4), Some(50.0), Some(0.75))
    );
    assert_eq!(t["max_consecutive_losses"], 1);
    assert_eq!(
        (t["best_pct"].as_f64(), t["worst_pct"].as_f64()),
        (Some(2.0), Some(-3.0))
    );
    // Side and source filters, a side / hour grouping.
    let s = ok_json(
        h,
        &[
            "journal",
            "stats",
            "--by",
            "side,hour",
            "--source",
            "paper",
            "--json",
        ],
    );
    let keys: Vec<String> = s["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            format!(
                "{}/{}",
                g["key"]["side"].as_str().unwrap(),
                g["key"]["hour"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(keys, ["long/09", "short/15"]);
    assert_eq!(s["total"]["trades"], 3);
    // A group without a losing return has no profit factor (null), not a number. --until is on the
    // closing time: up to Tuesday 2020-01-07 only Monday's trades closed, one of them long.
    let s = ok_json(
        h,
        &[
            "journal",
            "stats",
            "--side",
            "long",
            "--until",
            "2020-01-07",
            "--json",
        ],
    );
    assert_eq!(
        (s["total"]["trades"].as_u64(), &s["total"]["profit_factor"]),
        (Some(1), &Value::Null)
    );
}

#[test]
fn excursions_come_from_the_stored_candles() {
    let (home, pb) = home_with_playbook();
    let h = home.path();
    ok_json(
        h,
        &[
            "backtest",
            "--playbook",
            pb.to_str().unwrap(),
            "--json",
            "--journal",
        ],
    );
    let e = ok_json(h, &["journal", "show", "3", "--json"]);
    let t = &e["trade"];
    // An independent computation over the stored bars: the lows and highs from the entry bar to the bar
    // before the exit bar, and the exit price, against the side.
    let c = crate::support::load(h, "GOOG", "1d");
    let (eb, xb) = (
        t["entry_bar"].as_u64().unwrap() as usize,
        t["exit_bar"].as_u64().unwrap() as usize,
    );
    let exit = t["exit_price"].as_f64().unwrap();
    let entry = t["entry_price"].as_f64().unwrap();
    let lo = c.low[eb..xb].iter().fold(exit, |a, &b| a.min(b));
    let hi = c.high[eb..xb].iter().fold(exit, |a, &b| a.max(b));
    let (adverse, favourable) = if t["side"] == "long" {
        (entry - lo, hi - entry)
    } else {
        (hi - entry, entry - lo)
    };
    assert!(
        close(&e["excursion"]["mae_pct"], adverse / entry * 100.0),
        "{e}"
    );
    assert!(
        close(&e["excursion"]["mfe_pct"], favourable / entry * 100.0),
        "{e}"
    );
}

// ---- analyze ------------------------------------------------------------------------------------

/// The playbook's backtest trades on the bundled data, as paper entries of `strategy`, with fills
/// `bps` basis points worse on both sides.
fn paper_from_backtest(home: &Path, pb: &Path, strategy: &str, bps: f64) -> Vec<TradeRecord> {
    let text = std::fs::read_to_string(pb).unwrap();
    let playbook = flowrex::playbook::Playbook::from_toml(&text, "pb").unwrap();
    let spec = flowrex::backtest::RunSpec::from_playbook(&playbook).unwrap();
    let store = flowrex::home::Home::layout(home).store();
    let candles = spec.load(&store).unwrap();
    let report = spec
        .run(&candles, &flowrex::indicators::IndicatorCache::new())
        .unwrap();
    let bt = TradeRecord::all(&report.run.trades, &candles.ts);
    let s = bps / 1e4;
    let entries: Vec<NewEntry> = bt
        .iter()
        .map(|b| {
            let mut t = b.clone();
            let sign = t.side.sign();
            t.entry_price = b.entry_price * (1.0 + sign * s);
            t.exit_price = b.exit_price * (1.0 - sign * s);
            t.pnl = t.size * (t.exit_price - t.entry_price) - t.commission;
            t.return_pct = (sign * (t.exit_price / t.entry_price - 1.0)
                - t.commission / (t.size.abs() * t.entry_price))
                * 100.0;
            NewEntry {
                playbook: Some(PlaybookRef::of_text(PLAYBOOK, &text)),
                ..entry(strategy, "GOOG", Source::Paper, t)
            }
        })
        .collect();
    add(home, &entries);
    bt
}

#[test]
fn a_paper_run_analyzed_against_its_own_backtest_matches_fully_with_the_slippage_it_had() {
    let (home, pb) = home_with_playbook();
    let h = home.path();
    let bt = paper_from_backtest(h, &pb, "twin", 0.0);
    let a = ok_json(
        h,
        &[
            "journal",
            "analyze",
            "--strategy",
            "twin",
            "--symbol",
            "GOOG",
            "--source",
            "paper",
            "--max-lag",
            "0",
            "--json",
        ],
    );
    assert_eq!(a["reference"]["kind"], "playbook");
    assert_eq!(
        (a["real_trades"].as_u64(), a["matched"].as_u64()),
        (Some(93), Some(93))
    );
    assert_eq!(a["match_rate_pct"], 100.0);
    assert!(
        a["only_real"].as_array().unwrap().is_empty()
            && a["only_backtest"].as_array().unwrap().is_empty()
    );
    for k in [
        "entry_slippage_bps",
        "exit_slippage_bps",
        "entry_gap_bars",
        "exit_gap_bars",
    ] {
        assert_eq!(
            (a[k]["mean"].as_f64(), a[k]["worst"].as_f64()),
            (Some(0.0), Some(0.0)),
            "{k}"
        );
    }
    for k in ["total", "signal", "fill", "cost"] {
        assert_eq!(a["pnl_gap"][k], 0.0, "{k}");
    }
    assert!(
        a["metrics"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["difference"] == 0.0 || m["difference"].is_null())
    );
    assert_eq!(a["critical_deviation"]["met"], false);

    // Fills 5 bps worse: slippage 5 bps at every entry and exit; the price part of the gap is
    // −s · Σ |size| · (entry + exit) over the backtest trades (long: entry·(1+s), exit·(1−s); short the
    // mirror), the cost part 0 (same commissions), no signal part.
    paper_from_backtest(h, &pb, "slipped", 5.0);
    let a = ok_json(
        h,
        &[
            "journal",
            "analyze",
            "--strategy",
            "slipped",
            "--symbol",
            "GOOG",
            "--json",
        ],
    );
    assert_eq!(a["match_rate_pct"], 100.0);
    for k in ["entry_slippage_bps", "exit_slippage_bps"] {
        assert!(
            close(&a[k]["mean"], 5.0) && close(&a[k]["worst"], 5.0),
            "{k}: {}",
            a[k]
        );
    }
    let fill: f64 = -5e-4
        * bt.iter()
            .map(|t| t.size.abs() * (t.entry_price + t.exit_price))
            .sum::<f64>();
    assert!(
        close(&a["pnl_gap"]["fill"], fill),
        "{} vs {fill}",
        a["pnl_gap"]
    );
    assert!(a["pnl_gap"]["cost"].as_f64().unwrap().abs() < 1e-6);
    assert_eq!(a["pnl_gap"]["signal"], 0.0);
}

// ---- feedback -----------------------------------------------------------------------------------

#[test]
fn feedback_disables_the_strategy_so_risk_check_refuses_it() {
    let home = bundled_home();
    let h = home.path();
    let check = [
        "risk-check",
        "--symbol",
        "GOOG",
        "--side",
        "long",
        "--entry",
        "100",
        "--stop",
        "99",
        "--target",
        "102",
        "--size",
        "0.1",
        "--equity",
        "10000",
        "--strategy",
        "Loser",
    ];
    assert_eq!(run(h, &check).code, 0);
    // A win, then losses one at a time: the streak criterion is met at the 5th loss, not the 4th
    // (fewer than 10 trades: win rate and profit factor are not judged yet).
    add(
        h,
        &[entry(
            "loser",
            "GOOG",
            Source::Paper,
            trade(Side::Long, 2.0, 0, 0),
        )],
    );
    let mut decisions = Vec::new();
    for i in 1..=5 {
        add(
            h,
            &[entry(
                "loser",
                "GOOG",
                Source::Paper,
                trade(Side::Long, -1.0, i, 0),
            )],
        );
        let f = ok_json(
            h,
            &[
                "journal",
                "feedback",
                "--strategy",
                "loser",
                "--symbol",
                "GOOG",
                "--json",
            ],
        );
        decisions.push(
            f["books"][0]["evaluation"]["decision"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    assert_eq!(
        decisions,
        [
            "no_action",
            "no_action",
            "no_action",
            "no_action",
            "monitor_closely"
        ]
    );
    // Losses up to 12 trades: 1 win of 12 (8.3 % < 40 %), profit factor 2/11 < 1, 11 in a row: three
    // criteria → disable_strategy, in the same transaction as the decision row; exit 3.
    for i in 6..=11 {
        add(
            h,
            &[entry(
                "loser",
                "GOOG",
                Source::Paper,
                trade(Side::Long, -1.0, i, 0),
            )],
        );
    }
    let r = run(
        h,
        &[
            "journal",
            "feedback",
            "--strategy",
            "loser",
            "--symbol",
            "GOOG",
            "--json",
        ],
    );
    assert_eq!(r.code, 3, "{}", r.stderr);
    let f = json(&r);
    let e = &f["books"][0]["evaluation"];
    assert_eq!(
        (e["decision"].as_str(), e["met"].as_u64()),
        (Some("disable_strategy"), Some(3))
    );
    assert!(f["books"][0]["action"]["risk_decision_id"].is_i64());
    let c = &e["criteria"];
    assert_eq!(
        (
            c[0]["name"].as_str(),
            c[0]["threshold"].as_f64(),
            c[0]["met"].as_bool()
        ),
        (Some("win_rate"), Some(40.0), Some(true))
    );
    assert!(close(&c[0]["value"], 100.0 / 12.0));
    assert!(close(&c[1]["value"], 2.0 / 11.0));
    assert_eq!(
        (c[2]["value"].as_f64(), c[3]["evaluated"].as_bool()),
        (Some(11.0), Some(false))
    );
    // risk-check now refuses the strategy, by its budget.
    let r = run(h, &check);
    assert_eq!(r.code, 3, "{}", r.stdout);
    let r = Run::of(flowrex(h).args(check).arg("--json"));
    let v = json(&r);
    let budget = v["verdicts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["rule"] == "strategy_budget")
        .unwrap();
    assert_eq!(budget["pass"], false);
    // The decision is in the append-only feedback table with the values and thresholds.
    let d = ok_json(h, &["journal", "decisions", "--json"]);
    let rows = d["decisions"].as_array().unwrap();
    assert_eq!(rows.len(), 6);
    assert_eq!(rows[5]["decision"], "disable_strategy");
    assert_eq!(rows[5]["criteria"][1]["threshold"], 1.0);
    assert!(
        raw_db(h)
            .execute("DELETE FROM journal_feedback", [])
            .is_err()
    );
    // Re-enabled by hand, it trades again; the journal and the risk audit both verify.
    assert_eq!(
        run(
            h,
            &[
                "risk-check",
                "enable-strategy",
                "loser",
                "--reason",
                "reviewed"
            ]
        )
        .code,
        0
    );
    assert_eq!(run(h, &check).code, 0);
    assert_eq!(run(h, &["journal", "verify"]).code, 0);
    assert_eq!(run(h, &["risk-check", "verify"]).code, 0);
    // The latest decision per book is shown in journal stats.
    let s = ok_json(h, &["journal", "stats", "--json"]);
    assert_eq!(s["feedback"][0]["decision"], "disable_strategy");
}

/// W L L W L L W L L L (+1 / −1 %): 3 wins of 10 = 30 % < 40 %, profit factor 3/7 < 1, at most 3
/// losses in a row, too few trades to judge the deviation: two criteria → trigger_optimization.
fn two_criteria(home: &Path, pb: &Path) {
    let text = std::fs::read_to_string(pb).unwrap();
    let rets = [1.0, -1.0, -1.0, 1.0, -1.0, -1.0, 1.0, -1.0, -1.0, -1.0];
    let entries: Vec<NewEntry> = rets
        .iter()
        .enumerate()
        .map(|(i, &r)| NewEntry {
            playbook: Some(PlaybookRef::of_text(PLAYBOOK, &text)),
            ..entry(
                "goog",
                "GOOG",
                Source::Paper,
                trade(Side::Long, r, i as i64, 0),
            )
        })
        .collect();
    add(home, &entries);
}

#[test]
fn trigger_optimization_queues_a_spec_that_optimize_accepts() {
    let (home, pb) = home_with_playbook();
    let h = home.path();
    two_criteria(h, &pb);
    let f = ok_json(
        h,
        &[
            "journal",
            "feedback",
            "--strategy",
            "goog",
            "--symbol",
            "GOOG",
            "--json",
        ],
    );
    let e = &f["books"][0]["evaluation"];
    assert_eq!(
        (e["decision"].as_str(), e["met"].as_u64()),
        (Some("trigger_optimization"), Some(2)),
        "{e}"
    );
    // The CUSUM ran against the playbook's own backtest (93 trades).
    assert_eq!(e["sequential"]["evaluated"], true);
    let spec = PathBuf::from(f["books"][0]["action"]["spec"].as_str().unwrap());
    assert_eq!(spec.parent().unwrap(), h.join("queue"));
    let t: toml::Table = toml::from_str(&std::fs::read_to_string(&spec).unwrap()).unwrap();
    assert_eq!(t["strategy"].as_str(), Some("sma_cross"));
    assert_eq!(t["params"].as_array().unwrap().len(), 2);
    assert_eq!(t["objective"].as_str(), Some("sharpe"));
    // The data window moved to the latest bars: as many as the playbook had (all 2148 here), ending at
    // the last stored bar.
    assert_eq!(t["end"].as_str(), Some("2013-03-01T00:00:00Z"));
    let r = run(
        h,
        &[
            "optimize",
            "--spec",
            spec.to_str().unwrap(),
            "--quiet",
            "--json",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let out = json(&r);
    assert!(Path::new(out["playbook_file"].as_str().unwrap()).exists());
    assert_eq!(out["playbook"]["market"]["bars"], 2148);
    // --run runs the queued spec at once.
    let f = ok_json(
        h,
        &[
            "journal",
            "feedback",
            "--strategy",
            "goog",
            "--symbol",
            "GOOG",
            "--run",
            "--json",
        ],
    );
    assert_eq!(
        f["optimizations"][0]["result"]["playbook"]["strategy"]["name"],
        "sma_cross"
    );
}

#[test]
fn feedback_thresholds_tighten_from_the_config_and_loosening_is_refused() {
    let (home, pb) = home_with_playbook();
    let h = home.path();
    two_criteria(h, &pb);
    // Three losses in a row meet a streak limit tightened to 3: now three criteria.
    write(h, "flowrex.toml", "[journal]\nmax_consecutive_losses = 3\n");
    let r = run(
        h,
        &[
            "journal",
            "feedback",
            "--strategy",
            "goog",
            "--symbol",
            "GOOG",
            "--json",
        ],
    );
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert_eq!(
        json(&r)["books"][0]["evaluation"]["decision"],
        "disable_strategy"
    );
    write(h, "flowrex.toml", "[journal]\nmin_win_rate_pct = 30\n");
    let r = run(h, &["journal", "feedback", "--all"]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr
            .contains("[journal] min_win_rate_pct = 30 would loosen the default 40"),
        "{}",
        r.stderr
    );
}

// ---- snapshots, bad input, concurrency ----------------------------------------------------------

#[test]
fn snapshots_store_a_dated_trend_per_book() {
    let home = empty_home();
    let h = home.path();
    add(
        h,
        &[
            entry("a", "X", Source::Paper, trade(Side::Long, 1.0, 0, 0)),
            entry("b", "Y", Source::Live, trade(Side::Short, -2.0, 0, 0)),
        ],
    );
    let s = ok_json(h, &["journal", "snapshot", "--all", "--json"]);
    assert_eq!(s["snapshots"].as_array().unwrap().len(), 2);
    add(
        h,
        &[entry(
            "a",
            "X",
            Source::Paper,
            trade(Side::Long, -1.0, 1, 0),
        )],
    );
    ok_json(
        h,
        &[
            "journal",
            "snapshot",
            "--strategy",
            "a",
            "--symbol",
            "X",
            "--json",
        ],
    );
    let list = ok_json(h, &["journal", "snapshots", "--strategy", "a", "--json"]);
    let rows = list["snapshots"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    // One trade (+1 %), then two (+1, −1): win rate 100 → 50.
    assert_eq!(
        (
            rows[0]["stats"]["win_rate_pct"].as_f64(),
            rows[1]["stats"]["win_rate_pct"].as_f64()
        ),
        (Some(100.0), Some(50.0))
    );
}

#[test]
fn bad_input_is_one_line_exit_1_and_writes_nothing() {
    let home = empty_home();
    let h = home.path();
    for args in [
        vec!["journal", "stats"],
        vec!["journal", "list"],
        vec!["journal", "feedback", "--all", "--source", "backtest"],
    ] {
        let r = run(h, &args);
        assert_eq!(r.code, 1, "{args:?}");
        assert!(
            r.stderr.contains("the journal is empty"),
            "{args:?}: {}",
            r.stderr
        );
    }
    add(
        h,
        &[entry(
            "alpha",
            "GOOG",
            Source::Paper,
            trade(Side::Long, 1.0, 0, 0),
        )],
    );
    for (args, want) in [
        (
            vec!["journal", "stats", "--strategy", "beta"],
            "strategy: no journal entries for 'beta' (the journal has: alpha)",
        ),
        (
            vec![
                "journal",
                "analyze",
                "--strategy",
                "alpha",
                "--symbol",
                "MSFT",
            ],
            "symbol: no journal entries for 'MSFT' (the journal has: GOOG)",
        ),
        (
            vec![
                "journal",
                "analyze",
                "--strategy",
                "alpha",
                "--symbol",
                "GOOG",
            ],
            "record no playbook and no strategy settings",
        ),
        (
            vec!["journal", "show", "99"],
            "journal entry 99: there is no such entry",
        ),
        (vec!["journal", "feedback", "--all"], ""),
    ] {
        let r = run(h, &args);
        if want.is_empty() {
            continue;
        }
        assert_eq!(r.code, 1, "{args:?}: {}", r.stderr);
        assert!(r.stderr.contains(want), "{args:?}: {}", r.stderr);
        assert_eq!(r.stderr.trim().lines().count(), 1, "{}", r.stderr);
    }
    let n: i64 = raw_db(h)
        .query_row("SELECT count(*) FROM journal_entries", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 1);
    assert_eq!(run(h, &["journal", "stats", "--by", "colour"]).code, 2);
}

#[test]
fn paper_closes_and_an_import_at_the_same_time_lose_nothing() {
    let home = empty_home();
    let h = home.path().to_path_buf();
    // 400 fills: 200 round trips of one unit, alternately long and short.
    let mut csv = String::from("time,symbol,side,quantity,price,fee,order_id\n");
    for i in 0..200 {
        let (open, close) = if i % 2 == 0 {
            ("buy", "sell")
        } else {
            ("sell", "buy")
        };
        csv.push_str(&format!(
            "{},ACME,{open},1,100,0,o{i}a\n",
            1_700_000_000 + i * 120
        ));
        csv.push_str(&format!(
            "{},ACME,{close},1,101,0,o{i}b\n",
            1_700_000_060 + i * 120
        ));
    }
    let file = write(&h, "many.csv", &csv);
    Db::open(&h).unwrap();
    let import = crate::support::flowrex_std(&h)
        .args([
            "journal",
            "import",
            "--file",
            file.to_str().unwrap(),
            "--strategy",
            "manual",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Paper closes keep coming (at least 50 per thread) until the import has finished.
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let threads: Vec<_> = (0..3)
        .map(|k| {
            let (h, done) = (h.clone(), done.clone());
            std::thread::spawn(move || {
                let mut db = Db::open(&h).unwrap();
                let mut n = 0;
                while n < 50 || !done.load(std::sync::atomic::Ordering::SeqCst) {
                    let e = entry(
                        &format!("paper{k}"),
                        "GOOG",
                        Source::Paper,
                        trade(Side::Long, 1.0, n, 0),
                    );
                    db.write(|tx| journal::append(tx, &e)).unwrap();
                    n += 1;
                }
                n
            })
        })
        .collect();
    let out = import.wait_with_output().unwrap();
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let paper: i64 = threads.into_iter().map(|t| t.join().unwrap()).sum();
    let db = raw_db(&h);
    let count = |sql: &str| -> i64 { db.query_row(sql, [], |r| r.get(0)).unwrap() };
    assert_eq!(
        count("SELECT count(*) FROM journal_entries WHERE source = 'paper'"),
        paper
    );
    assert_eq!(
        count("SELECT count(*) FROM journal_entries WHERE source = 'live'"),
        200
    );
    assert_eq!(count("SELECT count(*) FROM journal_fills"), 400);
    let r = run(&h, &["journal", "verify"]);
    assert_eq!(r.code, 0, "{}", r.stdout);
}
