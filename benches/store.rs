//! Candle store benchmarks: loading 1,000,000 bars from Parquet, and importing the bundled EURUSD CSV.

use std::fmt::Write;
use std::hint::black_box;
use std::path::Path;

use criterion::{Criterion, criterion_group, criterion_main};
use flowrex::candles::Interval;
use flowrex::candles::csv_import::read_csv;
use flowrex::candles::store::{StoreMeta, read_parquet, write_parquet};
use flowrex::candles::synthetic::{SyntheticSpec, generate};
use flowrex::candles::time::{TimeFormat, TimeRange};
use sha2::{Digest, Sha256};

fn load_million(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("1m.parquet");
    let candles = generate(&SyntheticSpec::new(1_000_000, 7, Interval::Minute1));
    write_parquet(&path, &candles, &StoreMeta::default()).unwrap();
    let mut g = c.benchmark_group("store");
    g.sample_size(20);
    g.bench_function("load_1m_bars", |b| {
        b.iter(|| black_box(read_parquet(&path, &TimeRange::ALL).unwrap().0.len()))
    });
    let (lo, hi) = (candles.ts[500_000], candles.ts[600_000]);
    g.bench_function("load_100k_of_1m_bars_by_range", |b| {
        b.iter(|| {
            let range = TimeRange {
                start: Some(lo),
                end: Some(hi),
            };
            black_box(read_parquet(&path, &range).unwrap().0.len())
        })
    });
    g.bench_function("write_1m_bars_atomic", |b| {
        b.iter(|| write_parquet(&path, &candles, &StoreMeta::default()).unwrap())
    });
    g.bench_function("generate_1m_synthetic_bars", |b| {
        b.iter(|| black_box(generate(&SyntheticSpec::new(1_000_000, 7, Interval::Minute1)).len()))
    });
    g.finish();
}

fn import_eurusd(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("EURUSD.csv");
    std::fs::write(&csv, eurusd_csv()).unwrap();
    let mut g = c.benchmark_group("import");
    g.sample_size(20);
    g.bench_function("csv_parse_eurusd_5000_rows", |b| {
        b.iter(|| black_box(read_csv(&csv, TimeFormat::Auto).unwrap().0.len()))
    });
    g.bench_function("csv_import_eurusd_into_empty_store", |b| {
        b.iter(|| {
            let home = tempfile::tempdir().unwrap();
            let (candles, _) = read_csv(&csv, TimeFormat::Auto).unwrap();
            flowrex::home::Home::layout(home.path())
                .store()
                .merge("EURUSD", Interval::Hour1, &candles, "csv:EURUSD.csv", false)
                .unwrap()
        })
    });
    g.finish();
}

/// backtesting.py 0.6.6's EURUSD.csv (docs/data.md), printed back from the bundled store: the store holds
/// its values exactly and the file prints byte for byte as the original (its sha256 is checked), so the
/// bench parses the real file without needing it beside the repository.
fn eurusd_csv() -> String {
    let home = Path::new(env!("CARGO_MANIFEST_DIR"));
    let c = flowrex::home::Home::layout(home)
        .store()
        .load("EURUSD", Interval::Hour1, &TimeRange::ALL)
        .unwrap();
    let mut text = String::from(",Open,High,Low,Close,Volume\n");
    for i in 0..c.len() {
        let time = chrono::DateTime::from_timestamp_millis(c.ts[i]).unwrap();
        let (o, h, l, cl, v) = (c.open[i], c.high[i], c.low[i], c.close[i], c.volume[i]);
        let time = time.format("%Y-%m-%d %H:%M:%S");
        writeln!(text, "{time},{o},{h},{l},{cl},{v}").unwrap();
    }
    let sha: String = Sha256::digest(&text)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(
        sha, "81e977905a006cc8fbc034ebdb83c999a8ed6ba00191dc7ea5ef5b386fb74a82",
        "not backtesting.py's EURUSD.csv"
    );
    text
}

criterion_group!(benches, load_million, import_eurusd);
criterion_main!(benches);
