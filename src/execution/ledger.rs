//! The ledger: the in-memory state of one writing transaction (the account's totals, and per market its
//! working orders, open positions and mark) and the fill accounting — the ONLY code that writes a fill.
//!
//! Every fill goes through `Ledger::fill`: an entry first closes an open position of its book
//! (exclusive orders, through an exit order the engine creates with reason `reversal`), is checked for
//! margin, pays commission on its spread-adjusted price, opens or adds to a position and, on its first
//! fill, places its bracket as two one-cancels-other exit legs; an exit closes part or all of its
//! position into a trade record. The arithmetic is the backtest's own ([`crate::engine::fills`]:
//! `entry_price`, `commission`, `size_units`, `close_position`), in the same order, so with the same
//! prices the balance, every trade's P&L and the equity are the backtest's numbers bit for bit.
//!
//! Each fill row also carries the position and the account after it: the account is the fold of the
//! ledger (balance = initial + Σ cash changes, in fill order, the backtest's own summation), written once
//! per row and never updated, so reading the account is one row away and `verify` can re-fold.
//! Fills and closes update the risk book (`record_fill` when a position opens, `record_close` with the
//! position's net P&L when it closes) in the same transaction, and every close (each trade row) is
//! journaled there too ([`super::journal_link`]).

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, Transaction, params};

use super::instrument::{Instrument, Instruments};
use super::journal_link::{self, Close};
use super::order::{Order, OrderEvent, OrderKind, OrderState, Role, TimeInForce};
use super::risk_link;
use super::store::{self, AccountRow, Cursor, NewOrder, Progress, next_id, ts_text};
use crate::db::seal;
use crate::engine::Sizing;
use crate::engine::fills;
use crate::error::{Error, Result};
use crate::risk::Limits;
use crate::trade::{ExitReason, Side, Trade};

/// The costs a broker charges: the backtest's spread and commission, plus a commission per lot.
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize)]
pub struct Costs {
    /// Spread as a fraction of price, worsening the entry price only (as `backtest --spread`).
    pub spread: f64,
    /// Commission as a fraction of traded value, on entry and exit (as `backtest --commission`).
    pub commission: f64,
    /// Commission per lot traded, on entry and exit.
    pub commission_per_lot: f64,
}

/// When a fill happens: the bar's open time and, when a bar walker fills it, the market's bar open times
/// and this bar's index among them (so a journaled close names its entry and exit bars).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct At<'b> {
    /// The bar's open time (ms), or the time of a fill outside the bars (a reset's close).
    pub ms: i64,
    /// The market's bar open times and the index of this bar.
    pub bars: Option<(&'b [i64], usize)>,
}

impl At<'_> {
    /// A fill outside the bars, at `ms`.
    pub fn off_bar(ms: i64) -> At<'static> {
        At { ms, bars: None }
    }

    /// The entry and exit bar indices of a position opened at `opened_ms` and closed now, when this
    /// fill is on a bar and the opening bar is among the bars.
    fn bar_indices(&self, opened_ms: i64) -> Option<(usize, usize)> {
        let (ts, i) = self.bars?;
        let entry = ts[..=i].binary_search(&opened_ms).ok()?;
        Some((entry, i))
    }
}

/// The account after a fill: the fold of the ledger up to it.
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize)]
pub struct Totals {
    /// Cash: initial balance + Σ cash changes (commissions paid, gross P&L of closes).
    pub balance: f64,
    /// Σ net P&L of closed trades.
    pub realized: f64,
    /// Σ commissions paid.
    pub commission: f64,
    /// Closed trades.
    pub trades: i64,
    /// Closed trades with a net P&L above 0.
    pub wins: i64,
    /// Fills.
    pub fills: i64,
}

/// The totals of `account` after its last fill (its initial balance when it has none).
pub fn totals(tx: &Transaction<'_>, account: &AccountRow) -> Result<Totals> {
    let t = tx
        .prepare_cached(
            "SELECT balance, realized_total, commission_total, trades, wins, fills FROM paper_fills
             WHERE account_id = ?1 ORDER BY id DESC LIMIT 1",
        )?
        .query_row([account.id], |r| {
            Ok(Totals {
                balance: r.get(0)?,
                realized: r.get(1)?,
                commission: r.get(2)?,
                trades: r.get(3)?,
                wins: r.get(4)?,
                fills: r.get(5)?,
            })
        })
        .optional()?;
    Ok(t.unwrap_or(Totals {
        balance: account.initial_balance,
        ..Totals::default()
    }))
}

/// A working order as the broker sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkingOrder {
    /// Order id.
    pub id: i64,
    /// Entry, exit or bracket leg.
    pub role: Role,
    /// Buy (long) or sell (short).
    pub side: Side,
    /// Pricing.
    pub kind: OrderKind,
    /// Time in force.
    pub tif: TimeInForce,
    /// Units ordered (for reduce-only orders: at most this many).
    pub quantity: f64,
    /// Units filled.
    pub filled: f64,
    /// Lifecycle state (a working one).
    pub state: OrderState,
    /// Bracket of an entry.
    pub stop_loss: Option<f64>,
    /// Bracket of an entry.
    pub take_profit: Option<f64>,
    /// Bars opening before this are not eligible.
    pub active_from_ms: i64,
    /// Day orders: expired by the first bar opening at or after this.
    pub expires_ms: Option<i64>,
    /// The book (strategy) it trades in.
    pub strategy: String,
    /// The position it opened or reduces.
    pub position_id: Option<i64>,
    avg_price: Option<f64>,
}

