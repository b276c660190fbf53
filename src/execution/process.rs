//! Processing bars: the driver that walks closed bars, lets a [`Broker`] match each one, and commits.
//!
//! A [`Processor::step`] runs inside one write transaction: it loads the ledger (account, working
//! orders, open positions, cursors), walks the markets' unprocessed bars in time order (ties by the
//! order the markets were given), lets the broker match each bar of a market that has something to
//! match, and stops right after the first bar that changed anything — so one transaction holds one
//! bar's fills, order events, risk records and the cursor advance, and a `kill -9` leaves the state
//! before or after that bar. Quiet bars only move the cursor (and the mark) and ride along in the next
//! transaction. [`Processor::run`] repeats steps until no bar is left; a driver that decides between
//! bars (the agent pipeline) calls it with `upto_ms` = the bar it is at.
//!
//! A market with no working order and no open position is not walked: its cursor jumps to its last
//! bar. Running twice with no new bars writes nothing.

use super::instrument::Instruments;
use super::ledger::{At, Costs, Ledger, LedgerState, MarketBook, RunInfo, WorkingOrder};
use super::store;
use crate::candles::{Bar, Candles, Interval};
use crate::db::Db;
use crate::error::Result;
use crate::risk::Limits;
use crate::trade::ExitReason;

/// Matching rules: which working orders a bar fills, at what price and quantity. A broker decides;
/// the [`BarDesk`] it is handed writes (through the ledger, the only path to a fill).
pub trait Broker {
    /// Matches one bar of one market.
    fn on_bar(&mut self, desk: &mut BarDesk<'_, '_, '_>) -> Result<()>;
    /// The costs it charges (spread, commission).
    fn costs(&self) -> Costs;
    /// The seed of its random parts, recorded with each run.
    fn seed(&self) -> u64;
    /// Its settings as JSON, recorded with each run.
    fn settings_json(&self) -> String;
}

/// One bar of one market, as a broker sees it: the bar, the market's book, and the actions a broker
/// may take (fill, trigger, expire, cancel), all timed at the bar's open.
pub struct BarDesk<'l, 'a, 't> {
    ledger: &'l mut Ledger<'a, 't>,
    m: usize,
    bar: Bar,
    /// The market's bar open times and this bar's index among them.
    bars: (&'l [i64], usize),
}

impl BarDesk<'_, '_, '_> {
    /// The bar being matched.
    pub fn bar(&self) -> Bar {
        self.bar
    }

    /// The market's book: working orders, open positions, instrument.
    pub fn book(&self) -> &MarketBook {
        &self.ledger.markets[self.m]
    }

    /// The ids of the working orders, by id, into `out` (cleared first).
    pub fn working_ids(&self, out: &mut Vec<i64>) {
        out.clear();
        out.extend(self.book().working().map(|o| o.id));
    }

    /// Working order `id`, if it is still working.
    pub fn order(&self, id: i64) -> Option<&WorkingOrder> {
        self.book().order(id)
    }

    /// Fills up to `qty` units of order `id` at `price` (after slippage, before spread); see
    /// the ledger's `fill`.
    pub fn fill(
        &mut self,
        id: i64,
        qty: f64,
        price: f64,
        requested: f64,
        exit: Option<(ExitReason, bool)>,
    ) -> Result<()> {
        let at = At {
            ms: self.bar.ts,
            bars: Some(self.bars),
        };
        self.ledger
            .fill(self.m, id, qty, price, requested, exit, at)
    }

    /// Marks stop-limit `id` as triggered at `price`.
    pub fn trigger(&mut self, id: i64, price: f64) -> Result<()> {
        self.ledger.trigger(self.m, id, price, self.bar.ts)
    }

    /// Expires order `id`.
    pub fn expire(&mut self, id: i64, reason: &str) -> Result<()> {
        self.ledger.expire(self.m, id, reason, self.bar.ts)
    }

