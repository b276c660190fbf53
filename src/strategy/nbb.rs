//! `nbb` — "No Bullshit Breaker": trade the break of a supply or demand zone.
//!
//! # Zones
//! A zone is a **base** — `base_bars` consecutive small candles, each with a high–low range of at most
//! `base_atr × ATR` — followed by an **impulse** candle whose range is at least `impulse_atr × ATR` and
//! which closes beyond the base (ATR is Wilder's ATR(`atr_n`) of the bar *before* the impulse, so the
//! impulse does not inflate its own yardstick). The zone spans the base: from its lowest low to its
//! highest high. It exists from the close of the impulse bar on.
//! - A bullish impulse (close above the base's high, close > open) leaves a **demand** zone below price.
//! - A bearish impulse (close below the base's low, close < open) leaves a **supply** zone above price.
//!
//! Only the most recent zone of each kind is tracked; a new one replaces it, and a zone older than
//! `max_age` bars is dropped.
//!
//! # Entries (at the close of bar `i`, for a zone formed before `i`)
//! - **Supply broken → long**: `close[i]` above the supply zone's top. Stop `stop_atr × ATR(i)` below
//!   the zone's bottom (its far edge); target `close + rr × (close − stop)`.
//! - **Demand broken → short**: `close[i]` below the demand zone's bottom. Stop `stop_atr × ATR(i)`
//!   above the zone's top; target `close − rr × (stop − close)`.
//!
//! A broken zone is used up whether or not it is traded. A bar that breaks both zones the opposite ways
//! does nothing. A signal in the direction of the open position is ignored (its bracket stays); an
//! opposite one reverses. Exits are the stop and the target (handled by the engine).
//!
//! # Parameters
//! | name | meaning | default | search |
//! |---|---|---|---|
//! | `atr_n` | bars in Wilder's ATR | 14 | 7..=28:7 |
//! | `base_bars` | candles in a base | 2 | 1..=4:1 |
//! | `base_atr` | largest base-candle range, in ATRs | 0.8 | 0.4..=1.2:0.2 |
//! | `impulse_atr` | smallest impulse-candle range, in ATRs | 1.5 | 1..=3:0.25 |
//! | `max_age` | bars a zone stays valid | 100 | 20..=200:20 |
//! | `stop_atr` | stop distance beyond the zone's far edge, in ATRs | 0.25 | 0..=1:0.25 |
//! | `rr` | reward:risk of the target | 2 | 1..=4:0.5 |

use super::{ParamSpec, Params, Strategy, bracket_entry};
use crate::candles::Candles;
use crate::engine::{Action, PositionView, Signals};
use crate::error::Result;
use crate::indicators::IndicatorCache;
use crate::trade::Side;

/// The NBB strategy (registry name `nbb`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Nbb;

const PARAMS: &[ParamSpec] = &[
    ParamSpec::int(
        "atr_n",
        14,
        (1, 10_000),
        (7, 28, 7),
        "bars in Wilder's ATR, the yardstick for base and impulse candles",
    ),
    ParamSpec::int(
        "base_bars",
        2,
        (1, 50),
        (1, 4, 1),
        "consecutive small candles that form a base",
    ),
    ParamSpec::float(
        "base_atr",
        0.8,
        (0.01, 10.0),
        (0.4, 1.2, 0.2),
        "largest high-low range of a base candle, in ATRs",
    ),
    ParamSpec::float(
        "impulse_atr",
        1.5,
        (0.1, 20.0),
        (1.0, 3.0, 0.25),
        "smallest high-low range of the impulse candle leaving the base, in ATRs",
    ),
    ParamSpec::int(
        "max_age",
        100,
        (1, 1_000_000),
        (20, 200, 20),
        "bars a zone stays valid after its impulse",
    ),
    ParamSpec::float(
        "stop_atr",
        0.25,
        (0.0, 20.0),
        (0.0, 1.0, 0.25),
        "stop distance beyond the zone's far edge, in ATRs",
    ),
    ParamSpec::float(
        "rr",
        2.0,
        (0.1, 50.0),
        (1.0, 4.0, 0.5),
        "reward:risk multiple that places the target",
    ),
];

