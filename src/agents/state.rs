//! The trading state: `active` (everything), `reducing` (only exits and cancels: entry proposals are
//! blocked), `halted` (nothing new; `paper-trade process` still fills protective exits and cancels).
//! Changes are rows of the append-only `agent_state_changes` with their reason; the current state is
//! the last one's. A risk emergency halts too, without a row: it latches until
//! `risk-check reset-emergency` switches the emergency off ([`effective`]).

use rusqlite::types::Value;
use rusqlite::{OptionalExtension, Transaction};
use serde::Serialize;

use crate::db::chain::Chain;
use crate::error::{Error, Result};
use crate::execution::store::ts_text;

/// `agent_state_changes`, chained over these columns in this order.
pub const STATES: Chain = Chain {
    table: "agent_state_changes",
    columns: &["ts_ms", "ts", "state", "reason", "source"],
};

/// The trading state.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Serialize,
    strum::Display,
    strum::EnumString,
    strum::IntoStaticStr,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum TradingState {
    /// Entries and exits.
    Active,
    /// Only exits and cancels.
    Reducing,
    /// Nothing new.
    Halted,
}

/// One audited change.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StateChange {
    /// Row id.
    pub id: i64,
    /// When (RFC 3339).
    pub ts: String,
    /// The new state.
    pub state: TradingState,
    /// Why.
    pub reason: String,
    /// Who: `command` (halt/reduce/resume) or a stage.
    pub source: String,
}

/// The state set by commands (active when never set).
pub fn current(tx: &Transaction<'_>) -> Result<(TradingState, Option<String>)> {
    let row: Option<(String, String)> = tx
        .prepare_cached("SELECT state, reason FROM agent_state_changes ORDER BY id DESC LIMIT 1")?
        .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    match row {
        None => Ok((TradingState::Active, None)),
        Some((s, reason)) => {
            let state = s
                .parse()
                .map_err(|_| Error::invalid(format!("agent_state_changes: unknown state '{s}'")))?;
            Ok((state, Some(reason)))
        }
    }
}

/// The state a cycle runs under: halted while the risk emergency is on (latched until
/// `risk-check reset-emergency`), else the commanded one; with the reason.
pub fn effective(tx: &Transaction<'_>) -> Result<(TradingState, Option<String>)> {
    let (on, why): (bool, Option<String>) = tx
        .prepare_cached("SELECT emergency, emergency_reason FROM risk_state WHERE id = 1")?
        .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?
        .unwrap_or((false, None));
    if on {
        let why = why.unwrap_or_else(|| "emergency shutdown".into());
        return Ok((
            TradingState::Halted,
            Some(format!(
                "risk emergency: {why} (latched until `flowrex risk-check reset-emergency`)"
            )),
        ));
    }
    current(tx)
}

/// Records a change to `state` with `reason` (required), returning it.
pub fn set(
    tx: &Transaction<'_>,
    state: TradingState,
    reason: &str,
    source: &str,
    now_ms: i64,
) -> Result<StateChange> {
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(Error::invalid("reason: must not be empty"));
    }
    let text = |s: &str| Value::Text(s.to_string());
    let id = STATES.append(
        tx,
        &[
            Value::Integer(now_ms),
            text(&ts_text(now_ms)),
            text(&state.to_string()),
            text(reason),
            text(source),
        ],
    )?;
    Ok(StateChange {
        id,
        ts: ts_text(now_ms),
        state,
        reason: reason.to_string(),
        source: source.to_string(),
    })
}
