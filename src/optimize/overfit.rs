//! The overfitting statistics of one search, gathered while it runs: every evaluated candidate hands
//! its per-period returns ([`crate::metrics::period_returns`]: the returns the Sharpe metric is
//! computed from — day returns for intraday data, bar returns for daily bars, week/month/year returns
//! for weekly/monthly/yearly bars) to a [`Collector`], which keeps only
//!
//! - the candidate's per-period Sharpe ratio (for N and σ_SR of the deflated Sharpe ratio),
//! - its per-block sufficient statistics for PBO ([`validation::CandidateSums`]: count, sum and sum of
//!   squares per block, exact for the Sharpe ratio of any union of blocks), and
//! - the returns of the best candidate so far (by the search's own ranking), for PSR, DSR and MinTRL.
//!
//! So memory is O(candidates × blocks), never the T × N returns matrix: with S = 16, 432 bytes per
//! candidate (384 of block sums, 48 of bookkeeping; tested), 43 MB for 100,000 candidates, plus the
//! 39 MB [`validation::BlockStats`] built from them at the end (the per-candidate rows are dropped
//! while it is built) — under the 200 MB the issue allows, whatever T is. Keeping the matrix as f32
//! instead would cost 4·T bytes per candidate (280 MB for 700 days × 100,000) and still grow with T.
//! `--returns-matrix` spills each candidate's returns to a temporary file as they come
//! ([`crate::optimize::returns_matrix`]) and writes the Parquet file column by column at the end.
//!
//! Determinism: rows are stored by the evaluation's sequence number and ordered by grid index at the
//! end, so the statistics do not depend on which thread finished first. Candidates are columns of
//! CSCV in grid-index order, so PBO's ties go to the lowest grid index, as the search's ranking does.

use std::path::PathBuf;
use std::sync::Mutex;

use super::lock;
use super::objective::rank_cmp;
use super::returns_matrix::Spill;
use super::validation::{
    self, BlockLayout, BlockStats, CandidateSums, DEFAULT_BLOCKS, Deflated, Moments, Pbo,
};
use crate::candles::Candles;
use crate::error::{Error, Result};
use crate::indicators::IndicatorCache;
use crate::metrics;
use crate::playbook::Validation;

/// How to compute the statistics.
#[derive(Debug, Clone, PartialEq)]
pub struct Spec {
    /// S: the number of blocks of PBO.
    pub blocks: usize,
    /// Whether S (or PBO) was asked for: then too few returns for S blocks is a usage error; else PBO
    /// is left out with a note (a short data set should not fail every optimize).
    pub blocks_required: bool,
    /// Also write the T × N returns matrix to this Parquet file.
    pub matrix: Option<PathBuf>,
}

impl Default for Spec {
    fn default() -> Spec {
        Spec {
            blocks: DEFAULT_BLOCKS,
            blocks_required: false,
            matrix: None,
        }
    }
}

/// What the collector keeps of one candidate.
struct Row {
    index: u64,
    sharpe: f64,
    sums: Option<CandidateSums>,
}

/// The best candidate so far by the search's ranking, with its returns.
struct Best {
    rank: f64,
    index: u64,
    returns: Vec<f64>,
}

/// Gathers the per-period returns of every candidate of one search (from any thread).
pub struct Collector {
    period: &'static str,
    periods: usize,
    /// Open time of the last bar of each period: return k ends at `ends[k + 1]`.
    ends: Vec<i64>,
    layout: Option<BlockLayout>,
    notes: Vec<String>,
    /// By sequence number.
    rows: Mutex<Vec<Option<Row>>>,
    best: Mutex<Option<Best>>,
    spill: Option<Spill>,
    failure: Mutex<Option<String>>,
}

