//! Hard risk limits (constants no config can raise) and soft limits (`[risk]` in `flowrex.toml`), which
//! may only tighten them.

use serde::{Deserialize, Serialize};

use super::rules::{Comparison, Rule, TOLERANCE, Unit};
use crate::error::{Error, Result};

/// Hard limit: the share of equity a trade may lose if its stop is hit (2%).
pub const MAX_RISK_PER_TRADE: f64 = 0.02;
/// Hard limit: the account drawdown from its peak that trips the emergency shutdown (15%).
pub const EMERGENCY_DRAWDOWN: f64 = 0.15;
/// Hard limit: open positions at once, including the one being checked (10).
pub const MAX_OPEN_POSITIONS: u32 = 10;
/// Hard limit: trades opened per UTC day, including the one being checked (20).
pub const MAX_TRADES_PER_DAY: u32 = 20;
/// Hard limit: trades opened in the last 60 minutes, including the one being checked (5).
pub const MAX_TRADES_PER_HOUR: u32 = 5;
/// Hard limit: the size of one position in lots (1.0).
pub const MAX_POSITION_LOTS: f64 = 1.0;
/// Hard limit: the smallest reward:risk a trade may have (1.5).
pub const MIN_REWARD_RISK: f64 = 1.5;
/// Hard limit: the realized loss of the current UTC day as a share of the day's starting balance (5%).
pub const MAX_DAILY_LOSS: f64 = 0.05;
/// Hard limit: consecutive losing trades after which a strategy is disabled (5).
pub const MAX_CONSECUTIVE_LOSSES: u32 = 5;

/// One complete set of limits. Shares are fractions (0.02 = 2%).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Limits {
    /// Largest share of equity one trade may lose at its stop.
    pub risk_per_trade: f64,
    /// Drawdown share that trips the emergency shutdown.
    pub emergency_drawdown: f64,
    /// Most open positions, counting the new one.
    pub max_open_positions: u32,
    /// Most trades per UTC day, counting the new one.
    pub max_trades_per_day: u32,
    /// Most trades in 60 minutes, counting the new one.
    pub max_trades_per_hour: u32,
    /// Largest position in lots.
    pub max_position_lots: f64,
    /// Smallest reward:risk.
    pub min_reward_risk: f64,
    /// Largest realized daily loss share.
    pub daily_loss: f64,
    /// Consecutive losses that disable a strategy.
    pub max_consecutive_losses: u32,
    /// A check that names no strategy is rejected (`[risk] require_strategy`). Not a hard limit: off for
    /// `risk-check` unless configured; a caller may default it on ([`SoftLimits::effective_for`]).
    pub require_strategy: bool,
}

/// The hard limits (docs/DESIGN.md §7).
pub const HARD: Limits = Limits {
    risk_per_trade: MAX_RISK_PER_TRADE,
    emergency_drawdown: EMERGENCY_DRAWDOWN,
    max_open_positions: MAX_OPEN_POSITIONS,
    max_trades_per_day: MAX_TRADES_PER_DAY,
    max_trades_per_hour: MAX_TRADES_PER_HOUR,
    max_position_lots: MAX_POSITION_LOTS,
    min_reward_risk: MIN_REWARD_RISK,
    daily_loss: MAX_DAILY_LOSS,
    max_consecutive_losses: MAX_CONSECUTIVE_LOSSES,
    require_strategy: false,
};

impl Default for Limits {
    fn default() -> Self {
        HARD
    }
}

