//! Optimizer benchmark: the workload — `sma_cross`, fast 5..50:5 × slow 10..200:10 with
//! fast < slow (175 candidates) over 1,000,000 synthetic 1-minute bars, cash 1,000,000, commission
//! 0.00001, full metrics — at 1 and 2 rayon threads. Each iteration is a whole search with a fresh
//! indicator cache (the 25 distinct SMAs are computed inside it).
//!
//! Criterion's throughput is in bar-evaluations (candidates × bars) per second; divide by 1e6 bars for
//! candidates per second.

#[global_allocator]
static ALLOC: flowrex::huge_pages::HugePages = flowrex::huge_pages::HugePages;

use std::hint::black_box;
use std::sync::atomic::AtomicBool;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use flowrex::candles::Interval;
use flowrex::candles::synthetic::{SyntheticSpec, generate};
use flowrex::engine::BacktestConfig;
use flowrex::indicators::cache::DEFAULT_BUDGET_MB;
use flowrex::optimize::{self, Method, NoObserver, Objective, Settings, Shard, Space};
use flowrex::strategy;

const BARS: usize = 1_000_000;

fn grid(c: &mut Criterion) {
    let candles = generate(&SyntheticSpec::new(BARS, 42, Interval::Minute1));
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
    let settings = Settings {
        space,
        objective: Objective::Sharpe,
        min_trades: 1,
        method: Method::Grid,
        seed: 42,
        top_k: 10,
        shard: Shard::ALL,
        cache_mb: DEFAULT_BUDGET_MB,
    };
    let candidates = optimize::check_space(&settings).unwrap();
    assert_eq!(candidates, 175);
    let config = BacktestConfig {
        cash: 1_000_000.0,
        commission: 0.00001,
        ..BacktestConfig::default()
    };
    let stop = AtomicBool::new(false);
    let mut g = c.benchmark_group("optimize");
    g.sample_size(10);
    g.throughput(Throughput::Elements(candidates * BARS as u64));
    for threads in [1, 2] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        g.bench_function(
            format!("sma_cross_grid_175x1m_bars_{threads}_threads"),
            |b| {
                b.iter(|| {
                    pool.install(|| {
                        let r = optimize::run(&settings, &candles, &config, &stop, &NoObserver)
                            .unwrap();
                        black_box(r.result.top[0].objective)
                    })
                })
            },
        );
    }
    g.finish();
}

criterion_group!(benches, grid);
criterion_main!(benches);
