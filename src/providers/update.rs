//! Bringing one store file up to date from a provider: plan the range (incremental from the last stored
//! bar, with one bar of overlap to catch revisions, or the full range), fetch every page, and merge the
//! complete, validated result in one atomic write. On any error the stored file is left as it was.

use std::path::PathBuf;

use super::{CandleRequest, FetchError, Progress, Provider};
use crate::candles::time::TimeRange;
use crate::candles::validate::normalize;
use crate::candles::{Candles, Interval, Store};

/// Bars fetched when there is neither a stored file nor a `--start`: one TwelveData page.
pub const DEFAULT_LOOKBACK_BARS: i64 = 5000;

/// What to update and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UpdateOptions {
    /// `--start`/`--end`; an open end means "now".
    pub range: TimeRange,
    /// Refetch the whole range even when bars are stored (`--full`).
    pub full: bool,
    /// The current time (ms, UTC); bars that have not closed by then are never stored.
    pub now: i64,
}

/// The outcome of updating one symbol.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct UpdateReport {
    /// The symbol as given.
    pub symbol: String,
    /// The store file.
    pub file: PathBuf,
    /// First bar time asked for (ms, UTC); `None` when nothing had to be asked.
    pub requested_start: Option<i64>,
    /// Last bar time asked for (ms, UTC).
    pub requested_end: Option<i64>,
    /// Bars not stored before.
    pub new_rows: usize,
    /// Stored bars whose values the provider revised (replaced).
    pub revised_rows: usize,
    /// Fetched bars identical to what was stored.
    pub unchanged_rows: usize,
    /// Rows in the file afterwards.
    pub total_rows: usize,
    /// First stored bar afterwards (ms, UTC).
    pub first: Option<i64>,
    /// Last stored bar afterwards (ms, UTC).
    pub last: Option<i64>,
    /// HTTP requests this symbol took (retries included).
    pub requests: usize,
}

/// Validates the bars gathered from every page of one request (sorted, de-duplicated, each row checked
/// with the store's rules, the interval's grid included; `source` names the provider and symbol in
/// messages) and keeps the closed ones inside the range.
pub fn validated_closed_in_range(
    mut all: Candles,
    source: &str,
    req: &CandleRequest,
) -> Result<Candles, FetchError> {
    let rows: Vec<u64> = (1..=all.len() as u64).collect();
    normalize(&mut all, &rows, source, "row", Some(req.interval))
        .map_err(|e| FetchError::new(e.to_string()))?;
    Ok(closed_in_range(&all, req))
}

/// Keeps the bars of sorted `c` that lie in `req`'s range and have closed by `req.now`.
pub fn closed_in_range(c: &Candles, req: &CandleRequest) -> Candles {
    let in_range = c.in_range(&TimeRange {
        start: Some(req.start),
        end: Some(req.end),
    });
    let closed = in_range
        .ts
        .partition_point(|&t| req.interval.next_open(t) <= req.now);
    in_range.slice(0..closed)
}

/// The fetch range for a file whose last stored bar is `last` (if any): from that bar on (one bar of
/// overlap), unless `full`, in which case `--start` (or a default lookback) to `--end` (or now).
/// `None` when there is nothing to ask for.
pub fn plan(interval: Interval, last: Option<i64>, opts: &UpdateOptions) -> Option<(i64, i64)> {
    let end = opts.range.end.unwrap_or(opts.now).min(opts.now);
    let default_start = opts
        .now
        .saturating_sub(DEFAULT_LOOKBACK_BARS * interval.nominal_ms())
        .max(0);
    let start = match (last, opts.full) {
        // Incremental: from the last stored bar however old it is, so no gap opens up.
        (Some(last), false) => opts.range.start.map_or(last, |s| s.max(last)),
        _ => opts.range.start.unwrap_or(default_start),
    };
    (start <= end).then_some((start, end))
}

