//! Walk-forward tests on hand-built timestamps, efficiency and stability on hand-worked figures.

use chrono::NaiveDate;

use super::*;

/// Midnight UTC of a date, in ms.
fn day(y: i32, m: u32, d: u32) -> i64 {
    NaiveDate::from_ymd_opt(y, m, d)
        .unwrap()
        .and_hms_opt(0, 0, 0)
        .unwrap()
        .and_utc()
        .timestamp_millis()
}

/// One bar a day for `n` days from `start`.
fn daily(start: i64, n: usize) -> Vec<i64> {
    (0..n as i64).map(|i| start + i * DAY_MS).collect()
}

/// Weekday bars (Monday to Friday) from `start` (a Monday) until `n` bars.
fn weekdays(start: i64, n: usize) -> Vec<i64> {
    (0..)
        .map(|i| start + i * DAY_MS)
        .filter(|t| (t / DAY_MS + 3).rem_euclid(7) < 5) // 1970-01-01 was a Thursday (index 3)
        .take(n)
        .collect()
}

fn len(s: &str) -> Len {
    s.parse().unwrap()
}

/// (train, test) index ranges of each window.
fn ranges(w: &[Window]) -> Vec<(Range<usize>, Range<usize>)> {
    w.iter()
        .map(|w| (w.train.clone(), w.test.clone()))
        .collect()
}

#[test]
fn lengths_parse_and_print_back() {
    for (text, want) in [
        ("2000", Len::Bars(2000)),
        ("180d", Len::Span(180, Unit::Day)),
        ("8w", Len::Span(8, Unit::Week)),
        ("6M", Len::Span(6, Unit::Month)),
        ("1y", Len::Span(1, Unit::Year)),
        ("90m", Len::Span(90, Unit::Minute)),
        ("12h", Len::Span(12, Unit::Hour)),
        ("0", Len::ZERO),
    ] {
        assert_eq!(len(text), want, "{text}");
        assert_eq!(want.to_string(), text);
    }
    for bad in ["", "-5", "5x", "d", "1.5d", "6 M", "1e3", "99999999999d"] {
        let e = bad.parse::<Len>().unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(
            e.to_string()
                .starts_with(&format!("bad window length '{bad}'")),
            "{e}"
        );
    }
}

/// 20 daily bars, train 8, test 4 (step = test): window k trains on [4k, 4k+8) and tests on
/// [4k+8, 4k+12), while 4k+12 ≤ 20, so k = 0, 1, 2.
#[test]
fn rolling_windows_in_bars() {
    let ts = daily(day(2024, 1, 1), 20);
    let w = WalkForward::new(len("8"), len("4")).windows(&ts).unwrap();
    assert_eq!(
        ranges(&w),
        [(0..8, 8..12), (4..12, 12..16), (8..16, 16..20)]
    );
    assert_eq!(w[1].index, 1);
    // Spans: [first bar, first bar after) — the last test ends where the last bar (Jan 20) ends.
    assert_eq!(w[0].train_ms, day(2024, 1, 1)..day(2024, 1, 9));
    assert_eq!(w[2].test_ms, day(2024, 1, 17)..day(2024, 1, 21));
    assert!((w[0].train_years() - 8.0 / 365.25).abs() < 1e-15);
}

/// Anchored: the train starts at bar 0 and ends at 8 + 4k: [0, 8), [0, 12), [0, 16).
#[test]
fn anchored_windows_grow_the_train() {
    let ts = daily(day(2024, 1, 1), 20);
    let spec = WalkForward {
        anchored: true,
        ..WalkForward::new(len("8"), len("4"))
    };
    let w = spec.windows(&ts).unwrap();
    assert_eq!(
        ranges(&w),
        [(0..8, 8..12), (0..12, 12..16), (0..16, 16..20)]
    );
}

