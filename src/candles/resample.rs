//! Resampling to a higher timeframe, and the map from each base bar to the higher-timeframe bars that
//! have **closed** by that base bar's close (so a multi-timeframe strategy never peeks at a forming bar).
//!
//! Two groupings: every `k` consecutive base bars counted from the first ([`resample_bars`]; a group's
//! `ts` is its first base bar's open time), or calendar buckets of a longer [`Interval`]
//! ([`resample_interval`]: fixed-length intervals aligned to the Unix epoch, so days are UTC days; weeks
//! starting on Monday 00:00 UTC; calendar months; a bucket's `ts` is its start, so the result sits on
//! the store's grid). A higher-timeframe bar takes the first open, highest high, lowest low, last close
//! and summed volume of its base bars. Only closed higher-timeframe bars are returned.
//!
//! [`resample_stored`] writes a stored series resampled into the store (`fetch --resample`).

use super::time::format_ts_full;
use super::{Candles, DAY_MS, Interval, Store, TimeRange};
use crate::candles::store::MergeSummary;
use crate::error::{Error, Result};

/// Higher-timeframe bars plus, for every base bar, how many of them had closed by its close.
#[derive(Debug, Clone, PartialEq)]
pub struct Resampled {
    /// The closed higher-timeframe bars, oldest first.
    pub candles: Candles,
    /// For base bar `i`: the number of higher-timeframe bars closed by bar `i`'s close, so the latest one
    /// a decision at bar `i` may use is `closed[i] − 1` (none when 0).
    pub closed: Vec<usize>,
}

impl Resampled {
    /// `htf_values` (one per higher-timeframe bar) seen from each base bar: the value of the latest
    /// closed higher-timeframe bar, `NaN` before the first one has closed.
    pub fn on_base(&self, htf_values: &[f64]) -> Vec<f64> {
        self.closed
            .iter()
            .map(|&c| if c == 0 { f64::NAN } else { htf_values[c - 1] })
            .collect()
    }
}

/// Groups every `k` consecutive base bars (`k ≥ 1`) from the first one. Group `g` (bars `g·k ..
/// g·k + k − 1`) closes with its last base bar; a trailing partial group has not closed and is left out.
pub fn resample_bars(c: &Candles, k: usize) -> Result<Resampled> {
    if k == 0 {
        return Err(Error::usage(
            "resample: the group size must be at least 1 bar",
        ));
    }
    let groups = c.len() / k;
    let mut out = Candles::with_capacity(groups);
    for g in 0..groups {
        push_group(&mut out, c, c.ts[g * k], g * k, g * k + k);
    }
    let closed = (0..c.len()).map(|i| (i + 1) / k).collect();
    Ok(Resampled {
        candles: out,
        closed,
    })
}

/// Groups base bars of interval `base` into calendar buckets of the longer interval `target`. Base bar
/// `i` closes at `base.next_open(ts[i])`; a bucket has closed by then if its end is not later. A
/// bucket whose last base bars are missing (a data gap) closes with the first base bar whose close
/// reaches the bucket's end, i.e. the first bar of a later bucket.
pub fn resample_interval(c: &Candles, base: Interval, target: Interval) -> Result<Resampled> {
    if target.nominal_ms() <= base.nominal_ms() {
        return Err(Error::usage(format!(
            "resample: target interval {target} must be longer than the base interval {base}"
        )));
    }
    let n = c.len();
    // Bucket starts and the base-bar ranges they hold.
    let mut bounds: Vec<(i64, usize, usize)> = Vec::new();
    for i in 0..n {
        let start = bucket_start(c.ts[i], target);
        match bounds.last_mut() {
            Some(b) if b.0 == start => b.2 = i + 1,
            _ => bounds.push((start, i, i + 1)),
        }
    }
    let mut closed = Vec::with_capacity(n);
    let mut done = 0usize; // buckets closed so far
    for i in 0..n {
        let close_time = base.next_open(c.ts[i]);
        while done < bounds.len() && target.next_open(bounds[done].0) <= close_time {
            done += 1;
        }
        closed.push(done);
    }
    let mut out = Candles::with_capacity(done);
    for &(start, s, e) in &bounds[..done] {
        push_group(&mut out, c, start, s, e);
    }
    Ok(Resampled {
        candles: out,
        closed,
    })
}

/// The open time of the `target` bucket holding `ts`.
pub fn bucket_start(ts: i64, target: Interval) -> i64 {
    match target {
        Interval::Month1 => {
            use chrono::{DateTime, Datelike, NaiveDate, Utc};
            DateTime::<Utc>::from_timestamp_millis(ts)
                .and_then(|d| NaiveDate::from_ymd_opt(d.year(), d.month(), 1))
                .and_then(|d| d.and_hms_opt(0, 0, 0))
                .map(|d| d.and_utc().timestamp_millis())
                .unwrap_or(ts)
        }
        // 1970-01-05 (4 days after the epoch) was a Monday.
        Interval::Week1 => ts - (ts - 4 * DAY_MS).rem_euclid(7 * DAY_MS),
        other => ts - ts.rem_euclid(other.nominal_ms()),
    }
}

fn push_group(out: &mut Candles, c: &Candles, ts: i64, s: usize, e: usize) {
    let high = c.high[s..e]
        .iter()
        .cloned()
        .fold(f64::NEG_INFINITY, f64::max);
    let low = c.low[s..e].iter().cloned().fold(f64::INFINITY, f64::min);
    out.push(super::Bar {
        ts,
        open: c.open[s],
        high,
        low,
        close: c.close[e - 1],
        volume: c.volume[s..e].iter().sum(),
    });
}