impl Collector {
    /// A collector for searches over `candles`. Usage error when S was asked for and is odd, above
    /// 20 or above the number of returns T (naming both).
    pub fn new(candles: &Candles, spec: &Spec) -> Result<Collector> {
        let ends = metrics::period_end_times(candles, &IndicatorCache::new());
        let period = metrics::period_name(&candles.ts);
        let periods = ends.len().saturating_sub(1);
        let mut notes = Vec::new();
        let layout = match BlockLayout::new(periods, spec.blocks) {
            Ok(l) => Some(l),
            Err(e) if spec.blocks_required => {
                return Err(Error::usage(format!(
                    "--pbo-blocks {}: {e} ({periods} {period} returns in the data)",
                    spec.blocks
                )));
            }
            Err(_) => {
                notes.push(format!(
                    "pbo left out: {periods} {period} returns are too few for {} blocks (--pbo-blocks)",
                    spec.blocks
                ));
                None
            }
        };
        let spill = match &spec.matrix {
            Some(path) => Some(Spill::create(path, periods)?),
            None => None,
        };
        Ok(Collector {
            period,
            periods,
            ends,
            layout,
            notes,
            rows: Mutex::new(Vec::new()),
            best: Mutex::new(None),
            spill,
            failure: Mutex::new(None),
        })
    }

    /// Gives the returns matrix file (if any) `meta` as footer metadata.
    pub fn with_matrix_meta(mut self, meta: crate::backtest::export::FileMeta) -> Collector {
        if let Some(spill) = self.spill.as_mut() {
            spill.meta = meta;
        }
        self
    }

    /// T: the number of per-period returns of every candidate.
    pub fn periods(&self) -> usize {
        self.periods
    }

    /// Takes candidate `index` (evaluated as number `seq`, ranked by `rank`) with its per-period
    /// returns.
    pub fn record(&self, seq: u64, index: u64, rank: Option<f64>, returns: &[f64]) {
        let sums = match self.layout.map(|l| l.candidate_sums(returns)).transpose() {
            Ok(s) => s,
            Err(e) => return self.fail(format!("candidate {index}: {e}")),
        };
        if let Some(spill) = &self.spill
            && let Err(e) = spill.put(seq, returns)
        {
            return self.fail(e.to_string());
        }
        let row = Row {
            index,
            sharpe: validation::sharpe(returns),
            sums,
        };
        {
            let mut rows = lock(&self.rows);
            let seq = seq as usize;
            if rows.len() <= seq {
                rows.resize_with(seq + 1, || None);
            }
            rows[seq] = Some(row);
        }
        if let Some(rank) = rank {
            let mut best = lock(&self.best);
            let better = best
                .as_ref()
                .is_none_or(|b| rank_cmp((rank, index), (b.rank, b.index)).is_lt());
            if better {
                *best = Some(Best {
                    rank,
                    index,
                    returns: returns.to_vec(),
                });
            }
        }
    }

    /// The heap memory the collected rows hold, in bytes (the slots, and each candidate's block
    /// sums; the best's returns and the period times are O(T) and left out).
    pub fn heap_bytes(&self) -> usize {
        let rows = lock(&self.rows);
        rows.capacity() * std::mem::size_of::<Option<Row>>()
            + rows
                .iter()
                .flatten()
                .filter_map(|r| r.sums.as_ref())
                .map(CandidateSums::heap_bytes)
                .sum::<usize>()
    }

    fn fail(&self, message: String) {
        lock(&self.failure).get_or_insert(message);
    }

    /// The statistics of the search whose best candidate (the first of its top list) has grid index
    /// `best`.
    pub fn finish(self, best: u64) -> Result<Overfit> {
        if let Some(message) = lock(&self.failure).take() {
            return Err(Error::invalid(format!("overfitting statistics: {message}")));
        }
        let tracked = lock(&self.best).take();
        let returns = match tracked {
            Some(b) if b.index == best => b.returns,
            _ => {
                return Err(Error::invalid(format!(
                    "overfitting statistics: the returns of the best candidate {best} were not collected"
                )));
            }
        };
        let mut rows: Vec<(u64, Row)> = std::mem::take(&mut *lock(&self.rows))
            .into_iter()
            .enumerate()
            .filter_map(|(seq, r)| r.map(|r| (seq as u64, r)))
            .collect();
        rows.sort_by_key(|(_, r)| r.index);
        rows.dedup_by_key(|(_, r)| r.index);
        let mut notes = self.notes;
        let moments = Moments::of(&returns);
        let sharpes: Vec<f64> = rows.iter().map(|(_, r)| r.sharpe).collect();
        let position = rows.iter().position(|(_, r)| r.index == best);
        let deflated = match (moments, position) {
            (Some(m), Some(p)) => match validation::deflate_best(p, m, &sharpes) {
                Ok(d) => Some(d),
                Err(e) => {
                    notes.push(format!("dsr left out: {e}"));
                    None
                }
            },
            _ => None,
        };
        if let Some(spill) = self.spill {
            let order: Vec<(u64, u64)> = rows.iter().map(|(seq, r)| (*seq, r.index)).collect();
            spill.write_parquet(&self.ends[1..], &order)?;
        }
        let candidates = rows.len();
        let pbo = match self.layout {
            Some(layout) if candidates >= 2 => {
                let stats = BlockStats::from_candidates(
                    layout,
                    rows.into_iter().filter_map(|(_, r)| r.sums),
                );
                Some(validation::pbo(&stats)?)
            }
            Some(_) => {
                notes.push(format!(
                    "pbo left out: it needs at least 2 candidates, {candidates} evaluated"
                ));
                None
            }
            None => None,
        };
        Ok(Overfit {
            period: self.period,
            periods: self.periods,
            candidate: best,
            moments,
            deflated,
            pbo,
            candidates,
            notes,
        })
    }
}

