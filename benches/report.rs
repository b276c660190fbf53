//! Report rendering benchmarks: the backtest report for 1,000,000 one-minute bars and 50,000 trades
//! (target: under 1 s and under 3 MB), and a GOOG-sized one (2148 daily bars, 93 trades; under
//! 300 KB). Inputs are synthetic and built once; each iteration renders the whole page to a String.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use flowrex::report::{BacktestInput, BacktestOptions, ReportTrade, backtest_report, buy_and_hold};

// builds `ReportTrade`s through `super::ReportTrade`, imported above
#[path = "../src/report/testdata.rs"]
mod testdata;

fn metrics() -> Vec<(String, String)> {
    (0..30)
        .map(|i| (format!("metric {i}"), format!("{:.4}", i as f64 * 1.2345)))
        .collect()
}

fn bench_case(c: &mut Criterion, name: &str, bars: usize, trades: usize, bar_ms: i64) {
    let d = testdata::synthetic(bars, trades, bar_ms, 42);
    let bh = buy_and_hold(&d.close, 10_000.0);
    let m = metrics();
    let input = BacktestInput {
        title: name,
        subtitle: "synthetic",
        metrics: &m,
        ts: &d.ts,
        close: &d.close,
        equity: &d.equity,
        trades: &d.trades,
        buy_hold: Some(&bh),
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

fn reports(c: &mut Criterion) {
    bench_case(
        c,
        "backtest_report_1m_bars_50k_trades",
        1_000_000,
        50_000,
        60_000,
    );
    bench_case(c, "backtest_report_goog_sized", 2148, 93, 86_400_000);
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10);
    targets = reports
}
criterion_main!(benches);
