//! The probability of backtest overfitting (PBO) by combinatorially symmetric cross-validation (CSCV),
//! computed from per-block sufficient statistics.
//!
//! # The rule
//!
//! The input is N candidates' per-period returns over the same T periods (a T×N matrix).
//! 1. Drop the first T mod S periods, and cut the rest into S contiguous blocks of equal length
//!    (S even, default [`DEFAULT_BLOCKS`] = 16).
//! 2. For every one of the C(S, S/2) ways to choose S/2 blocks as in-sample (IS) — enumerated in
//!    lexicographic order of the chosen block indexes ([`in_sample_masks`]) — the other S/2 blocks are
//!    the out-of-sample (OOS):
//!    - n\* is the candidate with the best per-period Sharpe ratio over the union of the IS blocks
//!      (ties go to the lowest candidate index);
//!    - its OOS Sharpe ratio is ranked among all N candidates' OOS Sharpe ratios, 1 = worst, N = best,
//!      tied values sharing the average of their ranks;
//!    - ω = rank / (N + 1) and the logit λ = ln(ω / (1 − ω)); λ ≤ 0 means n\* landed in the bottom half.
//! 3. **PBO** = the share of splits with λ ≤ 0.
//!
//! The out-of-sample sums of a split are the candidate's totals minus its in-sample sums (half the
//! additions; exact up to rounding like the rest).
//!
//! Side numbers, over the same splits:
//! - **performance degradation**: the least-squares line OOS Sharpe(n\*) = intercept + slope · IS
//!   Sharpe(n\*). A slope well below 0 says the better a candidate looks in-sample, the worse it does
//!   out of sample — the signature of overfitting; NaN when every split's IS Sharpe is the same.
//! - **probability of OOS loss**: the share of splits where n\*'s OOS Sharpe ratio is below 0. With a
//!   positive standard deviation that is the same as an OOS mean return below 0; a flat OOS (no
//!   Sharpe ratio, scored 0) is not a loss.
//!
//! A candidate whose Sharpe ratio is undefined on a union of blocks (a constant series, typically a
//! candidate that does not trade there) scores 0 there: doing nothing has no edge.
//!
//! # Sufficient statistics
//!
//! The Sharpe ratio of a union of blocks needs only each block's count, sum and sum of squares:
//! mean = Σsum/Σcount and sample variance = (Σsumsq − (Σsum)²/Σcount)/(Σcount − 1). This is exact
//! algebra, so the union's Sharpe ratio equals the Sharpe ratio of the concatenated returns up to
//! floating-point rounding (tested to 1e-12 relative). To keep the subtraction well conditioned,
//! [`BlockStats`] sums each candidate's returns minus that candidate's own mean (stored as its shift),
//! so the squares are of deviations, not of raw returns.
//!
//! # Memory
//!
//! [`BlockStats`] keeps 3 f64 per candidate per block, plus a shift (f64) and a flag (1 byte) per
//! candidate: with S = 16 that is 393 bytes per candidate, so a 100,000-candidate × 700-day search
//! needs 39 MB — the returns themselves (560 MB) never have to be in memory at once. [`pbo`] adds 24
//! bytes per candidate (its totals over all blocks), one N-long f64 buffer per rayon thread and 48
//! bytes per split (12,870 splits for S = 16: 0.6 MB): about 43 MB in all for that search. S is capped
//! at [`MAX_BLOCKS`] = 20 (184,756 splits, each a full pass over the candidates; C(22, 11) = 705,432
//! would be another 4×).
//!
//! # Determinism
//!
//! Each split is computed independently (rayon over splits), collected in enumeration order, and the
//! summary sums run serially in that order: the result is bit-identical at any thread count.

use std::ops::Range;

use rayon::prelude::*;

use super::{CONSTANT_VARIANCE, sharpe_from};
use crate::error::{Error, Result};

/// The usual number of blocks S.
pub const DEFAULT_BLOCKS: usize = 16;

/// The largest number of blocks S accepted (see the module docs).
pub const MAX_BLOCKS: usize = 20;

/// How T periods are cut into S blocks: the first `dropped` = T mod S periods are left out, then S
/// blocks of `block_len` periods each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockLayout {
    /// T: the number of periods (returns) of every candidate.
    pub periods: usize,
    /// S: the number of blocks (even, 2..=[`MAX_BLOCKS`]).
    pub blocks: usize,
    /// Periods per block: T div S.
    pub block_len: usize,
    /// Periods dropped from the start: T mod S.
    pub dropped: usize,
}