/// Soft limits from the `[risk]` table of `flowrex.toml`. Every field is optional; a set field may only
/// tighten its hard limit. Percentages are written as percent (`risk_per_trade_pct = 1.0` is 1%).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SoftLimits {
    /// Risk per trade in percent of equity (hard cap 2).
    pub risk_per_trade_pct: Option<f64>,
    /// Emergency drawdown in percent (hard cap 15).
    pub emergency_drawdown_pct: Option<f64>,
    /// Open positions (hard cap 10).
    pub max_open_positions: Option<u32>,
    /// Trades per UTC day (hard cap 20).
    pub max_trades_per_day: Option<u32>,
    /// Trades per 60 minutes (hard cap 5).
    pub max_trades_per_hour: Option<u32>,
    /// Position size in lots (hard cap 1.0).
    pub max_position_lots: Option<f64>,
    /// Minimum reward:risk (hard floor 1.5).
    pub min_reward_risk: Option<f64>,
    /// Daily loss in percent of the day's starting balance (hard cap 5).
    pub daily_loss_pct: Option<f64>,
    /// Consecutive losses that disable a strategy (hard cap 5).
    pub max_consecutive_losses: Option<u32>,
    /// Reject a check that names no strategy. Default: off for `risk-check`, on for callers that ask for
    /// it ([`SoftLimits::effective_for`]).
    pub require_strategy: Option<bool>,
}

impl SoftLimits {
    /// The effective limits: the hard limits, tightened by every soft limit that is set. A soft limit that
    /// would loosen a hard one (or is not a usable number) is an error naming the key, the value and the cap.
    /// A check needs no strategy unless `require_strategy = true` is configured.
    pub fn effective(&self) -> Result<Limits> {
        self.effective_for(false)
    }

    /// [`SoftLimits::effective`], with `require_strategy` defaulting to `require_strategy_default` when the
    /// config does not set it (paper trading passes `true`: every order comes from a strategy).
    pub fn effective_for(&self, require_strategy_default: bool) -> Result<Limits> {
        let mut l = HARD;
        l.require_strategy = self.require_strategy.unwrap_or(require_strategy_default);
        if let Some(v) = self.risk_per_trade_pct {
            l.risk_per_trade = at_most_pct("risk_per_trade_pct", v, HARD.risk_per_trade)?;
        }
        if let Some(v) = self.emergency_drawdown_pct {
            l.emergency_drawdown =
                at_most_pct("emergency_drawdown_pct", v, HARD.emergency_drawdown)?;
        }
        if let Some(v) = self.max_open_positions {
            l.max_open_positions = at_most_count("max_open_positions", v, HARD.max_open_positions)?;
        }
        if let Some(v) = self.max_trades_per_day {
            l.max_trades_per_day = at_most_count("max_trades_per_day", v, HARD.max_trades_per_day)?;
        }
        if let Some(v) = self.max_trades_per_hour {
            l.max_trades_per_hour =
                at_most_count("max_trades_per_hour", v, HARD.max_trades_per_hour)?;
        }
        if let Some(v) = self.max_position_lots {
            positive("max_position_lots", v)?;
            if v > HARD.max_position_lots {
                return Err(loosens(
                    "max_position_lots",
                    v,
                    HARD.max_position_lots,
                    "<=",
                ));
            }
            l.max_position_lots = v;
        }
        if let Some(v) = self.min_reward_risk {
            positive("min_reward_risk", v)?;
            if v < HARD.min_reward_risk {
                return Err(loosens("min_reward_risk", v, HARD.min_reward_risk, ">="));
            }
            l.min_reward_risk = v;
        }
        if let Some(v) = self.daily_loss_pct {
            l.daily_loss = at_most_pct("daily_loss_pct", v, HARD.daily_loss)?;
        }
        if let Some(v) = self.max_consecutive_losses {
            if v == 0 {
                return Err(Error::invalid(
                    "[risk] max_consecutive_losses = 0 is not usable: it must be between 1 and 5",
                ));
            }
            l.max_consecutive_losses =
                at_most_count("max_consecutive_losses", v, HARD.max_consecutive_losses)?;
        }
        Ok(l)
    }
}

fn positive(key: &str, v: f64) -> Result<()> {
    if v.is_finite() && v > 0.0 {
        Ok(())
    } else {
        Err(Error::invalid(format!(
            "[risk] {key} = {v} is not usable: it must be a positive number"
        )))
    }
}

fn loosens(key: &str, v: impl std::fmt::Display, cap: impl std::fmt::Display, op: &str) -> Error {
    Error::invalid(format!(
        "[risk] {key} = {v} would loosen the hard limit {cap}; soft limits may only tighten (use a value {op} {cap})"
    ))
}

