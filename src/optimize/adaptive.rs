//! The bookkeeping shared by the batch-adaptive methods (`explore`, `tpe`): a budget of distinct
//! candidates evaluated batch by batch in parallel, the memo of what was evaluated (so nothing is
//! evaluated twice), the observations in evaluation order, the top K, and the per-batch history.
//!
//! Determinism: every random draw happens here or in the method, on one seeded generator, before a
//! batch is evaluated; evaluation runs in parallel but its outcomes come back in proposal order. So the
//! candidates, their order and the result depend on the seed and the data only, never on threads.

use std::collections::HashSet;

use rand::prelude::*;

use super::evaluate::{Evaluator, SearchResult, TopK};
use super::space::{COUNT_LIMIT, Space};
use crate::error::Result;

/// One evaluated candidate: its grid index and ranked objective (`None`: unranked).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Observation {
    /// Grid index.
    pub index: u64,
    /// Ranked objective; `None` when the candidate could not be ranked.
    pub rank: Option<f64>,
}

/// A search in progress.
pub struct Run<'a, 'e> {
    /// The space searched.
    pub space: &'a Space,
    evaluator: &'a Evaluator<'e>,
    /// The method's random generator.
    pub rng: StdRng,
    /// Everything evaluated, in evaluation order.
    pub observations: Vec<Observation>,
    /// Grid indices evaluated.
    memo: HashSet<u64>,
    top: TopK,
    seq: u64,
    history: Vec<f64>,
    budget: u64,
}

impl<'a, 'e> Run<'a, 'e> {
    /// A run that will evaluate at most `samples` distinct candidates (never more than are feasible),
    /// keeping the top `k`.
    pub fn new(
        space: &'a Space,
        evaluator: &'a Evaluator<'e>,
        k: usize,
        seed: u64,
        samples: u64,
        feasible: u64,
    ) -> Run<'a, 'e> {
        Run {
            space,
            evaluator,
            rng: StdRng::seed_from_u64(seed),
            observations: Vec::new(),
            memo: HashSet::new(),
            top: TopK::new(k),
            seq: 0,
            history: Vec::new(),
            budget: samples.min(feasible),
        }
    }

    /// Candidates still to evaluate (0 once the budget is spent or a stop was requested).
    pub fn left(&self) -> u64 {
        if self.evaluator.stopped() {
            return 0;
        }
        self.budget - self.observations.len() as u64
    }

    /// True when `index` was evaluated.
    pub fn seen(&self, index: u64) -> bool {
        self.memo.contains(&index)
    }

    /// The grid indices of the best `n` ranked observations, best first (ties by grid index).
    pub fn best(&self, n: usize) -> Vec<u64> {
        let mut ranked: Vec<(f64, u64)> = self
            .observations
            .iter()
            .filter_map(|o| o.rank.map(|r| (r, o.index)))
            .collect();
        ranked.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        ranked.into_iter().take(n).map(|(_, i)| i).collect()
    }

    /// A feasible candidate drawn uniformly from the grid that was not evaluated and is not in
    /// `taken`; `None` when there is none. Tries random indices first, then scans from a random one:
    /// the whole grid when it was counted, at most [`COUNT_LIMIT`] indices of a bigger one.
    pub fn draw_unseen(&mut self, taken: &HashSet<u64>) -> Option<u64> {
        let size = self.space.size();
        let fresh = |run: &Run, i: u64| {
            !run.memo.contains(&i) && !taken.contains(&i) && run.space.candidate(i).is_some()
        };
        for _ in 0..64 {
            let i = self.rng.random_range(0..size);
            if fresh(self, i) {
                return Some(i);
            }
        }
        let start = self.rng.random_range(0..size);
        (start..size)
            .chain(0..start)
            .take(COUNT_LIMIT as usize)
            .find(|&i| fresh(self, i))
    }

    /// Evaluates `indices` (distinct, feasible, unseen) as one parallel batch and records them.
    pub fn evaluate(&mut self, indices: &[u64]) -> Result<()> {
        let batch = self.history.len() as u32;
        let items = indices
            .iter()
            .filter_map(|&i| self.space.candidate(i).map(|p| (i, p)))
            .collect::<Vec<_>>();
        let n = items.len() as u64;
        let outcomes = self.evaluator.evaluate_batch(self.seq, batch, items)?;
        self.seq += n;
        for o in outcomes.into_iter().flatten() {
            self.memo.insert(o.index);
            self.observations.push(Observation {
                index: o.index,
                rank: o.rank,
            });
            self.top.push(o);
        }
        self.history.push(
            self.top
                .items()
                .first()
                .and_then(|o| o.rank)
                .unwrap_or(f64::NAN),
        );
        Ok(())
    }

    /// The top K and the history.
    pub fn finish(self) -> SearchResult {
        SearchResult {
            top: self.top.into_vec(),
            history: self.history,
        }
    }
}