/// The overfitting statistics of a search.
#[derive(Debug, Clone)]
pub struct Overfit {
    /// What one period is (`day`, `week`, `month`, `year`).
    pub period: &'static str,
    /// T.
    pub periods: usize,
    /// The grid index of the best candidate.
    pub candidate: u64,
    /// The moments of the best candidate's returns (None with fewer than 2 returns).
    pub moments: Option<Moments>,
    /// DSR and what it rests on (None with fewer than 2 candidates with a Sharpe ratio).
    pub deflated: Option<Deflated>,
    /// PBO by CSCV (None when left out; see `notes`).
    pub pbo: Option<Pbo>,
    /// Candidates evaluated.
    pub candidates: usize,
    /// Why a number is missing.
    pub notes: Vec<String>,
}

/// `Some(x)` when `x` is finite.
fn finite(x: f64) -> Option<f64> {
    x.is_finite().then_some(x)
}

impl Overfit {
    /// The `[validation]` section (without gate verdicts).
    pub fn section(&self) -> Validation {
        let m = self.moments;
        let d = self.deflated;
        let p = self.pbo.as_ref();
        Validation {
            period: self.period.to_string(),
            periods: self.periods as u64,
            candidate: self.candidate,
            sharpe: m.and_then(|m| finite(m.sharpe)),
            skew: m.and_then(|m| finite(m.skew)),
            kurtosis: m.and_then(|m| finite(m.kurt)),
            psr: m.and_then(|m| finite(m.psr(0.0))),
            min_trl: m
                .and_then(|m| m.min_trl(0.0, validation::MIN_TRL_CONFIDENCE))
                .and_then(finite),
            trials: d.map_or(0, |d| d.trials as u64),
            sharpe_std: d.and_then(|d| finite(d.sharpe_std)),
            sr0: d.and_then(|d| finite(d.sr0)),
            dsr: d.and_then(|d| finite(d.dsr)),
            pbo: p.map(|p| p.pbo),
            pbo_blocks: p.map(|p| p.layout.blocks as u64),
            pbo_splits: p.map(|p| p.combinations() as u64),
            pbo_dropped: p.map(|p| p.layout.dropped as u64),
            pbo_candidates: p.map(|p| p.candidates as u64),
            pbo_slope: p.and_then(|p| finite(p.slope)),
            pbo_intercept: p.and_then(|p| finite(p.intercept)),
            prob_oos_loss: p.map(|p| p.prob_oos_loss),
            notes: self.notes.clone(),
            gates: Vec::new(),
        }
    }
}

