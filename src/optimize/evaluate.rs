//! Evaluating candidates: one backtest per parameter set over one shared [`IndicatorCache`], the
//! objective, a top-K that ranks deterministically, and a hook ([`Observer`]) through which every
//! outcome reaches the results file and the progress display as soon as it is known.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use rayon::prelude::*;

use super::fast::Lean;
use super::lock;
use super::objective::{Objective, rank_cmp, rank_value};
use super::overfit::Collector;
use crate::backtest;
use crate::candles::Candles;
use crate::engine::BacktestConfig;
use crate::error::{Error, Result};
use crate::indicators::IndicatorCache;
use crate::metrics::Metrics;
use crate::metrics::fields::Field;
use crate::strategy::{Params, Strategy};

/// The result of one candidate.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The candidate's index in the space's grid.
    pub index: u64,
    /// The method's batch it was evaluated in: the generation (genetic), the iteration (particle
    /// swarm, 0 = the initial swarm); 0 for grid and random search.
    pub batch: u32,
    /// Its parameters.
    pub params: Params,
    /// The objective's value (may be NaN).
    pub objective: f64,
    /// The value it is ranked by: `Some` when the objective is finite and `--min-trades` is met.
    pub rank: Option<f64>,
    /// Every metric of the run (in the outcomes a search returns and those observers that want
    /// metrics see; see [`Observer::wants_metrics`]).
    pub metrics: Metrics,
}

/// Receives every evaluated candidate, from any thread. `seq` numbers outcomes in the order the method
/// asked for them (0, 1, 2, … within one run), whatever order threads finish in.
pub trait Observer: Sync {
    /// Called once per evaluated candidate.
    fn evaluated(&self, seq: u64, outcome: &Outcome);

    /// Whether [`Observer::evaluated`] reads every metric of every outcome (a results file does). When
    /// not, candidates are ranked on the objective alone ([`super::fast`]) and only the outcomes the
    /// search returns carry every metric; the others carry `objective`, `rank`, `num_trades` and the
    /// few metrics [`crate::metrics::objective::sketch_metrics`] lists.
    fn wants_metrics(&self) -> bool {
        true
    }
}

/// An observer that ignores everything.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoObserver;

impl Observer for NoObserver {
    fn evaluated(&self, _seq: u64, _outcome: &Outcome) {}

    fn wants_metrics(&self) -> bool {
        false
    }
}

/// The best `k` ranked outcomes, best first, ordered by [`rank_cmp`].
#[derive(Debug, Clone, Default)]
pub struct TopK {
    k: usize,
    items: Vec<Outcome>,
}

impl TopK {
    /// An empty top-`k` (`k` ≥ 1).
    pub fn new(k: usize) -> TopK {
        TopK {
            k: k.max(1),
            items: Vec::new(),
        }
    }

    fn key(o: &Outcome) -> (f64, u64) {
        (o.rank.unwrap_or(f64::NEG_INFINITY), o.index)
    }

    /// Offers an outcome; unranked ones and those below the current K-th are dropped.
    pub fn push(&mut self, o: Outcome) {
        if o.rank.is_none() || self.items.iter().any(|x| x.index == o.index) {
            return;
        }
        let key = TopK::key(&o);
        if self.items.len() == self.k && rank_cmp(key, TopK::key(&self.items[self.k - 1])).is_ge() {
            return;
        }
        let pos = self
            .items
            .partition_point(|x| rank_cmp(TopK::key(x), key).is_lt());
        self.items.insert(pos, o);
        self.items.truncate(self.k);
    }

    /// Merges another top list into this one.
    pub fn merge(mut self, other: TopK) -> TopK {
        for o in other.items {
            self.push(o);
        }
        self
    }

    /// The outcomes, best first.
    pub fn items(&self) -> &[Outcome] {
        &self.items
    }

    /// Consumes the list, best first.
    pub fn into_vec(self) -> Vec<Outcome> {
        self.items
    }
}

