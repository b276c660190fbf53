//! Candle store benchmarks: loading 1,000,000 bars from Parquet, and importing the bundled EURUSD CSV.

use std::hint::black_box;
use std::path::Path;

use criterion::{Criterion, criterion_group, criterion_main};
use flowrex::candles::csv_import::read_csv;
use flowrex::candles::store::{StoreMeta, read_parquet, write_parquet};
use flowrex::candles::synthetic::{SyntheticSpec, generate};
use flowrex::candles::time::{TimeFormat, TimeRange};
use flowrex::candles::{Interval, Store};

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
    // The bundled EURUSD history, as shipped in ../shared/data (the bench needs that folder).
    let csv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/EURUSD.csv");
    if !csv.exists() {
        eprintln!("skipping import_eurusd: {} not found", csv.display());
        return;
    }
    let mut g = c.benchmark_group("import");
    g.sample_size(20);
    g.bench_function("csv_parse_eurusd_5000_rows", |b| {
        b.iter(|| black_box(read_csv(&csv, TimeFormat::Auto).unwrap().0.len()))
    });
    g.bench_function("csv_import_eurusd_into_empty_store", |b| {
        b.iter(|| {
            let home = tempfile::tempdir().unwrap();
            let (candles, _) = read_csv(&csv, TimeFormat::Auto).unwrap();
            Store::new(home.path())
                .merge("EURUSD", Interval::Hour1, &candles, "csv:EURUSD.csv", false)
                .unwrap()
        })
    });
    g.finish();
}

criterion_group!(benches, load_million, import_eurusd);
criterion_main!(benches);
