//! The simulation account, derived from the fill ledger: balance, equity, margin used and available,
//! unrealized and realized P&L, commissions, total and winning trades; the open positions with their
//! marks and bracket; fills and closed trades; `verify` (re-folds the whole ledger and checks every
//! stored total, order and position against it); and `reset` (a new account epoch, audited).
//!
//! Nothing here is a running number: the balance and counts are the last fill row's fold of the
//! ledger, positions are their last fill's, and marks are the cursors' last closes. Reading the account
//! is a handful of indexed lookups whatever the length of the ledger.

use chrono::{DateTime, Utc};
use rusqlite::{Transaction, params};
use serde::Serialize;

use crate::db::seal;
use crate::error::{Error, Result};
use crate::execution::ledger::{Marked, book_name, equity, open_positions, totals};
use crate::execution::place::open_account;
use crate::execution::store::{self, AccountRow, Mode, ts_text};
use crate::execution::{Costs, Desk, Instruments, Ledger, OrderState, Role};
use crate::trade::{ExitReason, Side, TradeRecord};

/// The account now.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Account {
    /// The account epoch (1, then one more per reset).
    pub account_id: i64,
    /// When it was opened (RFC 3339).
    pub opened: String,
    /// Guide or autonomous.
    pub mode: Mode,
    /// The balance it started with.
    pub initial_balance: f64,
    /// Cash: initial balance + realized gross P&L − commissions.
    pub balance: f64,
    /// Balance + unrealized P&L.
    pub equity: f64,
    /// Σ open positions' `units·(mark − entry)`.
    pub unrealized_pnl: f64,
    /// Σ closed trades' net P&L.
    pub realized_pnl: f64,
    /// Equity − initial balance.
    pub total_pnl: f64,
    /// Σ commissions paid.
    pub commission: f64,
    /// Σ open positions' `|units|·mark / leverage`.
    pub margin_used: f64,
    /// Equity − margin used (at least 0).
    pub margin_available: f64,
    /// Open positions.
    pub open_positions: usize,
    /// Closed trades.
    pub total_trades: i64,
    /// Closed trades with a net P&L above 0.
    pub winning_trades: i64,
    /// Fills in the ledger of this account.
    pub fills: i64,
}

/// An open position now.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Position {
    /// Position id (its first fill).
    pub id: i64,
    /// Instrument.
    pub symbol: String,
    /// Bar series.
    pub interval: String,
    /// Book (strategy), empty for manual.
    pub strategy: String,
    /// Long or short.
    pub side: Side,
    /// Units held (positive).
    pub quantity: f64,
    /// Average entry price (after spread).
    pub entry_price: f64,
    /// The last processed close (the entry price before any bar was processed).
    pub current_price: f64,
    /// `units·(current − entry)`.
    pub unrealized_pnl: f64,
    /// Net P&L of the parts already closed.
    pub realized_pnl: f64,
    /// The working stop-loss leg's price.
    pub stop_loss: Option<f64>,
    /// The working take-profit leg's price.
    pub take_profit: Option<f64>,
    /// Margin it uses.
    pub margin: f64,
    /// When it opened (RFC 3339).
    pub opened: String,
    /// Opened at (ms).
    pub opened_ms: i64,
}

