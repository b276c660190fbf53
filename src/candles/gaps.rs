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

use super::interval::month_index;
use super::{Candles, DAY_MS, HOUR_MS, Interval};

/// One run of missing bars between two stored bars.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Gap {
    /// Open time of the stored bar before the gap (ms, UTC).
    pub after_ts: i64,
    /// Open time of the stored bar after the gap (ms, UTC).
    pub before_ts: i64,
    /// Number of expected bars missing in between.
    pub missing_bars: usize,
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
            report.missing_bars += missing;
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
                let steps = ((w[1] - w[0]) as f64 / WEEK_MS as f64).round() as i64;
                push(w[0], w[1], (steps - 1).max(0) as usize);
            }
        }
        _ => {
            let step = interval.nominal_ms();
            let slots_per_week = (WEEK_MS / step) as usize;
            let slot = |ts: i64| ((ts + MONDAY_SHIFT_MS).rem_euclid(WEEK_MS) / step) as usize;
            let mut weeks_with_bar = vec![0u32; slots_per_week];
            let mut last_week_seen = vec![i64::MIN; slots_per_week];
            for &ts in &c.ts {
                let s = slot(ts);
                let week = (ts + MONDAY_SHIFT_MS).div_euclid(WEEK_MS);
                if last_week_seen[s] != week {
                    last_week_seen[s] = week;
                    weeks_with_bar[s] += 1;
                }
            }
            let weeks_spanned = match (c.ts.first(), c.ts.last()) {
                (Some(&a), Some(&b)) => ((b - a) / WEEK_MS + 1) as u32,
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
            for w in c.ts.windows(2) {
                let (mut missing, mut edge_missing, mut crosses_break) = (0, 0, false);
                let mut t = w[0] + step;
                while t < w[1] {
                    let s = slot(t);
                    if !in_session[s] {
                        crosses_break = true;
                    } else if near_edge[s] {
                        edge_missing += 1;
                    } else {
                        missing += 1;
                    }
                    t += step;
                }
                push(
                    w[0],
                    w[1],
                    if crosses_break {
                        missing
                    } else {
                        missing + edge_missing
                    },
                );
            }
        }
    }
    report
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