/// Purge 2: the test of window k is [4k+10, 4k+14), which fits while 4k+14 ≤ 20: k = 0, 1.
/// Step 5: window k trains on [5k, 5k+8), tests on [5k+8, 5k+12) ≤ 20: k = 0, 1.
#[test]
fn purge_and_step() {
    let ts = daily(day(2024, 1, 1), 20);
    let purged = WalkForward {
        purge: len("2"),
        ..WalkForward::new(len("8"), len("4"))
    };
    assert_eq!(
        ranges(&purged.windows(&ts).unwrap()),
        [(0..8, 10..14), (4..12, 14..18)]
    );
    let stepped = WalkForward {
        step: Some(len("5")),
        ..WalkForward::new(len("8"), len("4"))
    };
    assert_eq!(
        ranges(&stepped.windows(&ts).unwrap()),
        [(0..8, 8..12), (5..13, 13..17)]
    );
}

/// 40 daily bars from Jan 1, train 10d, test 5d: window k trains on days [5k, 5k+10) and tests on
/// [5k+10, 5k+15); the data ends at the end of day 40, so 5k+15 ≤ 40: k = 0..=5.
/// A calendar train with a purge of 2 bars: train [Jan 1, Jan 11) = bars 0..10, skip bars 10 and
/// 11, test [Jan 13, Jan 18) = bars 12..17.
#[test]
fn calendar_days_and_a_purge_in_bars() {
    let ts = daily(day(2024, 1, 1), 40);
    let w = WalkForward::new(len("10d"), len("5d"))
        .windows(&ts)
        .unwrap();
    let want: Vec<_> = (0..6)
        .map(|k| (5 * k..5 * k + 10, 5 * k + 10..5 * k + 15))
        .collect();
    assert_eq!(ranges(&w), want);
    let mixed = WalkForward {
        purge: len("2"),
        ..WalkForward::new(len("10d"), len("5d"))
    };
    let w = mixed.windows(&ts).unwrap();
    assert_eq!((w[0].train.clone(), w[0].test.clone()), (0..10, 12..17));
    assert_eq!(w[0].test_ms, day(2024, 1, 13)..day(2024, 1, 18));
}

/// Weekday bars from Monday 2024-01-01, train 2w, test 1w: every week holds 5 bars, so window k
/// trains on bars [5k, 5k+10) and tests on [5k+10, 5k+15).
/// With 26 bars (through Monday Feb 5, so the data ends Tuesday Feb 6) the test of Jan 29–Feb 5 fits:
/// 3 windows. With 25 bars (through Friday Feb 2, ending Saturday Feb 3) it does not: the span runs
/// past the data's end, even though the weekend holds no bars — the documented rule.
#[test]
fn calendar_weeks_over_weekends() {
    let spec = WalkForward::new(len("2w"), len("1w"));
    let ts = weekdays(day(2024, 1, 1), 26);
    assert_eq!(ts[25], day(2024, 2, 5));
    let w = spec.windows(&ts).unwrap();
    assert_eq!(
        ranges(&w),
        [(0..10, 10..15), (5..15, 15..20), (10..20, 20..25)]
    );
    assert_eq!(w[2].test_ms, day(2024, 1, 29)..day(2024, 2, 5));
    assert_eq!(spec.windows(&ts[..25]).unwrap().len(), 2);
}

/// Daily bars from Wednesday 2024-01-31 to 2024-06-30 (152 bars; index = days since Jan 31:
/// Feb 29 = 29, Mar 31 = 60, Apr 30 = 90, May 31 = 121, Jun 30 = 151). Train 2M, test 1M, step 1M:
/// - window 0: train [Jan 31, Mar 31) = 0..60, test [Mar 31, Apr 30) = 60..90 (Jan 31 + 3M clamps);
/// - window 1: train [Feb 29, Apr 30) = 29..90 (Jan 31 + 1M and + 3M), test [Apr 30, May 31) = 90..121;
/// - window 2: train [Mar 31, May 31) = 60..121, test [May 31, Jun 30) = 121..151 (Jan 31 + 5M);
/// - window 3 would test until Jan 31 + 6M = Jul 31, past the data's end (Jul 1).
///
/// Each boundary is counted from Jan 31, so window 1's train ends on Apr 30 — not on Feb 29 + 2M =
/// Apr 29, which would overlap window 0's test — and the tests tile.
#[test]
fn calendar_months_clamp_without_drift() {
    let ts = daily(day(2024, 1, 31), 152);
    let w = WalkForward::new(len("2M"), len("1M")).windows(&ts).unwrap();
    assert_eq!(
        ranges(&w),
        [(0..60, 60..90), (29..90, 90..121), (60..121, 121..151)]
    );
    assert_eq!(w[1].train_ms, day(2024, 2, 29)..day(2024, 4, 30));
    assert_eq!(w[2].test_ms, day(2024, 5, 31)..day(2024, 6, 30));
    // A year is twelve calendar months.
    let ts = daily(day(2020, 1, 1), 3 * 366);
    let years = WalkForward::new(len("1y"), len("6M")).windows(&ts).unwrap();
    let months = WalkForward::new(len("12M"), len("6M"))
        .windows(&ts)
        .unwrap();
    assert_eq!(years, months);
    assert_eq!(years[0].test_ms, day(2021, 1, 1)..day(2021, 7, 1));
}

