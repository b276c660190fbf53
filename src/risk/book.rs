//! The risk book: risk state, fills and strategy budgets in SQLite, and every operation on them (check,
//! record, resets, re-enable). The operations live in [`ops`] and run inside a caller's transaction;
//! [`RiskBook`] is the thin wrapper that runs each one as its own transaction. The clock is a parameter
//! (`now`), so tests move time without sleeping.

pub mod ops;
mod rows;

use std::borrow::BorrowMut;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

use super::limits::Limits;
use super::rules::Rule;
use super::strategy_id::StrategyId;
use super::validator::{StrategyBudget, TradeRequest, Verdict};
use crate::db::Db;
use crate::db::audit::Verification;
use crate::error::Result;

/// The account as the risk layer sees it, with today's figures rolled to the given time.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RiskState {
    /// Account balance (realized).
    pub balance: f64,
    /// Highest balance seen since the balance was last set by hand (`state --balance`).
    pub equity_peak: f64,
    /// Drawdown from the peak, in percent.
    pub drawdown_pct: f64,
    /// The UTC day the daily figures belong to (YYYY-MM-DD).
    pub day: String,
    /// Balance at the start of the day.
    pub day_start_balance: f64,
    /// Realized P&L today.
    pub daily_pnl: f64,
    /// Today's realized loss as a percent of the day's starting balance (0 when up on the day).
    pub daily_loss_pct: f64,
    /// Positions open now.
    pub open_positions: u32,
    /// Trades opened today.
    pub trades_today: u32,
    /// Trades opened in the last 60 minutes.
    pub trades_this_hour: u32,
    /// The emergency shutdown is on.
    pub emergency: bool,
    /// Why it is on.
    pub emergency_reason: Option<String>,
    /// When it tripped (RFC 3339).
    pub emergency_since: Option<String>,
    /// Every strategy with a budget, by name.
    pub strategies: Vec<StrategyBudget>,
}

/// The answer to a proposed trade.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Decision {
    /// Every rule passed.
    pub approved: bool,
    /// The id of the audit row.
    pub decision_id: i64,
    /// This check reached the drawdown limit and switched the emergency shutdown on.
    pub emergency_tripped: bool,
    /// The equity the check used.
    pub equity: f64,
    /// One verdict per rule, in checking order.
    pub verdicts: Vec<Verdict>,
}

impl Decision {
    /// The verdicts that failed.
    pub fn failed(&self) -> impl Iterator<Item = &Verdict> {
        self.verdicts.iter().filter(|v| !v.pass)
    }

    /// The verdict of one rule.
    pub fn verdict(&self, rule: Rule) -> &Verdict {
        self.verdicts
            .iter()
            .find(|v| v.rule == rule)
            .expect("every rule has a verdict")
    }
}

/// What recording a fill or a close did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RecordOutcome {
    /// The state after the record.
    pub state: RiskState,
    /// The close took the drawdown to the limit and switched the emergency shutdown on.
    pub emergency_tripped: bool,
    /// The close was the strategy's last allowed loss in a row and disabled it.
    pub strategy_disabled: Option<String>,
}

/// The kinds of audit rows in `risk_decisions`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditKind {
    /// A trade validation.
    Check,
    /// The drawdown limit switched the emergency shutdown on.
    EmergencyTrip,
    /// A strategy reached its consecutive-loss limit.
    StrategyDisabled,
    /// The emergency shutdown was reset by hand.
    ResetEmergency,
    /// The daily figures were reset by hand.
    ResetDaily,
    /// A strategy was re-enabled by hand.
    EnableStrategy,
}

impl AuditKind {
    /// The snake_case name stored in the table.
    pub fn as_str(self) -> &'static str {
        match self {
            AuditKind::Check => "check",
            AuditKind::EmergencyTrip => "emergency_trip",
            AuditKind::StrategyDisabled => "strategy_disabled",
            AuditKind::ResetEmergency => "reset_emergency",
            AuditKind::ResetDaily => "reset_daily",
            AuditKind::EnableStrategy => "enable_strategy",
        }
    }
}

/// One row of the audit log.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditEntry {
    /// Row id (increasing).
    pub id: i64,
    /// When (RFC 3339, UTC).
    pub ts: String,
    /// What happened (an [`AuditKind`] name).
    pub kind: String,
    /// The trade's symbol, for checks.
    pub symbol: Option<String>,
    /// The strategy involved.
    pub strategy: Option<String>,
    /// For checks: approved or rejected.
    pub approved: Option<bool>,
    /// The reason given or found.
    pub reason: Option<String>,
    /// The inputs (trade, state snapshot, previous values).
    pub inputs: Value,
    /// The verdicts (checks only; empty otherwise).
    pub verdicts: Value,
}