impl Strategy for Nbb {
    fn name(&self) -> &'static str {
        "nbb"
    }

    fn summary(&self) -> &'static str {
        "supply/demand breaker: long when price closes through a supply zone, short through a demand zone"
    }

    fn params(&self) -> &'static [ParamSpec] {
        PARAMS
    }

    fn prepare<'a>(
        &self,
        candles: &'a Candles,
        params: &Params,
        cache: &IndicatorCache,
    ) -> Result<Box<dyn Signals + 'a>> {
        Ok(Box::new(NbbSignals::new(
            candles,
            &NbbParams::from(params),
            cache,
        )))
    }
}

/// The resolved parameters of [`Nbb`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NbbParams {
    /// Bars in the ATR.
    pub atr_n: usize,
    /// Candles in a base.
    pub base_bars: usize,
    /// Largest base-candle range in ATRs.
    pub base_atr: f64,
    /// Smallest impulse-candle range in ATRs.
    pub impulse_atr: f64,
    /// Bars a zone stays valid.
    pub max_age: usize,
    /// Stop distance beyond the far edge in ATRs.
    pub stop_atr: f64,
    /// Reward:risk of the target.
    pub rr: f64,
}

impl From<&Params> for NbbParams {
    fn from(p: &Params) -> Self {
        NbbParams {
            atr_n: p.int("atr_n") as usize,
            base_bars: p.int("base_bars") as usize,
            base_atr: p.float("base_atr"),
            impulse_atr: p.float("impulse_atr"),
            max_age: p.int("max_age") as usize,
            stop_atr: p.float("stop_atr"),
            rr: p.float("rr"),
        }
    }
}

/// A supply or demand zone: the price span of a base, and the bar of the impulse that left it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Zone {
    /// Highest high of the base.
    pub top: f64,
    /// Lowest low of the base.
    pub bottom: f64,
    /// Bar index of the impulse candle.
    pub formed: usize,
}

/// The per-bar half of [`Nbb`]: the bars on which a zone breaks, with their bracket, found in one
/// causal pass at prepare time (each uses only bars up to its own).
#[derive(Debug, Clone)]
pub struct NbbSignals<'a> {
    /// `(bar, side, stop, target)`, sorted by bar.
    signals: Vec<(usize, Side, f64, f64)>,
    /// The first signal not yet behind the bar being decided (the engine asks bars in order).
    cursor: usize,
    close: &'a [f64],
    warmup: usize,
}

/// Every zone break of `c`: flat triples `(bar, side, far edge)` with side `+1` (supply broken upwards
/// → long; the edge is the zone's bottom) or `−1` (demand broken downwards → short; the edge is its
/// top). It depends only on the zone parameters, not on `stop_atr` or `rr`, so optimizer candidates
/// that differ only in their bracket share one scan through the cache.
fn zone_breaks(c: &Candles, atr: &[f64], p: &NbbParams) -> Vec<f64> {
    let mut out = Vec::new();
    let (mut supply, mut demand): (Option<Zone>, Option<Zone>) = (None, None);
    for i in 1..c.len() {
        // 1. Breaks of zones formed before this bar.
        for z in [&mut supply, &mut demand] {
            if z.is_some_and(|z| i - z.formed > p.max_age) {
                *z = None;
            }
        }
        let close = c.close[i];
        let up = supply.filter(|z| close > z.top);
        let down = demand.filter(|z| close < z.bottom);
        if up.is_some() {
            supply = None;
        }
        if down.is_some() {
            demand = None;
        }
        match (up, down) {
            (Some(z), None) if atr[i].is_finite() => out.extend([i as f64, 1.0, z.bottom]),
            (None, Some(z)) if atr[i].is_finite() => out.extend([i as f64, -1.0, z.top]),
            _ => {}
        }
        // 2. A new zone left by an impulse at this bar.
        if let Some((zone, bullish)) = zone_at(c, atr, p, i) {
            if bullish {
                demand = Some(zone);
            } else {
                supply = Some(zone);
            }
        }
    }
    out
}

