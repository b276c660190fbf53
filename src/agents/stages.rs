//! The four stages of a cycle, each a small function with one job. They run inside the cycle's
//! transaction, in this order, and each returns its decision for the log:
//!
//! - [`supervise`]: the trading state (and the risk emergency) and the mode; a halted state stops the
//!   run before anything else happens. Run again right before the Execution stage.
//! - [`strategy`]: the strategy's decision on the bar, exactly as the backtest asks it (same
//!   `prepare` + `decide`, the paper position of the playbook's book as the position), as a
//!   [`Proposal`].
//! - [`risk`]: sizes and protects an entry ([`super::risk_stage`]); blocks entries while reducing;
//!   the validator itself runs inside the order's transaction in the Execution stage (an approval
//!   can only be made there).
//! - [`execute`]: places the order through the execution engine (`execution::place`, which validates
//!   it): submitted in autonomous mode, recorded as a previewed recommendation in guide mode.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, Transaction};
use serde_json::json;

use super::log::NewDecision;
use super::risk_stage::{self, Proposal, RiskDesk};
use super::state::{self, TradingState};
use crate::engine::{Action, PositionView, Signals};
use crate::error::Result;
use crate::execution::store::{self as xstore, Mode};
use crate::execution::{Desk, ExitRequest, OrderKind, OrderRequest, Placed, TimeInForce};
use crate::execution::{place, place_exit};
use crate::risk::sizing::SizedEntry;

/// What the Supervisor found.
#[derive(Debug, Clone, PartialEq)]
pub struct Supervision {
    /// The trading state (halted while the risk emergency is on).
    pub state: TradingState,
    /// Why it is not active.
    pub reason: Option<String>,
    /// guide or autonomous.
    pub mode: Mode,
}

/// The Supervisor: trading state, emergency and mode.
pub fn supervise(tx: &Transaction<'_>) -> Result<Supervision> {
    let (state, reason) = state::effective(tx)?;
    Ok(Supervision {
        state,
        reason,
        mode: xstore::mode(tx)?,
    })
}

/// The Strategy stage: the decision at bar `i`'s close (its close is `close`) as a proposal.
pub fn strategy(signals: &mut dyn Signals, i: usize, view: &PositionView, close: f64) -> Proposal {
    match signals.decide(i, view) {
        Action::Hold => Proposal::Hold,
        Action::Exit if view.is_flat() => Proposal::Hold,
        Action::Exit => Proposal::Exit,
        Action::Enter(e) => Proposal::Enter {
            side: e.side,
            reference: close,
            stop: e.stop,
            target: e.target,
        },
    }
}

/// What the Risk stage passes to the Execution stage.
#[derive(Debug, Clone, PartialEq)]
pub enum Instruction {
    /// Nothing to execute.
    Nothing,
    /// Close the book's position.
    Exit,
    /// Place this sized entry.
    Enter(SizedEntry),
}

/// The Risk stage: sizes and protects an entry from `equity`; entries are blocked unless the state is
/// active, and refused while the book's strategy budget is `disabled` (its reason; the validator would
/// deny them with the rule `strategy_budget`). Returns the instruction and its decision.
pub fn risk(
    desk: &RiskDesk<'_>,
    proposal: &Proposal,
    state: TradingState,
    (equity, disabled): (f64, Option<&str>),
) -> (Instruction, NewDecision) {
    let decided = |decision: &str, reason: String, detail| NewDecision {
        stage: "risk",
        decision: decision.into(),
        reason,
        detail,
        risk_decision_id: None,
        order_id: None,
    };
    match *proposal {
        Proposal::Hold => (
            Instruction::Nothing,
            decided("pass", "nothing proposed".into(), None),
        ),
        Proposal::Exit => (
            Instruction::Exit,
            decided("pass", "exits always pass".into(), None),
        ),
        Proposal::Enter { .. } if state != TradingState::Active => (
            Instruction::Nothing,
            decided(
                "blocked",
                format!("trading state {state}: no new entries"),
                None,
            ),
        ),
        Proposal::Enter { .. } if disabled.is_some() => (
            Instruction::Nothing,
            decided(
                "refused",
                format!(
                    "strategy_budget: disabled ({})",
                    disabled.unwrap_or_default()
                ),
                None,
            ),
        ),
        Proposal::Enter {
            side,
            reference,
            stop,
            target,
        } => match risk_stage::size(desk, side, reference, (stop, target), equity) {
            Err(r) => (
                Instruction::Nothing,
                decided("refused", r.code().into(), None),
            ),
            Ok(s) => {
                let detail = json!({"equity": equity, "units": s.units, "lots": s.units / desk.lot_size,
                                    "stop": s.stop, "target": s.target, "risk_pct": desk.rule.risk_pct});
                let why = format!("{} units, stop {}, target {}", s.units, s.stop, s.target);
                (Instruction::Enter(s), decided("sized", why, Some(detail)))
            }
        },
    }
}

