//! `[journal]` in `flowrex.toml`: the feedback window and the underperformance thresholds. The defaults
//! are the product's four criteria (win rate below 40 %, profit factor below 1.0, 5 losses in a row, a
//! critical deviation from the backtest); like the `[risk]` soft limits, a configured threshold may only
//! tighten its default — make a criterion fire sooner, never later. The window itself is free within
//! [`MIN_WINDOW`]..=[`MAX_WINDOW`]; a window narrower than a minimum trade count lowers that minimum to
//! the window.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Default: trades in the rolling window the criteria are evaluated on.
pub const WINDOW: usize = 20;
/// Smallest window allowed.
pub const MIN_WINDOW: usize = 5;
/// Largest window allowed.
pub const MAX_WINDOW: usize = 10_000;
/// Default and loosest: win rate and profit factor are judged once the window holds this many trades.
pub const MIN_TRADES: usize = 10;
/// Default and loosest: a win rate below this (percent) meets the win-rate criterion.
pub const MIN_WIN_RATE_PCT: f64 = 40.0;
/// Default and loosest: a profit factor below this meets the profit-factor criterion.
pub const MIN_PROFIT_FACTOR: f64 = 1.0;
/// Default and loosest: this many losses in a row inside the window meet the streak criterion.
pub const MAX_CONSECUTIVE_LOSSES: u32 = 5;
/// Default and loosest: the window's mean per-trade return more than this many standard errors below the
/// backtest's meets the critical-deviation criterion.
pub const DEVIATION_SIGMAS: f64 = 2.0;
/// Default and loosest: the critical deviation is judged once the window holds this many trades.
pub const DEVIATION_MIN_TRADES: usize = 20;
/// Default: the CUSUM's reference value `k` (half the shift to detect, in standard deviations).
pub const CUSUM_K: f64 = 0.5;
/// Default and loosest: the CUSUM's decision interval `h` (standard deviations).
pub const CUSUM_H: f64 = 5.0;

/// The effective thresholds of `journal feedback`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Thresholds {
    /// Trades in the rolling window.
    pub window: usize,
    /// Trades the window needs before win rate and profit factor are judged.
    pub min_trades: usize,
    /// Win rate (percent) below which the win-rate criterion is met.
    pub min_win_rate_pct: f64,
    /// Profit factor below which the profit-factor criterion is met.
    pub min_profit_factor: f64,
    /// Losses in a row (inside the window) at which the streak criterion is met.
    pub max_consecutive_losses: u32,
    /// Standard errors below the backtest's mean return that make a critical deviation.
    pub deviation_sigmas: f64,
    /// Trades the window needs before the critical deviation is judged.
    pub deviation_min_trades: usize,
    /// CUSUM reference value `k` (standard deviations).
    pub cusum_k: f64,
    /// CUSUM decision interval `h` (standard deviations).
    pub cusum_h: f64,
    /// A CUSUM alarm disables the strategy by itself (otherwise it only advises).
    pub cusum_decides: bool,
}

/// The defaults: the product's four criteria on a 20-trade window; the CUSUM advises.
pub const DEFAULTS: Thresholds = Thresholds {
    window: WINDOW,
    min_trades: MIN_TRADES,
    min_win_rate_pct: MIN_WIN_RATE_PCT,
    min_profit_factor: MIN_PROFIT_FACTOR,
    max_consecutive_losses: MAX_CONSECUTIVE_LOSSES,
    deviation_sigmas: DEVIATION_SIGMAS,
    deviation_min_trades: DEVIATION_MIN_TRADES,
    cusum_k: CUSUM_K,
    cusum_h: CUSUM_H,
    cusum_decides: false,
};

impl Default for Thresholds {
    fn default() -> Self {
        DEFAULTS
    }
}

/// `[journal]` as written in `flowrex.toml`; every key optional.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JournalSettings {
    /// Trades in the rolling window (5..=10000; default 20).
    pub window: Option<usize>,
    /// Trades before win rate and profit factor are judged (may only be lowered; default 10).
    pub min_trades: Option<usize>,
    /// Win-rate floor in percent (may only be raised; default 40).
    pub min_win_rate_pct: Option<f64>,
    /// Profit-factor floor (may only be raised; default 1.0).
    pub min_profit_factor: Option<f64>,
    /// Losses in a row that meet the criterion (may only be lowered; default 5).
    pub max_consecutive_losses: Option<u32>,
    /// Standard errors of a critical deviation (may only be lowered; default 2).
    pub deviation_sigmas: Option<f64>,
    /// Trades before the deviation is judged (may only be lowered; default 20).
    pub deviation_min_trades: Option<usize>,
    /// CUSUM reference value k (0 < k ≤ 2; default 0.5).
    pub cusum_k: Option<f64>,
    /// CUSUM decision interval h (may only be lowered; default 5).
    pub cusum_h: Option<f64>,
    /// A CUSUM alarm disables the strategy by itself (default false: it advises).
    pub cusum_decides: Option<bool>,
}

