//! `--method tpe`: a tree-structured Parzen estimator (Bergstra et al., "Algorithms for
//! Hyper-Parameter Optimization", NeurIPS 2011), the sampler behind Optuna's `TPESampler` and
//! Hyperopt, over the grid of a [`Space`].
//!
//! After a random start, the candidates evaluated so far are split into the best `γ(n)` ("good") and
//! the rest; each searched parameter gets two Parzen (kernel) densities, `l` over the good values and
//! `g` over the rest, and the next candidate maximizes `Π l(x) / g(x)` (the expected-improvement
//! criterion of the paper) over 24 candidates drawn from `l`. What follows Optuna 4 (`TPESampler`
//! defaults, `optuna/samplers/_tpe/{sampler,parzen_estimator,probability_distributions}.py`):
//!
//! - `n_startup_trials = 10` uniform draws first; `γ(n) = min(⌈0.1 n⌉, 25)`; `n_ei_candidates = 24`.
//! - Observation weights `default_weights`: 1 each below 25 observations, else a linear ramp from
//!   `1/n` to 1 over the oldest `n − 25` and 1 for the newest 25; a prior kernel of weight 1.
//! - Range parameters (ints and floats with a step) are modelled on their grid positions `0..m` as
//!   truncated normals discretized to the step (`low − ½`, `high + ½`): kernel centres at the observed
//!   positions, the prior centred in the middle with σ = the whole range, each observation's σ = the
//!   larger gap to its sorted neighbours (the prior's centre and the range ends included; the
//!   outermost two use their inner gap — `consider_endpoints = False`), clipped to
//!   [range / min(100, 1 + kernels), range] ("magic clip").
//! - List parameters are categorical: each kernel puts `1 + w/k` on its observed value and `w/k` on
//!   every value before normalizing (prior weight `w = 1`, `k` = observations + 1); the prior kernel
//!   is uniform.
//!
//! Our adaptations, all for the setting of an optimizer over a finite grid:
//! - **Batches**: `--population` proposals are made from one model (each drawn independently), then
//!   evaluated in parallel, then the model is rebuilt. Results do not depend on the thread count.
//! - **Joint candidates**: Optuna's default samples each parameter independently and keeps the best of
//!   24 per parameter. Here each of the 24 candidates is a whole parameter set drawn from the `l`
//!   densities and they are ranked by the product of the per-parameter ratios — the same acquisition,
//!   maximized over whole candidates, so that constraints and the no-repeat rule can be applied: a
//!   candidate that is infeasible, already evaluated or already proposed is skipped for the next best;
//!   if all 24 are skipped, 24 more are drawn (4 rounds at most), then a uniform draw is taken.
//! - **Unranked candidates** (non-finite objective or too few trades) count as the worst.
//! - Ties in the objective rank by evaluation order, as Optuna's stable split does.

use std::collections::{HashMap, HashSet};

use rand::prelude::*;
use rand_distr::StandardNormal;

use super::adaptive::{Observation, Run};
use super::evaluate::{Evaluator, SearchResult};
use super::space::{Axis, Space};
use crate::error::Result;

/// Uniform draws before the model is used (Optuna's `n_startup_trials`).
pub const STARTUP: usize = 10;
/// Candidates drawn from `l` per proposal (Optuna's `n_ei_candidates`).
pub const EI_CANDIDATES: usize = 24;
/// Rounds of [`EI_CANDIDATES`] draws before a uniform draw replaces the proposal.
const ROUNDS: usize = 4;
/// Weight of the prior kernel (Optuna's `prior_weight`).
const PRIOR_WEIGHT: f64 = 1.0;

/// Optuna's `default_gamma`: how many of `n` observations are "good".
pub fn gamma(n: usize) -> usize {
    n.div_ceil(10).min(25)
}

/// Optuna's `default_weights` for `n` observations in evaluation order.
pub fn weights(n: usize) -> Vec<f64> {
    if n < 25 {
        return vec![1.0; n];
    }
    let ramp = n - 25;
    let start = 1.0 / n as f64;
    let mut w: Vec<f64> = (0..ramp)
        .map(|i| {
            if ramp == 1 {
                start
            } else {
                start + (1.0 - start) * i as f64 / (ramp - 1) as f64
            }
        })
        .collect();
    w.extend(std::iter::repeat_n(1.0, 25));
    w
}