#[test]
fn windows_that_do_not_fit_say_what_they_need() {
    let ts = daily(day(2024, 1, 1), 20);
    let bars = WalkForward {
        purge: len("2"),
        ..WalkForward::new(len("15"), len("5"))
    };
    let e = bars.windows(&ts).unwrap_err();
    assert_eq!(e.exit_code(), 2);
    assert_eq!(
        e.to_string(),
        "walk-forward needs 22 bars for one window (train 15 + purge 2 + test 5), the data has 20"
    );
    let cal = WalkForward::new(len("3w"), len("1w"))
        .windows(&ts)
        .unwrap_err();
    assert_eq!(
        cal.to_string(),
        "walk-forward needs train 3w + test 1w for one window, the data has 20 bars from 2024-01-01 to 2024-01-21"
    );
}

#[test]
fn bad_lengths_and_bar_times_are_rejected() {
    let ts = daily(day(2024, 1, 1), 20);
    let zero = WalkForward::new(len("0"), len("4"))
        .windows(&ts)
        .unwrap_err();
    assert_eq!(
        zero.to_string(),
        "the walk-forward train length must be positive, got 0"
    );
    let zero_step = WalkForward {
        step: Some(len("0d")),
        ..WalkForward::new(len("8"), len("4"))
    };
    assert!(
        zero_step
            .windows(&ts)
            .unwrap_err()
            .to_string()
            .contains("step length")
    );
    let mut unsorted = ts.clone();
    unsorted.swap(3, 4);
    let e = WalkForward::new(len("8"), len("4"))
        .windows(&unsorted)
        .unwrap_err();
    assert_eq!(e.exit_code(), 1);
    assert!(
        e.to_string()
            .starts_with("bar times are not strictly increasing at bar 4"),
        "{e}"
    );
    assert!(
        WalkForward::new(len("8"), len("4"))
            .windows(&ts[..1])
            .is_err()
    );
}

/// Daily bars Jan 1–10, then a hole until Jan 25. Train 8d, test 2d (step 2d): window 1 tests
/// [Jan 11, Jan 13), which holds no bar.
#[test]
fn a_test_span_inside_a_data_gap_is_an_error() {
    let mut ts = daily(day(2024, 1, 1), 10);
    ts.extend(daily(day(2024, 1, 25), 10));
    let e = WalkForward::new(len("8d"), len("2d"))
        .windows(&ts)
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "walk-forward window 1 has no bars in its test span 2024-01-11 to 2024-01-13 (a gap in the data): use longer windows"
    );
}

