//! Walk-forward optimization: for each window ([`super::walk_forward`]) run the search on the train
//! bars, take its best, and trade that parameter set on the test bars; then stitch the test runs into
//! one out-of-sample record and compare it with what the train searches promised.
//!
//! - **Train.** The search (any method) runs on the train bars alone, as a plain optimize over
//!   `candles.slice(train)` would, with its own indicator cache and overfitting statistics
//!   ([`super::overfit`]). Windows run in parallel (rayon, each search parallel inside too); every
//!   window's result depends only on its bars, so the answer is the same at any thread count.
//! - **Test.** [`crate::backtest::backtest_window`]: the indicators are computed over the whole data,
//!   so the bars before the test start serve as warm-up history (strategies never look ahead — tested
//!   for every strategy), trades open only inside the test window, and a position still open on its
//!   last bar is closed at that bar's close. Test windows run one after another as one account: each
//!   starts flat with the cash the previous one ended with (the configured cash for the first), so the
//!   stitched equity *is* the equity of trading window k's parameters in test k, for every k.
//! - **Stitched record.** The test bars, equity curves and trades laid end to end, with every metric
//!   of the field table computed on them, its per-period returns' PSR, and buy & hold over the same test
//!   windows (each from its first bar's close to its last bar's close, chained).
//!
//! Test windows may not overlap (a `--step` shorter than the test would trade the same bars twice).

use std::sync::atomic::AtomicBool;
use std::time::Instant;

use rayon::prelude::*;

use super::evaluate::{Observer, Outcome};
use super::overfit::{self, Collector, Overfit};
use super::validation::{self, Moments};
use super::walk_forward::{self, Efficiency, Stability, WalkForward, Window, WindowReturns};
use super::{Report, Settings, run_with};
use crate::backtest::{self, DataSpec};
use crate::candles::Candles;
use crate::candles::time::{format_ts, format_ts_full};
use crate::engine::{BacktestConfig, RunResult};
use crate::error::{Error, Result};
use crate::indicators::IndicatorCache;
use crate::metrics::{self, Metrics};
use crate::playbook::{Playbook, Table, WalkForwardSection, WindowEntry, metrics_table};

/// The windows of `wf` over `candles`, checked before any work: they must fit (usage error naming the
/// bars needed), test windows may not overlap, and every train window must hold enough per-period
/// returns for the PBO blocks when those were asked for (`spec`).
pub fn plan(wf: &WalkForward, candles: &Candles, spec: &overfit::Spec) -> Result<Vec<Window>> {
    let windows = wf.windows(&candles.ts)?;
    for pair in windows.windows(2) {
        if pair[1].test.start < pair[0].test.end {
            let why = if wf.step_measured_like_test() {
                format!(
                    "--step {} must be at least the test length {}",
                    wf.step(),
                    wf.test
                )
            } else {
                format!(
                    "--step {} and the test length {} are measured differently (bars, fixed time m/h/d/w, calendar months M/y), so a step does not always move past a test; give --step in the test's measure or leave it out (it defaults to the test length)",
                    wf.step(),
                    wf.test
                )
            };
            return Err(Error::usage(format!(
                "walk-forward test windows overlap (window {} starts at {}, before window {} ends at {}): {why}",
                pair[1].index,
                format_ts(pair[1].test_ms.start),
                pair[0].index,
                format_ts(pair[0].test_ms.end),
            )));
        }
    }
    if spec.blocks_required {
        for w in &windows {
            let periods = metrics::period_count(&candles.ts[w.train.clone()]);
            if let Err(e) = validation::BlockLayout::new(periods, spec.blocks) {
                return Err(Error::usage(format!(
                    "--pbo-blocks {}: walk-forward window {} trains on {periods} period returns: {e}; use longer train windows or fewer blocks",
                    spec.blocks, w.index
                )));
            }
        }
    }
    Ok(windows)
}

/// One window's search and test.
#[derive(Debug, Clone)]
pub struct WindowRun {
    /// Where the window lies.
    pub window: Window,
    /// The search on the train bars.
    pub train: Report,
    /// Its best candidate (the parameters traded on the test bars).
    pub best: Outcome,
    /// The overfitting statistics of the train search.
    pub overfit: Overfit,
    /// The test run, in the test window's coordinates.
    pub test: backtest::Report,
    /// Cash the test run started with.
    pub start_cash: f64,
}

