//! The yardstick of `flowrex optimize`'s speed: the README's SMA-cross grid (fast 5..50:5 × slow
//! 10..200:10, fast < slow, 175 candidates) written as a plain Rust loop — pandas-exact SMAs
//! (`flowrex::indicators::sma`, each window once), whole-unit sizing, commission, next-open fills,
//! final equity, maximum drawdown and the trade count; rayon over candidates.
//!
//! First it checks itself: SMA(10)/SMA(20) on the bundled GOOG data with cash 10,000 and commission
//! 0.002 must reproduce backtesting.py 0.6.6's final equity bit for bit and its trade count
//! (`tests/fixtures/goog_smacross_10_20.stats.json`). Then it times the grid over 1,000,000 bars:
//!
//!   cargo bench --bench hand_loop                       # synthetic bars (seed 42), like --bench optimize
//!   cargo bench --bench hand_loop -- --home DIR         # DIR/data/SYNTH/1m.parquet (benches/peers)
//!   RAYON_NUM_THREADS=1 cargo bench --bench hand_loop
//!
//! The time printed covers the SMAs and the grid, not the load (as `optimize`'s own `elapsed_s`).

use std::collections::HashMap;
use std::time::Instant;

use flowrex::candles::synthetic::{SyntheticSpec, generate};
use flowrex::candles::{Candles, Interval, TimeRange, store};
use flowrex::engine::fills::py_floordiv;
use flowrex::indicators::sma;
use rayon::prelude::*;

/// backtesting.py's default order size: all cash but one epsilon.
const SIZE: f64 = 1.0 - f64::EPSILON;

/// What one candidate produced.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Run {
    equity_final: f64,
    max_drawdown: f64,
    trades: u32,
}

/// SMA(fast) × SMA(slow) crossover: long on a cross above, short on a cross below, filled at the
/// next open with all cash in whole units; equity marked at every close.
fn run(open: &[f64], close: &[f64], f: &[f64], s: &[f64], cash0: f64, rate: f64) -> Run {
    let n = close.len();
    let start = s.iter().position(|v| !v.is_nan()).unwrap_or(0) + 1;
    let (mut cash, mut units, mut entry, mut pending) = (cash0, 0.0f64, 0.0, 0.0);
    let (mut peak, mut max_dd, mut trades, mut eq) = (cash0, 0.0f64, 0, cash0);
    for i in start..n {
        if pending != 0.0 {
            let p = open[i];
            if units != 0.0 {
                cash += units * (p - entry) - units.abs() * p * rate;
                trades += 1;
            }
            let apc = p + (SIZE * p * rate) / SIZE;
            let u = py_floordiv(cash.max(0.0) * SIZE, apc).trunc();
            (units, entry) = if u > 0.0 && u * apc <= cash {
                cash -= u * p * rate;
                (pending * u, p)
            } else {
                (0.0, 0.0)
            };
            pending = 0.0;
        }
        eq = cash + (close[i] * units - units * entry);
        if eq <= 0.0 {
            eq = 0.0;
            max_dd = 1.0;
            break;
        }
        peak = peak.max(eq);
        max_dd = max_dd.max(1.0 - eq / peak);
        if i + 1 < n {
            if f[i - 1] < s[i - 1] && f[i] > s[i] {
                pending = 1.0;
            } else if s[i - 1] < f[i - 1] && s[i] > f[i] {
                pending = -1.0;
            }
        }
    }
    Run {
        equity_final: eq,
        max_drawdown: max_dd,
        trades,
    }
}

/// The whole grid: every distinct SMA once (in parallel), then every candidate (in parallel).
fn grid(c: &Candles, grid: &[(usize, usize)], cash: f64, rate: f64) -> Vec<Run> {
    let mut windows: Vec<usize> = grid.iter().flat_map(|&(a, b)| [a, b]).collect();
    windows.sort_unstable();
    windows.dedup();
    let smas: HashMap<usize, Vec<f64>> =
        windows.par_iter().map(|&w| (w, sma(&c.close, w))).collect();
    grid.par_iter()
        .map(|(a, b)| run(&c.open, &c.close, &smas[a], &smas[b], cash, rate))
        .collect()
}

fn load(path: &str) -> Candles {
    store::read_parquet(path.as_ref(), &TimeRange::ALL)
        .unwrap_or_else(|e| panic!("{path}: {e}"))
        .0
}

fn check_goog() {
    let root = env!("CARGO_MANIFEST_DIR");
    let goog = load(&format!("{root}/data/GOOG/1d.parquet"));
    let fixture = format!("{root}/tests/fixtures/goog_smacross_10_20.stats.json");
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&fixture).unwrap()).unwrap();
    let stats = &doc["stats"];
    let r = grid(&goog, &[(10, 20)], 10_000.0, 0.002)[0];
    let want = stats["Equity Final [$]"].as_f64().unwrap();
    assert_eq!(r.equity_final.to_bits(), want.to_bits(), "final equity");
    assert_eq!(r.trades as u64, stats["# Trades"].as_u64().unwrap());
    let dd = stats["Max. Drawdown [%]"].as_f64().unwrap();
    assert!((-r.max_drawdown * 100.0 - dd).abs() < 1e-9, "max drawdown");
    println!(
        "GOOG 10/20 check: final equity {} (backtesting.py {want}: bit for bit), {} trades, max drawdown {:.6}%",
        r.equity_final,
        r.trades,
        -r.max_drawdown * 100.0
    );
}

fn main() {
    check_goog();
    let args: Vec<String> = std::env::args().collect();
    let home = args
        .iter()
        .position(|a| a == "--home")
        .and_then(|i| args.get(i + 1));
    let candles = match home {
        Some(h) => load(&format!("{h}/data/SYNTH/1m.parquet")),
        None => generate(&SyntheticSpec::new(1_000_000, 42, Interval::Minute1)),
    };
    let cands: Vec<(usize, usize)> = (5..=50)
        .step_by(5)
        .flat_map(|f| (10..=200).step_by(10).map(move |s| (f, s)))
        .filter(|(f, s)| f < s)
        .collect();
    assert_eq!(cands.len(), 175);
    let t0 = Instant::now();
    let runs = grid(&candles, &cands, 1_000_000.0, 0.00001);
    let secs = t0.elapsed().as_secs_f64();
    let best = (0..runs.len())
        .max_by(|&a, &b| runs[a].equity_final.total_cmp(&runs[b].equity_final))
        .unwrap();
    let evals = (cands.len() * candles.len()) as f64;
    println!(
        "hand loop: {} candidates x {} bars on {} threads in {secs:.3} s ({:.3e} bar-evaluations/s); best final equity {:?} {:?}",
        cands.len(),
        candles.len(),
        rayon::current_num_threads(),
        evals / secs,
        cands[best],
        runs[best]
    );
    println!("{{\"hand_loop_s\": {secs}}}");
}
