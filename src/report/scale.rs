//! Pure chart arithmetic: linear scales, nice ticks (values and UTC dates), tick labels, colour scales,
//! and the point reducers (min/max per pixel column, extremes per cell) that keep charts small.

use chrono::{DateTime, Datelike, NaiveDate, Utc};

/// Maps a domain interval linearly onto a pixel interval. A zero-width domain maps to the middle.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Linear {
    d0: f64,
    r0: f64,
    r1: f64,
    k: f64,
}

impl Linear {
    /// The scale taking `domain.0 → range.0` and `domain.1 → range.1`.
    pub fn new(domain: (f64, f64), range: (f64, f64)) -> Linear {
        let span = domain.1 - domain.0;
        let k = if span != 0.0 && span.is_finite() {
            (range.1 - range.0) / span
        } else {
            0.0
        };
        Linear {
            d0: domain.0,
            r0: range.0,
            r1: range.1,
            k,
        }
    }

    /// The pixel position of `v`.
    #[inline]
    pub fn map(&self, v: f64) -> f64 {
        if self.k == 0.0 {
            (self.r0 + self.r1) / 2.0
        } else {
            self.r0 + (v - self.d0) * self.k
        }
    }
}

/// How values are written on axes and in hover titles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fmt {
    /// A plain number; thousands and millions shortened to `k`/`M` on axes.
    Num,
    /// A value already in percent units (`-32.8` is written `-32.8%`).
    Pct,
    /// A count: ticks are whole numbers.
    Count,
}

/// The smallest of 1, 2, 5 × 10^k that is at least `raw`.
pub fn nice_step(raw: f64) -> f64 {
    if !(raw > 0.0 && raw.is_finite()) {
        return 1.0;
    }
    let mag = 10f64.powf(raw.log10().floor());
    let f = raw / mag;
    let nice = if f <= 1.0 {
        1.0
    } else if f <= 2.0 {
        2.0
    } else if f <= 5.0 {
        5.0
    } else {
        10.0
    };
    nice * mag
}

/// About `target` evenly spaced round values inside `[lo, hi]`, and their step. Each tick is an integer
/// multiple of the step (no `0.30000000000000004`).
pub fn value_ticks(lo: f64, hi: f64, target: usize, fmt: Fmt) -> (f64, Vec<f64>) {
    let mut step = nice_step((hi - lo) / target.max(1) as f64);
    if fmt == Fmt::Count {
        step = step.max(1.0);
    }
    let first = (lo / step - 1e-9).ceil() as i64;
    let last = (hi / step + 1e-9).floor() as i64;
    // i / (1/step) for steps below 1 gives the double nearest the decimal (3 / 10 = 0.3, whereas
    // 3 × 0.1 = 0.30000000000000004)
    let inv = (1.0 / step).round();
    let exact_inv = step < 1.0 && (inv * step - 1.0).abs() < 1e-9;
    let ticks = (first..=last.min(first + 200))
        .map(|i| {
            let t = if exact_inv {
                i as f64 / inv
            } else {
                i as f64 * step
            };
            if t == 0.0 { 0.0 } else { t }
        })
        .collect();
    (step, ticks)
}

/// `[lo, hi]` widened by `frac` of its span on each side; a flat or empty range gets a visible span.
pub fn pad_range(lo: f64, hi: f64, frac: f64) -> (f64, f64) {
    if !(lo.is_finite() && hi.is_finite()) {
        return (0.0, 1.0);
    }
    if hi <= lo {
        let d = if lo == 0.0 { 1.0 } else { lo.abs() * 0.05 };
        return (lo - d, hi + d);
    }
    let d = (hi - lo) * frac;
    (lo - d, hi + d)
}

/// Finite minimum and maximum of `ys` (None when there is no finite value).
pub fn finite_range(ys: &[f64]) -> Option<(f64, f64)> {
    let mut lo = f64::INFINITY;
    let mut hi = f64::NEG_INFINITY;
    for &y in ys {
        if y.is_finite() {
            lo = lo.min(y);
            hi = hi.max(y);
        }
    }
    (lo <= hi).then_some((lo, hi))
}

