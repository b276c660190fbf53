//! Placing and cancelling orders: the engine's front door. An entry passes the risk validator inside
//! the transaction that records it ([`place`] = [`trade_request`] + `risk::approval::check` +
//! [`submit`] or a denial); [`submit`] demands a [`risk::Approval`](crate::risk::Approval), which only
//! the risk layer makes. Exits (reduce-only) and cancels need no approval but still go through here.
//! The mode decides what an accepted order becomes: `submitted` (autonomous: it will fill on paper) or
//! `previewed` (guide: recorded, never filled).

use chrono::{DateTime, Utc};
use rusqlite::Transaction;

use super::instrument::Instruments;
use super::ledger::{Ledger, book_name, open_positions};
use super::order::{Order, OrderEvent, OrderKind, OrderState, Role, TimeInForce};
use super::risk_link;
use super::store::{self, AccountRow, Mode, NewOrder, Progress, next_id};
use crate::candles::{DAY_MS, Interval};
use crate::error::{Error, Result};
use crate::risk::approval::{self, Approval, Checked};
use crate::risk::{Decision, Limits, TradeRequest};
use crate::trade::Side;

/// What the engine needs besides the transaction: the effective risk limits, the instruments, the
/// broker's latency (an order works from submit time + latency) and the initial balance of a first
/// account.
#[derive(Debug, Clone, Copy)]
pub struct Desk<'a> {
    /// Effective risk limits.
    pub limits: Limits,
    /// Configured instruments.
    pub instruments: &'a Instruments,
    /// Milliseconds between submitting an order and its first eligible bar open.
    pub latency_ms: i64,
    /// The balance the first account opens with.
    pub initial_balance: f64,
}

/// An order to open a position (an entry).
#[derive(Debug, Clone, PartialEq)]
pub struct OrderRequest {
    /// Instrument.
    pub symbol: String,
    /// The bar series that matches it.
    pub interval: Interval,
    /// The book it trades in (a strategy or playbook); `None` for the manual book.
    pub strategy: Option<String>,
    /// Long (buy) or short (sell).
    pub side: Side,
    /// Pricing.
    pub kind: OrderKind,
    /// Time in force.
    pub tif: TimeInForce,
    /// Units to buy or sell.
    pub units: f64,
    /// The bracket's stop loss (required: the risk check measures risk per trade with it).
    pub stop_loss: Option<f64>,
    /// The bracket's take profit (required: the risk check measures reward:risk with it).
    pub take_profit: Option<f64>,
    /// The price the risk check measures from: required for market orders (e.g. the last close);
    /// defaults to the limit price, or the stop price for stop and stop-limit orders.
    pub reference_price: Option<f64>,
    /// The caller's idempotency key: placing the same order under it again returns the first order; a
    /// different order under it is refused (naming the first parameter that differs).
    pub client_id: Option<String>,
}

/// An order that reduces or closes the open position of a book.
#[derive(Debug, Clone, PartialEq)]
pub struct ExitRequest {
    /// Instrument.
    pub symbol: String,
    /// Bar series.
    pub interval: Interval,
    /// The book; `None` for the manual book.
    pub strategy: Option<String>,
    /// Pricing.
    pub kind: OrderKind,
    /// Time in force.
    pub tif: TimeInForce,
    /// Units to close; `None` closes the whole position.
    pub units: Option<f64>,
    /// Idempotency key.
    pub client_id: Option<String>,
}

/// What placing an order did.
#[derive(Debug, Clone, PartialEq)]
pub enum Placed {
    /// Accepted and working (autonomous mode).
    Submitted(Order),
    /// Accepted and recorded as a preview (guide mode).
    Previewed(Order),
    /// Rejected by the risk validator: the order is `denied`, the decision has every verdict.
    Denied(Order, Decision),
    /// An order with this client id existed already; nothing new was written.
    Existing(Order),
}

impl Placed {
    /// The order.
    pub fn order(&self) -> &Order {
        match self {
            Placed::Submitted(o) | Placed::Previewed(o) | Placed::Existing(o) => o,
            Placed::Denied(o, _) => o,
        }
    }
}

/// The current account, opened with `initial_balance` on first use. Opening it also sets the risk
/// book's balance (so drawdown and daily loss are measured against the paper account).
pub fn ensure_account(
    tx: &Transaction<'_>,
    initial_balance: f64,
    now: DateTime<Utc>,
) -> Result<AccountRow> {
    if let Some(a) = store::current_account(tx)? {
        return Ok(a);
    }
    open_account(tx, initial_balance, "first use", None, now)
}

