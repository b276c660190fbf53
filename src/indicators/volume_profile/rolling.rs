//! The fast engine behind [`super::volume_profile`]: the same levels as one full histogram per window,
//! bit for bit, at a fraction of the cost.
//!
//! Every level is `lo + k · width` for bin indices `k` (POC bin, value-area ends) that come out of
//! comparisons between bin volumes; `lo` and `width` are exact (a rolling min/max and the reference's
//! division). Only the indices need care, and the engine gets them in one of three ways:
//!
//! - **Slide** (certified): when the window's lowest low and highest high — hence every bin edge — are
//!   the same as one bar earlier, the histogram is updated in place: the leaving bar's terms are
//!   subtracted from every bin and the new bar's added ([`Rolling::slide_dense`]).
//! - **Quick rebuild** (certified): otherwise the window's histogram is rebuilt by the dense spread:
//!   each bar's per-price weight times its length inside each bin, `min(high, edge above) −
//!   max(low, edge below)` clipped at 0, for every bar and every bin ([`Rolling::rebuild_quick`]). No
//!   price is binned and no loop length depends on the bar, so the work is the same fixed-length
//!   vector loop for every bar (four bins per instruction with AVX2, eight with AVX-512 on AMD
//!   processors; see `Kernel`; detected at run time).
//! - **Exact rebuild**: the reference arithmetic — the same bin of every price, the same float
//!   contribution of every bar to every bin, added in the same bar order — so the histogram, and with
//!   it every level, is identical ([`Rolling::rebuild`]).
//!
//! The dense terms are the reference's own float contributions (`per_price · (edge − low)`,
//! `per_price · step`, …) except for a bar inside one bin (`per_price · (high − low)` instead of its
//! volume) and a price within rounding distance of an edge, where the reference's division and the
//! spread's comparison can put it in different bins; [`Rolling::dense_gap`] bounds both. So the first
//! two differ from the reference histogram by a bounded amount ([`Rolling::error_bound`]). Their POC
//! and value area are accepted only when every comparison that decides them (the largest bin, the bin
//! added at each value-area step, the stop at `value_share`) holds with a margin larger than the
//! bound, so the reference decides the same; otherwise the window takes the exact rebuild.
//!
//! Measured on 1,000,000 synthetic 1-minute bars (seed 7) with the `fabio` defaults (window 30, 24
//! bins): 60% of the windows slide, 40% need a rebuild; 94 slides cannot be certified (they are
//! rebuilt) and 286 quick rebuilds (0.03%) cannot either (they take the exact rebuild). The dense
//! spread took the profile of 1,000,000 bars (seed 42, one thread, `cargo bench --bench strategies
//! -- indicators`, AMD EPYC) from 292 to 255 ms with AVX2 (312 ms with the baseline instructions,
//! which is why the kernel is chosen at run time). On the Intel Xeon (2026-12-01) the same bench went
//! from 216 to 162 ms with: the window's extremes by blocks ([`Sliding`]) instead of monotonic
//! queues, a rebuild's volume sums in four lanes and its point bars looked for only when the window
//! has some (216 → 183); the histogram kept between the walk's sentinels instead of copied beside
//! them, and the largest bin, the runner-up and the sum in one pass instead of three (→ 163.5); the
//! spread's sums in registers ([`spread_fixed`], → 159.5); the grid's edges without a conversion per
//! edge or a `memmove` call (→ 162 in the session's later, slightly slower runs, from 167). What is
//! left, by `perf`: the certificate 35% (half of it the value-area walk, sequential by definition:
//! each step compares the two bins next to the area), the spread 24%, sliding 8%, the rest
//! bookkeeping and fresh pages. On the AMD EPYC (Zen 5) that afternoon, after the AVX-512 kernels
//! and the branch-free walk on integer keys (121–126 ms on one thread): the certificate 42% (the
//! walk half of it), the spread 23%, `levels`' bookkeeping 10%, the slides 6%, the grid 5%.

use super::{ProfileLevels, value_area};
use crate::indicators::rolling::Sliding;

/// Unit roundoff of f64 (half an ulp of 1).
const U: f64 = f64::EPSILON / 2.0;

/// The bin grid of one window: `bins` equal bins from the lowest low to the highest high.
#[derive(Debug, Clone)]
struct Grid {
    lo: f64,
    hi: f64,
    width: f64,
    inv: f64,
    /// A quotient closer than this to an integer is recomputed by division.
    near: f64,
    /// Bound on the extra mass a bar classified one bin off by rounding can move, per unit of
    /// volume per price: `40 u · max(|lo|, |hi|)`.
    scale: f64,
    /// The edges the dense spread ([`spread`]) clips bars to: `lower[b] = edge(b)` and
    /// `upper[b] = edge(b + 1)` ([`Grid::edge`]), but `+∞` above the top bin (the reference puts the window's top
    /// price in it), padded with empty bins (`+∞, +∞`) to a multiple of [`LANES`].
    lower: Vec<f64>,
    upper: Vec<f64>,
    /// `0, 1, …, bins` as floats: the edges are one vectorized pass, without an integer-to-float
    /// conversion per edge (the grid is set at every rebuild, 40% of the windows).
    index: Vec<f64>,
}

