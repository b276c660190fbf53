//! The paper broker and the journal together: every paper close is a journal entry written in the close's
//! own transaction; a paper run on the bundled data analyzed against its own backtest matches it trade
//! for trade (with the configured slippage, and none when it is 0); paper closes and a `journal import`
//! in two processes at once lose nothing; a `journal feedback` decision to disable a strategy makes the
//! paper broker deny its entries; and the whole loop on the command line (backtest → optimize → paper →
//! journal → feedback → queue → optimize).

use std::path::{Path, PathBuf};

use chrono::DateTime;
use flowrex::candles::{Candles, Interval};
use flowrex::db::Db;
use flowrex::execution::store::{self, Mode};
use flowrex::execution::{
    Desk, ExitRequest, Instruments, MarketBars, OrderKind, OrderRequest, Placed, Processor,
    TimeInForce, place, place_exit,
};
use flowrex::journal::entry::{Filter, closed_in_order};
use flowrex::journal::{Entry, NewEntry, Source};
use flowrex::paper::{FillModel, PaperBroker, PaperConfig, account, close_time};
use flowrex::risk::StrategyId;
use flowrex::risk::limits::HARD;
use flowrex::trade::{ExitReason, Side, TradeRecord};
use serde_json::Value;

use crate::support::{bundled_home, flowrex_std, json, load, repo, run, write};

fn ok(home: &Path, args: &[&str]) -> Value {
    let r = run(home, args);
    assert_eq!(r.code, 0, "{args:?}: {}{}", r.stdout, r.stderr);
    json(&r)
}

/// A bundled home with the repository's GOOG playbook in `<home>/playbooks/`.
pub(crate) fn home_with_playbook() -> (tempfile::TempDir, PathBuf) {
    crate::support::home_with_readme_playbook()
}

/// The playbook's backtest on the home's store: its bars and closed trades.
pub(crate) fn backtest_of(home: &Path, pb: &Path) -> (Candles, Vec<TradeRecord>) {
    let text = std::fs::read_to_string(pb).unwrap();
    let playbook = flowrex::playbook::Playbook::from_toml(&text, "pb").unwrap();
    let spec = flowrex::backtest::RunSpec::from_playbook(&playbook).unwrap();
    let store = flowrex::home::Home::layout(home).store();
    let candles = spec.load(&store).unwrap();
    let report = spec
        .run(&candles, &flowrex::indicators::IndicatorCache::new())
        .unwrap();
    let trades = TradeRecord::all(&report.run.trades, &candles.ts);
    (candles, trades)
}

/// The playbook's costs (commission 0.2 %, no spread) and nothing more: no slippage unless `bps`.
pub(crate) fn model(bps: f64) -> FillModel {
    PaperConfig {
        slippage_bps: Some(bps),
        commission: Some(0.002),
        spread: Some(0.0),
        latency_ms: Some(0),
        ..PaperConfig::default()
    }
    .resolve()
    .unwrap()
}

/// A bracket far enough away that a trade of sma_cross on GOOG never reaches it (the comparison with
/// the backtest, which has none, proves it): the stop 40 % against; the target 200 % above a long, 60 %
/// below a short (reward:risk at least 1.5, the risk layer's floor). With 0.25 units the risk is at
/// most 0.25 · 0.4 · 1 000 = 100 < 2 % of 10 000.
fn wide_bracket(side: Side, close: f64) -> (f64, f64) {
    match side {
        Side::Long => (close * 0.6, close * 3.0),
        Side::Short => (close * 1.4, close * 0.4),
    }
}

pub(crate) const UNITS: f64 = 0.25;

