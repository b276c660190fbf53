//! Tests of the pieces added for the command line's pages, against values worked out by hand: the
//! deepest drawdowns, the largest losses, buy-and-hold from the warm-up bar, metrics through the field
//! table side by side, and the paper and journal reports on hand-built inputs (sections, numbers,
//! notices instead of empty pages).

use super::backtest::{BacktestOptions, buy_and_hold, deepest_drawdowns, largest_losses};
use super::journal::{
    JournalInput, MatchedTrade, NO_TRADES, journal_report, pnl_gap, slippage_bps, trade_slippage,
};
use super::paper::{NO_CLOSED, NO_FILLS, PaperFill, PaperInput, PaperPosition, paper_report};
use super::stats::{Compared, compare, difference, side_by_side};
use super::strict::{El, parse_strict};
use super::{Stat, check_self_contained};
use crate::metrics::Metrics;
use crate::metrics::fields::{MetricValue, find};
use crate::trade::{ExitReason, Side, TradeRecord};

const DAY: i64 = 86_400_000;
const T0: i64 = 1_577_836_800_000; // 2020-01-01T00:00:00Z

fn empty_metrics() -> Metrics {
    crate::metrics::compute(
        &crate::candles::Candles::default(),
        &crate::engine::RunResult::default(),
    )
}

/// A trade over days `a`..`b` after 2020-01-01.
fn trade(
    side: Side,
    a: i64,
    b: i64,
    prices: (f64, f64),
    size: f64,
    commission: f64,
) -> TradeRecord {
    let (entry, exit) = prices;
    let sign = if side == Side::Long { 1.0 } else { -1.0 };
    let pnl = sign * size * (exit - entry) - commission;
    TradeRecord {
        size: sign * size,
        side,
        entry_bar: a as usize,
        exit_bar: b as usize,
        entry_price: entry,
        exit_price: exit,
        stop: None,
        target: None,
        pnl,
        commission,
        return_pct: pnl / (size * entry) * 100.0,
        entry_time: T0 + a * DAY,
        exit_time: T0 + b * DAY,
        duration_days: (b - a) as f64,
        exit_reason: ExitReason::Signal,
        ambiguous: false,
    }
}

fn sections(root: &El) -> Vec<String> {
    root.all("section")
        .iter()
        .map(|s| s.attr("id").unwrap_or("").to_string())
        .collect()
}

fn notices(root: &El) -> Vec<String> {
    root.all("p")
        .iter()
        .filter(|p| p.attr("class") == Some("notice"))
        .map(|p| p.text())
        .collect()
}

fn rows_of(root: &El, section: &str) -> Vec<Vec<String>> {
    let s = root
        .all("section")
        .into_iter()
        .find(|s| s.attr("id") == Some(section))
        .unwrap_or_else(|| panic!("no section {section}"));
    s.all("tr")
        .iter()
        .map(|r| r.all("td").iter().map(|c| c.text()).collect::<Vec<_>>())
        .filter(|r| !r.is_empty())
        .collect()
}

#[test]
fn deepest_drawdowns_are_the_periods_between_highs() {
    // peaks 100 (bar 0) → 90 → 100 recovers at bar 2; peak 120 (bar 3) → 60 (bar 5, −50 %) → 110, not
    // recovered by the end; the 100 → 90 dip is −10 %
    let eq = [100.0, 90.0, 100.0, 120.0, 80.0, 60.0, 110.0];
    let d = deepest_drawdowns(&eq, 5);
    assert_eq!(d.len(), 2);
    assert_eq!((d[0].peak, d[0].trough, d[0].recovery), (3, 5, None));
    assert!((d[0].depth_pct + 50.0).abs() < 1e-12);
    assert_eq!((d[1].peak, d[1].trough, d[1].recovery), (0, 1, Some(2)));
    assert!((d[1].depth_pct + 10.0).abs() < 1e-12);
    assert_eq!(deepest_drawdowns(&eq, 1).len(), 1);
    // never below a previous high: none
    assert!(deepest_drawdowns(&[1.0, 2.0, 2.0, 3.0], 5).is_empty());
}

#[test]
fn largest_losses_worst_first() {
    let t = [
        trade(Side::Long, 0, 1, (10.0, 9.0), 1.0, 0.0),   // −1
        trade(Side::Short, 1, 2, (10.0, 13.0), 1.0, 0.0), // −3
        trade(Side::Long, 2, 3, (10.0, 12.0), 1.0, 0.0),  // +2
        trade(Side::Long, 3, 4, (10.0, 7.0), 1.0, 0.0),   // −3, later than #2
    ];
    assert_eq!(largest_losses(&t, 5), [1, 3, 0]);
    assert_eq!(largest_losses(&t, 2), [1, 3]);
}