/// The open positions of `account` with their marks, by id.
fn marked_positions(
    tx: &Transaction<'_>,
    account: &AccountRow,
    instruments: &Instruments,
) -> Result<Vec<(Position, Marked)>> {
    let mut out = Vec::new();
    for p in open_positions(tx, account.id)? {
        let mark = store::cursor(tx, &p.symbol, &p.interval)?.map_or(p.entry, |c| c.last_close);
        let m = Marked {
            id: p.id,
            units: p.units,
            entry: p.entry,
            mark,
            leverage: instruments.get(&p.symbol).leverage,
        };
        let leg = |role: Role| -> Result<Option<f64>> {
            let sql = format!(
                "SELECT coalesce(stop_price, limit_price) FROM paper_orders WHERE position_id = ?1
                 AND role = ?2 AND state IN {} ORDER BY id DESC LIMIT 1",
                OrderState::WORKING_SQL
            );
            let v: Vec<Option<f64>> = tx
                .prepare_cached(&sql)?
                .query_map(params![p.id, role.as_str()], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            Ok(v.into_iter().next().flatten())
        };
        out.push((
            Position {
                id: p.id,
                side: Side::of_size(p.units),
                quantity: p.units.abs(),
                entry_price: p.entry,
                current_price: mark,
                unrealized_pnl: m.unrealized(),
                realized_pnl: p.realized,
                stop_loss: leg(Role::StopLoss)?,
                take_profit: leg(Role::TakeProfit)?,
                margin: m.margin(),
                opened: ts_text(p.opened_ms),
                opened_ms: p.opened_ms,
                symbol: p.symbol,
                interval: p.interval,
                strategy: p.strategy,
            },
            m,
        ));
    }
    Ok(out)
}

/// The account now, or `None` before the first order opened one.
pub fn account(tx: &Transaction<'_>, instruments: &Instruments) -> Result<Option<Account>> {
    match store::current_account(tx)? {
        Some(a) => account_of(tx, &a, instruments).map(Some),
        None => Ok(None),
    }
}

/// Account epoch `epoch` (the current one, or one a reset ended), or an error naming the epochs there are.
pub fn epoch(tx: &Transaction<'_>, epoch: i64) -> Result<AccountRow> {
    let row = tx
        .prepare_cached(
            "SELECT id, initial_balance, opened_ms, reason FROM paper_accounts WHERE id = ?1",
        )?
        .query_row([epoch], |r| {
            Ok(AccountRow {
                id: r.get(0)?,
                initial_balance: r.get(1)?,
                opened_ms: r.get(2)?,
                reason: r.get(3)?,
            })
        });
    match row {
        Ok(a) => Ok(a),
        Err(rusqlite::Error::QueryReturnedNoRows) => {
            let last = store::current_account(tx)?.map_or(0, |a| a.id);
            Err(Error::invalid(if last == 0 {
                format!("--account {epoch}: there is no paper account yet")
            } else {
                format!("--account {epoch}: no such paper account; there are accounts 1 to {last}")
            }))
        }
        Err(e) => Err(e.into()),
    }
}

/// The numbers of account epoch `a`: the current one now, an ended one as its reset left it (flat:
/// a reset closes every position first).
pub fn account_of(
    tx: &Transaction<'_>,
    a: &AccountRow,
    instruments: &Instruments,
) -> Result<Account> {
    let t = totals(tx, a)?;
    let pos = marked_positions(tx, a, instruments)?;
    let marked: Vec<Marked> = pos.iter().map(|p| p.1).collect();
    let eq = equity(t.balance, &marked);
    let used = marked.iter().fold(0.0, |a, m| a + m.margin());
    Ok(Account {
        account_id: a.id,
        opened: ts_text(a.opened_ms),
        mode: store::mode(tx)?,
        initial_balance: a.initial_balance,
        balance: t.balance,
        equity: eq,
        unrealized_pnl: marked.iter().fold(0.0, |a, m| a + m.unrealized()),
        realized_pnl: t.realized,
        total_pnl: eq - a.initial_balance,
        commission: t.commission,
        margin_used: used,
        margin_available: (eq - used).max(0.0),
        open_positions: marked.len(),
        total_trades: t.trades,
        winning_trades: t.wins,
        fills: t.fills,
    })
}

/// The open positions now, by id.
pub fn positions(tx: &Transaction<'_>, instruments: &Instruments) -> Result<Vec<Position>> {
    match store::current_account(tx)? {
        Some(a) => positions_of(tx, &a, instruments),
        None => Ok(Vec::new()),
    }
}

/// The open positions of account epoch `a`, by id.
pub fn positions_of(
    tx: &Transaction<'_>,
    a: &AccountRow,
    instruments: &Instruments,
) -> Result<Vec<Position>> {
    Ok(marked_positions(tx, a, instruments)?
        .into_iter()
        .map(|p| p.0)
        .collect())
}

/// One fill of the ledger.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Fill {
    /// Fill id.
    pub id: i64,
    /// The order it filled.
    pub order_id: i64,
    /// The processing run (its settings and seed), if it came from one.
    pub run_id: Option<i64>,
    /// The position it opened, added to or reduced.
    pub position_id: i64,
    /// Instrument.
    pub symbol: String,
    /// Bar series.
    pub interval: String,
    /// Book.
    pub strategy: String,
    /// Buy (long) or sell (short).
    pub side: Side,
    /// `open` or `close`.
    pub effect: String,
    /// Units.
    pub quantity: f64,
    /// The price asked for: the open (market orders) or the order's level.
    pub requested_price: f64,
    /// The price paid (entries: after slippage and spread).
    pub price: f64,
    /// How much worse than requested, in basis points (negative: better).
    pub slippage_bps: f64,
    /// Commission charged.
    pub commission: f64,
    /// Gross P&L realized (closing fills).
    pub realized: f64,
    /// The balance after it.
    pub balance: f64,
    /// The bar it filled on (RFC 3339).
    pub time: String,
    /// The bar it filled on (ms).
    pub ts_ms: i64,
    /// Why a closing fill closed.
    pub exit_reason: Option<String>,
    /// The position's signed units after this fill.
    pub position_units: f64,
    /// Its average entry price after this fill (`None` once flat).
    pub position_entry: Option<f64>,
}

