//! Journal benchmarks: appending 50,000 entries in one transaction (hash chain included), the statistics
//! of 1,000,000 entries grouped by strategy and symbol, and the analysis of 10,000 paper trades against
//! a replay over 100,000 bars. Each is measured in wall time and, because the build machine is shared,
//! in CPU time of this process too (`…_cpu_time`: user + system, from /proc/self/stat).

use std::hint::black_box;
use std::path::Path;
use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use flowrex::backtest::{DataSpec, RunSpec};
use flowrex::candles::synthetic::{SyntheticSpec, generate};
use flowrex::candles::{DAY_MS, Interval, TimeRange};
use flowrex::db::Db;
use flowrex::engine::BacktestConfig;
use flowrex::indicators::IndicatorCache;
use flowrex::journal::analyze::{self, Request};
use flowrex::journal::reference::RecordedSettings;
use flowrex::journal::stats::{self, GroupBy};
use flowrex::journal::{self, Filter, NewEntry, Source, Thresholds};
use flowrex::risk::StrategyId;
use flowrex::trade::{ExitReason, Side, TradeRecord};

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

/// The CPU time `iters` runs of `routine` take, each after a `setup` that is not measured.
fn cpu<S, T>(
    iters: u64,
    mut setup: impl FnMut() -> S,
    mut routine: impl FnMut(&mut S) -> T,
) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        let mut state = setup();
        let start = cpu_time();
        black_box(routine(&mut state));
        total += cpu_time() - start;
    }
    total
}

/// Entry `i` of a synthetic journal: 10 strategies × 5 symbols, alternating sides, returns between
/// −2 % and +2.5 %, a trade an hour.
fn synthetic(i: usize, names: &[(StrategyId, String)]) -> NewEntry {
    let (strategy, symbol) = &names[i % names.len()];
    let side = if i.is_multiple_of(3) {
        Side::Short
    } else {
        Side::Long
    };
    let ret = ((i * 7919) % 46) as f64 / 10.0 - 2.0;
    let entry_time = 1_600_000_000_000 + i as i64 * 3_600_000;
    let size = 10.0 * side.sign();
    let exit = 100.0 * (1.0 + side.sign() * ret / 100.0);
    NewEntry {
        source: if i.is_multiple_of(2) {
            Source::Paper
        } else {
            Source::Live
        },
        run_id: Some("bench".into()),
        strategy: strategy.clone(),
        model: None,
        params: None,
        settings: None,
        playbook: None,
        symbol: symbol.clone(),
        interval: Some(Interval::Hour1),
        account: None,
        order_ids: Vec::new(),
        trade: TradeRecord {
            size,
            side,
            entry_bar: i,
            exit_bar: i + 1,
            entry_price: 100.0,
            exit_price: exit,
            stop: i.is_multiple_of(4).then_some(100.0 - side.sign()),
            target: None,
            pnl: size * (exit - 100.0),
            commission: 0.0,
            return_pct: ret,
            entry_time,
            exit_time: entry_time + DAY_MS / 24,
            duration_days: 1.0 / 24.0,
            exit_reason: if i.is_multiple_of(5) {
                ExitReason::Stop
            } else {
                ExitReason::Signal
            },
            ambiguous: false,
        },
        bars_known: true,
    }
}

fn names() -> Vec<(StrategyId, String)> {
    (0..10)
        .flat_map(|s| {
            (0..5).map(move |x| {
                (
                    StrategyId::parse("s", &format!("strategy{s}")).unwrap(),
                    format!("SYM{x}"),
                )
            })
        })
        .collect()
}

fn insert(c: &mut Criterion) {
    let names = names();
    let entries: Vec<NewEntry> = (0..50_000).map(|i| synthetic(i, &names)).collect();
    let mut g = c.benchmark_group("journal");
    g.sample_size(10);
    g.throughput(Throughput::Elements(entries.len() as u64));
    g.bench_function("insert_50k_entries_one_transaction", |b| {
        b.iter_batched(
            || {
                let dir = tempfile::tempdir().unwrap();
                let db = Db::open(dir.path()).unwrap();
                (dir, db)
            },
            |(dir, mut db)| {
                db.write(|tx| journal::append_all(tx, &entries, 1)).unwrap();
                (dir, db)
            },
            BatchSize::PerIteration,
        )
    });
    g.bench_function("insert_50k_entries_one_transaction_cpu_time", |b| {
        b.iter_custom(|iters| {
            cpu(
                iters,
                || {
                    let dir = tempfile::tempdir().unwrap();
                    let db = Db::open(dir.path()).unwrap();
                    (dir, db)
                },
                |(_, db)| {
                    db.write(|tx| journal::append_all(tx, &entries, 1))
                        .unwrap()
                        .len()
                },
            )
        })
    });
    g.finish();
}

