//! The ranking metrics of a run from less than the whole run: an optimizer ranks candidates on one
//! objective, and most objectives need only the trades and the equity at the end of each resampling
//! period (about one value per day), not the per-bar pass every metric needs (drawdowns, beta). The
//! values here are bit for bit those of [`super::compute`]: the period statistics are one function
//! that both call, and the rest is checked against it in the tests.
//!
//! Measured on the README grid over 1,000,000 one-minute bars: the full metrics cost ≈ 4.9 ns per bar
//! and candidate; these cost ≈ 700 period values + the trades, under 0.05 ns per bar.

use super::{calendar, data_period_ms, freq_days, geometric_mean, mean, or_nan, sum, var1};
use crate::candles::Candles;
use crate::indicators::{IndicatorCache, Series};
use crate::trade::Trade;

/// The statistics of the period returns: `r[k] = last[k + 1] / last[k] − 1` of the equity at each
/// period end (undefined 0/0 returns after a ruin dropped, as pandas' `pct_change().dropna()`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PeriodStats {
    /// `(1 + g)^N − 1`, `g` the geometric mean period return.
    pub annualized_return: f64,
    /// `annualized_return × 100`.
    pub return_ann_pct: f64,
    /// Annualized volatility in percent.
    pub volatility_ann_pct: f64,
    /// `return_ann_pct / volatility_ann_pct`.
    pub sharpe: f64,
    /// `annualized_return / (sqrt(mean(min(r, 0)²)) · sqrt(N))`.
    pub sortino: f64,
}

impl PeriodStats {
    /// The statistics of the equity `period_last` at each period end, `N = periods_per_year`.
    pub fn of(period_last: &[f64], periods_per_year: u32) -> PeriodStats {
        // `pct_change().dropna()`: 0/0 after an out-of-money run is NaN and dropped.
        let r: Vec<f64> = period_last
            .windows(2)
            .map(|w| w[1] / w[0] - 1.0)
            .filter(|x| !x.is_nan())
            .collect();
        let g = geometric_mean(&r);
        let big_n = periods_per_year as f64;
        let annualized_return = (1.0 + g).powf(big_n) - 1.0;
        let return_ann_pct = annualized_return * 100.0;
        let volatility_ann_pct =
            ((var1(&r) + (1.0 + g).powi(2)).powf(big_n) - (1.0 + g).powf(2.0 * big_n)).sqrt()
                * 100.0;
        let downside: Vec<f64> = r.iter().map(|x| x.min(0.0).powi(2)).collect();
        PeriodStats {
            annualized_return,
            return_ann_pct,
            volatility_ann_pct,
            sharpe: return_ann_pct / or_nan(volatility_ann_pct),
            sortino: annualized_return / (mean(&downside).sqrt() * big_n.sqrt()),
        }
    }
}

/// `sum(ret > 0) / |sum(ret < 0)|` of the trades' net returns [Profit Factor].
pub fn profit_factor(ret: impl Iterator<Item = f64> + Clone) -> f64 {
    let pos = sum(ret.clone().filter(|&x| x > 0.0));
    let neg = sum(ret.filter(|&x| x < 0.0));
    pos / or_nan(neg.abs())
}

/// `sqrt(n) · mean(pl) / std(pl, ddof = 1)` of the trades' net P&L \[SQN\].
pub fn sqn(pl: &[f64]) -> f64 {
    (pl.len() as f64).sqrt() * mean(pl) / or_nan(var1(pl).sqrt())
}

/// The data-set facts the period statistics need, computed once per data set: the period-end bar
/// indexes and the periods per year.
#[derive(Debug, Clone)]
pub struct Calendar {
    /// Element 0: the weekend bar count; then the last bar of each period (as f64; see
    /// [`super::calendar`]). Shared through the [`IndicatorCache`] with [`super::compute_cached`].
    series: Series,
    /// `N`, as [`super::Metrics::periods_per_year`].
    pub periods_per_year: u32,
}

