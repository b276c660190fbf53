//! The plausibility rules every stored bar obeys, whatever its source (CSV import, TwelveData, Binance,
//! a Parquet file read back): a time window, positive prices below a cap, and open times on one grid.
//!
//! Per bar: the open time lies in [`TIME_MIN_MS`, `TIME_END_MS`) (1900-01-01 to 2199-12-31 UTC); prices
//! are finite, `> 0` and `≤` [`PRICE_MAX`]; volume is finite, `≥ 0` and `≤` [`VOLUME_MAX`].
//!
//! Per series of one interval ([`check_series`]): open times are whole minutes; every bar sits on the same
//! grid — its *offset* (open time modulo the interval for `1m`…`1d`, weekday and time for `1w`, day of the
//! month and time for `1M`) is the file's offset — except that a second offset exactly one hour from the
//! first is allowed, for sessions that follow daylight-saving time in UTC (forex daily bars at 22:00 in
//! winter, 21:00 in summer); and consecutive bars are at least one interval apart (1w: 7 days, 1M: 28
//! days), one hour less when the file uses that second offset. A monthly anchor day is a day of the
//! month, or the month's last day (2012-01-31, 2012-02-29, 2012-04-30 share the anchor "31").
//!
//! Everything here is a pass over plain slices with no allocation unless a problem is found.

use super::interval::{DAY_MS, HOUR_MS, Interval, MINUTE_MS};
use super::time::format_ts;

/// First open time accepted: 1900-01-01T00:00:00Z.
pub const TIME_MIN_MS: i64 = -2_208_988_800_000;
/// First open time refused: 2200-01-01T00:00:00Z.
pub const TIME_END_MS: i64 = 7_258_118_400_000;
/// Highest price accepted. Bitcoin in Indonesian rupiah is ~1.6e9; 1e12 leaves three orders of magnitude
/// and keeps sums over millions of bars far from overflow.
pub const PRICE_MAX: f64 = 1e12;
/// Highest volume accepted (a meme token's daily volume in tokens is ~1e14).
pub const VOLUME_MAX: f64 = 1e18;
/// The one extra offset a series may use: a daylight-saving shift.
pub const DST_SHIFT_MS: i64 = HOUR_MS;

const WEEK_MS: i64 = 7 * DAY_MS;
/// 1970-01-01 was a Thursday; shifting by three days puts Monday 00:00 at week offset 0.
const MONDAY_SHIFT_MS: i64 = 3 * DAY_MS;
/// Shortest step between monthly bars (February).
const MONTH_MIN_MS: i64 = 28 * DAY_MS;

/// True when `ts` lies in the accepted window.
#[inline]
pub fn time_ok(ts: i64) -> bool {
    (TIME_MIN_MS..TIME_END_MS).contains(&ts)
}

/// True when every price is finite, positive and at most [`PRICE_MAX`] and the volume is finite,
/// non-negative and at most [`VOLUME_MAX`] (NaN fails every comparison).
#[inline]
pub fn values_ok(o: f64, h: f64, l: f64, c: f64, v: f64) -> bool {
    let p = |x: f64| x > 0.0 && x <= PRICE_MAX;
    p(o) && p(h) && p(l) && p(c) && (0.0..=VOLUME_MAX).contains(&v)
}

/// What is wrong with an open time, if anything. Out-of-window values that would be plausible as
/// microseconds or nanoseconds say so, and how a CSV import reads that unit (the same rule checks
/// stored files and providers' bars, so the hint names the import flag without telling anyone to use
/// it here).
pub fn time_problem(ts: i64) -> Option<String> {
    if time_ok(ts) {
        return None;
    }
    let hint = if time_ok(ts / 1_000) {
        format!(
            " (as epoch microseconds it would be {}: a CSV import reads them with --time-format epoch-us)",
            format_ts(ts / 1_000)
        )
    } else if time_ok(ts / 1_000_000) {
        format!(
            " (as epoch nanoseconds it would be {}: a CSV import reads them with --time-format epoch-ns)",
            format_ts(ts / 1_000_000)
        )
    } else {
        String::new()
    };
    Some(format!(
        "time {} is outside 1900-01-01 to 2199-12-31{hint}",
        format_ts(ts)
    ))
}

