//! The trade journal: an append-only, hash-chained record of every closed trade — from backtests
//! (`backtest --journal`), the paper broker ([`append`] on every close) and live trading (`journal import`
//! of a broker's fills) — and what is learnt from it: statistics ([`stats`]), the comparison of real
//! trades with a replay of their backtest ([`analyze`]), and the feedback loop that watches a strategy's
//! recent trades and disables it, queues its re-optimization or flags it ([`feedback`]), with dated
//! snapshots ([`snapshot`]).
//!
//! A backtest's trades are journaled once ([`once`]): the same run again (a cron line, a retry) adds only
//! the trades the journal does not hold yet.
//!
//! Every table is append-only (the database refuses UPDATE and DELETE) and a hash chain
//! (`crate::db::chain`): [`verify`] recomputes the chains and checks the guard triggers, so a change made
//! by any means — even with the triggers dropped — names the first row it broke.
//!
//! The paper broker journals a close inside its own transaction:
//!
//! ```no_run
//! # fn demo(db: &mut flowrex::db::Db, entry: &flowrex::journal::NewEntry) -> flowrex::Result<()> {
//! db.write(|tx| {
//!     // … the close's own writes, then in the same transaction:
//!     let id = flowrex::journal::append(tx, entry)?;
//!     # let _ = id;
//!     Ok(())
//! })?; // an error anywhere rolls back the close and the journal row together
//! # Ok(()) }
//! ```

pub mod analyze;
pub mod entry;
pub mod feedback;
pub mod import;
pub mod once;
pub mod reference;
pub mod settings;
pub mod snapshot;
pub mod stats;

pub use entry::{
    DEFAULT_ACCOUNT, Entry, EntryId, Filter, NewEntry, PlaybookRef, Source, append, append_all,
    append_at,
};
pub use settings::{JournalSettings, Thresholds};

use rusqlite::Connection;

use crate::db::audit::{Verification, verify_chains};
use crate::db::chain::Chain;
use crate::error::Result;

/// Every chained table of the journal, in the order [`verify`] reports them.
pub const CHAINS: [Chain; 4] = [
    entry::ENTRIES,
    import::FILLS,
    feedback::FEEDBACK,
    snapshot::SNAPSHOTS,
];

/// Recomputes every journal chain and checks its guard triggers against the ones the migrations
/// installed. Read-only: run it in a read transaction for a consistent snapshot.
pub fn verify(conn: &Connection) -> Result<Verification> {
    verify_chains(conn, &CHAINS, crate::db::migrations::installed_trigger_sql)
}
