//! Integration tests of the candle store through the binary: CSV import in every flavour, validation
//! messages, conflicts, atomicity under concurrency and crashes, listing and verification.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use flowrex::candles::time::TimeRange;
use flowrex::candles::{Candles, Interval};

use crate::support::{
    bundled_home, empty_home, flowrex, flowrex_std, load, stderr_of, stdout_json, write,
};

fn import(home: &Path, file: &Path, symbol: &str, interval: &str) -> assert_cmd::assert::Assert {
    flowrex(home)
        .args([
            "fetch",
            "--provider",
            "csv",
            "--symbol",
            symbol,
            "--interval",
            interval,
            "--file",
        ])
        .arg(file)
        .assert()
}

/// Each value must come back bit for bit equal to Rust's own parse of the CSV text.
fn assert_values(c: &Candles, rows: &[[&str; 5]]) {
    assert_eq!(c.len(), rows.len());
    for (i, r) in rows.iter().enumerate() {
        let got = [c.open[i], c.high[i], c.low[i], c.close[i], c.volume[i]];
        for (g, want) in got.iter().zip(r) {
            assert_eq!(
                g.to_bits(),
                want.parse::<f64>().unwrap().to_bits(),
                "row {i}: {g} vs {want}"
            );
        }
    }
}

const ROWS: [[&str; 5]; 3] = [
    ["100.0", "104.06", "95.96", "100.34", "22351900"],
    [
        "1.0712345678901234",
        "1.0800000000000001",
        "0.1",
        "0.30000000000000004",
        "0.5",
    ],
    ["3e-7", "4.5e-7", "1e-7", "2.0000000000000004e-7", "0"],
];

#[test]
fn every_csv_flavour_round_trips_bit_for_bit() {
    let home = empty_home();
    // 2004-08-19, 2004-08-20 and 2004-08-23, midnight UTC.
    let days = [1_092_873_600_000_i64, 1_092_960_000_000, 1_093_219_200_000];
    let body = |times: [&str; 3], with_volume: bool| -> String {
        (0..3)
            .map(|i| {
                let r = ROWS[i];
                let v = if with_volume {
                    format!(",{}", r[4])
                } else {
                    String::new()
                };
                format!("{},{},{},{},{}{v}\n", times[i], r[0], r[1], r[2], r[3])
            })
            .collect()
    };
    let flavours = [
        (
            ",Open,High,Low,Close,Volume\n",
            ["2004-08-19", "2004-08-20", "2004-08-23"],
            true,
        ),
        (
            "Datetime,open,high,low,close,vol\n",
            [
                "2004-08-19T02:00:00+02:00",
                "2004-08-20 00:00:00",
                "2004-08-23T00:00:00Z",
            ],
            true,
        ),
        (
            "timestamp,O,H,L,C,V\n",
            ["1092873600", "1092960000", "1093219200"],
            true,
        ),
        (
            "TS,o,h,l,c\n",
            ["1092873600000", "1092960000000", "1093219200000"],
            false,
        ),
    ];
    for (k, (header, times, with_volume)) in flavours.into_iter().enumerate() {
        let file = write(
            home.path(),
            &format!("f{k}.csv"),
            &(header.to_string() + &body(times, with_volume)),
        );
        let symbol = format!("S{k}");
        let out = import(home.path(), &file, &symbol, "1d").success();
        let stderr = stderr_of(&out);
        let c = load(home.path(), &symbol, "1d");
        assert_eq!(c.ts, days, "flavour {k}");
        if with_volume {
            assert_values(&c, &ROWS);
        } else {
            let zero_volume: Vec<[&str; 5]> =
                ROWS.iter().map(|r| [r[0], r[1], r[2], r[3], "0"]).collect();
            assert_values(&c, &zero_volume);
            assert!(
                stderr.contains("no volume column: volume imported as 0"),
                "{stderr}"
            );
        }
    }
}

#[test]
fn each_validation_problem_is_named_and_the_store_is_untouched() {
    let home = empty_home();
    let good = write(
        home.path(),
        "good.csv",
        "date,open,high,low,close,volume\n2020-01-01,10,11,9,10.5,100\n",
    );
    import(home.path(), &good, "X", "1d").success();
    let stored = home.path().join("data/X/1d.parquet");
    let before = std::fs::read(&stored).unwrap();

    let cases = [
        ("2020-01-02,10,11,9,NaN,100", "line 2: close is NaN"),
        ("2020-01-02,10,inf,9,10,100", "line 2: high is inf"),
        (
            "2020-01-02,10,abc,9,10,100",
            "line 2: high: unparsable number 'abc'",
        ),
        (
            "2020-01-02,10,10.2,9,10.5,100",
            "line 2: high 10.2 < close 10.5",
        ),
        (
            "2020-01-02,10,11,10.1,10.5,100",
            "line 2: low 10.1 > open 10",
        ),
        (
            "2020-01-02,10,11,9,10.5,-1",
            "line 2: volume -1 is negative",
        ),
        (
            "not-a-date,10,11,9,10.5,1",
            "line 2: time: unparsable time 'not-a-date'",
        ),
        (
            "2020-01-02,10,11,9,10.5,1\n2020-01-02,10,11,9,10.6,1",
            "line 3: time 2020-01-02 repeats line 2 with different values",
        ),
    ];
    for (row, message) in cases {
        let bad = write(
            home.path(),
            "bad.csv",
            &format!("date,open,high,low,close,volume\n{row}\n"),
        );
        let out = import(home.path(), &bad, "X", "1d").code(1);
        let stderr = stderr_of(&out);
        assert!(stderr.starts_with("error: "), "{stderr}");
        assert!(
            stderr.contains("bad.csv: ") && stderr.contains(message),
            "want '{message}' in {stderr}"
        );
        assert!(stderr.contains("nothing was written"), "{stderr}");
        assert_eq!(
            std::fs::read(&stored).unwrap(),
            before,
            "store changed after: {row}"
        );
    }

    // Several problems are all counted, the first few listed.
    let many: String = (1..=9)
        .map(|d| format!("2020-02-0{d},1,0.5,0.4,1,1\n"))
        .collect();
    let bad = write(
        home.path(),
        "bad.csv",
        &format!("date,open,high,low,close,volume\n{many}"),
    );
    let out = import(home.path(), &bad, "X", "1d").code(1);
    let stderr = stderr_of(&out);
    assert!(
        stderr.contains("line 2: high 0.5 < open 1; line 3: high 0.5 < open 1"),
        "{stderr}"
    );
    assert!(stderr.contains("(and 4 more) — 9 problems"), "{stderr}");
    assert_eq!(std::fs::read(&stored).unwrap(), before);
}