/// - Window 0: IS +21 % over 2 years → 1.21^(1/2) − 1 = 10 %; OOS +5 % over half a year →
///   1.05² − 1 = 10.25 %; WFE = 10.25/10 = 1.025.
/// - Window 1: IS +44 % over 2 years → 20 %; OOS 0 % → 0; WFE = 0.
/// - Window 2: IS −10 % over 1 year → −10 %: WFE undefined; OOS +10 % over 1 year.
/// - Overall: OOS chained 1.05·1.00·1.10 = 1.155 over 2 years → √1.155 − 1 = 7.47093 %;
///   IS mean (10 + 20 − 10)/3 = 6.66667 % = 1/15; WFE = 0.0747093·15 = 1.120639.
#[test]
fn efficiency_per_window_and_overall() {
    let w = |is_return, is_years, oos_return, oos_years| WindowReturns {
        is_return,
        is_years,
        oos_return,
        oos_years,
    };
    let e = efficiency(&[
        w(0.21, 2.0, 0.05, 0.5),
        w(0.44, 2.0, 0.0, 0.5),
        w(-0.1, 1.0, 0.1, 1.0),
    ]);
    assert!((e.per_window[0].unwrap() - 1.025).abs() < 1e-12);
    assert_eq!(e.per_window[1], Some(0.0));
    assert_eq!(e.per_window[2], None);
    assert!((e.oos_annualized - 0.074_709_3).abs() < 1e-7);
    assert!((e.is_annualized - 0.066_666_67).abs() < 1e-8);
    assert!((e.overall.unwrap() - 1.120_639).abs() < 1e-6);
    // A losing in-sample record overall: no efficiency.
    assert_eq!(efficiency(&[w(-0.2, 1.0, 0.1, 1.0)]).overall, None);
    assert_eq!(annualize(-1.5, 1.0), -1.0);
    assert!(annualize(0.1, 0.0).is_nan());
}

/// Ranges fast 5..50 (width 45), slow 10..200 (width 190), a fixed 3..3. Chosen (10, 100, 3),
/// (20, 100, 3), (10, 150, 3): fast moves 10/45 twice → 2/9 = 0.222222; slow moves 0 then 50/190 →
/// mean 5/38 = 0.131579; the fixed one is left out; overall (2/9 + 5/38)/2 = 0.176901.
#[test]
fn parameter_stability_is_the_mean_normalized_move() {
    let chosen = [[10.0, 100.0, 3.0], [20.0, 100.0, 3.0], [10.0, 150.0, 3.0]];
    let ranges = [(5.0, 50.0), (10.0, 200.0), (3.0, 3.0)];
    let s = parameter_stability(&chosen, &ranges).unwrap();
    assert!((s.per_param[0].unwrap() - 2.0 / 9.0).abs() < 1e-15);
    assert!((s.per_param[1].unwrap() - 5.0 / 38.0).abs() < 1e-15);
    assert_eq!(s.per_param[2], None);
    assert!((s.overall.unwrap() - 0.176_901).abs() < 1e-6);
    assert!(parameter_stability(&chosen[..1], &ranges).is_err());
    assert!(parameter_stability(&[[1.0, 2.0], [1.0, 2.0]], &ranges).is_err());
    assert!(parameter_stability(&chosen, &[(5.0, 50.0), (10.0, 200.0), (3.0, 1.0)]).is_err());
}

/// Weekday bars, `1M` tests after a purge of 5 bars: 5 bars span 5 to 9 days depending on where
/// the weekends fall, so a test laid out as train, purge, test ended past the next window's start.
/// The purge is laid out last, after train and test merged: each test starts 5 bars after its
/// train and ends where the next one starts.
#[test]
fn calendar_tests_after_a_purge_in_bars_tile() {
    let ts = weekdays(day(2024, 1, 1), 300);
    let spec = WalkForward {
        purge: len("5"),
        ..WalkForward::new(len("2M"), len("1M"))
    };
    let w = spec.windows(&ts).unwrap();
    assert!(w.len() >= 9, "{}", w.len());
    for w in &w {
        assert_eq!(w.test.start, w.train.end + 5);
    }
    for pair in w.windows(2) {
        assert_eq!(pair[1].test.start, pair[0].test.end);
        assert_eq!(pair[1].test_ms.start, pair[0].test_ms.end);
    }
    // Window 0: train [Jan 1, Mar 1) = 44 bars, purge Mar 1–7, test from Mar 8 to 5 bars after
    // Apr 1 (Apr 8, exclusive).
    assert_eq!(w[0].test_ms, day(2024, 3, 8)..day(2024, 4, 8));
    // A step in bars with a month test is measured differently: the error can only say so.
    assert!(spec.step_measured_like_test());
    let bars_step = WalkForward {
        step: Some(len("10")),
        ..spec
    };
    assert!(!bars_step.step_measured_like_test());
}
