//! Report benchmarks, each iteration building the whole page:
//! - through the composition the CLI uses (`report::compose::backtest_page` from a real run: trade
//!   records, buy-and-hold, metrics through the field table, rendering) and the atomic write the CLI
//!   does: 1,000,000 one-minute synthetic bars with ~50,000 sma_cross trades (target: under 1 s and
//!   under 3 MB), and the bundled GOOG data with the README's sma_cross run (under 300 KB);
//! - the renderer alone on synthetic inputs of the same sizes (`backtest_report`).
//!
//! The backtests themselves run once, outside the timing.

use std::hint::black_box;
use std::path::Path;

use criterion::{Criterion, criterion_group, criterion_main};
use flowrex::atomic::write_atomic;
use flowrex::backtest::{DataSpec, RunSpec};
use flowrex::candles::synthetic::{SyntheticSpec, generate};
use flowrex::candles::{Candles, Interval, Store, TimeRange};
use flowrex::engine::BacktestConfig;
use flowrex::indicators::IndicatorCache;
use flowrex::report::compose::backtest_page;
use flowrex::report::{BacktestInput, BacktestOptions, backtest_report, buy_and_hold};
use flowrex::trade::{ExitReason, Side, TradeRecord};

// builds `TradeRecord`s through `super::{ExitReason, Side, TradeRecord}`, imported above
#[path = "../src/report/testdata.rs"]
mod testdata;

/// A run of sma_cross over `candles` with `overrides`, and its page composed as the CLI composes it.
fn composed_case(c: &mut Criterion, name: &str, candles: &Candles, spec: &RunSpec, dir: &Path) {
    let report = spec.run(candles, &IndicatorCache::new()).unwrap();
    let opts = BacktestOptions::default();
    let out = dir.join(format!("{name}.html"));
    let html = backtest_page(spec, candles, &report, &[], &opts).unwrap();
    eprintln!(
        "{name}: {} bars, {} trades → {} bytes",
        candles.len(),
        report.run.trades.len(),
        html.len()
    );
    c.bench_function(name, |b| {
        b.iter(|| {
            let html = backtest_page(spec, candles, &report, &[], &opts).unwrap();
            write_atomic(&out, html.as_bytes()).unwrap();
            black_box(html.len())
        })
    });
}

fn spec(symbol: &str, interval: Interval, params: &[(&str, &str)], commission: f64) -> RunSpec {
    let overrides: Vec<(String, String)> = params
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    RunSpec::new(
        flowrex::strategy::lookup("sma_cross").unwrap(),
        &overrides,
        DataSpec::new(symbol, interval, None, None).unwrap(),
        BacktestConfig {
            commission,
            ..BacktestConfig::default()
        },
    )
    .unwrap()
}

fn composed(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    // 1,000,000 minutes; fast=13/slow=22 crosses about every 20 bars: 51,017 trades (seed 42)
    let big = generate(&SyntheticSpec::new(1_000_000, 42, Interval::Minute1));
    let s = spec(
        "SYNTH",
        Interval::Minute1,
        &[("fast", "13"), ("slow", "22")],
        0.0,
    );
    composed_case(c, "report_page_1m_bars_50k_trades", &big, &s, dir.path());
    // the bundled GOOG data, the README's run
    let store = Store::at(Path::new(env!("CARGO_MANIFEST_DIR")).join("data"));
    let goog = store.load("GOOG", Interval::Day1, &TimeRange::ALL).unwrap();
    let s = spec(
        "GOOG",
        Interval::Day1,
        &[("fast", "10"), ("slow", "20")],
        0.002,
    );
    composed_case(c, "report_page_goog", &goog, &s, dir.path());
}

fn rendered_case(c: &mut Criterion, name: &str, bars: usize, trades: usize, bar_ms: i64) {
    let d = testdata::synthetic(bars, trades, bar_ms, 42);
    let bh = buy_and_hold(&d.close, 0, 10_000.0);
    let m = flowrex::metrics::compute(&Candles::default(), &Default::default());
    let input = BacktestInput {
        title: name,
        subtitle: "synthetic",
        metrics: &m,
        ts: &d.ts,
        close: &d.close,
        equity: &d.equity,
        trades: &d.trades,
        buy_hold: Some(&bh),
        notes: &[],
    };
    let opts = BacktestOptions::default();
    let html = backtest_report(&input, &opts).unwrap();
    eprintln!(
        "{name}: {bars} bars, {trades} trades → {} bytes",
        html.len()
    );
    c.bench_function(name, |b| {
        b.iter(|| black_box(backtest_report(&input, &opts).unwrap().len()))
    });
}

fn rendered(c: &mut Criterion) {
    rendered_case(
        c,
        "backtest_report_1m_bars_50k_trades",
        1_000_000,
        50_000,
        60_000,
    );
    rendered_case(c, "backtest_report_goog_sized", 2148, 93, 86_400_000);
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10);
    targets = composed, rendered
}
criterion_main!(benches);
