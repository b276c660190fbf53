//! Strategies: the [`Strategy`] trait, the registry of built-in strategies, and one file per strategy.
//!
//! # The contract
//!
//! A strategy works in two phases so that indicator work is shared and the per-bar decision is cheap:
//!
//! 1. **Prepare** — [`Strategy::prepare`] runs once per backtest. It computes (or fetches from the
//!    [`IndicatorCache`], which an optimizer shares between all candidates on one data set) every series
//!    it needs, and returns a [`Signals`] value holding them (shared [`Series`](crate::indicators::Series), borrowed candle
//!    columns, resampled higher-timeframe series, …). Anything that allocates happens here.
//! 2. **Decide** — the engine calls [`Signals::decide`] at the close of each bar `i` from
//!    `warmup() + 1` on. It reads plain slices at indices `0..=i` only (never `i + 1`: a strategy must not
//!    see the future), looks at the current [`PositionView`], and returns an [`Action`]. It allocates
//!    nothing.
//!
//! An [`Action::Enter`] may carry a stop and a target price; with exclusive orders (the only mode) an
//! entry first closes any open position, then opens the new one at the same fill. [`Action::Exit`]
//! closes the position. Fill timing, costs, sizing and stop handling belong to the engine
//! ([`crate::backtest`]), not to strategies.
//!
//! Multi-timeframe strategies resample inside `prepare` and must map each base bar only to
//! higher-timeframe bars that have *closed* by that bar's close.

pub mod fabio;
pub mod jadecap;
pub mod nbb;
pub mod params;
pub mod signals;
pub mod sma_cross;
pub mod tori;

pub use params::{ParamKind, ParamSpec, ParamValue, Params};

use crate::candles::Candles;
use crate::engine::{Action, Entry, PositionView, Signals};
use crate::error::{Error, Result};
use crate::indicators::IndicatorCache;
use crate::trade::Side;

/// A trading strategy: its parameters and how it turns candles into [`Signals`].
pub trait Strategy: Send + Sync {
    /// Registry name (`sma_cross`).
    fn name(&self) -> &'static str;

    /// One line saying what it does.
    fn summary(&self) -> &'static str;

    /// Declared parameters with types, defaults, valid bounds and search ranges.
    fn params(&self) -> &'static [ParamSpec];

    /// Checks relations between parameters (each one is already within its own bounds). The error
    /// names the parameters involved.
    fn check(&self, _params: &Params) -> Result<()> {
        Ok(())
    }

    /// Computes (or fetches from `cache`) every indicator for `candles` and returns the per-bar decider.
    fn prepare<'a>(
        &self,
        candles: &'a Candles,
        params: &Params,
        cache: &IndicatorCache,
    ) -> Result<Box<dyn Signals + 'a>>;
}

/// Every built-in strategy, in listing order.
pub fn registry() -> &'static [&'static dyn Strategy] {
    static ALL: [&dyn Strategy; 6] = [
        &sma_cross::SmaCross,
        &nbb::Nbb,
        &jadecap::JadeCap,
        &fabio::Fabio,
        &tori::Tori,
        &signals::SignalsFile,
    ];
    &ALL
}

/// Names of the built-in strategies.
pub fn names() -> Vec<&'static str> {
    registry().iter().map(|s| s.name()).collect()
}

/// The strategy called `name`; an unknown name is a usage error listing the available ones.
pub fn lookup(name: &str) -> Result<&'static dyn Strategy> {
    registry()
        .iter()
        .copied()
        .find(|s| s.name() == name)
        .ok_or_else(|| {
            Error::usage(format!(
                "unknown strategy `{name}`; available: {} (see `flowrex backtest --list-strategies`)",
                names().join(", ")
            ))
        })
}

/// Resolves `overrides` against `strategy`'s declared parameters and runs its cross-parameter check.
pub fn resolve_params(strategy: &dyn Strategy, overrides: &[(String, String)]) -> Result<Params> {
    let params = Params::resolve(strategy.params(), overrides)?;
    strategy.check(&params)?;
    Ok(params)
}

/// A bracketed entry (stop and target) decided at a bar whose close is `reference`, or `Hold` when it
/// is unsound or redundant: a level that is not finite, a stop or target not strictly on its side of
/// `reference` (below/above for a long, above/below for a short), or a position already open on `side`.
#[inline]
pub fn bracket_entry(
    side: Side,
    reference: f64,
    stop: f64,
    target: f64,
    position: &PositionView,
) -> Action {
    let s = side.sign();
    let sound = stop.is_finite()
        && target.is_finite()
        && s * (reference - stop) > 0.0
        && s * (target - reference) > 0.0;
    if !sound || position.units * s > 0.0 {
        return Action::Hold;
    }
    Action::Enter(Entry {
        side,
        stop: Some(stop),
        target: Some(target),
        size: None,
    })
}