#[test]
fn buy_and_hold_starts_at_the_warm_up_bar() {
    // cash until bar 2, then 1000 / 50 = 20 units: 20 × 60 = 1200 at the end
    let bh = buy_and_hold(&[10.0, 20.0, 50.0, 40.0, 60.0], 2, 1000.0);
    assert_eq!(bh, [1000.0, 1000.0, 1000.0, 800.0, 1200.0]);
    // so the last value is cash × (1 + (close[last] − close[w]) / close[w]), the metric's definition
    // a warm-up past the data counts from the last bar, as the metric does: 1000 / 60 × 60
    assert_eq!(buy_and_hold(&[10.0, 60.0], 9, 1000.0), [1000.0, 1000.0]);
    assert!(buy_and_hold(&[], 0, 1.0).is_empty());
}

#[test]
fn metrics_side_by_side_in_the_text_formats() {
    let mut a = empty_metrics();
    let mut b = empty_metrics();
    (a.win_rate_pct, b.win_rate_pct) = (52.5, 40.0);
    (a.num_trades, b.num_trades) = (10, 7);
    (a.max_trade_duration_days, b.max_trade_duration_days) = (12.0, 15.0);
    (a.sharpe, b.sharpe) = (0.5, f64::NAN);
    let rows = compare(&a, &b);
    let get = |k: &str| *rows.iter().find(|c| c.field.key == k).unwrap();
    // 40 − 52.5 = −12.5 in the percent format (2 decimals); 7 − 10 = −3; 15 − 12 = +3 days
    assert_eq!(difference(&get("win_rate_pct")), "-12.50");
    assert_eq!(difference(&get("num_trades")), "-3");
    assert_eq!(difference(&get("max_trade_duration_days")), "+3 days");
    assert_eq!(difference(&get("sharpe")), "");
    let table = side_by_side(&rows, "Backtest", "paper");
    assert_eq!(table.len(), 36);
    let one = Compared {
        field: find("win_rate_pct").unwrap(),
        left: MetricValue::Float(52.5),
        right: MetricValue::Float(40.0),
    };
    let mut doc = super::Document::new("t", None);
    doc.section("S").push(super::Block::Table(side_by_side(
        &[one],
        "Backtest",
        "paper",
    )));
    let root = parse_strict(&doc.render()).unwrap();
    let cells: Vec<String> = root.all("td").iter().map(|c| c.text()).collect();
    assert_eq!(cells, ["Win Rate [%]", "52.50", "40.00", "-12.50"]);
}

#[test]
fn slippage_is_positive_when_it_costs() {
    // long entry (a buy) at 101 for 100: +100 bps; long exit (a sell) at 99 for 100: +100 bps
    assert!((slippage_bps(Side::Long, true, 100.0, 101.0) - 100.0).abs() < 1e-9);
    assert!((slippage_bps(Side::Long, false, 100.0, 99.0) - 100.0).abs() < 1e-9);
    // short entry (a sell) at 101: better, −100 bps; short exit (a buy) at 101: worse, +100 bps
    assert!((slippage_bps(Side::Short, true, 100.0, 101.0) + 100.0).abs() < 1e-9);
    assert!((slippage_bps(Side::Short, false, 100.0, 101.0) - 100.0).abs() < 1e-9);
    assert!(slippage_bps(Side::Long, true, 0.0, 1.0).is_nan());
}

/// Two matched trades, one only in reality, one only in the backtest.
fn journal_trades() -> (Vec<MatchedTrade>, Vec<TradeRecord>, Vec<TradeRecord>) {
    let matched = vec![
        MatchedTrade {
            // backtest: 10 × (110 − 100) − 2 = 98; real: 10 × (109 − 100.5) − 3 = 82
            backtest: trade(Side::Long, 0, 5, (100.0, 110.0), 10.0, 2.0),
            real: trade(Side::Long, 0, 5, (100.5, 109.0), 10.0, 3.0),
        },
        MatchedTrade {
            // backtest: short 5 × (50 − 40) − 1 = 49; real: 5 × (50 − 40) − 1 = 49 (no slippage)
            backtest: trade(Side::Short, 6, 9, (50.0, 40.0), 5.0, 1.0),
            real: trade(Side::Short, 6, 9, (50.0, 40.0), 5.0, 1.0),
        },
    ];
    let only_real = vec![trade(Side::Long, 10, 12, (40.0, 38.0), 2.0, 0.5)]; // −4.5
    let only_bt = vec![trade(Side::Long, 13, 15, (40.0, 45.0), 2.0, 0.5)]; // +9.5
    (matched, only_real, only_bt)
}

