//! Walk-forward analysis, the arithmetic: where each train/test window starts and ends, how well the
//! out-of-sample results kept up with the in-sample ones, and how much the chosen parameters moved.
//!
//! # Windows
//!
//! A walk-forward run optimizes on a *train* window, then trades the chosen parameters on the *test*
//! window that follows it, then moves on by a *step* and repeats:
//!
//! ```text
//! rolling:   [train 0      ][purge][test 0]
//!                  [train 1      ][purge][test 1]          (start moves by step)
//! anchored:  [train 0      ][purge][test 0]
//!            [train 1            ][purge][test 1]          (start stays, train grows by step)
//! ```
//!
//! - Window k's train covers [a, a + train); a purge gap of `purge` follows (bars left out so that
//!   trades and indicators straddling the boundary cannot leak the test period into the training);
//!   the test starts right after the purge and covers `test`.
//! - Rolling: a = start of data + k·step. Anchored: a = start of data and the train ends at
//!   start + train + k·step. The step defaults to the test length, so the tests tile the data.
//! - Windows are produced while the whole test window fits in the data; the last partial test is
//!   left out rather than cut short.
//!
//! Lengths ([`Len`]) are bar counts (`2000`) or calendar spans (`90m`, `12h`, `180d`, `8w`, `6M`, `1y`:
//! minutes, hours, days, weeks, calendar months, calendar years — `m` is minutes and `M` months, as in
//! the interval names). A calendar span starting at time t covers the bars with t ≤ ts < t + span;
//! months and years move the calendar date (Jan 31 + 1M = Feb 28/29, the day clamped to the month's
//! end). Every boundary is counted from the first bar: with the default step window k's test ends at
//! t0 + (k + 1)·test + train + purge (with every length of one kind, t0 + k·step + train + purge +
//! test), adding lengths of the same kind before moving the date, so a
//! clamped day never drifts (with t0 = Jan 31, `2M` + `1M` ends on Apr 30, not on Mar 31 → Apr 30
//! via Feb 29 → Apr 29) and consecutive tests tile exactly. A purge of another kind than the test
//! (`5` bars with a `1M` test, `3d` with `1M`) is laid out last: the test covers the `test` span that
//! follows the train, shifted later by the purge — it starts `purge` after the train end T and ends
//! `purge` after T + test — so with the default step each test still ends exactly where the next
//! one starts, however the weekends fall (5 bars can span 5 to 9 days). A train of another kind than
//! the test (`500` bars with `1M`) is laid out after the test's months the same way, so each test spans a
//! calendar month measured before the train's bars, not always the month after the train. A `--step` measured otherwise than the test (`100`
//! bars with `6M`) can fall short of a test in some windows: the overlap error then says so. The
//! data ends at the last bar's time plus
//! the smallest bar spacing (the end of the last bar); a span must end by then to fit — so with
//! weekday bars whose last bar is a Friday, a `1w` test ending on the next Monday does not fit.
//! Bar counts and spans can be mixed (a `6M` train with a `5` bar purge).
//!
//! Pitfalls: a train window must hold enough bars for the slowest indicator to warm up; without a
//! purge, a trade opened at the end of the train window is still open in the test window.
//!
//! # Walk-forward efficiency (WFE)
//!
//! `WFE = annualized out-of-sample return / annualized in-sample return`, per window and overall
//! ([`efficiency`]). Around 1 the strategy earned out of sample what the optimizer promised; well
//! below 1 (a common rule of thumb: below 0.5) the in-sample results were mostly fit to noise.
//! Annualized return = (1 + total return)^(1 / years) − 1, with a total loss (return ≤ −100 %) at −1.
//! Overall: the out-of-sample windows chained into one record (their total returns compounded, their
//! years added) over the mean of the windows' annualized in-sample returns (in-sample windows overlap,
//! so compounding them would count periods twice). **When the in-sample figure is ≤ 0 the WFE is
//! undefined (None)**: dividing by a loss would turn a loss in both periods into a positive
//! "efficiency", and 0 divides by zero. Pitfall: very short windows annualize to extreme values.
//!
//! # Parameter stability
//!
//! For each numeric parameter: the mean, over consecutive windows, of |value in window k − value in
//! window k−1| divided by the width of the parameter's search range (hi − lo); overall: the mean over
//! parameters ([`parameter_stability`]). 0 = the same value every window; 1 = the value jumps from one
//! end of the range to the other every time (the maximum); independent uniform picks average 1/3.
//! Large values mean the optimum is not a stable feature of the market. Parameters whose range is a
//! single value are left out (None). It needs at least two windows.