fn stats_million(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let mut db = Db::open(dir.path()).unwrap();
    let names = names();
    for chunk in (0..1_000_000).collect::<Vec<_>>().chunks(100_000) {
        let entries: Vec<NewEntry> = chunk.iter().map(|&i| synthetic(i, &names)).collect();
        db.write(|tx| journal::append_all(tx, &entries, 1)).unwrap();
    }
    let mut g = c.benchmark_group("journal");
    g.sample_size(10);
    g.bench_function("stats_1m_entries_by_strategy_symbol", |b| {
        b.iter(|| {
            let (total, groups) = db
                .read(|tx| {
                    stats::grouped(
                        tx,
                        &Filter::default(),
                        &[GroupBy::Strategy, GroupBy::Symbol],
                    )
                })
                .unwrap();
            black_box((total.trades, groups.len()))
        })
    });
    g.bench_function("stats_1m_entries_by_strategy_symbol_cpu_time", |b| {
        b.iter_custom(|iters| {
            cpu(
                iters,
                || (),
                |_| {
                    db.read(|tx| {
                        stats::grouped(
                            tx,
                            &Filter::default(),
                            &[GroupBy::Strategy, GroupBy::Symbol],
                        )
                    })
                    .unwrap()
                    .0
                    .trades
                },
            )
        })
    });
    g.bench_function("stats_1m_entries_by_weekday_hour", |b| {
        b.iter(|| {
            let (total, groups) = db
                .read(|tx| {
                    stats::grouped(tx, &Filter::default(), &[GroupBy::Weekday, GroupBy::Hour])
                })
                .unwrap();
            black_box((total.trades, groups.len()))
        })
    });
    g.finish();
}

/// A home with 100,000 synthetic hourly bars and the first 10,000 trades of sma_cross 2/5 on them
/// journaled as paper trades (recorded settings, so the analysis replays the same backtest).
fn analyze_home(dir: &Path) -> Db {
    let home = flowrex::home::Home::layout(dir);
    let candles = generate(&SyntheticSpec::new(100_000, 11, Interval::Hour1));
    home.store()
        .merge("SYN", Interval::Hour1, &candles, "bench", false)
        .unwrap();
    let strategy = flowrex::strategy::lookup("sma_cross").unwrap();
    let overrides = [
        ("fast".to_string(), "2".to_string()),
        ("slow".to_string(), "5".to_string()),
    ];
    let data = DataSpec {
        symbol: "SYN".into(),
        interval: Interval::Hour1,
        range: TimeRange::ALL,
        start: None,
        end: None,
    };
    let spec = RunSpec::new(strategy, &overrides, data, BacktestConfig::default()).unwrap();
    let report = spec.run(&candles, &IndicatorCache::new()).unwrap();
    let trades = TradeRecord::all(&report.run.trades, &candles.ts);
    assert!(trades.len() >= 10_000, "{} trades", trades.len());
    let settings = RecordedSettings::of_run(&spec.config, &candles).to_json();
    let entries: Vec<NewEntry> = trades[..10_000]
        .iter()
        .map(|t| NewEntry {
            source: Source::Paper,
            run_id: Some("paper".into()),
            strategy: StrategyId::parse("s", "syn").unwrap(),
            model: Some("sma_cross".into()),
            params: Some(spec.params.to_json()),
            settings: Some(settings.clone()),
            playbook: None,
            symbol: "SYN".into(),
            interval: Some(Interval::Hour1),
            account: None,
            order_ids: Vec::new(),
            trade: t.clone(),
            bars_known: true,
        })
        .collect();
    let mut db = Db::open(dir).unwrap();
    db.write(|tx| journal::append_all(tx, &entries, 1)).unwrap();
    db
}

fn analyze_10k(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let mut db = analyze_home(dir.path());
    let home = flowrex::home::Home::layout(dir.path());
    let store = home.store();
    let playbooks = home.playbooks_dir();
    let req = Request {
        strategy: StrategyId::parse("s", "syn").unwrap(),
        symbol: "SYN".into(),
        sources: vec![Source::Paper],
        playbook: None,
        playbooks_dir: &playbooks,
        max_lag: 1,
        since_ms: None,
        until_ms: None,
    };
    let th = Thresholds::default();
    let a = db
        .read(|tx| analyze::analyze(tx, &store, &req, &th))
        .unwrap();
    let a = &a.comparison;
    assert_eq!(
        (a.real_trades, a.matched, a.match_rate_pct),
        (10_000, 10_000, 100.0)
    );
    let mut g = c.benchmark_group("journal");
    g.sample_size(10);
    g.bench_function("analyze_10k_paper_trades_100k_bar_replay", |b| {
        b.iter(|| {
            let a = db
                .read(|tx| analyze::analyze(tx, &store, &req, &th))
                .unwrap();
            black_box(a.comparison.matched)
        })
    });
    g.bench_function("analyze_10k_paper_trades_100k_bar_replay_cpu_time", |b| {
        b.iter_custom(|iters| {
            cpu(
                iters,
                || (),
                |_| {
                    db.read(|tx| analyze::analyze(tx, &store, &req, &th))
                        .unwrap()
                        .comparison
                        .matched
                },
            )
        })
    });
    g.finish();
}

criterion_group!(benches, insert, stats_million, analyze_10k);
criterion_main!(benches);