impl WorkingOrder {
    /// Units still to fill.
    pub fn remaining(&self) -> f64 {
        (self.quantity - self.filled).max(0.0)
    }

    /// Whether a bar opening at `ts` may fill it.
    pub fn eligible(&self, ts: i64) -> bool {
        ts >= self.active_from_ms
    }
}

impl From<Order> for WorkingOrder {
    fn from(o: Order) -> Self {
        WorkingOrder {
            id: o.id,
            role: o.role,
            side: o.side,
            kind: o.kind,
            tif: o.tif,
            quantity: o.quantity,
            filled: o.filled_quantity,
            state: o.state,
            stop_loss: o.stop_loss,
            take_profit: o.take_profit,
            active_from_ms: o.active_from_ms,
            expires_ms: o.expires_ms,
            strategy: o.strategy,
            position_id: o.position_id,
            avg_price: o.avg_fill_price,
        }
    }
}

/// An open position.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct OpenPosition {
    /// Position id (the fill that opened it).
    pub id: i64,
    /// Instrument.
    pub symbol: String,
    /// Bar series.
    pub interval: String,
    /// The book (strategy) it belongs to.
    pub strategy: String,
    /// Signed units.
    pub units: f64,
    /// Average entry price (after spread).
    pub entry: f64,
    /// When it opened (ms): the bar of its first fill.
    pub opened_ms: i64,
    /// The entry order.
    pub entry_order_id: i64,
    /// The bracket's stop loss at entry.
    pub stop_loss: Option<f64>,
    /// The bracket's take profit at entry.
    pub take_profit: Option<f64>,
    /// Net P&L of the parts already closed.
    pub realized: f64,
}