use std::fmt;
use std::ops::Range;
use std::str::FromStr;

use chrono::{DateTime, Months, Utc};

use crate::candles::time::format_ts;
use crate::error::{Error, Result};

const MINUTE_MS: i64 = 60_000;
const HOUR_MS: i64 = 60 * MINUTE_MS;
const DAY_MS: i64 = 24 * HOUR_MS;
/// A year for annualizing: 365.25 days.
pub const YEAR_MS: f64 = 365.25 * DAY_MS as f64;

/// The unit of a calendar span.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// `m`: 60 seconds.
    Minute,
    /// `h`: 60 minutes.
    Hour,
    /// `d`: 24 hours (UTC, so always 86,400 s).
    Day,
    /// `w`: 7 days.
    Week,
    /// `M`: a calendar month (the day of the month kept, clamped to the month's end).
    Month,
    /// `y`: 12 calendar months.
    Year,
}

impl Unit {
    const ALL: [(char, Unit); 6] = [
        ('m', Unit::Minute),
        ('h', Unit::Hour),
        ('d', Unit::Day),
        ('w', Unit::Week),
        ('M', Unit::Month),
        ('y', Unit::Year),
    ];

    fn suffix(self) -> char {
        Unit::ALL
            .iter()
            .find(|(_, u)| *u == self)
            .map_or('?', |(c, _)| *c)
    }
}

/// A window length: a number of bars, or a calendar span (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Len {
    /// This many bars.
    Bars(usize),
    /// This many units of calendar time.
    Span(u32, Unit),
}

impl Len {
    /// No length (the default purge).
    pub const ZERO: Len = Len::Bars(0);

    /// Whether the length is zero.
    pub fn is_zero(self) -> bool {
        matches!(self, Len::Bars(0) | Len::Span(0, _))
    }
}

impl FromStr for Len {
    type Err = Error;

    /// `2000` (bars) or a number followed by `m`, `h`, `d`, `w`, `M` or `y`.
    fn from_str(s: &str) -> Result<Len> {
        let bad = || {
            Error::usage(format!(
                "bad window length '{s}': expected a number of bars (2000) or a span like 90m, 12h, 180d, 8w, 6M, 1y"
            ))
        };
        let s = s.trim();
        let (digits, unit) = match s.char_indices().last() {
            Some((i, c)) if c.is_ascii_alphabetic() => {
                let unit = Unit::ALL.iter().find(|(u, _)| *u == c).ok_or_else(bad)?.1;
                (&s[..i], Some(unit))
            }
            _ => (s, None),
        };
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        match unit {
            None => digits.parse().map(Len::Bars).map_err(|_| bad()),
            Some(u) => digits.parse().map(|n| Len::Span(n, u)).map_err(|_| bad()),
        }
    }
}

impl fmt::Display for Len {
    /// The text [`Len::from_str`] reads back.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Len::Bars(n) => write!(f, "{n}"),
            Len::Span(n, u) => write!(f, "{n}{}", u.suffix()),
        }
    }
}

/// How to cut the data into walk-forward windows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WalkForward {
    /// The train (in-sample) length.
    pub train: Len,
    /// The test (out-of-sample) length.
    pub test: Len,
    /// The gap left out between train and test.
    pub purge: Len,
    /// How far each window moves on; None = the test length.
    pub step: Option<Len>,
    /// Keep every train window starting at the first bar (it grows by the step).
    pub anchored: bool,
}