impl Calendar {
    /// The calendar of `candles`, through `cache` (the series [`super::compute_cached`] uses).
    pub fn of(candles: &Candles, cache: &IndicatorCache) -> Calendar {
        let series = cache.get_or_compute("calendar(ts)", || calendar(&candles.ts));
        let ts = &candles.ts;
        let n = ts.len();
        let weekend_share = if n == 0 { 0.0 } else { series[0] / n as f64 };
        // The rule of `compute_with` (tested equal below).
        let periods_per_year = match freq_days(data_period_ms(ts)) {
            7 => 52,
            31 => 12,
            365 => 1,
            _ if weekend_share > 2.0 / 7.0 * 0.6 => 365,
            _ => 252,
        };
        Calendar {
            series,
            periods_per_year,
        }
    }

    /// The last bar of each period, ascending, as f64 (exact).
    pub fn period_ends(&self) -> &[f64] {
        &self.series[1..]
    }
}

/// What a run must provide for [`value`]: its closed trades and its equity at a few bars.
#[derive(Debug, Clone, Copy)]
pub struct Sketch<'a> {
    /// Closed trades in order.
    pub trades: &'a [Trade],
    /// Equity at the first bar.
    pub equity_first: f64,
    /// Equity at the last bar.
    pub equity_last: f64,
    /// Equity at each of [`Calendar::period_ends`].
    pub period_last: &'a [f64],
}

/// The metrics [`value`] computes: the optimizer objectives other than Calmar (which needs the
/// maximum drawdown, a per-bar pass).
pub const KEYS: [&str; 6] = [
    "return_pct",
    "sharpe",
    "sortino",
    "profit_factor",
    "sqn",
    "expectancy_pct",
];

/// The metric `key` (a field-table key, one of [`KEYS`]) of the run `s` describes, bit for bit what
/// [`super::compute`] gives; `None` for any other key.
pub fn value(key: &str, s: &Sketch<'_>, cal: &Calendar) -> Option<f64> {
    let ret = s.trades.iter().map(|t| t.return_frac);
    Some(match key {
        "return_pct" => (s.equity_last - s.equity_first) / s.equity_first * 100.0,
        "sharpe" => PeriodStats::of(s.period_last, cal.periods_per_year).sharpe,
        "sortino" => PeriodStats::of(s.period_last, cal.periods_per_year).sortino,
        "profit_factor" => profit_factor(ret),
        "sqn" => sqn(&s.trades.iter().map(|t| t.pnl).collect::<Vec<_>>()),
        "expectancy_pct" => mean(&ret.collect::<Vec<_>>()) * 100.0,
        _ => return None,
    })
}

/// The metrics of a run known without the per-bar pass: times, bars, final equity, return, trade
/// count, counters and the ranking metric `key` (one of [`KEYS`]) — every other real is NaN (`null`
/// when written), so an incomplete value can never pass for a measured one. The optimizer's outcomes
/// carry this while it ranks on the objective alone; the candidates it reports are computed in full.
pub fn sketch_metrics(
    candles: &Candles,
    s: &Sketch<'_>,
    cal: &Calendar,
    counters: (usize, usize),
    key: &str,
) -> super::Metrics {
    let nan = f64::NAN;
    let (start_ts, end_ts) = (
        candles.ts.first().copied().unwrap_or(0),
        candles.ts.last().copied().unwrap_or(0),
    );
    let mut m = super::Metrics {
        start_ts,
        end_ts,
        duration_days: (end_ts - start_ts) as f64 / crate::candles::DAY_MS as f64,
        bars: candles.len(),
        exposure_pct: nan,
        equity_final: s.equity_last,
        equity_peak: nan,
        commissions: nan,
        return_pct: value("return_pct", s, cal).unwrap_or(nan),
        buy_hold_return_pct: nan,
        return_ann_pct: nan,
        volatility_ann_pct: nan,
        cagr_pct: nan,
        sharpe: nan,
        sortino: nan,
        calmar: nan,
        alpha_pct: nan,
        beta: nan,
        max_drawdown_pct: nan,
        avg_drawdown_pct: nan,
        max_drawdown_duration_days: nan,
        avg_drawdown_duration_days: nan,
        num_trades: s.trades.len(),
        win_rate_pct: nan,
        best_trade_pct: nan,
        worst_trade_pct: nan,
        avg_trade_pct: nan,
        max_trade_duration_days: nan,
        avg_trade_duration_days: nan,
        profit_factor: nan,
        expectancy_pct: nan,
        sqn: nan,
        kelly: nan,
        recovery_factor: nan,
        periods_per_year: cal.periods_per_year,
        ambiguous_exits: counters.0,
        cancelled_orders: counters.1,
    };
    let v = value(key, s, cal).unwrap_or(nan);
    match key {
        "sharpe" => m.sharpe = v,
        "sortino" => m.sortino = v,
        "profit_factor" => m.profit_factor = v,
        "sqn" => m.sqn = v,
        "expectancy_pct" => m.expectancy_pct = v,
        _ => {}
    }
    m
}

