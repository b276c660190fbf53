//! The bar interval vocabulary shared by every command: `1m 5m 15m 30m 1h 4h 1d 1w 1M`.

use std::fmt;
use std::str::FromStr;

use crate::error::Error;

/// A candle interval. Calendar months (`1M`) have no fixed length; everything else does.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(try_from = "String", into = "String")]
pub enum Interval {
    /// One minute.
    Minute1,
    /// Five minutes.
    Minute5,
    /// Fifteen minutes.
    Minute15,
    /// Thirty minutes.
    Minute30,
    /// One hour.
    Hour1,
    /// Four hours.
    Hour4,
    /// One day.
    Day1,
    /// One week.
    Week1,
    /// One calendar month.
    Month1,
}

/// Milliseconds in one minute.
pub const MINUTE_MS: i64 = 60_000;
/// Milliseconds in one hour.
pub const HOUR_MS: i64 = 60 * MINUTE_MS;
/// Milliseconds in one day.
pub const DAY_MS: i64 = 24 * HOUR_MS;

impl Interval {
    /// Every interval, shortest first.
    pub const ALL: [Interval; 9] = [
        Interval::Minute1,
        Interval::Minute5,
        Interval::Minute15,
        Interval::Minute30,
        Interval::Hour1,
        Interval::Hour4,
        Interval::Day1,
        Interval::Week1,
        Interval::Month1,
    ];

    /// The canonical spelling (`1m`, `1h`, `1M`, …), also used as the store file name.
    pub fn as_str(self) -> &'static str {
        match self {
            Interval::Minute1 => "1m",
            Interval::Minute5 => "5m",
            Interval::Minute15 => "15m",
            Interval::Minute30 => "30m",
            Interval::Hour1 => "1h",
            Interval::Hour4 => "4h",
            Interval::Day1 => "1d",
            Interval::Week1 => "1w",
            Interval::Month1 => "1M",
        }
    }

    /// Nominal length in milliseconds (a month counts as 30 days; use it only for spacing heuristics).
    pub fn nominal_ms(self) -> i64 {
        match self {
            Interval::Minute1 => MINUTE_MS,
            Interval::Minute5 => 5 * MINUTE_MS,
            Interval::Minute15 => 15 * MINUTE_MS,
            Interval::Minute30 => 30 * MINUTE_MS,
            Interval::Hour1 => HOUR_MS,
            Interval::Hour4 => 4 * HOUR_MS,
            Interval::Day1 => DAY_MS,
            Interval::Week1 => 7 * DAY_MS,
            Interval::Month1 => 30 * DAY_MS,
        }
    }

    /// The open time of the bar after the one opening at `ts`: `ts` plus the interval, or the same day and
    /// time one calendar month later for `1M` (clamped to the month's last day).
    pub fn next_open(self, ts: i64) -> i64 {
        match self {
            Interval::Month1 => add_months(ts, 1),
            _ => ts.saturating_add(self.nominal_ms()),
        }
    }

    /// True for intervals shorter than a day.
    pub fn is_intraday(self) -> bool {
        self.nominal_ms() < DAY_MS
    }
}

/// `ts` moved by `months` calendar months, keeping the time of day; the day is clamped to the month's end.
/// Beyond chrono's calendar (±262,000 years) the result saturates at `i64::MAX` / `i64::MIN`.
pub fn add_months(ts: i64, months: i32) -> i64 {
    use chrono::{DateTime, Datelike, NaiveDate, Utc};
    let saturated = if months >= 0 { i64::MAX } else { i64::MIN };
    let Some(dt) = DateTime::<Utc>::from_timestamp_millis(ts) else {
        return saturated;
    };
    let total = i64::from(dt.year()) * 12 + i64::from(dt.month0()) + i64::from(months);
    let Ok(year) = i32::try_from(total.div_euclid(12)) else {
        return saturated;
    };
    let month = total.rem_euclid(12) as u32 + 1;
    // The last day of the target month: the day before the 1st of the month after.
    let last_day = NaiveDate::from_ymd_opt(year, month, 1)
        .and_then(|d| d.checked_add_months(chrono::Months::new(1)))
        .and_then(|d| d.pred_opt())
        .map(|d| d.day());
    let Some(date) =
        last_day.and_then(|last| NaiveDate::from_ymd_opt(year, month, dt.day().min(last)))
    else {
        return saturated;
    };
    let time_ms = ts.rem_euclid(DAY_MS);
    date.and_hms_opt(0, 0, 0)
        .map_or(saturated, |d| d.and_utc().timestamp_millis() + time_ms)
}

/// The calendar month index (`year * 12 + month0`) of `ts`.
pub fn month_index(ts: i64) -> i64 {
    use chrono::{DateTime, Datelike, Utc};
    DateTime::<Utc>::from_timestamp_millis(ts)
        .map_or(0, |d| d.year() as i64 * 12 + d.month0() as i64)
}

impl fmt::Display for Interval {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Interval {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Interval::ALL
            .into_iter()
            .find(|i| i.as_str() == s)
            .ok_or_else(|| {
                Error::invalid(format!(
                    "unknown interval '{s}': use one of 1m 5m 15m 30m 1h 4h 1d 1w 1M"
                ))
            })
    }
}

impl TryFrom<String> for Interval {
    type Error = Error;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<Interval> for String {
    fn from(i: Interval) -> String {
        i.as_str().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_interval_round_trips_through_its_name() {
        for i in Interval::ALL {
            assert_eq!(i.as_str().parse::<Interval>().unwrap(), i);
        }
        assert!("2h".parse::<Interval>().is_err());
        // Minutes and months differ only by case.
        assert_ne!(
            "1m".parse::<Interval>().unwrap(),
            "1M".parse::<Interval>().unwrap()
        );
    }

    #[test]
    fn months_clamp_to_the_month_end_and_saturate_beyond_the_calendar() {
        // 2012-01-31 + 1 month = 2012-02-29 (leap year), + 13 months = 2013-02-28.
        let jan31 = 15_370 * DAY_MS;
        assert_eq!(add_months(jan31, 1), 15_399 * DAY_MS);
        assert_eq!(add_months(jan31, 13), (15_399 + 365) * DAY_MS);
        assert_eq!(
            add_months(jan31 + 5 * HOUR_MS, -1),
            15_339 * DAY_MS + 5 * HOUR_MS
        );
        // One month after chrono's last instant (December of the year 262,143) is beyond its calendar.
        let far = chrono::DateTime::<chrono::Utc>::MAX_UTC.timestamp_millis();
        assert_eq!(add_months(far, 1), i64::MAX);
        assert_eq!(add_months(i64::MAX, 1), i64::MAX);
        assert_eq!(add_months(i64::MIN, -1), i64::MIN);
        assert_eq!(Interval::Hour1.next_open(i64::MAX - 1), i64::MAX);
    }
}