impl BlockLayout {
    /// Cuts `periods` into `blocks` blocks. Usage error when S is odd, below 2, above [`MAX_BLOCKS`] or
    /// above T (a block would hold no period).
    pub fn new(periods: usize, blocks: usize) -> Result<BlockLayout> {
        if blocks < 2 || blocks % 2 == 1 {
            return Err(Error::usage(format!(
                "PBO needs an even number of blocks, at least 2, got {blocks}"
            )));
        }
        if blocks > MAX_BLOCKS {
            return Err(Error::usage(format!(
                "PBO takes at most {MAX_BLOCKS} blocks (C({blocks}, {}) splits is too many), got {blocks}",
                blocks / 2
            )));
        }
        if blocks > periods {
            return Err(Error::usage(format!(
                "PBO with {blocks} blocks needs at least {blocks} periods, got {periods}"
            )));
        }
        Ok(BlockLayout {
            periods,
            blocks,
            block_len: periods / blocks,
            dropped: periods % blocks,
        })
    }

    /// The periods (indexes into a candidate's returns) of block `b`.
    pub fn block_range(&self, b: usize) -> Range<usize> {
        let start = self.dropped + b * self.block_len;
        start..start + self.block_len
    }

    /// The number of splits C(S, S/2).
    pub fn combinations(&self) -> usize {
        binomial(self.blocks, self.blocks / 2)
    }
}

/// C(n, k) by the multiplicative formula (exact: each partial product is itself a binomial).
fn binomial(n: usize, k: usize) -> usize {
    (0..k).fold(1, |acc, i| acc * (n - i) / (i + 1))
}

/// Every choice of `blocks / 2` in-sample blocks as a bit mask (bit b set = block b in-sample), in
/// lexicographic order of the sorted block indexes: {0,…,S/2−1} first, {S/2,…,S−1} last.
pub fn in_sample_masks(blocks: usize) -> Vec<u32> {
    let k = blocks / 2;
    let mut idx: Vec<usize> = (0..k).collect();
    let mut out = Vec::with_capacity(binomial(blocks, k));
    if k == 0 || blocks > 32 {
        return out;
    }
    loop {
        out.push(idx.iter().fold(0u32, |m, &b| m | 1 << b));
        // The rightmost index that can still move right, then reset everything after it.
        let Some(i) = (0..k).rev().find(|&i| idx[i] < blocks - k + i) else {
            return out;
        };
        idx[i] += 1;
        for j in i + 1..k {
            idx[j] = idx[j - 1] + 1;
        }
    }
}

/// Per candidate and block: the count, sum and sum of squares of the candidate's returns minus its
/// shift (its mean). Build it from a matrix ([`from_columns`](Self::from_columns),
/// [`from_rows`](Self::from_rows)), one candidate at a time as a search streams them
/// ([`push`](Self::push), or [`set`](Self::set) for out-of-order streams), or from sums computed
/// elsewhere ([`from_sums`](Self::from_sums)). See the module docs for the memory it takes.
#[derive(Debug, Clone, PartialEq)]
pub struct BlockStats {
    layout: BlockLayout,
    /// Per candidate, the value subtracted from its returns before summing.
    shift: Vec<f64>,
    /// Candidate-major: `sums[(c * S + b) * 3 ..][..3]` = (count, sum, sumsq) of candidate c, block b.
    sums: Vec<f64>,
    /// Whether each candidate has been given its returns.
    filled: Vec<bool>,
}

impl BlockStats {
    /// No candidates yet; add them with [`push`](Self::push).
    pub fn new(layout: BlockLayout) -> BlockStats {
        BlockStats::with_candidates(layout, 0)
    }

    /// Room for `candidates` candidates, each to be given with [`set`](Self::set) in any order.
    pub fn with_candidates(layout: BlockLayout, candidates: usize) -> BlockStats {
        BlockStats {
            layout,
            shift: vec![0.0; candidates],
            sums: vec![0.0; candidates * layout.blocks * 3],
            filled: vec![false; candidates],
        }
    }