impl Grid {
    /// An unset grid of `bins` bins (every vector at its final length).
    fn new(bins: usize) -> Grid {
        let padded = bins.next_multiple_of(LANES);
        Grid {
            lo: f64::NAN,
            hi: f64::NAN,
            width: f64::NAN,
            inv: f64::NAN,
            near: f64::NAN,
            scale: f64::NAN,
            lower: vec![f64::INFINITY; padded],
            upper: vec![f64::INFINITY; padded],
            index: (0..=bins).map(|b| b as f64).collect(),
        }
    }

    fn set(&mut self, lo: f64, hi: f64, bins: usize) {
        self.lo = lo;
        self.hi = hi;
        self.width = (hi - lo) / bins as f64;
        self.inv = 1.0 / self.width;
        // |(p − lo)·inv − (p − lo)/width| ≤ 3.01 u · t with t ≤ bins (1 + 2u); twice that margin. A
        // grid too fine for `inv` sends every price to the division (t = 0 is always "near").
        self.near = 8.0 * U * (bins as f64 + 1.0);
        if !self.inv.is_finite() {
            self.inv = 0.0;
            self.near = f64::INFINITY;
        }
        self.scale = 40.0 * U * lo.abs().max(hi.abs());
        // The reference's expression (edge 0 is NaN for an infinite width), one pass per side; the
        // exact path computes its edges itself ([`Grid::edge`]). What `set` costs (3.6% of the
        // profile by `perf`, 2026-12-01, AMD EPYC, with or without a third array of edges) is its
        // two divisions, `width` and `inv`.
        let width = self.width;
        let (lower, upper) = (&mut self.lower[..bins], &mut self.upper[..bins]);
        for (x, &k) in lower.iter_mut().zip(&self.index[..bins]) {
            *x = lo + k * width;
        }
        for (x, &k) in upper.iter_mut().zip(&self.index[1..=bins]) {
            *x = lo + k * width;
        }
        upper[bins - 1] = f64::INFINITY;
    }

    /// The edges the dense kernels clip bars to.
    fn edges(&self) -> Edges<'_> {
        Edges {
            lower: &self.lower,
            upper: &self.upper,
        }
    }

    /// Edge `b` (`0..=bins`) as the reference computes it: `lo + b · width`.
    #[inline(always)]
    fn edge(&self, b: usize) -> f64 {
        self.lo + self.index[b] * self.width
    }

    /// The reference's bin of a price `p ≥ lo`: `((p − lo) / width) as usize`, at most `bins − 1`.
    ///
    /// `t = (p − lo) · inv` is rounded to the nearest integer `r` by adding 1.5 · 2⁵², which leaves
    /// `r` in the low bits (exact for 0 ≤ t < 2⁵¹): no float-to-int conversion, whose saturation
    /// checks cost more than the rest. `⌊t⌋ = r − [r > t]`, and it equals the reference's truncated
    /// quotient unless `t` lies within `near` of an integer, where the division decides.
    #[inline(always)]
    fn bin(&self, p: f64, bins: usize) -> usize {
        const MAGIC: f64 = 6_755_399_441_055_744.0;
        let d = p - self.lo;
        let t = d * self.inv;
        let m = t + MAGIC;
        let r = m - MAGIC;
        let b = if (t - r).abs() < self.near {
            exact_bin(d, self.width)
        } else {
            (m.to_bits().wrapping_sub(MAGIC.to_bits()) as usize) - usize::from(r > t)
        };
        b.min(bins - 1)
    }
}

/// The reference's bin by division, out of line so that the compiler does not compute the division
/// for every price and select the result (measured: that made `bin` three times slower).
#[cold]
#[inline(never)]
fn exact_bin(d: f64, width: f64) -> usize {
    (d / width) as usize
}

#[inline(always)]
fn min(a: f64, b: f64) -> f64 {
    if b < a { b } else { a }
}

#[inline(always)]
fn max(a: f64, b: f64) -> f64 {
    if b > a { b } else { a }
}

/// What the slide path may rely on.
#[derive(Debug, Clone, Copy, Default)]
struct Slide {
    /// The histogram belongs to the previous window and its grid (else rebuild).
    valid: bool,
    /// Windows without volume (every bar counts 1).
    count: bool,
    /// Slides since the last rebuild.
    steps: usize,
    /// Running sums over the window of the bars' volume (1 each without volume) and per-price weight
    /// (0 for point bars), for [`Rolling::mass`].
    volume: f64,
    per_price: f64,
    /// The largest [`Rolling::mass`] since the rebuild.
    mass_max: f64,
    /// The largest [`Rolling::dense_gap`] since the rebuild.
    gap_max: f64,
    /// A bound on `|hist[b] − G[b]|` right after the rebuild, where `G` is the exact sum of the same
    /// float contributions.
    built: f64,
}

/// How the windows were computed (for tests and measurements).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Windows whose histogram was rebuilt exactly.
    pub rebuilt: u64,
    /// Windows answered by a certified slide.
    pub slid: u64,
    /// Slides whose certificate failed (then rebuilt; also counted in `rebuilt`).
    pub uncertain: u64,
    /// Rebuilds whose quick histogram could not be certified, then built with the reference
    /// arithmetic.
    pub exact: u64,
}

