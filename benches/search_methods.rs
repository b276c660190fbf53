//! Do the search methods earn their place? On the bundled data, `jadecap` over a grid of 25,200
//! candidates (23,940 feasible), each method gets a budget of 5% of the grid (1,260 candidates) and
//! 20 seeds; the table gives the share of the grid optimum's objective that the best candidate found
//! reaches (median and worst over the seeds) and the distinct candidates evaluated (mean). The full
//! grid is evaluated once to know the optimum. Genetic and pso evaluate a candidate they revisit only
//! once, so within the nominal budget they run fewer backtests; one more genetic row gets 4× the
//! generations.
//!
//! `cargo bench --bench search_methods` (release; a few minutes on 2 cores). Not a criterion bench:
//! it prints a table. `SEARCH_DATA=GOOG/1d` picks another bundled data set (default `EURUSD/1h`).

use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use flowrex::candles::{Interval, Store, TimeRange};
use flowrex::engine::BacktestConfig;
use flowrex::indicators::cache::DEFAULT_BUDGET_MB;
use flowrex::optimize::{self, Method, NoObserver, Objective, Settings, Shard, Space};
use flowrex::strategy;

const SEEDS: u64 = 20;
/// Minimum closed trades for a candidate to rank (keeps lucky two-trade candidates out of the optimum).
const MIN_TRADES: usize = 10;

fn space() -> Space {
    let params: Vec<(String, String)> = [
        ("htf_bars", "2..12:2"),
        ("htf_fast", "5..20:5"),
        ("htf_slow", "20..60:10"),
        ("ema_n", "10..50:10"),
        ("atr_stop", "0.5..3:0.5"),
        ("rr", "1..4:0.5"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    Space::new(strategy::lookup("jadecap").unwrap(), &params, &[]).unwrap()
}

fn best_of(method: Method, seed: u64, candles: &flowrex::candles::Candles) -> (f64, u64) {
    let settings = Settings {
        space: space(),
        objective: Objective::Sharpe,
        min_trades: MIN_TRADES,
        method,
        seed,
        top_k: 1,
        shard: Shard::ALL,
        cache_mb: DEFAULT_BUDGET_MB,
    };
    let stop = AtomicBool::new(false);
    let report = optimize::run(
        &settings,
        candles,
        &BacktestConfig::default(),
        &stop,
        &NoObserver,
    )
    .unwrap();
    let best = report
        .result
        .top
        .first()
        .and_then(|o| o.rank)
        .unwrap_or(f64::NAN);
    (best, report.evaluated)
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        0.5 * (v[n / 2 - 1] + v[n / 2])
    }
}

fn main() {
    // `cargo bench` passes `--bench`; anything else (e.g. a filter) is ignored.
    let data = std::env::var("SEARCH_DATA").unwrap_or_else(|_| "EURUSD/1h".into());
    let (symbol, interval) = data.split_once('/').expect("SEARCH_DATA=SYMBOL/INTERVAL");
    let interval: Interval = interval.parse().unwrap();
    let candles = Store::at(Path::new(env!("CARGO_MANIFEST_DIR")).join("data"))
        .load(symbol, interval, &TimeRange::ALL)
        .unwrap();
    let size = space().size();
    let budget = size / 20;
    let t = Instant::now();
    let (optimum, feasible) = best_of(Method::Grid, 0, &candles);
    println!(
        "jadecap on {symbol} {interval} ({} bars), sharpe, min trades {MIN_TRADES}: grid of {size} \
         ({feasible} feasible) evaluated in {:.1} s, optimum {optimum:.4}; budget {budget} (5%), {SEEDS} seeds",
        candles.len(),
        t.elapsed().as_secs_f64()
    );
    let per = |p: usize| (budget / p as u64) as usize;
    let methods: Vec<(&str, Method)> = vec![
        ("random", Method::Random { samples: budget }),
        (
            "genetic (36 × 35)",
            Method::Genetic {
                population: 36,
                generations: per(36),
            },
        ),
        (
            // Repeats come from the memo, so 35 generations spend only ~400 distinct backtests;
            // 4× the generations reaches ~800 (it keeps revisiting its population).
            "genetic (36 × 140)",
            Method::Genetic {
                population: 36,
                generations: 140,
            },
        ),
        (
            "pso (36 × 1+34)",
            Method::Pso {
                particles: 36,
                iterations: per(36) - 1,
            },
        ),
        (
            "explore (batch 20)",
            Method::Explore {
                samples: budget,
                batch: 20,
            },
        ),
        (
            "tpe (batch 8)",
            Method::Tpe {
                samples: budget,
                batch: 8,
            },
        ),
    ];
    println!();
    println!(
        "| method | median share of optimum | worst share | optimum found | distinct evaluated (mean) | seconds per run |"
    );
    println!("|---|---|---|---|---|---|");
    for (name, method) in methods {
        let t = Instant::now();
        let mut shares = Vec::new();
        let mut hits = 0;
        let mut evaluated = 0;
        for seed in 1..=SEEDS {
            let (best, n) = best_of(method, seed, &candles);
            shares.push(best / optimum);
            hits += usize::from(best == optimum);
            evaluated += n;
        }
        let worst = shares.iter().copied().fold(f64::INFINITY, f64::min);
        println!(
            "| {name} | {:.3} | {:.3} | {hits}/{SEEDS} | {:.0} | {:.2} |",
            median(&mut shares),
            worst,
            evaluated as f64 / SEEDS as f64,
            t.elapsed().as_secs_f64() / SEEDS as f64
        );
    }
}