/// A value for a message: plain below 1e16, else in exponent form (`1e308`, not 309 digits).
fn num(v: f64) -> String {
    if v.abs() >= 1e16 {
        format!("{v:e}")
    } else {
        format!("{v}")
    }
}

/// What is wrong with one price or volume value, if anything.
pub fn value_problem(name: &str, v: f64) -> Option<String> {
    if !v.is_finite() {
        return Some(format!("{name} is {v}"));
    }
    if name == "volume" {
        if v < 0.0 {
            return Some(format!("volume {} is negative", num(v)));
        }
        if v > VOLUME_MAX {
            return Some(format!(
                "volume {} is above the limit {VOLUME_MAX:e}",
                num(v)
            ));
        }
        return None;
    }
    if v <= 0.0 {
        return Some(format!("{name} {} is not positive", num(v)));
    }
    if v > PRICE_MAX {
        return Some(format!(
            "{name} {} is above the limit {PRICE_MAX:e}",
            num(v)
        ));
    }
    None
}

/// Receives series problems: the index of the offending bar and what is wrong.
pub trait Sink {
    /// True while another problem would still be listed (so its message is worth building).
    fn wants_detail(&self) -> bool;
    /// Records a problem at bar `index`; `what` is only called when detail is wanted.
    fn problem(&mut self, index: usize, what: &dyn Fn() -> String);
}

/// Checks the open times `ts` (sorted, unique) of a series of `interval` against the grid and spacing
/// rules, reporting each offending bar to `sink`. Returns the number of problems.
pub fn check_series(ts: &[i64], interval: Interval, sink: &mut dyn Sink) -> usize {
    match interval {
        Interval::Minute1 => fixed::<MINUTE_MS, 0>(ts, interval, sink),
        Interval::Minute5 => fixed::<{ 5 * MINUTE_MS }, 0>(ts, interval, sink),
        Interval::Minute15 => fixed::<{ 15 * MINUTE_MS }, 0>(ts, interval, sink),
        Interval::Minute30 => fixed::<{ 30 * MINUTE_MS }, 0>(ts, interval, sink),
        Interval::Hour1 => fixed::<HOUR_MS, 0>(ts, interval, sink),
        Interval::Hour4 => fixed::<{ 4 * HOUR_MS }, 0>(ts, interval, sink),
        Interval::Day1 => fixed::<DAY_MS, 0>(ts, interval, sink),
        Interval::Week1 => fixed::<WEEK_MS, MONDAY_SHIFT_MS>(ts, interval, sink),
        Interval::Month1 => monthly(ts, sink),
    }
}

/// Whether `b` is exactly one daylight-saving shift from `a` on a cycle of `period`.
#[inline]
fn one_shift_apart(a: i64, b: i64, period: i64) -> bool {
    let d = (b - a).rem_euclid(period);
    period > DST_SHIFT_MS && (d == DST_SHIFT_MS || d == period - DST_SHIFT_MS)
}

/// The offsets a series uses: the first bar's, and at most one more, one shift away.
struct Offsets {
    first: i64,
    second: Option<i64>,
    period: i64,
}

impl Offsets {
    fn new(first: i64, period: i64) -> Self {
        Offsets {
            first,
            second: None,
            period,
        }
    }

    /// Accepts `off` if it is (or can become) one of the series' offsets.
    #[inline]
    fn accept(&mut self, off: i64) -> bool {
        if off == self.first || self.second == Some(off) {
            return true;
        }
        if self.second.is_none() && one_shift_apart(self.first, off, self.period) {
            self.second = Some(off);
            return true;
        }
        false
    }

    fn describe(&self, fmt: impl Fn(i64) -> String) -> String {
        match self.second {
            Some(s) => format!("{} or {}", fmt(self.first), fmt(s)),
            None => fmt(self.first),
        }
    }
}