impl std::ops::AddAssign for Stats {
    fn add_assign(&mut self, o: Stats) {
        self.rebuilt += o.rebuilt;
        self.slid += o.slid;
        self.uncertain += o.uncertain;
        self.exact += o.exact;
    }
}

/// The rolling computation over one series. Requires finite prices and finite, non-negative volumes
/// (see [`Rolling::new`]).
pub struct Rolling<'a> {
    high: &'a [f64],
    low: &'a [f64],
    volume: &'a [f64],
    window: usize,
    bins: usize,
    share: f64,
    /// `volume / (high − low)` of each bar with `high > low` (the reference's `per_price`).
    per_price: Vec<f64>,
    /// `1 / (high − low)` (0 for point bars): the per-price weight when a window has no volume
    /// (filled on first need).
    count_price: Vec<f64>,
    /// The window's lowest low and highest high.
    lowest: Sliding<false>,
    highest: Sliding<true>,
    /// Bars in the window with volume > 0.
    positive: usize,
    /// Point bars (`high ≤ low`) in the window: a quick rebuild looks for them only when there are.
    points: usize,
    grid: Grid,
    /// The histogram between [`EDGE`] −1 sentinels on each side (the reference's value for a
    /// missing side of the value-area walk, exact in both): bin `b` at `hist[EDGE + b]`, the kernels'
    /// lanes from there padded with empty bins to a multiple of [`LANES`]; the sentinels after the
    /// bins are set back to −1 after a rebuild where they are padding lanes.
    hist: Vec<f64>,
    /// The histogram's values as integers in the same order ([`order_key`]), for the value-area walk.
    keys: Vec<i64>,
    kernel: Kernel,
    slide: Slide,
    stats: Stats,
}