/// The axis label of `v` on an axis whose ticks are `step` apart.
pub fn tick_label(v: f64, step: f64, fmt: Fmt) -> String {
    if step >= 1e12 || (step > 0.0 && step < 1e-6) {
        return format!("{v:.1e}"); // absurd magnitudes: scientific rather than a 20-digit label
    }
    let (scaled, unit, s) = match fmt {
        Fmt::Pct => (v, "%", step),
        Fmt::Num | Fmt::Count if step >= 1e9 => (v / 1e9, "B", step / 1e9),
        Fmt::Num | Fmt::Count if step >= 1e6 || (step >= 1e5 && v.abs() >= 1e6) => {
            (v / 1e6, "M", step / 1e6)
        }
        Fmt::Num | Fmt::Count if step >= 1e3 || (step >= 100.0 && v.abs() >= 1e4) => {
            (v / 1e3, "k", step / 1e3)
        }
        _ => (v, "", step),
    };
    let decimals = (-(s.log10().floor())).clamp(0.0, 8.0) as usize;
    format!("{scaled:.decimals$}{unit}")
}

/// A value for a hover title: up to `sig` significant digits, trailing zeros dropped, with the format's unit.
pub fn value_text(v: f64, fmt: Fmt) -> String {
    if !v.is_finite() {
        return "n/a".into();
    }
    match fmt {
        Fmt::Pct => format!("{:.2}%", v),
        Fmt::Count => format!("{v:.0}"),
        Fmt::Num => trim_num(v, 6),
    }
}

/// `v` with at most `decimals` decimals, trailing zeros (and a bare point) removed.
pub fn trim_num(v: f64, decimals: usize) -> String {
    let s = format!("{v:.decimals$}");
    let s = if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    };
    if s == "-0" { "0".into() } else { s }
}

const SEC: i64 = 1000;
const MIN: i64 = 60 * SEC;
const HOUR: i64 = 60 * MIN;
/// One day in milliseconds.
pub const DAY: i64 = 24 * HOUR;
/// 1970-01-05, the first Monday after the epoch (weeks start on Monday).
const MONDAY: i64 = 4 * DAY;

/// One candidate spacing of date ticks.
#[derive(Debug, Clone, Copy)]
enum TimeStep {
    Fixed(i64),
    Weeks(i64),
    Months(i32),
    Years(i32),
}

const TIME_STEPS: [TimeStep; 30] = [
    TimeStep::Fixed(SEC),
    TimeStep::Fixed(5 * SEC),
    TimeStep::Fixed(15 * SEC),
    TimeStep::Fixed(30 * SEC),
    TimeStep::Fixed(MIN),
    TimeStep::Fixed(2 * MIN),
    TimeStep::Fixed(5 * MIN),
    TimeStep::Fixed(10 * MIN),
    TimeStep::Fixed(15 * MIN),
    TimeStep::Fixed(30 * MIN),
    TimeStep::Fixed(HOUR),
    TimeStep::Fixed(2 * HOUR),
    TimeStep::Fixed(3 * HOUR),
    TimeStep::Fixed(6 * HOUR),
    TimeStep::Fixed(12 * HOUR),
    TimeStep::Fixed(DAY),
    TimeStep::Fixed(2 * DAY),
    TimeStep::Weeks(1),
    TimeStep::Weeks(2),
    TimeStep::Months(1),
    TimeStep::Months(2),
    TimeStep::Months(3),
    TimeStep::Months(6),
    TimeStep::Years(1),
    TimeStep::Years(2),
    TimeStep::Years(5),
    TimeStep::Years(10),
    TimeStep::Years(20),
    TimeStep::Years(50),
    TimeStep::Years(100),
];

impl TimeStep {
    /// Approximate length in milliseconds (months 30.44 days, years 365.25 days).
    fn approx_ms(self) -> f64 {
        match self {
            TimeStep::Fixed(ms) => ms as f64,
            TimeStep::Weeks(k) => (k * 7 * DAY) as f64,
            TimeStep::Months(k) => k as f64 * 30.44 * DAY as f64,
            TimeStep::Years(k) => k as f64 * 365.25 * DAY as f64,
        }
    }

