//! Gap detection: bars missing from a stored series, where "missing" respects the market's own calendar.
//!
//! The rule: a bar is expected at a time only if the series itself trades at that time of the week.
//! For intervals up to a day, each bar falls in a *week slot* (its offset from Monday 00:00 UTC, in steps
//! of the interval). A slot is *in session* when at least 10 % of the weeks the series spans have a bar in
//! it. A missing bar is a step-aligned time strictly between two consecutive bars whose slot is in session.
//! So weekends never count for daily stock data (no Saturday/Sunday slots), overnight and weekend session
//! breaks never count for intraday stock data, the forex weekend never counts (Saturday is empty, Sunday
//! evening is in session), while a missing weekday (an exchange holiday) or a missing hour inside the
//! session does count. Daylight-saving time moves session edges by an hour, so in a gap that spans a
//! session break, expected bars within one hour of an out-of-session slot are not counted (intervals up
//! to 1h). Weekly bars: a step of more than 7 days; monthly bars: a skipped calendar month.
//!
//! Missing bars are counted arithmetically (prefix counts over the week's slots), never by stepping
//! through a gap, so a gap of any length — even one spanning the whole i64 range — costs O(1).

use super::interval::month_index;
use super::{Candles, DAY_MS, HOUR_MS, Interval};

/// One run of missing bars between two stored bars. In JSON it also carries `after` and `before` as
/// RFC 3339 (the convention for times); `after_ts`/`before_ts` stay epoch milliseconds for scripts that
/// read them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gap {
    /// Open time of the stored bar before the gap (ms, UTC).
    pub after_ts: i64,
    /// Open time of the stored bar after the gap (ms, UTC).
    pub before_ts: i64,
    /// Number of expected bars missing in between.
    pub missing_bars: usize,
}

impl serde::Serialize for Gap {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        fn text<S: serde::Serializer>(ms: &i64, s: S) -> Result<S::Ok, S::Error> {
            s.serialize_str(&super::time::format_ts_full(*ms))
        }
        #[derive(serde::Serialize)]
        struct Shown {
            #[serde(serialize_with = "text")]
            after: i64,
            #[serde(serialize_with = "text")]
            before: i64,
            after_ts: i64,
            before_ts: i64,
            missing_bars: usize,
        }
        let g = *self;
        Shown {
            after: g.after_ts,
            before: g.before_ts,
            after_ts: g.after_ts,
            before_ts: g.before_ts,
            missing_bars: g.missing_bars,
        }
        .serialize(s)
    }
}

/// All gaps of a series.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct GapReport {
    /// Every gap, in time order.
    pub gaps: Vec<Gap>,
    /// Total expected bars missing.
    pub missing_bars: usize,
}

const WEEK_MS: i64 = 7 * DAY_MS;
/// 1970-01-01 was a Thursday; shifting by three days puts Monday 00:00 at week offset 0.
const MONDAY_SHIFT_MS: i64 = 3 * DAY_MS;

/// Finds the gaps of `c` (sorted, unique) at `interval`.
pub fn find_gaps(c: &Candles, interval: Interval) -> GapReport {
    let mut report = GapReport::default();
    let mut push = |after_ts: i64, before_ts: i64, missing: usize| {
        if missing > 0 {
            report.gaps.push(Gap {
                after_ts,
                before_ts,
                missing_bars: missing,
            });
            report.missing_bars = report.missing_bars.saturating_add(missing);
        }
    };
    match interval {
        Interval::Month1 => {
            for w in c.ts.windows(2) {
                let skipped = month_index(w[1]) - month_index(w[0]) - 1;
                push(w[0], w[1], skipped.max(0) as usize);
            }
        }
        Interval::Week1 => {
            for w in c.ts.windows(2) {
                let steps =
                    ((i128::from(w[1]) - i128::from(w[0])) as f64 / WEEK_MS as f64).round() as i64;
                push(w[0], w[1], (steps - 1).max(0) as usize);
            }
        }
        _ => session_gaps(c, interval, &mut push),
    }
    report
}