impl<'a> Rolling<'a> {
    /// The engine for windows of `window ≥ 1` bars and `bins ≥ 1` bins, or `None` when a price is not
    /// finite or a volume is negative or not finite (the caller then uses the reference path).
    pub fn new(
        high: &'a [f64],
        low: &'a [f64],
        volume: &'a [f64],
        window: usize,
        bins: usize,
        share: f64,
    ) -> Option<Rolling<'a>> {
        let n = high.len().min(low.len()).min(volume.len());
        let (high, low, volume) = (&high[..n], &low[..n], &volume[..n]);
        if !Rolling::accepts(high, low, volume) || window == 0 || bins == 0 {
            return None;
        }
        let per_price = (0..n)
            .map(|k| {
                if high[k] > low[k] {
                    volume[k] / (high[k] - low[k])
                } else {
                    0.0
                }
            })
            .collect();
        Some(Rolling {
            high,
            low,
            volume,
            window,
            bins,
            share,
            per_price,
            count_price: Vec::new(),
            lowest: Sliding::new(window),
            highest: Sliding::new(window),
            positive: 0,
            points: 0,
            grid: Grid::new(bins),
            hist: vec![-1.0; bins.next_multiple_of(LANES) + 2 * EDGE],
            keys: vec![0; bins + 2 * EDGE],
            kernel: Kernel::detect(),
            slide: Slide::default(),
            stats: Stats::default(),
        })
    }

    /// The same engine running the dense spread on `kernel` (tests compare the kernels).
    #[cfg(test)]
    pub(super) fn with_kernel(mut self, kernel: Kernel) -> Rolling<'a> {
        self.kernel = kernel;
        self
    }

    /// Whether the engine can take these bars: finite prices, finite non-negative volumes.
    pub fn accepts(high: &[f64], low: &[f64], volume: &[f64]) -> bool {
        let n = high.len().min(low.len()).min(volume.len());
        (0..n).all(|k| {
            high[k].is_finite() && low[k].is_finite() && volume[k].is_finite() && volume[k] >= 0.0
        })
    }

    /// How the windows so far were computed.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Adds bar `i` to the window and drops the bar that leaves it. Call for `i = 0, 1, 2, …` in order.
    #[inline]
    pub fn push(&mut self, i: usize) {
        let (low, high) = (self.low, self.high);
        self.lowest.push(i, low);
        self.highest.push(i, high);
        self.positive += usize::from(self.volume[i] > 0.0);
        self.points += usize::from(high[i] <= low[i]);
        if i >= self.window {
            let out = i - self.window;
            self.positive -= usize::from(self.volume[out] > 0.0);
            self.points -= usize::from(high[out] <= low[out]);
        }
    }

    /// The levels of the window ending at bar `i` (after [`Rolling::push`] of every bar up to `i`,
    /// `i ≥ window − 1`).
    pub fn levels(&mut self, i: usize) -> ProfileLevels {
        let (lo, hi) = (self.lowest.get(), self.highest.get());
        if hi <= lo {
            self.slide.valid = false;
            return ProfileLevels {
                poc: lo,
                vah: lo,
                val: lo,
            };
        }
        let count = self.positive == 0;
        let s = self.slide;
        if s.valid
            && s.count == count
            && s.steps < self.window.max(16)
            && lo == self.grid.lo
            && hi == self.grid.hi
        {
            let out = i - self.window;
            self.slide_dense(out, i, count);
            let (v_out, p_out) = self.weights(out, count);
            let (v_in, p_in) = self.weights(i, count);
            let slide = &mut self.slide;
            slide.steps += 1;
            slide.volume += v_in - v_out;
            slide.per_price += p_in - p_out;
            let (mass, gap) = (self.mass(), self.dense_gap());
            self.slide.mass_max = self.slide.mass_max.max(mass);
            self.slide.gap_max = self.slide.gap_max.max(gap);
            if let Some(found) = self.certified() {
                self.stats.slid += 1;
                return self.to_levels(found);
            }
            self.stats.uncertain += 1;
        }
        self.stats.rebuilt += 1;
        self.rebuild_quick(i + 1 - self.window, i, lo, hi, count);
        if let Some(found) = self.certified() {
            return self.to_levels(found);
        }
        self.stats.exact += 1;
        self.rebuild(i + 1 - self.window, i, lo, hi, count);
        // Slides subtract a leaving bar's dense terms; this histogram holds the reference's.
        self.slide.valid = false;
        self.to_levels(value_area(self.bins(), self.share))
    }

    /// The histogram's bins.
    fn bins(&self) -> &[f64] {
        &self.hist[EDGE..EDGE + self.bins]
    }

    /// Zeroes every lane, sentinels kept.
    fn clear(&mut self) {
        lanes(&mut self.hist).fill(0.0);
        self.seal();
    }

    /// Sets the sentinels after the bins back to −1 (padding lanes when the bins are not a
    /// multiple of [`LANES`]).
    fn seal(&mut self) {
        // Element by element: `fill` on this one-element range measured 1% of the profile's time.
        for k in EDGE + self.bins..2 * EDGE + self.bins {
            self.hist[k] = -1.0;
        }
    }

    fn to_levels(&self, (poc, a, z): (usize, usize, usize)) -> ProfileLevels {
        let (lo, width, index) = (self.grid.lo, self.grid.width, &self.grid.index);
        // The indices as floats from the grid's table (`index[k] = k as f64`): no conversion.
        ProfileLevels {
            poc: lo + (index[poc] + 0.5) * width,
            vah: lo + index[z + 1] * width,
            val: lo + index[a] * width,
        }
    }

    /// The reference histogram of bars `s..=i` on the grid `lo..hi`.
    fn rebuild(&mut self, s: usize, i: usize, lo: f64, hi: f64, count: bool) {
        if count && self.count_price.is_empty() {
            self.fill_count_price();
        }
        self.grid.set(lo, hi, self.bins);
        self.clear();
        let (mut volume, mut per_price) = (0.0, 0.0);
        for k in s..=i {
            self.add_exact(k, count);
            let (v, p) = self.weights(k, count);
            volume += v;
            per_price += p;
        }
        self.start_slides(count, volume, per_price);
    }

    fn start_slides(&mut self, count: bool, volume: f64, per_price: f64) {
        self.slide = Slide {
            valid: self.grid.width.is_finite() && self.grid.inv.is_finite(),
            count,
            steps: 0,
            volume,
            per_price,
            mass_max: 0.0,
            gap_max: 0.0,
            built: 0.0,
        };
        let mass = self.mass();
        self.slide.mass_max = mass;
        // The reference's own order of additions: ≤ window terms per bin.
        self.slide.built = 1.01 * U * self.window as f64 * mass;
    }

    /// The histogram of bars `s..=i` on the grid `lo..hi` from the dense spread ([`spread`]): every
    /// bar clipped to every bin, no bin computed per price (a point bar's volume still goes to the
    /// reference's bin of its price). Its terms are the reference's but for a bar inside one bin
    /// (`per_price · (high − low)` instead of its volume) and a price within rounding distance of an
    /// edge; [`Rolling::dense_gap`] bounds what that changes.
    fn rebuild_quick(&mut self, s: usize, i: usize, lo: f64, hi: f64, count: bool) {
        if count && self.count_price.is_empty() {
            self.fill_count_price();
        }
        self.grid.set(lo, hi, self.bins);
        let (lows, highs) = (&self.low[s..=i], &self.high[s..=i]);
        let pps = if count {
            &self.count_price[s..=i]
        } else {
            &self.per_price[s..=i]
        };
        let bars = Bars {
            low: lows,
            high: highs,
            pp: pps,
        };
        self.kernel
            .spread(lanes(&mut self.hist), self.grid.edges(), bars);
        self.seal();
        if self.points > 0 {
            for k in s..=i {
                if self.high[k] <= self.low[k] {
                    let v = self.weights(k, count).0;
                    self.hist[EDGE + self.grid.bin(self.low[k], self.bins)] += v;
                }
            }
        }
        let (volume, per_price) = if count {
            ((i + 1 - s) as f64, sum(&self.count_price[s..=i]))
        } else {
            (sum(&self.volume[s..=i]), sum(&self.per_price[s..=i]))
        };
        self.start_slides(count, volume, per_price);
        self.slide.gap_max = self.dense_gap();
    }

    /// Slides the dense histogram by one bar: bar `out`'s terms subtracted and bar `inn`'s added in
    /// each bin (a point bar's volume at its bin).
    fn slide_dense(&mut self, out: usize, inn: usize, count: bool) {
        let (v_out, p_out) = self.weights(out, count);
        let (v_in, p_in) = self.weights(inn, count);
        let (low, high) = (self.low, self.high);
        self.kernel.slide(
            lanes(&mut self.hist),
            self.grid.edges(),
            [low[out], high[out], p_out],
            [low[inn], high[inn], p_in],
        );
        if high[out] <= low[out] {
            self.hist[EDGE + self.grid.bin(low[out], self.bins)] -= v_out;
        }
        if high[inn] <= low[inn] {
            self.hist[EDGE + self.grid.bin(low[inn], self.bins)] += v_in;
        }
    }

    fn fill_count_price(&mut self) {
        self.count_price = (0..self.high.len())
            .map(|k| {
                if self.high[k] > self.low[k] {
                    1.0 / (self.high[k] - self.low[k])
                } else {
                    0.0
                }
            })
            .collect();
    }

    /// Adds bar `k`'s contributions, computed exactly as the reference computes them: a point bar or
    /// a bar inside one bin puts its whole volume in that bin; a wider bar spreads
    /// `per_price · (overlap)` over the bins it spans.
    fn add_exact(&mut self, k: usize, count: bool) {
        let (l, h) = (self.low[k], self.high[k]);
        let (v, pp) = if count {
            (1.0, self.count_price[k])
        } else {
            (self.volume[k], self.per_price[k])
        };
        let bins = self.bins;
        let g = &self.grid;
        let hist = &mut self.hist[EDGE..EDGE + bins];
        let first = g.bin(l, bins);
        let last = if h <= l { first } else { g.bin(h, bins) };
        // Written without a branch on the bar's shape: a bar inside one bin (or a point) adds its
        // volume to `first` and +0.0 to `last` (the same bin), and adding +0.0 changes no sum.
        let one = first == last;
        let c_first = if one { v } else { pp * (g.edge(first + 1) - l) };
        let c_last = if one { 0.0 } else { pp * (h - g.edge(last)) };
        hist[first] += c_first;
        hist[last] += c_last;
        for (b, x) in hist.iter_mut().enumerate().take(last).skip(first + 1) {
            *x += pp * (g.edge(b + 1) - g.edge(b)); // the reference's step
        }
    }

    /// Bar `k`'s volume (1 without volume) and per-price weight (0 for a point bar).
    #[inline(always)]
    fn weights(&self, k: usize, count: bool) -> (f64, f64) {
        if count {
            (1.0, self.count_price[k])
        } else {
            (self.volume[k], self.per_price[k])
        }
    }

    /// An upper bound on the window's `Σ_bars Σ_bins |contribution|`: each bar's volume (plus
    /// rounding), plus what a one-bin misclassification at either end could move
    /// (`per_price × 2 × 16 u · max(|lo|, |hi|)`, within [`Grid::scale`]).
    #[inline]
    fn mass(&self) -> f64 {
        self.slide.volume * (1.0 + 8.0 * U) + self.slide.per_price * self.grid.scale
    }

    /// A bound on how far the dense terms of the window's bars can sum from the reference's (exactly
    /// added): a bar inside one bin adds `fl(fl(v / (h − l)) · fl(h − l))`, within 2.01 u · v of the
    /// reference's `v`; a price within rounding distance of an edge (≤ 6 u · max(|lo|, |hi|) from it,
    /// where the reference's division and the dense spread's comparison can disagree) moves at most
    /// `per_price` times that between two bins at each end of the bar, and changes the two clipped
    /// lengths' roundings (≤ 4 u of the bar's volume). `8 u · volume + per_price · scale` covers it.
    #[inline]
    fn dense_gap(&self) -> f64 {
        8.0 * U * self.slide.volume + self.slide.per_price * self.grid.scale
    }

    /// A bound on `|hist[b] − reference[b]|` for every bin. The histogram sums the dense terms of the
    /// window's bars (within [`Rolling::dense_gap`] of the reference's terms, exactly added); the
    /// reference adds ≤ `window` terms in order (error ≤ 1.01 · window · u · S, S = Σ|terms| ≤ mass),
    /// the rebuild did the same, and each of the `2 · steps` slide updates of a bin adds at most
    /// u · |result| ≤ 1.01 u · mass_max. So `1.01 u (2 window + 2 steps) mass_max + gap_max`
    /// suffices; this returns about twice that.
    fn error_bound(&self) -> f64 {
        let s = self.slide;
        let w = self.window as f64;
        2.0 * (s.built + 1.01 * U * (w + 2.0 * s.steps as f64 + 2.0) * s.mass_max + s.gap_max)
    }

    /// The POC and value-area bins of the slid histogram when every deciding comparison holds with a
    /// margin above the error bound (so the reference decides the same); `None` otherwise.
    fn certified(&mut self) -> Option<(usize, usize, usize)> {
        let bins = self.bins;
        let delta = self.error_bound();
        if !delta.is_finite() {
            return None;
        }
        // The first largest bin, as the reference picks it (the values are finite: delta is), and
        // no other within 2·delta of it (a tie, or one within 2·delta, is the second largest).
        let (top, second, total) = top_two_and_sum(self.bins());
        if second >= top - 2.0 * delta {
            return None;
        }
        // The largest bin is unique here (the runner-up is more than 2·delta below it), so its
        // index is the OR of every index masked by "this bin is the largest": no loop exit to
        // predict.
        let poc = self.bins().iter().enumerate().fold(0, |p, (b, &x)| {
            p | (b & usize::from(x == top).wrapping_neg())
        });
        // Sums of ≤ bins values: each differs from the reference's by ≤ bins · delta plus the two
        // sums' own rounding in any order (≤ 1.01 bins u · (mass + bins delta) each); twice that,
        // scaled by the share.
        let mass = self.slide.mass_max;
        let tau = 2.0
            * self.share.abs().max(1.0)
            * (2.0 * bins as f64 * delta + 5.0 * bins as f64 * U * mass);
        let target = self.share * total;
        if !(target.is_finite() && tau.is_finite()) {
            return None;
        }
        // The walk on the histogram between its −1 sentinels (as the reference, whose missing side
        // is −1), on positions in `hist`. It is half of this function's time, each step waiting for
        // the last. Its step takes a side without a branch: on the AMD EPYC (Zen 5) of 2026-12-01
        // the bench's profile on one thread went from 143–145 to 134 ms with that; on the Intel
        // Xeon of the same morning a branch-free step with the next bins preloaded had measured 176
        // against 159 ms, and the margins' checks gathered into two minima checked after the walk
        // 162 against 161. The side is chosen on integer keys ([`order_key`]), so the chain from
        // one step's positions to the next is an integer load and compare instead of a float load
        // (longer on Zen) and a float compare to flags; the bin added is loaded at the chosen
        // position (a bit-select of the two loaded bins was compiled to a branch): 132–140 →
        // 121–126 ms on one thread (AMD EPYC, 2026-12-01, afternoon). Tried and dropped (AMD,
        // 2026-12-01): starting from the previous window's area and checking it without walking
        // (the merge below makes that check exact) — it held for 35–38% of the windows, too few to
        // pay for the check (161 against 156 ms).
        // Not built, for whoever speeds it up: the walk takes the upper side exactly when the
        // running minimum of the upper bins taken so far (with the next one) is ≥ that of the
        // lower side — if an earlier upper bin u was taken over a lower bin b₀, then u ≥ b₀ ≥
        // min(lower so far), and symmetrically — so the order of the steps is a merge of two
        // non-increasing sequences, which ranks and prefix sums can give without a chain of
        // dependent steps (the margins would then be checked per rank).
        let h = &self.hist[..bins + 2 * EDGE];
        for (k, &x) in self.keys.iter_mut().zip(h) {
            *k = order_key(x);
        }
        let keys = &self.keys[..];
        // A padding lane holding the sentinel after the bins stays −1 through slides (its overlap
        // is 0) unless a per-price weight is infinite — and then delta is not finite either.
        debug_assert!(
            h[EDGE - 1] == -1.0 && h[EDGE + bins] == -1.0,
            "sentinels intact"
        );
        let (mut a, mut z, mut acc) = (EDGE + poc, EDGE + poc, top);
        while a > EDGE || z + 1 < EDGE + bins {
            if (acc - target).abs() <= tau {
                return None;
            }
            if acc >= target {
                break;
            }
            // As the reference: the larger neighbour, above on a tie; clearing 2·delta decides it.
            let (above, below) = (h[z + 1], h[a - 1]);
            if (above - below).abs() <= 2.0 * delta {
                return None;
            }
            // Branch-free: which side the walk takes is a coin toss for the predictor.
            let up = usize::from(keys[z + 1] > keys[a - 1]);
            z += up;
            a -= 1 - up;
            acc += h[a ^ ((z ^ a) & up.wrapping_neg())];
        }
        let (a, z) = (a - EDGE, z - EDGE);
        Some((poc, a, z))
    }
}

