//! The Risk stage's rule, shared by `paper-trade run` and `backtest --risk-gate`: a strategy's entry
//! proposal becomes a sized, protected trade ([`crate::risk::sizing`]) and the trade request the risk
//! validator is asked about. The validator itself runs where the trade is recorded: inside the paper
//! order's transaction (`execution::place`), or on the gate's own risk book.

use serde::Serialize;

use crate::error::Result;
use crate::risk::sizing::{self, Refusal, SizedEntry, SizingRule};
use crate::risk::{Limits, StrategyId, TradeRequest};
use crate::trade::Side;

/// What the Strategy stage proposes for one bar.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Proposal {
    /// Nothing to do.
    Hold,
    /// Close the open position.
    Exit,
    /// Open a position (closing any open one first).
    Enter {
        /// Long or short.
        side: Side,
        /// The deciding bar's close: the price risk is measured from.
        reference: f64,
        /// The strategy's stop, if it gave one.
        stop: Option<f64>,
        /// The strategy's target, if it gave one.
        target: Option<f64>,
    },
}

/// What the Risk stage needs besides the proposal.
#[derive(Debug, Clone, Copy)]
pub struct RiskDesk<'a> {
    /// Effective limits (the lot cap comes from `max_position_lots`).
    pub limits: &'a Limits,
    /// The playbook's `[paper]` rule.
    pub rule: &'a SizingRule,
    /// Units per lot of the instrument.
    pub lot_size: f64,
}

/// Sizes an entry proposal from `equity`: the bracket (the strategy's, else the protective one, else
/// refused "no stop") and the units (risk % of equity, capped at the lot limit).
pub fn size(
    desk: &RiskDesk<'_>,
    side: Side,
    reference: f64,
    levels: (Option<f64>, Option<f64>),
    equity: f64,
) -> std::result::Result<SizedEntry, Refusal> {
    sizing::size_entry(
        side,
        reference,
        levels,
        equity,
        desk.rule,
        (desk.lot_size, desk.limits.max_position_lots),
    )
}

/// The trade the validator checks for a sized entry: exactly what `execution::place` builds for the
/// paper order of the same entry (reference as entry, size in lots, the book as strategy, `equity`).
pub fn trade_request(
    symbol: &str,
    book: &str,
    side: Side,
    reference: f64,
    sized: &SizedEntry,
    lot_size: f64,
    equity: f64,
) -> Result<TradeRequest> {
    Ok(TradeRequest {
        symbol: symbol.to_string(),
        side,
        entry: reference,
        stop: sized.stop,
        target: sized.target,
        size: sized.units / lot_size,
        lot_size,
        strategy: Some(StrategyId::parse("strategy", book)?),
        equity: Some(equity),
    })
}
