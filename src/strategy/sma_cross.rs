//! `sma_cross`: the classic moving-average crossover, exactly as the reference backtester's `SmaCross`.
//!
//! At the close of bar `i`: if SMA(close, fast) crossed above SMA(close, slow) — strictly below at
//! `i - 1` and strictly above at `i` — go long; if it crossed below, go short. Either entry first closes
//! the open trade (also when it points the same way, after a cross through exact equality was missed).

use std::ops::Range;

use super::{ParamSpec, Params, Strategy, warmup_of};
use crate::candles::Candles;
use crate::engine::{Action, Entry, PositionView, Signals};
use crate::error::Result;
use crate::indicators::{IndicatorCache, Series, cross};

/// The SMA-cross strategy (registry name `sma_cross`).
#[derive(Debug, Clone, Copy, Default)]
pub struct SmaCross;

const PARAMS: &[ParamSpec] = &[
    ParamSpec::int(
        "fast",
        10,
        (1, 100_000),
        (5, 50, 5),
        "bars in the fast simple moving average of the close",
    ),
    ParamSpec::int(
        "slow",
        20,
        (2, 100_000),
        (10, 200, 10),
        "bars in the slow simple moving average of the close (must exceed fast)",
    ),
];

impl Strategy for SmaCross {
    fn name(&self) -> &'static str {
        "sma_cross"
    }

    fn summary(&self) -> &'static str {
        "long when SMA(fast) crosses above SMA(slow), short when it crosses below"
    }

    fn params(&self) -> &'static [ParamSpec] {
        PARAMS
    }

    fn check(&self, params: &Params) -> Result<()> {
        params.require_below("fast", "slow")
    }

    fn prepare<'a>(
        &self,
        candles: &'a Candles,
        params: &Params,
        cache: &IndicatorCache,
    ) -> Result<Box<dyn Signals + 'a>> {
        Ok(Box::new(SmaCrossSignals::new(candles, params, cache)))
    }
}

/// The per-bar half of [`SmaCross`]: two shared SMA series.
#[derive(Debug, Clone)]
pub struct SmaCrossSignals {
    fast: Series,
    slow: Series,
    warmup: usize,
}

impl SmaCrossSignals {
    /// Fetches (or computes) SMA(close, fast) and SMA(close, slow).
    pub fn new(candles: &Candles, params: &Params, cache: &IndicatorCache) -> SmaCrossSignals {
        let (fast, slow) = cache.sma_pair(
            "close",
            &candles.close,
            params.int("fast") as usize,
            params.int("slow") as usize,
        );
        let warmup = warmup_of(&[&fast, &slow]);
        SmaCrossSignals { fast, slow, warmup }
    }
}

/// `lib.crossover(a, b)` of the reference at bar `i`: `a[i-1] < b[i-1] and a[i] > b[i]` (strict; NaN
/// compares false).
#[inline(always)]
pub fn crossed_above(a: &[f64], b: &[f64], i: usize) -> bool {
    i >= 1 && a[i - 1] < b[i - 1] && a[i] > b[i]
}

impl Signals for SmaCrossSignals {
    fn warmup(&self) -> usize {
        self.warmup
    }

    #[inline]
    fn decide(&mut self, i: usize, _position: &PositionView) -> Action {
        let (fast, slow) = (&self.fast[..], &self.slow[..]);
        if crossed_above(fast, slow, i) {
            Action::Enter(Entry::long())
        } else if crossed_above(slow, fast, i) {
            Action::Enter(Entry::short())
        } else {
            Action::Hold
        }
    }