#[test]
fn journal_gap_parts_add_up() {
    let (matched, only_real, only_bt) = journal_trades();
    let input = JournalInput {
        title: "j",
        subtitle: "",
        source: "paper",
        matched: &matched,
        only_real: &only_real,
        only_backtest: &only_bt,
        metrics: &[],
        notes: &[],
    };
    let g = pnl_gap(&input);
    // real: 82 + 49 − 4.5 = 126.5; backtest: 98 + 49 + 9.5 = 156.5
    assert!((g.real - 126.5).abs() < 1e-9 && (g.backtest - 156.5).abs() < 1e-9);
    // signal: −4.5 − 9.5 = −14; fill: (82 + 3) − (98 + 2) = −15; cost: −(3 − 2) = −1
    assert!((g.signal + 14.0).abs() < 1e-9);
    assert!((g.fill + 15.0).abs() < 1e-9);
    assert!((g.cost + 1.0).abs() < 1e-9);
    assert!((g.signal + g.fill + g.cost - (g.real - g.backtest)).abs() < 1e-9);
    // entry 100 → 100.5 on a buy: +50 bps; exit 110 → 109 on a sell: 1/110 = +90.909… bps
    let (e, x) = trade_slippage(&matched[0]);
    assert!((e - 50.0).abs() < 1e-9);
    assert!((x - 10_000.0 / 110.0).abs() < 1e-9);
}

#[test]
fn journal_report_sections_and_numbers() {
    let (matched, only_real, only_bt) = journal_trades();
    let (mut bt, mut real) = (empty_metrics(), empty_metrics());
    (bt.win_rate_pct, real.win_rate_pct) = (66.67, 33.33);
    let metrics = compare(&bt, &real);
    let notes = ["Critical deviation: <none>".to_string()];
    let input = JournalInput {
        title: "Journal: sma_cross on GOOG 1d (paper)",
        subtitle: "2020-01-01 → 2020-01-16",
        source: "paper",
        matched: &matched,
        only_real: &only_real,
        only_backtest: &only_bt,
        metrics: &metrics,
        notes: &notes,
    };
    let html = journal_report(&input, &BacktestOptions::default()).unwrap();
    check_self_contained(&html).unwrap();
    let root = parse_strict(&html).unwrap();
    assert_eq!(
        sections(&root),
        [
            "summary",
            "metrics-side-by-side",
            "p-l-gap",
            "slippage",
            "matched-trades",
            "only-in-reality",
            "only-in-the-backtest"
        ]
    );
    // 2 of 3 real trades matched: 66.7 %; mean entry slippage (50 + 0) / 2 = 25 bps; mean exit
    // (90.909… + 0) / 2 = 45.45 bps; gap 126.5 − 156.5 = −30
    let cards: Vec<String> = root
        .all("div")
        .into_iter()
        .filter(|d| d.attr("class") == Some("card"))
        .map(|c| c.text())
        .collect();
    assert_eq!(
        cards,
        [
            "Matched trades2",
            "Match rate (real trades)66.7%",
            "Mean entry slippage [bps]25.00",
            "Mean exit slippage [bps]45.45",
            "P&L gap (real − backtest)-30.00"
        ]
    );
    let gap = rows_of(&root, "p-l-gap");
    let col: Vec<(&str, &str)> = gap.iter().map(|r| (r[0].as_str(), r[1].as_str())).collect();
    assert_eq!(
        col,
        [
            ("Real P&L", "126.50"),
            ("Backtest P&L", "156.50"),
            ("Gap", "-30.00"),
            ("Signal", "-14.00"),
            ("Fill", "-15.00"),
            ("Cost", "-1.00")
        ]
    );
    let m = rows_of(&root, "matched-trades");
    assert_eq!(
        m[0],
        [
            "1",
            "long",
            "2020-01-01",
            "100",
            "100.5",
            "50.00",
            "2020-01-06",
            "110",
            "109",
            "90.91",
            "98.00",
            "82.00",
            "-16.00"
        ]
    );
    let win = rows_of(&root, "metrics-side-by-side")
        .into_iter()
        .find(|r| r[0] == "Win Rate [%]")
        .unwrap();
    assert_eq!(win, ["Win Rate [%]", "66.67", "33.33", "-33.34"]);
    assert_eq!(notices(&root), ["Critical deviation: <none>"]);
    assert_eq!(
        root.all("svg").len(),
        2,
        "entry and exit slippage histograms"
    );
}

#[test]
fn an_empty_journal_says_so() {
    let input = JournalInput {
        title: "j",
        subtitle: "",
        source: "live",
        matched: &[],
        only_real: &[],
        only_backtest: &[],
        metrics: &[],
        notes: &[],
    };
    let html = journal_report(&input, &BacktestOptions::default()).unwrap();
    let root = parse_strict(&html).unwrap();
    assert_eq!(sections(&root), ["summary"]);
    assert_eq!(notices(&root), [NO_TRADES]);
}