impl WindowRun {
    /// Total out-of-sample return as a fraction.
    pub fn oos_return(&self) -> f64 {
        self.test.metrics.equity_final / self.start_cash - 1.0
    }

    /// Total in-sample return of the chosen parameters as a fraction.
    pub fn is_return(&self) -> f64 {
        self.best.metrics.return_pct / 100.0
    }
}

/// The stitched out-of-sample record: the test windows end to end.
#[derive(Debug, Clone)]
pub struct Stitched {
    /// The test bars, in order.
    pub candles: Candles,
    /// Equity, trades (bar indexes into `candles`) and counters.
    pub run: RunResult,
    /// Every metric of the record.
    pub metrics: Metrics,
    /// The moments of its per-period returns (None with fewer than 2).
    pub moments: Option<Moments>,
    /// Its number of per-period returns.
    pub periods: usize,
}

/// A finished walk-forward run.
#[derive(Debug, Clone)]
pub struct WalkReport {
    /// Each window, in order.
    pub windows: Vec<WindowRun>,
    /// The stitched out-of-sample record.
    pub stitched: Stitched,
    /// Walk-forward efficiency per window and overall.
    pub efficiency: Efficiency,
    /// Buy & hold over the same test windows, chained, as a fraction.
    pub buy_hold_return: f64,
    /// How much the chosen parameters moved (None with one window).
    pub stability: Option<Stability>,
    /// Candidates backtested over all windows.
    pub evaluated: u64,
    /// Wall time, seconds.
    pub elapsed_s: f64,
}

impl WalkReport {
    /// Windows with an out-of-sample return above 0.
    pub fn positive_windows(&self) -> usize {
        self.windows.iter().filter(|w| w.oos_return() > 0.0).count()
    }
}

/// What the train phase of one window produced.
struct Trained {
    report: Report,
    best: Outcome,
    overfit: Overfit,
}

/// Runs the walk-forward: the train searches of `windows` (from [`plan`]) in parallel, each
/// reporting to its own observer (`observers[k]` for window k), then the tests in order. `None` when
/// `stop` ended it early (a walk-forward needs every window, so nothing partial is returned).
#[allow(clippy::too_many_arguments)]
pub fn run(
    settings: &Settings,
    windows: &[Window],
    candles: &Candles,
    config: &BacktestConfig,
    stop: &AtomicBool,
    observers: &[&dyn Observer],
    spec: &overfit::Spec,
) -> Result<Option<WalkReport>> {
    let started = Instant::now();
    if observers.len() != windows.len() {
        return Err(Error::invalid(format!(
            "walk-forward: {} observers for {} windows",
            observers.len(),
            windows.len()
        )));
    }
    let trained: Vec<Option<Trained>> = windows
        .par_iter()
        .zip(observers.par_iter())
        .map(|(w, obs)| train(settings, w, candles, config, stop, *obs, spec))
        .collect::<Result<_>>()?;
    let Some(trained) = trained.into_iter().collect::<Option<Vec<Trained>>>() else {
        return Ok(None);
    };
    let evaluated = trained.iter().map(|t| t.report.evaluated).sum();
    let runs = test_all(settings, windows, trained, candles, config)?;
    let stitched = stitch(&runs, candles, config);
    let efficiency = walk_forward::efficiency(
        &runs
            .iter()
            .map(|r| WindowReturns {
                is_return: r.is_return(),
                is_years: r.window.train_years(),
                oos_return: r.oos_return(),
                oos_years: r.window.test_years(),
            })
            .collect::<Vec<_>>(),
    );
    let buy_hold_return = runs
        .iter()
        .map(|r| 1.0 + r.test.metrics.buy_hold_return_pct / 100.0)
        .product::<f64>()
        - 1.0;
    let stability = stability(settings, &runs);
    Ok(Some(WalkReport {
        windows: runs,
        stitched,
        efficiency,
        buy_hold_return,
        stability,
        evaluated,
        elapsed_s: started.elapsed().as_secs_f64(),
    }))
}

