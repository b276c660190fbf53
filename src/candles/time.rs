//! Parsing and formatting of bar times: ISO dates and datetimes (with or without offset), epoch seconds
//! and milliseconds; all stored as UTC milliseconds.

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};

use super::DAY_MS;
use crate::error::{Error, Result};

/// How the time column of a CSV file is written.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Default,
    clap::ValueEnum,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum TimeFormat {
    /// Detect per value: ISO date/datetime, or epoch seconds/milliseconds/microseconds/nanoseconds by
    /// magnitude.
    #[default]
    Auto,
    /// ISO 8601 date or datetime; a datetime without an offset is taken as UTC.
    Iso,
    /// Seconds since the Unix epoch.
    EpochS,
    /// Milliseconds since the Unix epoch.
    EpochMs,
    /// Microseconds since the Unix epoch.
    EpochUs,
    /// Nanoseconds since the Unix epoch (pandas' integer datetimes).
    EpochNs,
}

/// The epoch units, and the magnitude from which `auto` reads a number in the next finer unit: below
/// 1e11 seconds (1e11 s is the year 5138, 1e11 ms 1973-03-03), below 1e14 milliseconds, below 1e17
/// microseconds, else nanoseconds. Inside the store's window (1900–2199) the four ranges do not overlap,
/// except that milliseconds before 1973-03-03 read as seconds (outside the window, so refused with a
/// hint, never stored wrong).
const EPOCH_UNITS: [(f64, i64); 4] = [
    (1e11, -1_000), // seconds: multiply by 1000
    (1e14, 1),      // milliseconds
    (1e17, 1_000),  // microseconds: divide by 1000
    (f64::INFINITY, 1_000_000),
];

/// Parses one time value into UTC milliseconds.
pub fn parse_time(s: &str, format: TimeFormat) -> Result<i64> {
    let s = s.trim();
    let bad = || Error::invalid(format!("unparsable time '{s}'"));
    let unit = |i: usize| Some(EPOCH_UNITS[i].1);
    match format {
        TimeFormat::EpochS => parse_epoch(s, unit(0)).ok_or_else(bad),
        TimeFormat::EpochMs => parse_epoch(s, unit(1)).ok_or_else(bad),
        TimeFormat::EpochUs => parse_epoch(s, unit(2)).ok_or_else(bad),
        TimeFormat::EpochNs => parse_epoch(s, unit(3)).ok_or_else(bad),
        TimeFormat::Iso => parse_iso(s).ok_or_else(bad),
        TimeFormat::Auto => parse_iso(s)
            .or_else(|| parse_epoch(s, None))
            .ok_or_else(bad),
    }
}

/// An epoch number in milliseconds. `unit` is a scale from [`EPOCH_UNITS`] (negative: multiply, positive:
/// divide), or `None` to pick it by magnitude. Integers are converted exactly (rounded half away from
/// zero), and saturate rather than wrap: a value beyond i64 lands outside the store's window.
fn parse_epoch(s: &str, unit: Option<i64>) -> Option<i64> {
    let v: f64 = s.parse().ok()?;
    if !v.is_finite() {
        return None;
    }
    let scale = unit.unwrap_or_else(|| {
        EPOCH_UNITS
            .iter()
            .find(|(limit, _)| v.abs() < *limit)
            .map_or(1_000_000, |u| u.1)
    });
    if let Ok(i) = s.parse::<i64>() {
        return Some(match scale {
            k if k < 0 => i.saturating_mul(-k),
            k => {
                let (q, r) = (i / k, i % k);
                q + (2 * r.abs() >= k) as i64 * r.signum()
            }
        });
    }
    let ms = if scale < 0 {
        v * (-scale) as f64
    } else {
        v / scale as f64
    };
    Some(ms.round() as i64) // `as` saturates at the i64 range
}

fn parse_iso(s: &str) -> Option<i64> {
    if let Ok(dt) = DateTime::parse_from_rfc3339(s) {
        return Some(dt.with_timezone(&Utc).timestamp_millis());
    }
    for fmt in [
        "%Y-%m-%d %H:%M:%S%.f%:z",
        "%Y-%m-%d %H:%M:%S%:z",
        "%Y-%m-%dT%H:%M:%S%.f%z",
    ] {
        if let Ok(dt) = DateTime::parse_from_str(s, fmt) {
            return Some(dt.with_timezone(&Utc).timestamp_millis());
        }
    }
    for fmt in [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(dt) = NaiveDateTime::parse_from_str(s, fmt) {
            return Some(Utc.from_utc_datetime(&dt).timestamp_millis());
        }
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Some(
            Utc.from_utc_datetime(&d.and_hms_opt(0, 0, 0)?)
                .timestamp_millis(),
        );
    }
    None
}

/// True when `s` is a plain date (`YYYY-MM-DD`) with no time of day.
fn is_date_only(s: &str) -> bool {
    NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").is_ok()
}

