//! The backtest engine on hand-built candles, with every expected fill worked out by hand in the test,
//! and the command line's bad-input messages.
//!
//! Reminder for the hand calculations: with the default sizing all cash buys
//! `floor(cash·(1−ε) / price)` whole units, so 10 000 of cash at a price of 100 buys **99** units
//! (10 000·(1−ε)/100 is just below 100), as in the reference backtester.

use flowrex::candles::Candles;
use flowrex::engine::{
    self, Action, BacktestConfig, Entry, Fill, PositionView, RunResult, Signals, Sizing, StopPolicy,
};
use flowrex::metrics;
use flowrex::trade::ExitReason;
use predicates::prelude::*;

use crate::support::{
    BACKTEST_SMA_GOOG as GOOG, bundled_home, candles, flowrex, stdout_json, stdout_ok,
};

/// A strategy that plays back a fixed list of `(bar, action)` decisions.
struct Script {
    warmup: usize,
    actions: Vec<(usize, Action)>,
    first_decision: Option<usize>,
}

impl Signals for Script {
    fn warmup(&self) -> usize {
        self.warmup
    }
    fn decide(&mut self, i: usize, _p: &PositionView) -> Action {
        self.first_decision.get_or_insert(i);
        self.actions
            .iter()
            .find(|(b, _)| *b == i)
            .map(|(_, a)| *a)
            .unwrap_or_default()
    }
}

fn script(actions: &[(usize, Action)]) -> Script {
    Script {
        warmup: 0,
        actions: actions.to_vec(),
        first_decision: None,
    }
}

fn run_with(c: &Candles, actions: &[(usize, Action)], cfg: BacktestConfig) -> RunResult {
    engine::run(c, &mut script(actions), &cfg).expect("backtest runs")
}

fn assert_close(got: f64, want: f64) {
    assert!(
        (got - want).abs() <= 1e-9 * want.abs().max(1.0),
        "got {got}, want {want}"
    );
}

const FLAT: (f64, f64, f64, f64) = (100.0, 101.0, 99.0, 100.0);

fn long_with(stop: f64, target: f64) -> Action {
    Action::Enter(Entry::long().with_stop(stop).with_target(target))
}

#[test]
fn stop_hit_inside_the_entry_bar_fills_at_the_stop() {
    // Decide at bar 1, fill at bar 2's open (100); bar 2's low 94 reaches the stop 95.
    let c = candles(&[FLAT, FLAT, (100.0, 102.0, 94.0, 96.0), FLAT]);
    let r = run_with(
        &c,
        &[(1, long_with(95.0, 110.0))],
        BacktestConfig::default(),
    );
    assert_eq!(r.trades.len(), 1);
    let t = r.trades[0];
    assert_eq!((t.size, t.entry_bar, t.exit_bar), (99.0, 2, 2));
    assert_eq!((t.entry_price, t.exit_price), (100.0, 95.0));
    assert_eq!(t.exit_reason, ExitReason::Stop);
    assert_close(t.pnl, -495.0); // 99 × (95 − 100)
    assert_close(r.equity[2], 9_505.0);
    assert_eq!(r.equity[0], 10_000.0);
}

#[test]
fn target_hit_fills_at_the_target() {
    let c = candles(&[FLAT, FLAT, (100.0, 111.0, 99.0, 108.0), FLAT]);
    let r = run_with(
        &c,
        &[(1, long_with(95.0, 110.0))],
        BacktestConfig::default(),
    );
    let t = r.trades[0];
    assert_eq!((t.exit_price, t.exit_reason), (110.0, ExitReason::Target));
    assert_close(t.pnl, 990.0); // 99 × 10
    assert_eq!(r.ambiguous_exits, 0);
}

#[test]
fn both_levels_in_one_bar_follow_the_policy_and_are_counted() {
    let c = candles(&[FLAT, FLAT, (100.0, 111.0, 94.0, 100.0), FLAT]);
    let pess = run_with(
        &c,
        &[(1, long_with(95.0, 110.0))],
        BacktestConfig::default(),
    );
    assert_eq!(pess.trades[0].exit_price, 95.0);
    assert_eq!(pess.trades[0].exit_reason, ExitReason::Stop);
    assert!(pess.trades[0].ambiguous);
    assert_eq!(pess.ambiguous_exits, 1);
    let opt = run_with(
        &c,
        &[(1, long_with(95.0, 110.0))],
        BacktestConfig {
            stop_policy: StopPolicy::Optimistic,
            ..BacktestConfig::default()
        },
    );
    assert_eq!(opt.trades[0].exit_price, 110.0);
    assert_eq!(opt.trades[0].exit_reason, ExitReason::Target);
    assert_eq!(opt.ambiguous_exits, 1);
    let m = metrics::compute(&c, &opt);
    assert_eq!(m.ambiguous_exits, 1);
}

