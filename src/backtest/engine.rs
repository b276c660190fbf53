//! The bar loop: order matching (market fills, stops and targets inside bars), costs, sizing, the
//! trade log and the equity curve. The loop reads plain slices and allocates nothing per bar.
//!
//! Each bar `i` from `warmup + 1` on runs, in order:
//! 1. `NextOpen`: the order decided at bar `i − 1` fills at `open[i]` — the open position is closed at
//!    the raw open, then the new one opens at the open adjusted for spread, sized from the cash after
//!    that close.
//! 2. Stops and targets of the open position are checked against bar `i` (an entry at this bar's open is
//!    exposed to its whole range). An open already beyond a level fills at the open; else a reached
//!    level fills at the level; a bar reaching both follows the [`StopPolicy`] and is counted as
//!    ambiguous.
//! 3. `Close`: the strategy decides and the order fills at `close[i]` (exposed from bar `i + 1`).
//! 4. Equity is marked at the close: `cash + (close·units − units·entry)`. If it is ≤ 0 the position is
//!    closed at the close, cash and equity are 0 from here on, and the run stops (out of money).
//! 5. `NextOpen`: the strategy decides (not on the last bar: such an order could never fill).
//!
//! With `close_at_end` the position open after the loop is closed at the last bar's open (`NextOpen`;
//! the reference re-runs the last bar, so an entry decided on the last bar also fills at that open and
//! stays open) or at the last close (`Close`), and the last equity value is re-marked.
//!
//! Arithmetic follows the reference operation by operation so that results match it bit for bit.
//!
//! Deliberate differences from backtesting.py, all outside what its SMA-cross runs exercise:
//! - A pending market order fills at the open *before* stops and targets are checked (the reference
//!   checks a trade's stop first, so a reversal decided on the previous bar could exit at the stop price
//!   although the open came first).
//! - An open beyond the target exits at the open as a target exit (the reference's stop-first order
//!   would let a stop reached later in the bar win).
//! - `Fill::Close` fills inside bar `i` and marks bar `i`'s equity after the fill (the reference's
//!   `trade_on_close` books the fill on bar `i` but only reflects it from bar `i + 1`).

use serde::Serialize;

use super::{BacktestConfig, Fill, Sizing, StopPolicy};
use crate::candles::Candles;
use crate::error::{Error, Result};
use crate::strategy::{Action, Entry, PositionView, Side, Signals};

/// The reference's default relative order size, `1 − ε`: "all available cash".
pub const SIZE_ALL: f64 = 1.0 - f64::EPSILON;

/// Why a trade was closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ExitReason {
    /// The strategy exited or reversed.
    Signal,
    /// The stop price was reached (or gapped through).
    Stop,
    /// The target price was reached (or gapped through).
    Target,
    /// Closed after the last bar by `close_at_end`.
    EndOfData,
    /// Equity fell to zero or below.
    OutOfMoney,
}

impl ExitReason {
    /// The kebab-case name used in JSON and files.
    pub fn as_str(self) -> &'static str {
        match self {
            ExitReason::Signal => "signal",
            ExitReason::Stop => "stop",
            ExitReason::Target => "target",
            ExitReason::EndOfData => "end-of-data",
            ExitReason::OutOfMoney => "out-of-money",
        }
    }
}

/// A closed trade.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Trade {
    /// Signed units: positive long, negative short.
    pub size: f64,
    /// Bar index of the entry fill.
    pub entry_bar: usize,
    /// Bar index of the exit fill.
    pub exit_bar: usize,
    /// Entry price, after spread.
    pub entry_price: f64,
    /// Exit price.
    pub exit_price: f64,
    /// Stop price attached at entry.
    pub stop: Option<f64>,
    /// Target price attached at entry.
    pub target: Option<f64>,
    /// Net profit: `size·(exit − entry) − commission`.
    pub pnl: f64,
    /// Entry plus exit commission.
    pub commission: f64,
    /// Net return as a fraction: `sign·(exit/entry − 1) − commission/(|size|·entry)`.
    pub return_frac: f64,
    /// Why it closed.
    pub exit_reason: ExitReason,
    /// True when the exit bar reached both the stop and the target.
    pub ambiguous: bool,
}