/// What [`resample_stored`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResampleSummary {
    /// Base bars read.
    pub bars_read: usize,
    /// Higher-timeframe bars written (closed buckets).
    pub bars_written: usize,
    /// The start of the last bucket, left out because its end is after the last base bar's close.
    pub forming_left_out: Option<i64>,
    /// The first base bar's time when it opens after its bucket's start (the first bar then holds only
    /// part of its period: the data begins inside it).
    pub first_bucket_starts_late: Option<i64>,
    /// The store merge of the written bars.
    pub merge: MergeSummary,
}

/// Resamples the stored `symbol` bars of `from` into `to` and merges them into the store's `to` file
/// (atomic, under its lock, validated by every store rule; a stored bar with other values is a conflict
/// unless `replace`). Calendar rules: [`resample_interval`]. Every base bar must lie inside one bucket:
/// daily bars opening at 22:00 UTC (a forex session) span two UTC days and are refused, as are weeks
/// into months (a week may straddle two months).
pub fn resample_stored(
    store: &Store,
    symbol: &str,
    from: Interval,
    to: Interval,
    replace: bool,
) -> Result<ResampleSummary> {
    let base = store.load(symbol, from, &TimeRange::ALL)?;
    if let Some(i) = (0..base.len())
        .find(|&i| bucket_start(base.ts[i], to) != bucket_start(from.next_open(base.ts[i]) - 1, to))
    {
        return Err(Error::invalid(format!(
            "{symbol} {from} bar {} does not fit in one {to} bucket (buckets are UTC days, weeks from \
             Monday 00:00 UTC and calendar months{}); nothing was written",
            format_ts_full(base.ts[i]),
            if from == Interval::Week1 {
                "; weeks do not nest in months"
            } else {
                ""
            }
        )));
    }
    let r = resample_interval(&base, from, to)?;
    let last_bucket = base.ts.last().map(|&t| bucket_start(t, to));
    let forming_left_out = last_bucket.filter(|b| r.candles.ts.last() != Some(b));
    if r.candles.is_empty() {
        return Err(Error::invalid(format!(
            "{symbol} {from}: no complete {to} bar in {} bars (the last one, from {}, is still forming); \
             nothing was written",
            base.len(),
            forming_left_out.map_or("-".into(), format_ts_full)
        )));
    }
    let first_bucket_starts_late = base
        .ts
        .first()
        .copied()
        .filter(|&t| bucket_start(t, to) != t);
    let merge = store.merge(symbol, to, &r.candles, &format!("resample:{from}"), replace)?;
    Ok(ResampleSummary {
        bars_read: base.len(),
        bars_written: r.candles.len(),
        forming_left_out,
        first_bucket_starts_late,
        merge,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::candles::{Bar, HOUR_MS};

    fn hourly(n: usize, t0: i64) -> Candles {
        Candles::from_bars(
            &(0..n)
                .map(|i| Bar {
                    ts: t0 + i as i64 * HOUR_MS,
                    open: i as f64,
                    high: i as f64 + 0.5,
                    low: i as f64 - 0.5,
                    close: i as f64 + 0.25,
                    volume: 1.0,
                })
                .collect::<Vec<_>>(),
        )
    }

    #[test]
    fn every_k_bars() {
        let r = resample_bars(&hourly(7, 0), 3).unwrap();
        // Groups 0–2 and 3–5 closed; bar 6 starts a group that has not closed.
        assert_eq!(r.candles.len(), 2);
        assert_eq!(r.closed, vec![0, 0, 1, 1, 1, 2, 2]);
        let b = r.candles.bar(1);
        assert_eq!(
            (b.open, b.high, b.low, b.close, b.volume),
            (3.0, 5.5, 2.5, 5.25, 3.0)
        );
        assert_eq!(b.ts, 3 * HOUR_MS);
        let on = r.on_base(&[10.0, 20.0]);
        assert!(on[1].is_nan());
        assert_eq!(&on[2..], &[10.0, 10.0, 10.0, 20.0, 20.0]);
        assert!(resample_bars(&hourly(3, 0), 0).is_err());
    }

    #[test]
    fn calendar_buckets_close_with_their_last_base_bar_or_after_a_gap() {
        // Hourly bars from 02:00: the 4h bucket 00:00–04:00 closes with the 03:00 bar (closes 04:00).
        let c = hourly(7, 2 * HOUR_MS); // 02:00 .. 08:00
        let r = resample_interval(&c, Interval::Hour1, Interval::Hour4).unwrap();
        assert_eq!(r.closed, vec![0, 1, 1, 1, 1, 2, 2]);
        assert_eq!(r.candles.len(), 2);
        assert_eq!(r.candles.bar(0).open, 0.0); // partial first bucket: bars 02:00 and 03:00
        assert_eq!(r.candles.ts, [0, 4 * HOUR_MS]); // labelled by the bucket's start, not 02:00
        assert_eq!(r.candles.bar(1).close, 5.25); // 04:00..07:00
        // A gap: drop the 07:00 bar; the 04:00–08:00 bucket then closes only with the 08:00 bar.
        let mut g = c.slice(0..5);
        g.push(c.bar(6));
        let r = resample_interval(&g, Interval::Hour1, Interval::Hour4).unwrap();
        assert_eq!(r.closed, vec![0, 1, 1, 1, 1, 2]);
        assert_eq!(r.candles.bar(1).close, 4.25);
        assert!(resample_interval(&c, Interval::Hour4, Interval::Hour1).is_err());
        // Weeks start on Monday: 2020-01-06 was one.
        let monday = 1_578_268_800_000;
        assert_eq!(
            bucket_start(monday + 3 * DAY_MS + 5, Interval::Week1),
            monday
        );
        assert_eq!(
            bucket_start(monday - 1, Interval::Week1),
            monday - 7 * DAY_MS
        );
    }
}
