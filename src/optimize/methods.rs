//! Search methods over a [`Space`]: exhaustive grid, seeded random sampling without replacement, a
//! genetic algorithm, particle swarm optimization (argmin's `ParticleSwarm`) over grid coordinates,
//! and two batch-adaptive methods in their own modules: `explore` ([`super::explore`]) and a
//! tree-structured Parzen estimator ([`super::tpe`]).
//!
//! Every method is deterministic for a given seed: the candidates asked for depend only on the seed and
//! on earlier results (never on thread timing), and ties rank by candidate index.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use rand::prelude::*;

use super::evaluate::{Evaluator, SearchResult, TopK};
use super::shard::Shard;
use super::space::{COUNT_LIMIT, Space};
use crate::error::{Error, Result};

/// Consecutive infeasible or repeated draws after which random sampling of a big (estimated) grid
/// gives up. A big grid is searched only when some of its [`super::space::ESTIMATE_DRAWS`] (2^16) draws
/// were feasible, so its feasible share is around 2^-16 or more: 2^20 misses in a row then happen with
/// probability about e^-16 (e^-(2^20 / 2^16)) or less, unless the unseen feasible ones are used up.
const MAX_MISSES: u64 = 1 << 20;

/// How to search.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// Every feasible candidate.
    Grid,
    /// `samples` distinct feasible candidates drawn at random (all of them when the space is smaller).
    Random {
        /// Candidates to draw.
        samples: u64,
    },
    /// A genetic algorithm over grid coordinates: tournament selection, uniform crossover, mutation,
    /// elitism. Each generation is evaluated in parallel; no candidate is evaluated twice.
    Genetic {
        /// Individuals per generation.
        population: usize,
        /// Generations (including the first, random one).
        generations: usize,
    },
    /// Particle swarm optimization over the coordinates of the searched parameters, rounded onto the
    /// grid (argmin's `ParticleSwarm`, seeded).
    Pso {
        /// Particles.
        particles: usize,
        /// Iterations after the initial swarm.
        iterations: usize,
    },
    /// `samples` distinct candidates in batches of `batch`: 20% uniform draws, 80% mutations of the
    /// best so far ([`super::explore`]).
    Explore {
        /// Distinct candidates to evaluate.
        samples: u64,
        /// Candidates per batch (evaluated in parallel).
        batch: usize,
    },
    /// A tree-structured Parzen estimator: `samples` distinct candidates in batches of `batch`
    /// ([`super::tpe`]).
    Tpe {
        /// Distinct candidates to evaluate.
        samples: u64,
        /// Candidates per batch (evaluated in parallel).
        batch: usize,
    },
}

impl Method {
    /// The name used on the command line and in playbooks.
    pub fn name(&self) -> &'static str {
        match self {
            Method::Grid => "grid",
            Method::Random { .. } => "random",
            Method::Genetic { .. } => "genetic",
            Method::Pso { .. } => "pso",
            Method::Explore { .. } => "explore",
            Method::Tpe { .. } => "tpe",
        }
    }

    /// What the playbook's `[optimization]` records to reproduce the search: `(samples, population,
    /// generations)` (explore and tpe record their batch size as the population).
    pub fn recorded(&self) -> (Option<u64>, Option<u64>, Option<u64>) {
        match *self {
            Method::Grid => (None, None, None),
            Method::Random { samples } => (Some(samples), None, None),
            Method::Genetic {
                population,
                generations,
            } => (None, Some(population as u64), Some(generations as u64)),
            Method::Pso {
                particles,
                iterations,
            } => (None, Some(particles as u64), Some(iterations as u64)),
            Method::Explore { samples, batch } | Method::Tpe { samples, batch } => {
                (Some(samples), Some(batch as u64), None)
            }
        }
    }

    /// Checks the settings every method needs (usage errors naming the flag), before any data is read.
    pub fn check(&self) -> Result<()> {
        match *self {
            Method::Grid => Ok(()),
            Method::Random { samples: 0 } => Err(Error::usage("--samples must be at least 1")),
            Method::Genetic {
                population,
                generations,
            } if population < 2 || generations < 1 => Err(Error::usage(
                "--population must be at least 2 and --generations at least 1",
            )),
            Method::Pso { particles, .. } if particles < 2 => {
                Err(Error::usage("--population (particles) must be at least 2"))
            }
            Method::Pso { iterations, .. } if iterations < 1 => Err(Error::usage(
                "--generations (pso iterations) must be at least 1",
            )),
            Method::Explore { samples, batch } | Method::Tpe { samples, batch }
                if samples == 0 || batch == 0 =>
            {
                Err(Error::usage(
                    "--samples and --population (batch size) must be at least 1",
                ))
            }
            _ => Ok(()),
        }
    }

    /// An upper bound of the candidates this method evaluates on a space of `feasible` candidates
    /// (for progress display).
    pub fn planned(&self, feasible: u64, shard: Shard) -> u64 {
        let share = |n: u64| n / shard.n + u64::from(n % shard.n >= shard.k);
        match *self {
            Method::Grid => share(feasible),
            Method::Random { samples } => share(samples.min(feasible)),
            Method::Genetic {
                population,
                generations,
            } => (population as u64 * generations as u64).min(feasible),
            Method::Pso {
                particles,
                iterations,
            } => (particles as u64 * (iterations as u64 + 1)).min(feasible),
            Method::Explore { samples, .. } | Method::Tpe { samples, .. } => samples.min(feasible),
        }
    }
}

