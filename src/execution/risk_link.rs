//! Every call the execution engine makes into the risk book, in one place (the approval itself comes
//! from `risk::approval`): recording a position opened and closed, setting the balance when an account
//! opens, and how a book's name becomes the risk layer's strategy. The risk layer's API is changing on
//! main (strategy ids, audited balance reasons); this file is the one to adapt.

use chrono::{DateTime, Utc};
use rusqlite::Transaction;

use crate::error::Result;
use crate::risk::book::ops;
use crate::risk::{Limits, TradeRequest};

/// The strategy the risk book sees for a book: `None` for the manual book `""`.
pub fn strategy_of(book: &str) -> Option<String> {
    let b = book.trim();
    (!b.is_empty()).then(|| b.to_string())
}

/// Whether `trade` names the strategy of `book`.
pub fn same_strategy(trade: &TradeRequest, book: &str) -> bool {
    trade.strategy.as_deref() == strategy_of(book).as_deref()
}

/// A position of `book` in `symbol` opened at `now`: one more open position and trade.
pub fn record_open(
    tx: &Transaction<'_>,
    symbol: &str,
    book: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    ops::record_fill(tx, symbol, strategy_of(book).as_deref(), now).map(drop)
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
        strategy_of(book).as_deref(),
        pnl,
        now,
    )?;
    Ok(out.emergency_tripped)
}

/// The risk book's balance follows a paper account opened with `balance` (`reason`: why it opened).
pub fn set_balance(
    tx: &Transaction<'_>,
    balance: f64,
    _reason: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    ops::set_balance(tx, balance, now).map(drop)
}
