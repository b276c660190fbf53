//! `fetch --resample SYMBOL/FROM --to TO`: hand-built stored bars resampled into the store, every
//! aggregate worked out by hand (open of the first bar, highest high, lowest low, close of the last,
//! summed volume), the calendar rules (UTC buckets labelled by their start, weeks from Monday, calendar
//! months, the forming last bucket left out), refusals, and merging into an existing file.

use flowrex::candles::time::{TimeFormat, parse_time};
use flowrex::candles::{Bar, DAY_MS, MINUTE_MS};

use crate::support::{Run, empty_home, flowrex, json, load, seed};

fn at(s: &str) -> i64 {
    parse_time(s, TimeFormat::Iso).unwrap()
}

fn bar(ts: i64, (open, high, low, close): (f64, f64, f64, f64), volume: f64) -> Bar {
    Bar {
        ts,
        open,
        high,
        low,
        close,
        volume,
    }
}

fn resample(home: &std::path::Path, source: &str, to: &str, extra: &[&str]) -> Run {
    Run::of(
        flowrex(home)
            .args(["fetch", "--resample", source, "--to", to])
            .args(extra),
    )
}

/// 150 one-minute bars from 2024-01-02T10:00Z: flat (100, 101, 99, 100) except the marked ones.
fn minutes() -> Vec<Bar> {
    let t0 = at("2024-01-02T10:00:00Z");
    (0..150)
        .map(|i| {
            let ohlc = match i {
                0 => (90.0, 101.0, 89.5, 100.0),    // first open of hour 1
                17 => (100.0, 130.0, 99.0, 100.0),  // highest high of hour 1
                42 => (100.0, 101.0, 70.0, 100.0),  // lowest low of hour 1
                59 => (100.0, 112.0, 99.0, 111.0),  // last close of hour 1
                60 => (95.0, 101.0, 94.0, 100.0),   // first open of hour 2
                80 => (100.0, 101.0, 60.0, 100.0),  // lowest low of hour 2
                100 => (100.0, 140.0, 99.0, 100.0), // highest high of hour 2
                119 => (100.0, 106.0, 99.0, 105.0), // last close of hour 2
                _ => (100.0, 101.0, 99.0, 100.0),
            };
            // Volume: i in hour 1, 2 in hour 2, 1 in the unfinished hour 3.
            let volume = match i {
                0..60 => i as f64,
                60..120 => 2.0,
                _ => 1.0,
            };
            bar(t0 + i * MINUTE_MS, ohlc, volume)
        })
        .collect()
}