/// The open positions of `account_id`, oldest first.
pub fn open_positions(tx: &Transaction<'_>, account_id: i64) -> Result<Vec<OpenPosition>> {
    let mut stmt = tx.prepare_cached(
        "SELECT p.id, p.symbol, p.interval, p.strategy, p.opened_ms, p.entry_order_id, p.stop_loss,
                p.take_profit,
                (SELECT position_units FROM paper_fills WHERE position_id = p.id ORDER BY id DESC LIMIT 1),
                (SELECT position_entry FROM paper_fills WHERE position_id = p.id ORDER BY id DESC LIMIT 1),
                (SELECT coalesce(sum(pnl), 0) FROM paper_trades WHERE position_id = p.id)
         FROM paper_positions p WHERE p.account_id = ?1 AND p.closed_ms IS NULL ORDER BY p.id",
    )?;
    let rows = stmt.query_map([account_id], |r| {
        Ok(OpenPosition {
            id: r.get(0)?,
            symbol: r.get(1)?,
            interval: r.get(2)?,
            strategy: r.get(3)?,
            opened_ms: r.get(4)?,
            entry_order_id: r.get(5)?,
            stop_loss: r.get(6)?,
            take_profit: r.get(7)?,
            units: r.get(8)?,
            entry: r.get(9)?,
            realized: r.get(10)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// One market (symbol, interval) of the ledger.
#[derive(Debug, Clone)]
pub struct MarketBook {
    /// Instrument.
    pub symbol: String,
    /// Bar series.
    pub interval: String,
    /// Its trading terms.
    pub instrument: Instrument,
    /// Working orders, by id (an order that reached a final state stays until [`MarketBook::compact`];
    /// read them through [`MarketBook::working`]).
    pub(crate) orders: Vec<WorkingOrder>,
    /// Open positions, by id.
    pub positions: Vec<OpenPosition>,
    /// The last processed bar and its close (the mark), if any.
    pub cursor: Option<Cursor>,
    /// The cursor moved in this transaction.
    pub(crate) advanced: bool,
}

impl MarketBook {
    /// Nothing to match: no working order and no open position.
    pub fn is_idle(&self) -> bool {
        self.positions.is_empty() && self.working().next().is_none()
    }

    /// The working order `id` (orders are kept by id; a final one is gone).
    pub fn order(&self, id: i64) -> Option<&WorkingOrder> {
        self.orders
            .binary_search_by_key(&id, |o| o.id)
            .ok()
            .map(|i| &self.orders[i])
            .filter(|o| o.state.is_working())
    }

    /// The working orders, by id.
    pub fn working(&self) -> impl Iterator<Item = &WorkingOrder> {
        self.orders.iter().filter(|o| o.state.is_working())
    }

    /// Drops the orders that reached a final state (kept in place until now so that finishing an
    /// order does not shift the others: one pass per bar instead of one per order).
    pub fn compact(&mut self) {
        self.orders.retain(|o| o.state.is_working());
    }

    /// The open position of book `strategy`.
    pub fn position_of(&self, strategy: &str) -> Option<&OpenPosition> {
        self.positions.iter().find(|p| p.strategy == strategy)
    }

    /// The working bracket legs (stop loss, take profit) of position `id`.
    pub fn legs(&self, id: i64) -> (Option<&WorkingOrder>, Option<&WorkingOrder>) {
        let leg = |role| {
            self.working()
                .find(|o| o.role == role && o.position_id == Some(id))
        };
        (leg(Role::StopLoss), leg(Role::TakeProfit))
    }

    /// The price positions are marked at: the last processed close.
    pub fn mark(&self) -> Option<f64> {
        self.cursor.map(|c| c.last_close)
    }
}

/// The processing run fills are attributed to: its settings and seed, written with its first fill.
#[derive(Debug, Clone, PartialEq)]
pub struct RunInfo {
    /// The row id once written.
    pub id: Option<i64>,
    /// The seed of the fill model.
    pub seed: u64,
    /// The fill model's settings, as JSON.
    pub settings: String,
    /// When the run started (ms).
    pub started_ms: i64,
}

/// The part of a ledger that outlives its transaction: what a processor keeps between its own steps
/// while nothing else writes (see `process`).
#[derive(Debug, Clone)]
pub struct LedgerState {
    account: AccountRow,
    totals: Totals,
    markets: Vec<MarketBook>,
    emergency: bool,
    next_order: i64,
    next_fill: i64,
}

/// The state of one writing transaction, and the fill accounting.
pub struct Ledger<'a, 't> {
    tx: &'a Transaction<'t>,
    /// The account epoch.
    pub account: AccountRow,
    /// The account after the last fill.
    pub totals: Totals,
    /// Every market with working orders or open positions (and any added with [`Ledger::market`]).
    pub markets: Vec<MarketBook>,
    instruments: &'a Instruments,
    limits: Limits,
    costs: Costs,
    emergency: bool,
    run: Option<&'a mut RunInfo>,
    run_checked: bool,
    next_order: i64,
    next_fill: i64,
    /// Rows written so far (fills, order changes): zero means nothing happened.
    pub changes: usize,
    /// Fills written so far.
    pub fills: usize,
}

impl<'a, 't> Ledger<'a, 't> {
    /// Loads the state of `account`: totals, working orders and open positions grouped by market, their
    /// cursors, and the risk book's emergency flag.
    pub fn load(
        tx: &'a Transaction<'t>,
        account: AccountRow,
        instruments: &'a Instruments,
        limits: Limits,
        costs: Costs,
        run: Option<&'a mut RunInfo>,
    ) -> Result<Ledger<'a, 't>> {
        let mut ledger = Ledger {
            tx,
            totals: totals(tx, &account)?,
            account,
            markets: Vec::new(),
            instruments,
            limits,
            costs,
            emergency: crate::risk::approval::emergency_on(tx)?,
            run,
            run_checked: false,
            next_order: next_id(tx, "paper_orders")?,
            next_fill: next_id(tx, "paper_fills")?,
            changes: 0,
            fills: 0,
        };
        for o in store::working_orders(tx, ledger.account.id)? {
            let m = ledger.market(&o.symbol.clone(), &o.interval.clone())?;
            ledger.markets[m].orders.push(o.into());
        }
        for p in open_positions(tx, ledger.account.id)? {
            let m = ledger.market(&p.symbol.clone(), &p.interval.clone())?;
            ledger.markets[m].positions.push(p);
        }
        Ok(ledger)
    }

    /// A ledger over `tx` from a state kept since this process's previous transaction (which the caller
    /// knows nothing has changed since).
    pub(crate) fn resume(
        tx: &'a Transaction<'t>,
        state: LedgerState,
        instruments: &'a Instruments,
        limits: Limits,
        costs: Costs,
        run: Option<&'a mut RunInfo>,
    ) -> Ledger<'a, 't> {
        Ledger {
            tx,
            account: state.account,
            totals: state.totals,
            markets: state.markets,
            instruments,
            limits,
            costs,
            emergency: state.emergency,
            run_checked: run.as_ref().is_some_and(|r| r.id.is_some()),
            run,
            next_order: state.next_order,
            next_fill: state.next_fill,
            changes: 0,
            fills: 0,
        }
    }

    /// The state to keep for the next transaction.
    pub(crate) fn into_state(self) -> LedgerState {
        LedgerState {
            account: self.account,
            totals: self.totals,
            markets: self.markets,
            emergency: self.emergency,
            next_order: self.next_order,
            next_fill: self.next_fill,
        }
    }

    /// The index of market `symbol`/`interval`, adding an empty book (with its cursor) if needed.
    pub fn market(&mut self, symbol: &str, interval: &str) -> Result<usize> {
        if let Some(i) = self
            .markets
            .iter()
            .position(|m| m.symbol == symbol && m.interval == interval)
        {
            return Ok(i);
        }
        self.markets.push(MarketBook {
            symbol: symbol.to_string(),
            interval: interval.to_string(),
            instrument: self.instruments.get(symbol),
            orders: Vec::new(),
            positions: Vec::new(),
            cursor: store::cursor(self.tx, symbol, interval)?,
            advanced: false,
        });
        Ok(self.markets.len() - 1)
    }

    /// The transaction.
    pub fn tx(&self) -> &'a Transaction<'t> {
        self.tx
    }

    /// The costs this ledger charges.
    pub fn costs(&self) -> Costs {
        self.costs
    }

    /// Equity: the balance plus every open position marked at its market's last close (at its entry
    /// when the market has no mark yet), in position order, each as the backtest marks its one
    /// position: `balance + (close·units − units·entry)`.
    pub fn equity(&self) -> f64 {
        equity(self.totals.balance, &self.marked())
    }

    /// Margin available for a new position: equity minus the margin of open positions
    /// (`|units|·mark / leverage`), at least 0. Flat, it is the balance (as the backtest's cash).
    pub fn margin_available(&self) -> f64 {
        let marked = self.marked();
        let used = marked.iter().fold(0.0, |a, p| a + p.margin());
        (equity(self.totals.balance, &marked) - used).max(0.0)
    }

    /// Every open position with its mark and leverage, by position id.
    pub fn marked(&self) -> Vec<Marked> {
        let mut out: Vec<Marked> = self
            .markets
            .iter()
            .flat_map(|m| {
                m.positions.iter().map(|p| Marked {
                    id: p.id,
                    units: p.units,
                    entry: p.entry,
                    mark: m.mark().unwrap_or(p.entry),
                    leverage: m.instrument.leverage,
                })
            })
            .collect();
        out.sort_by_key(|p| p.id);
        out
    }

    /// Moves market `m`'s cursor to the bar opening at `ts` with close `close` (the new mark).
    pub(crate) fn advance(&mut self, m: usize, ts: i64, close: f64) {
        let book = &mut self.markets[m];
        book.cursor = Some(Cursor {
            last_bar_ms: ts,
            last_close: close,
        });
        book.advanced = true;
    }

    /// Writes the cursors that moved. `now_ms` is recorded as their update time. The cursors are live
    /// state under the seal (`db::seal`): the seal is checked before they are written — a cursor moved
    /// outside flowrex fails the transaction, so nothing decided on it is kept — and renewed after.
    pub(crate) fn save_cursors(&mut self, now_ms: i64) -> Result<()> {
        if !self
            .markets
            .iter()
            .any(|m| m.advanced && m.cursor.is_some())
        {
            return Ok(());
        }
        // Every loaded market's cursor: the walk over their bars started from them.
        let rows: Vec<seal::Row<'_>> = self
            .markets
            .iter()
            .map(|m| seal::Row::Cursor(&m.symbol, &m.interval))
            .collect();
        seal::check(self.tx, &rows)?;
        for m in &mut self.markets {
            if let (true, Some(c)) = (m.advanced, m.cursor) {
                store::set_cursor(self.tx, &m.symbol, &m.interval, c, now_ms)?;
                m.advanced = false;
            }
        }
        let rows: Vec<seal::Row<'_>> = self
            .markets
            .iter()
            .map(|m| seal::Row::Cursor(&m.symbol, &m.interval))
            .collect();
        seal::reseal(self.tx, &rows, now_ms)
    }

    // ---- Order changes -----------------------------------------------------------------------------

    fn order_pos(&self, m: usize, id: i64) -> Result<usize> {
        let orders = &self.markets[m].orders;
        orders
            .binary_search_by_key(&id, |o| o.id)
            .ok()
            .filter(|&i| orders[i].state.is_working())
            .ok_or_else(|| Error::invalid(format!("order {id}: not a working order")))
    }

    /// Applies `event` to working order `id` of market `m` (through the transition table) and drops it
    /// from the book when it reaches a final state.
    fn change(
        &mut self,
        m: usize,
        id: i64,
        event: OrderEvent,
        ts: i64,
        p: Progress<'_>,
    ) -> Result<OrderState> {
        let i = self.order_pos(m, id)?;
        let from = self.markets[m].orders[i].state;
        let to = store::transition(self.tx, id, from, event, ts, p)?;
        self.changes += 1;
        self.markets[m].orders[i].state = to;
        Ok(to)
    }

    /// Cancels working order `id` with reason code `reason`.
    pub(crate) fn cancel(&mut self, m: usize, id: i64, reason: &str, ts: i64) -> Result<()> {
        let p = Progress {
            reason: Some(reason),
            ..Progress::default()
        };
        self.change(m, id, OrderEvent::Cancel, ts, p).map(drop)
    }

    /// Expires working order `id` (its time in force ran out).
    pub(crate) fn expire(&mut self, m: usize, id: i64, reason: &str, ts: i64) -> Result<()> {
        let p = Progress {
            reason: Some(reason),
            ..Progress::default()
        };
        self.change(m, id, OrderEvent::Expire, ts, p).map(drop)
    }

    /// Marks stop-limit order `id` as triggered (now a working limit).
    pub(crate) fn trigger(&mut self, m: usize, id: i64, price: f64, ts: i64) -> Result<()> {
        let p = Progress {
            price: Some(price),
            ..Progress::default()
        };
        self.change(m, id, OrderEvent::Trigger, ts, p).map(drop)
    }

    /// Refuses order `id`: rejected when nothing of it filled yet, else its remainder is cancelled.
    fn refuse(&mut self, m: usize, id: i64, reason: &str, ts: i64) -> Result<()> {
        let i = self.order_pos(m, id)?;
        let event = if self.markets[m].orders[i].filled > 0.0 {
            OrderEvent::Cancel
        } else {
            OrderEvent::Reject
        };
        let p = Progress {
            reason: Some(reason),
            ..Progress::default()
        };
        self.change(m, id, event, ts, p).map(drop)
    }

    /// Writes an order the engine places itself (a bracket leg, a reversal's exit), accepted at once.
    fn place_own(&mut self, m: usize, o: OwnOrder, ts: i64) -> Result<i64> {
        let id = self.next_order;
        self.next_order += 1;
        let book = &self.markets[m];
        store::insert_order(
            self.tx,
            &NewOrder {
                id,
                account_id: self.account.id,
                client_id: None,
                symbol: &book.symbol,
                interval: &book.interval,
                strategy: &o.strategy,
                role: o.role,
                side: o.side,
                kind: o.kind,
                tif: TimeInForce::Gtc,
                quantity: o.quantity,
                stop_loss: None,
                take_profit: None,
                reference_price: None,
                parent_id: Some(o.parent),
                risk_decision_id: None,
                submitted_ms: ts,
                active_from_ms: ts,
                expires_ms: None,
                position_id: Some(o.position),
            },
        )?;
        let p = Progress {
            reason: Some(o.reason),
            ..Progress::default()
        };
        store::transition(self.tx, id, OrderState::New, OrderEvent::Accept, ts, p)?;
        self.changes += 1;
        self.markets[m].orders.push(WorkingOrder {
            id,
            role: o.role,
            side: o.side,
            kind: o.kind,
            tif: TimeInForce::Gtc,
            quantity: o.quantity,
            filled: 0.0,
            state: OrderState::Submitted,
            stop_loss: None,
            take_profit: None,
            active_from_ms: ts,
            expires_ms: None,
            strategy: o.strategy,
            position_id: Some(o.position),
            avg_price: None,
        });
        Ok(id)
    }

    fn ensure_run(&mut self) -> Result<Option<i64>> {
        let Some(run) = self.run.as_deref_mut() else {
            return Ok(None);
        };
        if !self.run_checked {
            let exists = match run.id {
                Some(id) => self
                    .tx
                    .prepare_cached("SELECT 1 FROM paper_runs WHERE id = ?1")?
                    .query_row([id], |_| Ok(()))
                    .optional()?
                    .is_some(),
                None => false,
            };
            if !exists {
                let id = next_id(self.tx, "paper_runs")?;
                self.tx.execute(
                    "INSERT INTO paper_runs (id, started_ms, started_ts, account_id, seed, settings)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    params![
                        id,
                        run.started_ms,
                        ts_text(run.started_ms),
                        self.account.id,
                        run.seed as i64,
                        run.settings
                    ],
                )?;
                run.id = Some(id);
            }
            self.run_checked = true;
        }
        Ok(run.id)
    }

    // ---- Fills -------------------------------------------------------------------------------------

    /// Fills up to `qty` units of working order `id` of market `m` at `price` (the market price after
    /// slippage, before spread) on the bar opening at `ts`. `requested` is the price before slippage
    /// (the open or the order's level); `exit` the reason and ambiguity of a reduce-only fill
    /// (`Signal`, not ambiguous, when `None`). Refusals (no margin, emergency shutdown, nothing to
    /// reduce) are order events, not errors.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn fill(
        &mut self,
        m: usize,
        id: i64,
        qty: f64,
        price: f64,
        requested: f64,
        exit: Option<(ExitReason, bool)>,
        at: At<'_>,
    ) -> Result<()> {
        if !(qty.is_finite() && qty > 0.0 && price.is_finite() && price > 0.0) {
            return Err(Error::invalid(format!(
                "order {id}: cannot fill {qty} units at {price}"
            )));
        }
        let i = self.order_pos(m, id)?;
        if self.markets[m].orders[i].role == Role::Entry {
            self.fill_entry(m, id, qty, price, requested, at)
        } else {
            let exit = exit.unwrap_or((ExitReason::Signal, false));
            self.fill_exit(m, id, qty, price, requested, exit, at)
        }
    }

    fn fill_entry(
        &mut self,
        m: usize,
        id: i64,
        qty: f64,
        price: f64,
        requested: f64,
        at: At<'_>,
    ) -> Result<()> {
        let ts = at.ms;
        let o = self.markets[m].orders[self.order_pos(m, id)?].clone();
        let qty = qty.min(o.remaining());
        if qty <= 0.0 {
            return Ok(());
        }
        if self.emergency {
            return self.refuse(m, id, "emergency_shutdown", ts);
        }
        self.reverse(m, &o, price, requested, at)?;
        let inst = self.markets[m].instrument;
        let rate = self.costs.commission;
        let adj = fills::entry_price(price, self.costs.spread, o.side);
        let available = self.margin_available() * inst.leverage;
        if fills::size_units(Sizing::Units(qty), available, adj, price, None, rate).is_none() {
            return self.refuse(m, id, "insufficient_margin", ts);
        }
        let run_id = self.ensure_run()?;
        let comm = fills::commission(qty, adj, rate) + self.per_lot(qty, &inst);
        let fill_id = self.next_fill;
        self.next_fill += 1;
        let (pos, opened) = self.add_to_position(m, &o, fill_id, qty, adj, ts)?;
        self.totals.balance -= comm;
        self.totals.commission += comm;
        self.write_fill(&FillRow {
            id: fill_id,
            order_id: o.id,
            run_id,
            position: &pos,
            side: o.side,
            open: true,
            quantity: qty,
            requested,
            price: adj,
            commission: comm,
            realized: 0.0,
            cash: -comm,
            ts,
            exit: None,
        })?;
        if opened {
            risk_link::record_open(self.tx, &pos.symbol, &pos.strategy, time(ts)?)?;
        }
        let done = o.filled + qty >= o.quantity;
        self.record_fill_event(m, &o, fill_id, qty, adj, pos.id, None, done, ts)?;
        if opened {
            self.place_bracket(m, &o, pos.id, ts)?;
        }
        Ok(())
    }

    /// Exclusive orders: a position of entry `o`'s book that `o` did not open is closed first, at the
    /// same price (as the backtest's `apply`: close at the raw price, then open), through an exit
    /// order the engine places with reason `reversal`.
    fn reverse(
        &mut self,
        m: usize,
        o: &WorkingOrder,
        price: f64,
        requested: f64,
        at: At<'_>,
    ) -> Result<()> {
        let ts = at.ms;
        let other = self.markets[m]
            .position_of(&o.strategy)
            .filter(|p| Some(p.id) != o.position_id)
            .map(|p| (p.id, p.units));
        let Some((pid, units)) = other else {
            return Ok(());
        };
        let exit_id = self.place_own(
            m,
            OwnOrder {
                role: Role::Exit,
                side: Side::of_size(-units),
                kind: OrderKind::Market,
                quantity: units.abs(),
                strategy: o.strategy.clone(),
                parent: o.id,
                position: pid,
                reason: "reversal",
            },
            ts,
        )?;
        let exit = (ExitReason::Signal, false);
        self.fill_exit(m, exit_id, units.abs(), price, requested, exit, at)
    }

    /// Adds `qty` units at `adj` of entry `o` to its position (the volume-weighted entry), or opens a
    /// new one (id `fill_id`, its row written). Returns the position after and whether it opened.
    fn add_to_position(
        &mut self,
        m: usize,
        o: &WorkingOrder,
        fill_id: i64,
        qty: f64,
        adj: f64,
        ts: i64,
    ) -> Result<(OpenPosition, bool)> {
        let signed = o.side.sign() * qty;
        let book = &mut self.markets[m];
        let existing = o
            .position_id
            .and_then(|pid| book.positions.iter_mut().find(|p| p.id == pid));
        if let Some(p) = existing {
            let a = p.units.abs();
            p.entry = (a * p.entry + qty * adj) / (a + qty);
            p.units += signed;
            return Ok((p.clone(), false));
        }
        let pos = OpenPosition {
            id: fill_id,
            symbol: book.symbol.clone(),
            interval: book.interval.clone(),
            strategy: o.strategy.clone(),
            units: signed,
            entry: adj,
            opened_ms: ts,
            entry_order_id: o.id,
            stop_loss: o.stop_loss,
            take_profit: o.take_profit,
            realized: 0.0,
        };
        book.positions.push(pos.clone());
        self.tx
            .prepare_cached(
                "INSERT INTO paper_positions (id, account_id, symbol, interval, strategy, side,
                    entry_order_id, stop_loss, take_profit, opened_ms, opened_ts)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            )?
            .execute(params![
                pos.id,
                self.account.id,
                pos.symbol,
                pos.interval,
                pos.strategy,
                o.side.as_str(),
                o.id,
                pos.stop_loss,
                pos.take_profit,
                ts,
                ts_text(ts)
            ])?;
        Ok((pos, true))
    }

    /// The order side of a fill: its filled quantity and average price, and the `fill` (when `done`)
    /// or `partial_fill` event, through the transition table.
    #[allow(clippy::too_many_arguments)]
    fn record_fill_event(
        &mut self,
        m: usize,
        o: &WorkingOrder,
        fill_id: i64,
        qty: f64,
        price: f64,
        pid: i64,
        reason: Option<&str>,
        done: bool,
        ts: i64,
    ) -> Result<()> {
        let filled = o.filled + qty;
        let avg = match o.avg_price {
            Some(a) => (o.filled * a + qty * price) / filled,
            None => price,
        };
        let detail = format!("{{\"fill_id\":{fill_id}}}");
        let event = if done {
            OrderEvent::Fill
        } else {
            OrderEvent::PartialFill
        };
        let p = Progress {
            reason,
            price: Some(price),
            quantity: Some(qty),
            detail: Some(&detail),
            filled: Some((filled, Some(avg), Some(pid))),
        };
        let to = self.change(m, o.id, event, ts, p)?;
        if !to.is_final() {
            let i = self.order_pos(m, o.id)?;
            let w = &mut self.markets[m].orders[i];
            w.filled = filled;
            w.avg_price = Some(avg);
            w.position_id = Some(pid);
        }
        Ok(())
    }

    /// The bracket of entry `o` as two one-cancels-other legs on position `pid`, working from `ts`.
    fn place_bracket(&mut self, m: usize, o: &WorkingOrder, pid: i64, ts: i64) -> Result<()> {
        let exit_side = Side::of_size(-o.side.sign());
        let legs = [
            (
                Role::StopLoss,
                o.stop_loss.map(|stop| OrderKind::Stop { stop }),
            ),
            (
                Role::TakeProfit,
                o.take_profit.map(|limit| OrderKind::Limit { limit }),
            ),
        ];
        for (role, kind) in legs {
            if let Some(kind) = kind {
                self.place_own(
                    m,
                    OwnOrder {
                        role,
                        side: exit_side,
                        kind,
                        quantity: o.quantity,
                        strategy: o.strategy.clone(),
                        parent: o.id,
                        position: pid,
                        reason: "bracket",
                    },
                    ts,
                )?;
            }
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn fill_exit(
        &mut self,
        m: usize,
        id: i64,
        qty: f64,
        price: f64,
        requested: f64,
        (reason, ambiguous): (ExitReason, bool),
        at: At<'_>,
    ) -> Result<()> {
        let ts = at.ms;
        let o = self.markets[m].orders[self.order_pos(m, id)?].clone();
        let pi = o
            .position_id
            .and_then(|pid| self.markets[m].positions.iter().position(|p| p.id == pid));
        let Some(pi) = pi else {
            return self.refuse(m, id, "no_position", ts);
        };
        let inst = self.markets[m].instrument;
        let p = self.markets[m].positions[pi].clone();
        let qty = qty.min(o.remaining()).min(p.units.abs());
        if qty <= 0.0 {
            return Ok(());
        }
        let run_id = self.ensure_run()?;
        let rate = self.costs.commission;
        // Closing all of it: exactly the position's units (no rounding through |units|·sign).
        let closed = if qty == p.units.abs() {
            p.units
        } else {
            p.units.signum() * qty
        };
        let fp = fills::Position {
            units: closed,
            entry: p.entry,
            entry_bar: 0,
            stop: p.stop_loss,
            target: p.take_profit,
        };
        let (mut trade, mut cash) = fills::close_position(&fp, price, 0, reason, ambiguous, rate);
        let per_lot = self.per_lot(qty, &inst);
        trade.pnl -= per_lot + per_lot;
        trade.commission += per_lot + per_lot;
        trade.return_frac -= (per_lot + per_lot) / (qty * p.entry);
        cash -= per_lot;
        let exit_commission = fills::commission(qty, price, rate) + per_lot;
        let fill_id = self.next_fill;
        self.next_fill += 1;
        self.totals.balance += cash;
        self.totals.commission += exit_commission;
        self.totals.realized += trade.pnl;
        self.totals.trades += 1;
        self.totals.wins += i64::from(trade.pnl > 0.0);
        let after = {
            let pos = &mut self.markets[m].positions[pi];
            pos.units -= closed;
            pos.realized += trade.pnl;
            pos.clone()
        };
        self.write_fill(&FillRow {
            id: fill_id,
            order_id: o.id,
            run_id,
            position: &after,
            side: o.side,
            open: false,
            quantity: qty,
            requested,
            price,
            commission: exit_commission,
            realized: closed * (price - p.entry),
            cash,
            ts,
            exit: Some((reason, ambiguous)),
        })?;
        self.write_trade(fill_id, &p, &trade, ts)?;
        journal_link::record_close(
            self.tx,
            &Close {
                epoch: self.account.id,
                run: run_id,
                position: p.id,
                book: &p.strategy,
                symbol: &p.symbol,
                interval: &p.interval,
                entry_order: p.entry_order_id,
                opened_ms: p.opened_ms,
                exit_order: o.id,
                trade: &trade,
                exit_ms: ts,
                bars: at.bar_indices(p.opened_ms),
            },
        )?;
        // A reduce-only order is complete once its position is flat.
        let flat = after.units == 0.0;
        let done = flat || o.filled + qty >= o.quantity;
        self.record_fill_event(
            m,
            &o,
            fill_id,
            qty,
            price,
            p.id,
            Some(reason.as_str()),
            done,
            ts,
        )?;
        if flat {
            self.close_position(m, &after, o.role, ts)?;
        }
        Ok(())
    }

    /// The trade record of closing fill `fill_id` of position `p`.
    fn write_trade(
        &mut self,
        fill_id: i64,
        p: &OpenPosition,
        trade: &Trade,
        ts: i64,
    ) -> Result<()> {
        self.tx
            .prepare_cached(
                "INSERT INTO paper_trades (id, account_id, position_id, symbol, interval, strategy, size,
                    entry_price, exit_price, stop, target, pnl, commission, return_pct, entry_ms, exit_ms,
                    exit_reason, ambiguous)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)",
            )?
            .execute(params![
                fill_id,
                self.account.id,
                p.id,
                p.symbol,
                p.interval,
                p.strategy,
                trade.size,
                trade.entry_price,
                trade.exit_price,
                trade.stop,
                trade.target,
                trade.pnl,
                trade.commission,
                trade.return_frac * 100.0,
                p.opened_ms,
                ts,
                trade.exit_reason.as_str(),
                trade.ambiguous
            ])?;
        Ok(())
    }

    /// Position `p` went flat: its row is closed, the risk book records the close with its net P&L,
    /// and every order still working on it is cancelled (`oco` for the other bracket leg).
    fn close_position(&mut self, m: usize, p: &OpenPosition, by: Role, ts: i64) -> Result<()> {
        self.tx
            .prepare_cached(
                "UPDATE paper_positions SET closed_ms = ?2, closed_ts = ?3 WHERE id = ?1",
            )?
            .execute(params![p.id, ts, ts_text(ts)])?;
        self.markets[m].positions.retain(|q| q.id != p.id);
        let tripped = risk_link::record_closed(
            self.tx,
            &self.limits,
            &p.symbol,
            &p.strategy,
            p.realized,
            time(ts)?,
        )?;
        self.emergency |= tripped;
        let leg = |r: Role| matches!(r, Role::StopLoss | Role::TakeProfit);
        let mut rest: Vec<(i64, &'static str)> = Vec::new();
        for w in self.markets[m].working() {
            if w.position_id == Some(p.id) {
                let reason = if leg(by) && leg(w.role) {
                    "oco"
                } else {
                    "position_closed"
                };
                rest.push((w.id, reason));
            }
        }
        for (id, reason) in rest {
            self.cancel(m, id, reason, ts)?;
        }
        Ok(())
    }

    /// Closes position `pid` of market `m` at `price` through an exit order the engine places with
    /// reason code `reason` (`reset`), at time `ts`.
    pub(crate) fn close_at(
        &mut self,
        m: usize,
        pid: i64,
        price: f64,
        reason: &'static str,
        ts: i64,
    ) -> Result<()> {
        let p = self.markets[m]
            .positions
            .iter()
            .find(|p| p.id == pid)
            .cloned()
            .ok_or_else(|| Error::invalid(format!("position {pid}: not open")))?;
        let id = self.place_own(
            m,
            OwnOrder {
                role: Role::Exit,
                side: Side::of_size(-p.units),
                kind: OrderKind::Market,
                quantity: p.units.abs(),
                strategy: p.strategy.clone(),
                parent: p.entry_order_id,
                position: p.id,
                reason,
            },
            ts,
        )?;
        let exit = (ExitReason::Signal, false);
        self.fill_exit(m, id, p.units.abs(), price, price, exit, At::off_bar(ts))
    }

    /// Cancels every working order with reason code `reason`.
    pub(crate) fn cancel_all(&mut self, reason: &str, ts: i64) -> Result<usize> {
        let mut n = 0;
        for m in 0..self.markets.len() {
            let ids: Vec<i64> = self.markets[m].working().map(|o| o.id).collect();
            for id in ids {
                if self.markets[m].order(id).is_some() {
                    self.cancel(m, id, reason, ts)?;
                    n += 1;
                }
            }
        }
        Ok(n)
    }

    fn per_lot(&self, units: f64, inst: &Instrument) -> f64 {
        if self.costs.commission_per_lot == 0.0 {
            0.0
        } else {
            units / inst.lot_size * self.costs.commission_per_lot
        }
    }

    fn write_fill(&mut self, f: &FillRow<'_>) -> Result<()> {
        let bps = if f.requested > 0.0 {
            f.side.sign() * (f.price - f.requested) / f.requested * 1e4
        } else {
            0.0
        };
        self.totals.fills += 1;
        let t = self.totals;
        self.tx
            .prepare_cached(
                "INSERT INTO paper_fills (id, account_id, order_id, run_id, position_id, symbol, interval,
                    strategy, side, effect, quantity, requested_price, price, slippage_bps, commission,
                    realized, cash, ts_ms, ts, exit_reason, ambiguous, position_units, position_entry,
                    balance, realized_total, commission_total, trades, wins, fills)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18,
                    ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26, ?27, ?28, ?29)",
            )?
            .execute(params![
                f.id,
                self.account.id,
                f.order_id,
                f.run_id,
                f.position.id,
                f.position.symbol,
                f.position.interval,
                f.position.strategy,
                f.side.as_str(),
                if f.open { "open" } else { "close" },
                f.quantity,
                f.requested,
                f.price,
                bps,
                f.commission,
                f.realized,
                f.cash,
                f.ts,
                ts_text(f.ts),
                f.exit.map(|(r, _)| r.as_str()),
                f.exit.is_some_and(|(_, a)| a),
                f.position.units,
                (f.position.units != 0.0).then_some(f.position.entry),
                t.balance,
                t.realized,
                t.commission,
                t.trades,
                t.wins,
                t.fills
            ])?;
        self.changes += 1;
        self.fills += 1;
        Ok(())
    }
}

/// An open position with its mark, for equity and margin.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Marked {
    /// Position id.
    pub id: i64,
    /// Signed units.
    pub units: f64,
    /// Average entry price.
    pub entry: f64,
    /// The price it is marked at.
    pub mark: f64,
    /// Its instrument's leverage.
    pub leverage: f64,
}

