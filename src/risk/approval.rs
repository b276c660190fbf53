//! A risk approval as a value: [`Approval`] is the proof that a trade passed every rule, checked inside
//! the very transaction that is about to act on it. Only [`check`] makes one (its fields are private and
//! it is neither `Clone` nor `Copy`), so code that demands an `Approval` — `execution::submit` — cannot be
//! reached without a real, audited check. A rejection is a [`Checked::Denied`] with the decision and its
//! verdicts.
//!
//! An approval borrows the transaction it was checked in (`'tx`), so it cannot outlive it, and it
//! remembers that transaction's address; [`Approval::is_from`] lets a consumer refuse an approval that
//! was made in another transaction.

use std::marker::PhantomData;

use chrono::{DateTime, Utc};
use rusqlite::Transaction;

use super::book::{Decision, ops};
use super::limits::Limits;
use super::validator::TradeRequest;
use crate::error::Result;

/// A trade that passed every risk rule in the transaction `'tx`.
#[derive(Debug)]
pub struct Approval<'tx> {
    trade: TradeRequest,
    decision: Decision,
    tx_addr: usize,
    _tx: PhantomData<&'tx ()>,
}

impl Approval<'_> {
    /// The approved trade.
    pub fn trade(&self) -> &TradeRequest {
        &self.trade
    }

    /// The decision (verdicts, equity, the audit row id).
    pub fn decision(&self) -> &Decision {
        &self.decision
    }

    /// The id of the audit row in `risk_decisions`.
    pub fn decision_id(&self) -> i64 {
        self.decision.decision_id
    }

    /// Whether this approval was made in `tx`.
    pub fn is_from(&self, tx: &Transaction<'_>) -> bool {
        self.tx_addr == tx_addr(tx)
    }
}

/// The answer of [`check`].
#[derive(Debug)]
pub enum Checked<'tx> {
    /// Every rule passed.
    Approved(Approval<'tx>),
    /// At least one rule failed; the decision holds every verdict.
    Denied(Decision),
}

/// Runs [`ops::check`] on `trade` inside `tx` (the audit row is written in it) and returns an
/// [`Approval`] when every rule passed. A malformed trade is an error (nothing is approved or audited).
pub fn check<'tx>(
    tx: &'tx Transaction<'_>,
    limits: &Limits,
    trade: &TradeRequest,
    now: DateTime<Utc>,
) -> Result<Checked<'tx>> {
    let decision = ops::check(tx, limits, trade, now)?;
    Ok(if decision.approved {
        Checked::Approved(Approval {
            trade: trade.clone(),
            decision,
            tx_addr: tx_addr(tx),
            _tx: PhantomData,
        })
    } else {
        Checked::Denied(decision)
    })
}

fn tx_addr(tx: &Transaction<'_>) -> usize {
    std::ptr::from_ref(tx) as usize
}

/// Whether the emergency shutdown is on (a read of the risk state, for a broker that must refuse entry
/// fills while it is).
pub fn emergency_on(tx: &Transaction<'_>) -> Result<bool> {
    Ok(tx
        .prepare_cached("SELECT emergency FROM risk_state WHERE id = 1")?
        .query_row([], |r| r.get(0))?)
}
