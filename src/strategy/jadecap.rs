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

use super::{
    Action, IndicatorCache, ParamKind, ParamSpec, Params, PositionView, Series, Side, Signals,
    Strategy, bracket_entry, warmup_of,
};
use crate::candles::Candles;
use crate::candles::resample::resample_bars;
use crate::error::{Error, Result};
use crate::indicators;

/// The JadeCap strategy (registry name `jadecap`).
#[derive(Debug, Clone, Copy, Default)]
pub struct JadeCap;

const PARAMS: &[ParamSpec] = &[
    ParamSpec {
        name: "htf_bars",
        kind: ParamKind::Int {
            default: 4,
            min: 2,
            max: 10_000,
            search_min: 2,
            search_max: 12,
            step: 2,
        },
        help: "base bars per higher-timeframe bar",
    },
    ParamSpec {
        name: "htf_fast",
        kind: ParamKind::Int {
            default: 9,
            min: 1,
            max: 10_000,
            search_min: 5,
            search_max: 20,
            step: 5,
        },
        help: "fast EMA of the higher-timeframe close, in higher-timeframe bars",
    },
    ParamSpec {
        name: "htf_slow",
        kind: ParamKind::Int {
            default: 21,
            min: 2,
            max: 10_000,
            search_min: 20,
            search_max: 60,
            step: 10,
        },
        help: "slow EMA of the higher-timeframe close, in higher-timeframe bars (must exceed htf_fast)",
    },
    ParamSpec {
        name: "ema_n",
        kind: ParamKind::Int {
            default: 20,
            min: 1,
            max: 10_000,
            search_min: 10,
            search_max: 50,
            step: 10,
        },
        help: "base-timeframe EMA that pullbacks must touch",
    },
    ParamSpec {
        name: "atr_n",
        kind: ParamKind::Int {
            default: 14,
            min: 1,
            max: 10_000,
            search_min: 7,
            search_max: 28,
            step: 7,
        },
        help: "bars in Wilder's ATR",
    },
    ParamSpec {
        name: "atr_stop",
        kind: ParamKind::Float {
            default: 1.5,
            min: 0.05,
            max: 20.0,
            search_min: 0.5,
            search_max: 3.0,
            step: 0.5,
        },
        help: "stop distance from the entry close, in ATRs",
    },
    ParamSpec {
        name: "rr",
        kind: ParamKind::Float {
            default: 2.0,
            min: 0.1,
            max: 50.0,
            search_min: 1.0,
            search_max: 4.0,
            step: 0.5,
        },
        help: "reward:risk multiple that places the target",
    },
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
        let (fast, slow) = (params.int("htf_fast"), params.int("htf_slow"));
        if fast >= slow {
            return Err(Error::usage(format!(
                "parameters `htf_fast` ({fast}) and `htf_slow` ({slow}): htf_fast must be below htf_slow"
            )));
        }
        Ok(())
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
