//! The engine: the signal contract between strategies and the bar loop ([`Signals`], [`Action`],
//! [`Entry`], [`PositionView`]), the run configuration ([`config`]), the bar loop ([`bar_loop`]) and the
//! fill arithmetic as small pure functions ([`fills`]) that the backtest and the paper broker share.
//!
//! The engine sits below the strategies: a strategy produces [`Signals`]; the engine matches the orders
//! they ask for against bars. Nothing here knows a strategy by name.

pub mod bar_loop;
pub mod config;
pub mod events;
pub mod fills;

pub use bar_loop::{RunResult, run, run_window};
pub use config::{BacktestConfig, Fill, Sizing, StopPolicy};

use std::ops::Range;

use crate::candles::Candles;
use crate::error::Result;
use crate::trade::Side;

/// A request to open a position (after closing any open one).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Entry {
    /// Long or short.
    pub side: Side,
    /// Protective stop price, if any (below the entry for a long, above for a short).
    pub stop: Option<f64>,
    /// Profit target price, if any (above the entry for a long, below for a short).
    pub target: Option<f64>,
    /// Units to trade (above 0, may be fractional), overriding the run's sizing; `None` sizes by it.
    pub size: Option<f64>,
}

impl Entry {
    /// A long entry with no stop or target.
    pub fn long() -> Entry {
        Entry {
            side: Side::Long,
            stop: None,
            target: None,
            size: None,
        }
    }

    /// A short entry with no stop or target.
    pub fn short() -> Entry {
        Entry {
            side: Side::Short,
            stop: None,
            target: None,
            size: None,
        }
    }

    /// The same entry with a stop price.
    pub fn with_stop(mut self, stop: f64) -> Entry {
        self.stop = Some(stop);
        self
    }

    /// The same entry with a target price.
    pub fn with_target(mut self, target: f64) -> Entry {
        self.target = Some(target);
        self
    }

    /// The same entry for a fixed number of units (overrides the run's sizing).
    pub fn with_size(mut self, units: f64) -> Entry {
        self.size = Some(units);
        self
    }
}

/// What a strategy wants at the close of a bar. The engine fills it at the next open (default) or at
/// this bar's close (`--fill close`).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum Action {
    /// Do nothing.
    #[default]
    Hold,
    /// Close any open position, then open this one.
    Enter(Entry),
    /// Close the open position (nothing happens when flat).
    Exit,
}

/// What a strategy may know about its own position when deciding.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct PositionView {
    /// Signed units: positive long, negative short, 0 flat.
    pub units: f64,
    /// Entry price after spread (0 when flat).
    pub entry_price: f64,
    /// Bar index of the entry (0 when flat).
    pub entry_bar: usize,
    /// Equity marked at the deciding bar's close (cash plus the open position's mark), what a risk
    /// stage sizes from; 0 where no equity is known. The bar loop fills it at every decision; the paper
    /// pipeline as of the book's last fill (its Risk stage reads the account afresh for each entry).
    /// Strategies do not read it.
    pub equity: f64,
}

impl PositionView {
    /// True when no position is open.
    pub fn is_flat(&self) -> bool {
        self.units == 0.0
    }
}

/// What happened to the position in the bar loop ([`Signals::on_position`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PositionEvent<'a> {
    /// A position opened at bar `bar`'s fill with signed `units` at `price` (after spread).
    Opened {
        /// Bar index of the fill.
        bar: usize,
        /// Signed units.
        units: f64,
        /// Entry price after spread.
        price: f64,
    },
    /// A trade closed (its exit bar is the fill's).
    Closed(&'a crate::trade::Trade),
}

/// The per-bar decision half of a strategy, produced by `Strategy::prepare`.
pub trait Signals: Send {
    /// The index of the first bar at which every indicator is defined (0 when there are none). The engine
    /// calls [`Signals::decide`] from bar `warmup() + 1` on (as the reference backtester does: one more
    /// bar so that a crossover can look back), and buy & hold is measured from this bar's close.
    fn warmup(&self) -> usize;

    /// The decision at the close of bar `i`, seeing bars `0..=i` only. Must not allocate.
    fn decide(&mut self, i: usize, position: &PositionView) -> Action;

    /// Told by the bar loop when a position opened or a trade closed (after the fill, before the next
    /// decision), for signals that keep books of their own (the agents' risk gate). Strategies ignore it.
    #[inline]
    fn on_position(&mut self, _event: PositionEvent<'_>) {}

    /// Lists the decisions ahead, for signals whose decision at a bar does not depend on the position
    /// (crossovers): appends `(i, action)` for every bar `i` of `bars` (all after the warm-up) where
    /// [`Signals::decide`] would answer something other than `Hold` whatever the position, in bar
    /// order, and returns true. The default lists nothing and returns false: not supported.
    fn scan(&mut self, _bars: Range<usize>, _out: &mut Vec<(usize, Action)>) -> bool {
        false
    }

    /// Runs the event-driven engine ([`events::run`]) over these signals; `Ok(None)` when they do not
    /// support [`Signals::scan`]; the trades are written into `log` (emptied first, its capacity
    /// reused). Do not override, for the same reason as [`Signals::run_engine`].
    fn run_events(
        &mut self,
        candles: &Candles,
        config: &BacktestConfig,
        marks: events::Marks<'_>,
        range: events::CloseRange,
        log: Vec<crate::trade::Trade>,
    ) -> Result<Option<events::EventRun>> {
        events::run(candles, self, config, marks, range, log)
    }

    /// Runs the backtest engine over these signals. Do not override: the default body is compiled once
    /// per implementing type, so the engine calls [`Signals::decide`] statically (inlined) even when the
    /// signals sit behind a `Box<dyn Signals>` — one virtual call per backtest instead of one per bar.
    fn run_engine(&mut self, candles: &Candles, config: &BacktestConfig) -> Result<RunResult> {
        bar_loop::run(candles, self, config)
    }

    /// Runs the engine over the bars `window` of `candles` only ([`bar_loop::run_window`]: the
    /// walk-forward test of one window). Do not override, for the same reason as
    /// [`Signals::run_engine`].
    fn run_engine_window(
        &mut self,
        candles: &Candles,
        config: &BacktestConfig,
        window: std::ops::Range<usize>,
    ) -> Result<RunResult> {
        bar_loop::run_window(candles, self, config, window)
    }
}
