//! The bar loop: order matching (market fills, stops and targets inside bars), costs, sizing, the
//! trade log and the equity curve. The loop reads plain slices and allocates nothing per bar.
//!
//! Each bar `i` from `warmup + 1` on runs, in order:
//! 1. `NextOpen`: the order decided at bar `i − 1` fills at `open[i]` — the open position is closed at
//!    the raw open, then the new one opens at the open adjusted for spread, sized from the cash after
//!    that close.
//! 2. Stops and targets of the open position are checked against bar `i` (an entry at this bar's open is
//!    exposed to its whole range). An open already beyond a level fills at the open; else a reached
//!    level fills at the level; a bar reaching both follows the [`StopPolicy`](crate::engine::StopPolicy) and is counted as
//!    ambiguous.
//! 3. `Close`: the strategy decides and the order fills at `close[i]` (exposed from bar `i + 1`).
//!    Every decision is screened first ([`fills::bracket_ok`]): an entry whose stop or target is not
//!    above 0, or not strictly on its side of `close[i]` adjusted for the spread, or whose own size is
//!    not above 0, is cancelled and counted (as the reference refuses such an order when it is placed).
//! 4. Equity is marked at the close: `cash + (close·units − units·entry)`. If it is ≤ 0 the position is
//!    closed at the close, cash and equity are 0 from here on, and the run stops (out of money).
//! 5. `NextOpen`: the strategy decides (not on the last bar: such an order could never fill); the
//!    decision is screened as in step 3.
//!
//! With `close_at_end` the position open after the loop is closed at the last bar's open (`NextOpen`;
//! the reference re-runs the last bar, so an entry decided on the last bar also fills at that open and
//! stays open) or at the last close (`Close`), and the last equity value is re-marked.
//!
//! Arithmetic follows the reference operation by operation so that results match it bit for bit.
//!
//! Deliberate differences from backtesting.py, all outside what its SMA-cross runs exercise
//! (`docs/reference-semantics.md` §13 has each with the reference's code and an example):
//! - A pending market order fills at the open *before* stops and targets are checked (so does the
//!   reference with exclusive orders; with its non-exclusive order styles the open trade's stop and
//!   target come first, so a reversal could exit at either although the open came first).
//! - An open beyond the target exits at the open as a target exit (the reference's stop-first order
//!   lets a stop reached later in the bar win; [`super::StopPolicy::Reference`] does that too).
//! - `Fill::Close` fills inside bar `i` and marks bar `i`'s equity after the fill (the reference's
//!   `trade_on_close` books the fill on bar `i` but only reflects it from bar `i + 1`).
//! - `Fill::Close` with `close_at_end` closes at the last close (the reference: the previous bar's).
//! - An entry with an unsound stop or target is cancelled and counted (the reference raises).

use std::ops::Range;

use super::config::{BacktestConfig, Fill, Sizing};
use super::fills::{self, Position};
use super::{Action, Entry, PositionEvent, PositionView, Signals};
use crate::candles::Candles;
use crate::error::{Error, Result};
use crate::trade::{ExitReason, OpenTrade, Trade};

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
    /// Entries cancelled: they could not be sized (no cash for one unit, no stop for risk sizing), or
    /// their stop, target or own size was unsound when decided ([`fills::bracket_ok`]).
    pub cancelled_orders: usize,
    /// Of the cancelled entries, those that risk sizing (`--size risk:P`) could not size because they
    /// carried no stop: a run with any is refused by [`crate::backtest::refuse_unstopped`].
    pub unstopped_entries: usize,
    /// The bar where equity reached zero, if it did.
    pub out_of_money_bar: Option<usize>,
}

/// The simulated account: cash, the open position, the trade log. Shared with the event-driven run
/// ([`super::events`]), so both apply the same fills in the same order.
pub(super) struct Broker<'c> {
    pub(super) cfg: &'c BacktestConfig,
    pub(super) cash: f64,
    pub(super) pos: Option<Position>,
    pub(super) trades: Vec<Trade>,
    pub(super) ambiguous: usize,
    pub(super) cancelled: usize,
    pub(super) unstopped: usize,
}