/// Why the book's strategy budget is disabled, when it is (the risk book's `strategy_budgets`).
pub fn disabled_budget(tx: &Transaction<'_>, book: &str) -> Result<Option<String>> {
    let id = crate::risk::StrategyId::parse("strategy", book)?;
    let row: Option<(bool, Option<String>)> = tx
        .prepare_cached(
            "SELECT enabled, disabled_reason FROM strategy_budgets WHERE strategy = ?1",
        )?
        .query_row([id.as_str()], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    Ok(match row {
        Some((false, why)) => Some(why.unwrap_or_else(|| "disabled".into())),
        _ => None,
    })
}

/// Where the Execution stage places orders.
#[derive(Debug, Clone, Copy)]
pub struct Venue<'a> {
    /// The execution engine's desk.
    pub desk: &'a Desk<'a>,
    /// The playbook (the book).
    pub book: &'a str,
    /// Market.
    pub symbol: &'a str,
    /// Bar series.
    pub interval: crate::candles::Interval,
    /// The decided bar's open time (the idempotency key's part).
    pub bar_ms: i64,
}

/// The Execution stage: places the instruction through the engine at `now` (the bar's close). The
/// returned decision links the risk decision and the order; `None` when there was nothing to do.
pub fn execute(
    tx: &Transaction<'_>,
    v: &Venue<'_>,
    instruction: &Instruction,
    proposal: &Proposal,
    now: DateTime<Utc>,
) -> Result<Option<NewDecision>> {
    let key = Some(format!("agents:{}:{}", v.book, v.bar_ms));
    let placed = match (instruction, proposal) {
        (
            Instruction::Enter(s),
            Proposal::Enter {
                side, reference, ..
            },
        ) => {
            let req = OrderRequest {
                symbol: v.symbol.into(),
                interval: v.interval,
                strategy: Some(v.book.into()),
                side: *side,
                kind: OrderKind::Market,
                tif: TimeInForce::Gtc,
                units: s.units,
                stop_loss: Some(s.stop),
                take_profit: Some(s.target),
                reference_price: Some(*reference),
                client_id: key,
            };
            place(tx, v.desk, &req, now)?
        }
        (Instruction::Exit, _) => {
            let req = ExitRequest {
                symbol: v.symbol.into(),
                interval: v.interval,
                strategy: Some(v.book.into()),
                kind: OrderKind::Market,
                tif: TimeInForce::Gtc,
                units: None,
                client_id: key,
            };
            place_exit(tx, v.desk, &req, now)?
        }
        _ => return Ok(None),
    };
    Ok(Some(placed_decision(&placed)))
}

fn placed_decision(placed: &Placed) -> NewDecision {
    let o = placed.order();
    let (decision, reason, detail, risk_id) = match placed {
        Placed::Submitted(_) => (
            "submitted",
            "autonomous: the order works on paper".into(),
            None,
            None,
        ),
        Placed::Previewed(_) => (
            "recommended",
            "guide: recorded as a recommendation, nothing submitted".into(),
            None,
            None,
        ),
        Placed::Denied(_, d) => {
            let failed: Vec<&str> = d.failed().map(|v| v.rule.as_str()).collect();
            let detail = serde_json::to_value(&d.verdicts).ok();
            (
                "denied",
                format!("risk: {}", failed.join(", ")),
                detail,
                Some(d.decision_id),
            )
        }
        Placed::Existing(_) => ("existing", "placed by an earlier run".into(), None, None),
    };
    NewDecision {
        stage: "execution",
        decision: decision.into(),
        reason,
        detail,
        risk_decision_id: risk_id.or(o.risk_decision_id),
        order_id: Some(o.id),
    }
}
