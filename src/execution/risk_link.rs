//! Every call the execution engine makes into the risk book, in one place (the approval itself comes
//! from `risk::approval`): recording a position opened and closed, setting the balance when an account
//! opens, and how a book's name becomes the risk layer's strategy. When the risk layer's API changes,
//! this file is the one to adapt.

use chrono::{DateTime, Utc};
use rusqlite::Transaction;

use crate::error::Result;
use crate::risk::book::ops;
use crate::risk::{Limits, StrategyId, TradeRequest};

/// The strategy the risk book sees for a book: `None` for the manual book `""`.
/// A book name that is not a valid strategy name is an error naming the field `strategy`.
pub fn strategy_of(book: &str) -> Result<Option<StrategyId>> {
    let b = book.trim();
    if b.is_empty() {
        return Ok(None);
    }
    StrategyId::parse("strategy", b).map(Some)
}

/// Whether `trade` names the strategy of `book`.
pub fn same_strategy(trade: &TradeRequest, book: &str) -> bool {
    strategy_of(book).is_ok_and(|s| trade.strategy == s)
}

/// A position of `book` in `symbol` opened at `now`: one more open position and trade.
pub fn record_open(
    tx: &Transaction<'_>,
    symbol: &str,
    book: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    ops::record_fill(tx, symbol, strategy_of(book)?.as_ref(), now).map(drop)
}

/// A position closed with net P&L `pnl`; true when the close tripped the emergency shutdown.
pub fn record_closed(
    tx: &Transaction<'_>,
    limits: &Limits,
    symbol: &str,
    book: &str,
    pnl: f64,
    now: DateTime<Utc>,
) -> Result<bool> {
    let out = ops::record_close(
        tx,
        limits,
        Some(symbol),
        strategy_of(book)?.as_ref(),
        pnl,
        now,
    )?;
    Ok(out.emergency_tripped)
}

/// The risk book's balance follows a paper account opened with `balance` (`reason`: why it opened).
pub fn set_balance(
    tx: &Transaction<'_>,
    balance: f64,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    ops::set_balance(tx, balance, Some(reason), now).map(drop)
}