#[test]
fn a_gap_through_the_stop_fills_at_the_open() {
    let c = candles(&[FLAT, FLAT, FLAT, (90.0, 92.0, 88.0, 91.0), FLAT]);
    let r = run_with(
        &c,
        &[(1, long_with(95.0, 110.0))],
        BacktestConfig::default(),
    );
    let t = r.trades[0];
    assert_eq!(
        (t.exit_bar, t.exit_price, t.exit_reason),
        (3, 90.0, ExitReason::Stop)
    );
    assert_close(t.pnl, -990.0);
}

#[test]
fn short_trades_profit_from_a_fall_and_stop_above() {
    // Short at bar 2's open (100), exit decided at bar 2, filled at bar 3's open (90).
    let c = candles(&[FLAT, FLAT, FLAT, (90.0, 91.0, 89.0, 90.0), FLAT]);
    let r = run_with(
        &c,
        &[(1, Action::Enter(Entry::short())), (2, Action::Exit)],
        BacktestConfig::default(),
    );
    let t = r.trades[0];
    assert_eq!((t.size, t.entry_price, t.exit_price), (-99.0, 100.0, 90.0));
    assert_close(t.pnl, 990.0);
    assert_close(t.return_frac, 0.1);
    // A short's stop sits above: bar 2 reaches 106 ≥ 105.
    let c = candles(&[FLAT, FLAT, (100.0, 106.0, 99.0, 104.0), FLAT]);
    let r = run_with(
        &c,
        &[(1, Action::Enter(Entry::short().with_stop(105.0)))],
        BacktestConfig::default(),
    );
    assert_eq!(
        (r.trades[0].exit_price, r.trades[0].exit_reason),
        (105.0, ExitReason::Stop)
    );
    assert_close(r.trades[0].pnl, -495.0);
}

#[test]
fn commission_and_spread() {
    // commission 1%, spread 1%: entry at 100·1.01 = 101; per unit with commission ≈ 102, so
    // floor(9999.99…/102) = 98 units. Entry commission 98·101·1% = 98.98.
    // Exit at 110: gross 98·9 = 882, exit commission 98·110·1% = 107.8.
    let c = candles(&[
        FLAT,
        FLAT,
        (100.0, 106.0, 99.0, 105.0),
        (110.0, 111.0, 109.0, 110.0),
        FLAT,
    ]);
    let cfg = BacktestConfig {
        commission: 0.01,
        spread: 0.01,
        ..BacktestConfig::default()
    };
    let r = run_with(
        &c,
        &[(1, Action::Enter(Entry::long())), (2, Action::Exit)],
        cfg,
    );
    let t = r.trades[0];
    assert_eq!(t.size, 98.0);
    assert_close(t.entry_price, 101.0);
    assert_eq!(t.exit_price, 110.0);
    assert_close(t.commission, 98.98 + 107.8);
    assert_close(t.pnl, 882.0 - 206.78);
    assert_close(t.return_frac, 9.0 / 101.0 - 206.78 / (98.0 * 101.0));
    // Equity at bar 2's close (105): 10 000 − 98.98 + 98·(105 − 101).
    assert_close(r.equity[2], 10_000.0 - 98.98 + 392.0);
    assert_close(r.equity[3], 10_000.0 + 882.0 - 206.78);
    // A short's entry is worsened downwards: 100·0.99 = 99.
    let r = run_with(&c, &[(1, Action::Enter(Entry::short()))], cfg);
    assert_close(r.open_trade.unwrap().entry_price, 99.0);
}

