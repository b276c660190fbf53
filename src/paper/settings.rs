//! The fill model's settings: `[paper]` in `flowrex.toml`, overridable per command, resolved with their
//! defaults into a checked [`FillModel`]. Each processing run records the model it used (and its seed).
//!
//! ```toml
//! [paper]
//! initial_balance = 10000     # the first account's balance (and `reset`'s default)
//! slippage_bps = 1.0          # adverse slippage on market and stop fills, in basis points (0.01%)
//! slippage_pips = 0           # … or in pips (needs [instruments.SYMBOL] pip_size)
//! random_slippage_bps = 0     # plus a seeded uniform [0, x) part, in basis points
//! random_slippage_pips = 0    # … or in pips
//! commission = 0              # fraction of traded value per side (as `backtest --commission`)
//! commission_per_lot = 0      # per lot per side
//! spread = 0                  # fraction, worsening entries only (as `backtest --spread`)
//! latency_ms = 0              # an order works from the first bar opening at or after submit + latency
//! fill_probability = 1.0      # chance a limit or stop touched inside a bar fills on that bar (seeded)
//! max_volume_share = 0.1      # at most this share of a bar's volume per order and bar (unset: no cap)
//! stop_policy = "pessimistic" # which bracket leg a bar reaching both fills (as `backtest --stop-policy`)
//! seed = 0                    # seed of the random parts
//! ```
//!
//! With `slippage_bps = 0`, `latency_ms = 0`, `fill_probability = 1`, no volume cap, and the
//! backtest's `commission` and `spread`, the paper broker fills like the backtest.

use serde::{Deserialize, Serialize};

use crate::engine::StopPolicy;
use crate::engine::config::DEFAULT_CASH;
use crate::error::{Error, Result};
use crate::execution::Costs;

/// Default adverse slippage: 1 basis point (0.01%), the earlier platform's paper default.
pub const DEFAULT_SLIPPAGE_BPS: f64 = 1.0;

/// `[paper]` as written: every key optional.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PaperConfig {
    /// The first account's balance.
    pub initial_balance: Option<f64>,
    /// Fixed adverse slippage in basis points.
    pub slippage_bps: Option<f64>,
    /// Fixed adverse slippage in pips.
    pub slippage_pips: Option<f64>,
    /// Maximum of the seeded random slippage part, in basis points.
    pub random_slippage_bps: Option<f64>,
    /// Maximum of the seeded random slippage part, in pips.
    pub random_slippage_pips: Option<f64>,
    /// Commission as a fraction of traded value, per side.
    pub commission: Option<f64>,
    /// Commission per lot, per side.
    pub commission_per_lot: Option<f64>,
    /// Spread as a fraction of price, on entries.
    pub spread: Option<f64>,
    /// Latency in milliseconds.
    pub latency_ms: Option<i64>,
    /// Probability that a touched limit or stop fills on that bar.
    pub fill_probability: Option<f64>,
    /// Largest share of a bar's volume one order may take on that bar.
    pub max_volume_share: Option<f64>,
    /// Stop-versus-target rule for a bar reaching both bracket legs.
    pub stop_policy: Option<StopPolicy>,
    /// Seed of the random parts.
    pub seed: Option<u64>,
}

/// The resolved, checked fill model.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FillModel {
    /// The first account's balance.
    pub initial_balance: f64,
    /// Fixed adverse slippage in basis points.
    pub slippage_bps: f64,
    /// Fixed adverse slippage in pips.
    pub slippage_pips: f64,
    /// Random slippage part (bps).
    pub random_slippage_bps: f64,
    /// Random slippage part (pips).
    pub random_slippage_pips: f64,
    /// Commission fraction per side.
    pub commission: f64,
    /// Commission per lot per side.
    pub commission_per_lot: f64,
    /// Spread fraction on entries.
    pub spread: f64,
    /// Latency (ms).
    pub latency_ms: i64,
    /// Fill probability on a touch.
    pub fill_probability: f64,
    /// Volume cap share, if any.
    pub max_volume_share: Option<f64>,
    /// Bracket resolution.
    pub stop_policy: StopPolicy,
    /// Seed.
    pub seed: u64,
}

impl Default for FillModel {
    fn default() -> Self {
        PaperConfig::default()
            .resolve()
            .expect("the defaults are valid")
    }
}

impl PaperConfig {
    /// This configuration with every key set in `over` replacing its own (command-line overrides).
    pub fn overlay(&self, over: &PaperConfig) -> PaperConfig {
        macro_rules! pick {
            ($($f:ident),*) => { PaperConfig { $($f: over.$f.or(self.$f)),* } };
        }
        pick!(
            initial_balance,
            slippage_bps,
            slippage_pips,
            random_slippage_bps,
            random_slippage_pips,
            commission,
            commission_per_lot,
            spread,
            latency_ms,
            fill_probability,
            max_volume_share,
            stop_policy,
            seed
        )
    }