/// A position still open after the last bar (not counted in trade statistics; its mark-to-market value
/// is in the final equity).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OpenTrade {
    /// Signed units.
    pub size: f64,
    /// Bar index of the entry fill.
    pub entry_bar: usize,
    /// Entry price, after spread.
    pub entry_price: f64,
    /// Stop price, if any.
    pub stop: Option<f64>,
    /// Target price, if any.
    pub target: Option<f64>,
    /// Commission paid at entry.
    pub entry_commission: f64,
    /// Price it is marked at (the last close).
    pub mark_price: f64,
    /// `size·(mark − entry)`, no exit commission.
    pub unrealized_pnl: f64,
}

/// What the bar loop produces.
#[derive(Debug, Clone, Default)]
pub struct RunResult {
    /// Closed trades in order.
    pub trades: Vec<Trade>,
    /// The position open after the last bar, if any.
    pub open_trade: Option<OpenTrade>,
    /// Equity at each bar's close (initial cash during warm-up).
    pub equity: Vec<f64>,
    /// The strategy's warm-up bar (see [`Signals::warmup`]); decisions start at the next bar.
    pub warmup: usize,
    /// Starting cash.
    pub initial_cash: f64,
    /// Trades whose exit bar reached both stop and target.
    pub ambiguous_exits: usize,
    /// Entries cancelled because they could not be sized (no cash for one unit, no stop for risk sizing).
    pub cancelled_orders: usize,
    /// The bar where equity reached zero, if it did.
    pub out_of_money_bar: Option<usize>,
}

#[derive(Debug, Clone, Copy)]
struct Position {
    units: f64,
    entry: f64,
    entry_bar: usize,
    stop: Option<f64>,
    target: Option<f64>,
}

struct Broker<'c> {
    cfg: &'c BacktestConfig,
    cash: f64,
    pos: Option<Position>,
    trades: Vec<Trade>,
    ambiguous: usize,
    cancelled: usize,
}

/// Python's float floor division `a // b` (CPython `float_floor_div`): `fmod`, subtract, divide, then
/// snap to the nearest integer. Not the same as `(a / b).floor()` or `div_euclid` in the last bit.
pub fn py_floordiv(a: f64, b: f64) -> f64 {
    let mut m = a % b; // C fmod
    let mut div = (a - m) / b;
    if m != 0.0 {
        if (b < 0.0) != (m < 0.0) {
            m += b;
            div -= 1.0;
        }
    } else {
        m = 0.0f64.copysign(b);
    }
    let _ = m;
    if div != 0.0 {
        let mut floordiv = div.floor();
        if div - floordiv > 0.5 {
            floordiv += 1.0;
        }
        floordiv
    } else {
        0.0f64.copysign(a / b)
    }
}