/// `x`'s bits as an integer that orders as `x` does: the key [`f64::total_cmp`] compares (−0 below
/// +0; NaN never reaches the walk), kept as an integer for the walk's one-cycle compare.
#[inline(always)]
fn order_key(x: f64) -> i64 {
    let b = x.to_bits() as i64;
    b ^ (((b >> 63) as u64) >> 1) as i64
}

/// −1 sentinels on each side of the histogram (the value-area walk's missing side).
const EDGE: usize = 1;

/// The kernels' lanes of a histogram ([`Rolling`]'s `hist`): the bins and the padding after them.
fn lanes(hist: &mut [f64]) -> &mut [f64] {
    let end = hist.len() - EDGE;
    &mut hist[EDGE..end]
}

/// Bins per step of the dense spread (one AVX-512 register); the histogram is padded to a multiple.
const LANES: usize = 8;

/// The length of bar `[l, h]` inside bin `[lo_b, hi_b]` (0 when they do not meet): the reference's
/// `edge_hi − edge_lo` for a bin the bar spans, written as min/max so that every bin takes the same
/// instructions.
#[inline(always)]
fn overlap(l: f64, h: f64, lo_b: f64, hi_b: f64) -> f64 {
    let top = if h < hi_b { h } else { hi_b };
    let bottom = if l > lo_b { l } else { lo_b };
    let d = top - bottom;
    if d > 0.0 { d } else { 0.0 }
}