/// Opens a new account epoch and sets the risk book's balance to it.
pub(crate) fn open_account(
    tx: &Transaction<'_>,
    initial_balance: f64,
    reason: &str,
    previous: Option<&str>,
    now: DateTime<Utc>,
) -> Result<AccountRow> {
    if !(initial_balance.is_finite() && initial_balance > 0.0) {
        return Err(Error::invalid(format!(
            "balance: must be a positive number, got {initial_balance}"
        )));
    }
    let a = store::insert_account(
        tx,
        initial_balance,
        now.timestamp_millis(),
        reason,
        previous,
    )?;
    risk_link::set_balance(tx, initial_balance, reason, now)?;
    Ok(a)
}

fn positive(field: &str, v: f64) -> Result<f64> {
    if v.is_finite() && v > 0.0 {
        Ok(v)
    } else {
        Err(Error::invalid(format!(
            "{field}: must be a positive number, got {v}"
        )))
    }
}

fn non_empty<'s>(field: &str, v: &'s Option<String>) -> Result<Option<&'s str>> {
    match v.as_deref().map(str::trim) {
        Some("") => Err(Error::invalid(format!("{field}: must not be empty"))),
        other => Ok(other),
    }
}

impl OrderRequest {
    /// Checks the request; the error names the field.
    pub fn validate(&self) -> Result<()> {
        if self.symbol.trim().is_empty() {
            return Err(Error::invalid("symbol: must not be empty"));
        }
        non_empty("strategy", &self.strategy)?;
        non_empty("client_id", &self.client_id)?;
        positive("units", self.units)?;
        self.kind.validate()?;
        let need = "an entry needs a stop loss and a take profit (the risk check measures risk per \
                    trade and reward:risk with them)";
        let sl = self
            .stop_loss
            .ok_or_else(|| Error::invalid(format!("stop_loss: missing; {need}")))?;
        let tp = self
            .take_profit
            .ok_or_else(|| Error::invalid(format!("take_profit: missing; {need}")))?;
        positive("stop_loss", sl)?;
        positive("take_profit", tp)?;
        positive("reference_price", self.reference()?)?;
        Ok(())
    }

    /// The price the risk check measures from.
    pub fn reference(&self) -> Result<f64> {
        match (self.reference_price, self.kind) {
            (Some(p), _) => Ok(p),
            (None, OrderKind::Market) => Err(Error::invalid(
                "reference_price: required for a market order (the price risk is measured from, e.g. \
                 the last close)",
            )),
            (None, OrderKind::Limit { limit }) => Ok(limit),
            (None, OrderKind::Stop { stop } | OrderKind::StopLimit { stop, .. }) => Ok(stop),
        }
    }
}

/// The trade the risk validator is asked about for `req`: the reference price as entry, the bracket
/// as stop and target, the size in lots of the instrument, and the paper account's equity.
pub fn trade_request(
    tx: &Transaction<'_>,
    desk: &Desk<'_>,
    req: &OrderRequest,
    now: DateTime<Utc>,
) -> Result<TradeRequest> {
    req.validate()?;
    let account = ensure_account(tx, desk.initial_balance, now)?;
    let ledger = Ledger::load(
        tx,
        account,
        desk.instruments,
        desk.limits,
        Default::default(),
        None,
    )?;
    let lot_size = desk.instruments.get(&req.symbol).lot_size;
    let trade = TradeRequest {
        symbol: req.symbol.trim().to_string(),
        side: req.side,
        entry: req.reference()?,
        stop: req.stop_loss.unwrap_or_default(),
        target: req.take_profit.unwrap_or_default(),
        size: req.units / lot_size,
        lot_size,
        strategy: risk_link::strategy_of(req.strategy.as_deref().unwrap_or_default())?,
        equity: Some(ledger.equity()),
    };
    // The validator names its own fields (entry, stop, target); name the order's.
    trade.validate().map_err(|e| {
        let text = e.to_string();
        let renamed = [
            ("entry:", "reference_price:"),
            ("stop:", "stop_loss:"),
            ("target:", "take_profit:"),
        ]
        .iter()
        .find_map(|(from, to)| text.strip_prefix(from).map(|rest| format!("{to}{rest}")));
        renamed.map_or(e, Error::invalid)
    })?;
    Ok(trade)
}

