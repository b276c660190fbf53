//! Paper trading benchmarks (targets from the issue):
//! - `process` over 100,000 new one-minute bars from the store with about 1,000 fills: under 2 s.
//!   500 resting limit entries (their own books) at levels across the synthetic series' range, each
//!   with a bracket; the entries that the price reaches fill and later exit through a leg.
//! - the account and positions query with 100,000 fills in the ledger: under 20 ms. The ledger is made
//!   the way a strategy driver makes it: 50,000 four-hour bars, a reversing market entry decided at
//!   every close (two fills per bar: the reversal's exit and the new entry).
//!
//! Measured on the shared 2-core machine (load average about 15 while it ran), release build:
//! process 0.99 s wall, 0.31 s CPU (87,515 bars walked — the market goes idle once every order is
//! done —, 1,000 fills, 497 transactions); account 138 µs and positions 112 µs with 99,999 fills
//! (before the fold carried the fill count, a `count(*)` made the account read 15 ms). Building the
//! 100,000-fill ledger (50,000 bars, each a process run and a risk-checked order) took 151 s wall,
//! 60 s CPU: 0.6 ms of CPU per bar for two fills, four orders, their events and a risk check.
//!
//! With every close journaled (load average about 9): process 0.89 s wall, 0.35 s CPU; account
//! 171 µs, positions 126 µs; the ledger built in 190 s wall, 66.5 s CPU — a journal entry (its
//! SHA-256 chain row) costs about 0.13 ms of CPU per close.

use std::cell::OnceCell;
use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use chrono::DateTime;
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use flowrex::candles::synthetic::{SyntheticSpec, generate};
use flowrex::candles::{Candles, Interval, Store};
use flowrex::db::Db;
use flowrex::execution::store::{self, Mode};
use flowrex::execution::{
    Desk, Instruments, MarketBars, OrderKind, OrderRequest, Placed, Processor, TimeInForce, place,
};
use flowrex::paper::{self, FillModel, PaperBroker, PaperConfig};
use flowrex::risk::limits::HARD;
use flowrex::trade::Side;
use tempfile::TempDir;

/// CPU time of this process (user + system) from /proc/self/stat, in clock ticks of 10 ms (Linux's
/// USER_HZ). The build machine is shared (load averages of 15 on 2 cores were seen while these ran), so
/// wall time overstates the work; each benchmark reports both.
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let rest = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<u64> = rest
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0))
        .collect();
    Duration::from_millis((f.get(11).unwrap_or(&0) + f.get(12).unwrap_or(&0)) * 10)
}

fn model() -> FillModel {
    PaperConfig {
        slippage_bps: Some(0.0),
        ..PaperConfig::default()
    }
    .resolve()
    .unwrap()
}

fn desk(instruments: &Instruments) -> Desk<'_> {
    Desk {
        limits: HARD,
        instruments,
        latency_ms: 0,
        initial_balance: 10_000.0,
    }
}

/// A home with 100,000 synthetic 1m bars of SYN and 500 resting limit entries.
fn process_home() -> TempDir {
    let dir = tempfile::tempdir().unwrap();
    let candles = generate(&SyntheticSpec::new(100_000, 1, Interval::Minute1));
    let store = Store::at(dir.path().join("data"));
    store
        .merge("SYN", Interval::Minute1, &candles, "bench", false)
        .unwrap();
    let (lo, hi) = candles
        .close
        .iter()
        .fold((f64::MAX, f64::MIN), |(l, h), &c| (l.min(c), h.max(c)));
    let mut db = Db::open(dir.path()).unwrap();
    let instruments = Instruments::default();
    let desk = desk(&instruments);
    let now = DateTime::from_timestamp_millis(candles.ts[0] - 60_000).unwrap();
    let start = candles.open[0];
    db.write(|tx| {
        store::set_mode(tx, Mode::Autonomous, "bench", 0)?;
        for i in 0..500 {
            let level = lo + (hi - lo) * (i as f64 + 0.5) / 500.0;
            let long = level < start;
            let s = if long { 1.0 } else { -1.0 };
            let req = OrderRequest {
                symbol: "SYN".into(),
                interval: Interval::Minute1,
                strategy: Some(format!("k{i}")),
                side: if long { Side::Long } else { Side::Short },
                kind: OrderKind::Limit { limit: level },
                tif: TimeInForce::Gtc,
                units: 1.0,
                stop_loss: Some(level - s * 0.25),
                take_profit: Some(level + s * 0.5),
                reference_price: None,
                client_id: None,
            };
            assert!(matches!(place(tx, &desk, &req, now)?, Placed::Submitted(_)));
        }
        Ok(())
    })
    .unwrap();
    dir
}

