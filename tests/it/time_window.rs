//! Times typed on the command line (`--start`, `--end`, `--timerange`) on the bundled GOOG daily data
//! (2004-08-19 … 2013-03-01, trading days only): compact dates select what they say, short digit
//! strings are refused instead of read as epochs, and the resolved window is said on stderr.

use crate::support::{Run, bundled_home, flowrex, json, write};

fn backtest(home: &std::path::Path, window: &[&str]) -> Run {
    Run::of(
        flowrex(home)
            .args(["backtest", "--strategy", "sma_cross", "--symbol", "GOOG"])
            .args(["--interval", "1d", "--json"])
            .args(window),
    )
}

/// `(start, end)` dates of the bars a run covered (its JSON prints RFC 3339 times; daily bars open at
/// 00:00 UTC).
fn span(run: &Run) -> (String, String) {
    assert_eq!(run.code, 0, "{}", run.stderr);
    let doc = json(run);
    let date = |k: &str| {
        let t = doc[k].as_str().unwrap();
        t.strip_suffix("T00:00:00Z").unwrap_or(t).to_string()
    };
    (date("start"), date("end"))
}

#[test]
fn freqtrade_dates_and_years_select_those_bars_not_the_whole_history() {
    let home = bundled_home();
    // 2010-01-01 was a Friday and a holiday; the first 2010 bar is Monday 2010-01-04. Read as epoch
    // seconds, 20100101 would be 1970-08-22 and 2010 1970-01-01: the whole history from 2004-08-19.
    let run = backtest(home.path(), &["--start", "20100101"]);
    assert_eq!(span(&run).0, "2010-01-04");
    assert!(
        run.stderr
            .contains("time window 2010-01-01T00:00:00Z to (last bar) (--start 20100101)"),
        "{}",
        run.stderr
    );
    // A year as an end includes that whole year: the last 2012 bar is Monday 2012-12-31.
    let run = backtest(home.path(), &["--start", "2010", "--end", "2012"]);
    assert_eq!(span(&run), ("2010-01-04".into(), "2012-12-31".into()));
    // A month: all of February 2012 (first bar Wed 02-01, last Wed 02-29).
    let run = backtest(home.path(), &["--start", "2012-02", "--end", "2012-02"]);
    assert_eq!(span(&run), ("2012-02-01".into(), "2012-02-29".into()));
    // Ten digits are an epoch: 1262304000 s = 2010-01-01T00:00:00Z; a suffix makes a short one too.
    let run = backtest(home.path(), &["--start", "1262304000"]);
    assert_eq!(span(&run).0, "2010-01-04");
    let run = backtest(home.path(), &["--end", "1100000000s"]); // 2004-11-09T11:33:20Z
    assert_eq!(span(&run).1, "2004-11-09");
}

#[test]
fn a_freqtrade_timerange_includes_its_end_instant() {
    let home = bundled_home();
    // The 2011 bars (the first is Mon 2011-01-03), then 2012-01-03 (Tue; 01-02 was a holiday): it opens
    // at 2012-01-03T00:00:00Z, the end instant, which freqtrade includes (its trim keeps date <= stop).
    let run = backtest(home.path(), &["--timerange", "20110101-20120103"]);
    assert_eq!(span(&run), ("2011-01-03".into(), "2012-01-03".into()));
    assert!(
        run.stderr.contains(
            "time window 2011-01-01T00:00:00Z to 2012-01-03T00:00:00Z (--timerange 20110101-20120103)"
        ),
        "{}",
        run.stderr
    );
    let run = backtest(home.path(), &["--timerange", "20120101-"]);
    assert_eq!(span(&run), ("2012-01-03".into(), "2013-03-01".into()));
    // The optimize spec file takes the same key.
    let spec = write(
        home.path(),
        "spec.toml",
        "strategy = \"sma_cross\"\nsymbol = \"GOOG\"\ninterval = \"1d\"\ntimerange = \"20110101-20120103\"\n\
         params = [\"fast=10\", \"slow=20\"]\n",
    );
    let out = Run::of(
        flowrex(home.path())
            .args(["optimize", "--spec"])
            .arg(&spec)
            .args(["--min-trades", "0", "--json", "--out"])
            .arg(home.path().join("pb.toml")),
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let pb = std::fs::read_to_string(home.path().join("pb.toml")).unwrap();
    assert!(pb.contains("start = \"2011-01-03T00:00:00Z\""), "{pb}");
    assert!(pb.contains("end = \"2012-01-03T00:00:00Z\""), "{pb}");
}

#[test]
fn unreadable_or_conflicting_times_are_usage_errors_listing_the_formats() {
    let home = bundled_home();
    for bad in ["201001", "123456789", "2010-13", "next week"] {
        let run = backtest(home.path(), &["--start", bad]);
        assert_eq!(run.code, 2, "{bad}: {}", run.stderr);
        assert!(
            run.stderr.contains(&format!(
                "--start: unparsable time '{bad}'; accepted: YYYY, YYYY-MM, YYYY-MM-DD or YYYYMMDD"
            )),
            "{}",
            run.stderr
        );
        assert!(run.stdout.is_empty());
    }
    let run = backtest(home.path(), &["--timerange", "2011-2012"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("--timerange 2011-2012: "),
        "{}",
        run.stderr
    );
    let run = backtest(
        home.path(),
        &["--timerange", "20110101-", "--start", "2011"],
    );
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("cannot be used with"), "{}", run.stderr);
}