#[test]
fn merging_adds_bars_rejects_conflicts_and_replaces_on_request() {
    let home = empty_home();
    let header = "date,open,high,low,close,volume\n";
    let first = write(
        home.path(),
        "a.csv",
        &format!("{header}2020-01-02,1,2,0.5,1.5,10\n2020-01-01,1,2,0.5,1.5,10\n"),
    );
    let out = flowrex(home.path())
        .args([
            "--json",
            "fetch",
            "--provider",
            "csv",
            "--symbol",
            "EUR/USD",
            "--interval",
            "1h",
            "--file",
        ])
        .arg(&first)
        .assert()
        .success();
    let report = stdout_json(&out);
    assert_eq!(report["added"], 2);
    assert_eq!(report["out_of_order_sorted"], 1);
    assert!(home.path().join("data/EUR%2FUSD/1h.parquet").exists());

    let stored = home.path().join("data/EUR%2FUSD/1h.parquet");
    let before = std::fs::read(&stored).unwrap();
    let second = write(
        home.path(),
        "b.csv",
        &format!("{header}2020-01-02,1,2,0.5,1.6,10\n2020-01-03,1,2,0.5,1.5,10\n"),
    );
    let out = import(home.path(), &second, "EUR/USD", "1h").code(1);
    let stderr = stderr_of(&out);
    assert!(
        stderr.contains("1 bar(s) already stored with different values"),
        "{stderr}"
    );
    assert!(stderr.contains("--replace"), "{stderr}");
    assert_eq!(std::fs::read(&stored).unwrap(), before);

    flowrex(home.path())
        .args([
            "fetch",
            "--provider",
            "csv",
            "--symbol",
            "EUR/USD",
            "--interval",
            "1h",
            "--replace",
            "--file",
        ])
        .arg(&second)
        .assert()
        .success();
    let c = load(home.path(), "EUR/USD", "1h");
    assert_eq!(c.len(), 3);
    assert_eq!(c.close, vec![1.5, 1.6, 1.5]);
}

#[test]
fn concurrent_imports_into_one_file_keep_both() {
    let home = empty_home();
    let header = "date,open,high,low,close,volume\n";
    // Two disjoint sets of 2000 days each, one after the other. (Not interleaved day by day: a file of
    // every other day has steps of two days and is refused as daily data, see tests/it/csv_options.rs.)
    let rows = |half: i64| -> String {
        (0..2000)
            .map(|i| {
                let day = 2000 * half + i;
                format!(
                    "{},{}.0,{}.5,{}.0,{}.25,1\n",
                    86_400 * day,
                    10 + day,
                    11 + day,
                    9 + day,
                    10 + day
                )
            })
            .collect()
    };
    let a = write(home.path(), "even.csv", &format!("{header}{}", rows(0)));
    let b = write(home.path(), "odd.csv", &format!("{header}{}", rows(1)));
    for round in 0..3 {
        let spawn = |file: &Path| {
            flowrex_std(home.path())
                .args([
                    "-q",
                    "fetch",
                    "--provider",
                    "csv",
                    "--symbol",
                    &format!("C{round}"),
                    "--interval",
                    "1d",
                    "--file",
                ])
                .arg(file)
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        };
        let (pa, pb) = (spawn(&a), spawn(&b));
        let (ra, rb) = (
            pa.wait_with_output().unwrap(),
            pb.wait_with_output().unwrap(),
        );
        assert!(ra.status.success(), "{}", stderr_of(&ra));
        assert!(rb.status.success(), "{}", stderr_of(&rb));
        let c = load(home.path(), &format!("C{round}"), "1d");
        assert_eq!(c.len(), 4000);
        assert!(c.ts.windows(2).all(|w| w[1] - w[0] == 86_400_000));
    }
}