/// Runs candidates over one data set with one backtest configuration, sharing one indicator cache
/// between all candidates and threads.
pub struct Evaluator<'a> {
    candles: &'a Candles,
    strategy: &'static dyn Strategy,
    config: BacktestConfig,
    objective: Objective,
    /// The objective's metric, looked up once (not per candidate).
    objective_field: &'static Field,
    min_trades: usize,
    /// The objective-only scorer (built on first use; `None` when every metric is wanted).
    lean: OnceLock<Option<Lean>>,
    cache: IndicatorCache,
    stop: &'a AtomicBool,
    observer: &'a dyn Observer,
    /// Gathers every candidate's per-period returns for the overfitting statistics.
    collector: Option<&'a Collector>,
    evaluated: AtomicU64,
    ranked: AtomicU64,
    max_trades: AtomicUsize,
}

impl<'a> Evaluator<'a> {
    /// An evaluator. Setting `stop` makes every later [`Evaluator::evaluate`] return `None` (Ctrl-C).
    pub fn new(
        candles: &'a Candles,
        strategy: &'static dyn Strategy,
        config: BacktestConfig,
        objective: Objective,
        min_trades: usize,
        stop: &'a AtomicBool,
        observer: &'a dyn Observer,
    ) -> Evaluator<'a> {
        Evaluator {
            candles,
            strategy,
            config,
            objective,
            objective_field: objective.field(),
            min_trades,
            lean: OnceLock::new(),
            cache: IndicatorCache::new(),
            stop,
            observer,
            collector: None,
            evaluated: AtomicU64::new(0),
            ranked: AtomicU64::new(0),
            max_trades: AtomicUsize::new(0),
        }
    }

    /// The same evaluator with an indicator cache of at most about `bytes` of idle series.
    pub fn with_cache_budget(mut self, bytes: usize) -> Evaluator<'a> {
        self.cache = IndicatorCache::with_budget(bytes);
        self
    }

    /// The same evaluator, also handing every candidate's per-period returns to `collector`.
    pub fn with_collector(mut self, collector: &'a Collector) -> Evaluator<'a> {
        self.collector = Some(collector);
        self
    }

    /// True once a stop was requested.
    pub fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// Backtests one candidate and reports it to the observer as number `seq`; `None` when stopped.
    pub fn evaluate(
        &self,
        seq: u64,
        batch: u32,
        index: u64,
        params: Params,
    ) -> Result<Option<Outcome>> {
        if self.stopped() {
            return Ok(None);
        }
        // The per-period returns only when a collector takes them: from the period-end equity the
        // lean score keeps, or from the full curve (the same values: `metrics::period_returns`).
        let wants_returns = self.collector.is_some();
        let (metrics, objective, returns) = match self.lean() {
            Some(lean) => {
                let s = lean.score(
                    self.candles,
                    self.strategy,
                    &params,
                    &self.config,
                    &self.cache,
                )?;
                let returns =
                    wants_returns.then(|| crate::metrics::returns_of_period_last(&s.period_last));
                (s.metrics, s.objective, returns)
            }
            None => {
                let report = self.backtest(&params)?;
                let m = report.metrics;
                let returns = wants_returns.then(|| {
                    crate::metrics::period_returns(self.candles, &report.run.equity, &self.cache)
                });
                (m, self.objective_field.value(&m).as_f64(), returns)
            }
        };
        let rank = rank_value(objective, metrics.num_trades, self.min_trades);
        if let (Some(c), Some(returns)) = (self.collector, returns) {
            c.record(seq, index, rank, &returns);
        }
        let outcome = Outcome {
            index,
            batch,
            params,
            objective,
            rank,
            metrics,
        };
        self.evaluated.fetch_add(1, Ordering::Relaxed);
        if rank.is_some() {
            self.ranked.fetch_add(1, Ordering::Relaxed);
        }
        self.max_trades
            .fetch_max(metrics.num_trades, Ordering::Relaxed);
        self.observer.evaluated(seq, &outcome);
        Ok(Some(outcome))
    }

    /// The objective-only scorer, unless the observer wants every metric or the objective needs the
    /// per-bar pass.
    fn lean(&self) -> Option<&Lean> {
        self.lean
            .get_or_init(|| {
                if self.observer.wants_metrics() {
                    return None;
                }
                Lean::new(self.candles, &self.cache, self.objective_field.key)
            })
            .as_ref()
    }

    /// One full backtest (every metric) of `params`.
    fn backtest(&self, params: &Params) -> Result<backtest::Report> {
        backtest::backtest(
            self.candles,
            self.strategy,
            params,
            &self.config,
            &self.cache,
        )
    }

    /// The outcomes a search reports, each with every metric: those ranked on the objective alone
    /// are run again in full (`complete_in_full`).
    pub fn complete(&self, outcomes: Vec<Outcome>) -> Result<Vec<Outcome>> {
        if self.lean().is_none() {
            return Ok(outcomes);
        }
        let field = self.objective_field;
        complete_in_full(outcomes, |p| self.backtest(p), |m| field.value(m).as_f64())
    }

    /// Evaluates `items` (`(index, params)`, numbered `first_seq`, `first_seq + 1`, …) in parallel as
    /// batch `batch`; the outcomes come back in item order (`None` where a stop came first).
    pub fn evaluate_batch(
        &self,
        first_seq: u64,
        batch: u32,
        items: Vec<(u64, Params)>,
    ) -> Result<Vec<Option<Outcome>>> {
        items
            .into_par_iter()
            .enumerate()
            .map(|(j, (index, params))| self.evaluate(first_seq + j as u64, batch, index, params))
            .collect()
    }

    /// Evaluates a stream of `(index, params)` in parallel (numbered in stream order) and keeps the top
    /// `k`. The stream is consumed lazily.
    pub fn evaluate_stream(
        &self,
        stream: impl Iterator<Item = (u64, Params)> + Send,
        k: usize,
    ) -> Result<TopK> {
        self.evaluate_numbered(stream.enumerate().map(|(seq, c)| (seq as u64, c)), k)
    }

    /// True when the outcomes may be evaluated in any order: no observer needs them in sequence (a
    /// results file buffers what comes early, so a reordered grid would hold most of its rows).
    pub fn any_order(&self) -> bool {
        !self.observer.wants_metrics()
    }

    /// [`Evaluator::evaluate_stream`] of a stream that carries its own sequence numbers
    /// `(seq, (index, params))`, each number once, in any order.
    pub fn evaluate_numbered(
        &self,
        stream: impl Iterator<Item = (u64, (u64, Params))> + Send,
        k: usize,
    ) -> Result<TopK> {
        stream
            .par_bridge()
            .try_fold(
                || TopK::new(k),
                |mut top, (seq, (index, params))| {
                    if let Some(o) = self.evaluate(seq, 0, index, params)? {
                        top.push(o);
                    }
                    Ok::<TopK, crate::error::Error>(top)
                },
            )
            .try_reduce(|| TopK::new(k), |a, b| Ok(a.merge(b)))
    }

    /// Evaluates the positions of `lanes` (disjoint ranges; `at` gives position `c`'s `(seq, (index,
    /// params))`, `None` for a candidate to skip) and keeps the top `k`. Worker thread `t` of the
    /// pool works through lane `t mod lanes` from its front; a worker whose lane is done takes
    /// positions from the back of the lane with the most left. Why: neighbouring positions share
    /// indicator series, and the cache computes a series once while others asking for it wait — with
    /// the positions pulled from one shared sequence, a worker often took the next position of the
    /// other's lane and waited for the series being computed there. The results do not depend on who
    /// evaluates what (the top `k` is ordered by objective, then grid index).
    pub fn evaluate_lanes(
        &self,
        lanes: &[std::ops::Range<u64>],
        at: impl Fn(u64) -> Option<(u64, (u64, Params))> + Sync,
        k: usize,
    ) -> Result<TopK> {
        let left: Vec<std::sync::Mutex<std::ops::Range<u64>>> =
            lanes.iter().cloned().map(std::sync::Mutex::new).collect();
        let failed = AtomicBool::new(false);
        let remaining = |l: &std::sync::Mutex<std::ops::Range<u64>>| {
            let r = lock(l);
            r.end - r.start
        };
        let next = |own: usize| -> Option<u64> {
            if let Some(c) = left.get(own).and_then(|l| lock(l).next()) {
                return Some(c);
            }
            // Another worker may empty the lane picked here first: look again until all are empty.
            loop {
                let most = left.iter().max_by_key(|l| remaining(l))?;
                if let Some(c) = lock(most).next_back() {
                    return Some(c);
                }
                if left.iter().all(|l| remaining(l) == 0) {
                    return None;
                }
            }
        };
        let tops = rayon::broadcast(|ctx| -> Result<TopK> {
            let mut top = TopK::new(k);
            let own = ctx.index() % lanes.len().max(1);
            while !self.stopped() && !failed.load(Ordering::Relaxed) {
                let Some(c) = next(own) else { break };
                let Some((seq, (index, params))) = at(c) else {
                    continue;
                };
                match self.evaluate(seq, 0, index, params) {
                    Ok(Some(o)) => top.push(o),
                    Ok(None) => {}
                    Err(e) => {
                        failed.store(true, Ordering::Relaxed);
                        return Err(e);
                    }
                }
            }
            Ok(top)
        });
        tops.into_iter()
            .try_fold(TopK::new(k), |a, b| Ok(a.merge(b?)))
    }

    /// Candidates evaluated so far.
    pub fn evaluated(&self) -> u64 {
        self.evaluated.load(Ordering::Relaxed)
    }

    /// Candidates evaluated so far that could be ranked (finite objective, enough trades).
    pub fn ranked(&self) -> u64 {
        self.ranked.load(Ordering::Relaxed)
    }

    /// The most trades any evaluated candidate made.
    pub fn max_trades(&self) -> usize {
        self.max_trades.load(Ordering::Relaxed)
    }

    /// The objective being maximized.
    pub fn objective(&self) -> Objective {
        self.objective
    }

    /// The minimum number of closed trades for a candidate to be ranked.
    pub fn min_trades(&self) -> usize {
        self.min_trades
    }

    /// Indicator series computed so far (each distinct one once).
    pub fn indicators_computed(&self) -> usize {
        self.cache.computed()
    }
}
/// What a search found.
#[derive(Debug, Clone, Default)]
pub struct SearchResult {
    /// The best ranked candidates, best first.
    pub top: Vec<Outcome>,
    /// Genetic, particle swarm, explore and tpe: the best ranked objective after each generation /
    /// iteration / batch (NaN while nothing is ranked). Empty for grid and random search.
    pub history: Vec<f64>,
}

/// Runs the reported outcomes `top` again in full (in parallel) so that each carries every metric;
/// each objective must come out bit for bit as it was ranked.
fn complete_in_full(
    top: Vec<Outcome>,
    run: impl Fn(&Params) -> Result<backtest::Report> + Sync,
    objective: impl Fn(&Metrics) -> f64 + Sync,
) -> Result<Vec<Outcome>> {
    top.into_par_iter()
        .map(|mut o| {
            let report = run(&o.params)?;
            let full = objective(&report.metrics);
            if full.to_bits() != o.objective.to_bits() {
                return Err(Error::invalid(format!(
                    "internal error: candidate {} ({}) ranked with objective {} but its full metrics give {full}",
                    o.index, o.params, o.objective
                )));
            }
            o.metrics = report.metrics;
            Ok(o)
        })
        .collect()
}
