//! CSV import options on the command line: the spacing check against `--interval` (and in
//! `fetch --verify`), `--tz` for wall-clock times, and `--delimiter` (detected from the header, or
//! given) with decimal commas.

use flowrex::candles::time::{TimeFormat, parse_time};
use flowrex::candles::{Bar, DAY_MS};

use crate::support::{Run, empty_home, flowrex, load, seed, write};

fn import(home: &std::path::Path, file: &std::path::Path, interval: &str, extra: &[&str]) -> Run {
    Run::of(
        flowrex(home)
            .args(["fetch", "--provider", "csv", "--file"])
            .arg(file)
            .args(["--symbol", "X", "--interval", interval])
            .args(extra),
    )
}

fn utc(s: &str) -> i64 {
    parse_time(s, TimeFormat::Iso).unwrap()
}

#[test]
fn a_daily_file_imported_as_hourly_is_refused_naming_both() {
    let home = empty_home();
    let csv = write(
        home.path(),
        "daily.csv",
        "date,open,high,low,close,volume\n2024-01-02,10,11,9,10.5,100\n2024-01-03,10,11,9,10.5,100\n\
         2024-01-04,10,11,9,10.5,100\n2024-01-05,10,11,9,10.5,100\n2024-01-08,10,11,9,10.5,100\n",
    );
    let run = import(home.path(), &csv, "1h", &[]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    // Steps 1, 1, 1 and 3 days: the lower quartile is 1 day.
    assert!(
        run.stderr.contains(
            "daily.csv: the bars are 1d apart (the lower quartile of 4 steps), not 1h: they look like \
             1d bars (--interval 1h); nothing was written"
        ),
        "{}",
        run.stderr
    );
    assert!(!home.path().join("data/X/1h.parquet").exists());
    let run = import(home.path(), &csv, "1d", &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
}

#[test]
fn verify_fails_a_stored_file_whose_bars_are_spaced_for_a_longer_interval() {
    let home = empty_home();
    // Written through the library (the importer would refuse it): daily bars in an hourly file sit on
    // the hourly grid, so only the spacing check can tell.
    let bars: Vec<Bar> = (0..10)
        .map(|d| Bar {
            ts: utc("2024-01-01T00:00:00Z") + d * DAY_MS,
            open: 10.0,
            high: 11.0,
            low: 9.0,
            close: 10.5,
            volume: 1.0,
        })
        .collect();
    let (path, _) = seed(home.path(), "X", "1h", &bars);
    let run = Run::of(flowrex(home.path()).args(["fetch", "--verify", "X/1h"]));
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(
        run.stderr.contains(&format!(
            "verification failed: {}: the bars are 1d apart (the lower quartile of 9 steps), not 1h: \
             they look like 1d bars, the file's interval",
            path.display()
        )),
        "{}",
        run.stderr
    );
}

#[test]
fn wall_clock_times_take_the_given_zone_and_semicolon_files_import() {
    let home = empty_home();
    // A European broker's export: semicolons, decimal commas, Frankfurt wall-clock times across the
    // 2024-03-31 switch to summer time (02:00 → 03:00 CEST). Hourly bars 00:00, 01:00 (CET, UTC+1),
    // 03:00, 04:00 (CEST, UTC+2): in UTC 23:00, 00:00, 01:00, 02:00 — contiguous.
    let csv_text = "Date;Open;High;Low;Close;Volume\n\
                    2024-03-31 00:00:00;1,0850;1,0860;1,0840;1,0855;10\n\
                    2024-03-31 01:00:00;1,0855;1,0870;1,0850;1,0865;12\n\
                    2024-03-31 03:00:00;1,0865;1,0875;1,0860;1,0870;8\n\
                    2024-03-31 04:00:00;1,0870;1,0880;1,0865;1,0875;9\n";
    let csv = write(home.path(), "broker.csv", csv_text);
    let run = import(home.path(), &csv, "1h", &["--tz", "Europe/Berlin"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let c = load(home.path(), "X", "1h");
    assert_eq!(
        c.ts,
        [
            utc("2024-03-30T23:00:00Z"),
            utc("2024-03-31T00:00:00Z"),
            utc("2024-03-31T01:00:00Z"),
            utc("2024-03-31T02:00:00Z")
        ]
    );
    assert_eq!((c.open[0], c.close[3], c.volume[1]), (1.085, 1.0875, 12.0));
    // Without --tz the same times are UTC, and 03:00 follows 01:00 with a gap (no error, other bars).
    let home2 = empty_home();
    let csv2 = write(home2.path(), "b.csv", csv_text);
    let run = import(home2.path(), &csv2, "1h", &["--delimiter", ";"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        load(home2.path(), "X", "1h").ts[0],
        utc("2024-03-31T00:00:00Z")
    );
    // A time the clocks skip is an error naming the line.
    let skipped = write(
        home.path(),
        "skip.csv",
        "date,open,high,low,close\n2024-03-31 02:30,1,2,0.5,1\n",
    );
    let run = import(home.path(), &skipped, "1h", &["--tz", "Europe/Berlin"]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains(
            "skip.csv: line 2: time: time 2024-03-31 02:30:00 does not exist in Europe/Berlin"
        ),
        "{}",
        run.stderr
    );
}

#[test]
fn csv_only_flags_with_another_provider_are_usage_errors() {
    let home = empty_home();
    for flags in [
        &["--tz", "UTC"][..],
        &["--delimiter", ";"],
        &["--time-format", "epoch-s"],
    ] {
        let run = Run::of(
            flowrex(home.path())
                .args(["fetch", "--provider", "binance", "--symbol", "BTCUSDT"])
                .args(["--interval", "1h"])
                .args(flags),
        );
        assert_eq!(run.code, 2, "{flags:?}: {}", run.stderr);
        assert!(
            run.stderr
                .contains("--tz, --delimiter and --time-format apply to --provider csv"),
            "{}",
            run.stderr
        );
    }
    let run = Run::of(
        flowrex(home.path())
            .args([
                "fetch",
                "--provider",
                "csv",
                "--file",
                "x.csv",
                "--symbol",
                "X",
            ])
            .args(["--interval", "1h", "--tz", "Mars/Olympus"]),
    );
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("'Mars/Olympus' is not a time zone"),
        "{}",
        run.stderr
    );
}