#[test]
fn a_killed_write_leaves_the_old_file_or_the_new_one() {
    let home = empty_home();
    let synth = |bars: &str, seed: &str| {
        let mut c = flowrex_std(home.path());
        c.args([
            "-q",
            "fetch",
            "--provider",
            "synthetic",
            "--symbol",
            "SYNTH",
            "--interval",
            "1m",
            "--replace",
            "--bars",
            bars,
            "--seed",
            seed,
        ]);
        c
    };
    assert!(synth("1000", "1").status().unwrap().success());
    let folder = home.path().join("data/SYNTH");
    let temp_files = || -> usize {
        std::fs::read_dir(&folder)
            .unwrap()
            .filter(|e| {
                let name = e
                    .as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .into_owned();
                name.starts_with(".1m.parquet.") && name.ends_with(".tmp")
            })
            .count()
    };
    // Kill each writer while its temp file exists, i.e. in the middle of writing 800,000 bars: wait for the
    // temp file to appear, then a few milliseconds more (0, 5, 20, 60).
    let mut killed_mid_write = 0;
    for (k, extra_ms) in [0u64, 5, 20, 60].into_iter().enumerate() {
        let before = load(home.path(), "SYNTH", "1m");
        let seed = k as u64 + 2;
        let mut child = synth("800000", &seed.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(120);
        while temp_files() == 0 && std::time::Instant::now() < deadline {
            if child.try_wait().unwrap().is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        std::thread::sleep(Duration::from_millis(extra_ms));
        let _ = child.kill();
        let status = child.wait().unwrap();
        if !status.success() && temp_files() > 0 {
            killed_mid_write += 1;
        }
        let now = load(home.path(), "SYNTH", "1m");
        let new = flowrex::candles::synthetic::generate(
            &flowrex::candles::synthetic::SyntheticSpec::new(800_000, seed, Interval::Minute1),
        );
        assert!(
            now == before || now == new,
            "a torn file: {} rows",
            now.len()
        );
    }
    assert!(
        killed_mid_write > 0,
        "no kill landed inside a write; the test did not test anything"
    );
    // The next write (under the file's lock) clears the temp files the killed writers left behind.
    assert!(synth("1000", "1").status().unwrap().success());
    let mut left: Vec<String> = std::fs::read_dir(&folder)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left, ["1m.parquet", "1m.parquet.lock"]);
}

#[test]
fn a_time_range_load_returns_exactly_the_bars_inside_it() {
    let home = empty_home();
    flowrex(home.path())
        .args([
            "-q",
            "fetch",
            "--provider",
            "synthetic",
            "--symbol",
            "R",
            "--interval",
            "1m",
            "--bars",
            "200000",
            "--seed",
            "3",
        ])
        .assert()
        .success();
    let store = flowrex::home::Home::layout(home.path()).store();
    let all = store.load("R", Interval::Minute1, &TimeRange::ALL).unwrap();
    let (lo, hi) = (all.ts[70_000], all.ts[140_000]);
    let part = store
        .load(
            "R",
            Interval::Minute1,
            &TimeRange {
                start: Some(lo),
                end: Some(hi),
            },
        )
        .unwrap();
    assert_eq!(part, all.slice(70_000..140_001));
    let empty = store
        .load(
            "R",
            Interval::Minute1,
            &TimeRange {
                start: Some(all.ts[199_999] + 1),
                end: None,
            },
        )
        .unwrap();
    assert!(empty.is_empty());
}

#[test]
fn the_same_seed_gives_the_same_synthetic_rows() {
    let (a, b) = (empty_home(), empty_home());
    for home in [a.path(), b.path()] {
        flowrex(home)
            .args([
                "-q",
                "fetch",
                "--provider",
                "synthetic",
                "--symbol",
                "S",
                "--interval",
                "5m",
                "--bars",
                "5000",
                "--seed",
                "11",
            ])
            .assert()
            .success();
    }
    assert_eq!(
        load(a.path(), "S", "5m").sha256(),
        load(b.path(), "S", "5m").sha256()
    );
}

#[test]
fn the_bundled_store_lists_three_real_symbols() {
    let home = bundled_home();
    let out = flowrex(home.path())
        .args(["--json", "fetch", "--list"])
        .assert()
        .success();
    let rows = stdout_json(&out);
    let got: Vec<(String, String, u64)> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["symbol"].as_str().unwrap().into(),
                r["interval"].as_str().unwrap().into(),
                r["rows"].as_u64().unwrap(),
            )
        })
        .collect();
    // Row counts as documented in docs/data.md.
    for want in [
        ("BTCUSD", "1M", 156),
        ("EURUSD", "1h", 5000),
        ("GOOG", "1d", 2148),
    ] {
        assert!(
            got.contains(&(want.0.into(), want.1.into(), want.2)),
            "{want:?} not in {got:?}"
        );
    }
    let goog = load(home.path(), "GOOG", "1d");
    assert_eq!((goog.open[0], goog.close[0]), (100.0, 100.34)); // first row of GOOG.csv
}

