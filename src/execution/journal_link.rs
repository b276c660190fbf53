//! Every call the execution engine makes into the trade journal, in one place: a close (a paper trade
//! row) becomes a journal entry in the same transaction, so the ledger and the journal can never
//! disagree — an error in either rolls both back. When the journal's API changes, this file is the one
//! to adapt.
//!
//! What a paper entry records: source `paper`; account `paper-<epoch>` (the paper account; a reset
//! starts the next epoch); run id `paper-<epoch>/run-<id>` (the processing run whose seed and fill
//! settings are in `paper_runs`), or `paper-<epoch>/reset` for a position a reset closed; strategy = the
//! order's book (`manual` for the manual book); symbol and interval of the market; order ids = the
//! entry order and the exit order (as decimal text); the trade as the paper trade row has it. Bar
//! indices are the bars of the market as the bar walker was handed them (the store's series for
//! `paper-trade process`); a reset's close is not on a bar, so its indices are unknown.

use rusqlite::Transaction;

use crate::candles::Interval;
use crate::error::{Error, Result};
use crate::journal::{self, EntryId, NewEntry, Source};
use crate::risk::StrategyId;
use crate::trade::{Trade, TradeRecord};

/// The journal's strategy name of the manual book `""`.
pub const MANUAL_BOOK: &str = "manual";

/// The journal account of paper account epoch `epoch`.
pub fn account_name(epoch: i64) -> String {
    format!("paper-{epoch}")
}

/// One closed (part of a) position, as the ledger knows it.
pub struct Close<'c> {
    /// The paper account epoch.
    pub epoch: i64,
    /// The processing run, when a bar walker closed it.
    pub run: Option<i64>,
    /// The position's id.
    pub position: i64,
    /// Its book (`""`: the manual book).
    pub book: &'c str,
    /// Its market.
    pub symbol: &'c str,
    /// Its bar series.
    pub interval: &'c str,
    /// The order that opened it.
    pub entry_order: i64,
    /// When it opened (ms): the bar of its first fill.
    pub opened_ms: i64,
    /// The exit order.
    pub exit_order: i64,
    /// The trade (bar indices unused).
    pub trade: &'c Trade,
    /// When it closed (ms): the bar's open, or a reset's time.
    pub exit_ms: i64,
    /// Entry and exit bar indices, when known.
    pub bars: Option<(usize, usize)>,
}

/// The journal entry of `c`.
pub fn entry_of(c: &Close<'_>) -> Result<NewEntry> {
    let t = c.trade;
    let strategy = if c.book.trim().is_empty() {
        MANUAL_BOOK
    } else {
        c.book
    };
    let interval: Interval = c
        .interval
        .parse()
        .map_err(|e| Error::invalid(format!("position {}: interval: {e}", c.position)))?;
    let (entry_bar, exit_bar) = c.bars.unwrap_or((0, 0));
    let run = match c.run {
        Some(r) => format!("{}/run-{r}", account_name(c.epoch)),
        None => format!("{}/reset", account_name(c.epoch)),
    };
    Ok(NewEntry {
        source: Source::Paper,
        run_id: Some(run),
        strategy: StrategyId::parse("strategy", strategy)?,
        model: None,
        params: None,
        settings: None,
        playbook: None,
        symbol: c.symbol.to_string(),
        interval: Some(interval),
        account: Some(account_name(c.epoch)),
        order_ids: vec![c.entry_order.to_string(), c.exit_order.to_string()],
        trade: TradeRecord::at(t, (entry_bar, exit_bar), (c.opened_ms, c.exit_ms)),
        bars_known: c.bars.is_some(),
    })
}

/// Journals close `c` inside the ledger's transaction; returns the entry's id.
pub fn record_close(tx: &Transaction<'_>, c: &Close<'_>) -> Result<EntryId> {
    journal::append(tx, &entry_of(c)?)
}
