//! The paper broker: the matching rules, as a [`Broker`] the execution engine drives bar by bar.
//!
//! Each bar of a market, in this order (the backtest's order for its parts: pending fills at the
//! open, then stops and targets against the bar, then the mark at the close):
//!
//! 1. **Expiry.** Day orders whose UTC day ended before this bar opened expire.
//! 2. **At the open**, in order id order, every eligible order (its bar opens at or after submit +
//!    latency) that is not a bracket leg: a market order fills at the open; a limit already marketable
//!    at the open fills at the open (a better price than its limit); a stop the open has gapped through
//!    fills at the open; a stop-limit whose stop the open reached triggers, then fills at the open if
//!    its limit allows. An immediate-or-cancel order's unfilled rest expires here.
//! 3. **Brackets.** For each open position, its stop-loss and take-profit legs against the bar through
//!    the backtest's own bar-exit rule ([`fills::bar_exit`]): an open beyond a level fills at the open,
//!    else a reached level fills at the level, and a bar reaching both follows the stop policy (the
//!    trade is marked ambiguous). A position opened at this bar's open is exposed to the whole bar.
//! 4. **Inside the bar**, resting limit, stop and stop-limit orders (entries and manual exits) touched
//!    by the bar's range: a limit fills at its limit, a stop at its stop (plus slippage), a stop-limit
//!    triggers at its stop and fills there if its limit allows, else rests as a limit. An entry filled
//!    inside a bar gets its bracket from the next bar on (when in the bar it filled is unknown).
//! 5. The engine marks positions at the close.
//!
//! On top of the backtest: slippage (fixed bps or pips plus a seeded random part) worsens market and
//! stop fills, never limit fills; a touch inside a bar (not a gap, which always fills) fills with the
//! fill probability, drawn per order and bar from the seed; a volume cap limits one order to a share
//! of the bar's volume (the rest stays working: partial fills). The costs (spread on entries,
//! commission) are charged by the ledger with the backtest's functions.

use super::random::{self, SLIPPAGE, TOUCH};
use super::settings::FillModel;
use crate::candles::Bar;
use crate::engine::fills;
use crate::error::Result;
use crate::execution::{
    BarDesk, Broker, Costs, Instrument, OrderKind, OrderState, Role, TimeInForce, WorkingOrder,
};
use crate::trade::{ExitReason, Side};

/// The paper broker: a fill model and scratch space (nothing is allocated per bar once warm).
#[derive(Debug, Clone)]
pub struct PaperBroker {
    model: FillModel,
    ids: Vec<i64>,
    done: Vec<i64>,
    positions: Vec<i64>,
}

/// What matching needs of an order (copied out of the book, so the book can change meanwhile).
#[derive(Debug, Clone, Copy)]
struct View {
    id: i64,
    role: Role,
    side: Side,
    kind: OrderKind,
    tif: TimeInForce,
    remaining: f64,
    state: OrderState,
    active_from_ms: i64,
    expires_ms: Option<i64>,
}

fn view(d: &BarDesk<'_, '_, '_>, id: i64) -> Option<View> {
    d.order(id).map(|o| View {
        id: o.id,
        role: o.role,
        side: o.side,
        kind: o.kind,
        tif: o.tif,
        remaining: o.remaining(),
        state: o.state,
        active_from_ms: o.active_from_ms,
        expires_ms: o.expires_ms,
    })
}

fn is_leg(role: Role) -> bool {
    matches!(role, Role::StopLoss | Role::TakeProfit)
}

/// A buy (`long`) limit at `limit` is marketable at `price` when `price ≤ limit`; a sell when `≥`.
fn marketable(buy: bool, price: f64, limit: f64) -> bool {
    if buy { price <= limit } else { price >= limit }
}

/// A buy stop at `stop` is reached by `price` when `price ≥ stop`; a sell stop when `≤`.
fn reached(buy: bool, price: f64, stop: f64) -> bool {
    if buy { price >= stop } else { price <= stop }
}

impl PaperBroker {
    /// A broker with `model`.
    pub fn new(model: FillModel) -> PaperBroker {
        PaperBroker {
            model,
            ids: Vec::new(),
            done: Vec::new(),
            positions: Vec::new(),
        }
    }

    /// The fill model.
    pub fn model(&self) -> &FillModel {
        &self.model
    }

    /// `price` moved against an order of `side` by the slippage (fixed plus the seeded random part
    /// drawn for `id` on the bar opening at `ts`).
    fn slip(&self, inst: &Instrument, side: Side, id: i64, ts: i64, price: f64) -> f64 {
        let m = &self.model;
        let pip = inst.pip_size.unwrap_or(0.0);
        let mut amount = price * m.slippage_bps / 1e4 + m.slippage_pips * pip;
        if m.random_slippage_bps > 0.0 || m.random_slippage_pips > 0.0 {
            let u = random::unit(m.seed, id, ts, SLIPPAGE);
            amount += u * (price * m.random_slippage_bps / 1e4 + m.random_slippage_pips * pip);
        }
        if amount == 0.0 {
            price
        } else {
            price + side.sign() * amount
        }
    }