#[test]
fn verify_reports_gaps_and_rejects_a_damaged_file() {
    let home = empty_home();
    // Monday 2024-01-01 to Friday 2024-01-12, without Wednesday 2024-01-10.
    let days = ["01", "02", "03", "04", "05", "08", "09", "11", "12"];
    let rows: String = days
        .iter()
        .map(|d| format!("2024-01-{d},1,2,0.5,1.5,1\n"))
        .collect();
    let file = write(
        home.path(),
        "d.csv",
        &format!("date,open,high,low,close,volume\n{rows}"),
    );
    import(home.path(), &file, "D", "1d").success();
    let out = flowrex(home.path())
        .args(["--json", "fetch", "--verify", "D/1d"])
        .assert()
        .success();
    let report = stdout_json(&out);
    assert_eq!(report["missing_bars"], 1, "{report}");
    assert_eq!(report["gaps"][0]["after_ts"], 1_704_758_400_000_i64); // 2024-01-09
    assert_eq!(report["gaps"][0]["after"], "2024-01-09T00:00:00Z");

    std::fs::write(
        home.path().join("data/D/1d.parquet"),
        b"PAR1 this is not parquet",
    )
    .unwrap();
    let out = flowrex(home.path())
        .args(["fetch", "--verify", "D/1d"])
        .assert()
        .code(3);
    let stderr = stderr_of(&out);
    assert!(
        stderr.contains("verification failed") && stderr.contains("1d.parquet"),
        "{stderr}"
    );
}

#[test]
fn list_shows_a_damaged_file_beside_the_good_ones_and_exits_1() {
    let home = empty_home();
    let good = write(
        home.path(),
        "g.csv",
        "date,open,high,low,close,volume\n2024-01-02,1,2,0.5,1.5,1\n",
    );
    import(home.path(), &good, "GOOD", "1d").success();
    std::fs::create_dir_all(home.path().join("data/BAD")).unwrap();
    std::fs::write(home.path().join("data/BAD/1h.parquet"), b"not parquet").unwrap();
    let out = flowrex(home.path())
        .args(["--json", "fetch", "--list"])
        .assert()
        .code(1);
    let rows = stdout_json(&out);
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 2, "{rows:?}");
    let bad = rows.iter().find(|r| r["symbol"] == "BAD").unwrap();
    assert!(
        bad["status"].as_str().unwrap().starts_with("damaged: "),
        "{bad}"
    );
    let good = rows.iter().find(|r| r["symbol"] == "GOOD").unwrap();
    assert_eq!(
        (good["status"].as_str(), good["rows"].as_u64()),
        (Some("ok"), Some(1))
    );
}

#[test]
fn a_missing_store_file_says_how_to_import() {
    let home = empty_home();
    let err = flowrex::home::Home::layout(home.path())
        .store()
        .load("NOPE", Interval::Day1, &TimeRange::ALL)
        .unwrap_err()
        .to_string();
    assert!(err.contains("flowrex fetch --provider csv"), "{err}");
}

#[test]
fn an_unknown_config_key_is_an_error_naming_key_and_file() {
    let home = empty_home();
    write(
        home.path(),
        "flowrex.toml",
        "# settings\nstorage_dir = 'x'\n",
    );
    let out = flowrex(home.path())
        .args(["fetch", "--list"])
        .assert()
        .code(1);
    let stderr = stderr_of(&out);
    assert!(
        stderr.contains("flowrex.toml: line 2:") && stderr.contains("storage_dir"),
        "{stderr}"
    );
}