impl<'c> Broker<'c> {
    /// A flat account holding the configured cash.
    pub(super) fn new(cfg: &'c BacktestConfig) -> Broker<'c> {
        Broker::with_log(cfg, Vec::with_capacity(64))
    }

    /// [`Broker::new`], its trade log written into `log` (emptied first: only its capacity is kept).
    pub(super) fn with_log(cfg: &'c BacktestConfig, mut log: Vec<Trade>) -> Broker<'c> {
        log.clear();
        Broker {
            cfg,
            cash: cfg.cash,
            pos: None,
            trades: log,
            ambiguous: 0,
            cancelled: 0,
            unstopped: 0,
        }
    }

    /// The run's result: the trades and counts so far, the position still open marked at
    /// `last_close`, and the equity series the caller kept.
    pub(super) fn finish(
        self,
        last_close: f64,
        equity: Vec<f64>,
        warmup: usize,
        out_of_money_bar: Option<usize>,
    ) -> RunResult {
        RunResult {
            open_trade: self.open_trade(last_close),
            trades: self.trades,
            equity,
            warmup,
            initial_cash: self.cfg.cash,
            ambiguous_exits: self.ambiguous,
            cancelled_orders: self.cancelled,
            unstopped_entries: self.unstopped,
            out_of_money_bar,
        }
    }

    /// The position still open, marked at `last_close`.
    pub(super) fn open_trade(&self, last_close: f64) -> Option<OpenTrade> {
        self.pos.map(|p| OpenTrade {
            size: p.units,
            entry_bar: p.entry_bar,
            entry_price: p.entry,
            stop: p.stop,
            target: p.target,
            entry_commission: p.units.abs() * p.entry * self.cfg.commission,
            mark_price: last_close,
            unrealized_pnl: p.units * (last_close - p.entry),
        })
    }

    pub(super) fn open(&mut self, entry: Entry, price: f64, bar: usize) {
        let adj = fills::entry_price(price, self.cfg.spread, entry.side);
        // Flat here (exclusive orders), so margin available = max(0, equity) = max(0, cash).
        let available = self.cash.max(0.0);
        let rate = self.cfg.commission;
        let sizing = entry.size.map_or(self.cfg.sizing, Sizing::Units);
        let Some(units) = fills::size_units(sizing, available, adj, price, entry.stop, rate) else {
            self.cancelled += 1;
            if matches!(sizing, Sizing::RiskPct(_)) && entry.stop.is_none() {
                self.unstopped += 1;
            }
            return;
        };
        self.cash -= fills::commission(units, adj, rate);
        self.pos = Some(Position {
            units: entry.side.sign() * units,
            entry: adj,
            entry_bar: bar,
            stop: entry.stop,
            target: entry.target,
        });
    }

    pub(super) fn close(&mut self, price: f64, bar: usize, reason: ExitReason, ambiguous: bool) {
        let Some(p) = self.pos.take() else { return };
        let (trade, cash) =
            fills::close_position(&p, price, bar, reason, ambiguous, self.cfg.commission);
        self.cash += cash;
        self.trades.push(trade);
    }

    /// `action` as decided at a bar closing at `close`, or `Hold` (counted as cancelled) when it is an
    /// entry with unsound levels or size.
    #[inline]
    pub(super) fn screen(&mut self, action: Action, close: f64) -> Action {
        let Action::Enter(e) = action else {
            return action;
        };
        let size_ok = e.size.is_none_or(|u| u.is_finite() && u > 0.0);
        if size_ok && fills::bracket_ok(e.side, close, self.cfg.spread, e.stop, e.target) {
            return action;
        }
        self.cancelled += 1;
        Action::Hold
    }

    #[inline]
    pub(super) fn apply(&mut self, action: Action, price: f64, bar: usize) {
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
    pub(super) fn check_exits(&mut self, i: usize, open: &[f64], high: &[f64], low: &[f64]) {
        let Some(p) = self.pos else { return };
        if p.stop.is_none() && p.target.is_none() {
            return;
        }
        let bar = (open[i], high[i], low[i]);
        if let Some(e) = fills::bar_exit(p.units > 0.0, p.stop, p.target, bar, self.cfg.stop_policy)
        {
            if e.ambiguous {
                self.ambiguous += 1;
            }
            self.close(e.price, i, e.reason, e.ambiguous);
        }
    }

    #[inline]
    pub(super) fn equity(&self, close: f64) -> f64 {
        match self.pos {
            Some(p) => self.cash + (close * p.units - p.units * p.entry),
            None => self.cash,
        }
    }

    #[inline]
    pub(super) fn view(&self, equity: f64) -> PositionView {
        match self.pos {
            Some(p) => PositionView {
                units: p.units,
                entry_price: p.entry,
                entry_bar: p.entry_bar,
                equity,
            },
            None => PositionView {
                equity,
                ..PositionView::default()
            },
        }
    }
}

/// What the signals were last told about the position: trades closed so far and the open entry bar.
#[derive(Clone, Copy)]
struct Told {
    trades: usize,
    open: Option<usize>,
}

/// Tells `signals` about positions opened and trades closed since `told` (two comparisons when
/// nothing changed). A position opened and closed on the same bar (its stop reached on the bar it
/// filled) is told as opened, then closed.
#[inline]
fn tell<S: Signals + ?Sized>(b: &Broker<'_>, signals: &mut S, told: &mut Told) {
    let open = b.pos.map(|p| p.entry_bar);
    if b.trades.len() == told.trades && open == told.open {
        return;
    }
    let mut last = told.open;
    for t in &b.trades[told.trades..] {
        if last != Some(t.entry_bar) {
            signals.on_position(PositionEvent::Opened {
                bar: t.entry_bar,
                units: t.size,
                price: t.entry_price,
            });
        }
        signals.on_position(PositionEvent::Closed(t));
        last = None;
    }
    if let Some(p) = b.pos.filter(|_| open != last) {
        signals.on_position(PositionEvent::Opened {
            bar: p.entry_bar,
            units: p.units,
            price: p.entry,
        });
    }
    *told = Told {
        trades: b.trades.len(),
        open,
    };
}

/// Runs the bar loop of `signals` over `candles` with `cfg`.
pub fn run<S: Signals + ?Sized>(
    candles: &Candles,
    signals: &mut S,
    cfg: &BacktestConfig,
) -> Result<RunResult> {
    let end = if cfg.close_at_end {
        End::Reference
    } else {
        End::KeepOpen
    };
    run_bars(candles, signals, cfg, 0..candles.len(), end)
}

/// Runs the bar loop of `signals` over the bars `window` of `candles` only: the walk-forward test of
/// one window. The signals (and their indicators) were prepared on `candles`, so they may read any
/// bar before the window's start (warm-up history); decisions, fills and equity start at the window's
/// first bar (or after the strategy's warm-up, when that ends later), no decision is asked on the
/// window's last bar (with either fill it could only open a position closed at once), and a position
/// still open on that bar is closed at its close (exit reason end of data; `cfg.close_at_end` does
/// not apply). The result is in the window's coordinates, as if the data were `candles.slice(window)`:
/// equity has one value per window bar, trade bar indexes count from the window's start, and
/// `warmup` is the window bar before the first decision (0 when that is the window's first bar,
/// which is also where buy & hold is measured from).
pub fn run_window<S: Signals + ?Sized>(
    candles: &Candles,
    signals: &mut S,
    cfg: &BacktestConfig,
    window: Range<usize>,
) -> Result<RunResult> {
    if window.start >= window.end || window.end > candles.len() {
        return Err(Error::invalid(format!(
            "bar window {}..{} is empty or outside the {} bars",
            window.start,
            window.end,
            candles.len()
        )));
    }
    let s = window.start;
    let mut run = run_bars(candles, signals, cfg, window, End::Window)?;
    for t in &mut run.trades {
        t.entry_bar -= s;
        t.exit_bar -= s;
    }
    run.warmup = run.warmup.saturating_sub(s);
    run.out_of_money_bar = run.out_of_money_bar.map(|b| b - s);
    Ok(run)
}

/// What happens to a position still open after the last bar.
#[derive(Clone, Copy, PartialEq, Eq)]
enum End {
    /// It stays open, valued at the last close (the reference's default).
    KeepOpen,
    /// `close_at_end`: closed as the reference does (see the module docs).
    Reference,
    /// A walk-forward test window: closed at the last bar's close.
    Window,
}

/// The bar loop over `bars` (all of `candles` for a backtest). Equity is indexed from `bars.start`;
/// trade bar indexes and `warmup` are absolute.
fn run_bars<S: Signals + ?Sized>(
    candles: &Candles,
    signals: &mut S,
    cfg: &BacktestConfig,
    bars: Range<usize>,
    end: End,
) -> Result<RunResult> {
    cfg.validate()?;
    let (s, n) = (bars.start, bars.end);
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
    let start = warmup.saturating_add(1).max(s);
    // Warm-up bars hold the initial cash (the reference back-fills them); the loop appends the rest.
    let mut equity = Vec::with_capacity(n - s);
    equity.resize(start.min(n) - s, cfg.cash);
    let mut broker = Broker::new(cfg);
    // Whether an order decided on the last bar can still fill (see the close-at-end rules).
    let decide_last = end == End::Reference;
    let mut pending = Action::Hold;
    let mut out_of_money_bar = None;
    let mut told = Told {
        trades: 0,
        open: None,
    };
    for i in start..n {
        if cfg.fill == Fill::NextOpen {
            let action = std::mem::take(&mut pending);
            broker.apply(action, open[i], i);
        }
        broker.check_exits(i, open, high, low);
        tell(&broker, signals, &mut told);
        if cfg.fill == Fill::Close && (i + 1 < n || end != End::Window) {
            let view = broker.view(broker.equity(close[i]));
            let action = signals.decide(i, &view);
            let action = broker.screen(action, close[i]);
            broker.apply(action, close[i], i);
            tell(&broker, signals, &mut told);
        }
        let eq = broker.equity(close[i]);
        if eq <= 0.0 {
            broker.close(close[i], i, ExitReason::OutOfMoney, false);
            broker.cash = 0.0;
            equity.resize(n - s, 0.0);
            out_of_money_bar = Some(i);
            break;
        }
        equity.push(eq);
        // Without close_at_end an order decided on the last bar could never fill, so it is not asked for.
        if cfg.fill == Fill::NextOpen && (i + 1 < n || decide_last) {
            let action = signals.decide(i, &broker.view(eq));
            pending = broker.screen(action, close[i]);
        }
    }
    if end != End::KeepOpen && out_of_money_bar.is_none() && start < n {
        let last = n - 1;
        match (end, cfg.fill) {
            // The reference re-runs the last bar: the open trade closes at the last open, and an entry
            // decided on the last bar fills at that same open (and stays open, valued at the close).
            (End::Reference, Fill::NextOpen) => {
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
            _ => broker.close(close[last], last, ExitReason::EndOfData, false),
        }
        let eq = broker.equity(close[last]);
        equity[last - s] = eq;
        if eq <= 0.0 {
            broker.close(close[last], last, ExitReason::OutOfMoney, false);
            broker.cash = 0.0;
            equity[last - s] = 0.0;
            out_of_money_bar = Some(last);
        }
    }
    Ok(broker.finish(close[n - 1], equity, warmup, out_of_money_bar))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Sizing;

    /// Signals that enter long at the bars in `longs` and record every bar they are asked about.
    struct Script {
        warmup: usize,
        longs: Vec<usize>,
        asked: Vec<usize>,
    }

    impl Signals for Script {
        fn warmup(&self) -> usize {
            self.warmup
        }
        fn decide(&mut self, i: usize, _position: &PositionView) -> Action {
            self.asked.push(i);
            if self.longs.contains(&i) {
                Action::Enter(Entry::long())
            } else {
                Action::Hold
            }
        }
    }

    /// Ten bars; open = 10 + i, close = 11 + i, high/low 1 around them.
    fn bars() -> Candles {
        let mut c = Candles::default();
        for i in 0..10 {
            let (o, cl) = (10.0 + i as f64, 11.0 + i as f64);
            c.ts.push(i as i64 * 86_400_000);
            c.open.push(o);
            c.close.push(cl);
            c.high.push(cl + 1.0);
            c.low.push(o - 1.0);
            c.volume.push(1.0);
        }
        c
    }

    fn config(fill: Fill) -> BacktestConfig {
        BacktestConfig {
            cash: 1000.0,
            commission: 0.01,
            sizing: Sizing::Units(10.0),
            fill,
            ..BacktestConfig::default()
        }
    }

    #[test]
    fn a_window_trades_only_inside_and_closes_at_its_last_close() {
        let c = bars();
        // A long decided before the window (bar 3) is never asked for; the one at bar 5 fills at
        // open[6] = 16 and is closed at close[7] = 18, the window's last bar.
        let mut s = Script {
            warmup: 1,
            longs: vec![3, 5],
            asked: vec![],
        };
        let r = run_window(&c, &mut s, &config(Fill::NextOpen), 4..8).unwrap();
        // Asked at 4, 5, 6 — not at 7, the window's last bar.
        assert_eq!(s.asked, [4, 5, 6]);
        assert_eq!(r.trades.len(), 1);
        let t = r.trades[0];
        assert_eq!((t.entry_bar, t.exit_bar), (2, 3)); // window coordinates: 6 − 4, 7 − 4
        assert_eq!((t.entry_price, t.exit_price), (16.0, 18.0));
        assert_eq!(t.exit_reason, ExitReason::EndOfData);
        // Entry commission 10 · 16 · 0.01 = 1.6, exit 10 · 18 · 0.01 = 1.8.
        // Bar 6 marks 1000 − 1.6 + 10 · (17 − 16) = 1008.4; bar 7 after the close:
        // 1000 − 1.6 + 10 · (18 − 16) − 1.8 = 1016.6.
        assert_eq!(r.equity.len(), 4);
        assert_eq!(r.equity[..2], [1000.0, 1000.0]);
        assert!((r.equity[2] - 1008.4).abs() < 1e-9);
        assert!((r.equity[3] - 1016.6).abs() < 1e-9);
        assert!(r.open_trade.is_none());
        assert_eq!(r.warmup, 0);
    }

    /// Signals that enter long with a stop at the bars in `longs` and log what the bar loop tells them.
    struct Told {
        longs: Vec<(usize, f64)>,
        events: Vec<String>,
        equity: Vec<f64>,
    }

    impl Signals for Told {
        fn warmup(&self) -> usize {
            0
        }
        fn decide(&mut self, i: usize, position: &PositionView) -> Action {
            self.equity.push(position.equity);
            match self.longs.iter().find(|l| l.0 == i) {
                Some(&(_, stop)) => Action::Enter(Entry::long().with_stop(stop)),
                None => Action::Hold,
            }
        }
        fn on_position(&mut self, event: PositionEvent<'_>) {
            self.events.push(match event {
                PositionEvent::Opened { bar, units, .. } => format!("open {bar} {units}"),
                PositionEvent::Closed(t) => format!("close {} {:?}", t.exit_bar, t.exit_reason),
            });
        }
    }

    #[test]
    fn the_signals_are_told_of_positions_opened_and_closed_even_on_the_same_bar() {
        let c = bars();
        // Long at bar 1 (fills at open[2] = 12, 10 units), stop 9: bar 2's low is 11, kept. Long again
        // at bar 4: the reversal closes the first trade at open[5] = 15 and opens the second there;
        // its stop 14.5 is inside bar 5 (low 14), so it closes on the bar it opened.
        let mut s = Told {
            longs: vec![(1, 9.0), (4, 14.5)],
            events: vec![],
            equity: vec![],
        };
        let r = run(&c, &mut s, &config(Fill::NextOpen)).unwrap();
        assert_eq!(r.trades.len(), 2);
        assert_eq!(
            s.events,
            ["open 2 10", "close 5 Signal", "open 5 10", "close 5 Stop"]
        );
        // The view's equity is the bar loop's mark at each deciding close.
        assert_eq!(s.equity.len(), 8); // decisions at bars 1..=8
        assert_eq!(s.equity[..], r.equity[1..9]);
    }

    #[test]
    fn a_warm_up_ending_inside_the_window_delays_the_first_decision() {
        let c = bars();
        let mut s = Script {
            warmup: 5,
            longs: vec![],
            asked: vec![],
        };
        let r = run_window(&c, &mut s, &config(Fill::Close), 4..9).unwrap();
        // Decisions from warm-up + 1 = 6, none on the last bar 8 (Fill::Close too).
        assert_eq!(s.asked, [6, 7]);
        assert_eq!(r.warmup, 1); // bar 5 in window coordinates
        assert_eq!(r.equity, [1000.0; 5]);
        let bad = run_window(&c, &mut s, &config(Fill::Close), 8..11);
        assert!(bad.unwrap_err().to_string().contains("outside the 10 bars"));
    }
}