/// The bin edges the dense kernels clip bars to ([`Grid`]'s `lower` and `upper`).
#[derive(Debug, Clone, Copy)]
struct Edges<'a> {
    lower: &'a [f64],
    upper: &'a [f64],
}

/// The bars of a dense spread: their lows, highs and per-price weights, one entry per bar.
#[derive(Debug, Clone, Copy)]
struct Bars<'a> {
    low: &'a [f64],
    high: &'a [f64],
    pp: &'a [f64],
}

impl Bars<'_> {
    /// `(low, high, per-price weight)` of each bar, in bar order.
    fn each(self) -> impl Iterator<Item = (f64, f64, f64)> {
        self.low
            .iter()
            .zip(self.high)
            .zip(self.pp)
            .map(|((&l, &h), &pp)| (l, h, pp))
    }
}

/// Sets every bin to the sum of `pp · overlap` over the bars, added in bar order from +0.0.
#[inline(always)]
fn spread(hist: &mut [f64], edges: Edges, bars: Bars) {
    match hist.len() {
        8 => spread_fixed::<8>(hist, edges, bars),
        16 => spread_fixed::<16>(hist, edges, bars),
        24 => spread_fixed::<24>(hist, edges, bars),
        32 => spread_fixed::<32>(hist, edges, bars),
        40 => spread_fixed::<40>(hist, edges, bars),
        48 => spread_fixed::<48>(hist, edges, bars),
        n => {
            hist.fill(0.0);
            let (lower, upper) = (&edges.lower[..n], &edges.upper[..n]);
            for (l, h, pp) in bars.each() {
                for b in 0..n {
                    hist[b] += pp * overlap(l, h, lower[b], upper[b]);
                }
            }
        }
    }
}