impl Marked {
    /// `units·(mark − entry)`, before exit costs.
    pub fn unrealized(&self) -> f64 {
        self.units * (self.mark - self.entry)
    }

    /// Margin it uses: `|units|·mark / leverage`.
    pub fn margin(&self) -> f64 {
        self.units.abs() * self.mark / self.leverage
    }
}

/// `balance` plus each position's `mark·units − units·entry`, in the order given (the backtest's
/// equity expression, so one position gives its equity bit for bit).
pub fn equity(balance: f64, positions: &[Marked]) -> f64 {
    positions
        .iter()
        .fold(balance, |eq, p| eq + (p.mark * p.units - p.units * p.entry))
}

/// An order the engine places itself.
struct OwnOrder {
    role: Role,
    side: Side,
    kind: OrderKind,
    quantity: f64,
    strategy: String,
    parent: i64,
    position: i64,
    reason: &'static str,
}

struct FillRow<'p> {
    id: i64,
    order_id: i64,
    run_id: Option<i64>,
    position: &'p OpenPosition,
    side: Side,
    open: bool,
    quantity: f64,
    requested: f64,
    price: f64,
    commission: f64,
    realized: f64,
    cash: f64,
    ts: i64,
    exit: Option<(ExitReason, bool)>,
}

/// The strategy name the risk book sees for a book (`None` for the manual book "").
pub fn book_name(strategy: &str) -> Option<&str> {
    (!strategy.is_empty()).then_some(strategy)
}

/// `ms` as a time, for the risk book's clock.
pub fn time(ms: i64) -> Result<DateTime<Utc>> {
    DateTime::from_timestamp_millis(ms)
        .ok_or_else(|| Error::invalid(format!("time {ms} ms is out of range")))
}