/// Gaps of an interval up to a day, by the week-slot session rule of the module documentation.
fn session_gaps(c: &Candles, interval: Interval, push: &mut impl FnMut(i64, i64, usize)) {
    let step = interval.nominal_ms();
    let slots_per_week = (WEEK_MS / step) as usize;
    let slot = |ts: i64| week_offset(ts) as usize / step as usize;
    let mut weeks_with_bar = vec![0u32; slots_per_week];
    let mut last_week_seen = vec![i64::MIN; slots_per_week];
    for &ts in &c.ts {
        let s = slot(ts);
        let week = week_index(ts);
        if last_week_seen[s] != week {
            last_week_seen[s] = week;
            weeks_with_bar[s] += 1;
        }
    }
    let weeks_spanned = match (c.ts.first(), c.ts.last()) {
        (Some(&a), Some(&b)) => {
            u32::try_from((i128::from(b) - i128::from(a)) / i128::from(WEEK_MS) + 1)
                .unwrap_or(u32::MAX)
        }
        _ => 1,
    };
    let threshold = (weeks_spanned / 10).max(1);
    let in_session: Vec<bool> = weeks_with_bar.iter().map(|&n| n >= threshold).collect();
    let edge_slots = if step <= HOUR_MS {
        (HOUR_MS / step) as usize
    } else {
        0
    };
    let near_edge = slots_near_session_edge(&in_session, edge_slots);
    let counts = SlotCounts::new(&in_session, &near_edge);
    for w in c.ts.windows(2) {
        // Expected open times w0 + k·step < w1 for k ≥ 1, counted by slot class, not stepped: each step
        // moves one slot on, since a week is a whole number of steps.
        let expected = (i128::from(w[1]) - i128::from(w[0]) - 1).max(0) / i128::from(step);
        let [out, edge, inner] = counts.in_cycle((slot(w[0]) + 1) % slots_per_week, expected);
        let missing = if out > 0 { inner } else { inner + edge };
        push(w[0], w[1], usize::try_from(missing).unwrap_or(usize::MAX));
    }
}

/// Milliseconds since the Monday 00:00 UTC that starts `ts`'s week (no overflow at the ends of i64).
fn week_offset(ts: i64) -> i64 {
    (ts.rem_euclid(WEEK_MS) + MONDAY_SHIFT_MS) % WEEK_MS
}

/// The index of `ts`'s week, counted from the week of 1970-01-01 (no overflow at the ends of i64).
fn week_index(ts: i64) -> i64 {
    ts.div_euclid(WEEK_MS) + i64::from(ts.rem_euclid(WEEK_MS) + MONDAY_SHIFT_MS >= WEEK_MS)
}

/// Prefix counts of the week's slots by class — out of session, in session near an edge, in session
/// inside — so the slots of any run of consecutive expected bars are counted in O(1).
struct SlotCounts {
    /// `prefix[k][i]`: slots of class `k` among slots `0..i`.
    prefix: [Vec<i128>; 3],
}

impl SlotCounts {
    fn new(in_session: &[bool], near_edge: &[bool]) -> Self {
        let mut prefix = [vec![0i128], vec![0i128], vec![0i128]];
        for (s, &on) in in_session.iter().enumerate() {
            let class = if !on {
                0
            } else if near_edge[s] {
                1
            } else {
                2
            };
            for (k, p) in prefix.iter_mut().enumerate() {
                let last = p[p.len() - 1];
                p.push(last + i128::from(k == class));
            }
        }
        SlotCounts { prefix }
    }

    /// Slots of each class among the `len` consecutive slots (cyclically) starting at `first`.
    fn in_cycle(&self, first: usize, len: i128) -> [i128; 3] {
        let n = self.prefix[0].len() - 1;
        let (full, rest) = (len / n as i128, (len % n as i128) as usize);
        std::array::from_fn(|k| {
            let p = &self.prefix[k];
            let part = if first + rest <= n {
                p[first + rest] - p[first]
            } else {
                (p[n] - p[first]) + p[first + rest - n]
            };
            full * p[n] + part
        })
    }
}