    /// The fill model with defaults for unset keys; an out-of-range value names its key.
    pub fn resolve(&self) -> Result<FillModel> {
        let m = FillModel {
            initial_balance: self.initial_balance.unwrap_or(DEFAULT_CASH),
            slippage_bps: self.slippage_bps.unwrap_or(DEFAULT_SLIPPAGE_BPS),
            slippage_pips: self.slippage_pips.unwrap_or(0.0),
            random_slippage_bps: self.random_slippage_bps.unwrap_or(0.0),
            random_slippage_pips: self.random_slippage_pips.unwrap_or(0.0),
            commission: self.commission.unwrap_or(0.0),
            commission_per_lot: self.commission_per_lot.unwrap_or(0.0),
            spread: self.spread.unwrap_or(0.0),
            latency_ms: self.latency_ms.unwrap_or(0),
            fill_probability: self.fill_probability.unwrap_or(1.0),
            max_volume_share: self.max_volume_share,
            stop_policy: self.stop_policy.unwrap_or_default(),
            seed: self.seed.unwrap_or(0),
        };
        m.validate()?;
        Ok(m)
    }
}

fn bad(key: &str, v: impl std::fmt::Display, what: &str) -> Error {
    Error::invalid(format!("[paper] {key} = {v}: must be {what}"))
}

impl FillModel {
    /// Checks every value; the error names the key.
    pub fn validate(&self) -> Result<()> {
        if !(self.initial_balance.is_finite() && self.initial_balance > 0.0) {
            return Err(bad(
                "initial_balance",
                self.initial_balance,
                "a number above 0",
            ));
        }
        for (key, v, max) in [
            ("slippage_bps", self.slippage_bps, 1000.0),
            ("random_slippage_bps", self.random_slippage_bps, 1000.0),
            ("slippage_pips", self.slippage_pips, 1e6),
            ("random_slippage_pips", self.random_slippage_pips, 1e6),
            ("commission_per_lot", self.commission_per_lot, 1e9),
        ] {
            if !(v.is_finite() && (0.0..=max).contains(&v)) {
                return Err(bad(key, v, &format!("between 0 and {max}")));
            }
        }
        for (key, v) in [("commission", self.commission), ("spread", self.spread)] {
            if !(0.0..0.1).contains(&v) {
                return Err(bad(key, v, "a fraction in [0, 0.1), e.g. 0.002 for 0.2%"));
            }
        }
        if !(0..=86_400_000).contains(&self.latency_ms) {
            return Err(bad(
                "latency_ms",
                self.latency_ms,
                "between 0 and 86400000 (a day)",
            ));
        }
        if !(self.fill_probability > 0.0 && self.fill_probability <= 1.0) {
            return Err(bad("fill_probability", self.fill_probability, "in (0, 1]"));
        }
        if let Some(s) = self.max_volume_share
            && !(s > 0.0 && s <= 1.0)
        {
            return Err(bad("max_volume_share", s, "in (0, 1]"));
        }
        Ok(())
    }

    /// The costs the ledger charges.
    pub fn costs(&self) -> Costs {
        Costs {
            spread: self.spread,
            commission: self.commission,
            commission_per_lot: self.commission_per_lot,
        }
    }

    /// True when the model adds nothing to the backtest's matching: no slippage, latency, random
    /// part, touch probability or volume cap.
    pub fn is_backtest_like(&self) -> bool {
        self.slippage_bps == 0.0
            && self.slippage_pips == 0.0
            && self.random_slippage_bps == 0.0
            && self.random_slippage_pips == 0.0
            && self.latency_ms == 0
            && self.fill_probability == 1.0
            && self.max_volume_share.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_overlay_and_errors_naming_the_key() {
        let m = FillModel::default();
        assert_eq!(m.initial_balance, 10_000.0);
        assert_eq!(m.slippage_bps, 1.0);
        assert_eq!(m.fill_probability, 1.0);
        assert!(!m.is_backtest_like());
        let file = PaperConfig {
            slippage_bps: Some(0.0),
            seed: Some(7),
            ..PaperConfig::default()
        };
        let cli = PaperConfig {
            seed: Some(9),
            ..PaperConfig::default()
        };
        let m = file.overlay(&cli).resolve().unwrap();
        assert_eq!((m.slippage_bps, m.seed), (0.0, 9));
        assert!(m.is_backtest_like());
        for (cfg, want) in [
            (
                PaperConfig {
                    fill_probability: Some(0.0),
                    ..PaperConfig::default()
                },
                "[paper] fill_probability = 0: must be in (0, 1]",
            ),
            (
                PaperConfig {
                    commission: Some(0.5),
                    ..PaperConfig::default()
                },
                "[paper] commission = 0.5: must be a fraction",
            ),
            (
                PaperConfig {
                    latency_ms: Some(-1),
                    ..PaperConfig::default()
                },
                "[paper] latency_ms = -1",
            ),
        ] {
            let e = cfg.resolve().unwrap_err().to_string();
            assert!(e.starts_with(want), "{e}");
        }
    }
}
