//! Walk-forward and validation benchmarks (the performance targets):
//!
//! - `validation/goog_grid_statistics`: the overfitting statistics of the README's GOOG grid (175
//!   candidates × 2147 day returns): collecting every candidate's returns (Sharpe ratio and block
//!   sums), DSR and PBO with S = 16 (12,870 splits) — target under 50 ms. The returns are computed
//!   once outside the timing (they come from the backtests the search runs anyway).
//! - `validation/goog_grid_optimize_{plain,validated}`: the whole GOOG search without and with the
//!   statistics, for what they add end to end.
//! - `walk_forward/full_range_grid_175x1m_bars` and `walk_forward/ten_windows_175x1m_bars`: the
//!   175-candidate sma_cross grid over 1,000,000 synthetic 1-minute bars, once over the whole range
//!   and as a 10-window walk-forward (train 200,000 bars, test 80,000, rolling: the tests cover the
//!   last 800,000 bars), both at 2 threads — target: the walk-forward under 3× the full-range grid.

use std::hint::black_box;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use flowrex::backtest;
use flowrex::candles::synthetic::{SyntheticSpec, generate};
use flowrex::candles::{Candles, Interval, Store, TimeRange};
use flowrex::engine::BacktestConfig;
use flowrex::indicators::IndicatorCache;
use flowrex::indicators::cache::DEFAULT_BUDGET_MB;
use flowrex::metrics;
use flowrex::optimize::overfit::{Collector, Spec};
use flowrex::optimize::walk_forward::{Len, WalkForward};
use flowrex::optimize::{self, Method, NoObserver, Objective, Settings, Shard, Space, walk};
use flowrex::strategy;

fn settings() -> Settings {
    let strat = strategy::lookup("sma_cross").unwrap();
    let space = Space::new(
        strat,
        &[
            ("fast".into(), "5..50:5".into()),
            ("slow".into(), "10..200:10".into()),
        ],
        &["fast < slow".into()],
    )
    .unwrap();
    Settings {
        space,
        objective: Objective::Sharpe,
        min_trades: 1,
        method: Method::Grid,
        seed: 42,
        top_k: 10,
        shard: Shard::ALL,
        cache_mb: DEFAULT_BUDGET_MB,
    }
}

fn goog() -> Candles {
    Store::at(concat!(env!("CARGO_MANIFEST_DIR"), "/data").into())
        .load("GOOG", Interval::Day1, &TimeRange::ALL)
        .unwrap()
}

/// CPU time of this process (user + system, all threads) from /proc/self/stat, in clock ticks of 10
/// ms (Linux's USER_HZ). The build machine is shared, so wall time overstates the work when others
/// build; `*_cpu_time` benchmarks report this instead.
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the parenthesized command name; utime and stime are fields 14 and 15.
    let rest = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<u64> = rest
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0))
        .collect();
    Duration::from_millis((f.get(11).unwrap_or(&0) + f.get(12).unwrap_or(&0)) * 10)
}

/// Runs `f` `iters` times and returns the CPU time it took.
fn cpu<T>(iters: u64, mut f: impl FnMut() -> T) -> Duration {
    let start = cpu_time();
    for _ in 0..iters {
        black_box(f());
    }
    cpu_time() - start
}

fn pool(threads: usize) -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap()
}

fn goog_validation(c: &mut Criterion) {
    let candles = goog();
    let settings = settings();
    let config = BacktestConfig {
        commission: 0.002,
        ..BacktestConfig::default()
    };
    let stop = AtomicBool::new(false);
    let report = optimize::run(&settings, &candles, &config, &stop, &NoObserver).unwrap();
    let best = report.result.top[0].clone();
    // Every feasible candidate's per-period returns, as the evaluator hands them over.
    let cache = IndicatorCache::new();
    let returns: Vec<(u64, Vec<f64>, Option<f64>)> = settings
        .space
        .feasible()
        .map(|(index, params)| {
            let r = backtest::backtest(
                &candles,
                settings.space.strategy(),
                &params,
                &config,
                &cache,
            )
            .unwrap();
            let rank = (r.metrics.num_trades >= 1 && r.metrics.sharpe.is_finite())
                .then_some(r.metrics.sharpe);
            let returns = metrics::period_returns(&candles, &r.run.equity, &cache);
            (index, returns, rank)
        })
        .collect();
    assert_eq!(returns.len(), 175);
    let mut g = c.benchmark_group("validation");
    g.sample_size(20);
    let one = pool(1);
    let statistics = || {
        one.install(|| {
            let collector = Collector::new(&candles, &Spec::default()).unwrap();
            for (seq, (index, r, rank)) in returns.iter().enumerate() {
                collector.record(seq as u64, *index, *rank, r);
            }
            collector.finish(best.index).unwrap().pbo.unwrap().pbo
        })
    };
    g.bench_function("goog_grid_statistics_1_thread", |b| {
        b.iter(|| black_box(statistics()))
    });
    g.bench_function("goog_grid_statistics_1_thread_cpu_time", |b| {
        b.iter_custom(|iters| cpu(iters, statistics))
    });
    for validated in [false, true] {
        let name = if validated { "validated" } else { "plain" };
        g.bench_function(format!("goog_grid_optimize_{name}_1_thread"), |b| {
            b.iter(|| {
                one.install(|| {
                    let collector =
                        validated.then(|| Collector::new(&candles, &Spec::default()).unwrap());
                    let r = optimize::run_with(
                        &settings,
                        &candles,
                        &config,
                        &stop,
                        &NoObserver,
                        collector.as_ref(),
                    )
                    .unwrap();
                    let pbo = collector.map(|c| c.finish(r.result.top[0].index).unwrap().pbo);
                    black_box((r.result.top[0].objective, pbo.is_some()))
                })
            })
        });
    }
    g.finish();
}

fn walk_forward(c: &mut Criterion) {
    let candles = generate(&SyntheticSpec::new(1_000_000, 42, Interval::Minute1));
    let settings = settings();
    let config = BacktestConfig {
        cash: 1_000_000.0,
        commission: 0.00001,
        ..BacktestConfig::default()
    };
    let stop = AtomicBool::new(false);
    let wf = WalkForward::new(Len::Bars(200_000), Len::Bars(80_000));
    let spec = Spec::default();
    let windows = walk::plan(&wf, &candles, &spec).unwrap();
    assert_eq!(windows.len(), 10);
    let observers = [&NoObserver as &dyn optimize::Observer; 10];
    let two = pool(2);
    let mut g = c.benchmark_group("walk_forward");
    g.sample_size(10);
    let full = || {
        two.install(|| {
            let r = optimize::run(&settings, &candles, &config, &stop, &NoObserver).unwrap();
            r.result.top[0].objective
        })
    };
    let ten = || {
        two.install(|| {
            let r = walk::run(
                &settings, &windows, &candles, &config, &stop, &observers, &spec,
            )
            .unwrap()
            .unwrap();
            r.stitched.metrics.sharpe
        })
    };
    g.bench_function("full_range_grid_175x1m_bars_2_threads", |b| {
        b.iter(|| black_box(full()))
    });
    g.bench_function("ten_windows_175x1m_bars_2_threads", |b| {
        b.iter(|| black_box(ten()))
    });
    g.bench_function("full_range_grid_175x1m_bars_2_threads_cpu_time", |b| {
        b.iter_custom(|iters| cpu(iters, full))
    });
    g.bench_function("ten_windows_175x1m_bars_2_threads_cpu_time", |b| {
        b.iter_custom(|iters| cpu(iters, ten))
    });
    g.finish();
}

criterion_group!(benches, goog_validation, walk_forward);
criterion_main!(benches);