    /// Cancels order `id`.
    pub fn cancel(&mut self, id: i64, reason: &str) -> Result<()> {
        self.ledger.cancel(self.m, id, reason, self.bar.ts)
    }
}

/// The bars of one market.
#[derive(Debug, Clone, Copy)]
pub struct MarketBars<'c> {
    /// Instrument.
    pub symbol: &'c str,
    /// Bar series.
    pub interval: Interval,
    /// Its bars (sorted by time).
    pub candles: &'c Candles,
}

/// What one step did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Step {
    /// Bars walked.
    pub bars: usize,
    /// Fills written.
    pub fills: usize,
    /// Rows written besides cursors (fills, order changes).
    pub changes: usize,
    /// No bar is left up to the limit.
    pub done: bool,
}

/// What a run did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct RunSummary {
    /// Bars walked.
    pub bars: usize,
    /// Transactions committed.
    pub transactions: usize,
    /// Fills written.
    pub fills: usize,
    /// Order changes and fills written.
    pub changes: usize,
    /// The run row the fills point to (none when nothing filled).
    pub run_id: Option<i64>,
}

/// Walks bars for a broker; holds the run its fills are attributed to.
pub struct Processor<'b> {
    broker: &'b mut dyn Broker,
    limits: Limits,
    instruments: Instruments,
    run: RunInfo,
    cache: Option<Cache>,
}

/// The ledger as [`Processor::run`] left it after its last commit, and how to know nothing else wrote
/// since: SQLite's `data_version` (changes when another connection commits) and this connection's
/// `total_changes` (changes when this connection writes anything else, e.g. a driver placing an order
/// between two runs). Reloading the working orders every transaction cost about 2.5 ms with 500 of
/// them; a cache hit costs two reads.
struct Cache {
    state: LedgerState,
    data_version: i64,
    total_changes: u64,
}

struct Lane {
    k: usize,
    m: usize,
    next: usize,
    end: usize,
}