#[test]
fn a_closed_pipe_ends_quietly() {
    let home = bundled_home();
    let mut child = flowrex_std(home.path())
        .args(["fetch", "--verify", "EURUSD/1h", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = stderr_of(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn usage_errors_exit_with_2() {
    let home = empty_home();
    flowrex(home.path())
        .args([
            "fetch",
            "--provider",
            "csv",
            "--symbol",
            "X",
            "--interval",
            "1d",
        ])
        .assert()
        .code(2);
    flowrex(home.path())
        .args(["fetch", "--verify", "nointerval"])
        .assert()
        .code(2);
    flowrex(home.path())
        .args([
            "fetch",
            "--provider",
            "csv",
            "--symbol",
            "X",
            "--interval",
            "2h",
            "--file",
            "x",
        ])
        .assert()
        .code(2);
}

// ---------------------------------------------------------------------------------------------------
// Hardening: implausible input is refused, loads never lose rows, symbols never escape or collide.

use flowrex::candles::store::{StoreMeta, write_parquet};
use flowrex::candles::{Bar, DAY_MS, HOUR_MS, MINUTE_MS};

/// 2024-01-01T00:00:00Z, a Monday.
const JAN1_2024: i64 = 1_704_067_200_000;

/// Runs the binary, killing it after `secs`: a run that outlives its deadline fails the test (a hang
/// must not hang the suite).
fn run_with_deadline(home: &Path, args: &[&str], secs: u64) -> std::process::Output {
    let mut child = flowrex_std(home)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(secs);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{args:?} still running after {secs} s");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    child.wait_with_output().unwrap()
}

fn flat_bar(ts: i64, price: f64) -> Bar {
    Bar {
        ts,
        open: price,
        high: price + 1.0,
        low: price - 0.5,
        close: price + 0.5,
        volume: 10.0,
    }
}

/// Writes `bars` straight to a store file with the library's writer, which does not validate: the way a
/// damaged or foreign file (pandas, an older version) reaches the store.
fn plant(home: &Path, folder: &str, interval: &str, bars: &[Bar], symbol: &str) -> PathBuf {
    let path = home
        .join("data")
        .join(folder)
        .join(format!("{interval}.parquet"));
    let meta = StoreMeta {
        symbol: symbol.to_string(),
        interval: interval.to_string(),
        source: "test".into(),
        written_at: "2024-01-01T00:00:00Z".into(),
    };
    write_parquet(&path, &Candles::from_bars(bars), &meta).unwrap();
    path
}

const HEADER: &str = "date,open,high,low,close,volume\n";

#[test]
fn epoch_microseconds_and_nanoseconds_are_detected_by_magnitude() {
    let home = tempfile::tempdir().unwrap();
    // 2024-01-01 in µs, 2024-01-02 in ns, 2024-01-03 in ms, 2024-01-04 in s (auto detection).
    let file = write(
        home.path(),
        "t.csv",
        "timestamp,open,high,low,close\n\
         1704067200000000,1,2,0.5,1.5\n\
         1704153600000000000,1,2,0.5,1.5\n\
         1704240000000,1,2,0.5,1.5\n\
         1704326400,1,2,0.5,1.5\n",
    );
    import(home.path(), &file, "T", "1d").success();
    let want: Vec<i64> = (0..4).map(|d| JAN1_2024 + d * DAY_MS).collect();
    assert_eq!(load(home.path(), "T", "1d").ts, want);
}

#[test]
fn times_outside_1900_to_2200_are_refused_with_a_hint() {
    let home = tempfile::tempdir().unwrap();
    // A microsecond value forced to be read as milliseconds is the year 55970.
    let file = write(
        home.path(),
        "us.csv",
        "timestamp,open,high,low,close\n1704067200000000,1,2,0.5,1.5\n",
    );
    let out = flowrex(home.path())
        .args([
            "fetch",
            "--provider",
            "csv",
            "--symbol",
            "T",
            "--interval",
            "1d",
            "--time-format",
            "epoch-ms",
            "--file",
        ])
        .arg(&file)
        .assert()
        .code(1);
    let stderr = stderr_of(&out);
    assert!(
        stderr.contains("us.csv: line 2: time") && stderr.contains("outside 1900-01-01"),
        "{stderr}"
    );
    assert!(stderr.contains("epoch microseconds"), "{stderr}");
    for (row, year) in [
        ("2200-01-01,1,2,0.5,1.5,1", "2200"),
        ("1899-12-31,1,2,0.5,1.5,1", "1899"),
    ] {
        let f = write(home.path(), "far.csv", &format!("{HEADER}{row}\n"));
        let out = import(home.path(), &f, "T", "1d").code(1);
        let stderr = stderr_of(&out);
        assert!(
            stderr.contains("far.csv: line 2: time") && stderr.contains(year),
            "{stderr}"
        );
    }
    assert!(!home.path().join("data/T").exists());
}

#[test]
fn verify_and_list_of_a_file_with_absurd_times_end_at_once() {
    let home = tempfile::tempdir().unwrap();
    // Three "1m" bars near i64::MAX: stepping minute by minute between them never ends (or overflows).
    let far = i64::MAX - i64::MAX % MINUTE_MS;
    let bars = [
        flat_bar(0, 1.0),
        flat_bar(far - 2 * MINUTE_MS * 1_000_000, 1.0),
        flat_bar(far, 1.0),
    ];
    let path = plant(home.path(), "FAR", "1m", &bars, "FAR");
    let out = run_with_deadline(home.path(), &["fetch", "--verify", "FAR/1m"], 30);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains(&path.display().to_string()) && stderr.contains("row 2"),
        "{stderr}"
    );
    let out = run_with_deadline(home.path(), &["--json", "fetch", "--list"], 30);
    assert_eq!(out.status.code(), Some(1));
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        rows[0]["status"].as_str().unwrap().starts_with("damaged: "),
        "{rows}"
    );
}

#[test]
fn negative_zero_and_absurd_prices_are_refused() {
    let home = tempfile::tempdir().unwrap();
    let cases = [
        // Consistent OHLC (low ≤ open, close ≤ high) but not a price.
        ("2020-01-02,-1,1,-2,0.5,1", "open -1 is not positive"),
        ("2020-01-02,0,0,0,0,1", "open 0 is not positive"),
        (
            "2020-01-02,1e308,1e308,1e308,1e308,1",
            "open 1e308 is above",
        ),
        ("2020-01-02,1,2,0.5,1.5,1e300", "volume 1e300 is above"),
    ];
    for (row, message) in cases {
        let f = write(home.path(), "p.csv", &format!("{HEADER}{row}\n"));
        let out = import(home.path(), &f, "P", "1d").code(1);
        let stderr = stderr_of(&out);
        assert!(
            stderr.contains("p.csv: line 2: ") && stderr.contains(message),
            "want '{message}' in {stderr}"
        );
    }
    assert!(!home.path().join("data/P").exists());
}

#[test]
fn bars_off_the_interval_grid_or_too_close_are_refused() {
    let home = tempfile::tempdir().unwrap();
    // A 13:37:12 bar among midnight daily bars.
    let f = write(
        home.path(),
        "d.csv",
        &format!(
            "{HEADER}2020-01-01,1,2,0.5,1.5,1\n2020-01-02T13:37:12Z,1,2,0.5,1.5,1\n2020-01-03,1,2,0.5,1.5,1\n"
        ),
    );
    let stderr = stderr_of(&import(home.path(), &f, "D", "1d").code(1));
    assert!(
        stderr.contains("d.csv: line 3: ") && stderr.contains("2020-01-02T13:37:12Z"),
        "{stderr}"
    );
    // Whole minutes, but 13:37 is not midnight: off the file's grid.
    let f = write(
        home.path(),
        "d.csv",
        &format!("{HEADER}2020-01-01,1,2,0.5,1.5,1\n2020-01-02T13:37:00Z,1,2,0.5,1.5,1\n"),
    );
    let stderr = stderr_of(&import(home.path(), &f, "D", "1d").code(1));
    assert!(
        stderr.contains("d.csv: line 3: ") && stderr.contains("13:37"),
        "{stderr}"
    );
    // Two "1h" bars 123 ms apart (epoch milliseconds).
    let t0 = JAN1_2024;
    let f = write(
        home.path(),
        "h.csv",
        &format!(
            "ts,open,high,low,close\n{t0},1,2,0.5,1.5\n{},1,2,0.5,1.5\n",
            t0 + 123
        ),
    );
    let stderr = stderr_of(&import(home.path(), &f, "H", "1h").code(1));
    assert!(stderr.contains("h.csv: line 3: "), "{stderr}");
    // Daily bars on consecutive hours: aligned to whole hours, but 1 h apart in a 1d file.
    let f = write(
        home.path(),
        "d2.csv",
        &format!("{HEADER}2020-01-01 00:00,1,2,0.5,1.5,1\n2020-01-01 01:00,1,2,0.5,1.5,1\n"),
    );
    let stderr = stderr_of(&import(home.path(), &f, "D", "1d").code(1));
    assert!(
        stderr.contains("d2.csv: line 3: ") && stderr.contains("apart"),
        "{stderr}"
    );
    assert!(!home.path().join("data/D").exists());
    assert!(!home.path().join("data/H").exists());
}

#[test]
fn a_stored_file_of_bars_1ms_apart_fails_verification() {
    let home = tempfile::tempdir().unwrap();
    let bars: Vec<Bar> = (0..30_001).map(|i| flat_bar(JAN1_2024 + i, 1.0)).collect();
    plant(home.path(), "MS", "1h", &bars, "MS");
    let out = flowrex(home.path())
        .args(["fetch", "--verify", "MS/1h"])
        .assert()
        .code(3);
    let stderr = stderr_of(&out);
    assert!(
        stderr.contains("verification failed") && stderr.contains("row 2"),
        "{stderr}"
    );
}

#[test]
fn offsets_are_allowed_when_consistent_and_a_daylight_saving_hour_is_tolerated() {
    let home = tempfile::tempdir().unwrap();
    // Forex daily bars at 22:00 UTC in winter and 21:00 UTC in summer (17:00 New York).
    let f = write(
        home.path(),
        "fx.csv",
        &format!(
            "{HEADER}2024-03-07T22:00:00Z,1,2,0.5,1.5,1\n2024-03-08T22:00:00Z,1,2,0.5,1.5,1\n\
             2024-03-10T21:00:00Z,1,2,0.5,1.5,1\n2024-03-11T21:00:00Z,1,2,0.5,1.5,1\n"
        ),
    );
    import(home.path(), &f, "FX", "1d").success();
    // But a third offset, or two that are not one hour apart, is refused.
    let f = write(
        home.path(),
        "fx2.csv",
        &format!("{HEADER}2024-03-12T19:00:00Z,1,2,0.5,1.5,1\n"),
    );
    let stderr = stderr_of(&import(home.path(), &f, "FX", "1d").code(1));
    assert!(stderr.contains("19:00"), "{stderr}");
    // Monthly bars on month ends (like the bundled BTCUSD) are one consistent anchor.
    let f = write(
        home.path(),
        "m.csv",
        &format!(
            "{HEADER}2012-01-31,1,2,0.5,1.5,1\n2012-02-29,1,2,0.5,1.5,1\n2012-03-31,1,2,0.5,1.5,1\n\
             2012-04-30,1,2,0.5,1.5,1\n"
        ),
    );
    import(home.path(), &f, "M", "1M").success();
    // A mid-month bar is not.
    let f = write(
        home.path(),
        "m2.csv",
        &format!("{HEADER}2012-06-15,1,2,0.5,1.5,1\n"),
    );
    let stderr = stderr_of(&import(home.path(), &f, "M", "1M").code(1));
    assert!(
        stderr.contains("2012-06-15") && stderr.contains("day"),
        "{stderr}"
    );
    assert_eq!(load(home.path(), "M", "1M").len(), 4);
}

#[test]
fn a_range_load_of_an_unsorted_file_names_the_file_and_row() {
    let home = tempfile::tempdir().unwrap();
    // Weekdays from 2009-06-01 to 2011-06-01, then the 2010-06-01 row moved to the top (as a pandas
    // user's slip would do).
    let mut bars: Vec<Bar> = (0..731)
        .map(|d| flat_bar(1_243_814_400_000 + d * DAY_MS, 10.0))
        .filter(|b| (b.ts / DAY_MS + 3).rem_euclid(7) < 5)
        .collect();
    let moved = bars.iter().position(|b| b.ts == 1_275_350_400_000).unwrap();
    let row = bars.remove(moved);
    bars.insert(0, row);
    let path = plant(home.path(), "GOOG", "1d", &bars, "GOOG");
    let range = TimeRange::parse(Some("2010-01-01"), Some("2011-01-01")).unwrap();
    let err = flowrex::home::Home::layout(home.path())
        .store()
        .load("GOOG", Interval::Day1, &range)
        .unwrap_err()
        .to_string();
    // Row 1 is 2010-06-01; row 2 (2009-06-01) is the first that is out of order.
    assert!(
        err.contains(&path.display().to_string()) && err.contains("row 2 (2009-06-01)"),
        "{err}"
    );
}

#[test]
fn symbols_cannot_escape_the_store_or_collide() {
    let home = tempfile::tempdir().unwrap();
    let f = write(
        home.path(),
        "a.csv",
        &format!("{HEADER}2020-01-01,1,2,0.5,1.5,1\n"),
    );
    for bad in ["..", ".", "", " AAPL", "a\nb"] {
        let out = import(home.path(), &f, bad, "1d").code(2);
        assert!(
            stderr_of(&out).contains("symbol"),
            "{bad:?}: {}",
            stderr_of(&out)
        );
    }
    assert!(!home.path().join("1d.parquet").exists());
    assert!(!home.path().join("data/1d.parquet").exists());
    // Pairs that the old path-safe names folded into one folder stay apart, each with its own bars.
    let pairs = [
        ("ÄBC", "ÖBC"),
        ("A/B", "A-B"),
        ("a b", "a-b"),
        ("x.", "x%2E"),
    ];
    for (k, (one, two)) in pairs.into_iter().enumerate() {
        for (j, sym) in [one, two].into_iter().enumerate() {
            let price = 10.0 * (k * 2 + j + 1) as f64;
            let f = write(
                home.path(),
                "s.csv",
                &format!(
                    "{HEADER}2020-01-01,{price},{},{},{price},1\n",
                    price + 1.0,
                    price - 1.0
                ),
            );
            import(home.path(), &f, sym, "1d").success();
        }
        let (a, b) = (load(home.path(), one, "1d"), load(home.path(), two, "1d"));
        assert_eq!(a.len(), 1, "{one}");
        assert_eq!(b.len(), 1, "{two}");
        assert_ne!(a.open[0], b.open[0], "{one} and {two} share a file");
    }
    // --list names every symbol as given.
    let out = flowrex(home.path())
        .args(["--json", "fetch", "--list"])
        .assert()
        .success();
    let rows: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    let mut names: Vec<&str> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["symbol"].as_str().unwrap())
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["A-B", "A/B", "a b", "a-b", "x%2E", "x.", "ÄBC", "ÖBC"]
    );
}

