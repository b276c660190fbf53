//! Parameter optimization: search spaces, objectives, the parallel evaluator, search methods (grid,
//! random, genetic, particle swarm, explore, TPE), shards, the streamed results file, and the playbook of a search.
//!
//! One search = one data set, one backtest configuration, one [`crate::indicators::IndicatorCache`]
//! shared by every candidate and thread (each distinct indicator series is computed once), rayon over
//! candidates, the top K kept in memory and every other outcome streamed to the observer. The answer
//! depends only on the inputs and the seed, never on the thread count: candidates rank by objective,
//! then by their index in the grid.

pub mod adaptive;
pub mod evaluate;
pub mod explore;
pub mod fast;
pub mod merge;
pub mod merge_results;
pub mod methods;
pub mod objective;
pub mod overfit;
pub mod results;
pub mod returns_matrix;
pub mod shard;
pub mod space;
pub mod tpe;
pub mod validation;
pub mod walk;
pub mod walk_forward;

use std::sync::atomic::AtomicBool;
use std::time::Instant;

pub use evaluate::{Evaluator, NoObserver, Observer, Outcome, SearchResult, TopK};
pub use methods::Method;
pub use objective::Objective;
pub use shard::Shard;
pub use space::{Feasible, Space};

use crate::backtest::DataSpec;
use crate::candles::Candles;
use crate::engine::BacktestConfig;
use crate::error::{Error, Result};
use crate::playbook::{
    BacktestSection, Header, Market, Optimization, Playbook, StrategySection, Table, TopEntry,
    metrics_table,
};

/// Everything that defines a search (besides the data and the backtest settings).
#[derive(Debug, Clone)]
pub struct Settings {
    /// The parameter space (it knows its strategy).
    pub space: Space,
    /// What to maximize.
    pub objective: Objective,
    /// Candidates with fewer closed trades are not ranked.
    pub min_trades: usize,
    /// How to search.
    pub method: Method,
    /// Seed of random, genetic and particle swarm search.
    pub seed: u64,
    /// How many of the best candidates to keep.
    pub top_k: usize,
    /// The slice of the search to run.
    pub shard: Shard,
    /// Budget of the indicator cache in MB ([`crate::indicators::IndicatorCache`]: idle series beyond
    /// it are dropped and recomputed when needed again; results never depend on it).
    pub cache_mb: usize,
}

/// What a finished (or interrupted) search produced.
#[derive(Debug, Clone)]
pub struct Report {
    /// Best candidates (best first) and the per-generation history.
    pub result: SearchResult,
    /// Candidates satisfying the constraints (an estimate when `feasible_estimated`).
    pub feasible: u64,
    /// The grid was too big to count ([`space::COUNT_LIMIT`]): `feasible` comes from random draws.
    pub feasible_estimated: bool,
    /// Candidates backtested.
    pub evaluated: u64,
    /// Candidates ranked.
    pub ranked: u64,
    /// The most closed trades of any candidate (for the "no candidate meets --min-trades" message).
    pub max_trades: usize,
    /// A stop (Ctrl-C) ended the search early.
    pub interrupted: bool,
    /// Wall time of the search, seconds.
    pub elapsed_s: f64,
    /// Distinct indicator series computed.
    pub indicators_computed: usize,
}

/// A mutex's guard even when a thread panicked holding it: what the search's mutexes guard (result
/// rows, the best so far, a lane's remaining positions) is whole after every update.
fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Checks the method's settings and counts (or, in a big grid, estimates: [`Space::feasibility`]) the
/// feasible candidates of `settings.space`; an empty space is a usage error naming the constraints,
/// raised before any backtest runs.
pub fn check_space(settings: &Settings) -> Result<u64> {
    settings.method.check()?;
    let feasibility = settings.space.feasibility();
    let feasible = feasibility.count();
    if feasible == 0 {
        let c: Vec<&str> = settings
            .space
            .constraints()
            .iter()
            .map(|c| c.text.as_str())
            .collect();
        return Err(Error::usage(format!(
            "the parameter space is empty: none of {} candidates satisfies {}; widen the ranges or relax the constraints",
            match feasibility {
                Feasible::Exact(_) => format!("its {}", settings.space.size()),
                Feasible::Estimate { .. } => format!(
                    "{} random draws from its {}",
                    space::ESTIMATE_DRAWS,
                    settings.space.size()
                ),
            },
            if c.is_empty() {
                format!(
                    "the strategy's own checks ({})",
                    settings.space.strategy().name()
                )
            } else {
                format!(
                    "the constraints ({}) and the strategy's checks",
                    c.join(", ")
                )
            }
        )));
    }
    let exact = matches!(feasibility, Feasible::Exact(_));
    if exact && !settings.shard.is_all() && settings.method.planned(feasible, settings.shard) == 0 {
        // Grid and random shards take every N-th candidate: with fewer than K candidates shard K
        // would have none, and its failed run would block the merge of all N for good.
        let shard = settings.shard;
        let total = settings.method.planned(feasible, Shard::ALL);
        return Err(Error::usage(format!(
            "--shard {}/{}: the search plans {total} candidate(s), so shard {} would evaluate none; \
             use at most {total} shards",
            shard.k, shard.n, shard.k
        )));
    }
    Ok(feasible)
}

