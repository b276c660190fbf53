//! `tori` — trendline + Fibonacci confluence: buy a pullback where the trendline and the golden pocket of
//! the last swing agree, and the bar rejects the level.
//!
//! # Structure (only pivots confirmed by bar `i`, see [`crate::indicators::pivots`])
//! Swing pivots are fractals with `pivot_left` bars on the left and `pivot_right` on the right.
//! - **Up-trend**: the last two pivot lows rise (`L1 < L2`), and the last pivot high `H` comes after `L2`
//!   and above it. The trendline runs through `L1` and `L2`; the swing is `L2 → H`.
//! - **Down-trend**: the last two pivot highs fall (`H1 > H2`), and the last pivot low `L` comes after
//!   `H2` and below it. The trendline runs through `H1` and `H2`; the swing is `H2 → L`.
//!
//! # Entries (at the close of bar `i`)
//! Let `T` be the trendline's price at bar `i`, `Z = [zone_min, zone_max]` retracement band of the swing
//! (0.5–0.618 by default, [`crate::indicators::fib`]), and `tol = tolerance_atr × ATR(atr_n)`. The two
//! **agree** when `T` lies within `tol` of `Z`; the confluence level is `z` = the point of `Z` nearest
//! `T` (`T` itself when inside).
//! - **Long** (up-trend): the bar reached the level (`low[i] ≤ z + tol`) without breaking the swing low
//!   (`low[i] > L2`) and rejected it: a bullish bar (`close > open`) closing above `z` and below `H`.
//!   Stop `stop_atr × ATR` below `L2`; target `H` (`target = swing`) or the 1.272 / 1.618 extension of
//!   the swing (`ext1272`, `ext1618`).
//! - **Short** (down-trend): mirrored — `high[i] ≥ z − tol`, `high[i] < H2`, a bearish bar closing below
//!   `z` and above `L`; stop above `H2`; target `L` or the extension below it.
//!
//! A signal in the direction of the open position is ignored; an opposite one reverses. Exits are the
//! stop and the target.
//!
//! # Parameters
//! | name | meaning | default | search |
//! |---|---|---|---|
//! | `pivot_left` | bars left of a pivot | 3 | 2..=6:1 |
//! | `pivot_right` | bars right of a pivot (its confirmation delay) | 3 | 2..=6:1 |
//! | `zone_min` | shallow edge of the retracement band | 0.5 | 0.382..=0.5:0.118 |
//! | `zone_max` | deep edge of the retracement band (above `zone_min`) | 0.618 | 0.618..=0.786:0.168 |
//! | `tolerance_atr` | how far trendline and band may be apart, in ATRs | 0.5 | 0.25..=1.5:0.25 |
//! | `atr_n` | bars in Wilder's ATR | 14 | 7..=28:7 |
//! | `stop_atr` | stop distance beyond the swing's start, in ATRs | 0.25 | 0..=1:0.25 |
//! | `target` | `swing` (its extreme), `ext1272` or `ext1618` | swing | all three |

use super::{ParamSpec, Params, Strategy, bracket_entry, warmup_of};
use crate::candles::Candles;
use crate::engine::{Action, PositionView, Signals};
use crate::error::Result;
use crate::indicators::fib::{extension, retracement_zone};
use crate::indicators::{IndicatorCache, PivotKind, Series};
use crate::indicators::{PivotField, Trendline};
use crate::trade::Side;

/// The Tori strategy (registry name `tori`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Tori;

const PARAMS: &[ParamSpec] = &[
    ParamSpec::int(
        "pivot_left",
        3,
        (1, 500),
        (2, 6, 1),
        "bars left of a swing pivot that it must exceed",
    ),
    ParamSpec::int(
        "pivot_right",
        3,
        (1, 500),
        (2, 6, 1),
        "bars right of a swing pivot (it is confirmed only after they close)",
    ),
    ParamSpec::float(
        "zone_min",
        0.5,
        (0.0, 1.0),
        (0.382, 0.5, 0.118),
        "shallow edge of the Fibonacci retracement band of the last swing",
    ),
    ParamSpec::float(
        "zone_max",
        0.618,
        (0.0, 1.0),
        (0.618, 0.786, 0.168),
        "deep edge of the Fibonacci retracement band (must exceed zone_min)",
    ),
    ParamSpec::float(
        "tolerance_atr",
        0.5,
        (0.0, 20.0),
        (0.25, 1.5, 0.25),
        "how far the trendline and the retracement band may be apart to agree, in ATRs",
    ),
    ParamSpec::int("atr_n", 14, (1, 10_000), (7, 28, 7), "bars in Wilder's ATR"),
    ParamSpec::float(
        "stop_atr",
        0.25,
        (0.0, 20.0),
        (0.0, 1.0, 0.25),
        "stop distance beyond the swing's starting pivot, in ATRs",
    ),
    ParamSpec::choice(
        "target",
        "swing",
        &["swing", "ext1272", "ext1618"],
        "profit target: the swing's extreme, or its 1.272 or 1.618 extension",
    ),
];

