//! The risk gate's cost per call: `RiskBook::check` (verdicts, the audit row, the commit) on a file
//! database, with no trade today and with 100 fills today, and a fill + close recorded. Each call is
//! its own `BEGIN IMMEDIATE` transaction, as `risk-check` and the paper broker make them.
//!
//! Measured on the shared 2-core machine (load average about 2.9), release build, the code before the
//! state seal (116f39c) and after it run alternately twice: check with no fill today 0.19–0.22 ms
//! before, 0.28–0.31 ms after (the seal check of the state row, the trades' head and the strategy's
//! budget, and their reseal: about 0.09 ms); check with 100 fills and 100 closes today 0.13–0.19 ms
//! before, 0.53–0.70 ms after (the gate re-hashes the rows it counts, about 2 µs each); fill + close
//! 1.2–1.3 ms before, 1.0–1.1 ms after (records re-hash only the last trade row; chain statements are
//! cached now). `benches/paper.rs` process (1000 fills, 497 transactions), CPU: 0.33–0.35 s before,
//! 0.51–0.54 s after.
//!
//! The counting window of the gate's walk (migration 9), measured the same way (load 2.5–3.1; 641937f
//! before it and the window's code alternately, three runs each): check with no fill today 190/196/248
//! µs before, 186/230/282 µs after; with 100 fills and 100 closes today 530/508/537 µs before,
//! 637/570/636 µs after (both walk the same rows: the fills above are recorded at falling times, so
//! the walk starts at the first row); fill + close 1.69/1.87/1.72 ms before, 1.88/1.55/1.66 ms after.

use std::hint::black_box;

use chrono::{DateTime, Duration, TimeZone, Utc};
use criterion::{Criterion, criterion_group, criterion_main};
use flowrex::db::Db;
use flowrex::risk::limits::HARD;
use flowrex::risk::{RiskBook, StrategyId, TradeRequest};
use flowrex::trade::Side;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 10, 0, 0).unwrap()
}

fn trade() -> TradeRequest {
    TradeRequest {
        symbol: "BTCUSD".into(),
        side: Side::Long,
        entry: 1000.0,
        stop: 900.0,
        target: 1200.0,
        size: 0.5,
        lot_size: 1.0,
        strategy: Some(StrategyId::parse("strategy", "s").unwrap()),
        equity: None,
    }
}

/// A book on a file database with the balance set and `fills` fills (each closed again) today.
fn book(dir: &tempfile::TempDir, fills: usize) -> RiskBook {
    let mut b = RiskBook::new(Db::open(dir.path()).unwrap(), HARD);
    b.set_balance(1_000_000.0, None, t0()).unwrap();
    let s = StrategyId::parse("strategy", "s").unwrap();
    for i in 0..fills {
        let at = t0() - Duration::minutes(i as i64);
        b.record_fill("BTCUSD", Some(&s), at).unwrap();
        b.record_close(Some("BTCUSD"), Some(&s), 1.0, at).unwrap();
    }
    b
}

fn gate(c: &mut Criterion) {
    let mut g = c.benchmark_group("risk_gate");
    g.sample_size(30);
    for fills in [0usize, 100] {
        let dir = tempfile::tempdir().unwrap();
        let mut b = book(&dir, fills);
        let t = trade();
        g.bench_function(format!("check, {fills} fills today"), |bench| {
            bench.iter(|| black_box(b.check(&t, t0()).unwrap().approved))
        });
    }
    let dir = tempfile::tempdir().unwrap();
    let mut b = book(&dir, 0);
    let s = StrategyId::parse("strategy", "s").unwrap();
    g.bench_function("record fill + close", |bench| {
        bench.iter(|| {
            b.record_fill("BTCUSD", Some(&s), t0()).unwrap();
            black_box(b.record_close(Some("BTCUSD"), Some(&s), 1.0, t0()).unwrap())
        })
    });
    g.finish();
}

criterion_group!(benches, gate);
criterion_main!(benches);
