//! The execution engine's SQL: account epochs, the mode, runs, order rows and their event log, fills,
//! positions, trades and cursors. Functions work inside a caller's transaction. Writers are
//! `pub(crate)`: outside the engine the tables are read, never written.

use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::{OptionalExtension, Row, Transaction, params};

use super::order::{
    Order, OrderEvent, OrderKind, OrderState, OrderType, Role, TimeInForce, next_state,
};
use crate::error::{Error, Result};
use crate::trade::Side;

/// RFC 3339 text (UTC, milliseconds) of `ms`.
pub fn ts_text(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(SecondsFormat::Millis, true))
        .unwrap_or_else(|| ms.to_string())
}

/// The next id of `table` (max + 1): deterministic, allocated inside the writing transaction.
pub(crate) fn next_id(tx: &Transaction<'_>, table: &str) -> Result<i64> {
    let sql = format!("SELECT coalesce(max(id), 0) + 1 FROM {table}");
    Ok(tx.prepare_cached(&sql)?.query_row([], |r| r.get(0))?)
}

// ---- Accounts ------------------------------------------------------------------------------------

/// An account epoch.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct AccountRow {
    /// Epoch id (1, 2, …).
    pub id: i64,
    /// The balance it started with.
    pub initial_balance: f64,
    /// When it was opened (ms).
    pub opened_ms: i64,
    /// Why (`first use`, a reset's reason).
    pub reason: String,
}

/// The current account epoch, if one was ever opened.
pub fn current_account(tx: &Transaction<'_>) -> Result<Option<AccountRow>> {
    Ok(tx
        .prepare_cached(
            "SELECT id, initial_balance, opened_ms, reason FROM paper_accounts ORDER BY id DESC LIMIT 1",
        )?
        .query_row([], |r| {
            Ok(AccountRow {
                id: r.get(0)?,
                initial_balance: r.get(1)?,
                opened_ms: r.get(2)?,
                reason: r.get(3)?,
            })
        })
        .optional()?)
}

pub(crate) fn insert_account(
    tx: &Transaction<'_>,
    initial_balance: f64,
    now_ms: i64,
    reason: &str,
    previous: Option<&str>,
) -> Result<AccountRow> {
    let id = next_id(tx, "paper_accounts")?;
    tx.execute(
        "INSERT INTO paper_accounts (id, initial_balance, opened_ms, opened_ts, reason, previous)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            id,
            initial_balance,
            now_ms,
            ts_text(now_ms),
            reason,
            previous
        ],
    )?;
    Ok(AccountRow {
        id,
        initial_balance,
        opened_ms: now_ms,
        reason: reason.to_string(),
    })
}

// ---- Orders and events ---------------------------------------------------------------------------

/// Everything needed to write a new order row.
#[derive(Debug, Clone)]
pub(crate) struct NewOrder<'a> {
    pub id: i64,
    pub account_id: i64,
    pub client_id: Option<&'a str>,
    pub symbol: &'a str,
    pub interval: &'a str,
    pub strategy: &'a str,
    pub role: Role,
    pub side: Side,
    pub kind: OrderKind,
    pub tif: TimeInForce,
    pub quantity: f64,
    pub stop_loss: Option<f64>,
    pub take_profit: Option<f64>,
    pub reference_price: Option<f64>,
    pub parent_id: Option<i64>,
    pub risk_decision_id: Option<i64>,
    pub submitted_ms: i64,
    pub active_from_ms: i64,
    pub expires_ms: Option<i64>,
    pub position_id: Option<i64>,
}

/// Writes the order row in state `new` and its `create` event.
pub(crate) fn insert_order(tx: &Transaction<'_>, o: &NewOrder<'_>) -> Result<()> {
    tx.prepare_cached(
        "INSERT INTO paper_orders (id, account_id, client_id, symbol, interval, strategy, role, side, kind,
            tif, quantity, limit_price, stop_price, stop_loss, take_profit, reference_price, parent_id,
            risk_decision_id, submitted_ms, submitted_ts, active_from_ms, expires_ms, state, position_id,
            updated_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20,
            ?21, ?22, 'new', ?23, ?19)",
    )?
    .execute(params![
        o.id,
        o.account_id,
        o.client_id,
        o.symbol,
        o.interval,
        o.strategy,
        o.role.as_str(),
        o.side.as_str(),
        o.kind.order_type().as_str(),
        o.tif.as_str(),
        o.quantity,
        o.kind.limit_price(),
        o.kind.stop_price(),
        o.stop_loss,
        o.take_profit,
        o.reference_price,
        o.parent_id,
        o.risk_decision_id,
        o.submitted_ms,
        ts_text(o.submitted_ms),
        o.active_from_ms,
        o.expires_ms,
        o.position_id,
    ])?;
    insert_event(
        tx,
        &EventRow {
            order_id: o.id,
            ts_ms: o.submitted_ms,
            event: OrderEvent::Create,
            from: None,
            to: OrderState::New,
            reason: None,
            price: None,
            quantity: Some(o.quantity),
            detail: None,
        },
    )
}