    /// Whether a touch of order `id` inside the bar opening at `ts` fills (the fill probability).
    fn touch_fills(&self, id: i64, ts: i64) -> bool {
        let p = self.model.fill_probability;
        p >= 1.0 || random::unit(self.model.seed, id, ts, TOUCH) < p
    }

    /// `qty` limited by the volume cap on a bar of `volume`.
    fn capped(&self, qty: f64, volume: f64) -> f64 {
        match self.model.max_volume_share {
            Some(share) => qty.min(share * volume),
            None => qty,
        }
    }

    fn fill(
        &mut self,
        d: &mut BarDesk<'_, '_, '_>,
        o: &View,
        price: f64,
        requested: f64,
        exit: Option<(ExitReason, bool)>,
    ) -> Result<()> {
        let qty = self.capped(o.remaining, d.bar().volume);
        if qty > 0.0 {
            d.fill(o.id, qty, price, requested, exit)?;
            self.done.push(o.id);
        }
        Ok(())
    }

    /// Step 2: order `o` at the bar's open.
    fn at_open(&mut self, d: &mut BarDesk<'_, '_, '_>, o: View) -> Result<()> {
        let bar = d.bar();
        let inst = d.book().instrument;
        let buy = o.side == Side::Long;
        let open = bar.open;
        match o.kind {
            OrderKind::Market => {
                let px = self.slip(&inst, o.side, o.id, bar.ts, open);
                self.fill(d, &o, px, open, None)
            }
            OrderKind::Limit { limit } if marketable(buy, open, limit) => {
                self.fill(d, &o, open, limit, None)
            }
            OrderKind::Stop { stop } if reached(buy, open, stop) => {
                let px = self.slip(&inst, o.side, o.id, bar.ts, open);
                self.fill(d, &o, px, stop, None)
            }
            OrderKind::StopLimit { stop, limit } => {
                let triggered = o.state == OrderState::Triggered
                    || (o.state == OrderState::Submitted && reached(buy, open, stop));
                if !triggered {
                    return Ok(());
                }
                if o.state == OrderState::Submitted {
                    d.trigger(o.id, open)?;
                }
                if marketable(buy, open, limit) {
                    let o = view(d, o.id).expect("triggered orders work");
                    self.fill(d, &o, open, limit, None)?;
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// Step 3: the bracket legs of position `pid` against the bar.
    fn bracket(&mut self, d: &mut BarDesk<'_, '_, '_>, pid: i64) -> Result<()> {
        let bar = d.bar();
        let book = d.book();
        let Some(units) = book.positions.iter().find(|p| p.id == pid).map(|p| p.units) else {
            return Ok(());
        };
        let long = units > 0.0;
        let (sl, tp) = book.legs(pid);
        let sl = sl
            .filter(|o| o.eligible(bar.ts))
            .and_then(|o| Some((o.id, o.kind.stop_price()?)));
        let tp = tp
            .filter(|o| o.eligible(bar.ts))
            .and_then(|o| Some((o.id, o.kind.limit_price()?)));
        let (stop, target) = (sl.map(|l| l.1), tp.map(|l| l.1));
        let Some(e) = fills::bar_exit(
            long,
            stop,
            target,
            (bar.open, bar.high, bar.low),
            self.model.stop_policy,
        ) else {
            return Ok(());
        };
        let stop_leg = e.reason == ExitReason::Stop;
        let (leg, level) = if stop_leg {
            sl.expect("a stop exit has a stop leg")
        } else {
            tp.expect("a target exit has a target leg")
        };
        let gap = if stop_leg {
            reached(!long, bar.open, level)
        } else {
            marketable(!long, bar.open, level)
        };
        if gap || self.touch_fills(leg, bar.ts) {
            return self.exit_leg(d, leg, stop_leg, e.price, level, (e.reason, e.ambiguous));
        }
        // The leg the policy chose missed its touch; on a bar that reached both, the other may fill.
        if e.ambiguous {
            let other = if stop_leg { tp } else { sl };
            if let Some((id, lvl)) = other
                && self.touch_fills(id, bar.ts)
            {
                let reason = if stop_leg {
                    ExitReason::Target
                } else {
                    ExitReason::Stop
                };
                return self.exit_leg(d, id, !stop_leg, lvl, lvl, (reason, true));
            }
        }
        Ok(())
    }

    fn exit_leg(
        &mut self,
        d: &mut BarDesk<'_, '_, '_>,
        id: i64,
        stop_leg: bool,
        price: f64,
        level: f64,
        exit: (ExitReason, bool),
    ) -> Result<()> {
        let Some(o) = view(d, id) else { return Ok(()) };
        let bar = d.bar();
        let inst = d.book().instrument;
        let px = if stop_leg {
            self.slip(&inst, o.side, id, bar.ts, price)
        } else {
            price
        };
        self.fill(d, &o, px, level, Some(exit))
    }

    /// Step 4: resting order `o` touched inside the bar.
    fn inside(&mut self, d: &mut BarDesk<'_, '_, '_>, o: View) -> Result<()> {
        let bar = d.bar();
        let inst = d.book().instrument;
        let buy = o.side == Side::Long;
        // The best price the bar offered this order: its low for a buy, its high for a sell; and the
        // worst, which a stop needs.
        let (best, worst) = if buy {
            (bar.low, bar.high)
        } else {
            (bar.high, bar.low)
        };
        match o.kind {
            OrderKind::Limit { limit } if marketable(buy, best, limit) => {
                if self.touch_fills(o.id, bar.ts) {
                    self.fill(d, &o, limit, limit, None)?;
                }
                Ok(())
            }
            OrderKind::Stop { stop } if reached(buy, worst, stop) => {
                if self.touch_fills(o.id, bar.ts) {
                    let px = self.slip(&inst, o.side, o.id, bar.ts, stop);
                    self.fill(d, &o, px, stop, None)?;
                }
                Ok(())
            }
            OrderKind::StopLimit { stop, limit } => {
                if o.state == OrderState::Submitted {
                    if !reached(buy, worst, stop) {
                        return Ok(());
                    }
                    d.trigger(o.id, stop)?;
                    // Triggered at its stop: it fills there only if the limit allows the stop price;
                    // otherwise it rests as a limit from the next bar (the path inside the bar after
                    // the trigger is unknown).
                    if marketable(buy, stop, limit) && self.touch_fills(o.id, bar.ts) {
                        let o = view(d, o.id).expect("triggered orders work");
                        self.fill(d, &o, stop, limit, None)?;
                    }
                } else if marketable(buy, best, limit) && self.touch_fills(o.id, bar.ts) {
                    self.fill(d, &o, limit, limit, None)?;
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }
}

/// Whether order `o` could do anything on `bar`: expire, fill, or trigger. Every rule below only acts
/// on orders for which this holds, so a bar none of them passes is skipped after one pass over the
/// book (most bars: resting orders far from the price).
fn could_act(o: &WorkingOrder, bar: &Bar) -> bool {
    if o.expires_ms.is_some_and(|e| bar.ts >= e) || o.tif == TimeInForce::Ioc {
        return true;
    }
    if bar.ts < o.active_from_ms {
        return false;
    }
    let buy = o.side == Side::Long;
    let (best, worst) = if buy {
        (bar.low, bar.high)
    } else {
        (bar.high, bar.low)
    };
    match o.kind {
        OrderKind::Market => true,
        OrderKind::Limit { limit } => marketable(buy, best, limit),
        OrderKind::Stop { stop } => reached(buy, worst, stop),
        OrderKind::StopLimit { stop, limit } => {
            if o.state == OrderState::Triggered {
                marketable(buy, best, limit)
            } else {
                reached(buy, worst, stop)
            }
        }
    }
}

impl Broker for PaperBroker {
    fn on_bar(&mut self, d: &mut BarDesk<'_, '_, '_>) -> Result<()> {
        let bar = d.bar();
        if !d.book().working().any(|o| could_act(o, &bar)) {
            return Ok(());
        }
        let ts = bar.ts;
        let mut ids = std::mem::take(&mut self.ids);
        d.working_ids(&mut ids);
        self.done.clear();
        for &id in &ids {
            if let Some(o) = view(d, id)
                && o.expires_ms.is_some_and(|e| ts >= e)
            {
                d.expire(id, "day_end")?;
            }
        }
        for &id in &ids {
            let Some(o) = view(d, id) else { continue };
            if is_leg(o.role) || ts < o.active_from_ms {
                continue;
            }
            self.at_open(d, o)?;
            if o.tif == TimeInForce::Ioc && d.order(id).is_some() {
                d.expire(id, "ioc")?;
            }
        }
        let mut positions = std::mem::take(&mut self.positions);
        positions.clear();
        positions.extend(d.book().positions.iter().map(|p| p.id));
        for &pid in &positions {
            self.bracket(d, pid)?;
        }
        self.positions = positions;
        for &id in &ids {
            let Some(o) = view(d, id) else { continue };
            if is_leg(o.role)
                || ts < o.active_from_ms
                || matches!(o.kind, OrderKind::Market)
                || self.done.contains(&id)
            {
                continue;
            }
            self.inside(d, o)?;
        }
        self.ids = ids;
        Ok(())
    }

    fn costs(&self) -> Costs {
        self.model.costs()
    }

    fn seed(&self) -> u64 {
        self.model.seed
    }

    fn settings_json(&self) -> String {
        serde_json::to_string(&self.model).expect("the fill model serializes")
    }
}