    /// The decisions of [`SmaCross`] never look at the position, so they are listed ahead: the two
    /// series are compared 64 bars at a time into bit masks (`f < s`, `f > s`; [`cross::masks`]), and
    /// a cross is a bit set in one mask whose previous bit is set in the other — bit for bit
    /// `decide`'s rule (`s[i−1] < f[i−1]` is `f[i−1] > s[i−1]`; NaN compares
    /// false either way).
    fn scan(&mut self, bars: Range<usize>, out: &mut Vec<(usize, Action)>) -> bool {
        let (fast, slow) = (&self.fast[..], &self.slow[..]);
        let lo = bars.start.max(1);
        let hi = bars.end.min(fast.len()).min(slow.len());
        if lo >= hi {
            return true;
        }
        // Bit 0 of the carries: the comparison at the bar before the word.
        let mut carry_lt = u64::from(fast[lo - 1] < slow[lo - 1]);
        let mut carry_gt = u64::from(fast[lo - 1] > slow[lo - 1]);
        // Pieces of 64 words on the stack, each compared by one call ([`cross::masks`]).
        let (mut lts, mut gts) = ([0u64; 64], [0u64; 64]);
        for piece in (lo..hi).step_by(64 * 64) {
            let end = (piece + 64 * 64).min(hi);
            cross::masks(&fast[piece..end], &slow[piece..end], &mut lts, &mut gts);
            for w in 0..(end - piece).div_ceil(64) {
                let (lt, gt) = (lts[w], gts[w]);
                let up = gt & ((lt << 1) | carry_lt);
                let down = lt & ((gt << 1) | carry_gt);
                let top = (end - piece - 64 * w).min(64) - 1;
                (carry_lt, carry_gt) = ((lt >> top) & 1, (gt >> top) & 1);
                let mut crosses = up | down;
                while crosses != 0 {
                    let k = crosses.trailing_zeros();
                    let entry = if up >> k & 1 == 1 {
                        Entry::long()
                    } else {
                        Entry::short()
                    };
                    out.push((piece + 64 * w + k as usize, Action::Enter(entry)));
                    crosses &= crosses - 1;
                }
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cross_through_exact_equality_is_missed() {
        // fast - slow goes -1, 0, +1: the reference's strict rule sees no cross at either step.
        let a = [1.0, 2.0, 3.0];
        let b = [2.0, 2.0, 2.0];
        assert!(!crossed_above(&a, &b, 1));
        assert!(!crossed_above(&a, &b, 2));
        assert!(crossed_above(&[1.0, 3.0], &b, 1));
        assert!(!crossed_above(&[f64::NAN, 3.0], &b, 1));
    }

    #[test]
    fn removing_future_bars_changes_no_earlier_decision() {
        use crate::candles::Interval;
        use crate::candles::synthetic::{SyntheticSpec, generate};
        let full = generate(&SyntheticSpec::new(600, 3, Interval::Hour1));
        let params = super::super::resolve_params(&SmaCross, &[]).unwrap();
        let decisions = |c: &Candles| {
            let mut s = SmaCross
                .prepare(c, &params, &IndicatorCache::new())
                .unwrap();
            (s.warmup() + 1..c.len())
                .map(|i| s.decide(i, &PositionView::default()))
                .collect::<Vec<_>>()
        };
        let all = decisions(&full);
        assert!(
            all.iter().any(|a| *a != Action::Hold),
            "the series should produce signals"
        );
        for cut in [25, 100, 333, 599] {
            let part = decisions(&full.slice(0..cut));
            assert_eq!(part[..], all[..part.len()], "cut at {cut}");
        }
    }

    #[test]
    fn scan_lists_exactly_the_decisions() {
        use crate::candles::Interval;
        use crate::candles::synthetic::{SyntheticSpec, generate};
        // Closes on a coarse grid (0.5 steps), so the SMAs are often exactly equal: crosses through
        // equality, which the strict rule misses, are exercised.
        let mut c = generate(&SyntheticSpec::new(10_000, 5, Interval::Hour1));
        c.close = c.close.iter().map(|x| (x * 2.0).round() / 2.0).collect();
        let flat = PositionView::default();
        for (fast, slow) in [(2, 3), (3, 7), (5, 20)] {
            let params = super::super::resolve_params(
                &SmaCross,
                &[
                    ("fast".into(), fast.to_string()),
                    ("slow".into(), slow.to_string()),
                ],
            )
            .unwrap();
            let mut sig = SmaCrossSignals::new(&c, &params, &IndicatorCache::new());
            let first = sig.warmup() + 1;
            let want: Vec<(usize, Action)> = (first..c.len())
                .map(|i| (i, sig.decide(i, &flat)))
                .filter(|(_, a)| *a != Action::Hold)
                .collect();
            let ties = (first..c.len())
                .filter(|&i| sig.fast[i] == sig.slow[i])
                .count();
            assert!(ties > 10 && want.len() > 50, "{fast}/{slow}: {ties} ties");
            // Scanned in uneven pieces: the carried comparison must cross piece boundaries, and the
            // long one its own 4096-bar pieces.
            let mut got = Vec::new();
            for piece in [
                first..first,
                first..1000,
                1000..1001,
                1001..2999,
                2999..9000,
                9000..12_000,
            ] {
                assert!(sig.scan(piece, &mut got));
            }
            assert_eq!(got, want, "{fast}/{slow}");
            // In one call.
            let mut whole = Vec::new();
            assert!(sig.scan(0..c.len(), &mut whole));
            assert_eq!(whole, want, "{fast}/{slow} in one scan");
        }
    }

    /// The fast path of the optimizer (the event-driven engine over [`SmaCrossSignals::scan`]) against
    /// the bar loop over [`SmaCrossSignals::decide`], bit for bit: trades, counters, the whole equity
    /// curve and the equity at marked bars, for several parameter sets, fill rules, sizings and costs,
    /// on random-walk hourly bars (one with closes on a 0.5 grid, so the SMAs tie) and on GOOG.
    #[test]
    fn event_runs_equal_the_bar_loop_on_real_signals() {
        use crate::candles::synthetic::{SyntheticSpec, generate};
        use crate::candles::{Interval, TimeRange, store};
        use crate::engine::events::{CloseRange, Marks};
        use crate::engine::{BacktestConfig, Fill, Sizing, StopPolicy, bar_loop};
        let mut tied = generate(&SyntheticSpec::new(4000, 7, Interval::Hour1));
        tied.close = tied.close.iter().map(|x| (x * 2.0).round() / 2.0).collect();
        let goog = format!("{}/data/GOOG/1d.parquet", env!("CARGO_MANIFEST_DIR"));
        let sets = [
            generate(&SyntheticSpec::new(6000, 3, Interval::Hour1)),
            tied,
            store::read_parquet(goog.as_ref(), &TimeRange::ALL)
                .unwrap()
                .0,
        ];
        let (mut trades, mut runs) = (0, 0);
        for c in &sets {
            let n = c.len();
            let range = CloseRange::of(&c.close);
            let marks: Vec<f64> = (0..n)
                .filter(|i| i % 24 == 23 || i + 1 == n)
                .map(|i| i as f64)
                .collect();
            for (fast, slow) in [(2, 3), (5, 20), (10, 20), (20, 100), (50, 200)] {
                let params = super::super::resolve_params(
                    &SmaCross,
                    &[
                        ("fast".into(), fast.to_string()),
                        ("slow".into(), slow.to_string()),
                    ],
                )
                .unwrap();
                for fill in [Fill::NextOpen, Fill::Close] {
                    for (k, sizing) in [Sizing::All, Sizing::Units(3.0), Sizing::PctEquity(50.0)]
                        .into_iter()
                        .enumerate()
                    {
                        let cfg = BacktestConfig {
                            cash: 10_000.0,
                            commission: [0.002, 0.0, 0.0001][k],
                            spread: [0.0, 0.0003, 0.0][k],
                            fill,
                            close_at_end: k == 1,
                            sizing,
                            stop_policy: StopPolicy::Pessimistic,
                        };
                        let mut sig = SmaCrossSignals::new(c, &params, &IndicatorCache::new());
                        let want = bar_loop::run(c, &mut sig, &cfg).unwrap();
                        let what = format!("{n} bars, {fast}/{slow}, {cfg:?}");
                        let all = crate::engine::events::run(
                            c,
                            &mut sig,
                            &cfg,
                            Marks::All,
                            range,
                            Vec::new(),
                        )
                        .unwrap()
                        .unwrap();
                        assert_eq!(format!("{:?}", all.run), format!("{want:?}"), "{what}");
                        // Written into the first run's log: a reused log starts empty.
                        let log = all.run.trades.clone();
                        let at = crate::engine::events::run(
                            c,
                            &mut sig,
                            &cfg,
                            Marks::At(&marks),
                            range,
                            log,
                        )
                        .unwrap()
                        .unwrap();
                        let gathered: Vec<u64> = marks
                            .iter()
                            .map(|&k| want.equity[k as usize].to_bits())
                            .collect();
                        let got: Vec<u64> = at.marked.iter().map(|v| v.to_bits()).collect();
                        assert_eq!(got, gathered, "{what}");
                        assert_eq!(at.equity_last.to_bits(), want.equity[n - 1].to_bits());
                        assert_eq!(format!("{:?}", at.run.trades), format!("{:?}", want.trades));
                        trades += want.trades.len();
                        runs += 1;
                    }
                }
            }
        }
        // 3 data sets x 5 parameter sets x 2 fills x 3 sizings, with trades to compare.
        assert_eq!(runs, 90);
        assert!(trades > 5000, "{trades}");
    }

    #[test]
    fn fast_must_be_below_slow() {
        let p = super::super::resolve_params(
            &SmaCross,
            &[("fast".into(), "20".into()), ("slow".into(), "10".into())],
        );
        assert!(
            p.unwrap_err()
                .to_string()
                .contains("fast must be below slow")
        );
    }
}