/// The reference warm-up of a set of indicator series: the largest index of a first defined value
/// (`max_k argmin(isnan(series_k))`). A series that is never defined counts as 0, as numpy's `argmin`
/// of an all-true mask does.
pub fn warmup_of(series: &[&[f64]]) -> usize {
    series
        .iter()
        .map(|s| s.iter().position(|v| !v.is_nan()).unwrap_or(0))
        .max()
        .unwrap_or(0)
}

/// Helpers for the strategies' hand-built tests.
#[cfg(test)]
pub(crate) mod testkit {
    use super::*;
    use crate::candles::{Bar, DAY_MS};

    /// One bar's `(open, high, low, close)`.
    pub type Ohlc = (f64, f64, f64, f64);

    /// Daily bars `(open, high, low, close)` from 2020-01-06, each with `volume` (or 1).
    pub fn candles(bars: &[Ohlc], volume: &[f64]) -> Candles {
        Candles::from_bars(
            &bars
                .iter()
                .enumerate()
                .map(|(i, &(open, high, low, close))| Bar {
                    ts: 1_578_268_800_000 + i as i64 * DAY_MS,
                    open,
                    high,
                    low,
                    close,
                    volume: volume.get(i).copied().unwrap_or(1.0),
                })
                .collect::<Vec<_>>(),
        )
    }

    /// The same bars reflected about `axis` (`p → axis − p`, high and low swapped): every long setup
    /// becomes the mirror-image short one.
    pub fn mirror(c: &Candles, axis: f64) -> Candles {
        let f = |v: &Vec<f64>| v.iter().map(|p| axis - p).collect::<Vec<_>>();
        Candles {
            ts: c.ts.clone(),
            open: f(&c.open),
            high: f(&c.low),
            low: f(&c.high),
            close: f(&c.close),
            volume: c.volume.clone(),
        }
    }

    /// Defaults of `s` with `overrides`.
    pub fn params(s: &dyn Strategy, overrides: &[(&str, &str)]) -> Params {
        let o: Vec<(String, String)> = overrides
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect();
        resolve_params(s, &o).unwrap()
    }

    /// Every non-`Hold` decision (seen flat) from the first decision bar on, with its bar.
    pub fn signals(s: &dyn Strategy, c: &Candles, p: &Params) -> Vec<(usize, Action)> {
        let mut sig = s.prepare(c, p, &IndicatorCache::new()).unwrap();
        let flat = PositionView::default();
        (sig.warmup() + 1..c.len())
            .map(|i| (i, sig.decide(i, &flat)))
            .filter(|(_, a)| *a != Action::Hold)
            .collect()
    }

    /// The entry of `a`, which must be one.
    pub fn entry(a: &Action) -> Entry {
        match a {
            Action::Enter(e) => *e,
            other => panic!("expected an entry, got {other:?}"),
        }
    }

    /// `a` and `b` equal within 1e-9.
    pub fn close_to(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-9 * b.abs().max(1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_lists_available_strategies() {
        assert_eq!(lookup("sma_cross").unwrap().name(), "sma_cross");
        assert_eq!(
            names(),
            ["sma_cross", "nbb", "jadecap", "fabio", "tori", "signals"]
        );
        let e = lookup("nope").err().expect("unknown name").to_string();
        assert!(
            e.contains("unknown strategy `nope`") && e.contains("sma_cross"),
            "{e}"
        );
    }

    #[test]
    fn bracket_entries_must_be_sound_and_new() {
        let flat = PositionView::default();
        let long = PositionView {
            units: 5.0,
            ..PositionView::default()
        };
        assert_eq!(
            bracket_entry(Side::Long, 100.0, 95.0, 110.0, &flat),
            Action::Enter(Entry::long().with_stop(95.0).with_target(110.0))
        );
        assert_eq!(
            bracket_entry(Side::Long, 100.0, 95.0, 110.0, &long),
            Action::Hold
        );
        assert_eq!(
            bracket_entry(Side::Long, 100.0, 101.0, 110.0, &flat),
            Action::Hold
        );
        assert_eq!(
            bracket_entry(Side::Long, 100.0, 95.0, 100.0, &flat),
            Action::Hold
        );
        assert_eq!(
            bracket_entry(Side::Long, 100.0, f64::NAN, 110.0, &flat),
            Action::Hold
        );
        assert!(matches!(
            bracket_entry(Side::Short, 100.0, 105.0, 90.0, &long),
            Action::Enter(_)
        ));
        assert_eq!(
            bracket_entry(Side::Short, 100.0, 95.0, 90.0, &flat),
            Action::Hold
        );
    }

    #[test]
    fn warmup_is_the_latest_first_defined_index() {
        let a = [f64::NAN, 1.0, 2.0];
        let b = [f64::NAN, f64::NAN, 2.0];
        assert_eq!(warmup_of(&[&a, &b]), 2);
        assert_eq!(warmup_of(&[&[f64::NAN, f64::NAN]]), 0);
        assert_eq!(warmup_of(&[]), 0);
    }
}