/// [`spread`] for `N` lanes (the parameter grid's bin counts, 12 to 48, padded to [`LANES`]): the
/// sums stay in registers across the bars instead of each bar loading and storing every bin, whose
/// store-to-load wait per bar bounded the loop (measured 2026-12-01 on the Intel Xeon: the bench's
/// profile on one thread 163.5 → 159.5 ms; the same code compiled for AVX-512 took 167).
#[inline(always)]
fn spread_fixed<const N: usize>(hist: &mut [f64], edges: Edges, bars: Bars) {
    let lower: &[f64; N] = edges.lower[..N].try_into().expect("N lanes");
    let upper: &[f64; N] = edges.upper[..N].try_into().expect("N lanes");
    let mut acc = [0.0; N];
    for (l, h, pp) in bars.each() {
        for b in 0..N {
            acc[b] += pp * overlap(l, h, lower[b], upper[b]);
        }
    }
    for (x, a) in hist[..N].iter_mut().zip(acc) {
        *x = a;
    }
}

/// Subtracts bar `out`'s terms (`[low, high, per_price]`) from every bin, then adds bar `inn`'s.
#[inline(always)]
fn slide(hist: &mut [f64], edges: Edges, out: [f64; 3], inn: [f64; 3]) {
    let n = hist.len();
    let (lower, upper) = (&edges.lower[..n], &edges.upper[..n]);
    for b in 0..n {
        hist[b] -= out[2] * overlap(out[0], out[1], lower[b], upper[b]);
        hist[b] += inn[2] * overlap(inn[0], inn[1], lower[b], upper[b]);
    }
}

/// Which instructions the dense spread runs on (chosen once per engine): AVX-512 on AMD processors
/// that have it, else AVX2 when the processor has it, else the baseline. The values are the same
/// whichever — each bin's term is the same float expression, lane by lane, added in the same order.
///
/// Why AVX-512 on AMD only: the bench's profile on one thread (`cargo bench --bench strategies --
/// indicators`), 2026-12-01, went from 151–152 to 143–146 ms with it on the AMD EPYC (Zen 5, whose
/// units are 512 bits wide) and from 162 to 167 ms on the Intel Xeon of the same day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kernel {
    Baseline,
    #[cfg(target_arch = "x86_64")]
    Avx2,
    #[cfg(target_arch = "x86_64")]
    Avx512,
}

impl Kernel {
    /// Every kernel this processor can run (tests compare them).
    #[cfg(test)]
    pub(super) fn available() -> Vec<Kernel> {
        #[allow(unused_mut)]
        let mut all = vec![Kernel::Baseline];
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx2") {
                all.push(Kernel::Avx2);
            }
            if std::arch::is_x86_feature_detected!("avx512f") {
                all.push(Kernel::Avx512);
            }
        }
        all
    }

    fn detect() -> Kernel {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f") && amd() {
                return Kernel::Avx512;
            }
            if std::arch::is_x86_feature_detected!("avx2") {
                return Kernel::Avx2;
            }
        }
        Kernel::Baseline
    }

    fn spread(self, hist: &mut [f64], edges: Edges, bars: Bars) {
        match self {
            Kernel::Baseline => spread(hist, edges, bars),
            // SAFETY: `detect` (or `available`) saw AVX2 on this processor.
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2 => unsafe { avx2::spread(hist, edges, bars) },
            // SAFETY: `detect` (or `available`) saw AVX-512F on this processor.
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx512 => unsafe { avx512::spread(hist, edges, bars) },
        }
    }

    fn slide(self, hist: &mut [f64], edges: Edges, out: [f64; 3], inn: [f64; 3]) {
        match self {
            Kernel::Baseline => slide(hist, edges, out, inn),
            // SAFETY: `detect` (or `available`) saw AVX2 on this processor.
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2 => unsafe { avx2::slide(hist, edges, out, inn) },
            // SAFETY: `detect` (or `available`) saw AVX-512F on this processor.
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx512 => unsafe { avx512::slide(hist, edges, out, inn) },
        }
    }
}