fn at_most_pct(key: &str, pct: f64, hard: f64) -> Result<f64> {
    positive(key, pct)?;
    let cap = hard * 100.0;
    if pct > cap * (1.0 + TOLERANCE) {
        return Err(loosens(key, pct, cap, "<="));
    }
    Ok((pct / 100.0).min(hard))
}

fn at_most_count(key: &str, v: u32, hard: u32) -> Result<u32> {
    if v > hard {
        return Err(loosens(key, v, hard, "<="));
    }
    Ok(v)
}

/// One limit as listed by `risk-check limits`: hard and effective value in display units.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LimitRow {
    /// The rule the limit belongs to.
    pub rule: Rule,
    /// The `[risk]` key that tightens it.
    pub config_key: &'static str,
    /// The unit of `hard` and `effective`.
    pub unit: Unit,
    /// How a value must compare with the limit to pass.
    pub comparison: Comparison,
    /// The hard limit.
    pub hard: f64,
    /// The limit in force (hard, or tightened by the config).
    pub effective: f64,
}

impl Limits {
    /// Every numeric limit next to its hard value, in checking order.
    pub fn rows(&self) -> Vec<LimitRow> {
        let row = |rule, config_key, unit, comparison, hard: f64, effective: f64| LimitRow {
            rule,
            config_key,
            unit,
            comparison,
            hard,
            effective,
        };
        use Comparison::{AtLeast, AtMost, Below};
        vec![
            row(
                Rule::AccountDrawdown,
                "emergency_drawdown_pct",
                Unit::Percent,
                Below,
                HARD.emergency_drawdown * 100.0,
                self.emergency_drawdown * 100.0,
            ),
            row(
                Rule::OpenPositions,
                "max_open_positions",
                Unit::Count,
                AtMost,
                HARD.max_open_positions as f64,
                self.max_open_positions as f64,
            ),
            row(
                Rule::TradesToday,
                "max_trades_per_day",
                Unit::Count,
                AtMost,
                HARD.max_trades_per_day as f64,
                self.max_trades_per_day as f64,
            ),
            row(
                Rule::TradesThisHour,
                "max_trades_per_hour",
                Unit::Count,
                AtMost,
                HARD.max_trades_per_hour as f64,
                self.max_trades_per_hour as f64,
            ),
            row(
                Rule::PositionSize,
                "max_position_lots",
                Unit::Lots,
                AtMost,
                HARD.max_position_lots,
                self.max_position_lots,
            ),
            row(
                Rule::RiskPerTrade,
                "risk_per_trade_pct",
                Unit::Percent,
                AtMost,
                HARD.risk_per_trade * 100.0,
                self.risk_per_trade * 100.0,
            ),
            row(
                Rule::RewardRisk,
                "min_reward_risk",
                Unit::Ratio,
                AtLeast,
                HARD.min_reward_risk,
                self.min_reward_risk,
            ),
            row(
                Rule::StrategyBudget,
                "max_consecutive_losses",
                Unit::Count,
                Below,
                HARD.max_consecutive_losses as f64,
                self.max_consecutive_losses as f64,
            ),
            row(
                Rule::DailyLoss,
                "daily_loss_pct",
                Unit::Percent,
                AtMost,
                HARD.daily_loss * 100.0,
                self.daily_loss * 100.0,
            ),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_soft_limits_means_the_hard_ones() {
        assert_eq!(SoftLimits::default().effective().unwrap(), HARD);
        assert!(HARD.rows().iter().all(|r| r.hard == r.effective));
    }

    #[test]
    fn soft_limits_tighten() {
        let soft = SoftLimits {
            risk_per_trade_pct: Some(1.0),
            emergency_drawdown_pct: Some(10.0),
            max_open_positions: Some(3),
            max_trades_per_day: Some(8),
            max_trades_per_hour: Some(2),
            max_position_lots: Some(0.5),
            min_reward_risk: Some(2.0),
            daily_loss_pct: Some(3.0),
            max_consecutive_losses: Some(3),
            require_strategy: Some(true),
        };
        let l = soft.effective().unwrap();
        assert!(l.require_strategy);
        assert_eq!(l.risk_per_trade, 0.01);
        assert_eq!(l.emergency_drawdown, 0.10);
        assert_eq!(l.max_open_positions, 3);
        assert_eq!(l.max_trades_per_day, 8);
        assert_eq!(l.max_trades_per_hour, 2);
        assert_eq!(l.max_position_lots, 0.5);
        assert_eq!(l.min_reward_risk, 2.0);
        assert_eq!(l.daily_loss, 0.03);
        assert_eq!(l.max_consecutive_losses, 3);
    }

    #[test]
    fn require_strategy_defaults_per_caller_and_the_config_decides() {
        let none = SoftLimits::default();
        assert!(!none.effective().unwrap().require_strategy);
        assert!(none.effective_for(true).unwrap().require_strategy);
        let off = SoftLimits {
            require_strategy: Some(false),
            ..Default::default()
        };
        assert!(!off.effective_for(true).unwrap().require_strategy);
    }

    #[test]
    fn a_soft_limit_equal_to_the_hard_one_is_accepted() {
        let soft = SoftLimits {
            risk_per_trade_pct: Some(2.0),
            max_trades_per_day: Some(20),
            min_reward_risk: Some(1.5),
            ..Default::default()
        };
        assert_eq!(soft.effective().unwrap(), HARD);
    }

    #[test]
    fn loosening_is_refused_naming_limit_value_and_cap() {
        let cases: Vec<(SoftLimits, &str)> = vec![
            (
                SoftLimits {
                    risk_per_trade_pct: Some(2.5),
                    ..Default::default()
                },
                "risk_per_trade_pct = 2.5 would loosen the hard limit 2",
            ),
            (
                SoftLimits {
                    emergency_drawdown_pct: Some(20.0),
                    ..Default::default()
                },
                "emergency_drawdown_pct = 20 would loosen the hard limit 15",
            ),
            (
                SoftLimits {
                    max_open_positions: Some(11),
                    ..Default::default()
                },
                "max_open_positions = 11 would loosen the hard limit 10",
            ),
            (
                SoftLimits {
                    max_trades_per_day: Some(30),
                    ..Default::default()
                },
                "max_trades_per_day = 30 would loosen the hard limit 20",
            ),
            (
                SoftLimits {
                    max_trades_per_hour: Some(6),
                    ..Default::default()
                },
                "max_trades_per_hour = 6 would loosen the hard limit 5",
            ),
            (
                SoftLimits {
                    max_position_lots: Some(1.01),
                    ..Default::default()
                },
                "max_position_lots = 1.01 would loosen the hard limit 1",
            ),
            (
                SoftLimits {
                    min_reward_risk: Some(1.2),
                    ..Default::default()
                },
                "min_reward_risk = 1.2 would loosen the hard limit 1.5",
            ),
            (
                SoftLimits {
                    daily_loss_pct: Some(6.0),
                    ..Default::default()
                },
                "daily_loss_pct = 6 would loosen the hard limit 5",
            ),
            (
                SoftLimits {
                    max_consecutive_losses: Some(6),
                    ..Default::default()
                },
                "max_consecutive_losses = 6 would loosen the hard limit 5",
            ),
        ];
        for (soft, want) in cases {
            let err = soft.effective().unwrap_err().to_string();
            assert!(err.contains(want), "{err} should contain {want}");
        }
    }

    #[test]
    fn unusable_values_are_refused() {
        for soft in [
            SoftLimits {
                risk_per_trade_pct: Some(0.0),
                ..Default::default()
            },
            SoftLimits {
                risk_per_trade_pct: Some(f64::NAN),
                ..Default::default()
            },
            SoftLimits {
                max_position_lots: Some(-1.0),
                ..Default::default()
            },
            SoftLimits {
                max_consecutive_losses: Some(0),
                ..Default::default()
            },
        ] {
            assert!(
                soft.effective()
                    .unwrap_err()
                    .to_string()
                    .contains("not usable")
            );
        }
    }
}
