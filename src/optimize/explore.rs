//! `--method explore`: the product's "20% exploration + 80% exploitation via mutation" rule, as
//! written. Candidates are proposed in batches of `--population`; in each batch, 20% (rounded) are
//! drawn uniformly from the feasible grid and 80% are mutations of the current best few; the first
//! batch, with nothing ranked yet, is all uniform. Each batch is evaluated in parallel, then the best
//! are updated. A candidate is never evaluated twice; the search stops after `--samples` distinct
//! candidates. Seeded: the same seed gives the same candidates in the same order at any thread count.
//!
//! - **Parents**: the best `max(1, batch / 4)` ranked candidates so far (ties by grid index); each
//!   mutation starts from one of them, chosen uniformly.
//! - **Mutation**: one searched parameter, chosen uniformly, always changes; every other one changes
//!   with probability 1 / (number of searched parameters). A range parameter moves by a rounded
//!   normal step of standard deviation `max(1, positions / 8)` grid positions (at least one, clamped
//!   to the range); a list parameter takes another of its values, chosen uniformly.
//! - A mutant that is infeasible, already evaluated or already in the batch is redrawn (32 tries),
//!   then replaced by a uniform draw.

use std::collections::HashSet;

use rand::prelude::*;
use rand_distr::StandardNormal;

use super::adaptive::Run;
use super::evaluate::{Evaluator, SearchResult};
use super::space::{Axis, Space};
use crate::error::Result;

/// Share of each batch drawn uniformly (the rest are mutations).
pub const EXPLORE_SHARE: f64 = 0.2;

/// Mutation attempts before a uniform draw replaces the mutant.
const TRIES: usize = 32;

/// Runs the search: `samples` distinct candidates in batches of `batch`.
pub fn explore(
    space: &Space,
    evaluator: &Evaluator<'_>,
    k: usize,
    seed: u64,
    samples: u64,
    batch: usize,
) -> Result<SearchResult> {
    // `methods::search` evaluates the whole grid instead when `samples` covers every candidate.
    // A big grid is estimated, not counted: its budget is `samples`, and a draw finding nothing
    // unseen ends the search early.
    let feasible = space.feasibility().exact().unwrap_or(u64::MAX);
    let mut run = Run::new(space, evaluator, k, seed, samples, feasible);
    let searched: Vec<usize> = (0..space.dims().len())
        .filter(|&d| space.dims()[d].axis.len() > 1)
        .collect();
    let batch = batch.max(1);
    while run.left() > 0 {
        let size = (batch as u64).min(run.left()) as usize;
        let parents = run.best((batch / 4).max(1));
        let uniform = if parents.is_empty() {
            size
        } else {
            (size as f64 * EXPLORE_SHARE).round() as usize
        };
        let mut taken: HashSet<u64> = HashSet::new();
        let mut proposals = Vec::with_capacity(size);
        for j in 0..size {
            let pick = if j < uniform {
                None
            } else {
                mutant(&mut run, &parents, &searched, &taken)
            };
            match pick.or_else(|| run.draw_unseen(&taken)) {
                Some(i) => {
                    taken.insert(i);
                    proposals.push(i);
                }
                None => break,
            }
        }
        if proposals.is_empty() {
            break;
        }
        run.evaluate(&proposals)?;
    }
    Ok(run.finish())
}

/// A feasible, unseen, untaken mutation of one of `parents`, or `None` after [`TRIES`] attempts.
fn mutant(
    run: &mut Run<'_, '_>,
    parents: &[u64],
    searched: &[usize],
    taken: &HashSet<u64>,
) -> Option<u64> {
    if searched.is_empty() {
        return None;
    }
    let space = run.space;
    let p = 1.0 / searched.len() as f64;
    for _ in 0..TRIES {
        let parent = parents[run.rng.random_range(0..parents.len())];
        let mut c = space.coords(parent);
        let forced = searched[run.rng.random_range(0..searched.len())];
        for &d in searched {
            if d == forced || run.rng.random_bool(p) {
                c[d] = mutate(&space.dims()[d].axis, c[d], &mut run.rng);
            }
        }
        let i = space.index(&c);
        if !run.seen(i) && !taken.contains(&i) && space.candidate(i).is_some() {
            return Some(i);
        }
    }
    None
}

/// A different position on `axis` (which has at least two): a rounded normal step for ranges, another
/// value for lists.
fn mutate(axis: &Axis, at: u64, rng: &mut StdRng) -> u64 {
    let n = axis.len();
    match axis {
        Axis::List(_) => {
            let other = rng.random_range(0..n - 1);
            if other >= at { other + 1 } else { other }
        }
        _ => {
            let sigma = (n as f64 / 8.0).max(1.0);
            let z: f64 = rng.sample(StandardNormal);
            let mut step = (z * sigma).round() as i64;
            if step == 0 {
                step = if z < 0.0 { -1 } else { 1 };
            }
            let moved = (at as i64 + step).clamp(0, n as i64 - 1) as u64;
            if moved != at {
                moved
            } else if at == 0 {
                1
            } else {
                at - 1
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::strategy::ParamValue;

    #[test]
    fn a_mutation_always_moves_and_stays_on_the_axis() {
        let mut rng = StdRng::seed_from_u64(3);
        let range = Axis::Int {
            start: 5,
            step: 5,
            count: 40,
        };
        let list = Axis::List(vec![
            ParamValue::Choice("a"),
            ParamValue::Choice("b"),
            ParamValue::Choice("c"),
        ]);
        let mut far = 0;
        for _ in 0..2000 {
            for at in [0, 17, 39] {
                let m = mutate(&range, at, &mut rng);
                assert!(m != at && m < 40);
                far += usize::from(m.abs_diff(at) > 1);
            }
            let m = mutate(&list, 1, &mut rng);
            assert!(m == 0 || m == 2);
        }
        // σ = 40 / 8 = 5 positions: most steps are longer than one.
        assert!(far > 3000, "{far}");
        // Two positions: the only other one.
        let two = Axis::Int {
            start: 1,
            step: 1,
            count: 2,
        };
        assert_eq!(mutate(&two, 0, &mut rng), 1);
        assert_eq!(mutate(&two, 1, &mut rng), 0);
    }
}
