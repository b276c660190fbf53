//! The engine: the signal contract between strategies and the bar loop ([`Signals`], [`Action`],
//! [`Entry`], [`PositionView`]), the run configuration ([`config`]), the bar loop ([`bar_loop`]) and the
//! fill arithmetic as small pure functions ([`fills`]) that the backtest and the paper broker share.
//!
//! The engine sits below the strategies: a strategy produces [`Signals`]; the engine matches the orders
//! they ask for against bars. Nothing here knows a strategy by name.

pub mod bar_loop;
pub mod config;
pub mod fills;

pub use bar_loop::{RunResult, run, run_window};
pub use config::{BacktestConfig, Fill, Sizing, StopPolicy};

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
}

impl PositionView {
    /// True when no position is open.
    pub fn is_flat(&self) -> bool {
        self.units == 0.0
    }
}

/// The per-bar decision half of a strategy, produced by `Strategy::prepare`.
pub trait Signals: Send {
    /// The index of the first bar at which every indicator is defined (0 when there are none). The engine
    /// calls [`Signals::decide`] from bar `warmup() + 1` on (as the reference backtester does: one more
    /// bar so that a crossover can look back), and buy & hold is measured from this bar's close.
    fn warmup(&self) -> usize;

    /// The decision at the close of bar `i`, seeing bars `0..=i` only. Must not allocate.
    fn decide(&mut self, i: usize, position: &PositionView) -> Action;

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
