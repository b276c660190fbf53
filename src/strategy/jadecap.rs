//! `jadecap` — multi-timeframe trend following: the higher timeframe sets the trend, the base timeframe
//! times a pullback entry.
//!
//! # Higher timeframe
//! Every `htf_bars` consecutive base bars (counted from the first bar of the data) make one
//! higher-timeframe (HTF) bar ([`crate::candles::resample::resample_bars`]). The trend at base bar `i`
//! comes from the latest HTF bar that has **closed** by bar `i`'s close — never the forming one:
//! **up** when EMA(HTF close, `htf_fast`) > EMA(HTF close, `htf_slow`), **down** when below.
//!
//! # Entries (at the close of bar `i`)
//! With `E` = EMA(close, `ema_n`) on the base timeframe:
//! - **Long** in an up-trend on a pullback to `E` that holds: the previous close was above `E`, this
//!   bar's low reached `E` (`low[i] ≤ E[i]`), and it closed back above (`close[i] > E[i]`).
//! - **Short** in a down-trend, mirrored: previous close below `E`, `high[i] ≥ E[i]`, `close[i] < E[i]`.
//!
//! Stop `atr_stop × ATR(atr_n)` from the close; target `rr` times that risk on the other side. A signal
//! in the direction of the open position is ignored; an opposite one reverses. Exits are the stop and
//! the target.
//!
//! # Parameters
//! | name | meaning | default | search |
//! |---|---|---|---|
//! | `htf_bars` | base bars per higher-timeframe bar | 4 | 2..=12:2 |
//! | `htf_fast` | HTF fast EMA length (HTF bars) | 9 | 5..=20:5 |
//! | `htf_slow` | HTF slow EMA length (HTF bars), above `htf_fast` | 21 | 20..=60:10 |
//! | `ema_n` | base-timeframe pullback EMA length | 20 | 10..=50:10 |
//! | `atr_n` | bars in Wilder's ATR | 14 | 7..=28:7 |
//! | `atr_stop` | stop distance from the close, in ATRs | 1.5 | 0.5..=3:0.5 |
//! | `rr` | reward:risk of the target | 2 | 1..=4:0.5 |

use super::{ParamSpec, Params, Strategy, bracket_entry, warmup_of};
use crate::candles::Candles;
use crate::candles::resample::resample_bars;
use crate::engine::{Action, PositionView, Signals};
use crate::error::{Error, Result};
use crate::indicators;
use crate::indicators::{IndicatorCache, Series};
use crate::trade::Side;

/// The JadeCap strategy (registry name `jadecap`).
#[derive(Debug, Clone, Copy, Default)]
pub struct JadeCap;

const PARAMS: &[ParamSpec] = &[
    ParamSpec::int(
        "htf_bars",
        4,
        (2, 10_000),
        (2, 12, 2),
        "base bars per higher-timeframe bar",
    ),
    ParamSpec::int(
        "htf_fast",
        9,
        (1, 10_000),
        (5, 20, 5),
        "fast EMA of the higher-timeframe close, in higher-timeframe bars",
    ),
    ParamSpec::int(
        "htf_slow",
        21,
        (2, 10_000),
        (20, 60, 10),
        "slow EMA of the higher-timeframe close, in higher-timeframe bars (must exceed htf_fast)",
    ),
    ParamSpec::int(
        "ema_n",
        20,
        (1, 10_000),
        (10, 50, 10),
        "base-timeframe EMA that pullbacks must touch",
    ),
    ParamSpec::int("atr_n", 14, (1, 10_000), (7, 28, 7), "bars in Wilder's ATR"),
    ParamSpec::float(
        "atr_stop",
        1.5,
        (0.05, 20.0),
        (0.5, 3.0, 0.5),
        "stop distance from the entry close, in ATRs",
    ),
    ParamSpec::float(
        "rr",
        2.0,
        (0.1, 50.0),
        (1.0, 4.0, 0.5),
        "reward:risk multiple that places the target",
    ),
];