/// Places an entry: validates it, runs the risk validator in `tx`, and records the order as submitted
/// or previewed (by the mode) when approved, as denied (with the verdicts) when not. A request with a
/// client id seen before returns that order and writes nothing when it asks for the same order, and is
/// refused naming the first differing parameter when not. Bad input is an error and, the
/// transaction being rolled back, leaves nothing recorded.
pub fn place(
    tx: &Transaction<'_>,
    desk: &Desk<'_>,
    req: &OrderRequest,
    now: DateTime<Utc>,
) -> Result<Placed> {
    req.validate()?;
    if let Some(o) = existing(tx, req.client_id.as_deref())? {
        return same_entry(&o, req).map(|()| Placed::Existing(o));
    }
    let trade = trade_request(tx, desk, req, now)?;
    match approval::check(tx, &desk.limits, &trade, now)? {
        Checked::Approved(a) => submit(tx, desk, a, req, now),
        Checked::Denied(d) => deny(tx, desk, d, req, now),
    }
}

fn existing(tx: &Transaction<'_>, client_id: Option<&str>) -> Result<Option<Order>> {
    let (Some(key), Some(a)) = (client_id, store::current_account(tx)?) else {
        return Ok(None);
    };
    store::order_by_client_id(tx, a.id, key.trim())
}