    /// The strftime pattern of its labels, and their width in pixels at 12 px (≈ 7 px per character).
    fn pattern(self) -> (&'static str, f64) {
        match self {
            TimeStep::Fixed(ms) if ms < MIN => ("%H:%M:%S", 56.0),
            TimeStep::Fixed(ms) if ms < DAY => ("%m-%d %H:%M", 77.0),
            TimeStep::Fixed(_) | TimeStep::Weeks(_) => ("%Y-%m-%d", 70.0),
            TimeStep::Months(_) => ("%b %Y", 56.0),
            TimeStep::Years(_) => ("%Y", 28.0),
        }
    }
}

/// Date ticks (UTC) for `[lo, hi]` milliseconds on an axis `plot_px` wide: the finest calendar-aligned
/// step whose labels fit side by side with a gap, each with its label.
pub fn time_ticks(lo: i64, hi: i64, plot_px: f64) -> Vec<(i64, String)> {
    if hi < lo {
        return Vec::new();
    }
    let span = (hi - lo).max(1) as f64;
    let step = TIME_STEPS
        .iter()
        .copied()
        .find(|s| {
            let (_, w) = s.pattern();
            span / s.approx_ms() * (w + 28.0) <= plot_px
        })
        .unwrap_or(TimeStep::Years(1000));
    let (pattern, _) = step.pattern();
    tick_times(lo, hi, step)
        .into_iter()
        .map(|t| (t, date_text(t, pattern)))
        .collect()
}

fn tick_times(lo: i64, hi: i64, step: TimeStep) -> Vec<i64> {
    let mut out = Vec::new();
    match step {
        TimeStep::Fixed(ms) | TimeStep::Weeks(ms) => {
            let (ms, origin) = match step {
                TimeStep::Weeks(k) => (k * 7 * DAY, MONDAY),
                _ => (ms, 0),
            };
            let mut t = (lo - origin).div_euclid(ms) * ms + origin;
            if t < lo {
                t += ms;
            }
            while t <= hi && out.len() < 500 {
                out.push(t);
                t += ms;
            }
        }
        TimeStep::Months(k) | TimeStep::Years(k) => {
            let k_months = if let TimeStep::Years(y) = step {
                y * 12
            } else {
                k
            };
            let Some(d) = DateTime::from_timestamp_millis(lo) else {
                return out;
            };
            let mut m = d.year() * 12 + d.month0() as i32;
            m = m.div_euclid(k_months) * k_months;
            while out.len() < 500 {
                let Some(t) = month_start_ms(m) else { break };
                if t > hi {
                    break;
                }
                if t >= lo {
                    out.push(t);
                }
                m += k_months;
            }
        }
    }
    out
}

/// Milliseconds of 00:00 UTC on the first day of month number `m` (= year·12 + month0).
pub fn month_start_ms(m: i32) -> Option<i64> {
    let d = NaiveDate::from_ymd_opt(m.div_euclid(12), m.rem_euclid(12) as u32 + 1, 1)?;
    Some(d.and_hms_opt(0, 0, 0)?.and_utc().timestamp_millis())
}

/// Month number (year·12 + month0, UTC) of `ms`.
pub fn month_of(ms: i64) -> Option<i32> {
    let d = DateTime::from_timestamp_millis(ms)?;
    Some(d.year() * 12 + d.month0() as i32)
}

/// `ms` formatted as UTC with a strftime `pattern`.
pub fn date_text(ms: i64, pattern: &str) -> String {
    match DateTime::<Utc>::from_timestamp_millis(ms) {
        Some(d) => d.format(pattern).to_string(),
        None => ms.to_string(),
    }
}

/// The pattern for times in tables: a date when every time falls on midnight UTC (daily or coarser
/// data), else date and time.
pub fn time_pattern(all_midnight: bool) -> &'static str {
    if all_midnight {
        "%Y-%m-%d"
    } else {
        "%Y-%m-%d %H:%M"
    }
}

/// An sRGB colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rgb(pub u8, pub u8, pub u8);

impl Rgb {
    /// `#rrggbb`.
    pub fn hex(self) -> String {
        format!("#{:02x}{:02x}{:02x}", self.0, self.1, self.2)
    }

    /// True when dark text would be hard to read on this colour (relative luminance below 0.45).
    pub fn is_dark(self) -> bool {
        let l =
            0.2126 * f64::from(self.0) + 0.7152 * f64::from(self.1) + 0.0722 * f64::from(self.2);
        l < 0.45 * 255.0
    }