impl<'b> Processor<'b> {
    /// A processor for `broker` with the effective risk `limits` (for the closes it records) and the
    /// configured `instruments`; `now_ms` is recorded as the run's start.
    pub fn new(
        broker: &'b mut dyn Broker,
        limits: Limits,
        instruments: Instruments,
        now_ms: i64,
    ) -> Processor<'b> {
        let run = RunInfo {
            id: None,
            seed: broker.seed(),
            settings: broker.settings_json(),
            started_ms: now_ms,
        };
        Processor {
            broker,
            limits,
            instruments,
            run,
            cache: None,
        }
    }

    /// The run row, once a fill wrote it.
    pub fn run_id(&self) -> Option<i64> {
        self.run.id
    }

    /// One transaction's worth: bars of `markets` opening at or before `upto_ms`, in time order, up to
    /// and including the first that changes anything. `now_ms` stamps the cursors. Runs inside the
    /// caller's transaction (and reloads the state from it).
    pub fn step(
        &mut self,
        tx: &rusqlite::Transaction<'_>,
        markets: &[MarketBars<'_>],
        upto_ms: i64,
        now_ms: i64,
    ) -> Result<Step> {
        self.cache = None;
        self.step_with(tx, markets, upto_ms, now_ms, false)
    }

    fn step_with(
        &mut self,
        tx: &rusqlite::Transaction<'_>,
        markets: &[MarketBars<'_>],
        upto_ms: i64,
        now_ms: i64,
        keep: bool,
    ) -> Result<Step> {
        let seen = if keep {
            let v: i64 = tx.query_row("PRAGMA data_version", [], |r| r.get(0))?;
            Some((v, tx.total_changes()))
        } else {
            None
        };
        let cached = self
            .cache
            .take()
            .filter(|c| seen == Some((c.data_version, c.total_changes)));
        let costs = self.broker.costs();
        let broker = &mut *self.broker;
        let mut ledger = match cached {
            Some(c) => Ledger::resume(
                tx,
                c.state,
                &self.instruments,
                self.limits,
                costs,
                Some(&mut self.run),
            ),
            None => {
                let Some(account) = store::current_account(tx)? else {
                    return Ok(Step {
                        done: true,
                        ..Step::default()
                    });
                };
                Ledger::load(
                    tx,
                    account,
                    &self.instruments,
                    self.limits,
                    costs,
                    Some(&mut self.run),
                )?
            }
        };
        let mut lanes = Vec::with_capacity(markets.len());
        for (k, mk) in markets.iter().enumerate() {
            let m = ledger.market(mk.symbol, mk.interval.as_str())?;
            let book = &ledger.markets[m];
            let ts = &mk.candles.ts;
            // A market never processed starts at the first bar an order may match (it can hold no
            // position yet: positions come from fills, which move the cursor).
            let start = match book.cursor {
                Some(c) => ts.partition_point(|&t| t <= c.last_bar_ms),
                None => {
                    let first = book.working().map(|o| o.active_from_ms).min();
                    first.map_or(0, |f| ts.partition_point(|&t| t < f))
                }
            };
            let end = ts.partition_point(|&t| t <= upto_ms);
            if start >= end {
                continue;
            }
            if book.is_idle() {
                // Nothing to match: the cursor (and mark) jump to the last bar.
                ledger.advance(m, ts[end - 1], mk.candles.close[end - 1]);
                continue;
            }
            lanes.push(Lane {
                k,
                m,
                next: start,
                end,
            });
        }
        let mut step = Step::default();
        let fills_before = ledger.fills;
        while let Some(li) = next_lane(&lanes, markets) {
            let lane = &mut lanes[li];
            let bar = markets[lane.k].candles.bar(lane.next);
            let before = ledger.changes;
            if !ledger.markets[lane.m].is_idle() {
                broker.on_bar(&mut BarDesk {
                    ledger: &mut ledger,
                    m: lane.m,
                    bar,
                    bars: (&markets[lane.k].candles.ts, lane.next),
                })?;
                ledger.markets[lane.m].compact();
            }
            ledger.advance(lane.m, bar.ts, bar.close);
            lane.next += 1;
            step.bars += 1;
            if ledger.changes > before {
                break;
            }
        }
        ledger.save_cursors(now_ms)?;
        step.changes = ledger.changes;
        step.fills = ledger.fills - fills_before;
        step.done = lanes.iter().all(|l| l.next >= l.end);
        let state = ledger.into_state();
        if let Some((data_version, _)) = seen {
            self.cache = Some(Cache {
                state,
                data_version,
                total_changes: tx.total_changes(),
            });
        }
        Ok(step)
    }

    /// Steps until no bar is left up to `upto_ms`, each step its own transaction.
    pub fn run(
        &mut self,
        db: &mut Db,
        markets: &[MarketBars<'_>],
        upto_ms: i64,
        now_ms: i64,
    ) -> Result<RunSummary> {
        let mut sum = RunSummary::default();
        loop {
            let step = db.write(|tx| self.step_with(tx, markets, upto_ms, now_ms, true));
            let step = match step {
                Ok(s) => s,
                Err(e) => {
                    self.cache = None;
                    return Err(e);
                }
            };
            sum.bars += step.bars;
            sum.fills += step.fills;
            sum.changes += step.changes;
            sum.transactions += 1;
            if step.done {
                break;
            }
        }
        sum.run_id = self.run.id;
        Ok(sum)
    }
}

/// The lane whose next bar opens first (ties: the market given first).
fn next_lane(lanes: &[Lane], markets: &[MarketBars<'_>]) -> Option<usize> {
    lanes
        .iter()
        .enumerate()
        .filter(|(_, l)| l.next < l.end)
        .min_by_key(|(_, l)| (markets[l.k].candles.ts[l.next], l.k))
        .map(|(i, _)| i)
}