/// One parameter of an order as placed and as asked again: its name and both values as text.
type Asked = (&'static str, String, String);

/// The parameters an order is identified by under its client id, both sides of a request: role,
/// market, book, pricing and time in force (the side and quantity are added by the caller).
fn common(
    o: &Order,
    role: Role,
    symbol: &str,
    interval: Interval,
    strategy: &Option<String>,
    kind: OrderKind,
    tif: TimeInForce,
) -> Vec<Asked> {
    let price = |v: Option<f64>| v.map_or_else(|| "none".to_string(), |p| p.to_string());
    vec![
        ("role", o.role.to_string(), role.to_string()),
        ("symbol", o.symbol.clone(), symbol.trim().to_string()),
        (
            "interval",
            o.interval.clone(),
            interval.as_str().to_string(),
        ),
        (
            "strategy",
            o.strategy.clone(),
            strategy.as_deref().map_or("", str::trim).to_string(),
        ),
        (
            "type",
            o.kind.order_type().to_string(),
            kind.order_type().to_string(),
        ),
        (
            "limit_price",
            price(o.kind.limit_price()),
            price(kind.limit_price()),
        ),
        (
            "stop_price",
            price(o.kind.stop_price()),
            price(kind.stop_price()),
        ),
        ("tif", o.tif.to_string(), tif.to_string()),
    ]
}

/// Idempotency done right (as Stripe's keys): a client id seen before returns its order only when the
/// request asks for the same order; a different one is refused naming the first parameter that differs,
/// and nothing is written. Not compared: the reference price the risk check measured from (a market
/// order's retry measures from a later close) and, for an exit without units, the quantity (it closed
/// the whole position as it then was).
fn same_as(o: &Order, asked: &[Asked]) -> Result<()> {
    let Some((field, was, now)) = asked.iter().find(|(_, was, now)| was != now) else {
        return Ok(());
    };
    Err(Error::invalid(format!(
        "client_id '{}': already names order {} with {field} {}; this request has {field} {}. A client \
         id names one order: send the same order again, or use a new client id for a new one; nothing \
         was recorded",
        o.client_id.as_deref().unwrap_or_default(),
        o.id,
        shown(was),
        shown(now)
    )))
}

/// A value for the refusal: an empty book is the manual book.
fn shown(v: &str) -> String {
    if v.is_empty() {
        "'' (the manual book)".into()
    } else {
        v.to_string()
    }
}

fn same_entry(o: &Order, req: &OrderRequest) -> Result<()> {
    let price = |v: Option<f64>| v.map_or_else(|| "none".to_string(), |p| p.to_string());
    let mut asked = common(
        o,
        Role::Entry,
        &req.symbol,
        req.interval,
        &req.strategy,
        req.kind,
        req.tif,
    );
    asked.extend([
        ("side", o.side.to_string(), req.side.to_string()),
        ("units", o.quantity.to_string(), req.units.to_string()),
        ("stop_loss", price(o.stop_loss), price(req.stop_loss)),
        ("take_profit", price(o.take_profit), price(req.take_profit)),
    ]);
    same_as(o, &asked)
}

fn same_exit(o: &Order, req: &ExitRequest) -> Result<()> {
    let mut asked = common(
        o,
        Role::Exit,
        &req.symbol,
        req.interval,
        &req.strategy,
        req.kind,
        req.tif,
    );
    if let Some(u) = req.units {
        asked.push(("units", o.quantity.to_string(), u.to_string()));
    }
    same_as(o, &asked)
}

/// Records an approved entry: the approval must come from this transaction and approve exactly this
/// trade (symbol, side, size in lots, stop, target, strategy). The only way to an entry order.
pub fn submit(
    tx: &Transaction<'_>,
    desk: &Desk<'_>,
    approval: Approval<'_>,
    req: &OrderRequest,
    now: DateTime<Utc>,
) -> Result<Placed> {
    if !approval.is_from(tx) {
        return Err(Error::invalid(
            "approval: it was made in another transaction; check and submit in one",
        ));
    }
    req.validate()?;
    let t = approval.trade();
    let lot_size = desk.instruments.get(&req.symbol).lot_size;
    let same = t.symbol == req.symbol.trim()
        && t.side == req.side
        && t.size == req.units / lot_size
        && t.lot_size == lot_size
        && Some(t.stop) == req.stop_loss
        && Some(t.target) == req.take_profit
        && risk_link::same_strategy(t, req.strategy.as_deref().unwrap_or_default());
    if !same {
        return Err(Error::invalid(format!(
            "approval: decision {} approved a different trade than this order",
            approval.decision_id()
        )));
    }
    if let Some(o) = existing(tx, req.client_id.as_deref())? {
        return same_entry(&o, req).map(|()| Placed::Existing(o));
    }
    let id = insert_entry(tx, desk, req, Some(approval.decision_id()), now)?;
    let (event, mode) = match store::mode(tx)? {
        Mode::Autonomous => (OrderEvent::Accept, Mode::Autonomous),
        Mode::Guide => (OrderEvent::Preview, Mode::Guide),
    };
    let reason = format!("risk decision {}", approval.decision_id());
    let p = Progress {
        reason: Some(&reason),
        ..Progress::default()
    };
    store::transition(tx, id, OrderState::New, event, now.timestamp_millis(), p)?;
    let order = store::order(tx, id)?.expect("written above");
    Ok(match mode {
        Mode::Autonomous => Placed::Submitted(order),
        Mode::Guide => Placed::Previewed(order),
    })
}

fn deny(
    tx: &Transaction<'_>,
    desk: &Desk<'_>,
    d: Decision,
    req: &OrderRequest,
    now: DateTime<Utc>,
) -> Result<Placed> {
    let id = insert_entry(tx, desk, req, Some(d.decision_id), now)?;
    let reason: Vec<&str> = d.failed().map(|v| v.rule.as_str()).collect();
    let reason = format!("risk: {}", reason.join(","));
    let detail = serde_json::to_string(&d.verdicts).expect("verdicts serialize");
    let p = Progress {
        reason: Some(&reason),
        detail: Some(&detail),
        ..Progress::default()
    };
    store::transition(
        tx,
        id,
        OrderState::New,
        OrderEvent::Deny,
        now.timestamp_millis(),
        p,
    )?;
    let order = store::order(tx, id)?.expect("written above");
    Ok(Placed::Denied(order, d))
}

fn insert_entry(
    tx: &Transaction<'_>,
    desk: &Desk<'_>,
    req: &OrderRequest,
    decision: Option<i64>,
    now: DateTime<Utc>,
) -> Result<i64> {
    let account = ensure_account(tx, desk.initial_balance, now)?;
    let now_ms = now.timestamp_millis();
    let id = next_id(tx, "paper_orders")?;
    store::insert_order(
        tx,
        &NewOrder {
            id,
            account_id: account.id,
            client_id: req.client_id.as_deref().map(str::trim),
            symbol: req.symbol.trim(),
            interval: req.interval.as_str(),
            strategy: req.strategy.as_deref().map_or("", str::trim),
            role: Role::Entry,
            side: req.side,
            kind: req.kind,
            tif: req.tif,
            quantity: req.units,
            stop_loss: req.stop_loss,
            take_profit: req.take_profit,
            reference_price: Some(req.reference()?),
            parent_id: None,
            risk_decision_id: decision,
            submitted_ms: now_ms,
            active_from_ms: now_ms.saturating_add(desk.latency_ms),
            expires_ms: expiry(req.tif, now_ms),
            position_id: None,
        },
    )?;
    Ok(id)
}

/// Day orders expire at the end of the UTC day they were submitted on.
fn expiry(tif: TimeInForce, now_ms: i64) -> Option<i64> {
    (tif == TimeInForce::Day).then(|| (now_ms.div_euclid(DAY_MS) + 1) * DAY_MS)
}

/// Places a reduce-only order on the open position of a book (no risk approval: it only reduces).
/// No open position, or more units than it holds, is bad input.
pub fn place_exit(
    tx: &Transaction<'_>,
    desk: &Desk<'_>,
    req: &ExitRequest,
    now: DateTime<Utc>,
) -> Result<Placed> {
    non_empty("strategy", &req.strategy)?;
    non_empty("client_id", &req.client_id)?;
    req.kind.validate()?;
    if let Some(o) = existing(tx, req.client_id.as_deref())? {
        return same_exit(&o, req).map(|()| Placed::Existing(o));
    }
    let book = req.strategy.as_deref().map_or("", str::trim);
    let symbol = req.symbol.trim();
    let no_position = || {
        Error::invalid(format!(
            "symbol: no open position in {symbol} {}{} to exit",
            req.interval,
            book_name(book)
                .map(|b| format!(" (book {b})"))
                .unwrap_or_default()
        ))
    };
    let account = store::current_account(tx)?.ok_or_else(no_position)?;
    let pos = open_positions(tx, account.id)?
        .into_iter()
        .find(|p| p.symbol == symbol && p.interval == req.interval.as_str() && p.strategy == book)
        .ok_or_else(no_position)?;
    let units = match req.units {
        None => pos.units.abs(),
        Some(u) => {
            let u = positive("units", u)?;
            if u > pos.units.abs() {
                return Err(Error::invalid(format!(
                    "units: {u} is more than the open position's {}",
                    pos.units.abs()
                )));
            }
            u
        }
    };
    let now_ms = now.timestamp_millis();
    let id = next_id(tx, "paper_orders")?;
    store::insert_order(
        tx,
        &NewOrder {
            id,
            account_id: account.id,
            client_id: req.client_id.as_deref().map(str::trim),
            symbol,
            interval: req.interval.as_str(),
            strategy: book,
            role: Role::Exit,
            side: Side::of_size(-pos.units),
            kind: req.kind,
            tif: req.tif,
            quantity: units,
            stop_loss: None,
            take_profit: None,
            reference_price: None,
            parent_id: None,
            risk_decision_id: None,
            submitted_ms: now_ms,
            active_from_ms: now_ms.saturating_add(desk.latency_ms),
            expires_ms: expiry(req.tif, now_ms),
            position_id: Some(pos.id),
        },
    )?;
    let mode = store::mode(tx)?;
    let event = match mode {
        Mode::Autonomous => OrderEvent::Accept,
        Mode::Guide => OrderEvent::Preview,
    };
    store::transition(tx, id, OrderState::New, event, now_ms, Progress::default())?;
    let order = store::order(tx, id)?.expect("written above");
    Ok(match mode {
        Mode::Autonomous => Placed::Submitted(order),
        Mode::Guide => Placed::Previewed(order),
    })
}

/// Cancels working order `id` of the current account, with `reason`. An order that is not working
/// (or not there) is bad input naming its state.
pub fn cancel(tx: &Transaction<'_>, id: i64, reason: &str, now: DateTime<Utc>) -> Result<Order> {
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(Error::invalid("reason: must not be empty"));
    }
    let account = store::current_account(tx)?;
    let o = store::order(tx, id)?
        .filter(|o| Some(o.account_id) == account.as_ref().map(|a| a.id))
        .ok_or_else(|| Error::invalid(format!("order: no order {id} in the current account")))?;
    if !o.state.is_working() {
        return Err(Error::invalid(format!(
            "order: order {id} is {}; only working orders (submitted, triggered, partially filled) can \
             be cancelled",
            o.state
        )));
    }
    let p = Progress {
        reason: Some(reason),
        ..Progress::default()
    };
    store::transition(
        tx,
        id,
        o.state,
        OrderEvent::Cancel,
        now.timestamp_millis(),
        p,
    )?;
    Ok(store::order(tx, id)?.expect("exists"))
}