    fn lerp(a: Rgb, b: Rgb, t: f64) -> Rgb {
        let c = |x: u8, y: u8| (f64::from(x) + (f64::from(y) - f64::from(x)) * t).round() as u8;
        Rgb(c(a.0, b.0), c(a.1, b.1), c(a.2, b.2))
    }
}

/// Orange (low) → near-white → blue (high): ColorBrewer PuOr's orange arm and RdBu's blue arm, both
/// readable with red–green colour blindness.
const DIVERGING: [Rgb; 7] = [
    Rgb(0xb3, 0x58, 0x06),
    Rgb(0xf1, 0xa3, 0x40),
    Rgb(0xfe, 0xe0, 0xb6),
    Rgb(0xf7, 0xf7, 0xf7),
    Rgb(0xd1, 0xe5, 0xf0),
    Rgb(0x67, 0xa9, 0xcf),
    Rgb(0x21, 0x66, 0xac),
];

/// ColorBrewer Blues, pale → dark.
const SEQUENTIAL: [Rgb; 5] = [
    Rgb(0xef, 0xf3, 0xff),
    Rgb(0xbd, 0xd7, 0xe7),
    Rgb(0x6b, 0xae, 0xd6),
    Rgb(0x31, 0x82, 0xbd),
    Rgb(0x08, 0x51, 0x9c),
];

fn ramp(stops: &[Rgb], t: f64) -> Rgb {
    let t = t.clamp(0.0, 1.0) * (stops.len() - 1) as f64;
    let i = (t.floor() as usize).min(stops.len() - 2);
    Rgb::lerp(stops[i], stops[i + 1], t - i as f64)
}

/// A colour scale for heatmap cells.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ColourScale {
    /// `lo` orange, `mid` white, `hi` blue.
    Diverging {
        /// Darkest orange at and below.
        lo: f64,
        /// White.
        mid: f64,
        /// Darkest blue at and above.
        hi: f64,
    },
    /// `lo` pale blue → `hi` dark blue.
    Sequential {
        /// Palest at and below.
        lo: f64,
        /// Darkest at and above.
        hi: f64,
    },
}

impl ColourScale {
    /// Diverging around `center` (symmetric, so equal distances get equal strength) when the finite
    /// `values` lie on both sides of it; otherwise sequential over their range.
    pub fn for_values(values: &[f64], center: f64) -> ColourScale {
        let (lo, hi) = finite_range(values).unwrap_or((0.0, 1.0));
        if lo < center && hi > center {
            let e = (center - lo).max(hi - center);
            ColourScale::Diverging {
                lo: center - e,
                mid: center,
                hi: center + e,
            }
        } else {
            ColourScale::Sequential { lo, hi }
        }
    }

    /// The colour of `v` (callers draw non-finite values as empty cells).
    pub fn colour(&self, v: f64) -> Rgb {
        match *self {
            ColourScale::Diverging { lo, mid, hi } => {
                let t = if v < mid {
                    0.5 - 0.5 * frac(mid - v, mid - lo)
                } else {
                    0.5 + 0.5 * frac(v - mid, hi - mid)
                };
                ramp(&DIVERGING, t)
            }
            ColourScale::Sequential { lo, hi } => ramp(&SEQUENTIAL, frac(v - lo, hi - lo)),
        }
    }

    /// The domain ends and (diverging) middle, for the legend.
    pub fn stops(&self) -> Vec<f64> {
        match *self {
            ColourScale::Diverging { lo, mid, hi } => vec![lo, mid, hi],
            ColourScale::Sequential { lo, hi } => vec![lo, hi],
        }
    }
}

fn frac(a: f64, b: f64) -> f64 {
    if b > 0.0 {
        (a / b).clamp(0.0, 1.0)
    } else {
        0.0
    }
}

/// An x coordinate: milliseconds (`i64`) on time axes, plain numbers (`f64`) elsewhere.
pub trait XValue: Copy {
    /// As a float for scaling (milliseconds stay exact below 2^53, i.e. until the year 287396).
    fn x(self) -> f64;
}

impl XValue for i64 {
    #[inline]
    fn x(self) -> f64 {
        self as f64
    }
}

