//! Fetch benchmark: parse one 5000-row TwelveData `/time_series` page and merge it into a 1,000,000-row
//! store file, atomic write included (target: under 300 ms).

use std::hint::black_box;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use flowrex::candles::store::{StoreMeta, write_parquet};
use flowrex::candles::synthetic::{SyntheticSpec, generate};
use flowrex::candles::{Candles, Interval};
use flowrex::providers::twelvedata::{PAGE_SIZE, parse_time_series};

/// A TwelveData answer for `c`, numbers as strings, as the API sends them.
fn page_json(c: &Candles) -> String {
    let mut values = Vec::with_capacity(c.len());
    for b in c.bars() {
        let dt = chrono::DateTime::from_timestamp_millis(b.ts).expect("valid time");
        values.push(serde_json::json!({
            "datetime": dt.format("%Y-%m-%d %H:%M:%S").to_string(),
            "open": format!("{:.5}", b.open),
            "high": format!("{:.5}", b.high),
            "low": format!("{:.5}", b.low),
            "close": format!("{:.5}", b.close),
            "volume": format!("{}", b.volume),
        }));
    }
    serde_json::json!({
        "meta": {"symbol": "SYNTH", "interval": "1min", "currency": "USD", "exchange_timezone": "UTC"},
        "values": values,
        "status": "ok",
    })
    .to_string()
}

fn parse_and_merge(c: &mut Criterion) {
    let home = tempfile::tempdir().unwrap();
    let store = flowrex::home::Home::layout(home.path()).store();
    let interval = Interval::Minute1;
    let stored = generate(&SyntheticSpec::new(1_000_000, 7, interval));
    let path = store.path("SYNTH", interval).unwrap();
    // The pristine store file, copied back before every iteration so each one really rewrites it.
    let pristine = home.path().join("pristine.parquet");
    write_parquet(&pristine, &stored, &StoreMeta::default()).unwrap();
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    // The page starts at the last stored bar (the incremental overlap) with other values: one revision
    // and 4999 new bars.
    let last = *stored.ts.last().unwrap();
    let page = generate(&SyntheticSpec {
        start_ms: last,
        ..SyntheticSpec::new(PAGE_SIZE, 8, interval)
    });
    let body = page_json(&page);

    let mut g = c.benchmark_group("fetch");
    g.sample_size(10);
    g.bench_function("parse_5000_row_twelvedata_page", |b| {
        b.iter(|| black_box(parse_time_series(&body, "page 1").unwrap().candles.len()))
    });
    g.bench_function("parse_5000_rows_and_merge_into_1m_row_store_file", |b| {
        b.iter_batched(
            || std::fs::copy(&pristine, &path).unwrap(),
            |_| {
                let p = parse_time_series(&body, "page 1").unwrap();
                let s = store
                    .merge("SYNTH", interval, &p.candles, "twelvedata", true)
                    .unwrap();
                assert_eq!((s.added, s.replaced, s.total), (4_999, 1, 1_004_999));
                black_box(s)
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

criterion_group!(benches, parse_and_merge);
criterion_main!(benches);