/// Runs `method` on `space` through `evaluator`, keeping the top `k`; each of them carries every
/// metric ([`Evaluator::complete`]).
pub fn search(
    method: Method,
    space: &Space,
    evaluator: &Evaluator<'_>,
    k: usize,
    seed: u64,
    shard: Shard,
) -> Result<SearchResult> {
    let mut result = run_method(method, space, evaluator, k, seed, shard)?;
    result.top = evaluator.complete(result.top)?;
    Ok(result)
}

fn run_method(
    method: Method,
    space: &Space,
    evaluator: &Evaluator<'_>,
    k: usize,
    seed: u64,
    shard: Shard,
) -> Result<SearchResult> {
    match method {
        Method::Grid if shard == Shard::ALL && evaluator.any_order() => {
            let top = match CacheOrder::new(space) {
                Some(order) => {
                    let lanes = order.lanes(space, rayon::current_num_threads() as u64);
                    evaluator.evaluate_lanes(&lanes, |c| order.at(space, c), k)?
                }
                None => evaluator
                    .evaluate_stream(space.feasible().take_while(|_| !evaluator.stopped()), k)?,
            };
            Ok(SearchResult {
                top: top.into_vec(),
                history: Vec::new(),
            })
        }
        Method::Grid => {
            let stream = space
                .feasible()
                .enumerate()
                .filter(move |(j, _)| shard.owns(*j as u64))
                .map(|(_, c)| c)
                .take_while(|_| !evaluator.stopped());
            Ok(SearchResult {
                top: evaluator.evaluate_stream(stream, k)?.into_vec(),
                history: Vec::new(),
            })
        }
        Method::Random { samples } => {
            let stream = RandomSampler::new(space, seed, samples)
                .enumerate()
                .filter(move |(j, _)| shard.owns(*j as u64))
                .map(|(_, c)| c)
                .take_while(|_| !evaluator.stopped());
            Ok(SearchResult {
                top: evaluator.evaluate_stream(stream, k)?.into_vec(),
                history: Vec::new(),
            })
        }
        Method::Genetic {
            population,
            generations,
        } => genetic(
            space,
            evaluator,
            k,
            shard.island_seed(seed),
            population,
            generations,
        ),
        Method::Pso {
            particles,
            iterations,
        } => pso(
            space,
            evaluator,
            k,
            shard.island_seed(seed),
            particles,
            iterations,
        ),
        // Everything is asked for: evaluate it all, in grid order (as random search does). A big grid
        // is not counted: only a budget of the whole grid is known to cover it.
        Method::Explore { samples, .. } | Method::Tpe { samples, .. } if covers(space, samples) => {
            search(Method::Grid, space, evaluator, k, seed, Shard::ALL)
        }
        Method::Explore { samples, batch } => {
            super::explore::explore(space, evaluator, k, shard.island_seed(seed), samples, batch)
        }
        Method::Tpe { samples, batch } => {
            super::tpe::tpe(space, evaluator, k, shard.island_seed(seed), samples, batch)
        }
    }
}