impl XValue for f64 {
    #[inline]
    fn x(self) -> f64 {
        self
    }
}

/// Marks a break in a downsampled line (a non-finite value in the input).
pub const BREAK: usize = usize::MAX;

/// The points worth drawing of `ys` against `xs` (ascending) when `x` maps them to pixels: for each
/// pixel column the first, lowest, highest and last point, in index order. So every column keeps its
/// full vertical extent — global peaks and the deepest drawdown survive — and a series of any length
/// costs at most 4 points per column. Non-finite `ys` split the line ([`BREAK`] in the output).
pub fn minmax_columns<X: XValue>(xs: &[X], ys: &[f64], x: &Linear) -> Vec<usize> {
    let n = xs.len().min(ys.len());
    let mut out = Vec::new();
    let mut col = i64::MIN;
    let mut b = [0usize; 4]; // first, low, high, last
    for i in 0..n {
        let y = ys[i];
        if !y.is_finite() {
            if col != i64::MIN {
                flush(&mut out, b);
                out.push(BREAK);
            }
            col = i64::MIN;
            continue;
        }
        let c = x.map(xs[i].x()).floor() as i64;
        if c != col {
            if col != i64::MIN {
                flush(&mut out, b);
            }
            col = c;
            b = [i; 4];
        } else {
            b[3] = i;
            if y < ys[b[1]] {
                b[1] = i;
            }
            if y > ys[b[2]] {
                b[2] = i;
            }
        }
    }
    if col != i64::MIN {
        flush(&mut out, b);
    }
    if out.last() == Some(&BREAK) {
        out.pop();
    }
    out
}

fn flush(out: &mut Vec<usize>, mut b: [usize; 4]) {
    b.sort_unstable();
    for (k, &i) in b.iter().enumerate() {
        if k == 0 || i != b[k - 1] {
            out.push(i);
        }
    }
}

/// Indices of scatter points to draw when there are too many to show each: the first point in each
/// `cell_px`-square pixel cell (later ones would be drawn on top of it), plus the lowest and highest
/// point per `cell_px` band of x, so the cloud keeps its shape and its extremes. Sorted.
pub fn thin_scatter(px: &[f64], py: &[f64], cell_px: f64) -> Vec<usize> {
    let n = px.len().min(py.len());
    let cell = if cell_px > 0.0 { cell_px } else { 1.0 };
    let mut seen = std::collections::HashSet::new();
    let mut out: Vec<usize> = (0..n)
        .filter(|&i| px[i].is_finite() && py[i].is_finite())
        .filter(|&i| seen.insert(((px[i] / cell) as i64, (py[i] / cell) as i64)))
        .collect();
    out.extend(extremes_per_band(&px[..n], &py[..n], cell));
    out.sort_unstable();
    out.dedup();
    out
}

/// Indices of the points to draw when there are too many to show each: per band `cell_px` wide of the
/// pixel positions `px`, the point with the lowest and the one with the highest `ys` (first wins ties).
/// The result is sorted. Used to thin trade markers and scatter dots while keeping the best and worst.
pub fn extremes_per_band(px: &[f64], ys: &[f64], cell_px: f64) -> Vec<usize> {
    let n = px.len().min(ys.len());
    let cell = if cell_px > 0.0 { cell_px } else { 1.0 };
    let max_px = px[..n]
        .iter()
        .copied()
        .filter(|p| p.is_finite())
        .fold(0.0f64, f64::max);
    let bands = (max_px / cell).floor() as usize + 1;
    let mut lo: Vec<usize> = vec![usize::MAX; bands.min(1 << 20)];
    let mut hi = lo.clone();
    for i in 0..n {
        if !(px[i].is_finite() && ys[i].is_finite()) {
            continue;
        }
        let b = ((px[i].max(0.0) / cell) as usize).min(lo.len() - 1);
        if lo[b] == usize::MAX || ys[i] < ys[lo[b]] {
            lo[b] = i;
        }
        if hi[b] == usize::MAX || ys[i] > ys[hi[b]] {
            hi[b] = i;
        }
    }
    let mut out: Vec<usize> = lo
        .into_iter()
        .chain(hi)
        .filter(|&i| i != usize::MAX)
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}