#[test]
fn each_sizing_mode() {
    let c = candles(&[FLAT, FLAT, FLAT, FLAT]);
    let size = |sizing: Sizing, entry: Entry| {
        let r = run_with(
            &c,
            &[(1, Action::Enter(entry))],
            BacktestConfig {
                sizing,
                ..BacktestConfig::default()
            },
        );
        (r.open_trade.map(|t| t.size), r.cancelled_orders)
    };
    assert_eq!(size(Sizing::All, Entry::long()), (Some(99.0), 0));
    let (frac, _) = size(Sizing::Fraction, Entry::long());
    assert_close(frac.unwrap(), 100.0); // 10 000·(1−ε)/100, fractional
    assert!(frac.unwrap() < 100.0);
    assert_eq!(size(Sizing::Units(10.0), Entry::long()), (Some(10.0), 0));
    assert_eq!(
        size(Sizing::PctEquity(50.0), Entry::long()),
        (Some(50.0), 0)
    );
    // Risk 1% of 10 000 = 100 over a stop distance of 5 → 20 units.
    assert_eq!(
        size(Sizing::RiskPct(1.0), Entry::long().with_stop(95.0)),
        (Some(20.0), 0)
    );
    // Risk sizing without a stop, or more units than cash covers: cancelled.
    assert_eq!(size(Sizing::RiskPct(1.0), Entry::long()), (None, 1));
    assert_eq!(size(Sizing::Units(1000.0), Entry::long()), (None, 1));
}

#[test]
fn fill_at_close_is_exposed_from_the_next_bar() {
    // Decide at bar 1 and fill at its close (100). Bar 1's low (90) is below the stop but came
    // before the fill; bar 2 does not reach it; bar 3 does.
    let c = candles(&[
        FLAT,
        (100.0, 101.0, 90.0, 100.0),
        FLAT,
        (100.0, 101.0, 94.0, 96.0),
    ]);
    let cfg = BacktestConfig {
        fill: Fill::Close,
        ..BacktestConfig::default()
    };
    let r = run_with(
        &c,
        &[(1, Action::Enter(Entry::long().with_stop(95.0)))],
        cfg,
    );
    let t = r.trades[0];
    assert_eq!(
        (t.entry_bar, t.entry_price, t.exit_bar, t.exit_price),
        (1, 100.0, 3, 95.0)
    );
}

#[test]
fn warm_up_delays_the_first_decision() {
    let c = candles(&[FLAT; 6]);
    let mut s = Script {
        warmup: 3,
        actions: vec![],
        first_decision: None,
    };
    let r = engine::run(&c, &mut s, &BacktestConfig::default()).unwrap();
    assert_eq!(s.first_decision, Some(4));
    assert!(r.equity.iter().all(|&e| e == 10_000.0));
}

#[test]
fn an_order_decided_on_the_last_bar_never_fills_and_close_at_end_uses_the_last_open() {
    let c = candles(&[FLAT, FLAT, FLAT, (102.0, 104.0, 101.0, 103.0)]);
    let r = run_with(
        &c,
        &[(1, Action::Enter(Entry::long()))],
        BacktestConfig::default(),
    );
    let o = r.open_trade.unwrap();
    assert_eq!((o.size, o.entry_bar), (99.0, 2));
    assert_close(r.equity[3], 10_000.0 + 99.0 * 3.0); // marked at the last close, 103
    let r = run_with(
        &c,
        &[(1, Action::Enter(Entry::long()))],
        BacktestConfig {
            close_at_end: true,
            ..BacktestConfig::default()
        },
    );
    assert!(r.open_trade.is_none());
    let t = r.trades[0];
    assert_eq!(
        (t.exit_bar, t.exit_price, t.exit_reason),
        (3, 102.0, ExitReason::EndOfData)
    );
    assert_close(r.equity[3], 10_000.0 + 99.0 * 2.0);
}

#[test]
fn out_of_money_closes_at_the_close_and_stops() {
    // Short 99 at 100; bar 3 closes at 250: equity 10 000 − 99·150 < 0.
    let c = candles(&[FLAT, FLAT, FLAT, (250.0, 260.0, 240.0, 250.0), FLAT]);
    let r = run_with(
        &c,
        &[(1, Action::Enter(Entry::short())), (3, Action::Exit)],
        BacktestConfig::default(),
    );
    let t = r.trades[0];
    assert_eq!(
        (t.exit_bar, t.exit_price, t.exit_reason),
        (3, 250.0, ExitReason::OutOfMoney)
    );
    assert_eq!(r.out_of_money_bar, Some(3));
    assert_eq!(&r.equity[3..], &[0.0, 0.0]);
}

#[test]
fn a_strategy_that_never_trades_has_defined_metrics() {
    let c = candles(&[FLAT; 30]);
    let r = run_with(&c, &[], BacktestConfig::default());
    let m = metrics::compute(&c, &r);
    assert_eq!(m.num_trades, 0);
    assert_eq!(m.equity_final, 10_000.0);
    assert_eq!(m.return_pct, 0.0);
    assert_eq!(m.max_drawdown_pct, 0.0);
    assert_eq!(m.exposure_pct, 0.0);
    assert!(m.win_rate_pct.is_nan() && m.sqn.is_nan());
    let json = serde_json::to_string(&m).unwrap();
    assert!(
        !json.contains("NaN") && json.contains("\"win_rate_pct\":null"),
        "{json}"
    );
}