/// Drives the paper account in `db` over `candles` with the orders the backtest placed: after bar `i`
/// is processed, an entry for each backtest trade entered at bar `i + 1` (decided at bar `i`'s close,
/// submitted at that close time), or an exit when a trade closes at bar `i + 1` without a new one
/// (the entry of the next trade reverses the position itself, as the backtest does).
pub(crate) fn drive(
    db: &mut Db,
    fill: &FillModel,
    candles: &Candles,
    bt: &[TradeRecord],
    book: Option<&str>,
) {
    let instruments = Instruments::default();
    let desk = Desk {
        limits: HARD,
        instruments: &instruments,
        latency_ms: fill.latency_ms,
        initial_balance: fill.initial_balance,
    };
    let mut broker = PaperBroker::new(fill.clone());
    let mut p = Processor::new(&mut broker, HARD, instruments.clone(), 0);
    let market = [MarketBars {
        symbol: "GOOG",
        interval: Interval::Day1,
        candles,
    }];
    for i in 0..candles.len() {
        p.run(db, &market, candles.ts[i], 0).unwrap();
        let now =
            DateTime::from_timestamp_millis(close_time(Interval::Day1, candles.ts[i])).unwrap();
        if let Some(t) = bt.iter().find(|t| t.entry_bar == i + 1) {
            let (stop, target) = wide_bracket(t.side, candles.close[i]);
            let req = OrderRequest {
                symbol: "GOOG".into(),
                interval: Interval::Day1,
                strategy: book.map(String::from),
                side: t.side,
                kind: OrderKind::Market,
                tif: TimeInForce::Gtc,
                units: UNITS,
                stop_loss: Some(stop),
                take_profit: Some(target),
                reference_price: Some(candles.close[i]),
                client_id: None,
            };
            let placed = db.write(|tx| place(tx, &desk, &req, now)).unwrap();
            assert!(
                matches!(placed, Placed::Submitted(_)),
                "bar {i}: {placed:?}"
            );
        } else if bt.iter().any(|t| t.exit_bar == i + 1) {
            let req = ExitRequest {
                symbol: "GOOG".into(),
                interval: Interval::Day1,
                strategy: book.map(String::from),
                kind: OrderKind::Market,
                tif: TimeInForce::Gtc,
                units: None,
                client_id: None,
            };
            let placed = db.write(|tx| place_exit(tx, &desk, &req, now)).unwrap();
            assert!(
                matches!(placed, Placed::Submitted(_)),
                "bar {i}: {placed:?}"
            );
        }
    }
}

/// A paper account in `home`'s database, in autonomous mode.
pub(crate) fn autonomous(home: &Path) -> Db {
    let mut db = Db::open(home).unwrap();
    db.write(|tx| store::set_mode(tx, Mode::Autonomous, "forward test", 0).map(drop))
        .unwrap();
    db
}

fn paper_entries(db: &mut Db) -> Vec<Entry> {
    let f = Filter {
        sources: vec![Source::Paper],
        ..Filter::default()
    };
    db.read(|tx| closed_in_order(tx, &f)).unwrap()
}

/// `(entry order, exit order)` of each paper trade, from the ledger's own tables.
fn trade_orders(home: &Path) -> Vec<(i64, i64)> {
    let conn = rusqlite::Connection::open(home.join("flowrex.db")).unwrap();
    let mut stmt = conn
        .prepare(
            "SELECT p.entry_order_id, f.order_id FROM paper_trades t
             JOIN paper_positions p ON p.id = t.position_id JOIN paper_fills f ON f.id = t.id
             ORDER BY t.id",
        )
        .unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(|r| r.unwrap())
        .collect()
}

fn analyze(home: &Path, pb: &Path, strategy: &str) -> Value {
    ok(
        home,
        &[
            "journal",
            "analyze",
            "--strategy",
            strategy,
            "--symbol",
            "GOOG",
            "--source",
            "paper",
            "--playbook",
            pb.to_str().unwrap(),
            "--max-lag",
            "0",
            "--json",
        ],
    )
}