/// One walk-forward window: bar indexes (half-open) and the time spans they cover.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window {
    /// 0 for the first window.
    pub index: usize,
    /// The train bars: `ts[train]`.
    pub train: Range<usize>,
    /// The test bars.
    pub test: Range<usize>,
    /// The train span in ms UTC, `[from, to)`: exactly the train bars have their time in it.
    pub train_ms: Range<i64>,
    /// The test span in ms UTC, `[from, to)`.
    pub test_ms: Range<i64>,
}

impl Window {
    /// The length of the train span in years of 365.25 days.
    pub fn train_years(&self) -> f64 {
        (self.train_ms.end - self.train_ms.start) as f64 / YEAR_MS
    }

    /// The length of the test span in years of 365.25 days.
    pub fn test_years(&self) -> f64 {
        (self.test_ms.end - self.test_ms.start) as f64 / YEAR_MS
    }
}

/// A place in the data: the first bar at or after `time` is `idx` (no bar lies in [time, ts[idx])).
#[derive(Debug, Clone, Copy)]
struct Pos {
    idx: usize,
    time: i64,
}

/// A length as the arithmetic needs it: bars, fixed milliseconds (m, h, d, w) or calendar months.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Offset {
    Bars(usize),
    Ms(i64),
    Months(u32),
}

impl Offset {
    /// `len` taken `k` times; None on overflow.
    fn of(len: Len, k: usize) -> Option<Offset> {
        Some(match len {
            Len::Bars(n) => Offset::Bars(n.checked_mul(k)?),
            Len::Span(n, unit) => {
                let n = n.checked_mul(u32::try_from(k).ok()?)?;
                let ms = |unit_ms: i64| i64::from(n).checked_mul(unit_ms).map(Offset::Ms);
                match unit {
                    Unit::Minute => ms(MINUTE_MS)?,
                    Unit::Hour => ms(HOUR_MS)?,
                    Unit::Day => ms(DAY_MS)?,
                    Unit::Week => ms(7 * DAY_MS)?,
                    Unit::Month => Offset::Months(n),
                    Unit::Year => Offset::Months(n.checked_mul(12)?),
                }
            }
        })
    }

    fn is_zero(self) -> bool {
        matches!(self, Offset::Bars(0) | Offset::Ms(0) | Offset::Months(0))
    }

    /// The sum of two offsets of the same kind; None for different kinds or on overflow.
    fn merge(self, other: Offset) -> Option<Offset> {
        match (self, other) {
            (Offset::Bars(a), Offset::Bars(b)) => a.checked_add(b).map(Offset::Bars),
            (Offset::Ms(a), Offset::Ms(b)) => a.checked_add(b).map(Offset::Ms),
            (Offset::Months(a), Offset::Months(b)) => a.checked_add(b).map(Offset::Months),
            _ => None,
        }
    }
}

/// The bar times and where they end.
struct Bars<'a> {
    ts: &'a [i64],
    /// The end of the last bar: its time plus the smallest bar spacing.
    end: i64,
}