impl Broker<'_> {
    /// The reference's `adjusted_price + commission(size, price) / |size|` for an order of relative or
    /// absolute size `size`.
    #[inline]
    fn price_plus_commission(&self, adj: f64, price: f64, size: f64) -> f64 {
        adj + (size * price * self.cfg.commission) / size
    }

    /// Whole units of a relative order of `fraction` of available cash (the reference formula).
    #[inline]
    fn relative_units(&self, available: f64, adj: f64, price: f64, fraction: f64) -> f64 {
        let apc = self.price_plus_commission(adj, price, fraction);
        let units = py_floordiv(available * 1.0 * fraction, apc);
        // `int(...)`: truncate toward zero.
        units.trunc()
    }

    fn open(&mut self, entry: Entry, price: f64, bar: usize) {
        let sign = entry.side.sign();
        let adj = price * (1.0 + self.cfg.spread.copysign(sign));
        // Flat here (exclusive orders), so margin available = max(0, equity) = max(0, cash).
        let available = self.cash.max(0.0);
        let (units, apc) = match self.cfg.sizing {
            Sizing::All => (
                self.relative_units(available, adj, price, SIZE_ALL),
                self.price_plus_commission(adj, price, SIZE_ALL),
            ),
            Sizing::PctEquity(p) => {
                let f = (p / 100.0).min(SIZE_ALL);
                (
                    self.relative_units(available, adj, price, f),
                    self.price_plus_commission(adj, price, f),
                )
            }
            Sizing::Fraction => {
                let apc = adj + price * self.cfg.commission;
                (available * SIZE_ALL / apc, apc)
            }
            Sizing::Units(u) => (u, self.price_plus_commission(adj, price, u)),
            Sizing::RiskPct(p) => {
                let Some(stop) = entry.stop else {
                    self.cancelled += 1;
                    return;
                };
                let per_unit = (adj - stop).abs();
                let max_units = self.relative_units(available, adj, price, SIZE_ALL);
                let units = if per_unit > 0.0 {
                    (available * (p / 100.0) / per_unit).floor().min(max_units)
                } else {
                    0.0
                };
                (units, self.price_plus_commission(adj, price, SIZE_ALL))
            }
        };
        if !(units > 0.0 && units.is_finite()) || units * apc > available {
            self.cancelled += 1;
            return;
        }
        self.cash -= units * adj * self.cfg.commission;
        self.pos = Some(Position {
            units: sign * units,
            entry: adj,
            entry_bar: bar,
            stop: entry.stop,
            target: entry.target,
        });
    }

    fn close(&mut self, price: f64, bar: usize, reason: ExitReason, ambiguous: bool) {
        let Some(p) = self.pos.take() else { return };
        let c = self.cfg.commission;
        let abs_units = p.units.abs();
        let gross = p.units * (price - p.entry);
        let exit_commission = abs_units * price * c;
        self.cash += gross - exit_commission;
        let entry_commission = abs_units * p.entry * c;
        let commission = exit_commission + entry_commission;
        let sign = if p.units > 0.0 { 1.0 } else { -1.0 };
        self.trades.push(Trade {
            size: p.units,
            entry_bar: p.entry_bar,
            exit_bar: bar,
            entry_price: p.entry,
            exit_price: price,
            stop: p.stop,
            target: p.target,
            pnl: gross - commission,
            commission,
            return_frac: sign * (price / p.entry - 1.0) - commission / (abs_units * p.entry),
            exit_reason: reason,
            ambiguous,
        });
    }

    #[inline]
    fn apply(&mut self, action: Action, price: f64, bar: usize) {
        match action {
            Action::Hold => {}
            Action::Exit => self.close(price, bar, ExitReason::Signal, false),
            Action::Enter(e) => {
                self.close(price, bar, ExitReason::Signal, false);
                self.open(e, price, bar);
            }
        }
    }

    /// Stop and target of the open position against bar `i` (prices are read only when there is a
    /// level to check).
    #[inline]
    fn check_exits(&mut self, i: usize, open: &[f64], high: &[f64], low: &[f64]) {
        let Some(p) = self.pos else { return };
        if p.stop.is_none() && p.target.is_none() {
            return;
        }
        let (open, high, low) = (open[i], high[i], low[i]);
        let long = p.units > 0.0;
        // An open already beyond a level: that level was passed first, at the open.
        let beyond_stop = p
            .stop
            .is_some_and(|s| if long { open <= s } else { open >= s });
        let beyond_target = p
            .target
            .is_some_and(|t| if long { open >= t } else { open <= t });
        if beyond_stop {
            return self.close(open, i, ExitReason::Stop, false);
        }
        if beyond_target {
            return self.close(open, i, ExitReason::Target, false);
        }
        let stop_hit = p
            .stop
            .is_some_and(|s| if long { low <= s } else { high >= s });
        let target_hit = p
            .target
            .is_some_and(|t| if long { high >= t } else { low <= t });
        match (stop_hit, target_hit) {
            (true, true) => {
                self.ambiguous += 1;
                match self.cfg.stop_policy {
                    StopPolicy::Pessimistic => {
                        self.close(p.stop.unwrap_or(open), i, ExitReason::Stop, true)
                    }
                    StopPolicy::Optimistic => {
                        self.close(p.target.unwrap_or(open), i, ExitReason::Target, true)
                    }
                }
            }
            (true, false) => self.close(p.stop.unwrap_or(open), i, ExitReason::Stop, false),
            (false, true) => self.close(p.target.unwrap_or(open), i, ExitReason::Target, false),
            (false, false) => {}
        }
    }

    #[inline]
    fn equity(&self, close: f64) -> f64 {
        match self.pos {
            Some(p) => self.cash + (close * p.units - p.units * p.entry),
            None => self.cash,
        }
    }

    #[inline]
    fn view(&self) -> PositionView {
        match self.pos {
            Some(p) => PositionView {
                units: p.units,
                entry_price: p.entry,
                entry_bar: p.entry_bar,
            },
            None => PositionView::default(),
        }
    }
}