impl Strategy for JadeCap {
    fn name(&self) -> &'static str {
        "jadecap"
    }

    fn summary(&self) -> &'static str {
        "higher-timeframe EMA trend, base-timeframe pullback to the EMA; ATR stop, reward:risk target"
    }

    fn params(&self) -> &'static [ParamSpec] {
        PARAMS
    }

    fn check(&self, params: &Params) -> Result<()> {
        params.require_below("htf_fast", "htf_slow")
    }

    fn prepare<'a>(
        &self,
        candles: &'a Candles,
        params: &Params,
        cache: &IndicatorCache,
    ) -> Result<Box<dyn Signals + 'a>> {
        Ok(Box::new(JadeCapSignals::new(candles, params, cache)?))
    }
}

/// EMA(HTF close, `n`) of `htf_bars`-bar groups, seen from each base bar (latest closed HTF bar only).
pub fn htf_ema_on_base(
    candles: &Candles,
    cache: &IndicatorCache,
    htf_bars: usize,
    n: usize,
) -> Result<Series> {
    if htf_bars == 0 {
        return Err(Error::usage("parameter `htf_bars`: must be at least 1"));
    }
    Ok(cache.get_or_compute(
        &format!("htf_bars({htf_bars}):ema(close,{n})"),
        || match resample_bars(candles, htf_bars) {
            Ok(r) => r.on_base(&indicators::ema(&r.candles.close, n)),
            Err(_) => vec![f64::NAN; candles.len()],
        },
    ))
}

/// The per-bar half of [`JadeCap`].
#[derive(Debug, Clone)]
pub struct JadeCapSignals<'a> {
    htf_fast: Series,
    htf_slow: Series,
    ema: Series,
    atr: Series,
    candles: &'a Candles,
    atr_stop: f64,
    rr: f64,
    warmup: usize,
}

impl<'a> JadeCapSignals<'a> {
    /// Fetches (or computes) the HTF EMAs on the base bars, the base EMA and the ATR.
    pub fn new(c: &'a Candles, p: &Params, cache: &IndicatorCache) -> Result<JadeCapSignals<'a>> {
        let k = p.int("htf_bars") as usize;
        let htf_fast = htf_ema_on_base(c, cache, k, p.int("htf_fast") as usize)?;
        let htf_slow = htf_ema_on_base(c, cache, k, p.int("htf_slow") as usize)?;
        let ema = cache.ema("close", &c.close, p.int("ema_n") as usize);
        let atr = cache.atr(c, p.int("atr_n") as usize);
        let warmup = warmup_of(&[&htf_fast, &htf_slow, &ema, &atr]);
        Ok(JadeCapSignals {
            htf_fast,
            htf_slow,
            ema,
            atr,
            candles: c,
            atr_stop: p.float("atr_stop"),
            rr: p.float("rr"),
            warmup,
        })
    }

    /// The higher-timeframe trend seen at bar `i`: +1 up, −1 down, 0 none/undefined.
    pub fn trend(&self, i: usize) -> i8 {
        let (f, s) = (self.htf_fast[i], self.htf_slow[i]);
        if f > s {
            1
        } else if f < s {
            -1
        } else {
            0
        }
    }
}

impl Signals for JadeCapSignals<'_> {
    fn warmup(&self) -> usize {
        self.warmup
    }