/// Which audit rows to list.
#[derive(Debug, Clone, Default)]
pub struct DecisionFilter {
    /// Only this kind.
    pub kind: Option<AuditKind>,
    /// Only this symbol.
    pub symbol: Option<String>,
    /// Only entries about this strategy (any spelling of it).
    pub strategy: Option<StrategyId>,
    /// Only approved (`Some(true)`) or rejected (`Some(false)`) checks.
    pub approved: Option<bool>,
    /// Only at or after this time (UTC ms).
    pub since_ms: Option<i64>,
    /// Only before this time (UTC ms).
    pub until_ms: Option<i64>,
    /// At most this many (the newest), listed oldest first. `None`: all.
    pub limit: Option<usize>,
}

/// The risk book over a database, with the effective limits: every method is one [`ops`] function in a
/// transaction of its own. `D` is the database, owned (`Db`, the default) or borrowed (`&mut Db`, when the
/// process shares one connection).
#[derive(Debug)]
pub struct RiskBook<D = Db> {
    db: D,
    limits: Limits,
}

impl<D: BorrowMut<Db>> RiskBook<D> {
    /// A risk book over `db` with the effective `limits`.
    pub fn new(db: D, limits: Limits) -> RiskBook<D> {
        RiskBook { db, limits }
    }

    /// The effective limits.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The underlying database.
    pub fn db(&mut self) -> &mut Db {
        self.db.borrow_mut()
    }

    /// Validates `trade` at time `now` ([`ops::check`]).
    pub fn check(&mut self, trade: &TradeRequest, now: DateTime<Utc>) -> Result<Decision> {
        let limits = self.limits;
        self.db().write(|tx| ops::check(tx, &limits, trade, now))
    }

    /// Records a fill that opened a trade ([`ops::record_fill`]).
    pub fn record_fill(
        &mut self,
        symbol: &str,
        strategy: Option<&StrategyId>,
        now: DateTime<Utc>,
    ) -> Result<RecordOutcome> {
        self.db()
            .write(|tx| ops::record_fill(tx, symbol, strategy, now))
    }

    /// Records a closed trade with its realized P&L ([`ops::record_close`]).
    pub fn record_close(
        &mut self,
        symbol: Option<&str>,
        strategy: Option<&StrategyId>,
        pnl: f64,
        now: DateTime<Utc>,
    ) -> Result<RecordOutcome> {
        let limits = self.limits;
        self.db()
            .write(|tx| ops::record_close(tx, &limits, symbol, strategy, pnl, now))
    }

    /// The risk state at time `now` ([`ops::state`]).
    pub fn state(&mut self, now: DateTime<Utc>) -> Result<RiskState> {
        self.db().read(|tx| ops::state(tx, now))
    }

    /// Sets the balance, restarting the peak ([`ops::set_balance`]).
    pub fn set_balance(
        &mut self,
        balance: f64,
        reason: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<RiskState> {
        self.db()
            .write(|tx| ops::set_balance(tx, balance, reason, now))
    }

    /// Switches the emergency shutdown off ([`ops::reset_emergency`]).
    pub fn reset_emergency(&mut self, reason: &str, now: DateTime<Utc>) -> Result<RiskState> {
        let limits = self.limits;
        self.db()
            .write(|tx| ops::reset_emergency(tx, &limits, reason, now))
    }

    /// Starts a new trading day now ([`ops::reset_daily`]).
    pub fn reset_daily(&mut self, reason: &str, now: DateTime<Utc>) -> Result<RiskState> {
        self.db().write(|tx| ops::reset_daily(tx, reason, now))
    }

    /// Re-enables a strategy ([`ops::enable_strategy`]).
    pub fn enable_strategy(
        &mut self,
        name: &StrategyId,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<StrategyBudget> {
        self.db()
            .write(|tx| ops::enable_strategy(tx, name, reason, now))
    }

    /// The audit log, filtered ([`ops::decisions`]).
    pub fn decisions(&mut self, filter: &DecisionFilter) -> Result<Vec<AuditEntry>> {
        self.db().read(|tx| ops::decisions(tx, filter))
    }

    /// Accepts the live state as it is now, audited ([`ops::reseal_state`]); how many rows it sealed.
    pub fn reseal_state(&mut self, reason: &str, now: DateTime<Utc>) -> Result<usize> {
        self.db().write(|tx| ops::reseal_state(tx, reason, now))
    }

    /// Recomputes the audit chains ([`ops::verify_audit`]).
    pub fn verify_audit(&mut self) -> Result<Verification> {
        self.db().read(ops::verify_audit)
    }
}

#[cfg(test)]
#[path = "book_tests.rs"]
mod tests;
