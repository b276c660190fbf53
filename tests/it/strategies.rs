//! The indicator library against TA-Lib, and the strategies on the bundled real data: no look-ahead,
//! trading with their defaults, brackets on the right side, and the command-line listing.
//!
//! Expected indicator values come from `tests/fixtures/indicators/goog_talib.csv`, written by
//! `make_fixtures.py` beside it with TA-Lib (see the README there), never from our own output.

use flowrex::backtest;
use flowrex::candles::Candles;
use flowrex::candles::resample::resample_bars;
use flowrex::engine::{Action, BacktestConfig, PositionView};
use flowrex::indicators;
use flowrex::indicators::IndicatorCache;
use flowrex::strategy::jadecap::htf_ema_on_base;
use flowrex::strategy::{self, Strategy};
use flowrex::trade::{ExitReason, Side};

use crate::support::{
    bundled_home, empty_home, fixture, flowrex, load, repo, stderr_of, stdout_json,
};

// ---- Indicators against TA-Lib ----------------------------------------------------------------

/// The fixture as named columns (empty cells are NaN).
struct Fixture {
    names: Vec<String>,
    columns: Vec<Vec<f64>>,
}

impl Fixture {
    fn load() -> Fixture {
        let path = fixture("indicators/goog_talib.csv");
        let mut reader = csv::Reader::from_path(&path).expect("fixture exists");
        let names: Vec<String> = reader
            .headers()
            .unwrap()
            .iter()
            .map(str::to_string)
            .collect();
        let mut columns = vec![Vec::new(); names.len()];
        for row in reader.records() {
            let row = row.unwrap();
            for (k, cell) in row.iter().enumerate().skip(1) {
                columns[k].push(if cell.is_empty() {
                    f64::NAN
                } else {
                    cell.parse().unwrap()
                });
            }
        }
        Fixture { names, columns }
    }

    fn col(&self, name: &str) -> &[f64] {
        let k = self.names.iter().position(|n| n == name).expect(name);
        &self.columns[k]
    }
}

/// Same NaN positions (the warm-up convention) and values within 1e-9 relative.
fn assert_matches(name: &str, got: &[f64], want: &[f64]) {
    assert_eq!(got.len(), want.len(), "{name}: length");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        if w.is_nan() {
            assert!(g.is_nan(), "{name}[{i}]: got {g}, TA-Lib has no value");
        } else {
            assert!(
                (g - w).abs() <= 1e-9 * w.abs() + 1e-12,
                "{name}[{i}]: got {g}, TA-Lib {w}"
            );
        }
    }
    assert!(want.iter().any(|w| !w.is_nan()), "{name}: fixture is empty");
}

#[test]
fn indicators_match_talib_on_goog() {
    let f = Fixture::load();
    let (high, low, close) = (f.col("high"), f.col("low"), f.col("close"));
    // The fixture's inputs are the bundled store's rows.
    let goog = load(repo(), "GOOG", "1d");
    assert_eq!(goog.close, close);
    assert_eq!(goog.high, high);

    assert_matches("ema_10", &indicators::ema(close, 10), f.col("ema_10"));
    assert_matches("ema_50", &indicators::ema(close, 50), f.col("ema_50"));
    assert_matches(
        "trange",
        &indicators::true_range(high, low, close),
        f.col("trange"),
    );
    assert_matches(
        "atr_14",
        &indicators::atr(high, low, close, 14),
        f.col("atr_14"),
    );
    assert_matches("rsi_14", &indicators::rsi(close, 14), f.col("rsi_14"));
    assert_matches(
        "stddev_20",
        &indicators::rolling_std(close, 20),
        f.col("stddev_20"),
    );
    let bb = indicators::bollinger(close, 20, 2.0);
    assert_matches("bb_upper", &bb.upper, f.col("bb_upper_20_2"));
    assert_matches("bb_mid", &bb.middle, f.col("bb_mid_20_2"));
    assert_matches("bb_lower", &bb.lower, f.col("bb_lower_20_2"));
    assert_matches(
        "max_high_20",
        &indicators::rolling_max(high, 20),
        f.col("max_high_20"),
    );
    assert_matches(
        "min_low_20",
        &indicators::rolling_min(low, 20),
        f.col("min_low_20"),
    );
    assert_matches(
        "pivot_high_3_2",
        &indicators::pivot_highs(high, 3, 2),
        f.col("pivot_high_3_2"),
    );
    assert_matches(
        "pivot_low_3_2",
        &indicators::pivot_lows(low, 3, 2),
        f.col("pivot_low_3_2"),
    );
}

