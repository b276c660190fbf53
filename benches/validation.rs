//! Validation statistics benchmark: PBO by CSCV with S = 16 over 10,000 candidates × 2,000 periods
//! (12,870 splits, target under 5 s), the per-block statistics it starts from, and the deflated Sharpe
//! ratio of a 175-candidate search over 2,000 periods (target under 50 ms). Returns are seeded
//! N(0, 1 %) noise; the work does not depend on the values.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use flowrex::optimize::validation::{self, BlockStats};
use rand::prelude::*;
use rand_distr::{Distribution, Normal};

const PERIODS: usize = 2_000;

fn noise(candidates: usize, seed: u64) -> Vec<Vec<f64>> {
    let mut rng = StdRng::seed_from_u64(seed);
    let dist = Normal::new(0.0, 0.01).unwrap();
    (0..candidates)
        .map(|_| (0..PERIODS).map(|_| dist.sample(&mut rng)).collect())
        .collect()
}

/// CPU time of this process (user + system) from /proc/self/stat, in clock ticks of 10 ms (Linux's
/// USER_HZ). The build machine is shared, so wall time overstates the work when others build.
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the parenthesized command name; utime and stime are fields 14 and 15.
    let rest = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<u64> = rest
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0))
        .collect();
    Duration::from_millis((f.get(11).unwrap_or(&0) + f.get(12).unwrap_or(&0)) * 10)
}

fn pbo(c: &mut Criterion) {
    let cols = noise(10_000, 42);
    let mut g = c.benchmark_group("pbo");
    g.sample_size(10);
    g.bench_function("block_stats_10k_x_2000", |b| {
        b.iter(|| BlockStats::from_columns(black_box(&cols), 16).unwrap())
    });
    let stats = BlockStats::from_columns(&cols, 16).unwrap();
    drop(cols);
    for threads in [1, 2] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        g.bench_function(
            format!("cscv_16_blocks_10k_x_2000_{threads}_threads"),
            |b| b.iter(|| pool.install(|| validation::pbo(black_box(&stats)).unwrap().pbo)),
        );
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    g.bench_function("cscv_16_blocks_10k_x_2000_1_thread_cpu_time", |b| {
        b.iter_custom(|iters| {
            let start = cpu_time();
            for _ in 0..iters {
                pool.install(|| black_box(validation::pbo(&stats).unwrap().pbo));
            }
            cpu_time() - start
        })
    });
    g.finish();
}

fn deflated(c: &mut Criterion) {
    let cols = noise(175, 7);
    c.bench_function("dsr_175_x_2000", |b| {
        b.iter(|| validation::deflate(black_box(&cols)).unwrap().dsr)
    });
}

criterion_group!(benches, pbo, deflated);
criterion_main!(benches);