/// A grid's evaluation order that keeps the indicator cache's working set small: the axis with the
/// most values varies slowest, the one with the fewest fastest. Candidates that follow each other
/// then share the indicators of the long axis (one value at a time) and cycle through the few of the
/// short ones. Grid order does the opposite when the last axis is the long one: the README-style
/// 2,000-candidate grid `fast=5..50:5 × slow=60..2050:10` over 1,000,000 bars recomputed 2,027 SMA
/// series under the default budget (15.7 s of CPU against 5.2 s with a cache that never evicts); in
/// this order it computes each of its 210 once (plus a few again for the top K's full runs) and takes
/// 4.6 s, peaking at 362 MiB instead of 1.7 GiB. Candidates keep their grid-order sequence numbers
/// (the validation rows and every tie-break stay as in grid order), so the order changes the time and
/// the memory of a search, never its results.
struct CacheOrder {
    /// Feasible candidate indices, ascending: the position of one is its sequence number.
    feasible: Vec<u64>,
    /// The axes, slowest first.
    axes: Vec<usize>,
}

impl CacheOrder {
    /// Above this many candidates the grid is evaluated in grid order (the feasible indices are held:
    /// 8 bytes each, at most 32 MB).
    const MAX: u64 = 1 << 22;

    /// Up to this many positions the lanes are cut by counting the feasible candidates (≈ 100 ns a
    /// position); above, by position.
    const COUNTED: u64 = 1 << 18;

    /// The order for `space`, when it differs from grid order and the grid is small enough to hold.
    fn new(space: &Space) -> Option<CacheOrder> {
        let dims = space.dims();
        let mut axes: Vec<usize> = (0..dims.len()).collect();
        // Longest axis first (slowest); equal lengths keep their order (stable sort).
        axes.sort_by_key(|&d| std::cmp::Reverse(dims[d].axis.len()));
        let grid_order = axes
            .iter()
            .zip(axes.iter().skip(1))
            .all(|(&a, &b)| a < b || dims[a].axis.len() <= 1 || dims[b].axis.len() <= 1);
        if grid_order || space.size() > Self::MAX {
            return None;
        }
        let feasible = (0..space.size())
            .filter(|&i| space.candidate(i).is_some())
            .collect();
        Some(CacheOrder { feasible, axes })
    }

    /// The grid index of the `c`-th candidate in this order.
    fn index(&self, space: &Space, mut c: u64) -> u64 {
        let dims = space.dims();
        let mut coords = vec![0; dims.len()];
        for &d in self.axes.iter().rev() {
            let n = dims[d].axis.len();
            coords[d] = c % n;
            c /= n;
        }
        space.index(&coords)
    }

    /// The positions of this order cut into `lanes` contiguous ranges holding (nearly) equal numbers
    /// of feasible candidates, one per worker thread ([`Evaluator::evaluate_lanes`]), so concurrent
    /// workers start in different groups of the slowest axis and rarely wait for the same new
    /// indicator series. History: in one shared order two threads met every new `slow` window
    /// together and the README grid went 1.52× from 1 to 2 threads (search 0.70 → 0.46 s); with two
    /// lanes interleaved in one sequence 0.74 → 0.35 s (2.1×; 2026-11-30), but a worker still took
    /// the other lane's next position whenever it got ahead. One lane per worker, cut by feasible
    /// counts (2026-12-01, AMD EPYC): the README grid's search at 2 threads the same (`cargo bench
    /// --bench optimize`: 249.7 against 245.8 ms; cut by position, which left the low-`slow` lane
    /// with few feasible candidates, 253–258), the 2,000-candidate grid of the README 1.48–1.55 s
    /// against 1.48–1.64, and two threads under a small cache compute 28–32 series instead of 46.
    fn lanes(&self, space: &Space, lanes: u64) -> Vec<std::ops::Range<u64>> {
        let n = space.size();
        let lanes = lanes.clamp(1, n.max(1));
        if n > Self::COUNTED {
            let len = n.div_ceil(lanes);
            return (0..lanes)
                .map(|l| (l * len).min(n)..((l + 1) * len).min(n))
                .collect();
        }
        let feasible = self.feasible.len() as u64;
        // Cut where each lane holds an equal share of the feasible candidates.
        let mut cuts = vec![0u64];
        let mut seen = 0u64;
        for c in 0..n {
            let want = (cuts.len() as u64 * feasible).div_ceil(lanes);
            if cuts.len() < lanes as usize && seen >= want {
                cuts.push(c);
            }
            seen += u64::from(self.seq(space, c).is_some());
        }
        while cuts.len() < lanes as usize {
            cuts.push(n);
        }
        cuts.push(n);
        cuts.windows(2).map(|w| w[0]..w[1]).collect()
    }

