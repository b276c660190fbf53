//! Integration tests of the candle store through the binary: CSV import in every flavour, validation
//! messages, conflicts, atomicity under concurrency and crashes, listing and verification.

use std::path::Path;
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
    assert!(home.path().join("data/EUR-USD/1h.parquet").exists());

    let stored = home.path().join("data/EUR-USD/1h.parquet");
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
    // Two disjoint sets of 2000 days each, interleaved in time.
    let rows = |parity: i64| -> String {
        (0..2000)
            .map(|i| {
                let day = 2 * i + parity;
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