    /// Each column is one candidate's T returns (all the same length T).
    pub fn from_columns<C: AsRef<[f64]>>(columns: &[C], blocks: usize) -> Result<BlockStats> {
        if columns.len() < 2 {
            return Err(too_few_candidates(columns.len()));
        }
        let periods = columns[0].as_ref().len();
        let mut stats = BlockStats::new(BlockLayout::new(periods, blocks)?);
        for c in columns {
            stats.push(c.as_ref())?;
        }
        Ok(stats)
    }

    /// Each row is one period's returns of all N candidates (T rows of the same length N).
    pub fn from_rows<R: AsRef<[f64]>>(rows: &[R], blocks: usize) -> Result<BlockStats> {
        let layout = BlockLayout::new(rows.len(), blocks)?;
        let n = rows[0].as_ref().len();
        for (t, row) in rows.iter().enumerate() {
            let row = row.as_ref();
            if row.len() != n {
                return Err(Error::invalid(format!(
                    "row {t} has {} returns, the first row has {n}",
                    row.len()
                )));
            }
            if let Some(c) = row.iter().position(|x| !x.is_finite()) {
                return Err(not_finite(c, t, row[c]));
            }
        }
        // The same sums in the same order as `set`, so both builders give identical statistics.
        let used = &rows[layout.dropped..];
        let mut shift = vec![0.0; n];
        for row in used {
            shift
                .iter_mut()
                .zip(row.as_ref())
                .for_each(|(s, x)| *s += x);
        }
        shift.iter_mut().for_each(|s| *s /= used.len() as f64);
        let mut stats = BlockStats::with_candidates(layout, n);
        let s3 = layout.blocks * 3;
        for (t, row) in used.iter().enumerate() {
            let b3 = t / layout.block_len * 3;
            for (c, x) in row.as_ref().iter().enumerate() {
                let y = x - shift[c];
                let cell = &mut stats.sums[c * s3 + b3..][..3];
                cell[0] += 1.0;
                cell[1] += y;
                cell[2] += y * y;
            }
        }
        stats.shift = shift;
        stats.filled.fill(true);
        Ok(stats)
    }

    /// From (count, sum, sum of squares) of raw returns per candidate and block, candidate-major
    /// (`sums[c * S + b]`), e.g. computed by another process. Sums of raw returns are less accurate
    /// than the shifted sums the other builders keep when |mean| ≫ std (see the module docs).
    pub fn from_sums(layout: BlockLayout, sums: &[[f64; 3]]) -> Result<BlockStats> {
        if !sums.len().is_multiple_of(layout.blocks) {
            return Err(Error::invalid(format!(
                "{} block sums do not divide into candidates of {} blocks",
                sums.len(),
                layout.blocks
            )));
        }
        if let Some(i) = sums
            .iter()
            .position(|s| !(s[0] >= 0.0 && s[1].is_finite() && s[2] >= 0.0 && s[2].is_finite()))
        {
            return Err(Error::invalid(format!(
                "candidate {} block {}: sums {:?} are not a count, a sum and a sum of squares",
                i / layout.blocks,
                i % layout.blocks,
                sums[i]
            )));
        }
        let n = sums.len() / layout.blocks;
        Ok(BlockStats {
            layout,
            shift: vec![0.0; n],
            sums: sums.iter().flatten().copied().collect(),
            filled: vec![true; n],
        })
    }

    /// Adds the next candidate's T returns; returns its index.
    pub fn push(&mut self, returns: &[f64]) -> Result<usize> {
        let c = self.shift.len();
        self.shift.push(0.0);
        self.filled.push(false);
        self.sums
            .resize(self.sums.len() + self.layout.blocks * 3, 0.0);
        if let Err(e) = self.set(c, returns) {
            self.shift.pop();
            self.filled.pop();
            self.sums.truncate(c * self.layout.blocks * 3);
            return Err(e);
        }
        Ok(c)
    }

    /// Gives candidate `c` its T returns (replacing what it had). Invalid-input error when the length
    /// is not T, a return is not finite, or `c` is out of range; the statistics are then unchanged.
    pub fn set(&mut self, c: usize, returns: &[f64]) -> Result<()> {
        let l = self.layout;
        if c >= self.filled.len() {
            return Err(Error::invalid(format!(
                "candidate {c} is out of range: room for {} candidates",
                self.filled.len()
            )));
        }
        if returns.len() != l.periods {
            return Err(Error::invalid(format!(
                "candidate {c} has {} returns, expected {}",
                returns.len(),
                l.periods
            )));
        }
        if let Some(t) = returns.iter().position(|x| !x.is_finite()) {
            return Err(not_finite(c, t, returns[t]));
        }
        let cells = &mut self.sums[c * l.blocks * 3..][..l.blocks * 3];
        self.shift[c] = fill_cells(l, returns, cells);
        self.filled[c] = true;
        Ok(())
    }