    /// `(seq, (index, params))` of the candidate at position `c` of this order, `None` when it is not
    /// feasible. The sequence number is its position in grid order, so the results do not depend on
    /// the order.
    fn at(&self, space: &Space, c: u64) -> Option<(u64, (u64, crate::strategy::Params))> {
        let (seq, i) = self.seq(space, c)?;
        Some((seq, (i, space.params(i))))
    }

    /// The grid-order sequence number and grid index of the candidate at position `c`, `None` when it
    /// is not feasible.
    fn seq(&self, space: &Space, c: u64) -> Option<(u64, u64)> {
        let i = self.index(space, c);
        let seq = self.feasible.binary_search(&i).ok()?;
        Some((seq as u64, i))
    }
}

/// True when `samples` distinct candidates are certainly all of `space`'s feasible ones: at least the
/// whole grid, or at least the counted feasible candidates (a big grid is estimated, not counted).
fn covers(space: &Space, samples: u64) -> bool {
    samples >= space.size() || space.feasibility().exact().is_some_and(|n| samples >= n)
}

/// Distinct feasible candidates drawn uniformly at random from the grid, lazily. When `samples` covers
/// every feasible candidate it yields all of them in index order instead. Only feasible draws are
/// remembered; in a big grid, `MAX_MISSES` misses in a row end the sampling (the feasible
/// candidates are then all drawn, or too rare to find).
pub struct RandomSampler<'s> {
    space: &'s Space,
    rng: StdRng,
    seen: HashSet<u64>,
    left: u64,
    bounded: bool,
    all: Option<Box<dyn Iterator<Item = (u64, crate::strategy::Params)> + Send + 's>>,
}

impl<'s> RandomSampler<'s> {
    /// A sampler of `samples` candidates seeded with `seed`.
    pub fn new(space: &'s Space, seed: u64, samples: u64) -> RandomSampler<'s> {
        let all = covers(space, samples)
            .then(|| Box::new(space.feasible()) as Box<dyn Iterator<Item = _> + Send + 's>);
        RandomSampler {
            space,
            rng: StdRng::seed_from_u64(seed),
            seen: HashSet::new(),
            left: samples,
            bounded: space.feasibility().is_estimate(),
            all,
        }
    }
}

impl Iterator for RandomSampler<'_> {
    type Item = (u64, crate::strategy::Params);

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(all) = &mut self.all {
            return all.next();
        }
        if self.left == 0 {
            return None;
        }
        // A counted grid holds more feasible candidates than samples, so an unseen one always exists;
        // in an estimated one the misses are bounded.
        let mut misses = 0u64;
        loop {
            let i = self.rng.random_range(0..self.space.size());
            if !self.seen.contains(&i)
                && let Some(p) = self.space.candidate(i)
            {
                self.seen.insert(i);
                self.left -= 1;
                return Some((i, p));
            }
            misses += 1;
            if self.bounded && misses >= MAX_MISSES {
                self.left = 0;
                return None;
            }
        }
    }
}