/// Whether the processor is AMD's (its CPUID vendor string).
#[cfg(target_arch = "x86_64")]
fn amd() -> bool {
    let id = std::arch::x86_64::__cpuid(0);
    [id.ebx, id.edx, id.ecx]
        .iter()
        .flat_map(|r| r.to_le_bytes())
        .eq(*b"AuthenticAMD")
}

/// [`spread`] and [`slide`] compiled for one instruction set.
#[cfg(target_arch = "x86_64")]
macro_rules! kernels {
    ($name:ident, $feature:literal) => {
        mod $name {
            use super::{Bars, Edges};

            #[target_feature(enable = $feature)]
            pub(super) fn spread(hist: &mut [f64], edges: Edges, bars: Bars) {
                super::spread(hist, edges, bars)
            }

            #[target_feature(enable = $feature)]
            pub(super) fn slide(hist: &mut [f64], edges: Edges, out: [f64; 3], inn: [f64; 3]) {
                super::slide(hist, edges, out, inn)
            }
        }
    };
}

// Four bins per instruction instead of two; eight.
#[cfg(target_arch = "x86_64")]
kernels!(avx2, "avx2");
#[cfg(target_arch = "x86_64")]
kernels!(avx512, "avx512f");

/// The sum of `x` in four interleaved lanes (no chain of 30 dependent additions per rebuild; the
/// window's volume and per-price weight only bound rounding errors, any order does).
fn sum(x: &[f64]) -> f64 {
    let mut acc = [0.0; 4];
    let mut chunks = x.chunks_exact(4);
    for c in &mut chunks {
        for j in 0..4 {
            acc[j] += c[j];
        }
    }
    for &v in chunks.remainder() {
        acc[0] += v;
    }
    (acc[0] + acc[1]) + (acc[2] + acc[3])
}

/// The largest value, the largest of the others (the largest again when it occurs twice) and the
/// sum, in four interleaved lanes (no chain of dependent comparisons; any order of the sum is covered
/// by the error bound). One pass instead of three (largest, its position, the bins close to it).
fn top_two_and_sum(x: &[f64]) -> (f64, f64, f64) {
    let (mut top, mut second, mut acc) = ([f64::NEG_INFINITY; 4], [f64::NEG_INFINITY; 4], [0.0; 4]);
    let mut chunks = x.chunks_exact(4);
    for c in &mut chunks {
        for j in 0..4 {
            second[j] = max(second[j], min(top[j], c[j]));
            top[j] = max(top[j], c[j]);
            acc[j] += c[j];
        }
    }
    for &v in chunks.remainder() {
        second[0] = max(second[0], min(top[0], v));
        top[0] = max(top[0], v);
        acc[0] += v;
    }
    // Two lanes' pairs merge to the larger top and the larger of the smaller top and both seconds.
    let merge =
        |(t0, s0): (f64, f64), (t1, s1): (f64, f64)| (max(t0, t1), max(min(t0, t1), max(s0, s1)));
    let (t, s) = merge(
        merge((top[0], second[0]), (top[1], second[1])),
        merge((top[2], second[2]), (top[3], second[3])),
    );
    (t, s, (acc[0] + acc[1]) + (acc[2] + acc[3]))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The walk's keys order as the floats they come from, across signs, zeros and sentinels (the
    /// bits alone would put −1 above a tiny negative bin).
    #[test]
    fn order_keys_order_as_the_floats() {
        let x = [
            -1.0, -1e-18, -5e-324, -0.0, 0.0, 5e-324, 1e-300, 0.5, 1.0, 3.0, 1e300,
        ];
        for &p in &x {
            for &q in &x {
                let (kp, kq) = (order_key(p), order_key(q));
                // The standard library's total order: −0 just below +0, which the floats call equal.
                assert_eq!(kp.cmp(&kq), p.total_cmp(&q), "{p} vs {q}");
                if p != q || p.to_bits() == q.to_bits() {
                    assert_eq!(p < q, kp < kq, "{p} < {q}");
                }
            }
        }
    }

    /// Worked by hand: the largest, the largest of the rest (the largest again when it is there
    /// twice) and the sum, with values in every lane and in the remainder.
    #[test]
    fn top_two_and_sum_by_hand() {
        assert_eq!(
            top_two_and_sum(&[1.0, 5.0, 2.0, 4.0, 3.0, 0.5]),
            (5.0, 4.0, 15.5)
        );
        assert_eq!(top_two_and_sum(&[2.0, 7.0, 7.0]), (7.0, 7.0, 16.0));
        assert_eq!(top_two_and_sum(&[0.0, 0.0, 0.0, 0.0, 9.0]), (9.0, 0.0, 9.0));
        assert_eq!(top_two_and_sum(&[3.0]), (3.0, f64::NEG_INFINITY, 3.0));
        // All in one lane (every fourth value), the rest empty.
        assert_eq!(
            top_two_and_sum(&[6.0, 0.0, 0.0, 0.0, 8.0, 0.0, 0.0, 0.0]),
            (8.0, 6.0, 14.0)
        );
    }
}