/// The fills of the current account, oldest first (the newest `limit`, when given).
pub fn fills(tx: &Transaction<'_>, limit: Option<usize>) -> Result<Vec<Fill>> {
    match store::current_account(tx)? {
        Some(a) => fills_of(tx, a.id, limit),
        None => Ok(Vec::new()),
    }
}

/// The fills of account epoch `account_id`, oldest first (the newest `limit`, when given).
pub fn fills_of(tx: &Transaction<'_>, account_id: i64, limit: Option<usize>) -> Result<Vec<Fill>> {
    let mut stmt = tx.prepare(&format!(
        "SELECT id, order_id, run_id, position_id, symbol, interval, strategy, side, effect, quantity,
                requested_price, price, slippage_bps, commission, realized, balance, ts, ts_ms, exit_reason,
                position_units, position_entry
         FROM paper_fills WHERE account_id = ?1 ORDER BY id DESC{}",
        limit.map(|n| format!(" LIMIT {n}")).unwrap_or_default()
    ))?;
    let rows = stmt.query_map([account_id], |r| {
        let side: String = r.get(7)?;
        Ok(Fill {
            id: r.get(0)?,
            order_id: r.get(1)?,
            run_id: r.get(2)?,
            position_id: r.get(3)?,
            symbol: r.get(4)?,
            interval: r.get(5)?,
            strategy: r.get(6)?,
            side: if side == "long" {
                Side::Long
            } else {
                Side::Short
            },
            effect: r.get(8)?,
            quantity: r.get(9)?,
            requested_price: r.get(10)?,
            price: r.get(11)?,
            slippage_bps: r.get(12)?,
            commission: r.get(13)?,
            realized: r.get(14)?,
            balance: r.get(15)?,
            time: r.get(16)?,
            ts_ms: r.get(17)?,
            exit_reason: r.get(18)?,
            position_units: r.get(19)?,
            position_entry: r.get(20)?,
        })
    })?;
    let mut out: Vec<Fill> = rows.collect::<rusqlite::Result<_>>()?;
    out.reverse();
    Ok(out)
}

/// A closed trade of the paper account, as the backtest records one (times in ms).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PaperTrade {
    /// The closing fill.
    pub id: i64,
    /// The position.
    pub position_id: i64,
    /// Instrument.
    pub symbol: String,
    /// Bar series.
    pub interval: String,
    /// Book.
    pub strategy: String,
    /// Signed units closed.
    pub size: f64,
    /// Entry price (after spread).
    pub entry_price: f64,
    /// Exit price.
    pub exit_price: f64,
    /// Stop at entry.
    pub stop: Option<f64>,
    /// Target at entry.
    pub target: Option<f64>,
    /// Net P&L.
    pub pnl: f64,
    /// Entry + exit commission.
    pub commission: f64,
    /// Net return in percent.
    pub return_pct: f64,
    /// Entry bar open time (ms).
    pub entry_ms: i64,
    /// Exit bar open time (ms).
    pub exit_ms: i64,
    /// Why it closed.
    pub exit_reason: ExitReason,
    /// The exit bar reached both stop and target.
    pub ambiguous: bool,
}