#[test]
fn a_paper_run_on_the_bundled_data_journals_its_trades_and_matches_its_backtest() {
    let (home, pb) = home_with_playbook();
    let h = home.path();
    let (candles, bt) = backtest_of(h, &pb);
    let mut db = autonomous(h);
    // The manual book: the risk layer's 5-losses-in-a-row budget applies to named strategies only, and
    // the playbook's backtest has longer losing streaks than that.
    drive(&mut db, &model(0.0), &candles, &bt, None);

    // Every paper trade is one journal entry, field for field, with its orders and its context.
    let paper: Vec<account::PaperTrade> = db.read(account::trades).unwrap();
    let entries = paper_entries(&mut db);
    assert_eq!(entries.len(), paper.len());
    let orders = trade_orders(h);
    for (k, (e, t)) in entries.iter().zip(&paper).enumerate() {
        assert_eq!(Some(e.trade.clone()), t.record(&candles.ts), "trade {k}");
        assert!(e.bars_known);
        assert_eq!(
            (e.strategy.as_str(), e.symbol.as_str(), e.interval),
            ("manual", "GOOG", Some(Interval::Day1))
        );
        assert_eq!(e.account, "paper-1");
        assert!(e.run_id.as_deref().unwrap().starts_with("paper-1/run-"));
        let (entry_order, exit_order) = orders[k];
        assert_eq!(
            e.order_ids,
            [entry_order.to_string(), exit_order.to_string()]
        );
    }
    // The paper trades are the backtest's closed trades, at the same bars and prices, closed by the
    // signal (the wide bracket never fired).
    assert_eq!(paper.len(), bt.len());
    for (e, b) in entries.iter().zip(&bt) {
        let t = &e.trade;
        assert_eq!(
            (t.side, t.entry_bar, t.exit_bar, t.entry_price, t.exit_price),
            (b.side, b.entry_bar, b.exit_bar, b.entry_price, b.exit_price)
        );
        assert_eq!(t.exit_reason, ExitReason::Signal);
    }

    // Analyzed against its own backtest: every trade matched, no slippage, no timing gap; the P&L gap
    // is only the size (the backtest's trades scaled to the paper size leave cost and fill parts at
    // rounding level).
    let a = analyze(h, &pb, "manual");
    assert_eq!(a["real_trades"].as_u64(), Some(bt.len() as u64));
    assert_eq!(a["matched"].as_u64(), Some(bt.len() as u64));
    assert_eq!(a["match_rate_pct"], 100.0);
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
    assert_eq!(a["pnl_gap"]["signal"], 0.0);
    assert_eq!(run(h, &["journal", "verify"]).code, 0);
    assert_eq!(run(h, &["paper-trade", "account", "--verify"]).code, 0);
}

#[test]
fn paper_slippage_shows_in_the_analysis_as_configured() {
    let (home, pb) = home_with_playbook();
    let h = home.path();
    let (candles, bt) = backtest_of(h, &pb);
    let mut db = autonomous(h);
    // 5 bps of adverse slippage on every market fill: a long buys at open · (1 + 0.0005) and sells at
    // open · (1 − 0.0005), a short the mirror; the analysis measures each side against the backtest's
    // fill at the open: 5 bps at every entry and every exit.
    drive(&mut db, &model(5.0), &candles, &bt, None);
    let a = analyze(h, &pb, "manual");
    assert_eq!(a["match_rate_pct"], 100.0);
    for k in ["entry_slippage_bps", "exit_slippage_bps"] {
        for s in ["mean", "worst"] {
            let v = a[k][s].as_f64().unwrap();
            assert!((v - 5.0).abs() < 1e-6, "{k} {s}: {v}");
        }
    }
    // The price part of the P&L gap: Σ over trades of size · ((exit − entry) − (bt exit − bt entry)) =
    // −0.0005 · Σ 0.25 · (bt entry + bt exit) (each side 5 bps worse).
    let fill: f64 = -5e-4
        * bt.iter()
            .map(|t| UNITS * (t.entry_price + t.exit_price))
            .sum::<f64>();
    let got = a["pnl_gap"]["fill"].as_f64().unwrap();
    assert!((got - fill).abs() < 1e-6 * fill.abs(), "{got} vs {fill}");
}

