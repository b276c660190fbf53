//! Backtest benchmarks: one SMA-cross backtest over 1,000,000 synthetic 1-minute bars, metrics
//! included. Divide the time per iteration by 1,000,000 for ns per bar (target ≤ 10 ns/bar).
//!
//! `full` computes both SMAs (fresh indicator cache) + the bar loop + metrics; `cached` is what each
//! optimizer candidate pays once the cache holds the SMAs (bar loop + metrics).

#[global_allocator]
static ALLOC: flowrex::huge_pages::HugePages = flowrex::huge_pages::HugePages;

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use flowrex::backtest;
use flowrex::candles::Interval;
use flowrex::candles::synthetic::{SyntheticSpec, generate};
use flowrex::engine::BacktestConfig;
use flowrex::indicators::IndicatorCache;
use flowrex::strategy::{self, Params};

const BARS: usize = 1_000_000;

fn sma_cross(c: &mut Criterion) {
    let candles = generate(&SyntheticSpec::new(BARS, 42, Interval::Minute1));
    let strat = strategy::lookup("sma_cross").unwrap();
    let params = Params::resolve(
        strat.params(),
        &[("fast".into(), "10".into()), ("slow".into(), "20".into())],
    )
    .unwrap();
    let config = BacktestConfig {
        commission: 0.0002,
        ..BacktestConfig::default()
    };
    let mut g = c.benchmark_group("backtest");
    g.sample_size(20);
    g.throughput(Throughput::Elements(BARS as u64));
    g.bench_function("sma_cross_1m_bars_full", |b| {
        b.iter(|| {
            let cache = IndicatorCache::new();
            let r = backtest::backtest(&candles, strat, &params, &config, &cache).unwrap();
            black_box(r.metrics.sharpe)
        })
    });
    let cache = IndicatorCache::new();
    let warm = backtest::backtest(&candles, strat, &params, &config, &cache).unwrap();
    eprintln!(
        "sma_cross 10/20 on {BARS} bars: {} trades, sharpe {:.4}",
        warm.metrics.num_trades, warm.metrics.sharpe
    );
    g.bench_function("sma_cross_1m_bars_cached", |b| {
        b.iter(|| {
            let r = backtest::backtest(&candles, strat, &params, &config, &cache).unwrap();
            black_box(r.metrics.sharpe)
        })
    });
    // Where the time goes: each stage alone.
    g.bench_function("stage_two_smas", |b| {
        b.iter(|| {
            let (a, b2) = flowrex::indicators::sma_pair(&candles.close, 10, 20);
            black_box((a[BARS - 1], b2[BARS - 1]))
        })
    });
    g.bench_function("stage_bar_loop", |b| {
        b.iter(|| {
            let mut signals = strat.prepare(&candles, &params, &cache).unwrap();
            let run = signals.run_engine(&candles, &config).unwrap();
            black_box(run.equity[BARS - 1])
        })
    });
    let run = {
        let mut signals = strat.prepare(&candles, &params, &cache).unwrap();
        signals.run_engine(&candles, &config).unwrap()
    };
    g.bench_function("stage_metrics", |b| {
        b.iter(|| black_box(flowrex::metrics::compute_cached(&candles, &run, &cache).sharpe))
    });
    g.finish();
}

criterion_group!(benches, sma_cross);
criterion_main!(benches);