impl PaperTrade {
    /// The backtest's record of this trade, with bar indices looked up in `ts` (the bar open times of
    /// the candles it traded on); `None` when a time is not among them.
    pub fn record(&self, ts: &[i64]) -> Option<TradeRecord> {
        let entry_bar = ts.binary_search(&self.entry_ms).ok()?;
        let exit_bar = ts.binary_search(&self.exit_ms).ok()?;
        Some(TradeRecord {
            size: self.size,
            side: Side::of_size(self.size),
            entry_bar,
            exit_bar,
            entry_price: self.entry_price,
            exit_price: self.exit_price,
            stop: self.stop,
            target: self.target,
            pnl: self.pnl,
            commission: self.commission,
            return_pct: self.return_pct,
            entry_time: self.entry_ms,
            exit_time: self.exit_ms,
            duration_days: (self.exit_ms - self.entry_ms) as f64 / crate::candles::DAY_MS as f64,
            exit_reason: self.exit_reason,
            ambiguous: self.ambiguous,
        })
    }
}

/// The closed trades of the current account, oldest first.
pub fn trades(tx: &Transaction<'_>) -> Result<Vec<PaperTrade>> {
    match store::current_account(tx)? {
        Some(a) => trades_of(tx, a.id),
        None => Ok(Vec::new()),
    }
}