    /// Candidates whose sums were computed apart ([`BlockLayout::candidate_sums`]), in the given
    /// order: the same statistics as [`set`](Self::set) with the same returns.
    pub fn from_candidates(
        layout: BlockLayout,
        candidates: impl IntoIterator<Item = CandidateSums>,
    ) -> BlockStats {
        let mut stats = BlockStats::new(layout);
        for c in candidates {
            stats.shift.push(c.shift);
            stats.sums.extend_from_slice(&c.cells);
            stats.filled.push(true);
        }
        stats
    }

    /// The block layout.
    pub fn layout(&self) -> BlockLayout {
        self.layout
    }

    /// The number of candidates N.
    pub fn candidates(&self) -> usize {
        self.filled.len()
    }

    /// The heap memory the statistics hold, in bytes.
    pub fn heap_bytes(&self) -> usize {
        self.sums.capacity() * 8 + self.shift.capacity() * 8 + self.filled.capacity()
    }

    /// The per-period Sharpe ratio of candidate `c` over the union of the blocks whose bits are set in
    /// `mask` (NaN if undefined there).
    pub fn union_sharpe(&self, c: usize, mask: u32) -> f64 {
        let s3 = self.layout.blocks * 3;
        let row = &self.sums[c * s3..][..s3];
        let blocks: Vec<usize> = (0..self.layout.blocks)
            .filter(|b| mask >> b & 1 == 1)
            .collect();
        sums_sharpe(self.shift[c], union(row, &blocks))
    }
}

/// One candidate's block statistics computed on their own ([`BlockLayout::candidate_sums`]), e.g. on
/// the thread that produced its returns, to be gathered with [`BlockStats::from_candidates`].
#[derive(Debug, Clone, PartialEq)]
pub struct CandidateSums {
    shift: f64,
    /// (count, sum, sumsq) per block.
    cells: Vec<f64>,
}

impl CandidateSums {
    /// The heap memory it holds, in bytes.
    pub fn heap_bytes(&self) -> usize {
        self.cells.capacity() * 8
    }
}

impl BlockLayout {
    /// The block statistics of one candidate's T returns. Invalid-input error when the length is not
    /// T or a return is not finite.
    pub fn candidate_sums(&self, returns: &[f64]) -> Result<CandidateSums> {
        if returns.len() != self.periods {
            return Err(Error::invalid(format!(
                "{} returns, expected {}",
                returns.len(),
                self.periods
            )));
        }
        if let Some(t) = returns.iter().position(|x| !x.is_finite()) {
            return Err(Error::invalid(format!(
                "period {t}: return {} is not a finite number",
                returns[t]
            )));
        }
        let mut cells = vec![0.0; self.blocks * 3];
        let shift = fill_cells(*self, returns, &mut cells);
        Ok(CandidateSums { shift, cells })
    }
}

/// Writes (count, sum, sumsq) of `returns − shift` per block into `cells` and returns the shift (the
/// mean of the used returns). `returns` has T finite values.
fn fill_cells(l: BlockLayout, returns: &[f64], cells: &mut [f64]) -> f64 {
    let used = &returns[l.dropped..];
    let k = used.iter().sum::<f64>() / used.len() as f64;
    for (cell, block) in cells
        .chunks_exact_mut(3)
        .zip(used.chunks_exact(l.block_len))
    {
        let (mut s, mut q) = (0.0, 0.0);
        for &x in block {
            let y = x - k;
            s += y;
            q += y * y;
        }
        cell.copy_from_slice(&[block.len() as f64, s, q]);
    }
    k
}

fn too_few_candidates(n: usize) -> Error {
    Error::usage(format!("PBO needs at least 2 candidates, got {n}"))
}

fn not_finite(candidate: usize, period: usize, x: f64) -> Error {
    Error::invalid(format!(
        "candidate {candidate}, period {period}: return {x} is not a finite number"
    ))
}