impl<'a> NbbSignals<'a> {
    /// Finds every zone and every break (through `cache`), then sets each break's bracket.
    pub fn new(c: &'a Candles, p: &NbbParams, cache: &IndicatorCache) -> NbbSignals<'a> {
        let atr = cache.atr(c, p.atr_n);
        let key = format!(
            "nbb_breaks(atr_n={},base_bars={},base_atr={},impulse_atr={},max_age={})",
            p.atr_n, p.base_bars, p.base_atr, p.impulse_atr, p.max_age
        );
        let breaks = cache.get_or_compute(&key, || zone_breaks(c, &atr, p));
        let signals = breaks
            .chunks_exact(3)
            .map(|t| {
                let (i, edge) = (t[0] as usize, t[2]);
                let (a, close) = (atr[i], c.close[i]);
                if t[1] > 0.0 {
                    let stop = edge - p.stop_atr * a;
                    (i, Side::Long, stop, close + p.rr * (close - stop))
                } else {
                    let stop = edge + p.stop_atr * a;
                    (i, Side::Short, stop, close - p.rr * (stop - close))
                }
            })
            .collect();
        NbbSignals {
            signals,
            cursor: 0,
            close: &c.close,
            warmup: p.atr_n + p.base_bars,
        }
    }

    /// The bars with a signal: `(bar, side, stop, target)`.
    pub fn signals(&self) -> &[(usize, Side, f64, f64)] {
        &self.signals
    }
}

/// The zone whose impulse candle is bar `i`, and whether it is bullish (a demand zone); `None` when bar
/// `i` is not an impulse out of a base.
pub fn zone_at(c: &Candles, atr: &[f64], p: &NbbParams, i: usize) -> Option<(Zone, bool)> {
    if i < p.base_bars + 1 {
        return None;
    }
    let a = atr[i - 1];
    if !(a.is_finite() && a > 0.0) {
        return None;
    }
    let range = c.high[i] - c.low[i];
    if range < p.impulse_atr * a {
        return None;
    }
    let (mut top, mut bottom) = (f64::NEG_INFINITY, f64::INFINITY);
    for j in i - p.base_bars..i {
        if c.high[j] - c.low[j] > p.base_atr * a {
            return None;
        }
        top = top.max(c.high[j]);
        bottom = bottom.min(c.low[j]);
    }
    let zone = Zone {
        top,
        bottom,
        formed: i,
    };
    let (open, close) = (c.open[i], c.close[i]);
    if close > top && close > open {
        Some((zone, true))
    } else if close < bottom && close < open {
        Some((zone, false))
    } else {
        None
    }
}

impl Signals for NbbSignals<'_> {
    fn warmup(&self) -> usize {
        self.warmup
    }