impl Strategy for Tori {
    fn name(&self) -> &'static str {
        "tori"
    }

    fn summary(&self) -> &'static str {
        "trendline + 0.5-0.618 Fibonacci confluence pullback, rejected by the bar; stop beyond the swing"
    }

    fn params(&self) -> &'static [ParamSpec] {
        PARAMS
    }

    fn check(&self, params: &Params) -> Result<()> {
        params.require_below("zone_min", "zone_max")
    }

    fn prepare<'a>(
        &self,
        candles: &'a Candles,
        params: &Params,
        cache: &IndicatorCache,
    ) -> Result<Box<dyn Signals + 'a>> {
        Ok(Box::new(ToriSignals::new(candles, params, cache)))
    }
}

/// The `back`-th most recent confirmed pivot of one kind, as price and bar series.
#[derive(Debug, Clone)]
struct PivotTrack {
    price: Series,
    bar: Series,
}

impl PivotTrack {
    fn new(
        c: &Candles,
        cache: &IndicatorCache,
        kind: PivotKind,
        lr: (usize, usize),
        back: usize,
    ) -> Self {
        PivotTrack {
            price: cache.recent_pivot(c, kind, lr, back, PivotField::Price),
            bar: cache.recent_pivot(c, kind, lr, back, PivotField::Bar),
        }
    }
}

/// The per-bar half of [`Tori`].
#[derive(Debug, Clone)]
pub struct ToriSignals<'a> {
    low0: PivotTrack,
    low1: PivotTrack,
    high0: PivotTrack,
    high1: PivotTrack,
    atr: Series,
    candles: &'a Candles,
    zone: (f64, f64),
    tolerance_atr: f64,
    stop_atr: f64,
    /// Extension ratio of the target (1 = the swing's extreme).
    target_ratio: f64,
    warmup: usize,
}

impl<'a> ToriSignals<'a> {
    /// Fetches (or computes) the pivot tracks and the ATR.
    pub fn new(c: &'a Candles, p: &Params, cache: &IndicatorCache) -> ToriSignals<'a> {
        let lr = (p.int("pivot_left") as usize, p.int("pivot_right") as usize);
        let atr = cache.atr(c, p.int("atr_n") as usize);
        let warmup = warmup_of(&[&atr]);
        ToriSignals {
            low0: PivotTrack::new(c, cache, PivotKind::Low, lr, 0),
            low1: PivotTrack::new(c, cache, PivotKind::Low, lr, 1),
            high0: PivotTrack::new(c, cache, PivotKind::High, lr, 0),
            high1: PivotTrack::new(c, cache, PivotKind::High, lr, 1),
            atr,
            candles: c,
            zone: (p.float("zone_min"), p.float("zone_max")),
            tolerance_atr: p.float("tolerance_atr"),
            stop_atr: p.float("stop_atr"),
            target_ratio: match p.choice("target") {
                "ext1272" => 1.272,
                "ext1618" => 1.618,
                _ => 1.0,
            },
            warmup,
        }
    }

    /// The target of the swing `start → end`: its end, or the chosen extension.
    #[inline]
    fn target(&self, start: f64, end: f64) -> f64 {
        if self.target_ratio == 1.0 {
            end
        } else {
            extension(start, end, self.target_ratio)
        }
    }

    /// The confluence level at bar `i` of the trendline through `(a, pa)`, `(b, pb)` and the retracement
    /// band of the swing `start → end`, if they agree within `tol`.
    #[inline]
    fn confluence(&self, i: usize, line: [f64; 4], start: f64, end: f64, tol: f64) -> Option<f64> {
        let t = Trendline::through(line[0], line[1], line[2], line[3])?.at(i as f64);
        let (lo, hi) = retracement_zone(start, end, self.zone.0, self.zone.1);
        let z = t.clamp(lo, hi);
        ((t - z).abs() <= tol).then_some(z)
    }
}

impl Signals for ToriSignals<'_> {
    fn warmup(&self) -> usize {
        self.warmup
    }

    #[inline]
    fn decide(&mut self, i: usize, position: &PositionView) -> Action {
        let c = self.candles;
        let a = self.atr[i];
        let tol = self.tolerance_atr * a;
        let (open, high, low, close) = (c.open[i], c.high[i], c.low[i], c.close[i]);
        let (l1, l2) = (self.low1.price[i], self.low0.price[i]);
        let (h1, h2) = (self.high1.price[i], self.high0.price[i]);
        let (bl1, bl2) = (self.low1.bar[i], self.low0.bar[i]);
        let (bh1, bh2) = (self.high1.bar[i], self.high0.bar[i]);
        // Up-trend: rising lows, then a swing high after (and above) the last low.
        if l1 < l2
            && bh2 > bl2
            && h2 > l2
            && close > open
            && low > l2
            && close < h2
            && let Some(z) = self.confluence(i, [bl1, l1, bl2, l2], l2, h2, tol)
            && low <= z + tol
            && close > z
        {
            let stop = l2 - self.stop_atr * a;
            let target = self.target(l2, h2);
            return bracket_entry(Side::Long, close, stop, target, position);
        }
        // Down-trend: falling highs, then a swing low after (and below) the last high.
        if h1 > h2
            && bl2 > bh2
            && l2 < h2
            && close < open
            && high < h2
            && close > l2
            && let Some(z) = self.confluence(i, [bh1, h1, bh2, h2], h2, l2, tol)
            && high >= z - tol
            && close < z
        {
            let stop = h2 + self.stop_atr * a;
            let target = self.target(h2, l2);
            return bracket_entry(Side::Short, close, stop, target, position);
        }
        Action::Hold
    }
}