/// What `backtest --playbook --check` finds when it recomputes a stored `[validation]` from the fresh
/// run of the playbook's parameters: the best candidate's per-period Sharpe ratio, skewness,
/// kurtosis, PSR, MinTRL and DSR (against the stored SR0; N and σ_SR need the whole search and are
/// taken as stored), each compared like a metric. The returned section holds the fresh values, for
/// judging the stored gates again.
pub fn recheck(
    stored: &Validation,
    fresh_returns: &[f64],
    tolerance: f64,
) -> (Validation, Vec<crate::playbook::Drift>) {
    use crate::playbook::compare_value;
    let m = Moments::of(fresh_returns);
    let mut fresh = stored.clone();
    fresh.periods = fresh_returns.len() as u64;
    fresh.sharpe = m.and_then(|m| finite(m.sharpe));
    fresh.skew = m.and_then(|m| finite(m.skew));
    fresh.kurtosis = m.and_then(|m| finite(m.kurt));
    fresh.psr = m.and_then(|m| finite(m.psr(0.0)));
    fresh.min_trl = m
        .and_then(|m| m.min_trl(0.0, validation::MIN_TRL_CONFIDENCE))
        .and_then(finite);
    fresh.dsr = match (m, stored.sr0) {
        (Some(m), Some(sr0)) => finite(m.psr(sr0)),
        _ => None,
    };
    let pairs = [
        (
            "periods",
            Some(stored.periods as f64),
            Some(fresh.periods as f64),
            true,
        ),
        ("sharpe", stored.sharpe, fresh.sharpe, false),
        ("skew", stored.skew, fresh.skew, false),
        ("kurtosis", stored.kurtosis, fresh.kurtosis, false),
        ("psr", stored.psr, fresh.psr, false),
        ("min_trl", stored.min_trl, fresh.min_trl, false),
        ("dsr", stored.dsr, fresh.dsr, false),
    ];
    let drifts = pairs
        .into_iter()
        .filter_map(|(name, then, now, exact)| {
            compare_value(&format!("validation.{name}"), then, now, exact, tolerance)
        })
        .collect();
    (fresh, drifts)
}

/// `backtest --playbook --check` on a playbook's `[validation]`: recomputes what the fresh run of its
/// parameters gives ([`recheck`] on the run's per-period returns; `equity` is the run's equity over
/// `candles`) and judges the stored gates again on those numbers (and on the stored `[walk_forward]`).
/// Nothing when the playbook has no `[validation]`.
pub fn check_playbook(
    pb: &crate::playbook::Playbook,
    candles: &Candles,
    equity: &[f64],
    cache: &IndicatorCache,
    tolerance: f64,
) -> (
    Vec<crate::playbook::Drift>,
    Vec<crate::playbook::GateVerdict>,
) {
    let Some(stored) = &pb.validation else {
        return (Vec::new(), Vec::new());
    };
    let returns = metrics::period_returns(candles, equity, cache);
    let (fresh, drifts) = recheck(stored, &returns, tolerance);
    let gates = crate::playbook::validation::rejudge(&fresh, pb.walk_forward.as_ref());
    (drifts, gates)
}

#[cfg(test)]
mod tests {
    use rand::prelude::*;
    use rand_distr::{Distribution, Normal};
    use rayon::prelude::*;

    use super::*;
    use crate::candles::DAY_MS;

    /// `bars` daily bar times (only the times matter to the collector).
    fn days(bars: usize) -> Candles {
        Candles {
            ts: (0..bars as i64).map(|i| i * DAY_MS).collect(),
            ..Candles::default()
        }
    }

