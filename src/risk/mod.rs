//! Risk: hard limits (constants), soft limits (config, tighten only), the validator, and the risk book
//! (state, fills, strategy budgets and the audit trail in SQLite).
//!
//! A trade is checked against every rule in this order, and every verdict is reported: emergency
//! shutdown, account drawdown (reaching it trips the emergency shutdown), open positions, trades today,
//! trades this hour, position size, risk per trade, reward:risk, strategy budget, daily loss.

pub mod amounts;
pub mod approval;
pub mod book;
pub mod input;
pub mod limits;
pub mod rules;
pub mod strategy_id;
pub mod validator;

pub use amounts::MAX_AMOUNT;
pub use approval::{Approval, Checked};
pub use book::{
    AuditEntry, AuditKind, Decision, DecisionFilter, RecordOutcome, RiskBook, RiskState,
};
pub use limits::{HARD, LimitRow, Limits, SoftLimits};
pub use rules::{Comparison, Rule, Unit};
pub use strategy_id::StrategyId;
pub use validator::{Snapshot, StrategyBudget, TradeRequest, Verdict, evaluate};