/// (count, sum, sumsq) over `blocks` of one candidate's block cells.
#[inline]
fn union(row: &[f64], blocks: &[usize]) -> [f64; 3] {
    let mut acc = [0.0; 3];
    for &b in blocks {
        let cell = &row[b * 3..b * 3 + 3];
        acc[0] += cell[0];
        acc[1] += cell[1];
        acc[2] += cell[2];
    }
    acc
}

/// The Sharpe ratio of returns `shift + y` from the count, Σy and Σy² of y; NaN when undefined.
#[inline]
fn sums_sharpe(shift: f64, [n, s, q]: [f64; 3]) -> f64 {
    if n < 2.0 {
        return f64::NAN;
    }
    let mean_y = s / n;
    let var = (q - s * mean_y) / (n - 1.0);
    // Σx² / n with x = y + shift.
    let mean_square = (q + 2.0 * shift * s) / n + shift * shift;
    sharpe_from(shift + mean_y, var, mean_square)
}

/// One split of the blocks into in-sample and out-of-sample halves, and what the in-sample winner did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Split {
    /// The in-sample blocks: bit b set = block b is in-sample.
    pub in_sample: u32,
    /// n\*: the candidate with the best in-sample Sharpe ratio.
    pub best: usize,
    /// n\*'s in-sample per-period Sharpe ratio.
    pub is_sharpe: f64,
    /// n\*'s out-of-sample per-period Sharpe ratio.
    pub oos_sharpe: f64,
    /// n\*'s out-of-sample rank among the N candidates: 1 = worst, N = best, ties averaged.
    pub oos_rank: f64,
    /// λ = ln(ω / (1 − ω)) with ω = rank / (N + 1); λ ≤ 0 counts as overfit.
    pub logit: f64,
}

/// The result of CSCV: PBO and its side numbers (see the module docs for each definition).
#[derive(Debug, Clone, PartialEq)]
pub struct Pbo {
    /// The probability of backtest overfitting: the share of splits with λ ≤ 0.
    pub pbo: f64,
    /// Slope of the least-squares line of OOS Sharpe(n\*) on IS Sharpe(n\*) over the splits.
    pub slope: f64,
    /// Intercept of that line.
    pub intercept: f64,
    /// The share of splits where n\*'s out-of-sample Sharpe ratio is below 0.
    pub prob_oos_loss: f64,
    /// The number of candidates N.
    pub candidates: usize,
    /// How the periods were cut into blocks.
    pub layout: BlockLayout,
    /// Every split, in enumeration order ([`in_sample_masks`]); its length is C(S, S/2).
    pub splits: Vec<Split>,
}

impl Pbo {
    /// The number of splits C(S, S/2).
    pub fn combinations(&self) -> usize {
        self.splits.len()
    }
}

/// Runs CSCV over every split (rayon in the current pool; the same result at any thread count).
/// Usage error with fewer than 2 candidates; invalid-input error when a candidate was never given
/// its returns.
pub fn pbo(stats: &BlockStats) -> Result<Pbo> {
    let n = stats.candidates();
    if n < 2 {
        return Err(too_few_candidates(n));
    }
    if let Some(c) = stats.filled.iter().position(|f| !f) {
        return Err(Error::invalid(format!(
            "candidate {c} of {n} has no returns: give every candidate its returns before computing PBO"
        )));
    }
    let totals = totals(stats);
    let splits: Vec<Split> = in_sample_masks(stats.layout.blocks)
        .into_par_iter()
        .map_init(
            || vec![0.0; n],
            |keys, mask| evaluate(stats, &totals, mask, keys),
        )
        .collect();
    Ok(summarize(stats, splits))
}

/// A Sharpe ratio as CSCV scores it: undefined counts as 0.
#[inline]
fn score(shift: f64, sums: [f64; 3]) -> f64 {
    let s = sums_sharpe(shift, sums);
    if s.is_nan() { 0.0 } else { s }
}