impl Bars<'_> {
    /// Where `parts` laid end to end from the first bar lead; None past the end of the data or on
    /// overflow. Neighbouring parts of the same kind are added before moving (`2M` then `1M` is `3M`
    /// from the start, not `2M` clamped to a short month and then `1M`), so calendar windows do not
    /// drift and consecutive tests tile exactly.
    fn locate(&self, parts: &[Option<Offset>]) -> Option<Pos> {
        let mut pos = Pos {
            idx: 0,
            time: self.ts[0],
        };
        let mut pending: Option<Offset> = None;
        for part in parts {
            let part = (*part)?;
            if part.is_zero() {
                continue;
            }
            pending = match pending.map(|p| (p, p.merge(part))) {
                None => Some(part),
                Some((_, Some(merged))) => Some(merged),
                Some((p, None)) => {
                    pos = self.advance(pos, p)?;
                    Some(part)
                }
            };
        }
        match pending {
            Some(p) => self.advance(pos, p),
            None => Some(pos),
        }
    }

    /// `pos` moved on by `off`; None when that runs past the end of the data.
    fn advance(&self, pos: Pos, off: Offset) -> Option<Pos> {
        let time = match off {
            Offset::Bars(k) => {
                let idx = pos.idx.checked_add(k).filter(|&i| i <= self.ts.len())?;
                let time = self.ts.get(idx).copied().unwrap_or(self.end);
                return Some(Pos { idx, time });
            }
            Offset::Ms(ms) => pos.time.checked_add(ms)?,
            Offset::Months(m) => DateTime::<Utc>::from_timestamp_millis(pos.time)?
                .checked_add_months(Months::new(m))?
                .timestamp_millis(),
        };
        (time <= self.end).then(|| Pos {
            idx: self.ts.partition_point(|&t| t < time),
            time,
        })
    }
}

impl WalkForward {
    /// Rolling windows of `train` then `test`, no purge, stepping by the test length.
    pub fn new(train: Len, test: Len) -> WalkForward {
        WalkForward {
            train,
            test,
            purge: Len::ZERO,
            step: None,
            anchored: false,
        }
    }

    /// The step: the given one, else the test length.
    pub fn step(&self) -> Len {
        self.step.unwrap_or(self.test)
    }

    /// Whether the step and the test are measured alike (both bars, both fixed time — m, h, d, w —
    /// or both calendar months — M, y), so that a step at least the test length always moves past
    /// a test. A step of another measure (`--step 100` with `--test 6M`) can fall short of the test
    /// in some windows and not in others.
    pub fn step_measured_like_test(&self) -> bool {
        matches!(
            (Offset::of(self.step(), 1), Offset::of(self.test, 1)),
            (Some(Offset::Bars(_)), Some(Offset::Bars(_)))
                | (Some(Offset::Ms(_)), Some(Offset::Ms(_)))
                | (Some(Offset::Months(_)), Some(Offset::Months(_)))
        )
    }

    /// The windows over bars with open times `ts` (ms UTC, strictly increasing). Usage error when a
    /// length is zero or not even one window fits (naming what one window needs and what the data
    /// has), or when a window's train or test holds no bar (a gap in the data); invalid-input error
    /// when `ts` is not strictly increasing or has fewer than 2 bars.
    pub fn windows(&self, ts: &[i64]) -> Result<Vec<Window>> {
        for (what, len) in [
            ("train", self.train),
            ("test", self.test),
            ("step", self.step()),
        ] {
            if len.is_zero() {
                return Err(Error::usage(format!(
                    "the walk-forward {what} length must be positive, got {len}"
                )));
            }
        }
        let bars = bar_times(ts)?;
        let mut out = Vec::new();
        while let Some(w) = self.window(&bars, out.len()) {
            if w.train.is_empty() || w.test.is_empty() {
                let (what, span) = if w.train.is_empty() {
                    ("train", &w.train_ms)
                } else {
                    ("test", &w.test_ms)
                };
                return Err(Error::usage(format!(
                    "walk-forward window {} has no bars in its {what} span {} to {} (a gap in the data): use longer windows",
                    w.index,
                    format_ts(span.start),
                    format_ts(span.end)
                )));
            }
            out.push(w);
        }
        if out.is_empty() {
            return Err(self.does_not_fit(&bars));
        }
        Ok(out)
    }

