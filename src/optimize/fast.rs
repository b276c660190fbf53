//! The optimizer's fast path: rank on the objective alone, complete the metrics of the candidates a
//! search reports.
//!
//! Every metric costs a per-bar pass over the equity (drawdowns, beta: ≈ 4.9 ns per bar and candidate
//! on 1,000,000 one-minute bars), but most objectives need far less: the trades and the equity at the
//! end of each period (`sharpe`, `sortino`: ~1 value a day), the first and last equity (`return`),
//! the trades alone (`profit_factor`, `sqn`, `expectancy`). So while a search runs, each candidate is
//! [`Lean::score`]d — through the event-driven engine when its signals can list their decisions
//! (`engine::events`: nothing is done between events), else through the bar loop — and only the top K
//! it returns are run again in full (`Evaluator::complete` in `super::evaluate`). The objective is
//! bit for bit the full metric's (`metrics::objective` shares the formulas, and the full run re-checks
//! each reported one).
//!
//! The lean path is off when an observer wants every metric of every candidate (a `--results` file)
//! and for `calmar` (its maximum drawdown is a per-bar pass).

use crate::candles::Candles;
use crate::engine::BacktestConfig;
use crate::engine::events::{CloseRange, Marks};
use crate::error::Result;
use crate::indicators::IndicatorCache;
use crate::metrics::Metrics;
use crate::metrics::objective::{self, Calendar, Sketch};
use crate::strategy::{Params, Strategy};
use crate::trade::Trade;
use std::cell::Cell;

thread_local! {
    /// The trade log of this thread's last lean run, handed to its next. A fresh log per candidate
    /// grew from empty each time, faulting in new memory: for the README grid over 1,000,000 bars
    /// that was ≈ 18,000 of the process's ≈ 34,000 page faults (23,000 with the reuse). Measured
    /// (`cargo bench --bench optimize`, interleaved runs): 1 thread 465–473 → 445–452 ms, 2 threads
    /// 253–256 → 238–248 ms.
    static SPARE_LOG: Cell<Vec<Trade>> = const { Cell::new(Vec::new()) };
}

/// What scoring needs from one data set, computed once per search.
#[derive(Debug, Clone)]
pub struct Lean {
    calendar: Calendar,
    range: CloseRange,
    key: &'static str,
}

/// One candidate scored on the objective alone.
#[derive(Debug, Clone)]
pub struct Scored {
    /// The metrics known without the per-bar pass ([`objective::sketch_metrics`]; NaN elsewhere).
    pub metrics: Metrics,
    /// The objective's value, bit for bit the full metric's.
    pub objective: f64,
    /// The equity at the end of each period of the metrics calendar (the period returns of Sharpe
    /// and of the validation statistics come from these: `last[k + 1] / last[k] − 1`).
    pub period_last: Vec<f64>,
}

impl Lean {
    /// The scorer of the metric `key` (a field-table key) over `candles`, or `None` when that metric
    /// needs the full per-bar pass.
    pub fn new(candles: &Candles, cache: &IndicatorCache, key: &'static str) -> Option<Lean> {
        objective::KEYS.contains(&key).then(|| Lean {
            calendar: Calendar::of(candles, cache),
            range: CloseRange::cached(candles, cache),
            key,
        })
    }

    /// Backtests `params` and computes the objective only.
    pub fn score(
        &self,
        candles: &Candles,
        strategy: &dyn Strategy,
        params: &Params,
        config: &BacktestConfig,
        cache: &IndicatorCache,
    ) -> Result<Scored> {
        let mut signals = strategy.prepare(candles, params, cache)?;
        let ends = self.calendar.period_ends();
        let (run, period_last, equity_first, equity_last) = match signals.run_events(
            candles,
            config,
            Marks::At(ends),
            self.range,
            SPARE_LOG.take(),
        )? {
            Some(ev) => (ev.run, ev.marked, ev.equity_first, ev.equity_last),
            None => {
                let run = signals.run_engine(candles, config)?;
                let pl = objective::period_last(&run.equity, &self.calendar);
                let (first, last) = (run.equity[0], run.equity[run.equity.len() - 1]);
                (run, pl, first, last)
            }
        };
        let sketch = Sketch {
            trades: &run.trades,
            equity_first,
            equity_last,
            period_last: &period_last,
        };
        let counters = (run.ambiguous_exits, run.cancelled_orders);
        let metrics =
            objective::sketch_metrics(candles, &sketch, &self.calendar, counters, self.key);
        let objective = objective::value(self.key, &sketch, &self.calendar).unwrap_or(f64::NAN);
        SPARE_LOG.set(run.trades);
        Ok(Scored {
            metrics,
            objective,
            period_last,
        })
    }
}