/// The search on window `w`'s train bars; None when stopped.
fn train(
    settings: &Settings,
    w: &Window,
    candles: &Candles,
    config: &BacktestConfig,
    stop: &AtomicBool,
    observer: &dyn Observer,
    spec: &overfit::Spec,
) -> Result<Option<Trained>> {
    let bars = candles.slice(w.train.clone());
    let collector = Collector::new(&bars, spec)?;
    let report = run_with(settings, &bars, config, stop, observer, Some(&collector))?;
    if report.interrupted {
        return Ok(None);
    }
    let Some(best) = report.result.top.first().cloned() else {
        return Err(Error::invalid(format!(
            "walk-forward window {} (train {} to {}): no candidate meets --min-trades {} with a finite {} (the most trades any of the {} evaluated made: {}); use longer train windows or lower --min-trades; no playbook written",
            w.index,
            format_ts(bars.ts[0]),
            format_ts(bars.ts[bars.len() - 1]),
            settings.min_trades,
            settings.objective.name(),
            report.evaluated,
            report.max_trades
        )));
    };
    let overfit = collector.finish(best.index)?;
    Ok(Some(Trained {
        report,
        best,
        overfit,
    }))
}

/// The test runs, one account: window k starts with the cash window k − 1 ended with.
fn test_all(
    settings: &Settings,
    windows: &[Window],
    trained: Vec<Trained>,
    candles: &Candles,
    config: &BacktestConfig,
) -> Result<Vec<WindowRun>> {
    let cache = IndicatorCache::new();
    let strategy = settings.space.strategy();
    let mut cash = config.cash;
    let mut runs = Vec::with_capacity(windows.len());
    for (w, t) in windows.iter().zip(trained) {
        let test = if cash > 0.0 {
            let cfg = BacktestConfig { cash, ..*config };
            backtest::backtest_window(
                candles,
                strategy,
                &t.best.params,
                &cfg,
                &cache,
                w.test.clone(),
            )?
        } else {
            ruined(candles, w)
        };
        let start_cash = cash;
        cash = test.metrics.equity_final;
        runs.push(WindowRun {
            window: w.clone(),
            train: t.report,
            best: t.best,
            overfit: t.overfit,
            test,
            start_cash,
        });
    }
    Ok(runs)
}

/// A test window after the account was ruined: no trade, equity 0.
fn ruined(candles: &Candles, w: &Window) -> backtest::Report {
    let run = RunResult {
        equity: vec![0.0; w.test.len()],
        ..RunResult::default()
    };
    let metrics = metrics::compute(&candles.slice(w.test.clone()), &run);
    backtest::Report { run, metrics }
}

/// The test windows laid end to end.
fn stitch(runs: &[WindowRun], data: &Candles, config: &BacktestConfig) -> Stitched {
    let bars: usize = runs.iter().map(|r| r.window.test.len()).sum();
    let mut candles = Candles::with_capacity(bars);
    let mut run = RunResult {
        equity: Vec::with_capacity(bars),
        initial_cash: config.cash,
        ..RunResult::default()
    };
    for r in runs {
        let offset = candles.len();
        let part = &r.test.run;
        run.trades.extend(part.trades.iter().map(|t| {
            let mut t = *t;
            t.entry_bar += offset;
            t.exit_bar += offset;
            t
        }));
        run.equity.extend_from_slice(&part.equity);
        run.ambiguous_exits += part.ambiguous_exits;
        run.cancelled_orders += part.cancelled_orders;
        if run.out_of_money_bar.is_none() {
            run.out_of_money_bar = part.out_of_money_bar.map(|b| b + offset);
        }
        for i in r.window.test.clone() {
            candles.push(data.bar(i));
        }
    }
    let metrics = metrics::compute(&candles, &run);
    let returns = metrics::period_returns(&candles, &run.equity, &IndicatorCache::new());
    Stitched {
        moments: Moments::of(&returns),
        periods: returns.len(),
        candles,
        run,
        metrics,
    }
}

/// Parameter stability on the grid positions of each parameter (position / (values − 1), so for an
/// evenly stepped range the same as the values over the range's width; a list's choices by their
/// order). None with a single window.
fn stability(settings: &Settings, runs: &[WindowRun]) -> Option<Stability> {
    let space = &settings.space;
    let ranges: Vec<(f64, f64)> = space
        .dims()
        .iter()
        .map(|d| (0.0, (d.axis.len() - 1) as f64))
        .collect();
    let chosen: Vec<Vec<f64>> = runs
        .iter()
        .map(|r| {
            space
                .coords(r.best.index)
                .into_iter()
                .map(|c| c as f64)
                .collect()
        })
        .collect();
    walk_forward::parameter_stability(&chosen, &ranges).ok()
}

/// `Some(x)` when `x` is finite.
fn finite(x: f64) -> Option<f64> {
    x.is_finite().then_some(x)
}