/// Evaluates the not-yet-seen candidates of `indices` as one parallel batch, recording their ranks in
/// `memo` and the outcomes in `top`.
fn evaluate_new(
    space: &Space,
    evaluator: &Evaluator<'_>,
    indices: &[u64],
    batch: u32,
    seq: &mut u64,
    memo: &mut HashMap<u64, Option<f64>>,
    top: &mut TopK,
) -> Result<()> {
    let mut fresh = Vec::new();
    let mut queued = HashSet::new();
    for &i in indices {
        if !memo.contains_key(&i)
            && queued.insert(i)
            && let Some(p) = space.candidate(i)
        {
            fresh.push((i, p));
        }
    }
    let n = fresh.len() as u64;
    let outcomes = evaluator.evaluate_batch(*seq, batch, fresh)?;
    *seq += n;
    for o in outcomes.into_iter().flatten() {
        memo.insert(o.index, o.rank);
        top.push(o);
    }
    Ok(())
}

fn best_so_far(top: &TopK) -> f64 {
    top.items().first().and_then(|o| o.rank).unwrap_or(f64::NAN)
}

/// A random feasible candidate, else the first of the grid's first [`COUNT_LIMIT`] indices (`None`
/// if there is none: the whole grid in a counted space).
fn random_feasible(space: &Space, rng: &mut StdRng) -> Option<u64> {
    for _ in 0..10_000 {
        let i = rng.random_range(0..space.size());
        if space.candidate(i).is_some() {
            return Some(i);
        }
    }
    (0..space.size().min(COUNT_LIMIT)).find(|&i| space.candidate(i).is_some())
}

fn genetic(
    space: &Space,
    evaluator: &Evaluator<'_>,
    k: usize,
    seed: u64,
    population: usize,
    generations: usize,
) -> Result<SearchResult> {
    Method::Genetic {
        population,
        generations,
    }
    .check()?;
    let mut rng = StdRng::seed_from_u64(seed);
    let lens: Vec<u64> = space.dims().iter().map(|d| d.axis.len()).collect();
    let mut memo: HashMap<u64, Option<f64>> = HashMap::new();
    let mut top = TopK::new(k);
    let mut history = Vec::with_capacity(generations);
    let mut seq = 0u64;
    let feasible = space.feasibility().exact();
    let mut pop: Vec<u64> = RandomSampler::new(space, rng.random(), population as u64)
        .map(|(i, _)| i)
        .collect();
    let fitness = |memo: &HashMap<u64, Option<f64>>, i: u64| {
        memo.get(&i).copied().flatten().unwrap_or(f64::NEG_INFINITY)
    };
    for gen_no in 0..generations {
        evaluate_new(
            space,
            evaluator,
            &pop,
            gen_no as u32,
            &mut seq,
            &mut memo,
            &mut top,
        )?;
        history.push(best_so_far(&top));
        let all_seen = feasible.is_some_and(|n| memo.len() as u64 >= n);
        if evaluator.stopped() || gen_no + 1 == generations || all_seen {
            break;
        }
        // Elitism: the best distinct individuals survive unchanged.
        let mut ranked: Vec<u64> = pop.clone();
        ranked.sort_unstable();
        ranked.dedup();
        ranked.sort_by(|&a, &b| {
            fitness(&memo, b)
                .total_cmp(&fitness(&memo, a))
                .then(a.cmp(&b))
        });
        let elite = population.div_ceil(10).max(1);
        let mut next: Vec<u64> = ranked.iter().take(elite).copied().collect();
        let tournament = |rng: &mut StdRng| -> u64 {
            let mut best = pop[rng.random_range(0..pop.len())];
            for _ in 0..2 {
                let c = pop[rng.random_range(0..pop.len())];
                let (fc, fb) = (fitness(&memo, c), fitness(&memo, best));
                if fc > fb || (fc == fb && c < best) {
                    best = c;
                }
            }
            best
        };
        let mutation = 1.0 / lens.iter().filter(|&&n| n > 1).count().max(1) as f64;
        while next.len() < population {
            let mut child = None;
            for _ in 0..20 {
                let (a, b) = (
                    space.coords(tournament(&mut rng)),
                    space.coords(tournament(&mut rng)),
                );
                let mut c: Vec<u64> = a
                    .iter()
                    .zip(&b)
                    .map(|(&x, &y)| if rng.random_bool(0.5) { x } else { y })
                    .collect();
                for (g, &n) in c.iter_mut().zip(&lens) {
                    if n > 1 && rng.random_bool(mutation) {
                        if rng.random_bool(0.5) {
                            *g = rng.random_range(0..n);
                        } else {
                            let reach = (n / 10).max(1) as i64;
                            let d = rng.random_range(-reach..=reach);
                            *g = (*g as i64 + d).clamp(0, n as i64 - 1) as u64;
                        }
                    }
                }
                let idx = space.index(&c);
                if space.candidate(idx).is_some() {
                    child = Some(idx);
                    break;
                }
            }
            match child.or_else(|| random_feasible(space, &mut rng)) {
                Some(c) => next.push(c),
                None => break,
            }
        }
        pop = next;
    }
    Ok(SearchResult {
        top: top.into_vec(),
        history,
    })
}