#[test]
fn paper_closes_and_a_journal_import_in_two_processes_lose_nothing() {
    let home = bundled_home();
    let h = home.path();
    write(h, "flowrex.toml", "[paper]\nslippage_bps = 0\n");
    let goog = load(h, "GOOG", "1d");
    // 60 entries of the manual book on 60 consecutive bars from bar 1 000 (2008-08), alternately long
    // and short: each fills at the next bar's open and reverses the position the one before opened, so
    // processing them closes 59 trades by signal, each in its own transaction; the last (a short) is
    // closed by its stop 40 % above its entry when GOOG recovers in 2009: 60 trades.
    let mut db = autonomous(h);
    let instruments = Instruments::default();
    let fill = model(0.0);
    let desk = Desk {
        limits: HARD,
        instruments: &instruments,
        latency_ms: 0,
        initial_balance: fill.initial_balance,
    };
    for k in 0..60 {
        let i = 1_000 + k;
        let side = if k % 2 == 0 { Side::Long } else { Side::Short };
        let (stop, target) = wide_bracket(side, goog.close[i]);
        let req = OrderRequest {
            symbol: "GOOG".into(),
            interval: Interval::Day1,
            strategy: None,
            side,
            kind: OrderKind::Market,
            tif: TimeInForce::Gtc,
            units: UNITS,
            stop_loss: Some(stop),
            take_profit: Some(target),
            reference_price: Some(goog.close[i]),
            client_id: None,
        };
        let now = DateTime::from_timestamp_millis(close_time(Interval::Day1, goog.ts[i])).unwrap();
        let placed = db.write(|tx| place(tx, &desk, &req, now)).unwrap();
        assert!(matches!(placed, Placed::Submitted(_)), "{placed:?}");
    }
    drop(db);
    // 400 live fills: 200 round trips of one unit.
    let mut csv = String::from("time,symbol,side,quantity,price,fee,order_id\n");
    for i in 0..200 {
        let t = 1_700_000_000 + i * 120;
        csv.push_str(&format!("{t},ACME,buy,1,100,0,o{i}a\n"));
        csv.push_str(&format!("{},ACME,sell,1,101,0,o{i}b\n", t + 60));
    }
    let file = write(h, "fills.csv", &csv);
    let spawn = |args: &[&str]| {
        flowrex_std(h)
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let paper = spawn(&["paper-trade", "process", "--now", "2013-03-02", "-q"]);
    let import = spawn(&[
        "journal",
        "import",
        "--file",
        file.to_str().unwrap(),
        "--strategy",
        "live-book",
        "-q",
    ]);
    for child in [paper, import] {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let conn = rusqlite::Connection::open(h.join("flowrex.db")).unwrap();
    let count = |sql: &str| -> i64 { conn.query_row(sql, [], |r| r.get(0)).unwrap() };
    assert_eq!(
        count("SELECT count(*) FROM paper_trades WHERE exit_reason = 'signal'"),
        59
    );
    assert_eq!(
        count("SELECT count(*) FROM paper_trades WHERE exit_reason = 'stop' AND size < 0"),
        1
    );
    assert_eq!(
        count("SELECT count(*) FROM journal_entries WHERE source = 'paper'"),
        60
    );
    assert_eq!(
        count("SELECT count(*) FROM journal_entries WHERE source = 'live'"),
        200
    );
    // Each paper entry is its trade: same exit time and P&L, in the same order.
    let pairs = count(
        "SELECT count(*) FROM paper_trades t JOIN journal_entries j ON j.source = 'paper'
           AND j.exit_ms = t.exit_ms AND j.pnl = t.pnl AND j.entry_ms = t.entry_ms",
    );
    assert_eq!(pairs, 60);
    assert_eq!(run(h, &["journal", "verify"]).code, 0);
    assert_eq!(run(h, &["paper-trade", "account", "--verify"]).code, 0);
}

// ---- Feedback reaches the paper broker --------------------------------------------------------------

/// A paper trade of book `strategy` on GOOG returning `ret` percent: 10 units at 100, entered `day` days
/// after 2020-01-06 and closed a day later.
fn journal_trade(strategy: &str, ret: f64, day: i64) -> NewEntry {
    let day_ms = flowrex::candles::DAY_MS;
    let entry_time = 1_578_268_800_000 + day * day_ms;
    let exit = 100.0 * (1.0 + ret / 100.0);
    NewEntry {
        source: Source::Paper,
        run_id: None,
        strategy: StrategyId::parse("strategy", strategy).unwrap(),
        model: None,
        params: None,
        settings: None,
        playbook: None,
        symbol: "GOOG".into(),
        interval: Some(Interval::Day1),
        account: None,
        order_ids: Vec::new(),
        trade: TradeRecord {
            size: 10.0,
            side: Side::Long,
            entry_bar: day as usize,
            exit_bar: day as usize + 1,
            entry_price: 100.0,
            exit_price: exit,
            stop: None,
            target: None,
            pnl: 10.0 * (exit - 100.0),
            commission: 0.0,
            return_pct: ret,
            entry_time,
            exit_time: entry_time + day_ms,
            duration_days: 1.0,
            exit_reason: ExitReason::Signal,
            ambiguous: false,
        },
        bars_known: true,
    }
}

#[test]
fn a_strategy_disabled_by_feedback_has_its_paper_entries_denied() {
    let home = bundled_home();
    let h = home.path();
    write(
        h,
        "flowrex.toml",
        "[instruments.GOOG]\nlot_size = 100\n[paper]\nslippage_bps = 0\n",
    );
    ok(
        h,
        &[
            "--json",
            "paper-trade",
            "mode",
            "autonomous",
            "--reason",
            "forward test",
        ],
    );
    // 9 units long at the 2012-05-31 close (about 580), stop 560, target 640: risk 9 · 20 = 180 < 2 %
    // of 10 000, reward:risk 3 — every rule passes.
    let order = |strategy: &str| {
        run(
            h,
            &[
                "--json",
                "paper-trade",
                "order",
                "--symbol",
                "GOOG",
                "--interval",
                "1d",
                "--now",
                "2012-06-01",
                "--side",
                "long",
                "--units",
                "9",
                "--stop-loss",
                "560",
                "--take-profit",
                "640",
                "--strategy",
                strategy,
            ],
        )
    };
    let r = order("loser");
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(json(&r)["order"]["state"], "submitted");

    // The book's journal: a win, then 11 losses (1 win of 12 = 8.3 % < 40 %, profit factor 2/11 < 1,
    // 11 losses in a row ≥ 5): three criteria → disable_strategy, exit 3.
    let mut entries = vec![journal_trade("loser", 2.0, 0)];
    entries.extend((1..=11).map(|d| journal_trade("loser", -1.0, d)));
    let mut db = Db::open(h).unwrap();
    db.write(|tx| flowrex::journal::append_all(tx, &entries, 1))
        .unwrap();
    drop(db);
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
    assert_eq!(
        json(&r)["books"][0]["evaluation"]["decision"],
        "disable_strategy"
    );

    // The same entry is now denied by the strategy's budget: exit 3, the order kept as denied with the
    // verdicts; only that rule fails.
    let r = order("loser");
    assert_eq!(r.code, 3, "{}", r.stderr);
    let d = json(&r);
    assert_eq!(
        (d["result"].as_str(), d["order"]["state"].as_str()),
        (Some("denied"), Some("denied"))
    );
    let failed: Vec<&str> = d["decision"]["verdicts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| v["pass"] == false)
        .map(|v| v["rule"].as_str().unwrap())
        .collect();
    assert_eq!(failed, ["strategy_budget"]);
    // Another book is not affected; re-enabled by hand, the strategy trades again.
    assert_eq!(order("winner").code, 0);
    ok(
        h,
        &[
            "--json",
            "risk-check",
            "enable-strategy",
            "loser",
            "--reason",
            "reviewed",
        ],
    );
    assert_eq!(order("loser").code, 0);
}

// ---- The loop on the command line -----------------------------------------------------------------

/// `flowrex --json --quiet ARGS` must succeed; its JSON.
fn q(home: &Path, args: &[&str]) -> Value {
    let mut all = vec!["--json", "--quiet"];
    all.extend_from_slice(args);
    ok(home, &all)
}

#[test]
fn the_loop_runs_end_to_end_on_the_bundled_data() {
    let home = bundled_home();
    let h = home.path();
    // The paper broker charges what the backtest charges (commission 0.2 %, no spread, no slippage).
    // The user is strict about the feedback: win rate and profit factor judged from 5 trades, a win
    // rate below 80 % or a profit factor below 10 counts (both only tighten the defaults).
    write(
        h,
        "flowrex.toml",
        "[paper]\nslippage_bps = 0\ncommission = 0.002\n\n\
         [journal]\nmin_trades = 5\nmin_win_rate_pct = 80\nmin_profit_factor = 10\n",
    );
    let goog = load(h, "GOOG", "1d");
    let market = ["--symbol", "GOOG", "--interval", "1d"];

    // 1. Backtest, then optimize on the data up to 2011 into a playbook.
    let mut args = vec!["backtest", "--strategy", "sma_cross", "--end", "2011-12-31"];
    args.extend_from_slice(&market);
    assert!(q(h, &args)["metrics"].is_object());
    std::fs::create_dir_all(h.join("playbooks")).unwrap();
    let pb = h.join("playbooks/goog_loop.toml");
    let mut args = vec![
        "optimize",
        "--strategy",
        "sma_cross",
        "--param",
        "fast=5..20:5",
        "--param",
        "slow=20..60:20",
        "--constraint",
        "fast < slow",
        "--commission",
        "0.002",
        "--end",
        "2011-12-31",
        "--out",
        pb.to_str().unwrap(),
    ];
    args.extend_from_slice(&market);
    let opt = q(h, &args);
    let params = &opt["playbook"]["strategy"]["params"];
    let (fast, slow) = (
        format!("fast={}", params["fast"]),
        format!("slow={}", params["slow"]),
    );
    let name = opt["playbook"]["playbook"]["name"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(name, "goog_loop");

    // 2. What the playbook's strategy decides over every bar: its backtest from the same first bar
    //    with the same settings (what `journal analyze` replays). Paper trading starts in 2012.
    let mut args = vec![
        "backtest",
        "--strategy",
        "sma_cross",
        "--param",
        &fast,
        "--param",
        &slow,
        "--commission",
        "0.002",
    ];
    args.extend_from_slice(&market);
    let bt: Vec<TradeRecord> = serde_json::from_value(q(h, &args)["trades"].clone()).unwrap();
    let start = goog.ts.partition_point(|&t| {
        t < flowrex::candles::time::parse_time(
            "2012-01-01",
            flowrex::candles::time::TimeFormat::Iso,
        )
        .unwrap()
    });
    let forward: Vec<&TradeRecord> = bt.iter().filter(|t| t.entry_bar > start).collect();
    assert!(forward.len() >= 5, "{} forward trades", forward.len());

    // 3. Paper: at each decision bar's close, process the bars closed by then and place what the
    //    strategy decided (an entry, or an exit without a new entry); finally process everything.
    q(
        h,
        &[
            "paper-trade",
            "mode",
            "autonomous",
            "--reason",
            "forward test of goog_loop",
        ],
    );
    let time = |ms: i64| flowrex::candles::time::format_ts_full(ms);
    // The backtest's last closed trade is followed by one still open, entered where it closed.
    let open_at = bt.last().map_or(0, |t| t.exit_bar);
    for i in start..goog.len() - 1 {
        let entry = bt.iter().find(|t| t.entry_bar == i + 1);
        let exit = bt
            .iter()
            .any(|t| t.exit_bar == i + 1 && t.entry_bar > start);
        let open_entry = i + 1 == open_at && entry.is_none();
        if entry.is_none() && !exit && !open_entry {
            continue;
        }
        let now = time(close_time(Interval::Day1, goog.ts[i]));
        q(h, &["paper-trade", "process", "--now", &now]);
        let mut args = vec!["paper-trade", "order", "--now", &now, "--strategy", &name];
        args.extend_from_slice(&market);
        let (side, stop, target);
        if let Some(t) = entry.map(|t| t.side).or(open_entry.then(|| {
            // The open trade's side is the opposite of the last closed one's.
            Side::of_size(-bt.last().unwrap().size)
        })) {
            let (s, tp) = wide_bracket(t, goog.close[i]);
            (side, stop, target) = (t.as_str(), s.to_string(), tp.to_string());
            args.extend_from_slice(&[
                "--side",
                side,
                "--units",
                "0.25",
                "--stop-loss",
                &stop,
                "--take-profit",
                &target,
            ]);
        } else {
            args.push("--exit");
        }
        let placed = q(h, &args);
        assert_eq!(placed["order"]["state"], "submitted", "{placed}");
    }
    q(h, &["paper-trade", "process", "--now", "2013-03-02"]);
    let paper = q(h, &["paper-trade", "trades", "--limit", "1000"]);
    let paper = paper["trades"].as_array().unwrap();
    assert_eq!(paper.len(), forward.len());

    // 4. The journal holds exactly the paper trades, and they match the playbook's replay one to one.
    let listed = q(
        h,
        &["journal", "list", "--source", "paper", "--limit", "1000"],
    );
    assert_eq!(listed["entries"].as_array().unwrap().len(), forward.len());
    let a = q(
        h,
        &[
            "journal",
            "analyze",
            "--strategy",
            &name,
            "--symbol",
            "GOOG",
            "--source",
            "paper",
            "--playbook",
            pb.to_str().unwrap(),
            "--max-lag",
            "0",
        ],
    );
    assert_eq!(
        (a["matched"].as_u64(), a["match_rate_pct"].as_f64()),
        (Some(forward.len() as u64), Some(100.0))
    );
    assert_eq!(a["entry_slippage_bps"]["worst"], 0.0);

    // 5. Feedback: the wins and the profit factor of the paper trades (from the paper ledger) are
    //    below the strict thresholds, nothing else is (no 5 losses in a row, too few trades for the
    //    deviation): two criteria → trigger_optimization, a spec in <home>/queue/.
    let pnl: Vec<f64> = paper.iter().map(|t| t["pnl"].as_f64().unwrap()).collect();
    let wins = pnl.iter().filter(|&&p| p > 0.0).count();
    let gross_win: f64 = pnl.iter().filter(|&&p| p > 0.0).sum();
    let gross_loss: f64 = -pnl.iter().filter(|&&p| p < 0.0).sum::<f64>();
    assert!((wins as f64) < 0.8 * pnl.len() as f64 && gross_win < 10.0 * gross_loss);
    let f = q(
        h,
        &[
            "journal",
            "feedback",
            "--strategy",
            &name,
            "--symbol",
            "GOOG",
            "--source",
            "paper",
            "--playbook",
            pb.to_str().unwrap(),
        ],
    );
    let book = &f["books"][0];
    assert_eq!(
        book["evaluation"]["decision"], "trigger_optimization",
        "{book}"
    );
    let spec = PathBuf::from(book["action"]["spec"].as_str().unwrap());
    assert_eq!(spec.parent().unwrap(), h.join("queue"));

    // 6. The nightly optimize picks the spec up: a new playbook over the latest bars.
    let re = q(h, &["optimize", "--spec", spec.to_str().unwrap()]);
    assert!(Path::new(re["playbook_file"].as_str().unwrap()).exists());
    assert_eq!(re["playbook"]["market"]["end"], "2013-03-01T00:00:00Z");
    assert_eq!(re["playbook"]["strategy"]["name"], "sma_cross");
}

// ---- The README's example ---------------------------------------------------------------------------

/// The commands of the README's "A forward test on the bundled data" block: continuation lines joined,
/// comments dropped, words split (double quotes group).
fn readme_example() -> Vec<Vec<String>> {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let from = readme
        .find("### A forward test on the bundled data")
        .expect("README lost its paper example");
    let block = &readme[from..];
    let start = block.find("```sh\n").unwrap() + 6;
    let end = start + block[start..].find("```").unwrap();
    let joined = block[start..end].replace("\\\n", " ");
    let mut commands = Vec::new();
    for line in joined.lines() {
        let line = line.split("  #").next().unwrap().trim();
        if !line.starts_with("flowrex ") {
            continue;
        }
        let mut words = Vec::new();
        let mut quoted = false;
        let mut word = String::new();
        for c in line.chars() {
            match c {
                '"' => quoted = !quoted,
                ' ' if !quoted => {
                    if !word.is_empty() {
                        words.push(std::mem::take(&mut word));
                    }
                }
                c => word.push(c),
            }
        }
        words.push(word);
        commands.push(words[1..].to_vec());
    }
    commands
}

#[test]
fn the_readme_paper_example_runs_as_shown() {
    let (home, _) = home_with_playbook();
    let h = home.path();
    // The block's first line: the playbook's costs and no slippage.
    write(
        h,
        "flowrex.toml",
        "[paper]\nslippage_bps = 0\ncommission = 0.002\n",
    );
    let commands = readme_example();
    assert_eq!(commands.len(), 10, "{commands:?}");
    for args in &commands {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let r = run(h, &args);
        assert_eq!(r.code, 0, "{args:?}: {}{}", r.stdout, r.stderr);
    }
    // What the comments say: one closed long 580.01 → 705.58 (0.25 · 125.57 = 31.3925 less commission
    // 0.002 · 0.25 · (580.01 + 705.58) = 0.642795: 30.749705), the short open and marked at the last
    // close 806.19 (0.25 · (705.58 − 806.19) = −25.1525).
    let t = ok(h, &["--json", "paper-trade", "trades"]);
    let t = &t["trades"][0];
    assert_eq!(
        (t["entry_price"].as_f64(), t["exit_price"].as_f64()),
        (Some(580.01), Some(705.58))
    );
    assert!((t["pnl"].as_f64().unwrap() - 30.749705).abs() < 1e-9);
    let a = ok(h, &["--json", "paper-trade", "account"]);
    assert!((a["account"]["unrealized_pnl"].as_f64().unwrap() + 25.1525).abs() < 1e-9);
    assert_eq!(
        format!("{:.2}", a["account"]["equity"].as_f64().unwrap()),
        "10005.24"
    );
    let j = ok(h, &["--json", "journal", "list", "--source", "paper"]);
    assert_eq!(j["entries"].as_array().unwrap().len(), 1);
    assert!(h.join("reports/paper-account-1.html").exists());

    // A reset closes the short at its mark, 806.19, and journals that close too: off the bars (bar
    // indices unknown), under the reset's run. P&L −0.25 · (806.19 − 705.58) − 0.002 · 0.25 · (705.58 +
    // 806.19) = −25.1525 − 0.755885 = −25.908385.
    ok(
        h,
        &[
            "--json",
            "paper-trade",
            "reset",
            "--reason",
            "new quarter",
            "--close-positions",
            "--now",
            "2013-03-04",
        ],
    );
    let j = ok(h, &["--json", "journal", "list", "--source", "paper"]);
    let e = &j["entries"][1];
    assert_eq!(
        (e["run_id"].as_str(), e["account"].as_str()),
        (Some("paper-1/reset"), Some("paper-1"))
    );
    assert!(e["trade"]["entry_bar"].is_null() && e["trade"]["exit_bar"].is_null());
    assert_eq!(e["trade"]["exit_price"], 806.19);
    assert!((e["trade"]["pnl"].as_f64().unwrap() + 25.908385).abs() < 1e-9);
    // The ended account keeps its page; the new one has traded nothing yet.
    let r = ok(h, &["--json", "report", "paper", "--account", "1"]);
    let page = std::fs::read_to_string(r["report_file"].as_str().unwrap()).unwrap();
    assert!(page.contains("ended by a reset"));
    let r = ok(h, &["--json", "report", "paper"]);
    let page = std::fs::read_to_string(r["report_file"].as_str().unwrap()).unwrap();
    assert!(page.contains("Paper account 2") && page.contains("No fills"));
    assert_eq!(run(h, &["report", "paper", "--account", "3"]).code, 1);
}