/// `H:MM` of an offset in milliseconds (with seconds when it has any).
fn clock(ms: i64) -> String {
    let (h, m, s) = (ms / HOUR_MS, ms % HOUR_MS / MINUTE_MS, ms % MINUTE_MS);
    if s == 0 {
        format!("{h:02}:{m:02}")
    } else {
        format!("{h:02}:{m:02}:{:06.3}", s as f64 / 1000.0)
    }
}

/// The offset within a week (Monday 00:00 = 0) as `Mon 00:00`.
fn weekday_clock(ms: i64) -> String {
    const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    format!(
        "{} {}",
        DAYS[(ms / DAY_MS) as usize % 7],
        clock(ms % DAY_MS)
    )
}

fn describe_offset(interval: Interval, off: i64) -> String {
    match interval {
        Interval::Week1 => weekday_clock(off),
        Interval::Day1 => clock(off),
        _ => format!("{} past each {interval} step", clock(off)),
    }
}

/// Grid and spacing rules for intervals of fixed length `L`; `SHIFT` moves the grid origin (Monday for
/// weeks). `L` and `SHIFT` are constants so the per-bar remainders compile to multiplications.
fn fixed<const L: i64, const SHIFT: i64>(
    ts: &[i64],
    interval: Interval,
    sink: &mut dyn Sink,
) -> usize {
    let Some(&t0) = ts.first() else { return 0 };
    let offset = |t: i64| t.wrapping_add(SHIFT).rem_euclid(L);
    let mut offsets = Offsets::new(offset(t0), L);
    let mut count = 0;
    // Spacing is measured from the last bar on the grid, so one stray bar is reported once. Between
    // bars on one offset every step is a multiple of L; only a daylight-saving pair can be closer.
    let mut prev: Option<i64> = None;
    for (i, &t) in ts.iter().enumerate() {
        if t.rem_euclid(MINUTE_MS) != 0 {
            count += 1;
            sink.problem(i, &|| {
                format!("open time {} is not on a whole minute", format_ts(t))
            });
            continue;
        }
        let off = offset(t);
        if !offsets.accept(off) {
            count += 1;
            sink.problem(i, &|| {
                format!(
                    "open time {} is off the file's grid: it opens at {}, the file's {interval} bars at {}",
                    format_ts(t),
                    describe_offset(interval, off),
                    offsets.describe(|o| describe_offset(interval, o))
                )
            });
            continue;
        }
        let min = L - if offsets.second.is_some() {
            DST_SHIFT_MS
        } else {
            0
        };
        if let Some(p) = prev.filter(|&p| t.checked_sub(p).is_some_and(|d| d > 0 && d < min)) {
            count += 1;
            sink.problem(i, &|| too_close(t, p, interval));
        }
        prev = Some(t);
    }
    count
}

fn too_close(t: i64, prev: i64, interval: Interval) -> String {
    let step = t.wrapping_sub(prev);
    let apart = if step % MINUTE_MS == 0 {
        format!("{} min", step / MINUTE_MS)
    } else {
        format!("{step} ms")
    };
    format!(
        "open time {} is only {apart} after the previous bar's {}; {interval} bars are at least {interval} apart",
        format_ts(t),
        format_ts(prev)
    )
}

/// Civil date (year, month 1–12, day 1–31) of a day count since 1970-01-01 (H. Hinnant's algorithm).
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// The anchor days every monthly bar so far allows, `lo..=hi`: a bar on day `d` before its month's last
/// day pins the anchor to `d`; a bar on the last day allows any anchor from `d` on (31 covers them all).
#[derive(Debug, Clone, Copy)]
struct MonthAnchor {
    lo: u32,
    hi: u32,
}

impl MonthAnchor {
    /// Narrows the anchor to admit a bar on `day` of a month of `last` days, or leaves it and returns
    /// false when no anchor admits it too.
    fn accept(&mut self, day: u32, last: u32) -> bool {
        let hi = if day < last {
            self.hi.min(day)
        } else {
            self.hi
        };
        let lo = self.lo.max(day);
        if lo > hi {
            return false;
        }
        (self.lo, self.hi) = (lo, hi);
        true
    }