// ---- Strategies on real data -------------------------------------------------------------------

/// The four strategies of the product history (sma_cross is covered in its own tests and below).
const NEW: [&str; 4] = ["nbb", "jadecap", "fabio", "tori"];

fn defaults(s: &dyn Strategy) -> strategy::Params {
    strategy::resolve_params(s, &[]).unwrap()
}

/// Every decision from the first decision bar to the last bar, as seen flat.
fn decisions(s: &dyn Strategy, c: &Candles) -> (usize, Vec<Action>) {
    let mut sig = s.prepare(c, &defaults(s), &IndicatorCache::new()).unwrap();
    let start = sig.warmup() + 1;
    let flat = PositionView::default();
    (
        start,
        (start..c.len()).map(|i| sig.decide(i, &flat)).collect(),
    )
}

#[test]
fn no_strategy_looks_ahead_on_eurusd() {
    let full = load(repo(), "EURUSD", "1h");
    let n = full.len();
    let cuts: Vec<usize> = (1..=24).map(|k| k * n / 25).chain([n - 1, 150]).collect();
    // `signals` replays a file (its decision at bar i is the file's row for bar i); tests/it/signals.rs.
    for s in strategy::registry()
        .iter()
        .filter(|s| s.name() != "signals")
    {
        let (start, all) = decisions(*s, &full);
        let entries = all.iter().filter(|a| **a != Action::Hold).count();
        assert!(entries > 0, "{}: no signal on EURUSD 1h", s.name());
        for &cut in &cuts {
            let (part_start, part) = decisions(*s, &full.slice(0..cut));
            assert_eq!(
                part_start,
                start,
                "{}: warm-up changed at cut {cut}",
                s.name()
            );
            assert_eq!(
                part[..],
                all[..part.len()],
                "{}: a decision before bar {cut} changed when later bars were removed",
                s.name()
            );
        }
    }
}

#[test]
fn jadecap_higher_timeframe_uses_only_closed_bars() {
    let full = load(repo(), "EURUSD", "1h");
    let k = 4;
    let r = resample_bars(&full, k).unwrap();
    // Base bar i sees HTF bar g only once its last base bar g·k + k − 1 has closed, i.e. g·k + k − 1 ≤ i.
    for (i, &closed) in r.closed.iter().enumerate() {
        assert!(closed * k <= i + 1, "bar {i} sees {closed} HTF bars");
        assert!((closed + 1) * k > i + 1, "bar {i} misses a closed HTF bar");
    }
    let cache = IndicatorCache::new();
    let fast = htf_ema_on_base(&full, &cache, k, 9).unwrap();
    for cut in [97, 401, 1234, 2500, 4001, full.len() - 1] {
        let part = full.slice(0..cut);
        let rp = resample_bars(&part, k).unwrap();
        assert_eq!(rp.closed[..], r.closed[..cut]);
        assert_eq!(rp.candles, r.candles.slice(0..rp.candles.len()));
        let pf = htf_ema_on_base(&part, &IndicatorCache::new(), k, 9).unwrap();
        for i in 0..cut {
            assert!(
                pf[i].to_bits() == fast[i].to_bits(),
                "HTF EMA at bar {i} changed with the cut at {cut}"
            );
        }
    }
}