/// Formats UTC milliseconds as ISO 8601: `2004-08-19` for midnight, else `2017-04-19T09:00:00Z`.
pub fn format_ts(ms: i64) -> String {
    match DateTime::<Utc>::from_timestamp_millis(ms) {
        Some(dt) if ms.rem_euclid(DAY_MS) == 0 => dt.format("%Y-%m-%d").to_string(),
        Some(dt) if ms.rem_euclid(1000) == 0 => dt.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        Some(dt) => dt.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
        None => ms.to_string(),
    }
}

/// Formats UTC milliseconds as a full RFC 3339 datetime (`2004-08-19T00:00:00Z`), for machine output.
pub fn format_ts_full(ms: i64) -> String {
    match DateTime::<Utc>::from_timestamp_millis(ms) {
        Some(dt) if ms.rem_euclid(1000) == 0 => dt.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        Some(dt) => dt.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
        None => ms.to_string(),
    }
}

/// An inclusive time window on bar open times; either end may be open.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TimeRange {
    /// First bar time included (ms, UTC).
    pub start: Option<i64>,
    /// Last bar time included (ms, UTC).
    pub end: Option<i64>,
}

impl TimeRange {
    /// The unbounded range.
    pub const ALL: TimeRange = TimeRange {
        start: None,
        end: None,
    };

    /// Parses `--start`/`--end` values. A date-only end (`2013-01-31`) includes that whole day.
    pub fn parse(start: Option<&str>, end: Option<&str>) -> Result<TimeRange> {
        let start_ms = start
            .map(|s| {
                parse_time(s, TimeFormat::Auto).map_err(|e| Error::usage(format!("--start: {e}")))
            })
            .transpose()?;
        let end_ms = end
            .map(|s| {
                let t = parse_time(s, TimeFormat::Auto)
                    .map_err(|e| Error::usage(format!("--end: {e}")))?;
                Ok::<i64, Error>(if is_date_only(s) { t + DAY_MS - 1 } else { t })
            })
            .transpose()?;
        if let (Some(s), Some(e)) = (start_ms, end_ms)
            && e < s
        {
            return Err(Error::usage(format!(
                "--end {} is before --start {}",
                end.unwrap_or_default(),
                start.unwrap_or_default()
            )));
        }
        Ok(TimeRange {
            start: start_ms,
            end: end_ms,
        })
    }

    /// True when `ts` lies inside the range.
    pub fn contains(&self, ts: i64) -> bool {
        self.start.is_none_or(|s| ts >= s) && self.end.is_none_or(|e| ts <= e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_supported_spelling_to_the_same_instant() {
        let want = 1_492_592_400_000; // 2017-04-19T09:00:00Z
        for s in [
            "2017-04-19 09:00:00",
            "2017-04-19T09:00:00",
            "2017-04-19T09:00:00Z",
            "2017-04-19T11:00:00+02:00",
            "2017-04-19 09:00",
            "1492592400",
            "1492592400000",
            "1492592400000000",
            "1492592400000000000",
            "1492592400.0",
        ] {
            assert_eq!(parse_time(s, TimeFormat::Auto).unwrap(), want, "{s}");
        }
        assert_eq!(parse_time("1970-01-02", TimeFormat::Auto).unwrap(), DAY_MS);
        assert_eq!(parse_time("1000", TimeFormat::EpochMs).unwrap(), 1000);
        assert_eq!(parse_time("1000", TimeFormat::EpochS).unwrap(), 1_000_000);
        assert_eq!(parse_time("1500", TimeFormat::EpochUs).unwrap(), 2);
        assert_eq!(parse_time("-1500", TimeFormat::EpochUs).unwrap(), -2);
        assert_eq!(parse_time("1499999", TimeFormat::EpochNs).unwrap(), 1);
        assert!(parse_time("yesterday", TimeFormat::Auto).is_err());
        assert!(parse_time("2017-04-19", TimeFormat::EpochS).is_err());
    }

    #[test]
    fn a_date_only_end_includes_the_whole_day() {
        let r = TimeRange::parse(Some("2020-01-01"), Some("2020-01-01")).unwrap();
        assert!(r.contains(parse_time("2020-01-01 23:00:00", TimeFormat::Auto).unwrap()));
        assert!(!r.contains(parse_time("2020-01-02", TimeFormat::Auto).unwrap()));
        assert!(TimeRange::parse(Some("2020-01-02"), Some("2020-01-01")).is_err());
    }

    #[test]
    fn formats_dates_and_datetimes() {
        assert_eq!(format_ts(0), "1970-01-01");
        assert_eq!(format_ts(HOUR), "1970-01-01T01:00:00Z");
        assert_eq!(format_ts_full(0), "1970-01-01T00:00:00Z");
    }
    const HOUR: i64 = 3_600_000;
}