    fn describe(self) -> String {
        match (self.lo, self.hi) {
            (l, h) if l == h && l >= 29 => format!("day {l} (or the month's last day)"),
            (l, h) if l == h => format!("day {l}"),
            (l, _) => format!("the month's last day (day {l} or later)"),
        }
    }
}

/// Grid and spacing rules for calendar months: one anchor day ([`MonthAnchor`]) and one time of day (or
/// two, one hour apart); steps ≥ 28 days.
fn monthly(ts: &[i64], sink: &mut dyn Sink) -> usize {
    let Some(&t0) = ts.first() else { return 0 };
    let mut times = Offsets::new(t0.rem_euclid(DAY_MS), DAY_MS);
    let mut anchor = MonthAnchor { lo: 1, hi: 31 };
    let mut count = 0;
    let mut prev: Option<i64> = None;
    for (i, &t) in ts.iter().enumerate() {
        let tod = t.rem_euclid(DAY_MS);
        let (year, month, day) = civil(t.div_euclid(DAY_MS));
        let before = anchor;
        let problem: Option<Box<dyn Fn() -> String>> = if t.rem_euclid(MINUTE_MS) != 0 {
            Some(Box::new(move || {
                format!("open time {} is not on a whole minute", format_ts(t))
            }))
        } else if !times.accept(tod) {
            let file = times.describe(clock);
            Some(Box::new(move || {
                format!(
                    "open time {} is off the file's grid: it opens at {}, the file's 1M bars at {file}",
                    format_ts(t),
                    clock(tod)
                )
            }))
        } else if !anchor.accept(day, days_in_month(year, month)) {
            Some(Box::new(move || {
                format!(
                    "open time {} is on day {day} of the month; the file's 1M bars open on {}",
                    format_ts(t),
                    before.describe()
                )
            }))
        } else {
            None
        };
        if let Some(what) = problem {
            count += 1;
            sink.problem(i, &*what);
            continue;
        }
        let min = MONTH_MIN_MS
            - if times.second.is_some() {
                DST_SHIFT_MS
            } else {
                0
            };
        if let Some(p) = prev.filter(|&p| t.checked_sub(p).is_some_and(|d| d > 0 && d < min)) {
            count += 1;
            sink.problem(i, &|| too_close_month(t, p));
        }
        prev = Some(t);
    }
    count
}

fn too_close_month(t: i64, prev: i64) -> String {
    format!(
        "open time {} is only {:.1} days after the previous bar's {}; 1M bars are at least 28 days apart",
        format_ts(t),
        t.wrapping_sub(prev) as f64 / DAY_MS as f64,
        format_ts(prev)
    )
}

/// Whether the bars' typical spacing fits `interval`: `None` when it does, else why not (naming the
/// spacing, the interval, and the interval that fits when one does).
///
/// The grid rules above already refuse bars closer than the interval; this catches the other way — a
/// daily file imported as `1h` sits on the hourly grid with steps of 24 hours and would pass them. The
/// statistic is the **lower quartile** of the steps between consecutive bars, and it must be below twice
/// the interval's nominal length (a month counts as 30 days). Why not the median: a session with two
/// 4-hour bars a day (US stocks) has as many overnight steps as intraday ones, so its median step is
/// the overnight one; a quarter of the steps are one interval for any file that is mostly contiguous,
/// and none are for a coarser file. Fewer than three bars (two steps) are not judged.
pub fn spacing_problem(ts: &[i64], interval: Interval) -> Option<String> {
    if ts.len() < 3 {
        return None;
    }
    let mut steps: Vec<i64> = ts.windows(2).map(|w| w[1].saturating_sub(w[0])).collect();
    let k = (steps.len() - 1) / 4;
    let q = *steps.select_nth_unstable(k).1;
    let nominal = interval.nominal_ms();
    if q < 2 * nominal {
        return None;
    }
    let fits = Interval::ALL.iter().find(|i| match i {
        Interval::Month1 => (28 * DAY_MS..=31 * DAY_MS).contains(&q),
        other => other.nominal_ms() == q,
    });
    Some(format!(
        "the bars are {} apart (the lower quartile of {} steps), not {interval}{}",
        span_text(q),
        ts.len() - 1,
        fits.map_or(String::new(), |i| format!(": they look like {i} bars"))
    ))
}