// ---- The command line -------------------------------------------------------------------------

#[test]
fn cli_never_trading_run_prints_null_not_nan() {
    let home = bundled_home();
    let out = flowrex(home.path())
        .arg("--json")
        .args(GOOG)
        .args(["--param", "fast=5000", "--param", "slow=6000"])
        .output()
        .unwrap();
    let text = stdout_ok(&out);
    assert!(!text.contains("NaN"));
    let doc = stdout_json(&out);
    assert_eq!(doc["metrics"]["num_trades"], 0);
    assert!(doc["metrics"]["win_rate_pct"].is_null());
    assert!(doc["open_trade"].is_null());
}

#[test]
fn cli_bad_input_messages() {
    let home = bundled_home();
    flowrex(home.path())
        .args([
            "backtest",
            "--strategy",
            "nope",
            "--symbol",
            "GOOG",
            "--interval",
            "1d",
        ])
        .assert()
        .code(2)
        .stderr(
            predicate::str::contains("unknown strategy `nope`")
                .and(predicate::str::contains("sma_cross")),
        );
    flowrex(home.path())
        .args(GOOG)
        .args(["--param", "speed=3"])
        .assert()
        .code(2)
        .stderr(
            predicate::str::contains("unknown parameter `speed`")
                .and(predicate::str::contains("fast (1..=100000)")),
        );
    flowrex(home.path())
        .args(GOOG)
        .args(["--param", "fast=0"])
        .assert()
        .code(2)
        .stderr(
            predicate::str::contains("parameter `fast`")
                .and(predicate::str::contains("1..=100000")),
        );
    flowrex(home.path())
        .args([
            "backtest",
            "--strategy",
            "sma_cross",
            "--symbol",
            "NOPE",
            "--interval",
            "1d",
        ])
        .assert()
        .code(1)
        // The hint names the home: the test runs in another folder (see tests/it/conventions.rs).
        .stderr(
            predicate::str::contains("`flowrex --home ")
                .and(predicate::str::contains(" fetch --provider csv")),
        );
    flowrex(home.path())
        .args(GOOG)
        .args(["--start", "2030-01-01"])
        .assert()
        .code(1)
        .stderr(
            predicate::str::contains("no GOOG 1d bars").and(predicate::str::contains("2004-08-19")),
        );
    flowrex(home.path())
        .args(GOOG)
        .args(["--size", "pct:150"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--size pct:150"));
}

#[test]
fn cli_lists_strategies_and_writes_files() {
    let home = bundled_home();
    let out = flowrex(home.path())
        .args(["--json", "backtest", "--list-strategies"])
        .output()
        .unwrap();
    let doc = stdout_json(&out);
    let sma = &doc["strategies"][0];
    assert_eq!(sma["name"], "sma_cross");
    assert_eq!(sma["params"][0]["name"], "fast");
    assert_eq!(sma["params"][0]["type"], "int");
    assert_eq!(sma["params"][0]["default"], 10);
    flowrex(home.path())
        .args(["backtest", "--list-strategies"])
        .assert()
        .success()
        .stdout(predicate::str::contains("sma_cross").and(predicate::str::contains("slow")));

    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("trades.csv");
    let pq = dir.path().join("trades.parquet");
    let eq = dir.path().join("equity.parquet");
    flowrex(home.path())
        .args(GOOG)
        .args(["--commission", "0.002", "--trades"])
        .arg(&csv)
        .arg("--equity")
        .arg(&eq)
        .assert()
        .success()
        .stdout(
            predicate::str::contains("Sharpe Ratio")
                .and(predicate::str::contains("93 closed trades")),
        );
    let text = std::fs::read_to_string(&csv).unwrap();
    assert!(text.starts_with("size,entry_bar,exit_bar,entry_time,exit_time,entry_price"));
    assert_eq!(text.lines().count(), 94); // header + the oracle's 93 trades
    assert!(eq.metadata().unwrap().len() > 0);
    flowrex(home.path())
        .args(GOOG)
        .arg("--trades")
        .arg(&pq)
        .assert()
        .success();
    assert!(pq.metadata().unwrap().len() > 0);
}