/// `SR·|SR|` of the sums, 0 where [`score`] is 0: ordered exactly like the score, but with one
/// division and no square root (the hot loop's cost was its divisions and square roots). With
/// x = shift + y, n returns, s = Σy and q = Σy²: mean = (k·n + s)/n and sample variance =
/// (q·n − s²)/(n·(n − 1)), so SR·|SR| = (k·n + s)·|k·n + s|·(n − 1) / (n·(q·n − s²)); the
/// constant-series test of [`sharpe_from`] multiplied through by n·(n − 1) needs no division either.
#[inline]
fn score_key(shift: f64, [n, s, q]: [f64; 3]) -> f64 {
    if n < 2.0 {
        return 0.0;
    }
    let kn_s = shift * n + s;
    let spread = q * n - s * s;
    let square_sum = q + 2.0 * shift * s + n * shift * shift;
    if spread > CONSTANT_VARIANCE * (n - 1.0) * square_sum {
        kn_s * kn_s.abs() * (n - 1.0) / (n * spread)
    } else {
        0.0
    }
}

/// Per candidate, (count, sum, sumsq) over all blocks: the out-of-sample sums of a split are these
/// minus the in-sample sums, which halves the additions per split (the subtraction of two sums of
/// about the same size loses at most a bit or two, far below what the ranks can see).
fn totals(stats: &BlockStats) -> Vec<[f64; 3]> {
    let all: Vec<usize> = (0..stats.layout.blocks).collect();
    stats
        .sums
        .chunks_exact(stats.layout.blocks * 3)
        .map(|row| union(row, &all))
        .collect()
}

/// One split: the in-sample winner and its out-of-sample rank. `keys` is scratch space of length N.
fn evaluate(stats: &BlockStats, totals: &[[f64; 3]], mask: u32, keys: &mut [f64]) -> Split {
    let s = stats.layout.blocks;
    let mut in_sample = [0usize; MAX_BLOCKS / 2];
    let mut k = 0;
    for b in (0..s).filter(|b| mask >> b & 1 == 1) {
        in_sample[k] = b;
        k += 1;
    }
    let in_sample = &in_sample[..k];
    let oos_of =
        |total: &[f64; 3], is: &[f64; 3]| [total[0] - is[0], total[1] - is[1], total[2] - is[2]];
    let (mut best, mut best_key) = (0, f64::NEG_INFINITY);
    let rows = stats.sums.chunks_exact(s * 3).zip(totals).zip(&stats.shift);
    for (c, (((row, total), &shift), key)) in rows.zip(keys.iter_mut()).enumerate() {
        let is = union(row, in_sample);
        let is_key = score_key(shift, is);
        *key = score_key(shift, oos_of(total, &is));
        if is_key > best_key {
            (best, best_key) = (c, is_key);
        }
    }
    let x = keys[best];
    let (mut below, mut equal) = (0usize, 0usize);
    for &v in keys.iter() {
        below += usize::from(v < x);
        equal += usize::from(v == x);
    }
    // `equal` counts n* itself: the tied candidates hold ranks below+1 ..= below+equal.
    let rank = below as f64 + (equal as f64 + 1.0) / 2.0;
    let omega = rank / (keys.len() as f64 + 1.0);
    let row = &stats.sums[best * s * 3..][..s * 3];
    let is = union(row, in_sample);
    Split {
        in_sample: mask,
        best,
        is_sharpe: score(stats.shift[best], is),
        oos_sharpe: score(stats.shift[best], oos_of(&totals[best], &is)),
        oos_rank: rank,
        logit: (omega / (1.0 - omega)).ln(),
    }
}

/// PBO, the degradation line and the OOS-loss share from the splits, summed in split order.
fn summarize(stats: &BlockStats, splits: Vec<Split>) -> Pbo {
    let m = splits.len() as f64;
    let share = |f: &dyn Fn(&Split) -> bool| splits.iter().filter(|s| f(s)).count() as f64 / m;
    let mean_x = splits.iter().map(|s| s.is_sharpe).sum::<f64>() / m;
    let mean_y = splits.iter().map(|s| s.oos_sharpe).sum::<f64>() / m;
    let (mut sxx, mut sxy) = (0.0, 0.0);
    for s in &splits {
        let dx = s.is_sharpe - mean_x;
        sxx += dx * dx;
        sxy += dx * (s.oos_sharpe - mean_y);
    }
    let slope = if sxx > 0.0 { sxy / sxx } else { f64::NAN };
    Pbo {
        pbo: share(&|s| s.logit <= 0.0),
        slope,
        intercept: mean_y - slope * mean_x,
        prob_oos_loss: share(&|s| s.oos_sharpe < 0.0),
        candidates: stats.candidates(),
        layout: stats.layout,
        splits,
    }
}

#[cfg(test)]
mod tests;