/// One row of the event log.
#[derive(Debug, Clone)]
pub(crate) struct EventRow<'a> {
    pub order_id: i64,
    pub ts_ms: i64,
    pub event: OrderEvent,
    pub from: Option<OrderState>,
    pub to: OrderState,
    pub reason: Option<&'a str>,
    pub price: Option<f64>,
    pub quantity: Option<f64>,
    pub detail: Option<&'a str>,
}

pub(crate) fn insert_event(tx: &Transaction<'_>, e: &EventRow<'_>) -> Result<()> {
    let id = next_id(tx, "paper_order_events")?;
    tx.prepare_cached(
        "INSERT INTO paper_order_events (id, order_id, ts_ms, ts, event, from_state, to_state, reason,
            price, quantity, detail)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    )?
    .execute(params![
        id,
        e.order_id,
        e.ts_ms,
        ts_text(e.ts_ms),
        e.event.as_str(),
        e.from.map(|s| s.as_str()),
        e.to.as_str(),
        e.reason,
        e.price,
        e.quantity,
        e.detail,
    ])?;
    Ok(())
}

/// What a state change writes besides the event row.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Progress<'a> {
    pub reason: Option<&'a str>,
    pub price: Option<f64>,
    pub quantity: Option<f64>,
    pub detail: Option<&'a str>,
    /// New filled quantity, average price and position link (fills only).
    pub filled: Option<(f64, Option<f64>, Option<i64>)>,
}

/// Moves order `id` from `from` by `event` (through the transition table), writes the event row and
/// the order's new state, and returns the new state.
pub(crate) fn transition(
    tx: &Transaction<'_>,
    id: i64,
    from: OrderState,
    event: OrderEvent,
    ts_ms: i64,
    p: Progress<'_>,
) -> Result<OrderState> {
    let to = next_state(from, event).map_err(|e| Error::invalid(format!("order {id}: {e}")))?;
    insert_event(
        tx,
        &EventRow {
            order_id: id,
            ts_ms,
            event,
            from: Some(from),
            to,
            reason: p.reason,
            price: p.price,
            quantity: p.quantity,
            detail: p.detail,
        },
    )?;
    match p.filled {
        Some((filled, avg, position)) => tx
            .prepare_cached(
                "UPDATE paper_orders SET state = ?2, reason = ?3, updated_ms = ?4, filled_quantity = ?5,
                    avg_fill_price = ?6, position_id = ?7 WHERE id = ?1",
            )?
            .execute(params![
                id,
                to.as_str(),
                p.reason,
                ts_ms,
                filled,
                avg,
                position
            ])?,
        None => tx
            .prepare_cached(
                "UPDATE paper_orders SET state = ?2, reason = ?3, updated_ms = ?4 WHERE id = ?1",
            )?
            .execute(params![id, to.as_str(), p.reason, ts_ms])?,
    };
    Ok(to)
}

const ORDER_COLUMNS: &str = "id, account_id, client_id, symbol, interval, strategy, role, side, kind, tif,
    quantity, limit_price, stop_price, stop_loss, take_profit, reference_price, parent_id, risk_decision_id,
    submitted_ms, submitted_ts, active_from_ms, expires_ms, state, filled_quantity, avg_fill_price,
    position_id, reason";

fn order_from_row(r: &Row<'_>) -> rusqlite::Result<Order> {
    let word = |i: usize| -> rusqlite::Result<String> { r.get(i) };
    let conv = |i: usize, e: Error| {
        rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, Box::new(e))
    };
    let role = Role::parse_field("role", &word(6)?).map_err(|e| conv(6, e))?;
    let side = Side::parse_field("side", &word(7)?).map_err(|e| conv(7, e))?;
    let otype = OrderType::parse_field("kind", &word(8)?).map_err(|e| conv(8, e))?;
    let tif = TimeInForce::parse_field("tif", &word(9)?).map_err(|e| conv(9, e))?;
    let kind = OrderKind::from_parts(otype, r.get(11)?, r.get(12)?).map_err(|e| conv(8, e))?;
    let state = OrderState::parse_field("state", &word(22)?).map_err(|e| conv(22, e))?;
    Ok(Order {
        id: r.get(0)?,
        account_id: r.get(1)?,
        client_id: r.get(2)?,
        symbol: r.get(3)?,
        interval: r.get(4)?,
        strategy: r.get(5)?,
        role,
        side,
        kind,
        tif,
        quantity: r.get(10)?,
        stop_loss: r.get(13)?,
        take_profit: r.get(14)?,
        reference_price: r.get(15)?,
        parent_id: r.get(16)?,
        risk_decision_id: r.get(17)?,
        submitted_ms: r.get(18)?,
        submitted_ts: r.get(19)?,
        active_from_ms: r.get(20)?,
        expires_ms: r.get(21)?,
        state,
        filled_quantity: r.get(23)?,
        avg_fill_price: r.get(24)?,
        position_id: r.get(25)?,
        reason: r.get(26)?,
    })
}

