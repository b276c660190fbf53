//! Paper trading: the paper broker (the matching rules on the backtest's fill functions), its fill model
//! settings (`[paper]`), seeded randomness, and the simulation account derived from the fill ledger.
//!
//! - [`broker::PaperBroker`] implements [`crate::execution::Broker`]: the execution engine walks bars,
//!   the broker decides what fills at what price, the engine's ledger writes it.
//! - [`settings`]: `[paper]` and its overrides, resolved into a [`settings::FillModel`].
//! - [`account`]: the account, positions, fills, trades, `verify` and `reset`; [`history`]: its equity
//!   over time, re-marked from the ledger and the stored bars (for reports).
//! - [`process_store`]: the `paper-trade process` run: closed bars from the store since each market's
//!   cursor, through the broker, one transaction per bar that changes anything.
//!
//! **One matcher, two drivers.** With slippage 0, latency 0, fill probability 1 and no volume cap, a
//! market order decided at bar *i*'s close (submitted at that close time) fills at bar *i + 1*'s open
//! exactly as `engine::bar_loop` fills it: the same functions (`entry_price`, `commission`,
//! `size_units`, `close_position`, `bar_exit`) in the same order (pending fills at the open — an entry
//! first closing the open position of its book at the same price —, then the bracket against the bar,
//! then the mark at the close), and the same summation for the balance and the equity. The
//! integration tests drive both with the same strategy and compare the trade records field by field.
//!
//! Differences from the backtest, by design: orders have a fixed size in units (the backtest sizes at
//! fill time from its cash); fills at a bar's close (`--fill close`), `--close-at-end` and the
//! out-of-money close-out do not exist (an entry without margin is rejected instead); an entry filled
//! inside a bar (a limit or stop touch) is exposed to its bracket from the next bar.

pub mod account;
pub mod broker;
pub mod history;
pub mod random;
pub mod settings;

pub use account::{Account, Position};
pub use broker::PaperBroker;
pub use settings::{FillModel, PaperConfig};

use crate::candles::{Candles, Interval, Store, TimeRange};
use crate::db::Db;
use crate::error::{Error, Result};
use crate::execution::store as xstore;
use crate::execution::{Instruments, MarketBars, Processor, RunSummary};
use crate::risk::Limits;

/// The markets the account has work in (working orders or open positions), sorted.
pub fn active_markets(db: &mut Db) -> Result<Vec<(String, Interval)>> {
    db.read(|tx| {
        let Some(a) = xstore::current_account(tx)? else {
            return Ok(Vec::new());
        };
        let mut stmt = tx.prepare(&format!(
            "SELECT symbol, interval FROM paper_orders WHERE account_id = ?1 AND state IN {}
             UNION SELECT symbol, interval FROM paper_positions WHERE account_id = ?1 AND closed_ms IS NULL
             ORDER BY 1, 2",
            crate::execution::OrderState::WORKING_SQL
        ))?;
        let rows = stmt.query_map([a.id], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
        let mut out = Vec::new();
        for row in rows {
            let (s, i) = row?;
            out.push((s, i.parse::<Interval>()?));
        }
        Ok(out)
    })
}

/// The bars of `candles` that have closed by `now_ms` (the next bar's open time is at or before now).
pub fn closed_bars(candles: &Candles, interval: Interval, now_ms: i64) -> Candles {
    let n = candles
        .ts
        .partition_point(|&t| interval.next_open(t) <= now_ms);
    if n == candles.len() {
        candles.clone()
    } else {
        candles.slice(0..n)
    }
}

/// The close time of the bar opening at `ts`: the clock of a driver that decides at that close.
pub fn close_time(interval: Interval, ts: i64) -> i64 {
    interval.next_open(ts)
}

/// What `process_store` did.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ProcessReport {
    /// The markets walked.
    pub markets: Vec<String>,
    /// Bars, transactions, fills and the run id.
    #[serde(flatten)]
    pub summary: RunSummary,
}

/// Processes the closed bars (by `now_ms`) of `markets` (default: every market with work) from the
/// store through a paper broker with `model`. A market with a pip-based slippage but no pip size is an
/// error naming the instrument.
pub fn process_store(
    db: &mut Db,
    store: &Store,
    model: &FillModel,
    instruments: &Instruments,
    limits: Limits,
    markets: Option<Vec<(String, Interval)>>,
    now_ms: i64,
) -> Result<ProcessReport> {
    let markets = match markets {
        Some(m) => m,
        None => active_markets(db)?,
    };
    let mut loaded = Vec::with_capacity(markets.len());
    for (symbol, interval) in &markets {
        if (model.slippage_pips > 0.0 || model.random_slippage_pips > 0.0)
            && instruments.get(symbol).pip_size.is_none()
        {
            return Err(Error::invalid(format!(
                "slippage_pips: [instruments.{symbol}] has no pip_size; set it in flowrex.toml or use \
                 slippage_bps"
            )));
        }
        let all = store.load(symbol, *interval, &TimeRange::ALL)?;
        loaded.push(closed_bars(&all, *interval, now_ms));
    }
    let bars: Vec<MarketBars<'_>> = markets
        .iter()
        .zip(&loaded)
        .map(|((s, i), c)| MarketBars {
            symbol: s,
            interval: *i,
            candles: c,
        })
        .collect();
    let mut broker = PaperBroker::new(model.clone());
    let mut p = Processor::new(&mut broker, limits, instruments.clone(), now_ms);
    let summary = p.run(db, &bars, i64::MAX, now_ms)?;
    Ok(ProcessReport {
        markets: markets.iter().map(|(s, i)| format!("{s} {i}")).collect(),
        summary,
    })
}