/// The cost function argmin's particle swarm minimizes: minus the ranked objective of the candidate at
/// the rounded coordinates (a large penalty when it is infeasible or unranked). Each swarm step is one
/// parallel batch; candidates already evaluated come from the memo. The state lives outside the problem
/// so that it survives the error that ends the swarm early: a stop (Ctrl-C), an evaluation error, or
/// every counted feasible candidate evaluated — argmin has no other way to stop before `max_iters`.
struct SwarmProblem<'a, 'e> {
    space: &'a Space,
    evaluator: &'a Evaluator<'e>,
    searched: Vec<usize>,
    base: Vec<u64>,
    /// The counted feasible candidates (`None` in an estimated grid).
    feasible: Option<u64>,
    state: &'a Mutex<SwarmState>,
}

struct SwarmState {
    memo: HashMap<u64, Option<f64>>,
    top: TopK,
    seq: u64,
    /// Batches that evaluated at least one new candidate (the results' `batch` column).
    batch: u32,
    /// The best objective after each such batch: bounded by the candidates evaluated, however many
    /// iterations revisit known ones.
    history: Vec<f64>,
    error: Option<Error>,
    /// The swarm was ended early on purpose.
    halted: bool,
}

const PENALTY: f64 = 1e300;

impl SwarmProblem<'_, '_> {
    fn index_of(&self, x: &[f64]) -> u64 {
        let mut c = self.base.clone();
        for (&d, &v) in self.searched.iter().zip(x) {
            let n = self.space.dims()[d].axis.len();
            c[d] = v.round().clamp(0.0, (n - 1) as f64) as u64;
        }
        self.space.index(&c)
    }

    /// True when the swarm must end before this step: a stop, an error, or nothing left to evaluate.
    fn must_halt(&self, st: &SwarmState) -> bool {
        st.error.is_some()
            || self.evaluator.stopped()
            || self.feasible.is_some_and(|n| st.memo.len() as u64 >= n)
    }
}

impl argmin::core::CostFunction for SwarmProblem<'_, '_> {
    type Param = Vec<f64>;
    type Output = f64;

    fn cost(&self, x: &Vec<f64>) -> std::result::Result<f64, argmin::core::Error> {
        Ok(self.bulk_cost(std::slice::from_ref(x))?[0])
    }

    fn bulk_cost<P>(&self, params: &[P]) -> std::result::Result<Vec<f64>, argmin::core::Error>
    where
        P: std::borrow::Borrow<Vec<f64>> + argmin::core::SyncAlias,
        f64: argmin::core::SendAlias,
        Self: argmin::core::SyncAlias,
    {
        let indices: Vec<u64> = params.iter().map(|p| self.index_of(p.borrow())).collect();
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let st = &mut *st;
        if self.must_halt(st) {
            st.halted = true;
            return Err(argmin::core::Error::msg("the search was ended"));
        }
        let known = st.memo.len();
        let batch = st.batch;
        if let Err(e) = evaluate_new(
            self.space,
            self.evaluator,
            &indices,
            batch,
            &mut st.seq,
            &mut st.memo,
            &mut st.top,
        ) {
            st.error = Some(e);
        }
        if st.memo.len() > known {
            st.history.push(best_so_far(&st.top));
            st.batch += 1;
        }
        Ok(indices
            .iter()
            .map(|i| match st.memo.get(i) {
                Some(Some(r)) => -r,
                _ => PENALTY,
            })
            .collect())
    }
}