#[test]
fn a_merge_into_a_file_that_names_another_symbol_is_refused() {
    let home = tempfile::tempdir().unwrap();
    let path = plant(home.path(), "ABC", "1d", &[flat_bar(JAN1_2024, 5.0)], "XYZ");
    let before = std::fs::read(&path).unwrap();
    let f = write(
        home.path(),
        "a.csv",
        &format!("{HEADER}2024-01-02,1,2,0.5,1.5,1\n"),
    );
    let stderr = stderr_of(&import(home.path(), &f, "ABC", "1d").code(1));
    assert!(stderr.contains("XYZ") && stderr.contains("ABC"), "{stderr}");
    assert_eq!(std::fs::read(&path).unwrap(), before);
}

#[test]
fn a_legacy_store_file_stays_readable_and_moves_to_its_new_name_on_the_next_write() {
    let home = tempfile::tempdir().unwrap();
    // What earlier versions wrote for EUR/USD: the folder EUR-USD, the symbol in the metadata.
    let legacy = plant(
        home.path(),
        "EUR-USD",
        "1h",
        &[flat_bar(JAN1_2024, 1.0), flat_bar(JAN1_2024 + HOUR_MS, 1.0)],
        "EUR/USD",
    );
    assert_eq!(load(home.path(), "EUR/USD", "1h").len(), 2);
    flowrex(home.path())
        .args(["fetch", "--verify", "EUR/USD/1h"])
        .assert()
        .success();
    // The symbol EUR-USD is another instrument: it does not see EUR/USD's bars.
    assert!(
        flowrex::home::Home::layout(home.path())
            .store()
            .load("EUR-USD", Interval::Hour1, &TimeRange::ALL)
            .is_err()
    );
    // The next write of EUR/USD merges into the legacy file's bars and moves them to the new name.
    let f = write(
        home.path(),
        "e.csv",
        &format!("{HEADER}2024-01-01 02:00,1,2,0.5,1.5,1\n"),
    );
    import(home.path(), &f, "EUR/USD", "1h").success();
    assert!(!legacy.exists());
    assert!(home.path().join("data/EUR%2FUSD/1h.parquet").exists());
    assert_eq!(load(home.path(), "EUR/USD", "1h").len(), 3);
    // Now EUR-USD can have a file of its own.
    import(home.path(), &f, "EUR-USD", "1h").success();
    assert_eq!(load(home.path(), "EUR-USD", "1h").len(), 1);
    assert_eq!(load(home.path(), "EUR/USD", "1h").len(), 3);
}