impl JournalSettings {
    /// The effective thresholds: the defaults, tightened by every key that is set. A key that would
    /// loosen its default, or is not a usable number, is an error naming the key, the value and the default.
    pub fn effective(&self) -> Result<Thresholds> {
        let mut t = DEFAULTS;
        if let Some(w) = self.window {
            if !(MIN_WINDOW..=MAX_WINDOW).contains(&w) {
                return Err(Error::invalid(format!(
                    "[journal] window = {w} is outside {MIN_WINDOW}..={MAX_WINDOW} trades"
                )));
            }
            t.window = w;
        }
        if let Some(v) = self.min_trades {
            t.min_trades = lower_count("min_trades", v, MIN_TRADES, 1)?;
        }
        if let Some(v) = self.min_win_rate_pct {
            t.min_win_rate_pct = higher("min_win_rate_pct", v, MIN_WIN_RATE_PCT, 100.0)?;
        }
        if let Some(v) = self.min_profit_factor {
            t.min_profit_factor = higher("min_profit_factor", v, MIN_PROFIT_FACTOR, 1e6)?;
        }
        if let Some(v) = self.max_consecutive_losses {
            t.max_consecutive_losses = lower_count(
                "max_consecutive_losses",
                v as usize,
                MAX_CONSECUTIVE_LOSSES as usize,
                1,
            )? as u32;
        }
        if let Some(v) = self.deviation_sigmas {
            t.deviation_sigmas = lower_real("deviation_sigmas", v, DEVIATION_SIGMAS)?;
        }
        if let Some(v) = self.deviation_min_trades {
            t.deviation_min_trades =
                lower_count("deviation_min_trades", v, DEVIATION_MIN_TRADES, 2)?;
        }
        if let Some(k) = self.cusum_k {
            if !(k > 0.0 && k <= 2.0) {
                return Err(Error::invalid(format!(
                    "[journal] cusum_k = {k} is outside (0, 2] standard deviations"
                )));
            }
            t.cusum_k = k;
        }
        if let Some(v) = self.cusum_h {
            t.cusum_h = lower_real("cusum_h", v, CUSUM_H)?;
        }
        t.cusum_decides = self.cusum_decides.unwrap_or(false);
        // A window narrower than a minimum judges the criterion on a full window (tighter, never looser).
        t.min_trades = t.min_trades.min(t.window);
        t.deviation_min_trades = t.deviation_min_trades.min(t.window);
        Ok(t)
    }
}

fn loosens(key: &str, v: impl std::fmt::Display, default: impl std::fmt::Display) -> Error {
    Error::invalid(format!(
        "[journal] {key} = {v} would loosen the default {default}; thresholds may only be tightened"
    ))
}

/// A count that may only be lowered, down to `floor`.
fn lower_count(key: &str, v: usize, default: usize, floor: usize) -> Result<usize> {
    if v > default {
        return Err(loosens(key, v, default));
    }
    if v < floor {
        return Err(Error::invalid(format!(
            "[journal] {key} = {v} is below the smallest usable value {floor}"
        )));
    }
    Ok(v)
}

/// A positive real that may only be lowered.
fn lower_real(key: &str, v: f64, default: f64) -> Result<f64> {
    if !(v.is_finite() && v > 0.0) {
        return Err(Error::invalid(format!(
            "[journal] {key} = {v} is not a positive number"
        )));
    }
    if v > default {
        return Err(loosens(key, v, default));
    }
    Ok(v)
}

/// A real floor that may only be raised, up to `cap`.
fn higher(key: &str, v: f64, default: f64, cap: f64) -> Result<f64> {
    if !v.is_finite() || v > cap {
        return Err(Error::invalid(format!(
            "[journal] {key} = {v} is not a number up to {cap}"
        )));
    }
    if v < default {
        return Err(loosens(key, v, default));
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Thresholds> {
        toml::from_str::<JournalSettings>(text)
            .map_err(|e| Error::invalid(e.to_string()))?
            .effective()
    }

    #[test]
    fn an_empty_table_gives_the_four_criteria_of_the_issue() {
        let t = parse("").unwrap();
        assert_eq!(t, DEFAULTS);
        assert_eq!(
            (
                t.min_win_rate_pct,
                t.min_profit_factor,
                t.max_consecutive_losses
            ),
            (40.0, 1.0, 5)
        );
    }

    #[test]
    fn tightening_is_accepted_and_loosening_refused_naming_key_value_and_default() {
        let t = parse(
            "window = 30\nmin_win_rate_pct = 45\nmin_profit_factor = 1.2\nmax_consecutive_losses = 3\n\
             deviation_sigmas = 1.5\ndeviation_min_trades = 10\nmin_trades = 8\ncusum_h = 4\ncusum_decides = true",
        )
        .unwrap();
        assert_eq!(t.window, 30);
        assert_eq!(t.max_consecutive_losses, 3);
        assert!(t.cusum_decides);
        for (text, want) in [
            (
                "min_win_rate_pct = 35",
                "min_win_rate_pct = 35 would loosen the default 40",
            ),
            (
                "min_profit_factor = 0.9",
                "min_profit_factor = 0.9 would loosen the default 1",
            ),
            (
                "max_consecutive_losses = 6",
                "max_consecutive_losses = 6 would loosen the default 5",
            ),
            (
                "deviation_sigmas = 3",
                "deviation_sigmas = 3 would loosen the default 2",
            ),
            (
                "min_trades = 11",
                "min_trades = 11 would loosen the default 10",
            ),
            ("cusum_h = 6", "cusum_h = 6 would loosen the default 5"),
            ("window = 4", "window = 4 is outside 5..=10000"),
            (
                "max_consecutive_losses = 0",
                "below the smallest usable value 1",
            ),
            ("deviation_sigmas = nan", "not a positive number"),
            ("cusum_k = 0", "cusum_k = 0 is outside"),
        ] {
            let e = parse(text).unwrap_err().to_string();
            assert!(e.contains(want), "{text}: {e}");
        }
        assert!(parse("colour = 1").is_err());
        // A narrow window judges on a full window: the minimums shrink to it.
        let t = parse("window = 8").unwrap();
        assert_eq!((t.min_trades, t.deviation_min_trades), (8, 8));
    }
}