/// A duration for messages: `1d`, `36h`, `2d 6h`, `45m`.
fn span_text(ms: i64) -> String {
    let (d, h, m) = (ms / DAY_MS, ms % DAY_MS / HOUR_MS, ms % HOUR_MS / MINUTE_MS);
    let parts: Vec<String> = [(d, "d"), (h, "h"), (m, "m")]
        .iter()
        .filter(|(v, _)| *v > 0)
        .map(|(v, u)| format!("{v}{u}"))
        .collect();
    if parts.is_empty() {
        format!("{ms}ms")
    } else {
        parts.join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Collects (index, message) pairs.
    #[derive(Default)]
    struct Collect(Vec<(usize, String)>);

    impl Sink for Collect {
        fn wants_detail(&self) -> bool {
            true
        }
        fn problem(&mut self, index: usize, what: &dyn Fn() -> String) {
            self.0.push((index, what()));
        }
    }

    fn check(ts: &[i64], interval: Interval) -> Vec<(usize, String)> {
        let mut c = Collect::default();
        let n = check_series(ts, interval, &mut c);
        assert_eq!(n, c.0.len());
        c.0
    }

    // 2024-01-01T00:00:00Z, a Monday.
    const MON: i64 = 1_704_067_200_000;

    #[test]
    fn spacing_must_fit_the_interval() {
        let t0 = 1_704_067_200_000; // 2024-01-01, a Monday
        let every = |step: i64, n: i64| (0..n).map(|i| t0 + i * step).collect::<Vec<_>>();
        // Daily bars imported as 1h: every step is 24 h ≥ 2 h.
        let msg = spacing_problem(&every(DAY_MS, 10), Interval::Hour1).unwrap();
        assert_eq!(
            msg,
            "the bars are 1d apart (the lower quartile of 9 steps), not 1h: they look like 1d bars"
        );
        assert_eq!(spacing_problem(&every(DAY_MS, 10), Interval::Day1), None);
        // Two 4h bars a day (13:30 and 17:30 UTC): half the steps are 4 h, half 20 h. The median would
        // say 20 h; the lower quartile says 4 h.
        let two_a_day: Vec<i64> = (0..20)
            .flat_map(|d| [13, 17].map(|h| t0 + d * DAY_MS + h * HOUR_MS + 30 * MINUTE_MS))
            .collect();
        assert_eq!(spacing_problem(&two_a_day, Interval::Hour4), None);
        // Three of four steps may be gaps; all four may not.
        let mut sparse = every(HOUR_MS, 2);
        sparse.extend([t0 + 10 * HOUR_MS, t0 + 20 * HOUR_MS, t0 + 30 * HOUR_MS]);
        assert_eq!(spacing_problem(&sparse, Interval::Hour1), None); // steps 1, 9, 10, 10 h
        assert!(
            spacing_problem(&every(36 * HOUR_MS, 5), Interval::Hour1)
                .unwrap()
                .starts_with("the bars are 1d 12h apart")
        );
        // Monthly bars are 28–31 days apart; quarterly ones as 1M are refused.
        let months: Vec<i64> = (0..12)
            .map(|m| crate::candles::interval::add_months(t0, m))
            .collect();
        assert_eq!(spacing_problem(&months, Interval::Month1), None);
        assert!(
            spacing_problem(&months, Interval::Week1)
                .unwrap()
                .ends_with("they look like 1M bars")
        );
        let quarters: Vec<i64> = (0..8)
            .map(|q| crate::candles::interval::add_months(t0, 3 * q))
            .collect();
        assert!(spacing_problem(&quarters, Interval::Month1).is_some());
        // Two bars are not judged.
        assert_eq!(spacing_problem(&every(DAY_MS, 2), Interval::Minute1), None);
    }

    #[test]
    fn the_window_is_1900_to_2199_with_unit_hints() {
        // 1900-01-01 is 25,567 days before the epoch; 2200-01-01 is 84,006 days after it.
        assert_eq!(TIME_MIN_MS, -25_567 * DAY_MS);
        assert_eq!(TIME_END_MS, 84_006 * DAY_MS);
        assert!(time_problem(TIME_MIN_MS).is_none());
        assert!(time_problem(TIME_END_MS - 1).is_none());
        assert!(time_problem(TIME_MIN_MS - 1).is_some());
        let us = time_problem(MON * 1_000).unwrap();
        assert!(
            us.contains("epoch microseconds it would be 2024-01-01"),
            "{us}"
        );
        let ns = time_problem(MON * 1_000_000).unwrap();
        assert!(
            ns.contains("epoch nanoseconds it would be 2024-01-01"),
            "{ns}"
        );
        assert!(!time_problem(i64::MAX).unwrap().contains("epoch"));
    }

    #[test]
    fn times_in_micro_or_nanoseconds_are_recognized() {
        // 2020-01-02T00:00:00Z is 1,577,923,200,000 ms.
        let ms = 1_577_923_200_000_i64;
        assert_eq!(time_problem(ms), None);
        let us = time_problem(ms * 1_000).unwrap();
        assert!(
            us.contains("as epoch microseconds it would be 2020-01-02"),
            "{us}"
        );
        assert!(us.contains("--time-format epoch-us"), "{us}");
        let ns = time_problem(ms * 1_000_000).unwrap();
        assert!(
            ns.contains("as epoch nanoseconds it would be 2020-01-02"),
            "{ns}"
        );
        let far = time_problem(-9_000_000_000_000_000_000).unwrap();
        assert!(far.starts_with("time ") && !far.contains("epoch"), "{far}");
    }

    #[test]
    fn prices_must_be_positive_and_below_the_cap() {
        assert!(values_ok(1.0, 2.0, 0.5, 1.5, 0.0));
        assert!(!values_ok(0.0, 2.0, 0.5, 1.5, 0.0));
        assert!(!values_ok(1.0, 2.0, -0.5, 1.5, 0.0));
        assert!(!values_ok(1.0, 1e13, 0.5, 1.5, 0.0));
        assert!(!values_ok(1.0, 2.0, 0.5, f64::NAN, 0.0));
        assert!(!values_ok(1.0, 2.0, 0.5, 1.5, -1.0));
        assert!(!values_ok(1.0, 2.0, 0.5, 1.5, 1e19));
        assert_eq!(
            value_problem("open", -1.0).unwrap(),
            "open -1 is not positive"
        );
        assert_eq!(
            value_problem("high", 1e308).unwrap(),
            "high 1e308 is above the limit 1e12"
        );
        assert_eq!(value_problem("volume", 0.0), None);
    }

    #[test]
    fn a_consistent_offset_passes_and_a_stray_one_is_named() {
        // Hourly bars at :30 past the hour, one at :45.
        let ts = [
            MON + 30 * MINUTE_MS,
            MON + 90 * MINUTE_MS,
            MON + 165 * MINUTE_MS,
            MON + 210 * MINUTE_MS,
        ];
        assert!(check(&ts[..2], Interval::Hour1).is_empty());
        let p = check(&ts, Interval::Hour1);
        assert_eq!(p.len(), 1, "{p:?}");
        assert_eq!(p[0].0, 2);
        assert!(
            p[0].1
                .contains("opens at 00:45 past each 1h step, the file's 1h bars at 00:30"),
            "{}",
            p[0].1
        );
    }

    #[test]
    fn seconds_and_short_steps_are_refused() {
        let p = check(&[MON, MON + 123], Interval::Hour1);
        assert_eq!(p[0].0, 1);
        assert!(p[0].1.contains("not on a whole minute"), "{}", p[0].1);
        // Whole minutes, on the grid of 1m but 1 min apart in a 5m file: off the 5m grid.
        let p = check(&[MON, MON + MINUTE_MS], Interval::Minute5);
        assert!(p[0].1.contains("off the file's grid"), "{}", p[0].1);
        // Daily bars at 00:00 and 22:00: two offsets, but not one hour apart.
        let p = check(&[MON, MON + 22 * HOUR_MS], Interval::Day1);
        assert!(
            p[0].1
                .contains("opens at 22:00, the file's 1d bars at 00:00"),
            "{p:?}"
        );
        // 00:00 then 23:00 is a daylight-saving pair: 23 hours apart is then allowed.
        assert!(check(&[MON, MON + 23 * HOUR_MS], Interval::Day1).is_empty());
        assert!(check(&[MON, MON + DAY_MS + 23 * HOUR_MS], Interval::Day1).is_empty());
        // Hourly steps in a daily file: the 01:00 bar is a DST offset but only 60 min after the
        // previous; the 02:00 bar is a third offset.
        let p = check(
            &[MON, MON + 60 * MINUTE_MS, MON + 120 * MINUTE_MS],
            Interval::Day1,
        );
        assert_eq!(p.len(), 2, "{p:?}");
        assert!(p[0].1.contains("only 60 min after"), "{}", p[0].1);
    }

    #[test]
    fn weekly_bars_share_a_weekday_and_monthly_bars_an_anchor_day() {
        let w = 7 * DAY_MS;
        assert!(check(&[MON, MON + w, MON + 3 * w], Interval::Week1).is_empty());
        let p = check(&[MON, MON + w + DAY_MS], Interval::Week1);
        assert!(
            p[0].1
                .contains("opens at Tue 00:00, the file's 1w bars at Mon 00:00"),
            "{}",
            p[0].1
        );
        // Month ends 2012-01-31, 02-29, 03-31, 04-30 (days since the epoch: 15370, 15399, 15430, 15460).
        let ends: Vec<i64> = [15_370, 15_399, 15_430, 15_460]
            .iter()
            .map(|d| d * DAY_MS)
            .collect();
        assert!(check(&ends, Interval::Month1).is_empty());
        // Month starts too.
        let starts: Vec<i64> = [15_340, 15_371, 15_400]
            .iter()
            .map(|d| d * DAY_MS)
            .collect();
        assert!(check(&starts, Interval::Month1).is_empty());
        // 2012-05-15 (day 15475) after the month ends.
        let mut bad = ends.clone();
        bad.push(15_475 * DAY_MS);
        let p = check(&bad, Interval::Month1);
        assert_eq!(p.len(), 1);
        assert!(
            p[0].1.contains("on day 15 of the month; the file's 1M bars open on day 31 (or the month's last day)"),
            "{}",
            p[0].1
        );
        // A February 29 first leaves the anchor open between 29 and 31.
        let p = check(&[15_399 * DAY_MS, 15_414 * DAY_MS], Interval::Month1);
        assert!(
            p[0].1
                .contains("open on the month's last day (day 29 or later)"),
            "{}",
            p[0].1
        );
        // 2012-04-30 is April's last day, so it shares the month-end anchor with 2012-05-31.
        let p = check(&[15_460 * DAY_MS, 15_491 * DAY_MS], Interval::Month1);
        assert!(p.is_empty(), "{p:?}");
    }

    #[test]
    fn civil_dates_match_chrono() {
        use chrono::Datelike;
        for days in (-80_000..90_000).step_by(37) {
            let d = chrono::DateTime::from_timestamp(days * 86_400, 0).unwrap();
            assert_eq!(civil(days), (d.year() as i64, d.month(), d.day()), "{days}");
            let next = d.date_naive().with_day(1).unwrap() + chrono::Months::new(1);
            let dim = (next - chrono::Days::new(1)).day();
            assert_eq!(days_in_month(d.year() as i64, d.month()), dim);
        }
    }
}