fn fill(day: i64, effect: &str, price: f64, realized: f64, balance: f64) -> PaperFill {
    PaperFill {
        ts: T0 + day * DAY,
        market: "GOOG 1d".into(),
        side: Side::Long,
        effect: effect.into(),
        quantity: 10.0,
        requested_price: 100.0,
        price,
        slippage_bps: (price - 100.0) / 100.0 * 10_000.0,
        commission: 1.0,
        realized,
        balance,
    }
}

#[test]
fn paper_report_sections_and_numbers() {
    let ts: Vec<i64> = (0..40).map(|i| T0 + i * DAY).collect();
    let equity: Vec<f64> = (0..40)
        .map(|i| 10_000.0 + 10.0 * f64::from(i % 7))
        .collect();
    let fills = [
        fill(1, "open", 100.2, 0.0, 9_999.0),
        fill(5, "close", 110.0, 97.0, 10_096.0),
    ];
    let trades = [trade(Side::Long, 1, 5, (100.2, 110.0), 10.0, 2.0)];
    let positions = [PaperPosition {
        market: "EURUSD 1h".into(),
        side: Side::Short,
        quantity: 1000.0,
        entry_price: 1.1,
        mark_price: 1.09,
        unrealized_pnl: 10.0,
        opened_ts: T0 + 30 * DAY,
    }];
    let headline = [Stat::plain("Equity", "10,060.00")];
    let account = [Stat::plain("Balance", "10,096.00")];
    let input = PaperInput {
        title: "Paper account 1",
        subtitle: "autonomous",
        headline: &headline,
        account: &account,
        ts: &ts,
        equity: &equity,
        positions: &positions,
        fills: &fills,
        trades: &trades,
        notes: &[],
    };
    let html = paper_report(&input, &BacktestOptions::default()).unwrap();
    check_self_contained(&html).unwrap();
    let root = parse_strict(&html).unwrap();
    assert_eq!(
        sections(&root),
        [
            "account",
            "equity",
            "drawdown",
            "monthly-returns",
            "open-positions",
            "fills",
            "trade-returns-over-time",
            "distribution-of-trade-returns",
            "trades"
        ]
    );
    let f = rows_of(&root, "fills");
    // 100.2 for 100 on a buy: +20 bps
    assert_eq!(
        f[0],
        [
            "1",
            "2020-01-02",
            "GOOG 1d",
            "long",
            "open",
            "10",
            "100",
            "100.2",
            "20.00",
            "1.00",
            "0.00",
            "9999.00"
        ]
    );
    assert_eq!(rows_of(&root, "open-positions")[0][5], "10.00");
    // 10 × (110 − 100.2) − 2 = 96
    assert_eq!(rows_of(&root, "trades")[0][7], "96.00");

    // an account that has not traded: every section still says something
    let idle = PaperInput {
        ts: &[],
        equity: &[],
        positions: &[],
        fills: &[],
        trades: &[],
        ..input
    };
    let root = parse_strict(&paper_report(&idle, &BacktestOptions::default()).unwrap()).unwrap();
    assert_eq!(sections(&root), ["account", "equity", "fills", "trades"]);
    assert_eq!(
        notices(&root),
        [
            "No equity history: the account has not processed a bar yet.",
            NO_FILLS,
            NO_CLOSED
        ]
    );
    // mismatched equity points are an error naming the series
    let bad = PaperInput {
        equity: &equity[..3],
        ..input
    };
    let e = paper_report(&bad, &BacktestOptions::default()).unwrap_err();
    assert_eq!(e.to_string(), "report: equity has 3 values but ts has 40");
}

#[test]
fn equal_slippage_is_said_not_drawn() {
    // a paper run with slippage 0: every real trade is its backtest trade
    let t = trade(Side::Long, 0, 5, (100.0, 110.0), 10.0, 2.0);
    let matched = vec![
        MatchedTrade {
            backtest: t.clone(),
            real: t.clone(),
        };
        2
    ];
    let input = JournalInput {
        title: "j",
        subtitle: "",
        source: "paper",
        matched: &matched,
        only_real: &[],
        only_backtest: &[],
        metrics: &[],
        notes: &[],
    };
    let root = parse_strict(&journal_report(&input, &BacktestOptions::default()).unwrap()).unwrap();
    assert!(root.all("svg").is_empty());
    let text: Vec<String> = root.all("p").iter().map(|p| p.text()).collect();
    assert!(text.contains(&"Slippage of the entries: 0.00 bps on all 2 of them.".to_string()));
    assert!(text.contains(&"Slippage of the exits: 0.00 bps on all 2 of them.".to_string()));
}