#[test]
fn defaults_trade_on_goog_and_eurusd_with_sound_brackets() {
    for (symbol, interval) in [("GOOG", "1d"), ("EURUSD", "1h")] {
        let c = load(repo(), symbol, interval);
        for name in NEW {
            let s = strategy::lookup(name).unwrap();
            let params = defaults(s);
            // Every entry decided: stop and target on the correct side of the deciding close.
            let (start, all) = decisions(s, &c);
            for (k, a) in all.iter().enumerate() {
                if let Action::Enter(e) = a {
                    let close = c.close[start + k];
                    let (stop, target) = (e.stop.unwrap(), e.target.unwrap());
                    let sign = e.side.sign();
                    assert!(
                        sign * (close - stop) > 0.0 && sign * (target - close) > 0.0,
                        "{name} {symbol}: bar {}: {:?} stop {stop} target {target} close {close}",
                        start + k,
                        e.side
                    );
                }
            }
            let report = backtest::backtest(
                &c,
                s,
                &params,
                &BacktestConfig::default(),
                &IndicatorCache::new(),
            )
            .unwrap();
            let trades = &report.run.trades;
            assert!(
                trades.len() >= 3,
                "{name} {symbol}: only {} trades with defaults",
                trades.len()
            );
            let mut bracketed = 0;
            for t in trades {
                let (stop, target) = (t.stop.unwrap(), t.target.unwrap());
                let sign = if t.size > 0.0 { 1.0 } else { -1.0 };
                if sign * (t.entry_price - stop) > 0.0 && sign * (target - t.entry_price) > 0.0 {
                    bracketed += 1;
                } else {
                    // Only a gap at the entry open can put the fill beyond a level; the engine then
                    // exits at that same open.
                    assert!(
                        t.exit_bar == t.entry_bar
                            && t.exit_price == t.entry_price
                            && matches!(t.exit_reason, ExitReason::Stop | ExitReason::Target),
                        "{name} {symbol}: trade {t:?} has its bracket on the wrong side"
                    );
                }
            }
            assert!(bracketed * 10 >= trades.len() * 9, "{name} {symbol}");
            let side_seen = |side: Side| {
                trades
                    .iter()
                    .any(|t| (t.size > 0.0) == (side == Side::Long))
            };
            assert!(
                side_seen(Side::Long) && side_seen(Side::Short),
                "{name} {symbol}: trades only one way"
            );
        }
    }
}

#[test]
fn optimizer_candidates_share_indicators() {
    let c = load(repo(), "GOOG", "1d");
    let cache = IndicatorCache::new();
    for name in NEW {
        let s = strategy::lookup(name).unwrap();
        let p = defaults(s);
        s.prepare(&c, &p, &cache).unwrap();
    }
    let first = cache.computed();
    for name in NEW {
        let s = strategy::lookup(name).unwrap();
        // A candidate differing only in its reward:risk / stop rule needs no new indicator.
        let tweak: &[(String, String)] = match name {
            "tori" => &[("target".into(), "ext1618".into())],
            _ => &[("rr".into(), "3".into())],
        };
        let p = strategy::resolve_params(s, tweak).unwrap();
        s.prepare(&c, &p, &cache).unwrap();
    }
    assert_eq!(
        cache.computed(),
        first,
        "a second candidate recomputed an indicator"
    );
}

// ---- Command line --------------------------------------------------------------------------------

#[test]
fn cli_lists_every_strategy_with_its_parameters() {
    let home = empty_home();
    let out = flowrex(home.path())
        .args(["--json", "backtest", "--list-strategies"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let doc = stdout_json(&out);
    let listed = doc["strategies"].as_array().unwrap();
    let names: Vec<&str> = listed.iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        ["sma_cross", "nbb", "jadecap", "fabio", "tori", "signals"]
    );
    for (entry, s) in listed.iter().zip(strategy::registry()) {
        let params = entry["params"].as_array().unwrap();
        assert_eq!(params.len(), s.params().len(), "{}", s.name());
        for (p, spec) in params.iter().zip(s.params()) {
            assert_eq!(p["name"], spec.name);
            assert_eq!(p["type"], spec.type_name());
            assert!(!p["default"].is_null(), "{} {}", s.name(), spec.name);
        }
    }
    let jade = &listed[2]["params"];
    assert_eq!(jade[0]["name"], "htf_bars");
    assert_eq!(jade[0]["default"], 4);
    assert_eq!(listed[4]["params"][7]["default"], "swing");
}

#[test]
fn cli_backtests_each_new_strategy() {
    let home = bundled_home();
    for name in NEW {
        let out = flowrex(home.path())
            .args([
                "--json",
                "backtest",
                "--strategy",
                name,
                "--symbol",
                "EURUSD",
                "--interval",
                "1h",
            ])
            .output()
            .unwrap();
        assert!(out.status.success(), "{name}: {}", stderr_of(&out));
        let doc = stdout_json(&out);
        assert!(doc["metrics"]["num_trades"].as_u64().unwrap() > 0, "{name}");
    }
}