    /// 40 candidates (grid indexes 3·k + 1, handed over in a shuffled order from rayon threads, ranked
    /// by their own Sharpe ratio) give what the core computes on the columns in grid order.
    #[test]
    fn collected_in_any_order_equals_the_statistics_of_the_matrix() {
        let t = 64;
        let mut rng = StdRng::seed_from_u64(5);
        let noise = Normal::new(0.0005, 0.01).unwrap();
        let columns: Vec<Vec<f64>> = (0..40)
            .map(|_| (0..t).map(|_| noise.sample(&mut rng)).collect())
            .collect();
        let index = |k: usize| 3 * k as u64 + 1;
        let mut order: Vec<usize> = (0..40).collect();
        order.shuffle(&mut rng);
        let dir = tempfile::tempdir().unwrap();
        let matrix = dir.path().join("m.parquet");
        let spec = Spec {
            blocks: 8,
            blocks_required: true,
            matrix: Some(matrix.clone()),
        };
        let data = days(t + 1);
        let c = Collector::new(&data, &spec).unwrap();
        assert_eq!(c.periods(), t);
        order.par_iter().enumerate().for_each(|(seq, &k)| {
            let sr = validation::sharpe(&columns[k]);
            c.record(seq as u64, index(k), Some(sr), &columns[k]);
        });
        let sharpes: Vec<f64> = columns.iter().map(|r| validation::sharpe(r)).collect();
        let best = (0..40)
            .max_by(|&a, &b| sharpes[a].total_cmp(&sharpes[b]).then(b.cmp(&a)))
            .unwrap();
        let o = c.finish(index(best)).unwrap();
        let want = validation::deflate(&columns).unwrap();
        assert_eq!(want.best, best);
        let d = o.deflated.unwrap();
        assert_eq!((d.best, d.trials), (best, 40));
        assert_eq!(d.dsr.to_bits(), want.dsr.to_bits());
        assert_eq!(d.sr0.to_bits(), want.sr0.to_bits());
        let pbo = validation::pbo(&BlockStats::from_columns(&columns, 8).unwrap()).unwrap();
        assert_eq!(o.pbo.as_ref(), Some(&pbo));
        let v = o.section();
        assert_eq!(v.candidate, index(best));
        assert_eq!(v.pbo_splits, Some(70)); // C(8, 4)
        assert_eq!(v.period, "day");
        // The matrix: ts of each return's last bar, then the columns by grid index, bit for bit.
        let file = std::fs::File::open(&matrix).unwrap();
        let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
            .unwrap()
            .build()
            .unwrap();
        let batches: Vec<_> = reader.map(|b| b.unwrap()).collect();
        let b = &batches[0];
        assert_eq!(b.num_rows(), t);
        assert_eq!(b.schema().field(1).name(), "1");
        assert_eq!(b.schema().field(40).name(), "118");
        let ts = b
            .column(0)
            .as_any()
            .downcast_ref::<arrow_array::TimestampMillisecondArray>()
            .unwrap();
        assert_eq!(ts.value(0), DAY_MS);
        assert_eq!(ts.value(t - 1), t as i64 * DAY_MS);
        for k in [0, 17, 39] {
            let col = b
                .column(k + 1)
                .as_any()
                .downcast_ref::<arrow_array::Float64Array>()
                .unwrap();
            assert_eq!(col.values()[..], columns[k][..]);
        }
    }

    /// The memory promise of the module docs: 100,000 candidates with S = 16 in well under 200 MB,
    /// whatever T is.
    #[test]
    fn a_hundred_thousand_candidates_take_432_bytes_each() {
        let c = Collector::new(&days(17), &Spec::default()).unwrap();
        let r: Vec<f64> = (0..16).map(|i| i as f64 * 1e-4).collect();
        for seq in 0..100_000u64 {
            c.record(seq, seq, None, &r);
        }
        let bytes = c.heap_bytes();
        // Per candidate: a 48-byte slot (index, Sharpe ratio, shift, the cells' pointer, capacity and
        // length) plus 16 × 3 × 8 = 384 bytes of cells: 432 bytes, 43.2 MB in all (allocator
        // overhead aside). The slots grow by doubling, so allow up to 2× for them.
        assert!(bytes >= 43_200_000, "{bytes}");
        assert!(bytes <= 100_000 * (2 * 48 + 384), "{bytes}");
    }

    #[test]
    fn too_few_returns_for_the_blocks_is_a_usage_error_only_when_asked_for() {
        let data = days(11); // 10 returns
        let asked = Spec {
            blocks: 16,
            blocks_required: true,
            matrix: None,
        };
        let e = Collector::new(&data, &asked).err().unwrap();
        assert_eq!(e.exit_code(), 2);
        assert_eq!(
            e.to_string(),
            "--pbo-blocks 16: PBO with 16 blocks needs at least 16 periods, got 10 (10 day returns in the data)"
        );
        let c = Collector::new(&data, &Spec::default()).unwrap();
        let r: Vec<f64> = (0..10).map(|i| (i as f64 - 4.5) * 1e-3).collect();
        c.record(0, 0, Some(1.0), &r);
        c.record(1, 1, Some(0.5), &r.iter().map(|x| -x).collect::<Vec<_>>());
        let o = c.finish(0).unwrap();
        assert!(o.pbo.is_none());
        assert_eq!(
            o.notes,
            ["pbo left out: 10 day returns are too few for 16 blocks (--pbo-blocks)"]
        );
        assert_eq!(o.deflated.unwrap().trials, 2);
    }
}