impl WalkReport {
    /// The playbook of a walk-forward run: the playbook of the last window's search (its parameters,
    /// train bars as `[market]`, metrics, top list and `[validation]`) — the parameter set chosen on the
    /// most recent train window — plus `[walk_forward]`.
    pub fn to_playbook(
        &self,
        name: &str,
        settings: &Settings,
        wf: &WalkForward,
        data: &DataSpec,
        candles: &Candles,
        config: &BacktestConfig,
    ) -> Result<Playbook> {
        let last = self
            .windows
            .last()
            .ok_or_else(|| Error::invalid("walk-forward: no window"))?;
        let train = candles.slice(last.window.train.clone());
        let hash = train.sha256();
        let mut pb = super::to_playbook(name, settings, &last.train, data, &train, hash, config)?;
        pb.validation = Some(last.overfit.section());
        pb.walk_forward = Some(self.section(settings, wf, candles));
        Ok(pb)
    }

    /// The `[walk_forward]` section.
    pub fn section(
        &self,
        settings: &Settings,
        wf: &WalkForward,
        candles: &Candles,
    ) -> WalkForwardSection {
        let e = &self.efficiency;
        let stability = match &self.stability {
            Some(s) => Table(
                settings
                    .space
                    .dims()
                    .iter()
                    .zip(&s.per_param)
                    .filter_map(|(d, v)| {
                        v.map(|v| (d.spec.name.to_string(), toml::Value::Float(v)))
                    })
                    .collect(),
            ),
            None => Table::default(),
        };
        let m = self.stitched.moments;
        WalkForwardSection {
            train: wf.train.to_string(),
            test: wf.test.to_string(),
            step: wf.step().to_string(),
            purge: wf.purge.to_string(),
            anchored: wf.anchored,
            start: candles
                .ts
                .first()
                .map(|&t| format_ts_full(t))
                .unwrap_or_default(),
            end: candles
                .ts
                .last()
                .map(|&t| format_ts_full(t))
                .unwrap_or_default(),
            bars: candles.len() as u64,
            data_sha256: candles.sha256(),
            fingerprint: Some(crate::playbook::Fingerprint::of(candles)),
            windows: self.windows.len() as u64,
            evaluated: self.evaluated,
            positive_windows: self.positive_windows() as u64,
            positive_share: self.positive_windows() as f64 / self.windows.len() as f64,
            wfe: e.overall.and_then(finite),
            oos_return_ann_pct: finite(e.oos_annualized * 100.0),
            is_return_ann_pct: finite(e.is_annualized * 100.0),
            oos_return_pct: self.stitched.metrics.return_pct,
            buy_hold_return_pct: self.buy_hold_return * 100.0,
            param_stability: self.stability.as_ref().and_then(|s| s.overall),
            oos_periods: self.stitched.periods as u64,
            oos_sharpe: m.and_then(|m| finite(m.sharpe)),
            oos_psr: m.and_then(|m| finite(m.psr(0.0))),
            oos_min_trl: m
                .and_then(|m| m.min_trl(0.0, validation::MIN_TRL_CONFIDENCE))
                .and_then(finite),
            stability,
            oos_metrics: metrics_table(&self.stitched.metrics),
            window: self
                .windows
                .iter()
                .zip(&e.per_window)
                .map(|(r, wfe)| window_entry(settings, r, *wfe))
                .collect(),
        }
    }
}

fn window_entry(settings: &Settings, r: &WindowRun, wfe: Option<f64>) -> WindowEntry {
    let w = &r.window;
    let field = settings.objective.field();
    let section = r.overfit.section();
    WindowEntry {
        index: w.index as u64,
        train_start: format_ts_full(r.best.metrics.start_ts),
        train_end: format_ts_full(r.best.metrics.end_ts),
        test_start: format_ts_full(r.test.metrics.start_ts),
        test_end: format_ts_full(r.test.metrics.end_ts),
        train_bars: w.train.len() as u64,
        test_bars: w.test.len() as u64,
        candidate: r.best.index,
        is_objective: r.best.objective,
        oos_objective: field.value(&r.test.metrics).finite(),
        is_return_pct: r.best.metrics.return_pct,
        oos_return_pct: r.oos_return() * 100.0,
        oos_trades: r.test.metrics.num_trades as u64,
        buy_hold_return_pct: r.test.metrics.buy_hold_return_pct,
        wfe: wfe.and_then(finite),
        dsr: section.dsr,
        pbo: section.pbo,
        evaluated: r.train.evaluated,
        params: Table::from_params(&r.best.params),
    }
}