/// Runs the bar loop of `signals` over `candles` with `cfg`.
pub fn run<S: Signals + ?Sized>(
    candles: &Candles,
    signals: &mut S,
    cfg: &BacktestConfig,
) -> Result<RunResult> {
    cfg.validate()?;
    let n = candles.len();
    if n == 0 {
        return Err(Error::invalid("no candles to backtest"));
    }
    let (open, high, low, close) = (
        &candles.open[..n],
        &candles.high[..n],
        &candles.low[..n],
        &candles.close[..n],
    );
    let warmup = signals.warmup();
    let start = warmup.saturating_add(1);
    // Warm-up bars hold the initial cash (the reference back-fills them); the loop appends the rest.
    let mut equity = Vec::with_capacity(n);
    equity.resize(start.min(n), cfg.cash);
    let mut broker = Broker {
        cfg,
        cash: cfg.cash,
        pos: None,
        trades: Vec::with_capacity(64),
        ambiguous: 0,
        cancelled: 0,
    };
    let mut pending = Action::Hold;
    let mut out_of_money_bar = None;
    for i in start..n {
        if cfg.fill == Fill::NextOpen {
            let action = std::mem::take(&mut pending);
            broker.apply(action, open[i], i);
        }
        broker.check_exits(i, open, high, low);
        if cfg.fill == Fill::Close {
            let action = signals.decide(i, &broker.view());
            broker.apply(action, close[i], i);
        }
        let eq = broker.equity(close[i]);
        if eq <= 0.0 {
            broker.close(close[i], i, ExitReason::OutOfMoney, false);
            broker.cash = 0.0;
            equity.resize(n, 0.0);
            out_of_money_bar = Some(i);
            break;
        }
        equity.push(eq);
        // Without close_at_end an order decided on the last bar could never fill, so it is not asked for.
        if cfg.fill == Fill::NextOpen && (i + 1 < n || cfg.close_at_end) {
            pending = signals.decide(i, &broker.view());
        }
    }
    if cfg.close_at_end && out_of_money_bar.is_none() && start < n {
        let last = n - 1;
        match cfg.fill {
            // The reference re-runs the last bar: the open trade closes at the last open, and an entry
            // decided on the last bar fills at that same open (and stays open, valued at the close).
            Fill::NextOpen => {
                let reason = match pending {
                    Action::Hold => ExitReason::EndOfData,
                    _ => ExitReason::Signal,
                };
                broker.close(open[last], last, reason, false);
                if let Action::Enter(e) = pending {
                    broker.open(e, open[last], last);
                    broker.check_exits(last, open, high, low);
                }
            }
            Fill::Close => broker.close(close[last], last, ExitReason::EndOfData, false),
        }
        let eq = broker.equity(close[last]);
        equity[last] = eq;
        if eq <= 0.0 {
            broker.close(close[last], last, ExitReason::OutOfMoney, false);
            broker.cash = 0.0;
            equity[last] = 0.0;
            out_of_money_bar = Some(last);
        }
    }
    let open_trade = broker.pos.map(|p| OpenTrade {
        size: p.units,
        entry_bar: p.entry_bar,
        entry_price: p.entry,
        stop: p.stop,
        target: p.target,
        entry_commission: p.units.abs() * p.entry * cfg.commission,
        mark_price: close[n - 1],
        unrealized_pnl: p.units * (close[n - 1] - p.entry),
    });
    Ok(RunResult {
        trades: broker.trades,
        open_trade,
        equity,
        warmup,
        initial_cash: cfg.cash,
        ambiguous_exits: broker.ambiguous,
        cancelled_orders: broker.cancelled,
        out_of_money_bar,
    })
}

impl Side {
    /// `long` or `short`.
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Long => "long",
            Side::Short => "short",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn py_floordiv_matches_python() {
        // Values checked by hand against Python semantics.
        assert_eq!(py_floordiv(7.0, 2.0), 3.0);
        assert_eq!(py_floordiv(-7.0, 2.0), -4.0);
        assert_eq!(py_floordiv(6.0, 3.0), 2.0);
        assert_eq!(py_floordiv(0.0, 3.0), 0.0);
        // 1 // 0.1 is 9.0 in Python (0.1 is slightly above 1/10), while 1 / 0.1 rounds to 10.0.
        assert_eq!(py_floordiv(1.0, 0.1), 9.0);
        assert_eq!(1.0f64 / 0.1, 10.0);
    }
}