/// Runs the search over `candles` with `config`. Every evaluated candidate is passed to `observer`;
/// setting `stop` ends the search early (the report says so).
pub fn run(
    settings: &Settings,
    candles: &Candles,
    config: &BacktestConfig,
    stop: &AtomicBool,
    observer: &dyn Observer,
) -> Result<Report> {
    run_with(settings, candles, config, stop, observer, None)
}

/// [`run`], also handing every candidate's per-period returns to `collector` (the overfitting
/// statistics of [`overfit`]).
pub fn run_with(
    settings: &Settings,
    candles: &Candles,
    config: &BacktestConfig,
    stop: &AtomicBool,
    observer: &dyn Observer,
    collector: Option<&overfit::Collector>,
) -> Result<Report> {
    let feasible = check_space(settings)?;
    let started = Instant::now();
    let mut evaluator = Evaluator::new(
        candles,
        settings.space.strategy(),
        *config,
        settings.objective,
        settings.min_trades,
        stop,
        observer,
    )
    .with_cache_budget(settings.cache_mb.saturating_mul(1 << 20));
    if let Some(c) = collector {
        evaluator = evaluator.with_collector(c);
    }
    let result = methods::search(
        settings.method,
        &settings.space,
        &evaluator,
        settings.top_k,
        settings.seed,
        settings.shard,
    )?;
    Ok(Report {
        result,
        feasible,
        feasible_estimated: settings.space.feasibility().is_estimate(),
        evaluated: evaluator.evaluated(),
        ranked: evaluator.ranked(),
        max_trades: evaluator.max_trades(),
        interrupted: evaluator.stopped(),
        elapsed_s: started.elapsed().as_secs_f64(),
        indicators_computed: evaluator.indicators_computed(),
    })
}

/// The playbook of a search over the bars of `data`: the best candidate's parameters and metrics, the
/// top K and the provenance (`data_sha256`: the bars' [`Candles::sha256`], which a caller may take
/// while the search runs). Fails (exit 1) when no candidate was ranked, naming `--min-trades`.
pub fn to_playbook(
    name: &str,
    settings: &Settings,
    report: &Report,
    data: &DataSpec,
    candles: &Candles,
    data_sha256: String,
    config: &BacktestConfig,
) -> Result<Playbook> {
    let Some(best) = report.result.top.first() else {
        return Err(Error::invalid(if report.evaluated == 0 {
            "no candidate was evaluated; no playbook written".to_string()
        } else {
            format!(
                "no candidate meets --min-trades {} with a finite {} (the most trades any of the {} evaluated made: {}); \
                 lower --min-trades or widen the space; no playbook written",
                settings.min_trades,
                settings.objective.name(),
                report.evaluated,
                report.max_trades
            )
        }));
    };
    let (samples, population, generations) = settings.method.recorded();
    let fmt_ts = crate::candles::time::format_ts_full;
    Ok(Playbook {
        playbook: Header {
            name: name.to_string(),
            status: "candidate".to_string(),
            created_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            flowrex_version: env!("CARGO_PKG_VERSION").to_string(),
            notes: None,
        },
        strategy: StrategySection::new(settings.space.strategy().name(), &best.params)?,
        market: Market {
            symbol: data.symbol.clone(),
            interval: data.interval.to_string(),
            start: candles.ts.first().map(|&t| fmt_ts(t)).unwrap_or_default(),
            end: candles.ts.last().map(|&t| fmt_ts(t)).unwrap_or_default(),
            bars: candles.len() as u64,
            data_sha256,
            fingerprint: Some(crate::playbook::Fingerprint::of(candles)),
        },
        backtest: BacktestSection::from_config(config),
        optimization: Some(Optimization {
            method: settings.method.name().to_string(),
            objective: settings.objective.name().to_string(),
            min_trades: settings.min_trades as u64,
            seed: settings.seed,
            top_k: settings.top_k as u64,
            samples,
            population,
            generations,
            shard: (!settings.shard.is_all()).then(|| settings.shard.to_string()),
            merged_shards: None,
            results: None,
            constraints: settings
                .space
                .constraints()
                .iter()
                .map(|c| c.text.clone())
                .collect(),
            space_size: settings.space.size(),
            feasible: report.feasible,
            feasible_estimated: report.feasible_estimated,
            evaluated: report.evaluated,
            ranked: report.ranked,
            status: if report.interrupted {
                "interrupted"
            } else {
                "complete"
            }
            .to_string(),
            elapsed_s: (report.elapsed_s * 1000.0).round() / 1000.0,
            history: (!report.result.history.is_empty()).then(|| report.result.history.clone()),
            space: Table(
                settings
                    .space
                    .describe()
                    .into_iter()
                    .map(|(k, v)| (k, toml::Value::String(v)))
                    .collect(),
            ),
        }),
        metrics: metrics_table(&best.metrics),
        top: report
            .result
            .top
            .iter()
            .enumerate()
            .map(|(i, o)| TopEntry {
                rank: i as u64 + 1,
                candidate: o.index,
                objective: o.rank.unwrap_or(o.objective),
                trades: o.metrics.num_trades as u64,
                params: Table::from_params(&o.params),
            })
            .collect(),
        validation: None,
        walk_forward: None,
    })
}
