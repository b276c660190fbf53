//! Strategy benchmarks: one backtest of each strategy (defaults) over 1,000,000 synthetic 1-minute bars,
//! metrics included. Divide the time per iteration by 1,000,000 for ns per bar.
//!
//! `full` computes every indicator (fresh cache) + the bar loop + metrics: what one backtest costs.
//! `cached` is what each further optimizer candidate on the same data pays once the cache holds the
//! indicators (signal preparation that is not an indicator, the bar loop, metrics).
//! `indicators/volume_profile_1m_bars` is fabio's indicator alone (most of fabio's `full` time).

#[global_allocator]
static ALLOC: flowrex::huge_pages::HugePages = flowrex::huge_pages::HugePages;

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use flowrex::backtest;
use flowrex::candles::Interval;
use flowrex::candles::synthetic::{SyntheticSpec, generate};
use flowrex::engine::BacktestConfig;
use flowrex::indicators::{self, IndicatorCache};
use flowrex::strategy;

const BARS: usize = 1_000_000;

fn strategies(c: &mut Criterion) {
    let candles = generate(&SyntheticSpec::new(BARS, 42, Interval::Minute1));
    let config = BacktestConfig {
        commission: 0.0002,
        ..BacktestConfig::default()
    };
    let mut g = c.benchmark_group("strategies");
    g.sample_size(10);
    g.throughput(Throughput::Elements(BARS as u64));
    for name in ["nbb", "jadecap", "fabio", "tori"] {
        let strat = strategy::lookup(name).unwrap();
        let params = strategy::resolve_params(strat, &[]).unwrap();
        g.bench_function(format!("{name}_1m_bars_full"), |b| {
            b.iter(|| {
                let cache = IndicatorCache::new();
                let r = backtest::backtest(&candles, strat, &params, &config, &cache).unwrap();
                black_box(r.metrics.sharpe)
            })
        });
        let cache = IndicatorCache::new();
        let warm = backtest::backtest(&candles, strat, &params, &config, &cache).unwrap();
        eprintln!(
            "{name} (defaults) on {BARS} bars: {} trades, return {:.2}%",
            warm.metrics.num_trades, warm.metrics.return_pct
        );
        g.bench_function(format!("{name}_1m_bars_cached"), |b| {
            b.iter(|| {
                let r = backtest::backtest(&candles, strat, &params, &config, &cache).unwrap();
                black_box(r.metrics.sharpe)
            })
        });
    }
    g.finish();
}

/// fabio's indicator alone: the rolling volume profile (window 30, 24 bins, 70%) of the same bars,
/// on the pool's threads (stretches) as a backtest computes it.
fn volume_profile(c: &mut Criterion) {
    let candles = generate(&SyntheticSpec::new(BARS, 42, Interval::Minute1));
    let mut g = c.benchmark_group("indicators");
    g.sample_size(10);
    g.throughput(Throughput::Elements(BARS as u64));
    g.bench_function("volume_profile_1m_bars", |b| {
        b.iter(|| {
            let p = indicators::volume_profile(
                &candles.high,
                &candles.low,
                &candles.volume,
                30,
                24,
                indicators::volume_profile::DEFAULT_VALUE_SHARE,
            );
            black_box(p.poc[BARS - 1])
        })
    });
    g.finish();
}

criterion_group!(benches, strategies, volume_profile);
criterion_main!(benches);
