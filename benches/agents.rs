//! Agents benchmarks (targets from the issue):
//! - replay: 100,000 hourly bars of one playbook (sma_cross 10/20, the `[paper]` protective 3% stop)
//!   through the whole pipeline — load, prepare the indicators once, one cycle per bar with the paper
//!   broker's fills and the decision log — from an empty log: under 5 s.
//! - cron: one new bar for each of 10 active playbooks on 100,000-bar stores whose history was
//!   replayed before: under 1 s.
//!
//! Measured on the shared 2-core machine, release build, the log hash-chained: replay 2.72 s median
//! wall (2.68–2.78 s), 1.4–1.6 s CPU — 99,980 cycles (the synthetic series' bars after the 20-bar
//! warm-up), 37 orders and 74 fills: the strategy's budget is disabled after five losses in a row,
//! after which the Risk stage refuses its entries without an order. Before cycles were grouped into
//! transactions and an idle market skipped the broker, the same replay took 45 s wall, 14 s CPU;
//! before the log was chained, 1.54 s wall, 0.9 s CPU. cron: 275 ms median wall, 60–90 ms CPU
//! (10 Parquet loads of 100,000 bars, 10 indicator preparations, 10 cycles); setting it up (999,790
//! cycles) took 21 s wall, 14 s CPU.

use std::cell::OnceCell;
use std::path::Path;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use flowrex::agents::run::{self, RunReport, RunSettings};
use flowrex::candles::synthetic::{SyntheticSpec, generate};
use flowrex::candles::{Interval, Store};
use flowrex::db::Db;
use flowrex::execution::Instruments;
use flowrex::execution::store::{self, Mode};
use flowrex::indicators::IndicatorCache;
use flowrex::paper::PaperConfig;
use flowrex::risk::limits::HARD;
use tempfile::TempDir;

const BARS: usize = 100_000;

/// CPU time of this process (user + system) from /proc/self/stat, in 10 ms ticks (the machine is
/// shared: wall time overstates the work; both are reported).
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let rest = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<u64> = rest
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0))
        .collect();
    Duration::from_millis((f.get(11).unwrap_or(&0) + f.get(12).unwrap_or(&0)) * 10)
}

fn playbook(name: &str, symbol: &str) -> String {
    format!(
        "[playbook]\nname = \"{name}\"\nstatus = \"active\"\ncreated_at = \"2026-11-30T00:00:00Z\"\n\
         flowrex_version = \"0.1.0\"\n\n[strategy]\nname = \"sma_cross\"\n\n[strategy.params]\nfast = 10\n\
         slow = 20\n\n[market]\nsymbol = \"{symbol}\"\ninterval = \"1h\"\nstart = \"1990-01-01T00:00:00Z\"\n\
         end = \"2100-01-01T00:00:00Z\"\nbars = 0\ndata_sha256 = \"-\"\n\n[backtest]\ncash = 10000.0\n\
         commission = 0.0\nspread = 0.0\nfill = \"next-open\"\nclose_at_end = false\nsize = \"all\"\n\
         stop_policy = \"pessimistic\"\n\n[metrics]\n\n[paper]\nstop_pct = 3\ntarget_pct = 6\n"
    )
}

/// A home with `n` playbooks, each on its own synthetic symbol of `bars` hourly bars.
fn home(n: usize, bars: usize) -> TempDir {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::at(dir.path().join("data"));
    std::fs::create_dir_all(dir.path().join("playbooks")).unwrap();
    for k in 0..n {
        let c = generate(&SyntheticSpec::new(bars, k as u64 + 1, Interval::Hour1));
        let sym = format!("SYN{k}");
        store
            .merge(&sym, Interval::Hour1, &c, "bench", false)
            .unwrap();
        let pb = playbook(&format!("p{k}"), &sym);
        std::fs::write(dir.path().join(format!("playbooks/p{k}.toml")), pb).unwrap();
    }
    let mut db = Db::open(dir.path()).unwrap();
    db.write(|tx| store::set_mode(tx, Mode::Autonomous, "bench", 0).map(drop))
        .unwrap();
    dir
}

/// `paper-trade run` on `home` as the command does it: select, load, prepare, cycle.
fn run_home(home: &Path) -> RunReport {
    let selected = flowrex::agents::settings::select(&home.join("playbooks"), &[]).unwrap();
    let bars = run::load_bars(&Store::at(home.join("data")), &selected, i64::MAX / 4).unwrap();
    let caches: Vec<IndicatorCache> = bars.iter().map(|_| IndicatorCache::new()).collect();
    let instruments = Instruments::default();
    let settings = RunSettings {
        limits: HARD,
        instruments: &instruments,
        model: PaperConfig {
            slippage_bps: Some(0.0),
            ..PaperConfig::default()
        }
        .resolve()
        .unwrap(),
        now_ms: i64::MAX / 4,
        halt_request: None,
    };
    let mut db = Db::open(home).unwrap();
    run::run(&mut db, &selected, &bars, &caches, &settings).unwrap()
}

fn copy(from: &Path) -> TempDir {
    let to = tempfile::tempdir().unwrap();
    let ok = std::process::Command::new("cp")
        .arg("-a")
        .arg(format!("{}/.", from.display()))
        .arg(to.path())
        .status()
        .unwrap()
        .success();
    assert!(ok);
    to
}

fn timed<T>(f: impl FnOnce() -> T) -> (T, Duration, Duration) {
    let (w, c) = (Instant::now(), cpu_time());
    let out = f();
    (out, w.elapsed(), cpu_time() - c)
}

fn replay(c: &mut Criterion) {
    let template: OnceCell<TempDir> = OnceCell::new();
    let mut g = c.benchmark_group("agents");
    g.sample_size(10);
    g.bench_function("replay_100k_bars", |b| {
        let t = template.get_or_init(|| home(1, BARS));
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let h = copy(t.path());
                let (r, wall, cpu) = timed(|| run_home(h.path()));
                eprintln!(
                    "replay: {} cycles, {} fills, {} orders: {wall:?} wall, {cpu:?} CPU",
                    r.cycles, r.fills, r.playbooks[0].submitted
                );
                total += wall;
            }
            total
        });
    });
    g.finish();
}

fn cron(c: &mut Criterion) {
    let template: OnceCell<TempDir> = OnceCell::new();
    let mut g = c.benchmark_group("agents");
    g.sample_size(10);
    g.bench_function("cron_10_playbooks", |b| {
        // The history of all but the last bar is replayed once; each sample copies that home and
        // runs with the last bar added (one cycle per playbook).
        let t = template.get_or_init(|| {
            let h = home(10, BARS - 1);
            let (r, wall, cpu) = timed(|| run_home(h.path()));
            eprintln!(
                "cron setup: {} cycles in {wall:?} wall, {cpu:?} CPU",
                r.cycles
            );
            h
        });
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let h = copy(t.path());
                let store = Store::at(h.path().join("data"));
                for k in 0..10 {
                    let all = generate(&SyntheticSpec::new(BARS, k + 1, Interval::Hour1));
                    let last = all.slice(BARS - 1..BARS);
                    store
                        .merge(&format!("SYN{k}"), Interval::Hour1, &last, "bench", false)
                        .unwrap();
                }
                let (r, wall, cpu) = timed(|| run_home(h.path()));
                assert_eq!(r.cycles, 10);
                eprintln!("cron: {} cycles: {wall:?} wall, {cpu:?} CPU", r.cycles);
                total += wall;
            }
            total
        });
    });
    g.finish();
}

criterion_group!(benches, replay, cron);
criterion_main!(benches);