fn copy(from: &Path) -> TempDir {
    let to = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(to.path().join("data/SYN")).unwrap();
    std::fs::copy(
        from.join("data/SYN/1m.parquet"),
        to.path().join("data/SYN/1m.parquet"),
    )
    .unwrap();
    std::fs::copy(from.join("flowrex.db"), to.path().join("flowrex.db")).unwrap();
    to
}

fn run_process(home: &Path) -> paper::ProcessReport {
    let mut db = Db::open(home).unwrap();
    paper::process_store(
        &mut db,
        &Store::at(home.join("data")),
        &model(),
        &Instruments::default(),
        HARD,
        None,
        i64::MAX,
    )
    .unwrap()
}

fn process(c: &mut Criterion) {
    let template: OnceCell<TempDir> = OnceCell::new();
    let template = || {
        template.get_or_init(|| {
            let t = process_home();
            let probe = copy(t.path());
            let r = run_process(probe.path());
            eprintln!(
                "process: {} bars, {} fills, {} transactions",
                r.summary.bars, r.summary.fills, r.summary.transactions
            );
            t
        })
    };
    let mut g = c.benchmark_group("paper");
    g.sample_size(10);
    g.bench_function("process_100k_bars_1k_fills", |b| {
        b.iter_batched(
            || copy(template().path()),
            |home| black_box(run_process(home.path())),
            BatchSize::PerIteration,
        )
    });
    // The same work measured in CPU time of this process (the copy excluded).
    g.bench_function("process_100k_bars_1k_fills_cpu_time", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let home = copy(template().path());
                let t = cpu_time();
                black_box(run_process(home.path()));
                total += cpu_time() - t;
            }
            total
        })
    });
    g.finish();
}

/// A ledger of about 100,000 fills: 50,001 four-hour bars, a reversing entry at every close.
fn ledger_home() -> (TempDir, Instruments) {
    let dir = tempfile::tempdir().unwrap();
    let candles: Candles = generate(&SyntheticSpec::new(50_001, 2, Interval::Hour4));
    let mut db = Db::open(dir.path()).unwrap();
    let instruments = Instruments::default();
    let desk = desk(&instruments);
    db.write(|tx| store::set_mode(tx, Mode::Autonomous, "bench", 0).map(drop))
        .unwrap();
    let mut broker = PaperBroker::new(model());
    let mut p = Processor::new(&mut broker, HARD, instruments.clone(), 0);
    let market = [MarketBars {
        symbol: "SYN",
        interval: Interval::Hour4,
        candles: &candles,
    }];
    let n = candles.len();
    for i in 0..n {
        p.run(&mut db, &market, candles.ts[i], 0).unwrap();
        if i + 1 == n {
            break;
        }
        let close = candles.close[i];
        let side = if i % 2 == 0 { Side::Long } else { Side::Short };
        let s = side.sign();
        let req = OrderRequest {
            symbol: "SYN".into(),
            interval: Interval::Hour4,
            strategy: None,
            side,
            kind: OrderKind::Market,
            tif: TimeInForce::Gtc,
            units: 1.0,
            stop_loss: Some(close * (1.0 - s * 0.25)),
            take_profit: Some(close * (1.0 + s * 0.5)),
            reference_price: Some(close),
            client_id: None,
        };
        let now =
            DateTime::from_timestamp_millis(paper::close_time(Interval::Hour4, candles.ts[i]))
                .unwrap();
        let placed = db.write(|tx| place(tx, &desk, &req, now)).unwrap();
        assert!(
            matches!(placed, Placed::Submitted(_)),
            "bar {i}: {placed:?}"
        );
    }
    (dir, instruments)
}

fn account(c: &mut Criterion) {
    let ledger: OnceCell<(TempDir, Instruments)> = OnceCell::new();
    let ledger = || {
        ledger.get_or_init(|| {
            let (t, c) = (Instant::now(), cpu_time());
            let (home, instruments) = ledger_home();
            let mut db = Db::open(home.path()).unwrap();
            let a = db
                .read(|tx| paper::account::account(tx, &instruments))
                .unwrap()
                .unwrap();
            eprintln!(
                "ledger: {} fills, {} trades, built in {:.1} s ({:.1} s CPU)",
                a.fills,
                a.total_trades,
                t.elapsed().as_secs_f64(),
                (cpu_time() - c).as_secs_f64()
            );
            (home, instruments)
        })
    };
    let mut g = c.benchmark_group("paper");
    for name in ["account", "positions"] {
        let query = |db: &mut Db, inst: &Instruments| {
            if name == "account" {
                black_box(db.read(|tx| paper::account::account(tx, inst)).unwrap());
            } else {
                black_box(db.read(|tx| paper::account::positions(tx, inst)).unwrap());
            }
        };
        g.bench_function(format!("{name}_100k_fills"), |b| {
            let (home, inst) = ledger();
            let mut db = Db::open(home.path()).unwrap();
            b.iter(|| query(&mut db, inst))
        });
    }
    g.finish();
}

criterion_group!(benches, process, account);
criterion_main!(benches);