fn pso(
    space: &Space,
    evaluator: &Evaluator<'_>,
    k: usize,
    seed: u64,
    particles: usize,
    iterations: usize,
) -> Result<SearchResult> {
    use argmin::core::Executor;
    use argmin::solver::particleswarm::ParticleSwarm;
    use rand09::SeedableRng as _;

    Method::Pso {
        particles,
        iterations,
    }
    .check()?;
    let searched: Vec<usize> = space
        .dims()
        .iter()
        .enumerate()
        .filter(|(_, d)| d.axis.len() > 1)
        .map(|(i, _)| i)
        .collect();
    if searched.is_empty() {
        return search(Method::Grid, space, evaluator, k, seed, Shard::ALL);
    }
    // More particles than candidates only revisit them.
    let feasibility = space.feasibility();
    let particles =
        particles.min(usize::try_from(feasibility.count().max(2)).unwrap_or(usize::MAX));
    let lower: Vec<f64> = searched.iter().map(|_| -0.49).collect();
    let upper: Vec<f64> = searched
        .iter()
        .map(|&d| space.dims()[d].axis.len() as f64 - 0.51)
        .collect();
    let state = Mutex::new(SwarmState {
        memo: HashMap::new(),
        top: TopK::new(k),
        seq: 0,
        batch: 0,
        history: Vec::new(),
        error: None,
        halted: false,
    });
    let problem = SwarmProblem {
        space,
        evaluator,
        base: vec![0; space.dims().len()],
        searched,
        feasible: feasibility.exact(),
        state: &state,
    };
    let solver = ParticleSwarm::new((lower, upper), particles)
        .with_rng_generator(rand09::rngs::StdRng::seed_from_u64(seed));
    let failed = Executor::new(problem, solver)
        .configure(|s| s.max_iters(iterations as u64))
        .run()
        .err();
    let st = state.into_inner().unwrap_or_else(|p| p.into_inner());
    if let Some(e) = st.error {
        return Err(e);
    }
    if let (Some(e), false) = (failed, st.halted) {
        return Err(Error::invalid(format!("particle swarm failed: {e}")));
    }
    Ok(SearchResult {
        top: st.top.into_vec(),
        history: st.history,
    })
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicBool;

    use super::*;
    use crate::candles::Interval;
    use crate::candles::synthetic::{SyntheticSpec, generate};
    use crate::engine::BacktestConfig;
    use crate::optimize::{self, NoObserver, Objective, Settings};
    use crate::strategy;

    fn space(params: &[(&str, &str)], constraints: &[&str]) -> Space {
        let p: Vec<(String, String)> = params
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        let c: Vec<String> = constraints.iter().map(|s| s.to_string()).collect();
        Space::new(strategy::lookup("sma_cross").unwrap(), &p, &c).unwrap()
    }

    #[test]
    fn the_cache_order_visits_every_feasible_candidate_once_with_its_grid_sequence() {
        // fast: 3 values, slow: 7 values (the longer axis, so it goes slowest); fast < slow and the
        // strategy's own check drop some.
        let s = space(
            &[("fast", "4..12:4"), ("slow", "6..18:2")],
            &["fast < slow"],
        );
        let order = CacheOrder::new(&s).expect("slow is longer than fast: reordered");
        let grid: Vec<(u64, String)> = s.feasible().map(|(i, p)| (i, p.to_string())).collect();
        let visit = |lane: std::ops::Range<u64>| -> Vec<(u64, u64, String)> {
            lane.filter_map(|c| order.at(&s, c))
                .map(|(seq, (i, p))| (seq, i, p.to_string()))
                .collect()
        };
        let one = order.lanes(&s, 1);
        assert_eq!(one.len(), 1);
        assert_eq!(one[0], 0..21);
        let got = visit(one[0].clone());
        assert_eq!(got.len(), grid.len());
        // Each candidate carries its position in grid order.
        for (seq, i, p) in &got {
            assert_eq!(grid[*seq as usize], (*i, p.clone()));
        }
        // slow varies slowest: the slow values come in non-decreasing order, fast cycles within.
        let slows: Vec<u64> = got.iter().map(|(_, i, _)| s.coords(*i)[1]).collect();
        assert!(slows.windows(2).all(|w| w[0] <= w[1]), "{slows:?}");
        assert!(got.windows(2).any(|w| w[0].0 > w[1].0), "not grid order");
        // Two lanes (two threads): positions c of the one-lane order (slow-major: c = slow · 3 +
        // fast, 21 grid points) cut in contiguous ranges holding equal shares of the 15 feasible
        // candidates (1, 1, 2, 2, 3, 3, 3 for slow = 6, 8, …, 18): 8 + 7 (cut before the third
        // of slow = 14), 5 + 5 + 5; together the same candidates with the same sequence numbers.
        let two = order.lanes(&s, 2);
        assert_eq!(two, [0..14, 14..21]);
        assert_eq!(order.lanes(&s, 3), [0..10, 10..16, 16..21]);
        let pos = |i: u64| {
            let c = s.coords(i);
            c[1] * 3 + c[0]
        };
        let mut both = Vec::new();
        for (lane, range) in two.iter().enumerate() {
            let seen = visit(range.clone());
            assert!(seen.iter().all(|(_, i, _)| two[lane].contains(&pos(*i))));
            both.extend(seen);
        }
        both.sort();
        let mut all = got.clone();
        all.sort();
        assert_eq!(both, all);
        // Grid order already puts the longer axis first: no reordering.
        assert!(
            CacheOrder::new(&space(&[("fast", "4..40:4"), ("slow", "50..60:10")], &[])).is_none()
        );
    }

    #[test]
    fn a_small_cache_computes_each_sma_once_in_the_cache_order_with_the_same_results() {
        // 20,000 bars: one SMA series is 160 KB; a 1 MB budget holds ~6. Grid order (fast outer)
        // cycles through the 20 slow windows for each of the 3 fast ones; the cache order keeps the
        // 3 fast windows and one slow window at a time.
        let candles = generate(&SyntheticSpec::new(20_000, 9, Interval::Minute1));
        let run = |cache_mb| {
            let settings = Settings {
                space: space(&[("fast", "2..4:1"), ("slow", "10..200:10")], &[]),
                objective: Objective::Return,
                min_trades: 1,
                method: Method::Grid,
                seed: 1,
                top_k: 1,
                shard: Shard::ALL,
                cache_mb,
            };
            let stop = AtomicBool::new(false);
            let cfg = BacktestConfig::default();
            optimize::run(&settings, &candles, &cfg, &stop, &NoObserver).unwrap()
        };
        // One worker thread: one lane (two threads: two lanes, see below).
        let one_thread = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        let (small, large) = one_thread.install(|| (run(1), run(1024)));
        // 3 fast + 20 slow windows, the data set's close range and calendar, and the market log
        // returns of the best's full backtest.
        assert_eq!(large.indicators_computed, 26);
        // The search computes each once; completing the best in full may compute its two SMAs
        // again (grid order would compute about 3 × 20).
        assert!(
            small.indicators_computed <= 26 + 2,
            "{}",
            small.indicators_computed
        );
        let top = |r: &optimize::Report| format!("{:?}", r.result.top);
        assert_eq!(top(&small), top(&large));
        // Two threads, two lanes: twice the working set, still fewer computations than grid order's
        // ~3 × 20, and the same results. How many depends on how the two threads meet: 46 in 10 of
        // 12 runs when they pulled positions from one interleaved sequence (2026-12-01), 28–32 in
        // 12 runs once each works through its own lane and takes from the back of the other's only
        // when its own is done; the bound leaves room for the scheduler.
        let two_threads = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        let small2 = two_threads.install(|| run(1));
        assert!(
            small2.indicators_computed <= 45,
            "{}",
            small2.indicators_computed
        );
        assert_eq!(top(&small2), top(&large));
        // Three threads on three lanes of unequal cost, taking from each other's backs: every
        // candidate evaluated once, the same results.
        let three_threads = rayon::ThreadPoolBuilder::new()
            .num_threads(3)
            .build()
            .unwrap();
        let small3 = three_threads.install(|| run(1));
        assert_eq!(small3.evaluated, large.evaluated);
        assert_eq!(large.evaluated, 60);
        assert_eq!(top(&small3), top(&large));
    }
}