/// Marks the in-session slots within `reach` slots (cyclically) of an out-of-session slot.
fn slots_near_session_edge(in_session: &[bool], reach: usize) -> Vec<bool> {
    let n = in_session.len();
    let mut near = vec![false; n];
    if reach == 0 || in_session.iter().all(|&s| s) {
        return near;
    }
    for (i, flag) in near.iter_mut().enumerate() {
        if in_session[i] {
            *flag =
                (1..=reach).any(|d| !in_session[(i + d) % n] || !in_session[(i + n - d % n) % n]);
        }
    }
    near
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::candles::Bar;

    fn series(ts: &[i64]) -> Candles {
        Candles::from_bars(
            &ts.iter()
                .map(|&ts| Bar {
                    ts,
                    open: 1.0,
                    high: 1.0,
                    low: 1.0,
                    close: 1.0,
                    volume: 0.0,
                })
                .collect::<Vec<_>>(),
        )
    }

    // 2024-01-01 was a Monday.
    const MON: i64 = 1_704_067_200_000;

    #[test]
    fn weekends_are_not_gaps_for_daily_stock_data_but_a_missing_weekday_is() {
        // Four weeks of Monday–Friday bars, with Wednesday of week 3 missing.
        let mut ts = Vec::new();
        for week in 0..4 {
            for day in 0..5 {
                if !(week == 2 && day == 2) {
                    ts.push(MON + week * WEEK_MS + day * DAY_MS);
                }
            }
        }
        let r = find_gaps(&series(&ts), Interval::Day1);
        assert_eq!(r.missing_bars, 1);
        assert_eq!(r.gaps[0].after_ts, MON + 2 * WEEK_MS + DAY_MS);
    }

    #[test]
    fn overnight_session_breaks_are_not_gaps_for_intraday_data() {
        // 14:00–20:00 bars each weekday for two weeks; one 16:00 bar removed.
        let mut ts = Vec::new();
        for week in 0..2 {
            for day in 0..5 {
                for hour in 14..=20 {
                    let t = MON + week * WEEK_MS + day * DAY_MS + hour * HOUR_MS;
                    if t != MON + DAY_MS + 16 * HOUR_MS {
                        ts.push(t);
                    }
                }
            }
        }
        let r = find_gaps(&series(&ts), Interval::Hour1);
        assert_eq!(r.missing_bars, 1);
        assert_eq!(r.gaps.len(), 1);
    }

    /// The definition, stepped bar by bar: every expected open time strictly between two stored bars,
    /// counted unless its slot is out of session (then the whole gap is a session break and only the
    /// slots away from a session edge count). Only usable for short spans.
    fn stepped(c: &Candles, interval: Interval) -> Vec<usize> {
        let step = interval.nominal_ms();
        let n = (WEEK_MS / step) as usize;
        let slot = |ts: i64| ((ts + MONDAY_SHIFT_MS).rem_euclid(WEEK_MS) / step) as usize;
        let mut weeks = vec![std::collections::BTreeSet::new(); n];
        for &t in &c.ts {
            weeks[slot(t)].insert((t + MONDAY_SHIFT_MS).div_euclid(WEEK_MS));
        }
        let spanned = (c.ts[c.len() - 1] - c.ts[0]) / WEEK_MS + 1;
        let threshold = (spanned / 10).max(1) as usize;
        let in_session: Vec<bool> = weeks.iter().map(|w| w.len() >= threshold).collect();
        let reach = if step <= HOUR_MS {
            (HOUR_MS / step) as usize
        } else {
            0
        };
        let near = |s: usize| {
            (1..=reach).any(|d| !in_session[(s + d) % n] || !in_session[(s + n - d % n) % n])
        };
        c.ts.windows(2)
            .map(|w| {
                let (mut inner, mut edge, mut brk) = (0, 0, false);
                let mut t = w[0] + step;
                while t < w[1] {
                    let s = slot(t);
                    if !in_session[s] {
                        brk = true;
                    } else if reach > 0 && in_session.iter().any(|&x| !x) && near(s) {
                        edge += 1;
                    } else {
                        inner += 1;
                    }
                    t += step;
                }
                if brk { inner } else { inner + edge }
            })
            .collect()
    }

    #[test]
    fn arithmetic_counts_match_the_stepped_definition() {
        // Hourly bars Monday–Friday 08:00–17:00 over 6 weeks with holes of many lengths (one bar, an
        // afternoon, a day, a whole week, a span crossing a weekend), at a :30 offset; and 15-minute
        // bars around the clock with holes.
        let mut hourly = Vec::new();
        for day in 0..42 {
            for hour in 8..=17 {
                let t = MON + day * DAY_MS + hour * HOUR_MS + 30 * 60_000;
                let dow = day % 7;
                let skip = (day == 2 && hour == 11)
                    || (day == 8 && hour >= 13)
                    || day == 10
                    || (14..21).contains(&day)
                    || (day == 25 && hour > 15)
                    || (day == 28 && hour < 10);
                if dow < 5 && !skip {
                    hourly.push(t);
                }
            }
        }
        let quarter: Vec<i64> = (0..3000)
            .filter(|i| !(100..140).contains(i) && i % 97 != 5 && !(2000..2700).contains(i))
            .map(|i| MON + i * 15 * 60_000)
            .collect();
        for (ts, interval) in [(hourly, Interval::Hour1), (quarter, Interval::Minute15)] {
            let c = series(&ts);
            let want = stepped(&c, interval);
            let got = find_gaps(&c, interval);
            let got_per_pair: Vec<usize> =
                c.ts.windows(2)
                    .map(|w| {
                        got.gaps
                            .iter()
                            .find(|g| g.after_ts == w[0])
                            .map_or(0, |g| g.missing_bars)
                    })
                    .collect();
            assert_eq!(got_per_pair, want, "{interval}");
            assert!(
                got.missing_bars > 0,
                "{interval}: the series must have gaps"
            );
        }
    }

    #[test]
    fn times_at_the_ends_of_i64_do_not_overflow_or_loop() {
        // Three weeks of four one-minute bars each, right at the top (and at the bottom) of i64; the
        // middle two minutes of the last (first) week are missing: 2 missing bars. Stepping towards
        // i64::MAX overflows; the count must not.
        let week_of = |base: i64, w: i64, skip_middle: bool| -> Vec<i64> {
            (0..4)
                .filter(|m| !(skip_middle && (*m == 1 || *m == 2)))
                .map(|m| base + w * WEEK_MS + m * 60_000)
                .collect()
        };
        let top_base = i64::MAX - 5 * 60_000;
        let mut top: Vec<i64> = Vec::new();
        for w in [-2, -1] {
            top.extend(week_of(top_base, w, false));
        }
        top.extend(week_of(top_base, 0, true));
        assert_eq!(find_gaps(&series(&top), Interval::Minute1).missing_bars, 2);
        let bottom_base = i64::MIN + 10;
        let mut bottom = week_of(bottom_base, 0, true);
        for w in [1, 2] {
            bottom.extend(week_of(bottom_base, w, false));
        }
        assert_eq!(
            find_gaps(&series(&bottom), Interval::Minute1).missing_bars,
            2
        );
        // 300 years of minutes between two bars: ~1.6e8 steps if stepped.
        let wide = series(&[0, 300 * 365 * DAY_MS, 300 * 365 * DAY_MS + 60_000]);
        let t0 = std::time::Instant::now();
        let r = find_gaps(&wide, Interval::Minute1);
        assert!(
            t0.elapsed() < std::time::Duration::from_secs(1),
            "{:?}",
            t0.elapsed()
        );
        // Each slot of the week holds at most 2 bars across ~15,600 weeks: below the 10 % threshold, so
        // nothing is in session and the long hole is a session break.
        assert_eq!(r.missing_bars, 0);
    }

    #[test]
    fn monthly_gaps_count_skipped_calendar_months() {
        // 2012-01-31, 2012-02-29, then 2012-05-31: March and April are missing.
        let r = find_gaps(
            &series(&[1_327_968_000_000, 1_330_473_600_000, 1_338_422_400_000]),
            Interval::Month1,
        );
        assert_eq!(r.missing_bars, 2);
    }
}