/// The equity `equity` (one value per bar) at each of the calendar's period ends.
pub fn period_last(equity: &[f64], cal: &Calendar) -> Vec<f64> {
    cal.period_ends()
        .iter()
        .map(|&i| equity[i as usize])
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::candles::Interval;
    use crate::candles::synthetic::{SyntheticSpec, generate};
    use crate::engine::{BacktestConfig, Fill, Sizing};
    use crate::metrics::fields;
    use crate::strategy::{self, Params};

    /// Every ranking metric from the sketch equals the full computation, bit for bit, on runs with
    /// many trades, few trades and none (every order cancelled); 5-minute, hourly, daily and weekly
    /// bars (each with its own period rule).
    #[test]
    fn values_equal_the_full_metrics() {
        let mut checked = 0;
        for (interval, bars) in [
            (Interval::Hour1, 3000),
            (Interval::Day1, 800),
            (Interval::Week1, 300),
            (Interval::Minute5, 5000),
        ] {
            let c = generate(&SyntheticSpec::new(bars, 9, interval));
            let cache = IndicatorCache::new();
            let cal = Calendar::of(&c, &cache);
            for name in ["sma_cross", "nbb", "jadecap"] {
                let s = strategy::lookup(name).unwrap();
                for (fast, sizing) in [(3, Sizing::All), (8, Sizing::Units(5e4))] {
                    let mut p = Params::resolve(s.params(), &[]).unwrap();
                    if name == "sma_cross" {
                        p = Params::resolve(
                            s.params(),
                            &[
                                ("fast".into(), fast.to_string()),
                                ("slow".into(), "30".into()),
                            ],
                        )
                        .unwrap();
                    }
                    let cfg = BacktestConfig {
                        commission: 0.001,
                        sizing,
                        fill: if fast == 3 {
                            Fill::NextOpen
                        } else {
                            Fill::Close
                        },
                        ..BacktestConfig::default()
                    };
                    let mut sig = s.prepare(&c, &p, &cache).unwrap();
                    let run = sig.run_engine(&c, &cfg).unwrap();
                    let full = crate::metrics::compute_cached(&c, &run, &cache);
                    let pl = period_last(&run.equity, &cal);
                    let sk = Sketch {
                        trades: &run.trades,
                        equity_first: run.equity[0],
                        equity_last: run.equity[run.equity.len() - 1],
                        period_last: &pl,
                    };
                    assert_eq!(cal.periods_per_year, full.periods_per_year);
                    let counters = (run.ambiguous_exits, run.cancelled_orders);
                    for key in KEYS {
                        let want = fields::find(key).unwrap().value(&full).as_f64();
                        let got = value(key, &sk, &cal).unwrap();
                        assert_eq!(got.to_bits(), want.to_bits(), "{name} {interval} {key}");
                        let m = sketch_metrics(&c, &sk, &cal, counters, key);
                        let from_sketch = fields::find(key).unwrap().value(&m).as_f64();
                        assert_eq!(from_sketch.to_bits(), want.to_bits(), "{key}");
                        assert_eq!(
                            (m.num_trades, m.equity_final.to_bits(), m.bars),
                            (full.num_trades, full.equity_final.to_bits(), full.bars)
                        );
                        checked += 1;
                    }
                    assert_eq!(value("calmar", &sk, &cal), None);
                }
            }
        }
        assert_eq!(checked, 4 * 3 * 2 * KEYS.len());
    }
}