    /// Window `k`, or None when its test does not fit in the data.
    fn window(&self, bars: &Bars, k: usize) -> Option<Window> {
        let moved = Offset::of(self.step(), k);
        let [train, purge, test] = [self.train, self.purge, self.test].map(|l| Offset::of(l, 1));
        // Every boundary is laid out from the first bar (see `Bars::locate`).
        let (start, mut parts) = if self.anchored {
            (bars.locate(&[])?, vec![train, moved])
        } else {
            (bars.locate(&[moved])?, vec![moved, train])
        };
        let train_end = bars.locate(&parts)?;
        // The test end is laid out with the test added to the step term, the purge last, so window
        // k's test ends exactly where window k + 1's starts when the step is the test length. Laid
        // out as train, purge, test instead, a purge of another kind than the test (5 bars with a
        // `1M` test) moves the test's end by a different amount of time in each window — weekends
        // fall differently — and tests overlapped. When every length is of one kind both are the
        // same sum.
        let end_parts = match moved.zip(test).and_then(|(m, t)| m.merge(t)) {
            Some(moved_test) if self.anchored => vec![train, Some(moved_test), purge],
            Some(moved_test) => vec![Some(moved_test), train, purge],
            None => [parts.as_slice(), &[purge, test]].concat(),
        };
        parts.push(purge);
        let test_start = bars.locate(&parts)?;
        let test_end = bars.locate(&end_parts)?;
        Some(Window {
            index: k,
            train: start.idx..train_end.idx,
            test: test_start.idx..test_end.idx,
            train_ms: start.time..train_end.time,
            test_ms: test_start.time..test_end.time,
        })
    }

    /// The error for data too short for one window.
    fn does_not_fit(&self, bars: &Bars) -> Error {
        let parts: Vec<String> = [
            ("train", self.train),
            ("purge", self.purge),
            ("test", self.test),
        ]
        .into_iter()
        .filter(|(_, len)| !len.is_zero())
        .map(|(what, len)| format!("{what} {len}"))
        .collect();
        let n = bars.ts.len();
        let purge = if self.purge.is_zero() {
            Len::ZERO
        } else {
            self.purge
        };
        if let [Len::Bars(a), Len::Bars(b), Len::Bars(c)] = [self.train, purge, self.test] {
            return Error::usage(format!(
                "walk-forward needs {} bars for one window ({}), the data has {n}",
                a.saturating_add(b).saturating_add(c),
                parts.join(" + ")
            ));
        }
        Error::usage(format!(
            "walk-forward needs {} for one window, the data has {n} bars from {} to {}",
            parts.join(" + "),
            format_ts(bars.ts[0]),
            format_ts(bars.end)
        ))
    }
}

/// Checks the bar times and finds where the data ends.
fn bar_times(ts: &[i64]) -> Result<Bars<'_>> {
    if ts.len() < 2 {
        return Err(Error::invalid(format!(
            "walk-forward needs at least 2 bars, got {}",
            ts.len()
        )));
    }
    let mut spacing = i64::MAX;
    for (i, w) in ts.windows(2).enumerate() {
        if w[1] <= w[0] {
            return Err(Error::invalid(format!(
                "bar times are not strictly increasing at bar {} ({} after {})",
                i + 1,
                format_ts(w[1]),
                format_ts(w[0])
            )));
        }
        spacing = spacing.min(w[1] - w[0]);
    }
    Ok(Bars {
        ts,
        end: ts[ts.len() - 1].saturating_add(spacing),
    })
}

/// The in-sample and out-of-sample results of one window, as total returns (0.12 = +12 %) over spans
/// in years (e.g. [`Window::train_years`] and [`Window::test_years`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WindowReturns {
    /// Total in-sample return of the chosen parameters.
    pub is_return: f64,
    /// Length of the in-sample span in years.
    pub is_years: f64,
    /// Total out-of-sample return.
    pub oos_return: f64,
    /// Length of the out-of-sample span in years.
    pub oos_years: f64,
}

/// `(1 + total)^(1 / years) − 1`; −1 for a total loss (total ≤ −1), NaN when `years` is not positive.
pub fn annualize(total: f64, years: f64) -> f64 {
    if years.is_nan() || years <= 0.0 {
        return f64::NAN;
    }
    if total <= -1.0 {
        return -1.0;
    }
    (1.0 + total).powf(1.0 / years) - 1.0
}