#[test]
fn minutes_into_hours_by_hand() {
    let home = empty_home();
    seed(home.path(), "X", "1m", &minutes());
    let run = resample(home.path(), "X/1m", "1h", &["--json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let doc = json(&run);
    assert_eq!(doc["bars_read"], 150);
    assert_eq!(doc["bars_written"], 2);
    // 12:00–12:29 is half an hour: its bucket ends at 13:00, after the last bar's close (12:30).
    assert_eq!(doc["forming_left_out"], "2024-01-02T12:00:00Z");
    assert_eq!(doc["first_bucket_starts_late"], serde_json::Value::Null);
    assert_eq!(doc["added"], 2);
    let h = load(home.path(), "X", "1h");
    assert_eq!(
        h.ts,
        [at("2024-01-02T10:00:00Z"), at("2024-01-02T11:00:00Z")]
    );
    // Hour 1: open 90 (bar 0), high 130 (bar 17), low 70 (bar 42), close 111 (bar 59),
    // volume 0 + 1 + … + 59 = 59·60/2 = 1770.
    assert_eq!(
        (h.open[0], h.high[0], h.low[0], h.close[0], h.volume[0]),
        (90.0, 130.0, 70.0, 111.0, 1770.0)
    );
    // Hour 2: open 95 (bar 60), high 140 (bar 100), low 60 (bar 80), close 105 (bar 119), 60 × 2.
    assert_eq!(
        (h.open[1], h.high[1], h.low[1], h.close[1], h.volume[1]),
        (95.0, 140.0, 60.0, 105.0, 120.0)
    );
    // The half hour left out stays out; once the hour is complete, a re-run adds it and keeps the two.
    let mut more = minutes();
    let t = at("2024-01-02T12:30:00Z");
    more.extend((0..30).map(|i| bar(t + i * MINUTE_MS, (100.0, 101.0, 99.0, 100.0), 1.0)));
    seed(home.path(), "X", "1m", &more);
    let doc = json(&resample(home.path(), "X/1m", "1h", &["--json"]));
    assert_eq!(
        (doc["added"].as_u64(), doc["unchanged"].as_u64()),
        (Some(1), Some(2))
    );
    let h = load(home.path(), "X", "1h");
    // Hour 3: 60 flat bars of volume 1.
    assert_eq!(
        (
            h.ts[2],
            h.open[2],
            h.high[2],
            h.low[2],
            h.close[2],
            h.volume[2]
        ),
        (at("2024-01-02T12:00:00Z"), 100.0, 101.0, 99.0, 100.0, 60.0)
    );
}

/// Daily bars from `first` for `n` days, bar k = (10 + k, 11 + k, 9 + k, 10.5 + k), volume k + 1.
fn days(first: &str, n: i64) -> Vec<Bar> {
    let t0 = at(first);
    (0..n)
        .map(|k| {
            let p = 10.0 + k as f64;
            bar(
                t0 + k * DAY_MS,
                (p, p + 1.0, p - 1.0, p + 0.5),
                k as f64 + 1.0,
            )
        })
        .collect()
}

#[test]
fn weeks_start_on_monday_and_months_follow_the_calendar() {
    let home = empty_home();
    // Mon 2024-01-01 … Wed 2024-01-10 (k = 0 … 9). Week 1 (k 0–6) has closed: open 10 (k 0), high
    // 17 (k 6: 16 + 1), low 9 (k 0), close 16.5 (k 6), volume 1 + … + 7 = 28. Week 2 (Mon 01-08 …) is
    // still forming.
    seed(home.path(), "W", "1d", &days("2024-01-01T00:00:00Z", 10));
    let run = resample(home.path(), "W/1d", "1w", &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("the last 1w bar (from 2024-01-08) has not closed: left out")
    );
    let w = load(home.path(), "W", "1w");
    assert_eq!(w.ts, [at("2024-01-01T00:00:00Z")]);
    assert_eq!(
        (w.open[0], w.high[0], w.low[0], w.close[0], w.volume[0]),
        (10.0, 17.0, 9.0, 16.5, 28.0)
    );
    // 2024-01-15 (k 0) … 2024-03-05 (k 50; 2024 is a leap year: 17 January days + 29 + 5). January
    // starts late (said on stderr) and is labelled 2024-01-01; February is k 17 … 45: open 27, high
    // 56, low 26, close 55.5, volume 18 + … + 46 = (18 + 46)·29/2 = 928. March is forming.
    seed(home.path(), "M", "1d", &days("2024-01-15T00:00:00Z", 51));
    let run = resample(home.path(), "M/1d", "1M", &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("the first 1M bar holds only the bars from 2024-01-15 on"),
        "{}",
        run.stderr
    );
    let m = load(home.path(), "M", "1M");
    assert_eq!(
        m.ts,
        [at("2024-01-01T00:00:00Z"), at("2024-02-01T00:00:00Z")]
    );
    assert_eq!(
        (m.open[1], m.high[1], m.low[1], m.close[1], m.volume[1]),
        (27.0, 56.0, 26.0, 55.5, 928.0)
    );
    // January: k 0 … 16: open 10, high 27, low 9, close 26.5, volume 1 + … + 17 = 153.
    assert_eq!(
        (m.open[0], m.high[0], m.low[0], m.close[0], m.volume[0]),
        (10.0, 27.0, 9.0, 26.5, 153.0)
    );
}

#[test]
fn bars_that_straddle_buckets_and_conflicts_are_refused() {
    let home = empty_home();
    // Forex-style daily bars opening at 22:00 UTC span two UTC days.
    seed(home.path(), "F", "1d", &days("2024-01-07T22:00:00Z", 10));
    let run = resample(home.path(), "F/1d", "1w", &[]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains(
            "F 1d bar 2024-01-07T22:00:00Z does not fit in one 1w bucket (buckets are UTC days"
        ),
        "{}",
        run.stderr
    );
    assert!(!home.path().join("data/F/1w.parquet").exists());
    // Shorter or equal targets, unknown files.
    let run = resample(home.path(), "F/1d", "1h", &[]);
    assert_eq!(run.code, 2);
    let run = resample(home.path(), "NOPE/1m", "1h", &[]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("no candles stored for NOPE 1m"),
        "{}",
        run.stderr
    );
    // A stored weekly bar with other values is a conflict unless --replace.
    seed(home.path(), "W", "1d", &days("2024-01-01T00:00:00Z", 8));
    assert_eq!(resample(home.path(), "W/1d", "1w", &[]).code, 0);
    let mut changed = days("2024-01-01T00:00:00Z", 8);
    changed[3].volume = 100.0;
    let store = flowrex::home::Home::layout(home.path()).store();
    store
        .merge(
            "W",
            "1d".parse().unwrap(),
            &flowrex::candles::Candles::from_bars(&changed),
            "t",
            true,
        )
        .unwrap();
    let before = std::fs::read(home.path().join("data/W/1w.parquet")).unwrap();
    let run = resample(home.path(), "W/1d", "1w", &[]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(
        std::fs::read(home.path().join("data/W/1w.parquet")).unwrap(),
        before
    );
    let run = resample(home.path(), "W/1d", "1w", &["--replace", "--json"]);
    assert_eq!(json(&run)["replaced"], 1);
    // Volume of week 1: 1 + 2 + 3 + 100 + 5 + 6 + 7 = 124.
    assert_eq!(load(home.path(), "W", "1w").volume[0], 124.0);
    // --to without --resample is a usage error, also beside --list (clap alone let that pass).
    for extra in [&["--to", "4h"][..], &["--list", "--to", "4h"]] {
        let run = Run::of(flowrex(home.path()).arg("fetch").args(extra));
        assert_eq!(run.code, 2, "{extra:?}: {}", run.stderr);
        assert!(run.stderr.contains("--resample"), "{}", run.stderr);
    }
}
