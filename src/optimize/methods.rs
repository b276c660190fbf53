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
use super::space::Space;
use crate::error::{Error, Result};

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
        // Everything is asked for: evaluate it all, in grid order (as random search does).
        Method::Explore { samples, .. } | Method::Tpe { samples, .. }
            if samples >= space.count_feasible() =>
        {
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

/// Distinct feasible candidates drawn uniformly at random from the grid, lazily. When `samples` is at
/// least the number of feasible candidates it yields all of them in index order instead.
pub struct RandomSampler<'s> {
    space: &'s Space,
    rng: StdRng,
    seen: HashSet<u64>,
    left: u64,
    all: Option<Box<dyn Iterator<Item = (u64, crate::strategy::Params)> + Send + 's>>,
}

impl<'s> RandomSampler<'s> {
    /// A sampler of `samples` candidates seeded with `seed`.
    pub fn new(space: &'s Space, seed: u64, samples: u64) -> RandomSampler<'s> {
        let all = (samples >= space.count_feasible())
            .then(|| Box::new(space.feasible()) as Box<dyn Iterator<Item = _> + Send + 's>);
        RandomSampler {
            space,
            rng: StdRng::seed_from_u64(seed),
            seen: HashSet::new(),
            left: samples,
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
        // Fewer samples than feasible candidates, so an unseen feasible one always exists.
        loop {
            let i = self.rng.random_range(0..self.space.size());
            if self.seen.insert(i)
                && let Some(p) = self.space.candidate(i)
            {
                self.left -= 1;
                return Some((i, p));
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

/// A random feasible candidate (`None` if the space has none).
fn random_feasible(space: &Space, rng: &mut StdRng) -> Option<u64> {
    for _ in 0..10_000 {
        let i = rng.random_range(0..space.size());
        if space.candidate(i).is_some() {
            return Some(i);
        }
    }
    space.feasible().next().map(|(i, _)| i)
}

fn genetic(
    space: &Space,
    evaluator: &Evaluator<'_>,
    k: usize,
    seed: u64,
    population: usize,
    generations: usize,
) -> Result<SearchResult> {
    if population < 2 || generations < 1 {
        return Err(Error::usage(
            "--population must be at least 2 and --generations at least 1",
        ));
    }
    let mut rng = StdRng::seed_from_u64(seed);
    let lens: Vec<u64> = space.dims().iter().map(|d| d.axis.len()).collect();
    let mut memo: HashMap<u64, Option<f64>> = HashMap::new();
    let mut top = TopK::new(k);
    let mut history = Vec::with_capacity(generations);
    let mut seq = 0u64;
    let feasible = space.count_feasible();
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
        if evaluator.stopped() || gen_no + 1 == generations || memo.len() as u64 >= feasible {
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
/// parallel batch; candidates already evaluated come from the memo.
struct SwarmProblem<'a, 'e> {
    space: &'a Space,
    evaluator: &'a Evaluator<'e>,
    searched: Vec<usize>,
    base: Vec<u64>,
    state: Mutex<SwarmState>,
}

struct SwarmState {
    memo: HashMap<u64, Option<f64>>,
    top: TopK,
    seq: u64,
    batch: u32,
    history: Vec<f64>,
    error: Option<Error>,
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
        if st.error.is_none() && !self.evaluator.stopped() {
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

    if particles < 2 {
        return Err(Error::usage("--population (particles) must be at least 2"));
    }
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
    let lower: Vec<f64> = searched.iter().map(|_| -0.49).collect();
    let upper: Vec<f64> = searched
        .iter()
        .map(|&d| space.dims()[d].axis.len() as f64 - 0.51)
        .collect();
    let problem = SwarmProblem {
        space,
        evaluator,
        base: vec![0; space.dims().len()],
        searched,
        state: Mutex::new(SwarmState {
            memo: HashMap::new(),
            top: TopK::new(k),
            seq: 0,
            batch: 0,
            history: Vec::new(),
            error: None,
        }),
    };
    let solver = ParticleSwarm::new((lower, upper), particles)
        .with_rng_generator(rand09::rngs::StdRng::seed_from_u64(seed));
    let res = Executor::new(problem, solver)
        .configure(|s| s.max_iters(iterations as u64))
        .run()
        .map_err(|e| Error::invalid(format!("particle swarm failed: {e}")))?;
    let problem = res
        .problem
        .problem
        .ok_or_else(|| Error::invalid("particle swarm lost its problem"))?;
    let st = problem
        .state
        .into_inner()
        .unwrap_or_else(|p| p.into_inner());
    if let Some(e) = st.error {
        return Err(e);
    }
    Ok(SearchResult {
        top: st.top.into_vec(),
        history: st.history,
    })
}
