//! The execution engine: orders (kinds, time in force, the lifecycle as one transition table and its
//! append-only event log), the fill ledger, and the only path to a fill.
//!
//! - [`order`]: the vocabulary and [`order::TRANSITIONS`], the lifecycle.
//! - [`place`](mod@place): the front door. [`place::place`] runs the risk validator inside the transaction that
//!   records the order; [`place::submit`] takes a [`crate::risk::Approval`], which only the risk layer
//!   makes, so no entry order exists without an audited approval. Exits and cancels need none.
//! - [`ledger`]: the fill accounting on the backtest's fill functions ([`crate::engine::fills`]) — the
//!   only code that writes fills, positions and trades — and the account as the fold of the fills.
//! - [`process`]: the bar walker. A [`process::Broker`] (the paper broker in [`crate::paper`]) decides
//!   which orders a bar fills and at what price; the [`process::BarDesk`] it is handed writes through
//!   the ledger. One transaction per bar that changes anything.
//! - [`store`]: the SQL (migration `0005_paper.sql`); [`instrument`]: `[instruments.SYMBOL]`;
//!   [`risk_link`]: every call into the risk book; [`journal_link`]: every close journaled.
//!
//! Every state change is one SQLite transaction: a submit is the risk check, its audit row, the order
//! row and its events; processing a bar is its fills, order events, positions, trades, their journal
//! entries, risk records and the cursor. Ids are allocated inside the transaction (max + 1), so a restart after `kill -9`
//! continues with the same ids an uninterrupted run would have used.
//!
//! Modes live in the database ([`store::mode`], audited changes): in guide mode accepted orders are
//! recorded as `previewed` and never fill; in autonomous mode they are `submitted` and fill on paper.
//! There is no live broker.

pub mod instrument;
pub mod journal_link;
pub mod ledger;
pub mod order;
pub mod place;
pub mod process;
pub mod risk_link;
pub mod store;

pub use instrument::{Instrument, Instruments};
pub use ledger::{At, Costs, Ledger, MarketBook, OpenPosition, Totals, WorkingOrder};
pub use order::{Order, OrderEvent, OrderKind, OrderState, OrderType, Role, TimeInForce};
pub use place::{Desk, ExitRequest, OrderRequest, Placed, cancel, place, place_exit, submit};
pub use process::{BarDesk, Broker, MarketBars, Processor, RunSummary};
pub use store::Mode;
