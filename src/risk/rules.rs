//! The rule vocabulary shared by the limits and the validator: which rules exist (in checking order),
//! the unit of each verdict, how a value must compare with its limit, and the comparison tolerance.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Relative tolerance for comparing a value with its limit, so that a value exactly at a limit is not
/// flipped by the rounding of decimal prices (1.1050 − 1.1000 = 0.004999…). Far below any real margin.
pub const TOLERANCE: f64 = 1e-9;

/// The rules, in the order the validator checks them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    /// The emergency shutdown must be off.
    EmergencyShutdown,
    /// Drawdown from the equity peak below the emergency limit (reaching it trips the shutdown).
    AccountDrawdown,
    /// Open positions, counting this trade.
    OpenPositions,
    /// Trades today, counting this one.
    TradesToday,
    /// Trades in the last 60 minutes, counting this one.
    TradesThisHour,
    /// Position size in lots.
    PositionSize,
    /// Share of equity lost if the stop is hit.
    RiskPerTrade,
    /// Reward:risk of the trade.
    RewardRisk,
    /// The strategy is enabled and under its consecutive-loss limit.
    StrategyBudget,
    /// Realized loss today as a share of the day's starting balance.
    DailyLoss,
}

impl Rule {
    /// Every rule, in checking order.
    pub const ALL: [Rule; 10] = [
        Rule::EmergencyShutdown,
        Rule::AccountDrawdown,
        Rule::OpenPositions,
        Rule::TradesToday,
        Rule::TradesThisHour,
        Rule::PositionSize,
        Rule::RiskPerTrade,
        Rule::RewardRisk,
        Rule::StrategyBudget,
        Rule::DailyLoss,
    ];

    /// The rule's snake_case name, as in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Rule::EmergencyShutdown => "emergency_shutdown",
            Rule::AccountDrawdown => "account_drawdown",
            Rule::OpenPositions => "open_positions",
            Rule::TradesToday => "trades_today",
            Rule::TradesThisHour => "trades_this_hour",
            Rule::PositionSize => "position_size",
            Rule::RiskPerTrade => "risk_per_trade",
            Rule::RewardRisk => "reward_risk",
            Rule::StrategyBudget => "strategy_budget",
            Rule::DailyLoss => "daily_loss",
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The unit of a verdict's value and limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    /// Percent (2.0 = 2%).
    Percent,
    /// A count.
    Count,
    /// Lots.
    Lots,
    /// A ratio (reward:risk).
    Ratio,
    /// 1 on, 0 off.
    Flag,
}

/// How a value must compare with its limit to pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Comparison {
    /// value == limit
    #[serde(rename = "==")]
    Equal,
    /// value < limit
    #[serde(rename = "<")]
    Below,
    /// value <= limit
    #[serde(rename = "<=")]
    AtMost,
    /// value >= limit
    #[serde(rename = ">=")]
    AtLeast,
}

impl Comparison {
    /// The operator as text.
    pub fn as_str(self) -> &'static str {
        match self {
            Comparison::Equal => "==",
            Comparison::Below => "<",
            Comparison::AtMost => "<=",
            Comparison::AtLeast => ">=",
        }
    }
}