/// Updates `symbol`/`interval` in `store` from `provider`. Nothing is written unless every page arrived
/// and validated; revised bars replace stored ones and are counted.
pub fn update_symbol(
    store: &Store,
    provider: &dyn Provider,
    symbol: &str,
    interval: Interval,
    opts: &UpdateOptions,
    progress: &mut dyn FnMut(Progress),
) -> Result<UpdateReport, FetchError> {
    let requests_before = provider.requests_sent();
    provider
        .interval_code(interval)
        .map_err(|e| FetchError::new(e.to_string()))?;
    let not_fetched = |e: crate::Error| FetchError::new(format!("{e}; nothing was fetched"));
    let path = store.path(symbol, interval).map_err(not_fetched)?;
    let existing = if path.exists() {
        store
            .load(symbol, interval, &TimeRange::ALL)
            .map_err(not_fetched)?
    } else {
        Candles::default()
    };
    let last = existing.ts.last().copied();
    let mut report = UpdateReport {
        symbol: symbol.to_string(),
        file: path,
        requested_start: None,
        requested_end: None,
        new_rows: 0,
        revised_rows: 0,
        unchanged_rows: 0,
        total_rows: existing.len(),
        first: existing.ts.first().copied(),
        last,
        requests: 0,
    };
    let Some((start, end)) = plan(interval, last, opts) else {
        progress(Progress {
            covered: 1.0,
            ..Progress::default()
        });
        return Ok(report);
    };
    report.requested_start = Some(start);
    report.requested_end = Some(end);
    let req = CandleRequest {
        symbol: symbol.to_string(),
        interval,
        start,
        end,
        now: opts.now,
    };
    let fetched = provider.fetch(&req, progress);
    report.requests = provider.requests_sent() - requests_before;
    let fetched = closed_in_range(&fetched?, &req);
    if fetched.is_empty() {
        return Ok(report);
    }
    let merged = store
        .merge(symbol, interval, &fetched, provider.name(), true)
        .map_err(|e| FetchError::new(e.to_string()))?;
    // The merge may have moved a legacy file to the symbol's encoded folder.
    report.file = store
        .path(symbol, interval)
        .map_err(|e| FetchError::new(e.to_string()))?;
    report.new_rows = merged.added;
    report.revised_rows = merged.replaced;
    report.unchanged_rows = merged.unchanged;
    report.total_rows = merged.total;
    report.first = [existing.ts.first(), fetched.ts.first()]
        .into_iter()
        .flatten()
        .min()
        .copied();
    report.last = [last.as_ref(), fetched.ts.last()]
        .into_iter()
        .flatten()
        .max()
        .copied();
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::candles::{DAY_MS, HOUR_MS};

    #[test]
    fn plans_incremental_full_and_default_ranges() {
        let now = 1_000 * HOUR_MS;
        let opts = |start: Option<i64>, end: Option<i64>, full: bool| UpdateOptions {
            range: TimeRange { start, end },
            full,
            now,
        };
        let h = Interval::Hour1;
        // Nothing stored, no --start: the default lookback, clamped at the epoch.
        assert_eq!(plan(h, None, &opts(None, None, false)), Some((0, now)));
        // Stored up to bar 900: from bar 900 (one bar of overlap) to now.
        assert_eq!(
            plan(h, Some(900 * HOUR_MS), &opts(Some(0), None, false)),
            Some((900 * HOUR_MS, now))
        );
        // A file last updated long ago (before the default lookback) continues from its last bar.
        assert_eq!(
            plan(h, Some(HOUR_MS), &opts(None, None, false)),
            Some((HOUR_MS, now))
        );
        let d = Interval::Day1;
        let old = now - 6_000 * DAY_MS;
        assert_eq!(
            plan(d, Some(old), &opts(None, None, false)),
            Some((old, now))
        );
        // --full ignores what is stored.
        assert_eq!(
            plan(h, Some(900 * HOUR_MS), &opts(Some(HOUR_MS), None, true)),
            Some((HOUR_MS, now))
        );
        // An --end before the last stored bar: nothing to ask.
        assert_eq!(
            plan(
                h,
                Some(900 * HOUR_MS),
                &opts(None, Some(800 * HOUR_MS), false)
            ),
            None
        );
        // An --end in the future is cut at now.
        assert_eq!(
            plan(h, None, &opts(Some(0), Some(2 * now), false)),
            Some((0, now))
        );
    }

    #[test]
    fn only_closed_bars_in_range_are_kept() {
        let c = Candles::from_bars(
            &(0..5)
                .map(|i| crate::candles::Bar {
                    ts: i * HOUR_MS,
                    open: 1.0,
                    high: 1.0,
                    low: 1.0,
                    close: 1.0,
                    volume: 0.0,
                })
                .collect::<Vec<_>>(),
        );
        let req = CandleRequest {
            symbol: "X".into(),
            interval: Interval::Hour1,
            start: HOUR_MS,
            end: 10 * HOUR_MS,
            now: 4 * HOUR_MS + 1,
        };
        // Bar 4 opened at 4h and closes at 5h > now: still open.
        assert_eq!(
            closed_in_range(&c, &req).ts,
            vec![HOUR_MS, 2 * HOUR_MS, 3 * HOUR_MS]
        );
    }
}
