//! The backtest engine: settings, the bar loop with order matching, the trade log and equity curve,
//! metrics, file export, and what to run ([`spec::RunSpec`]).
//!
//! Defaults reproduce backtesting.py 0.6.6 trade for trade (see `docs/DESIGN.md` §3 and
//! `docs/reference-semantics.md`): market orders fill at the next bar's open, all cash in whole units,
//! commission on entry and exit, the spread worsens only the entry price, and an open trade at the end
//! stays open (valued at the last close) unless `close_at_end` is set.

pub mod export;
pub mod spec;

pub use spec::{DataSpec, RunSpec};

use crate::candles::Candles;
use crate::engine::events::{CloseRange, Marks};
use crate::engine::{BacktestConfig, RunResult};
use crate::error::{Error, Result};
use crate::indicators::IndicatorCache;
use crate::metrics::{self, Metrics};
use crate::strategy::{Params, Strategy};

/// A finished backtest: the engine's output plus its metrics.
#[derive(Debug, Clone)]
pub struct Report {
    /// Trades, open trade, equity curve and counters.
    pub run: RunResult,
    /// Every metric of the run.
    pub metrics: Metrics,
}

/// Refuses a run in which risk sizing (`--size risk:P`) met entries without a stop: such an entry cannot
/// be sized and is not traded, so the run would quietly show fewer trades (often none) than the
/// strategy decided. A usage error naming `--size`, the strategy and the count.
pub fn refuse_unstopped(strategy: &str, config: &BacktestConfig, run: &RunResult) -> Result<()> {
    if run.unstopped_entries == 0 {
        return Ok(());
    }
    Err(Error::usage(format!(
        "--size {}: risk sizing needs a stop on every entry, but {} of {strategy}'s entries set none \
         and would not be traded; use --size all, fraction, pct:P or units:N, or a strategy (or \
         parameters) that set stops",
        config.sizing, run.unstopped_entries
    )))
}

/// Runs `strategy` with `params` over `candles`: prepare (indicators through `cache`), the bar loop,
/// metrics (market log returns through `cache` too). `cache` must belong to `candles`.
pub fn backtest(
    candles: &Candles,
    strategy: &dyn Strategy,
    params: &Params,
    config: &BacktestConfig,
    cache: &IndicatorCache,
) -> Result<Report> {
    let mut signals = strategy.prepare(candles, params, cache)?;
    // Signals that list their decisions run event by event (bit for bit the bar loop's result).
    let range = CloseRange::cached(candles, cache);
    // The metrics' series of the data set (log returns, calendar: ≈ 3 ms for 1,000,000 bars) on the
    // core the run leaves idle.
    let (run, _) = crate::indicators::together(
        || match signals.run_events(candles, config, Marks::All, range, Vec::with_capacity(64))? {
            Some(events) => Ok(events.run),
            None => signals.run_engine(candles, config),
        },
        || metrics::prepare_cached(candles, cache),
    );
    let run = run?;
    let metrics = metrics::compute_cached(candles, &run, cache);
    Ok(Report { run, metrics })
}

/// Runs `strategy` with `params` over the bars `window` of `candles` only — a walk-forward test: the
/// indicators are computed on all of `candles` through `cache` (so bars before the window serve as
/// warm-up history), trades open only inside the window and a position still open at its last bar
/// is closed at that bar's close ([`crate::engine::run_window`]). The report is in the window's
/// coordinates (equity per window bar, trade bar indexes from the window's start) and its metrics
/// are those of `candles.slice(window)`.
pub fn backtest_window(
    candles: &Candles,
    strategy: &dyn Strategy,
    params: &Params,
    config: &BacktestConfig,
    cache: &IndicatorCache,
    window: std::ops::Range<usize>,
) -> Result<Report> {
    let mut signals = strategy.prepare(candles, params, cache)?;
    let run = signals.run_engine_window(candles, config, window.clone())?;
    let metrics = metrics::compute(&candles.slice(window), &run);
    Ok(Report { run, metrics })
}
