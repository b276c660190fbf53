//! The fast engine behind [`super::volume_profile`]: the same levels as one full histogram per window,
//! bit for bit, at a fraction of the cost.
//!
//! Every level is `lo + k · width` for bin indices `k` (POC bin, value-area ends) that come out of
//! comparisons between bin volumes; `lo` and `width` are exact (a rolling min/max and the reference's
//! division). Only the indices need care, and the engine gets them in one of three ways:
//!
//! - **Slide** (certified): when the window's lowest low and highest high — hence every bin edge — are
//!   the same as one bar earlier, the histogram is updated in place: the leaving bar's contributions
//!   are subtracted and the new bar's added (the same float contributions the reference adds).
//! - **Quick rebuild** (certified): otherwise the window's histogram is rebuilt from the same float
//!   contributions, with each bar's interior bins added through a running sum instead of a loop per
//!   bar ([`Rolling::rebuild_quick`]).
//! - **Exact rebuild**: the reference arithmetic — the same bin of every price, the same float
//!   contribution of every bar to every bin, added in the same bar order — so the histogram, and with
//!   it every level, is identical ([`Rolling::rebuild`]).
//!
//! The first two differ from the reference histogram by rounding only, and that difference is
//! bounded ([`Rolling::error_bound`]). Their POC and value area are accepted only when every
//! comparison that decides them (the largest bin, the bin added at each value-area step, the stop at
//! `value_share`) holds with a margin larger than the bound, so the reference decides the same;
//! otherwise the window takes the exact rebuild. The bin of a price comes from a multiplication by
//! `1 / width` instead of the reference's division, redone by division for the rare price whose
//! quotient lies within rounding distance of a bin edge, where the two could disagree.
//!
//! Measured on 1,000,000 synthetic 1-minute bars (seed 7) with the `fabio` defaults (window 30, 24
//! bins): 60% of the windows slide, 40% need a rebuild, and 313 certificates fail (0.03%); the whole
//! series costs about a third of the per-window reference (CPU time 280 ms against 880 ms on the
//! shared build machine). The remaining cost is mostly the rebuilds (a new range moves every edge, so
//! all 30 bars must be re-binned) and the value-area walk, which is sequential by definition.

use std::collections::VecDeque;

use super::{ProfileLevels, value_area};

/// Unit roundoff of f64 (half an ulp of 1).
const U: f64 = f64::EPSILON / 2.0;

/// The bin grid of one window: `bins` equal bins from the lowest low to the highest high.
#[derive(Debug, Clone, Default)]
struct Grid {
    lo: f64,
    hi: f64,
    width: f64,
    inv: f64,
    /// A quotient closer than this to an integer is recomputed by division.
    near: f64,
    /// `edges[b] = lo + b · width` (the reference's expression), `b = 0..=bins`.
    edges: Vec<f64>,
    /// `steps[b] = edges[b + 1] − edges[b]`.
    steps: Vec<f64>,
    /// Bound on the extra mass a bar classified one bin off by rounding can move, per unit of
    /// volume per price: `40 u · max(|lo|, |hi|)`.
    scale: f64,
}