/// Order `id`, if it exists.
pub fn order(tx: &Transaction<'_>, id: i64) -> Result<Option<Order>> {
    let sql = format!("SELECT {ORDER_COLUMNS} FROM paper_orders WHERE id = ?1");
    Ok(tx
        .prepare_cached(&sql)?
        .query_row([id], order_from_row)
        .optional()?)
}

/// The order of `account_id` with the caller's key `client_id`, if any.
pub fn order_by_client_id(
    tx: &Transaction<'_>,
    account_id: i64,
    client_id: &str,
) -> Result<Option<Order>> {
    let sql = format!(
        "SELECT {ORDER_COLUMNS} FROM paper_orders WHERE account_id = ?1 AND client_id = ?2"
    );
    Ok(tx
        .prepare_cached(&sql)?
        .query_row(params![account_id, client_id], order_from_row)
        .optional()?)
}

/// Which orders to list.
#[derive(Debug, Clone, Default)]
pub struct OrderFilter {
    /// Only these states (empty: all).
    pub states: Vec<OrderState>,
    /// Only this symbol.
    pub symbol: Option<String>,
    /// At most this many, the newest (listed oldest first).
    pub limit: Option<usize>,
}

/// The orders of `account_id`, filtered, oldest first.
pub fn orders(tx: &Transaction<'_>, account_id: i64, f: &OrderFilter) -> Result<Vec<Order>> {
    let mut sql = format!("SELECT {ORDER_COLUMNS} FROM paper_orders WHERE account_id = ?1");
    if !f.states.is_empty() {
        let list: Vec<String> = f
            .states
            .iter()
            .map(|s| format!("'{}'", s.as_str()))
            .collect();
        sql.push_str(&format!(" AND state IN ({})", list.join(", ")));
    }
    if f.symbol.is_some() {
        sql.push_str(" AND symbol = ?2");
    }
    sql.push_str(" ORDER BY id DESC");
    if let Some(n) = f.limit {
        sql.push_str(&format!(" LIMIT {n}"));
    }
    let mut stmt = tx.prepare(&sql)?;
    let rows = match &f.symbol {
        Some(s) => stmt.query_map(params![account_id, s], order_from_row)?,
        None => stmt.query_map(params![account_id], order_from_row)?,
    };
    let mut out: Vec<Order> = rows.collect::<rusqlite::Result<_>>()?;
    out.reverse();
    Ok(out)
}