    #[inline]
    fn decide(&mut self, i: usize, position: &PositionView) -> Action {
        if i == 0 {
            return Action::Hold;
        }
        let c = self.candles;
        let (e, e_prev, close) = (self.ema[i], self.ema[i - 1], c.close[i]);
        let risk = self.atr_stop * self.atr[i];
        match self.trend(i) {
            1 if c.close[i - 1] > e_prev && c.low[i] <= e && close > e => {
                let stop = close - risk;
                bracket_entry(Side::Long, close, stop, close + self.rr * risk, position)
            }
            -1 if c.close[i - 1] < e_prev && c.high[i] >= e && close < e => {
                let stop = close + risk;
                bracket_entry(Side::Short, close, stop, close - self.rr * risk, position)
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

    const P: &[(&str, &str)] = &[
        ("htf_bars", "2"),
        ("htf_fast", "2"),
        ("htf_slow", "3"),
        ("ema_n", "3"),
        ("atr_n", "3"),
    ];

    /// Closes 100, 101, … 115 (bars 0–15) with lows 0.6 under the close: EMA(3) of a line of slope 1
    /// seeded at its mean is exactly close − 1 (seed (100+101+102)/3 = 101 = 102 − 1, and
    /// (c − 2) + ½·2 = c − 1 after), so no low touches it. Bar 16 is `last`; EMA(3) there is
    /// 114 + ½·(close − 114).
    fn setup(last: (f64, f64, f64, f64)) -> Vec<(f64, f64, f64, f64)> {
        let mut b: Vec<_> = (0..16)
            .map(|i| {
                let c = 100.0 + i as f64;
                (c - 0.4, c + 0.2, c - 0.6, c)
            })
            .collect();
        b.push(last);
        b
    }

    /// Low 113.5 under EMA 114.9 (= 114 + ½·1.8), close 115.8 back above; the previous close 115 was
    /// above its EMA 114.
    const PULLBACK: (f64, f64, f64, f64) = (115.5, 116.0, 113.5, 115.8);

    #[test]
    fn a_pullback_to_the_ema_in_an_up_trend_goes_long() {
        let c = candles(&setup(PULLBACK), &[]);
        let s = signals(&JadeCap, &c, &params(&JadeCap, P));
        assert_eq!(s.len(), 1, "{s:?}");
        assert_eq!(s[0].0, 16);
        let e = entry(&s[0].1);
        let atr = indicators::atr(&c.high, &c.low, &c.close, 3)[16];
        assert_eq!(e.side, Side::Long);
        assert!(close_to(e.stop.unwrap(), 115.8 - 1.5 * atr));
        assert!(close_to(e.target.unwrap(), 115.8 + 2.0 * 1.5 * atr));
        // Mirror image: a rally to the EMA in a down-trend goes short.
        let m = mirror(&c, 300.0);
        let s = signals(&JadeCap, &m, &params(&JadeCap, P));
        assert_eq!(s.len(), 1, "{s:?}");
        let e = entry(&s[0].1);
        assert_eq!((s[0].0, e.side), (16, Side::Short));
        assert!(close_to(e.stop.unwrap(), (300.0 - 115.8) + 1.5 * atr));
    }

    #[test]
    fn near_misses_do_not_trade() {
        let p = params(&JadeCap, P);
        // Closes just back above the EMA (114.2 > 114 + ½·0.2 = 114.1): still a long; closing at 113.9
        // (EMA 113.95) is a break of the EMA, not a pullback that held.
        let held = candles(&setup((115.5, 116.0, 113.5, 114.2)), &[]);
        assert_eq!(signals(&JadeCap, &held, &p).len(), 1);
        let under = candles(&setup((115.5, 116.0, 113.5, 113.9)), &[]);
        assert!(signals(&JadeCap, &under, &p).is_empty());
        // The low stays above the EMA: no pullback.
        let above = candles(&setup((115.5, 116.5, 115.2, 116.2)), &[]);
        assert!(signals(&JadeCap, &above, &p).is_empty());
        // The same pullback before the higher timeframe has a trend (8-bar HTF bars: slow EMA of 3 HTF
        // bars needs 24 base bars).
        let early = params(
            &JadeCap,
            &[
                ("htf_bars", "8"),
                ("htf_fast", "2"),
                ("htf_slow", "3"),
                ("ema_n", "3"),
                ("atr_n", "3"),
            ],
        );
        assert!(signals(&JadeCap, &candles(&setup(PULLBACK), &[]), &early).is_empty());
        // A pullback against the higher-timeframe trend: the mirrored (falling) series with a long-shaped bar.
        let mut down = mirror(&candles(&setup(PULLBACK), &[]), 300.0);
        let last = down.len() - 1;
        (
            down.open[last],
            down.high[last],
            down.low[last],
            down.close[last],
        ) = (184.5, 186.0, 183.5, 185.0);
        assert!(
            signals(&JadeCap, &down, &p)
                .iter()
                .all(|(_, a)| entry(a).side == Side::Short)
        );
    }

    #[test]
    fn htf_fast_must_be_below_slow() {
        let o = [("htf_fast".to_string(), "30".to_string())];
        assert!(super::super::resolve_params(&JadeCap, &o).is_err());
    }
}