/// Walk-forward efficiency, per window and overall (see the module docs).
#[derive(Debug, Clone, PartialEq)]
pub struct Efficiency {
    /// Per window: annualized OOS / annualized IS return; None when the IS figure is ≤ 0 or undefined.
    pub per_window: Vec<Option<f64>>,
    /// The chained OOS record's annualized return.
    pub oos_annualized: f64,
    /// The mean of the windows' annualized IS returns.
    pub is_annualized: f64,
    /// `oos_annualized / is_annualized`; None when `is_annualized` is ≤ 0 or undefined.
    pub overall: Option<f64>,
}

/// Walk-forward efficiency of `windows` (in order).
pub fn efficiency(windows: &[WindowReturns]) -> Efficiency {
    let ratio = |oos: f64, is: f64| (is > 0.0 && oos.is_finite()).then(|| oos / is);
    let per_window = windows
        .iter()
        .map(|w| {
            ratio(
                annualize(w.oos_return, w.oos_years),
                annualize(w.is_return, w.is_years),
            )
        })
        .collect();
    let growth: f64 = windows
        .iter()
        .map(|w| (1.0 + w.oos_return).max(0.0))
        .product();
    let years: f64 = windows.iter().map(|w| w.oos_years).sum();
    let oos_annualized = annualize(growth - 1.0, years);
    let is_annualized = windows
        .iter()
        .map(|w| annualize(w.is_return, w.is_years))
        .sum::<f64>()
        / windows.len() as f64;
    Efficiency {
        per_window,
        oos_annualized,
        is_annualized,
        overall: ratio(oos_annualized, is_annualized),
    }
}

/// How much the chosen parameters moved between windows (see the module docs).
#[derive(Debug, Clone, PartialEq)]
pub struct Stability {
    /// Per parameter: the mean normalized absolute change; None for a single-value range.
    pub per_param: Vec<Option<f64>>,
    /// The mean over the parameters that have a value; None if none has.
    pub overall: Option<f64>,
}

/// Parameter stability of `chosen[k][j]` = parameter j's value in window k, each parameter with its
/// search range `ranges[j] = (lo, hi)`. Numeric parameters only (a choice parameter may be passed as
/// its index only when its choices are ordered). Invalid-input error when fewer than 2 windows are
/// given, a row's length differs from the number of ranges, or a range or value is not finite or
/// hi < lo.
pub fn parameter_stability<R: AsRef<[f64]>>(
    chosen: &[R],
    ranges: &[(f64, f64)],
) -> Result<Stability> {
    if chosen.len() < 2 {
        return Err(Error::invalid(format!(
            "parameter stability needs at least 2 windows, got {}",
            chosen.len()
        )));
    }
    if let Some((j, r)) = ranges
        .iter()
        .enumerate()
        .find(|(_, (lo, hi))| !(lo.is_finite() && hi.is_finite() && hi >= lo))
    {
        return Err(Error::invalid(format!(
            "parameter {j} has a bad range {r:?}"
        )));
    }
    for (k, row) in chosen.iter().enumerate() {
        let row = row.as_ref();
        if row.len() != ranges.len() || row.iter().any(|v| !v.is_finite()) {
            return Err(Error::invalid(format!(
                "window {k}: expected {} finite parameter values, got {row:?}",
                ranges.len()
            )));
        }
    }
    let per_param: Vec<Option<f64>> = ranges
        .iter()
        .enumerate()
        .map(|(j, &(lo, hi))| {
            let width = hi - lo;
            (width > 0.0).then(|| {
                let moves: f64 = chosen
                    .windows(2)
                    .map(|w| (w[1].as_ref()[j] - w[0].as_ref()[j]).abs() / width)
                    .sum();
                moves / (chosen.len() - 1) as f64
            })
        })
        .collect();
    let defined: Vec<f64> = per_param.iter().flatten().copied().collect();
    let overall = (!defined.is_empty()).then(|| defined.iter().sum::<f64>() / defined.len() as f64);
    Ok(Stability { per_param, overall })
}

#[cfg(test)]
mod tests;