    #[inline]
    fn decide(&mut self, i: usize, position: &PositionView) -> Action {
        // Bars come in order, so the cursor only moves forward; a bar asked out of order searches.
        if self.cursor > 0 && self.signals[self.cursor - 1].0 >= i {
            self.cursor = self.signals.partition_point(|s| s.0 < i);
        }
        while self.signals.get(self.cursor).is_some_and(|s| s.0 < i) {
            self.cursor += 1;
        }
        match self.signals.get(self.cursor) {
            Some(&(bar, side, stop, target)) if bar == i => {
                bracket_entry(side, self.close[i], stop, target, position)
            }
            _ => Action::Hold,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testkit::{candles, close_to, entry, mirror, params, signals};
    use super::*;
    use crate::indicators;

    const P: &[(&str, &str)] = &[("atr_n", "3"), ("base_bars", "2"), ("rr", "2")];

    /// Five bars of range 2 (ATR 2), a base of two range-1 bars (5, 6), a bearish impulse (7) that
    /// leaves a supply zone 99.5..100.5, a rally (8, 9 closes just under the zone) and `last` (bar 10).
    fn setup(last: (f64, f64, f64, f64)) -> Vec<(f64, f64, f64, f64)> {
        let mut b = vec![(100.0, 101.0, 99.0, 100.0); 5];
        b.push((100.0, 100.5, 99.5, 100.0));
        b.push((100.0, 100.5, 99.5, 100.0));
        // ATR(3) before the impulse: 2, (2·2 + 1)/3 = 5/3, (5/3·2 + 1)/3 = 13/9 ≈ 1.44; the base ranges 1 ≤
        // 0.8·1.44 and the impulse range 3.9 ≥ 1.5·1.44; it closes below the base's low.
        b.push((99.8, 99.9, 96.0, 96.2));
        b.push((96.2, 98.0, 96.0, 97.8));
        b.push((97.8, 100.2, 97.5, 100.4));
        b.push(last);
        b
    }

    const BREAK: (f64, f64, f64, f64) = (100.4, 101.5, 100.2, 101.0);

    #[test]
    fn a_close_through_supply_goes_long_with_stop_below_the_zone() {
        let c = candles(&setup(BREAK), &[]);
        let s = signals(&Nbb, &c, &params(&Nbb, P));
        assert_eq!(s.len(), 1, "{s:?}");
        assert_eq!(s[0].0, 10);
        let e = entry(&s[0].1);
        let atr = indicators::atr(&c.high, &c.low, &c.close, 3)[10];
        let stop = 99.5 - 0.25 * atr;
        assert_eq!(e.side, Side::Long);
        assert!(close_to(e.stop.unwrap(), stop));
        assert!(close_to(e.target.unwrap(), 101.0 + 2.0 * (101.0 - stop)));
        let z = zone_at(
            &c,
            &indicators::atr(&c.high, &c.low, &c.close, 3),
            &NbbParams::from(&params(&Nbb, P)),
            7,
        );
        assert_eq!(
            z,
            Some((
                Zone {
                    top: 100.5,
                    bottom: 99.5,
                    formed: 7
                },
                false
            ))
        );
    }

    #[test]
    fn a_close_through_demand_goes_short_with_stop_above_the_zone() {
        let c = mirror(&candles(&setup(BREAK), &[]), 200.0);
        let s = signals(&Nbb, &c, &params(&Nbb, P));
        assert_eq!(s.len(), 1, "{s:?}");
        let e = entry(&s[0].1);
        let atr = indicators::atr(&c.high, &c.low, &c.close, 3)[10];
        assert_eq!((s[0].0, e.side), (10, Side::Short));
        assert!(close_to(e.stop.unwrap(), 100.5 + 0.25 * atr));
    }

    #[test]
    fn near_misses_do_not_trade() {
        let p = params(&Nbb, P);
        // The close stays inside the zone (wick through it only).
        let inside = candles(&setup((100.4, 101.5, 100.2, 100.45)), &[]);
        assert!(signals(&Nbb, &inside, &p).is_empty());
        // A base candle too wide: range 2.5 > 0.8 ATR.
        let mut wide = setup(BREAK);
        wide[6] = (100.0, 101.5, 99.0, 100.0);
        assert!(signals(&Nbb, &candles(&wide, &[]), &p).is_empty());
        // An impulse too small: range 1.1 < 1.5 ATR.
        let mut weak = setup(BREAK);
        weak[7] = (99.8, 99.9, 98.8, 99.0);
        assert!(signals(&Nbb, &candles(&weak, &[]), &p).is_empty());
        // An impulse that closes back inside the base leaves no zone.
        let mut inside_close = setup(BREAK);
        inside_close[7] = (99.8, 99.9, 96.0, 99.6);
        assert!(signals(&Nbb, &candles(&inside_close, &[]), &p).is_empty());
        // The zone has expired: three bars after the impulse with max_age 2.
        let old = params(&Nbb, &[("atr_n", "3"), ("max_age", "2")]);
        assert!(signals(&Nbb, &candles(&setup(BREAK), &[]), &old).is_empty());
    }
}