/// Runs the search: `samples` distinct candidates in batches of `batch`.
pub fn tpe(
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
        let mut model = (run.observations.len() >= STARTUP && !searched.is_empty())
            .then(|| Model::fit(space, &searched, &run.observations));
        let mut taken = HashSet::new();
        let mut proposals = Vec::with_capacity(size);
        for _ in 0..size {
            let pick = match &mut model {
                Some(m) => m.propose(&mut run, &taken),
                None => None,
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

/// One kernel density over the positions `0..m` of one parameter.
#[derive(Debug, Clone)]
enum Density {
    /// Truncated normals discretized to the grid: mixture weights, centres, widths, and each
    /// kernel's mass inside the range (its normalizer).
    Numeric {
        m: usize,
        w: Vec<f64>,
        mu: Vec<f64>,
        sigma: Vec<f64>,
        inside: Vec<f64>,
    },
    /// Categorical kernels: mixture weights and one probability row per kernel.
    Categorical { w: Vec<f64>, rows: Vec<Vec<f64>> },
}

/// Standard normal upper tail `P(Z > x)`.
fn upper(x: f64) -> f64 {
    0.5 * libm::erfc(x / std::f64::consts::SQRT_2)
}

/// `P(a < Z < b)` for a standard normal, computed on the side that avoids cancellation.
fn normal_mass(a: f64, b: f64) -> f64 {
    if a >= 0.0 {
        upper(a) - upper(b)
    } else if b <= 0.0 {
        upper(-b) - upper(-a)
    } else {
        1.0 - upper(b) - upper(-a)
    }
}

impl Density {
    /// The density of `values` (positions, in evaluation order) on an axis of `m` positions.
    fn fit(m: usize, categorical: bool, values: &[u64]) -> Density {
        let n = values.len();
        let mut w = weights(n);
        w.push(PRIOR_WEIGHT);
        let total: f64 = w.iter().sum();
        w.iter_mut().for_each(|x| *x /= total);
        let kernels = n + 1;
        if categorical {
            let base = PRIOR_WEIGHT / kernels as f64;
            let mut rows: Vec<Vec<f64>> = values
                .iter()
                .map(|&v| {
                    let mut row = vec![base; m];
                    row[v as usize] += 1.0;
                    let s: f64 = row.iter().sum();
                    row.iter_mut().for_each(|x| *x /= s);
                    row
                })
                .collect();
            rows.push(vec![1.0 / m as f64; m]);
            return Density::Categorical { w, rows };
        }
        let (low, high) = (-0.5, m as f64 - 0.5);
        let prior = 0.5 * (low + high);
        let mut mu: Vec<f64> = values.iter().map(|&v| v as f64).collect();
        // Sorted centres with the prior's, between the range ends.
        let mut order: Vec<usize> = (0..=n).collect();
        let centre = |i: usize| if i < n { mu[i] } else { prior };
        order.sort_by(|&a, &b| centre(a).total_cmp(&centre(b)).then(a.cmp(&b)));
        let mut ext = Vec::with_capacity(n + 3);
        ext.push(low);
        ext.extend(order.iter().map(|&i| centre(i)));
        ext.push(high);
        let mut sorted_sigma: Vec<f64> = (1..ext.len() - 1)
            .map(|j| (ext[j] - ext[j - 1]).max(ext[j + 1] - ext[j]))
            .collect();
        if ext.len() >= 4 {
            let last = sorted_sigma.len() - 1;
            sorted_sigma[0] = ext[2] - ext[1];
            sorted_sigma[last] = ext[ext.len() - 2] - ext[ext.len() - 3];
        }
        let mut sigma = vec![0.0; n];
        for (j, &i) in order.iter().enumerate() {
            if i < n {
                sigma[i] = sorted_sigma[j];
            }
        }
        let max_sigma = high - low;
        let min_sigma = max_sigma / (1.0 + kernels as f64).min(100.0);
        sigma
            .iter_mut()
            .for_each(|s| *s = s.clamp(min_sigma, max_sigma));
        mu.push(prior);
        sigma.push(max_sigma);
        let inside = mu
            .iter()
            .zip(&sigma)
            .map(|(&mu, &s)| normal_mass((low - mu) / s, (high - mu) / s))
            .collect();
        Density::Numeric {
            m,
            w,
            mu,
            sigma,
            inside,
        }
    }

    /// The probability of position `x`.
    fn pmf(&self, x: u64) -> f64 {
        match self {
            Density::Categorical { w, rows } => {
                w.iter().zip(rows).map(|(w, r)| w * r[x as usize]).sum()
            }
            Density::Numeric {
                w,
                mu,
                sigma,
                inside,
                ..
            } => {
                let x = x as f64;
                (0..w.len())
                    .map(|j| {
                        let (mu, s) = (mu[j], sigma[j]);
                        let p = normal_mass((x - 0.5 - mu) / s, (x + 0.5 - mu) / s);
                        if inside[j] > 0.0 {
                            w[j] * p / inside[j]
                        } else {
                            0.0
                        }
                    })
                    .sum()
            }
        }
    }

    /// A position drawn from the mixture: a kernel by weight, then a value from it.
    fn sample(&self, rng: &mut StdRng) -> u64 {
        let pick = |w: &[f64], rng: &mut StdRng| {
            let u: f64 = rng.random();
            let mut acc = 0.0;
            for (j, &x) in w.iter().enumerate() {
                acc += x;
                if u < acc {
                    return j;
                }
            }
            w.len() - 1
        };
        match self {
            Density::Categorical { w, rows } => pick(&rows[pick(w, rng)], rng) as u64,
            Density::Numeric {
                m, w, mu, sigma, ..
            } => {
                let j = pick(w, rng);
                let (lo, hi) = (-0.5, *m as f64 - 0.5);
                // Rejection sampling of the truncated normal (acceptance ≥ ~0.38 for every kernel:
                // σ ≤ the range and the centre lies inside it).
                for _ in 0..1000 {
                    let z: f64 = rng.sample(StandardNormal);
                    let v = mu[j] + sigma[j] * z;
                    if lo <= v && v < hi {
                        return (v + 0.5).floor().clamp(0.0, (*m - 1) as f64) as u64;
                    }
                }
                mu[j].round().clamp(0.0, (*m - 1) as f64) as u64
            }
        }
    }
}

/// The fitted `l` and `g` of every searched parameter.
struct Model {
    dims: Vec<(usize, Density, Density)>,
    /// `ln l(x) − ln g(x)` per (dimension, position), filled as candidates need it.
    ratio: HashMap<(usize, u64), f64>,
}

impl Model {
    fn fit(space: &Space, searched: &[usize], obs: &[Observation]) -> Model {
        // Best first (unranked last), ties by evaluation order; then each group in evaluation order.
        let mut order: Vec<usize> = (0..obs.len()).collect();
        let key = |i: usize| obs[i].rank.unwrap_or(f64::NEG_INFINITY);
        order.sort_by(|&a, &b| key(b).total_cmp(&key(a)).then(a.cmp(&b)));
        let ranked = obs.iter().filter(|o| o.rank.is_some()).count();
        let n_good = gamma(obs.len()).min(ranked);
        let mut good: Vec<usize> = order[..n_good].to_vec();
        let mut bad: Vec<usize> = order[n_good..].to_vec();
        good.sort_unstable();
        bad.sort_unstable();
        let coords: Vec<Vec<u64>> = obs.iter().map(|o| space.coords(o.index)).collect();
        let dims = searched
            .iter()
            .map(|&d| {
                let axis = &space.dims()[d].axis;
                let m = axis.len() as usize;
                let categorical = matches!(axis, Axis::List(_));
                let values = |g: &[usize]| g.iter().map(|&i| coords[i][d]).collect::<Vec<_>>();
                (
                    d,
                    Density::fit(m, categorical, &values(&good)),
                    Density::fit(m, categorical, &values(&bad)),
                )
            })
            .collect();
        Model {
            dims,
            ratio: HashMap::new(),
        }
    }

    fn score(&mut self, c: &[u64]) -> f64 {
        let mut s = 0.0;
        for (k, (d, l, g)) in self.dims.iter().enumerate() {
            let x = c[*d];
            s += *self
                .ratio
                .entry((k, x))
                .or_insert_with(|| l.pmf(x).ln() - g.pmf(x).ln());
        }
        s
    }

    /// The best of up to [`ROUNDS`] × [`EI_CANDIDATES`] draws from `l` that is feasible, unseen and
    /// not in `taken`.
    fn propose(&mut self, run: &mut Run<'_, '_>, taken: &HashSet<u64>) -> Option<u64> {
        let space = run.space;
        for _ in 0..ROUNDS {
            let mut cands: Vec<(f64, usize, u64)> = Vec::with_capacity(EI_CANDIDATES);
            for j in 0..EI_CANDIDATES {
                let mut c = vec![0; space.dims().len()];
                for (d, l, _) in &self.dims {
                    c[*d] = l.sample(&mut run.rng);
                }
                let s = self.score(&c);
                cands.push((s, j, space.index(&c)));
            }
            cands.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
            if let Some(&(_, _, i)) = cands.iter().find(|(_, _, i)| {
                !run.seen(*i) && !taken.contains(i) && space.candidate(*i).is_some()
            }) {
                return Some(i);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gamma_and_weights_follow_optuna() {
        // default_gamma(n) = min(ceil(0.1 n), 25).
        let g: Vec<usize> = [1, 10, 11, 100, 241, 250, 1000].map(gamma).to_vec();
        assert_eq!(g, [1, 1, 2, 10, 25, 25, 25]);
        // default_weights: ones below 25; else linspace(1/n, 1, n − 25) then 25 ones.
        assert_eq!(weights(3), [1.0; 3]);
        assert_eq!(weights(25), [1.0; 25]);
        let w = weights(27);
        assert_eq!(w.len(), 27);
        assert_eq!((w[0], w[1], w[2]), (1.0 / 27.0, 1.0, 1.0));
        let w = weights(29); // ramp 1/29, 1/29 + (28/29)/3, … , 1
        assert!((w[1] - (1.0 / 29.0 + 28.0 / 87.0)).abs() < 1e-15);
        assert_eq!(w[3], 1.0);
    }

    /// P(a < Z < b) by Simpson's rule on the normal density: independent of `erfc`.
    fn simpson_mass(a: f64, b: f64) -> f64 {
        let n = 2000;
        let h = (b - a) / n as f64;
        let f = |z: f64| (-0.5 * z * z).exp() / (2.0 * std::f64::consts::PI).sqrt();
        let inner: f64 = (1..n)
            .map(|k| f(a + k as f64 * h) * if k % 2 == 1 { 4.0 } else { 2.0 })
            .sum();
        (f(a) + f(b) + inner) * h / 3.0
    }

    #[test]
    fn numeric_density_by_hand() {
        // 5 positions, observations at 1 and 3: range −0.5..4.5, prior centre 2. Sorted centres with
        // the ends: −0.5, 1, 2, 3, 4.5; the outer two take their inner gap (1), and the magic clip
        // raises both to 5 / min(100, 1 + 3) = 1.25. Prior: centre 2, σ 5. Weights 1/3 each.
        let d = Density::fit(5, false, &[1, 3]);
        let kernels = [(1.0, 1.25), (3.0, 1.25), (2.0, 5.0)];
        let mut total = 0.0;
        for x in 0..5u64 {
            let want: f64 = kernels
                .iter()
                .map(|&(mu, s)| {
                    let xf = x as f64;
                    simpson_mass((xf - 0.5 - mu) / s, (xf + 0.5 - mu) / s)
                        / simpson_mass((-0.5 - mu) / s, (4.5 - mu) / s)
                        / 3.0
                })
                .sum();
            let got = d.pmf(x);
            assert!((got - want).abs() < 1e-9, "x = {x}: {got} vs {want}");
            total += got;
        }
        assert!((total - 1.0).abs() < 1e-12);
        // Symmetric observations give a symmetric density.
        assert!((d.pmf(0) - d.pmf(4)).abs() < 1e-15 && (d.pmf(1) - d.pmf(3)).abs() < 1e-15);
    }

    #[test]
    fn categorical_density_by_hand() {
        // 3 values, observations 0, 0, 2: 4 kernels, prior weight 1/4 on every value of every kernel,
        // rows (5, 1, 1)/7, (5, 1, 1)/7, (1, 1, 5)/7 and the uniform prior row; weights 1/4 each.
        // pmf(0) = (5/7 + 5/7 + 1/7 + 1/3)/4 = 10/21, pmf(1) = (3/7 + 1/3)/4 = 4/21, pmf(2) = 7/21.
        let d = Density::fit(3, true, &[0, 0, 2]);
        for (x, want) in [(0, 10.0 / 21.0), (1, 4.0 / 21.0), (2, 7.0 / 21.0)] {
            assert!((d.pmf(x) - want).abs() < 1e-15, "{x}");
        }
        // No observations: the uniform prior alone.
        let d = Density::fit(4, true, &[]);
        assert!((d.pmf(3) - 0.25).abs() < 1e-15);
    }

    #[test]
    fn samples_follow_the_density() {
        let mut rng = StdRng::seed_from_u64(9);
        for (m, d) in [
            (6, Density::fit(6, false, &[0, 1, 1, 5])),
            (4, Density::fit(4, true, &[3, 3, 1])),
        ] {
            let n = 40_000;
            let mut counts = vec![0usize; m];
            for _ in 0..n {
                counts[d.sample(&mut rng) as usize] += 1;
            }
            for (x, &c) in counts.iter().enumerate() {
                let p = d.pmf(x as u64);
                // Within 5 binomial standard deviations.
                let sd = (n as f64 * p * (1.0 - p)).sqrt();
                assert!(
                    (c as f64 - n as f64 * p).abs() <= 5.0 * sd + 1.0,
                    "{d:?} x = {x}: {c} draws for p = {p}"
                );
            }
        }
    }
}