#[cfg(test)]
mod tests {
    use super::super::testkit::{candles, entry, mirror, params, signals};
    use super::*;

    const P: &[(&str, &str)] = &[
        ("pivot_left", "1"),
        ("pivot_right", "1"),
        ("atr_n", "2"),
        ("stop_atr", "0"),
    ];

    /// Pivot lows 100 (bar 2) and 104 (bar 6, confirmed at 7): a trendline rising 1 a bar, at 109 on
    /// bar 11. Pivot high 114 at bar 10 (confirmed at 11): the swing 104 → 114 has its 0.5–0.618 band at
    /// 107.82..109, so the line meets the band at 109. Bar 11 is `last`.
    fn setup(last: (f64, f64, f64, f64)) -> Vec<(f64, f64, f64, f64)> {
        vec![
            (103.0, 104.0, 102.0, 103.0),
            (102.0, 103.0, 101.0, 101.5),
            (101.0, 102.0, 100.0, 101.8),
            (102.0, 104.0, 101.0, 103.5),
            (103.5, 106.0, 103.0, 105.5),
            (105.5, 105.8, 104.5, 105.0),
            (105.0, 105.5, 104.0, 105.2),
            (105.2, 108.0, 105.0, 107.5),
            (107.5, 110.0, 107.0, 109.5),
            (109.5, 112.0, 109.0, 111.5),
            (111.5, 114.0, 111.0, 113.0),
            last,
        ]
    }

    /// Dips to 108.8 (under the level 109 + tolerance), closes bullish at 110.5 above it.
    const REJECT: (f64, f64, f64, f64) = (110.0, 111.0, 108.8, 110.5);

    #[test]
    fn confluence_rejection_goes_long_to_the_swing_high() {
        let c = candles(&setup(REJECT), &[]);
        let s = signals(&Tori, &c, &params(&Tori, P));
        assert_eq!(s.len(), 1, "{s:?}");
        let e = entry(&s[0].1);
        assert_eq!(
            (s[0].0, e.side, e.stop, e.target),
            (11, Side::Long, Some(104.0), Some(114.0))
        );
        // The 1.618 extension of 104 → 114: 104 + 16.18.
        let ext = params(
            &Tori,
            &[
                ("pivot_left", "1"),
                ("pivot_right", "1"),
                ("atr_n", "2"),
                ("target", "ext1618"),
            ],
        );
        let e = entry(&signals(&Tori, &c, &ext)[0].1);
        assert!((e.target.unwrap() - 120.18).abs() < 1e-9);
        // Mirror image: falling highs, a swing down, a bearish rejection of the level → short.
        let m = mirror(&c, 300.0);
        let s = signals(&Tori, &m, &params(&Tori, P));
        assert_eq!(s.len(), 1, "{s:?}");
        let e = entry(&s[0].1);
        assert_eq!(
            (s[0].0, e.side, e.stop, e.target),
            (11, Side::Short, Some(196.0), Some(186.0))
        );
    }

    #[test]
    fn near_misses_do_not_trade() {
        let p = params(&Tori, P);
        let none =
            |bars: Vec<(f64, f64, f64, f64)>| signals(&Tori, &candles(&bars, &[]), &p).is_empty();
        // Closes under the level 109.
        assert!(none(setup((108.5, 111.0, 108.5, 108.9))));
        // A bearish bar does not reject.
        assert!(none(setup((111.0, 111.0, 108.8, 110.5))));
        // Breaks the swing low 104.
        assert!(none(setup((105.0, 111.0, 103.9, 110.5))));
        // Never comes near the level: low 111.5 > 109 + tolerance (half of an ATR(2) of about 2.3).
        assert!(none(setup((111.8, 113.0, 111.5, 112.5))));
        // No confluence: a first low of 90 makes the line rise 3.5 a bar, to 121.5 on bar 11.
        let mut steep = setup(REJECT);
        steep[2] = (101.0, 102.0, 90.0, 101.8);
        assert!(none(steep));
        // The pivot high is not confirmed yet on bar 10: nothing can fire before bar 11.
        let c = candles(&setup(REJECT), &[]);
        assert!(signals(&Tori, &c.slice(0..11), &p).is_empty());
    }

    #[test]
    fn zone_edges_must_be_ordered() {
        let o = [("zone_min".to_string(), "0.7".to_string())];
        assert!(super::super::resolve_params(&Tori, &o).is_err());
    }
}