impl Grid {
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
        self.edges.clear();
        self.edges
            .extend((0..=bins).map(|b| lo + b as f64 * self.width));
        self.steps.clear();
        self.steps
            .extend(self.edges.windows(2).map(|e| e[1] - e[0]));
        self.scale = 40.0 * U * lo.abs().max(hi.abs());
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
    min_q: VecDeque<usize>,
    max_q: VecDeque<usize>,
    /// Bars in the window with volume > 0.
    positive: usize,
    grid: Grid,
    hist: Vec<f64>,
    /// Scratch of the quick rebuild: per-price weight entering (+) and leaving (−) at each bin.
    diff: Vec<f64>,
    /// Scratch of the certified walk: −1, the histogram, −1.
    padded: Vec<f64>,
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
            min_q: VecDeque::with_capacity(window + 1),
            max_q: VecDeque::with_capacity(window + 1),
            positive: 0,
            grid: Grid::default(),
            hist: vec![0.0; bins],
            diff: vec![0.0; bins + 1],
            padded: vec![-1.0; bins + 2],
            slide: Slide::default(),
            stats: Stats::default(),
        })
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
        while self.min_q.back().is_some_and(|&j| low[j] >= low[i]) {
            self.min_q.pop_back();
        }
        self.min_q.push_back(i);
        while self.max_q.back().is_some_and(|&j| high[j] <= high[i]) {
            self.max_q.pop_back();
        }
        self.max_q.push_back(i);
        self.positive += usize::from(self.volume[i] > 0.0);
        if i >= self.window {
            let out = i - self.window;
            self.positive -= usize::from(self.volume[out] > 0.0);
            if self.min_q.front() == Some(&out) {
                self.min_q.pop_front();
            }
            if self.max_q.front() == Some(&out) {
                self.max_q.pop_front();
            }
        }
    }

    /// The levels of the window ending at bar `i` (after [`Rolling::push`] of every bar up to `i`,
    /// `i ≥ window − 1`).
    pub fn levels(&mut self, i: usize) -> ProfileLevels {
        let lo = self.low[*self.min_q.front().expect("window holds bars")];
        let hi = self.high[*self.max_q.front().expect("window holds bars")];
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
            self.apply::<false>(out, count);
            self.apply::<true>(i, count);
            let (v_out, p_out) = self.weights(out, count);
            let (v_in, p_in) = self.weights(i, count);
            let slide = &mut self.slide;
            slide.steps += 1;
            slide.volume += v_in - v_out;
            slide.per_price += p_in - p_out;
            let mass = self.mass();
            self.slide.mass_max = self.slide.mass_max.max(mass);
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
        self.to_levels(value_area(&self.hist, self.share))
    }

    fn to_levels(&self, (poc, a, z): (usize, usize, usize)) -> ProfileLevels {
        let (lo, width) = (self.grid.lo, self.grid.width);
        ProfileLevels {
            poc: lo + (poc as f64 + 0.5) * width,
            vah: lo + (z + 1) as f64 * width,
            val: lo + a as f64 * width,
        }
    }

    /// The reference histogram of bars `s..=i` on the grid `lo..hi`.
    fn rebuild(&mut self, s: usize, i: usize, lo: f64, hi: f64, count: bool) {
        if count && self.count_price.is_empty() {
            self.fill_count_price();
        }
        self.grid.set(lo, hi, self.bins);
        self.hist.fill(0.0);
        let (mut volume, mut per_price) = (0.0, 0.0);
        for k in s..=i {
            self.apply::<true>(k, count);
            let (v, p) = self.weights(k, count);
            volume += v;
            per_price += p;
        }
        self.start_slides(count, volume, per_price, 0.0);
    }

    fn start_slides(&mut self, count: bool, volume: f64, per_price: f64, extra: f64) {
        self.slide = Slide {
            valid: self.grid.width.is_finite() && self.grid.inv.is_finite(),
            count,
            steps: 0,
            volume,
            per_price,
            mass_max: 0.0,
            built: 0.0,
        };
        let mass = self.mass();
        self.slide.mass_max = mass;
        // The reference's own order of additions: ≤ window terms per bin.
        self.slide.built = 1.01 * U * self.window as f64 * mass + extra;
    }

    /// The histogram of bars `s..=i` on the grid `lo..hi` from the same float contributions, but
    /// with each bar's interior bins added through a running per-price sum instead of one product
    /// per bin: no loop per bar (whose varying length costs a mispredicted branch per bar), and
    /// within a rounding bound of the exact sum.
    ///
    /// The interior of bin `b` is `R_b · steps[b]` with `R_b` the running sum of the weights of the
    /// bars spanning `b`, against `Σ fl(pp_k · steps[b])` in the exact sum: off by at most
    /// `steps[b] · (|R_b − Σ pp_k| + 2u Σ pp_k)`, and `|R_b − Σ pp_k| ≤ (2 · window + bins) · u · P`
    /// (P the sum of all entering weights: each weight enters and leaves `diff` once, and the running
    /// sum adds `bins` entries); the at most `window + 1` additions into each bin add
    /// `(window + 1) · u · mass`. Twice these are recorded.
    fn rebuild_quick(&mut self, s: usize, i: usize, lo: f64, hi: f64, count: bool) {
        if count && self.count_price.is_empty() {
            self.fill_count_price();
        }
        self.grid.set(lo, hi, self.bins);
        let bins = self.bins;
        self.hist.fill(0.0);
        self.diff.fill(0.0);
        let (mut volume, mut per_price, mut spanning) = (0.0, 0.0, 0.0);
        {
            let g = &self.grid;
            let (edges, steps) = (&g.edges[..=bins], &g.steps[..bins]);
            let hist = &mut self.hist[..bins];
            let diff = &mut self.diff[..=bins];
            let (lows, highs) = (&self.low[s..=i], &self.high[s..=i]);
            let (vols, pps) = if count {
                (None, &self.count_price[s..=i])
            } else {
                (Some(&self.volume[s..=i]), &self.per_price[s..=i])
            };
            for j in 0..lows.len() {
                let (l, h, pp) = (lows[j], highs[j], pps[j]);
                let v = vols.map_or(1.0, |v| v[j]);
                let first = g.bin(l, bins);
                let last = if h <= l { first } else { g.bin(h, bins) };
                let one = first == last;
                hist[first] += if one { v } else { pp * (edges[first + 1] - l) };
                hist[last] += if one { 0.0 } else { pp * (h - edges[last]) };
                let inner = if last > first + 1 { pp } else { 0.0 };
                diff[first + 1] += inner;
                diff[last] -= inner;
                volume += v;
                per_price += pp;
                spanning += inner;
            }
            let mut running = 0.0;
            for b in 0..bins {
                running += diff[b];
                hist[b] += running * steps[b];
            }
        }
        let step_max = self.grid.steps.iter().fold(0.0f64, |a, &b| a.max(b.abs()));
        self.start_slides(count, volume, per_price, 0.0);
        let mass = self.slide.mass_max;
        let w = self.window as f64;
        let b = bins as f64;
        self.slide.built +=
            2.0 * U * ((2.0 * w + b + 3.0) * spanning * step_max + (w + 1.0) * mass);
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

    /// Adds (`ADD`) or removes bar `k`'s contributions, computed exactly as the reference computes
    /// them: a point bar or a bar inside one bin puts its whole volume in that bin; a wider bar spreads
    /// `per_price · (overlap)` over the bins it spans.
    #[inline(always)]
    fn apply<const ADD: bool>(&mut self, k: usize, count: bool) {
        let (l, h) = (self.low[k], self.high[k]);
        let (v, pp) = if count {
            (1.0, self.count_price[k])
        } else {
            (self.volume[k], self.per_price[k])
        };
        let bins = self.bins;
        let g = &self.grid;
        let hist = &mut self.hist[..bins];
        let (edges, steps) = (&g.edges[..=bins], &g.steps[..bins]);
        let first = g.bin(l, bins);
        let last = if h <= l { first } else { g.bin(h, bins) };
        // Written without a branch on the bar's shape: a bar inside one bin (or a point) adds its
        // volume to `first` and +0.0 to `last` (the same bin), and adding +0.0 changes no sum.
        let one = first == last;
        let c_first = if one { v } else { pp * (edges[first + 1] - l) };
        let c_last = if one { 0.0 } else { pp * (h - edges[last]) };
        let put = |x: &mut f64, c: f64| {
            if ADD { *x += c } else { *x -= c }
        };
        put(&mut hist[first], c_first);
        put(&mut hist[last], c_last);
        for b in first + 1..last {
            put(&mut hist[b], pp * steps[b]);
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

    /// A bound on `|hist[b] − reference[b]|` for every bin. Both are sums of the same float
    /// contributions; the reference adds ≤ `window` of them in order (error ≤ 1.01 · window · u · S,
    /// S = Σ|terms| ≤ mass), the rebuild did the same, and each of the `2 · steps` slide updates of a
    /// bin adds at most u · |result| ≤ 1.01 u · mass_max. So `1.01 u (2 window + 2 steps) mass_max`
    /// suffices; this returns about twice that.
    fn error_bound(&self) -> f64 {
        let s = self.slide;
        let w = self.window as f64;
        2.0 * (s.built + 1.01 * U * (w + 2.0 * s.steps as f64 + 2.0) * s.mass_max)
    }

    /// The POC and value-area bins of the slid histogram when every deciding comparison holds with a
    /// margin above the error bound (so the reference decides the same); `None` otherwise.
    fn certified(&mut self) -> Option<(usize, usize, usize)> {
        let bins = self.bins;
        let delta = self.error_bound();
        if !delta.is_finite() {
            return None;
        }
        let hist = &self.hist[..bins];
        let (mut poc, mut top) = (0, hist[0]);
        for (b, &x) in hist.iter().enumerate().skip(1) {
            let better = x > top;
            poc = if better { b } else { poc };
            top = if better { x } else { top };
        }
        let close = hist.iter().filter(|&&x| x >= top - 2.0 * delta).count();
        if close != 1 {
            return None;
        }
        // Sums of ≤ bins values: each differs from the reference's by ≤ bins · delta plus the two
        // sums' own rounding in any order (≤ 1.01 bins u · (mass + bins delta) each); twice that,
        // scaled by the share.
        let mass = self.slide.mass_max;
        let tau = 2.0
            * self.share.abs().max(1.0)
            * (2.0 * bins as f64 * delta + 5.0 * bins as f64 * U * mass);
        let target = self.share * sum4(hist);
        if !(target.is_finite() && tau.is_finite()) {
            return None;
        }
        // The walk on the histogram between two −1 sentinels (the reference's value for a missing
        // side, exact in both): no branch on which side wins. Positions are shifted by one.
        let padded = &mut self.padded[..bins + 2];
        padded[1..=bins].copy_from_slice(hist);
        let (mut a, mut z, mut acc) = (poc + 1, poc + 1, top);
        while a > 1 || z < bins {
            if (acc - target).abs() <= tau {
                return None;
            }
            if acc >= target {
                break;
            }
            // As the reference: the larger neighbour, above on a tie; clearing 2·delta decides it.
            let (above, below) = (padded[z + 1], padded[a - 1]);
            if (above - below).abs() <= 2.0 * delta {
                return None;
            }
            let up = above > below;
            z += usize::from(up);
            a -= usize::from(!up);
            acc += if up { above } else { below };
        }
        let (a, z) = (a - 1, z - 1);
        Some((poc, a, z))
    }
}

/// Sum in four interleaved accumulators (any order is covered by the error bound).
fn sum4(x: &[f64]) -> f64 {
    let mut acc = [0.0; 4];
    let mut chunks = x.chunks_exact(4);
    for c in &mut chunks {
        for j in 0..4 {
            acc[j] += c[j];
        }
    }
    let tail: f64 = chunks.remainder().iter().sum();
    (acc[0] + acc[1]) + (acc[2] + acc[3]) + tail
}