#[test]
fn synthetic_bar_counts_are_capped_and_the_calendar_is_bounded() {
    let home = tempfile::tempdir().unwrap();
    let synth = |bars: &str, interval: &str| {
        run_with_deadline(
            home.path(),
            &[
                "fetch",
                "--provider",
                "synthetic",
                "--symbol",
                "S",
                "--interval",
                interval,
                "--bars",
                bars,
            ],
            60,
        )
    };
    for (bars, interval, message) in [
        ("18446744073709551615", "1m", "--bars"),
        // 1,700,000 months from 2020 end in the year 143,686; 3,200,000 beyond chrono's calendar.
        ("1700000", "1M", "2200"),
        ("3200000", "1M", "2200"),
    ] {
        let out = synth(bars, interval);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{bars} {interval}: {stderr}");
        assert!(stderr.contains(message), "{stderr}");
    }
    assert!(!home.path().join("data/S").exists());
}

#[test]
fn an_endless_or_overlong_csv_input_is_refused_with_the_limit() {
    let home = tempfile::tempdir().unwrap();
    let out = run_with_deadline(
        home.path(),
        &[
            "fetch",
            "--provider",
            "csv",
            "--symbol",
            "Z",
            "--interval",
            "1d",
            "--file",
            "/dev/zero",
        ],
        30,
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("/dev/zero") && stderr.contains("65536 bytes"),
        "{stderr}"
    );
    let long = write(
        home.path(),
        "long.csv",
        &format!("{HEADER}2020-01-01,1,2,0.5,1.5,{}\n", "1".repeat(70_000)),
    );
    let stderr = stderr_of(&import(home.path(), &long, "Z", "1d").code(1));
    assert!(
        stderr.contains("long.csv: line 2") && stderr.contains("65536 bytes"),
        "{stderr}"
    );
}