/// The working orders of `account_id`, by id.
pub fn working_orders(tx: &Transaction<'_>, account_id: i64) -> Result<Vec<Order>> {
    let sql = format!(
        "SELECT {ORDER_COLUMNS} FROM paper_orders WHERE account_id = ?1 AND state IN {} ORDER BY id",
        OrderState::WORKING_SQL
    );
    let mut stmt = tx.prepare_cached(&sql)?;
    let rows = stmt.query_map([account_id], order_from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// One row of an order's event log.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct OrderEventRecord {
    /// Event id (increasing across all orders).
    pub id: i64,
    /// The order.
    pub order_id: i64,
    /// When (RFC 3339): the submit time, or the bar a fill or expiry happened on.
    pub ts: String,
    /// What happened.
    pub event: String,
    /// State before (null for `create`).
    pub from_state: Option<String>,
    /// State after.
    pub to_state: String,
    /// Reason code.
    pub reason: Option<String>,
    /// Fill price, for fills.
    pub price: Option<f64>,
    /// Quantity filled (fills) or ordered (`create`).
    pub quantity: Option<f64>,
    /// More (a denial's verdicts, the fill id), as JSON.
    pub detail: Option<serde_json::Value>,
}

/// The event log of order `id`, oldest first.
pub fn order_events(tx: &Transaction<'_>, id: i64) -> Result<Vec<OrderEventRecord>> {
    let mut stmt = tx.prepare_cached(
        "SELECT id, order_id, ts, event, from_state, to_state, reason, price, quantity, detail
         FROM paper_order_events WHERE order_id = ?1 ORDER BY id",
    )?;
    let rows = stmt.query_map([id], |r| {
        let detail: Option<String> = r.get(9)?;
        Ok(OrderEventRecord {
            id: r.get(0)?,
            order_id: r.get(1)?,
            ts: r.get(2)?,
            event: r.get(3)?,
            from_state: r.get(4)?,
            to_state: r.get(5)?,
            reason: r.get(6)?,
            price: r.get(7)?,
            quantity: r.get(8)?,
            detail: detail
                .map(|d| serde_json::from_str(&d).unwrap_or(serde_json::Value::String(d))),
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

// ---- Cursors -------------------------------------------------------------------------------------

/// Where the broker stands on a market: the last bar it processed and that bar's close.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Cursor {
    /// Open time of the last processed bar (ms).
    pub last_bar_ms: i64,
    /// Its close: the mark for positions.
    pub last_close: f64,
}

/// The cursor of `symbol`/`interval`, if the market was ever processed.
pub fn cursor(tx: &Transaction<'_>, symbol: &str, interval: &str) -> Result<Option<Cursor>> {
    Ok(tx
        .prepare_cached(
            "SELECT last_bar_ms, last_close FROM paper_cursors WHERE symbol = ?1 AND interval = ?2",
        )?
        .query_row(params![symbol, interval], |r| {
            Ok(Cursor {
                last_bar_ms: r.get(0)?,
                last_close: r.get(1)?,
            })
        })
        .optional()?)
}

pub(crate) fn set_cursor(
    tx: &Transaction<'_>,
    symbol: &str,
    interval: &str,
    c: Cursor,
    now_ms: i64,
) -> Result<()> {
    tx.prepare_cached(
        "INSERT INTO paper_cursors (symbol, interval, last_bar_ms, last_close, updated_ms)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (symbol, interval) DO UPDATE SET last_bar_ms = excluded.last_bar_ms,
            last_close = excluded.last_close, updated_ms = excluded.updated_ms",
    )?
    .execute(params![
        symbol,
        interval,
        c.last_bar_ms,
        c.last_close,
        now_ms
    ])?;
    Ok(())
}

// ---- Mode ----------------------------------------------------------------------------------------

/// Whether orders fill.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Orders are validated and recorded as previews; nothing fills. The default.
    Guide,
    /// Orders fill on paper.
    Autonomous,
}

impl Mode {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Guide => "guide",
            Mode::Autonomous => "autonomous",
        }
    }

    /// Parses `guide` or `autonomous`; `live` is refused with what to do instead.
    pub fn parse(text: &str) -> Result<Mode> {
        match text.trim().to_ascii_lowercase().as_str() {
            "guide" => Ok(Mode::Guide),
            "autonomous" => Ok(Mode::Autonomous),
            "live" => Err(Error::invalid(
                "mode: live trading is not available: flowrex has no live broker; paper trading runs in \
                 guide (previews only) or autonomous (fills on paper) mode",
            )),
            other => Err(Error::invalid(format!(
                "mode: unknown mode '{other}'; expected guide or autonomous"
            ))),
        }
    }
}

/// One mode change.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ModeChange {
    /// Row id.
    pub id: i64,
    /// When (RFC 3339).
    pub ts: String,
    /// Before.
    pub old_mode: String,
    /// After.
    pub new_mode: String,
    /// Why.
    pub reason: String,
}

/// The current mode (guide until a change says otherwise).
pub fn mode(tx: &Transaction<'_>) -> Result<Mode> {
    let m: Option<String> = tx
        .prepare_cached("SELECT new_mode FROM paper_mode_changes ORDER BY id DESC LIMIT 1")?
        .query_row([], |r| r.get(0))
        .optional()?;
    match m {
        Some(m) => Mode::parse(&m),
        None => Ok(Mode::Guide),
    }
}

/// Every mode change, oldest first.
pub fn mode_changes(tx: &Transaction<'_>) -> Result<Vec<ModeChange>> {
    let mut stmt = tx
        .prepare("SELECT id, ts, old_mode, new_mode, reason FROM paper_mode_changes ORDER BY id")?;
    let rows = stmt.query_map([], |r| {
        Ok(ModeChange {
            id: r.get(0)?,
            ts: r.get(1)?,
            old_mode: r.get(2)?,
            new_mode: r.get(3)?,
            reason: r.get(4)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Changes the mode (audited with `reason`, which must not be empty). Setting the current mode again
/// is recorded too: the audit says someone confirmed it.
pub fn set_mode(tx: &Transaction<'_>, new: Mode, reason: &str, now_ms: i64) -> Result<ModeChange> {
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(Error::invalid("reason: must not be empty"));
    }
    let old = mode(tx)?;
    let id = next_id(tx, "paper_mode_changes")?;
    tx.execute(
        "INSERT INTO paper_mode_changes (id, ts_ms, ts, old_mode, new_mode, reason)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            id,
            now_ms,
            ts_text(now_ms),
            old.as_str(),
            new.as_str(),
            reason
        ],
    )?;
    Ok(ModeChange {
        id,
        ts: ts_text(now_ms),
        old_mode: old.as_str().into(),
        new_mode: new.as_str().into(),
        reason: reason.into(),
    })
}