/// The closed trades of account epoch `account_id`, oldest first.
pub fn trades_of(tx: &Transaction<'_>, account_id: i64) -> Result<Vec<PaperTrade>> {
    let mut stmt = tx.prepare(
        "SELECT id, position_id, symbol, interval, strategy, size, entry_price, exit_price, stop, target,
                pnl, commission, return_pct, entry_ms, exit_ms, exit_reason, ambiguous
         FROM paper_trades WHERE account_id = ?1 ORDER BY id",
    )?;
    let rows = stmt.query_map([account_id], |r| {
        let reason: String = r.get(15)?;
        Ok(PaperTrade {
            id: r.get(0)?,
            position_id: r.get(1)?,
            symbol: r.get(2)?,
            interval: r.get(3)?,
            strategy: r.get(4)?,
            size: r.get(5)?,
            entry_price: r.get(6)?,
            exit_price: r.get(7)?,
            stop: r.get(8)?,
            target: r.get(9)?,
            pnl: r.get(10)?,
            commission: r.get(11)?,
            return_pct: r.get(12)?,
            entry_ms: r.get(13)?,
            exit_ms: r.get(14)?,
            exit_reason: reason.parse().unwrap_or(ExitReason::Signal),
            ambiguous: r.get(16)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// What `verify` found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verification {
    /// Fills re-folded.
    pub fills: usize,
    /// Orders checked against their fills and event logs.
    pub orders: usize,
    /// Every disagreement, one line each (empty: the ledger is consistent).
    pub problems: Vec<String>,
}

/// Re-folds the whole ledger of the current account and checks, bit for bit, every fill row's stored
/// totals and position against the fold; every order's filled quantity against its fills and its state
/// against the last event of its log; and every position's open/closed flag against its units.
pub fn verify(tx: &Transaction<'_>) -> Result<Verification> {
    let mut v = Verification {
        fills: 0,
        orders: 0,
        problems: Vec::new(),
    };
    check_live_state(tx, &mut v)?;
    let Some(a) = store::current_account(tx)? else {
        return Ok(v);
    };
    let units = fold_fills(tx, &a, &mut v)?;
    check_prices(tx, a.id, &mut v)?;
    check_trades(tx, a.id, &mut v)?;
    check_orders(tx, a.id, &mut v)?;
    check_positions(tx, a.id, &units, &mut v)?;
    Ok(v)
}

/// The live state the broker and the risk gate decide on — the cursors, the risk state, budgets and
/// trades — against its seal, and the chains of `risk_trades` and `state_seals` in full
/// ([`crate::db::seal`]): a cursor moved outside flowrex would make a run skip or re-decide bars.
fn check_live_state(tx: &Transaction<'_>, v: &mut Verification) -> Result<()> {
    for chain in seal::CHAINS {
        if let Some(f) = chain.verify(tx)?.fault {
            v.problems.push(f.to_string());
        }
    }
    if let Some(f) = seal::verify_state(tx)? {
        v.problems.push(f.to_string());
    }
    Ok(())
}

type Units = std::collections::HashMap<i64, f64>;

/// Re-folds the fills of account `a` in order, comparing each row's stored fold; returns every
/// position's units.
fn fold_fills(tx: &Transaction<'_>, a: &AccountRow, v: &mut Verification) -> Result<Units> {
    let mut balance = a.initial_balance;
    let (mut realized, mut commission, mut trades, mut wins) = (0.0, 0.0, 0i64, 0i64);
    let mut units = Units::default();
    let mut stmt = tx.prepare(
        "SELECT f.id, f.position_id, f.side, f.quantity, f.commission, f.cash, f.balance,
                f.realized_total, f.commission_total, f.trades, f.wins, f.position_units, t.pnl, f.fills
         FROM paper_fills f LEFT JOIN paper_trades t ON t.id = f.id
         WHERE f.account_id = ?1 ORDER BY f.id",
    )?;
    let mut rows = stmt.query([a.id])?;
    while let Some(r) = rows.next()? {
        let id: i64 = r.get(0)?;
        let side: String = r.get(2)?;
        let qty: f64 = r.get(3)?;
        let pnl: Option<f64> = r.get(12)?;
        balance += r.get::<_, f64>(5)?;
        commission += r.get::<_, f64>(4)?;
        if let Some(p) = pnl {
            realized += p;
            trades += 1;
            wins += i64::from(p > 0.0);
        }
        let sign = if side == "long" { 1.0 } else { -1.0 };
        let u = units.entry(r.get(1)?).or_insert(0.0);
        let closing = pnl.is_some();
        // A closing fill of all that is left sets the units to exactly 0, as the ledger does.
        *u = if closing && qty == u.abs() {
            0.0
        } else {
            *u + sign * qty
        };
        v.fills += 1;
        let stored = (
            r.get::<_, f64>(6)?,
            r.get::<_, f64>(7)?,
            r.get::<_, f64>(8)?,
            r.get::<_, i64>(9)?,
            r.get::<_, i64>(10)?,
            r.get::<_, f64>(11)?,
            r.get::<_, i64>(13)?,
        );
        let folded = (
            balance,
            realized,
            commission,
            trades,
            wins,
            *u,
            v.fills as i64,
        );
        if stored != folded {
            v.problems.push(format!(
                "fill {id}: stored (balance, realized, commission, trades, wins, position units, \
                 fills) {stored:?} but the ledger folds to {folded:?}"
            ));
        }
    }
    Ok(units)
}

/// Every fill's price against what was derived from it: a position's first fill against the
/// position's entry it set, a closing fill against its trade's exit price and time. The fold above
/// sums the stored cash and P&L, so without this a price edited in place would go unnoticed.
fn check_prices(tx: &Transaction<'_>, account_id: i64, v: &mut Verification) -> Result<()> {
    let mut stmt = tx.prepare(
        "SELECT f.id, f.price, f.ts_ms, f.effect, f.position_entry, t.exit_price, t.exit_ms,
                f.id = (SELECT min(g.id) FROM paper_fills g WHERE g.position_id = f.position_id)
         FROM paper_fills f LEFT JOIN paper_trades t ON t.id = f.id
         WHERE f.account_id = ?1 ORDER BY f.id",
    )?;
    let mut rows = stmt.query([account_id])?;
    while let Some(r) = rows.next()? {
        let (id, price, ts): (i64, f64, i64) = (r.get(0)?, r.get(1)?, r.get(2)?);
        let (effect, entry): (String, Option<f64>) = (r.get(3)?, r.get(4)?);
        let trade: (Option<f64>, Option<i64>) = (r.get(5)?, r.get(6)?);
        let first: bool = r.get(7)?;
        if effect == "open" && first && entry != Some(price) {
            v.problems.push(format!(
                "fill {id}: price {price} but the position it opened entered at {entry:?}"
            ));
        }
        match trade {
            (Some(exit), Some(at)) if effect == "close" && (exit != price || at != ts) => {
                v.problems.push(format!(
                    "fill {id}: price {price} at {ts} but its trade exited at {exit} at {at}"
                ));
            }
            (None, _) if effect == "close" => v
                .problems
                .push(format!("fill {id}: closes a position but has no trade")),
            _ => {}
        }
    }
    Ok(())
}

/// Every closed trade against its journal entry, written in the same transaction and hash-chained:
/// the k-th trade of the account is the k-th `paper` entry of journal account `paper-<N>`, field for
/// field, so a trade row edited in place (the triggers dropped) or a close missing from the journal
/// is named.
fn check_trades(tx: &Transaction<'_>, account_id: i64, v: &mut Verification) -> Result<()> {
    use rusqlite::types::Value;
    const FIELDS: [&str; 14] = [
        "symbol",
        "interval",
        "size",
        "entry_price",
        "exit_price",
        "stop",
        "target",
        "pnl",
        "commission",
        "return_pct",
        "entry_ms",
        "exit_ms",
        "exit_reason",
        "ambiguous",
    ];
    let rows = |table: &str, filter: &str, key: &dyn rusqlite::ToSql| {
        let sql = format!(
            "SELECT id, {} FROM {table} WHERE {filter} ORDER BY id",
            FIELDS.join(", ")
        );
        let mut stmt = tx.prepare(&sql)?;
        let found = stmt.query_map([key], |r| {
            let values = (1..=FIELDS.len()).map(|i| r.get::<_, Value>(i));
            Ok((
                r.get::<_, i64>(0)?,
                values.collect::<rusqlite::Result<Vec<_>>>()?,
            ))
        })?;
        Ok::<_, Error>(found.collect::<rusqlite::Result<Vec<_>>>()?)
    };
    let trades = rows("paper_trades", "account_id = ?1", &account_id)?;
    let account = crate::execution::journal_link::account_name(account_id);
    let entries = rows(
        "journal_entries",
        "source = 'paper' AND account = ?1",
        &account,
    )?;
    for (k, (id, trade)) in trades.iter().enumerate() {
        let Some((e, entry)) = entries.get(k) else {
            v.problems
                .push(format!("trade {id}: no journal entry records it"));
            continue;
        };
        if let Some(f) = (0..FIELDS.len()).find(|&f| trade[f] != entry[f]) {
            v.problems.push(format!(
                "trade {id}: {} {} but journal entry {e} recorded {}",
                FIELDS[f],
                shown(&trade[f]),
                shown(&entry[f])
            ));
        }
    }
    for (e, _) in entries.iter().skip(trades.len()) {
        v.problems.push(format!(
            "journal entry {e}: records a paper trade the ledger does not hold"
        ));
    }
    Ok(())
}

/// A column's value as a problem line shows it.
fn shown(v: &rusqlite::types::Value) -> String {
    use rusqlite::types::Value;
    match v {
        Value::Null => "null".into(),
        Value::Integer(i) => i.to_string(),
        Value::Real(x) => x.to_string(),
        Value::Text(t) => t.clone(),
        Value::Blob(b) => format!("{} bytes", b.len()),
    }
}

/// Every order's filled quantity against its fills, and its state against its log's last event.
fn check_orders(tx: &Transaction<'_>, account_id: i64, v: &mut Verification) -> Result<()> {
    let mut stmt = tx.prepare(
        "SELECT o.id, o.state, o.filled_quantity,
                (SELECT coalesce(sum(quantity), 0) FROM paper_fills WHERE order_id = o.id),
                (SELECT to_state FROM paper_order_events WHERE order_id = o.id ORDER BY id DESC LIMIT 1)
         FROM paper_orders o WHERE o.account_id = ?1 ORDER BY o.id",
    )?;
    let mut rows = stmt.query([account_id])?;
    while let Some(r) = rows.next()? {
        let id: i64 = r.get(0)?;
        let state: String = r.get(1)?;
        let (filled, summed): (f64, f64) = (r.get(2)?, r.get(3)?);
        let last: Option<String> = r.get(4)?;
        if (filled - summed).abs() > 1e-9 * filled.abs().max(1.0) {
            v.problems.push(format!(
                "order {id}: filled {filled} but its fills sum to {summed}"
            ));
        }
        if last.as_deref() != Some(state.as_str()) {
            v.problems.push(format!(
                "order {id}: state {state} but its event log ends in {}",
                last.as_deref().unwrap_or("nothing")
            ));
        }
        v.orders += 1;
    }
    Ok(())
}

/// Every position's open or closed flag against the units its fills leave.
fn check_positions(
    tx: &Transaction<'_>,
    account_id: i64,
    units: &Units,
    v: &mut Verification,
) -> Result<()> {
    let open: Vec<(i64, bool)> = tx
        .prepare("SELECT id, closed_ms IS NULL FROM paper_positions WHERE account_id = ?1")?
        .query_map([account_id], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    for (id, is_open) in open {
        let u = units.get(&id).copied().unwrap_or(0.0);
        if is_open != (u != 0.0) {
            v.problems.push(format!(
                "position {id}: {} but its fills leave {u} units",
                if is_open { "open" } else { "closed" }
            ));
        }
    }
    Ok(())
}

/// What `reset` did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Reset {
    /// The account before (after closing its positions).
    pub previous: Option<Account>,
    /// Positions closed at their marks.
    pub closed_positions: usize,
    /// Working orders cancelled.
    pub cancelled_orders: usize,
    /// The new account.
    pub account: Account,
}

/// Starts a new account epoch with `balance`, audited with `reason`. Open positions refuse the reset
/// unless `close_positions`: then each is closed at its mark (the last processed close) through an
/// exit order with reason code `reset`. Working orders of the old account are cancelled (`reset`). The
/// risk book's balance is set to `balance`.
pub fn reset(
    tx: &Transaction<'_>,
    desk: &Desk<'_>,
    costs: Costs,
    balance: f64,
    reason: &str,
    close_positions: bool,
    now: DateTime<Utc>,
) -> Result<Reset> {
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(Error::invalid("reason: must not be empty"));
    }
    if !(balance.is_finite() && balance > 0.0) {
        return Err(Error::invalid(format!(
            "balance: must be a positive number, got {balance}"
        )));
    }
    let now_ms = now.timestamp_millis();
    let (mut closed, mut cancelled) = (0, 0);
    let previous = match store::current_account(tx)? {
        None => None,
        Some(a) => {
            let mut ledger = Ledger::load(tx, a, desk.instruments, desk.limits, costs, None)?;
            let open: Vec<(usize, i64, String)> = ledger
                .markets
                .iter()
                .enumerate()
                .flat_map(|(m, b)| {
                    b.positions.iter().map(move |p| {
                        let what = format!(
                            "{} {}{} {} {}",
                            p.symbol,
                            p.interval,
                            book_name(&p.strategy)
                                .map(|s| format!(" [{s}]"))
                                .unwrap_or_default(),
                            Side::of_size(p.units),
                            p.units.abs()
                        );
                        (m, p.id, what)
                    })
                })
                .collect();
            if !open.is_empty() && !close_positions {
                let list: Vec<&str> = open.iter().map(|o| o.2.as_str()).collect();
                return Err(Error::invalid(format!(
                    "reset: {} position(s) open ({}); close them first or pass --close-positions to \
                     close them at their last close",
                    open.len(),
                    list.join(", ")
                )));
            }
            cancelled = ledger.cancel_all("reset", now_ms)?;
            for (m, pid, _) in &open {
                let mark = ledger.markets[*m].mark();
                let entry = ledger.markets[*m]
                    .positions
                    .iter()
                    .find(|p| p.id == *pid)
                    .map(|p| p.entry);
                let price = mark.or(entry).expect("an open position has an entry");
                ledger.close_at(*m, *pid, price, "reset", now_ms)?;
                closed += 1;
            }
            account(tx, desk.instruments)?
        }
    };
    let prev_json = previous
        .as_ref()
        .map(|p| serde_json::to_string(p).expect("accounts serialize"));
    open_account(tx, balance, reason, prev_json.as_deref(), now)?;
    Ok(Reset {
        previous,
        closed_positions: closed,
        cancelled_orders: cancelled,
        account: account(tx, desk.instruments)?.expect("just opened"),
    })
}