/// A foreign store file (another writer's schema: nullable columns) with missing values or an integer
/// volume column: the load names the file and the column — the first in file order when several are
/// broken, whichever thread decoded which column, and the wrong type before the missing values.
#[test]
fn a_stored_column_with_missing_values_or_the_wrong_type_is_named() {
    use std::sync::Arc;

    use arrow_array::{ArrayRef, Float64Array, Int64Array, RecordBatch, TimestampMillisecondArray};
    use arrow_schema::{DataType, Field, Schema, TimeUnit};

    let home = tempfile::tempdir().unwrap();
    let dir = home.path().join("data").join("X");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("1d.parquet");
    let ts: Vec<i64> = (0..5).map(|d| 1_243_814_400_000 + d * DAY_MS).collect();
    // Prices between low 1 and high 20; `None` puts a missing value in the third row.
    let price = |x: Option<f64>| -> ArrayRef {
        Arc::new(Float64Array::from(vec![
            Some(10.0),
            Some(11.0),
            x,
            Some(12.0),
            Some(13.0),
        ]))
    };
    let float_volume = || Arc::new(Float64Array::from(vec![100.0; 5])) as ArrayRef;
    let int_volume = |third: Option<i64>| -> ArrayRef {
        Arc::new(Int64Array::from(vec![
            Some(100),
            Some(100),
            third,
            Some(100),
            Some(100),
        ]))
    };
    let write_file = |open: ArrayRef, close: ArrayRef, volume: ArrayRef| {
        let utc = DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()));
        let fields = ["open", "high", "low", "close"]
            .into_iter()
            .map(|n| Field::new(n, DataType::Float64, true));
        let schema = Schema::new(
            std::iter::once(Field::new("ts", utc, false))
                .chain(fields)
                .chain([Field::new("volume", volume.data_type().clone(), true)])
                .collect::<Vec<_>>(),
        );
        let ts: ArrayRef =
            Arc::new(TimestampMillisecondArray::from(ts.clone()).with_timezone("UTC"));
        let high = Arc::new(Float64Array::from(vec![20.0; 5])) as ArrayRef;
        let low = Arc::new(Float64Array::from(vec![1.0; 5])) as ArrayRef;
        let batch =
            RecordBatch::try_new(Arc::new(schema), vec![ts, open, high, low, close, volume])
                .unwrap();
        crate::support::write_parquet(&path, &batch);
    };
    let store = flowrex::home::Home::layout(home.path()).store();
    let load_err = |range: &TimeRange| {
        let err = store
            .load("X", Interval::Day1, range)
            .unwrap_err()
            .to_string();
        assert!(err.contains(&path.display().to_string()), "{err}");
        err
    };
    let some_days = TimeRange {
        start: Some(ts[1]),
        end: Some(ts[3]),
    };
    // The file as written is sound: it loads, whole or a range of it.
    write_file(price(Some(10.5)), price(Some(11.5)), float_volume());
    assert_eq!(
        store
            .load("X", Interval::Day1, &TimeRange::ALL)
            .unwrap()
            .len(),
        5
    );
    assert_eq!(
        store.load("X", Interval::Day1, &some_days).unwrap().len(),
        3
    );
    write_file(price(Some(10.5)), price(None), float_volume());
    for range in [&TimeRange::ALL, &some_days] {
        let err = load_err(range);
        assert!(err.contains("column 'close' has 1 missing values"), "{err}");
    }
    // open and volume both broken: open, every time.
    write_file(price(None), price(Some(11.5)), int_volume(None));
    for _ in 0..30 {
        let err = load_err(&TimeRange::ALL);
        assert!(err.contains("column 'open' has 1 missing values"), "{err}");
    }
    // An integer volume column with a missing value is first of all of the wrong type.
    write_file(price(Some(10.5)), price(Some(11.5)), int_volume(None));
    let err = load_err(&TimeRange::ALL);
    assert!(err.contains("column 'volume' must be Float64"), "{err}");
    write_file(price(Some(10.5)), price(Some(11.5)), int_volume(Some(100)));
    let err = load_err(&some_days);
    assert!(err.contains("column 'volume' must be Float64"), "{err}");
}
