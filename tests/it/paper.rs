//! Paper trading: the paper broker against the backtest (one matcher, two drivers), every order type
//! and time in force on hand-built bars, the seeded fill model, risk inside the transaction, crash
//! safety and concurrency, and the `paper-trade` command line.
//!
//! Hand calculations use the same conventions as the backtest tests: a fill at a bar's open happens on
//! that bar (its time is the bar's open time), spread worsens only entries, commission is a fraction of
//! traded value on both sides.

use chrono::{DateTime, Utc};
use flowrex::candles::{Bar, Candles, DAY_MS, Interval};
use flowrex::db::Db;
use flowrex::engine::{self, Action, BacktestConfig, PositionView, Signals, Sizing, StopPolicy};
use flowrex::execution::store::{self, Mode};
use flowrex::execution::{
    Desk, ExitRequest, Instrument, Instruments, MarketBars, OrderKind, OrderRequest, OrderState,
    Placed, Processor, TimeInForce, place, place_exit,
};
use flowrex::indicators::IndicatorCache;
use flowrex::paper::account::{self, PaperTrade};
use flowrex::paper::{FillModel, PaperBroker, PaperConfig, close_time};
use flowrex::risk::limits::HARD;
use flowrex::strategy;
use flowrex::trade::{ExitReason, Side, TradeRecord};
use tempfile::TempDir;

use crate::support::load;

// ---- A paper account in a temporary database, driven bar by bar ---------------------------------

/// A fill model that adds nothing to the backtest: no slippage, latency, random part or cap.
fn exact(commission: f64, spread: f64) -> FillModel {
    PaperConfig {
        slippage_bps: Some(0.0),
        commission: Some(commission),
        spread: Some(spread),
        ..PaperConfig::default()
    }
    .resolve()
    .unwrap()
}

fn at(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap()
}

/// A paper account (autonomous mode) in a fresh database.
struct Paper {
    _dir: TempDir,
    db: Db,
    model: FillModel,
    instruments: Instruments,
}

impl Paper {
    fn new(model: FillModel, instruments: &[(&str, Instrument)]) -> Paper {
        let dir = tempfile::tempdir().unwrap();
        let mut db = Db::open(dir.path()).unwrap();
        db.write(|tx| store::set_mode(tx, Mode::Autonomous, "tests fill on paper", 0).map(drop))
            .unwrap();
        Paper {
            _dir: dir,
            db,
            model,
            instruments: Instruments(
                instruments
                    .iter()
                    .map(|(s, i)| (s.to_string(), *i))
                    .collect(),
            ),
        }
    }

    fn desk(&self) -> Desk<'_> {
        Desk {
            limits: HARD,
            instruments: &self.instruments,
            latency_ms: self.model.latency_ms,
            initial_balance: self.model.initial_balance,
        }
    }

    fn place(&mut self, req: &OrderRequest, now: i64) -> Placed {
        let desk = Desk {
            limits: HARD,
            instruments: &self.instruments,
            latency_ms: self.model.latency_ms,
            initial_balance: self.model.initial_balance,
        };
        self.db.write(|tx| place(tx, &desk, req, at(now))).unwrap()
    }

    fn exit(&mut self, req: &ExitRequest, now: i64) -> Placed {
        let desk = self.desk();
        let desk = Desk {
            instruments: &self.instruments.clone(),
            ..desk
        };
        self.db
            .write(|tx| place_exit(tx, &desk, req, at(now)))
            .unwrap()
    }

    /// Processes `candles` of `symbol` up to and including the bar opening at `upto`.
    fn process(&mut self, symbol: &str, interval: Interval, candles: &Candles, upto: i64) {
        let mut broker = PaperBroker::new(self.model.clone());
        let mut p = Processor::new(&mut broker, HARD, self.instruments.clone(), 0);
        let market = [MarketBars {
            symbol,
            interval,
            candles,
        }];
        p.run(&mut self.db, &market, upto, 0).unwrap();
    }

    fn trades(&mut self) -> Vec<PaperTrade> {
        self.db.read(account::trades).unwrap()
    }

    fn account(&mut self) -> account::Account {
        let inst = self.instruments.clone();
        self.db
            .read(|tx| account::account(tx, &inst))
            .unwrap()
            .expect("an account")
    }

    fn positions(&mut self) -> Vec<account::Position> {
        let inst = self.instruments.clone();
        self.db.read(|tx| account::positions(tx, &inst)).unwrap()
    }

    fn order(&mut self, id: i64) -> flowrex::execution::Order {
        self.db.read(|tx| store::order(tx, id)).unwrap().unwrap()
    }

    fn verify(&mut self) {
        let v = self.db.read(account::verify).unwrap();
        assert!(v.problems.is_empty(), "{:?}", v.problems);
    }
}

/// A strategy's decisions with a protective bracket added to entries that have none: a stop `stop`
/// below (long) or above (short) the deciding close, a target `target` on the other side, both as
/// fractions of that close. (Part 2 applies a playbook's protective stop the same way.)
struct WithBracket<'a> {
    inner: Box<dyn Signals + 'a>,
    close: &'a [f64],
    stop: f64,
    target: f64,
}

impl Signals for WithBracket<'_> {
    fn warmup(&self) -> usize {
        self.inner.warmup()
    }

    fn decide(&mut self, i: usize, position: &PositionView) -> Action {
        match self.inner.decide(i, position) {
            Action::Enter(mut e) if e.stop.is_none() => {
                let s = e.side.sign();
                e.stop = Some(self.close[i] * (1.0 - s * self.stop));
                e.target = Some(self.close[i] * (1.0 + s * self.target));
                Action::Enter(e)
            }
            other => other,
        }
    }
}

/// Drives the paper broker with `signals` over `candles` as the backtest's bar loop does: process bar
/// `i` (its fills, its bracket exits, the mark), then let the strategy decide at bar `i`'s close —
/// seeing the paper position — and submit what it decided at that close time, for bars
/// `warmup + 1 ..= n − 2` (an order decided on the last bar could never fill).
fn drive(
    paper: &mut Paper,
    symbol: &str,
    interval: Interval,
    candles: &Candles,
    signals: &mut dyn Signals,
    units: f64,
) {
    let n = candles.len();
    let start = signals.warmup() + 1;
    // One processor for the whole drive, as a long-running driver holds one: between its runs the
    // driver places orders through the same connection, which the processor must notice.
    let mut broker = PaperBroker::new(paper.model.clone());
    let mut processor = Processor::new(&mut broker, HARD, paper.instruments.clone(), 0);
    let market = [MarketBars {
        symbol,
        interval,
        candles,
    }];
    for i in 0..n {
        processor
            .run(&mut paper.db, &market, candles.ts[i], 0)
            .unwrap();
        if i < start || i + 1 >= n {
            continue;
        }
        let pos = paper.positions().into_iter().find(|p| p.symbol == symbol);
        let view = pos
            .as_ref()
            .map_or(PositionView::default(), |p| PositionView {
                units: p.side.sign() * p.quantity,
                entry_price: p.entry_price,
                entry_bar: candles.ts.binary_search(&p.opened_ms).unwrap(),
            });
        let now = close_time(interval, candles.ts[i]);
        match signals.decide(i, &view) {
            Action::Hold => {}
            Action::Enter(e) => {
                let req = OrderRequest {
                    symbol: symbol.into(),
                    interval,
                    strategy: None,
                    side: e.side,
                    kind: OrderKind::Market,
                    tif: TimeInForce::Gtc,
                    units,
                    stop_loss: e.stop,
                    take_profit: e.target,
                    reference_price: Some(candles.close[i]),
                    client_id: Some(format!("bar-{i}")),
                };
                match paper.place(&req, now) {
                    Placed::Submitted(_) => {}
                    other => panic!("bar {i}: entry not submitted: {other:?}"),
                }
            }
            Action::Exit => {
                if pos.is_some() {
                    let req = ExitRequest {
                        symbol: symbol.into(),
                        interval,
                        strategy: None,
                        kind: OrderKind::Market,
                        tif: TimeInForce::Gtc,
                        units: None,
                        client_id: None,
                    };
                    assert!(matches!(paper.exit(&req, now), Placed::Submitted(_)));
                }
            }
        }
    }
}

/// A strategy by name, its parameter overrides, and the protective bracket (stop, target fractions)
/// to add to entries without one.
type Strategy<'a> = (&'a str, &'a [(&'a str, &'a str)], Option<(f64, f64)>);

/// The backtest and the paper broker, driven by the same strategy with the same costs and a fixed size
/// of `units`, produce the same trades (every field of the trade record), the same open position and
/// the same final equity, bit for bit.
fn assert_same_as_backtest(
    (symbol, interval): (&str, Interval),
    (name, params, bracket): Strategy<'_>,
    units: f64,
    costs: (f64, f64),
    instrument: Instrument,
) -> Vec<TradeRecord> {
    let candles = load(crate::support::repo(), symbol, interval.as_str());
    let s = strategy::lookup(name).unwrap();
    let params: Vec<(String, String)> = params
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let params = strategy::resolve_params(s, &params).unwrap();
    let cache = IndicatorCache::new();
    fn make<'c>(
        s: &dyn strategy::Strategy,
        params: &strategy::Params,
        cache: &'c IndicatorCache,
        c: &'c Candles,
        bracket: Option<(f64, f64)>,
    ) -> Box<dyn Signals + 'c> {
        let inner = s.prepare(c, params, cache).unwrap();
        match bracket {
            None => inner,
            Some((stop, target)) => Box::new(WithBracket {
                inner,
                close: &c.close,
                stop,
                target,
            }),
        }
    }
    let cfg = BacktestConfig {
        commission: costs.0,
        spread: costs.1,
        sizing: Sizing::Units(units),
        ..BacktestConfig::default()
    };
    let run = engine::run(
        &candles,
        &mut *make(s, &params, &cache, &candles, bracket),
        &cfg,
    )
    .unwrap();
    let want = TradeRecord::all(&run.trades, &candles.ts);
    assert_eq!(run.cancelled_orders, 0, "every backtest entry filled");

    let mut paper = Paper::new(exact(costs.0, costs.1), &[(symbol, instrument)]);
    let mut signals = make(s, &params, &cache, &candles, bracket);
    drive(&mut paper, symbol, interval, &candles, &mut *signals, units);
    let got: Vec<TradeRecord> = paper
        .trades()
        .iter()
        .map(|t| t.record(&candles.ts).unwrap())
        .collect();
    assert_eq!(got.len(), want.len());
    for (k, (g, w)) in got.iter().zip(&want).enumerate() {
        assert_eq!(g, w, "trade {k}");
    }
    // The open position and the equity at the last close: the backtest marks
    // cash + (close·units − units·entry); the paper account folds its ledger and marks the same way.
    let acct = paper.account();
    assert_eq!(acct.equity, *run.equity.last().unwrap());
    let open = paper.positions();
    match run.open_trade {
        None => assert!(open.is_empty()),
        Some(t) => {
            assert_eq!(open.len(), 1);
            assert_eq!(open[0].side.sign() * open[0].quantity, t.size);
            assert_eq!(open[0].entry_price, t.entry_price);
            assert_eq!(open[0].unrealized_pnl, t.unrealized_pnl);
        }
    }
    paper.verify();
    want
}

fn reasons(trades: &[TradeRecord]) -> Vec<ExitReason> {
    let mut r: Vec<ExitReason> = trades.iter().map(|t| t.exit_reason).collect();
    r.sort_by_key(|r| r.as_str());
    r.dedup();
    r
}

#[test]
fn sma_cross_on_goog_fills_like_the_backtest() {
    // sma_cross 10/20 reverses on every cross (the exclusive close of the paper broker), with a
    // protective 3% stop and 6% target so the risk layer can measure the trade (and so stops, targets
    // and gaps through them are exercised). 5 shares per trade, GOOG in lots of 100 shares: 0.05 lots.
    // Commission 0.1%, spread 0.02%.
    let goog = Instrument {
        lot_size: 100.0,
        ..Instrument::default()
    };
    let trades = assert_same_as_backtest(
        ("GOOG", Interval::Day1),
        (
            "sma_cross",
            &[("fast", "10"), ("slow", "20")],
            Some((0.03, 0.06)),
        ),
        5.0,
        (0.001, 0.0002),
        goog,
    );
    assert!(trades.len() > 50, "{}", trades.len());
    assert_eq!(
        reasons(&trades),
        [ExitReason::Signal, ExitReason::Stop, ExitReason::Target]
    );
}

#[test]
fn jadecap_brackets_on_eurusd_fill_like_the_backtest() {
    // JadeCap places its own stop and target (reward:risk 2). 5 000 units, EURUSD in standard lots of
    // 100 000: 0.05 lots. Spread 0.005%, no commission.
    let eur = Instrument {
        lot_size: 100_000.0,
        pip_size: Some(0.0001),
        ..Instrument::default()
    };
    let trades = assert_same_as_backtest(
        ("EURUSD", Interval::Hour1),
        ("jadecap", &[], None),
        5_000.0,
        (0.0, 0.00005),
        eur,
    );
    assert!(trades.len() > 100, "{}", trades.len());
    let r = reasons(&trades);
    assert!(
        r.contains(&ExitReason::Stop) && r.contains(&ExitReason::Target),
        "{r:?}"
    );
}

// ---- Order types and time in force on hand-built bars --------------------------------------------

/// 2020-01-06 00:00 UTC, a Monday: bar 0 of the hand-built series.
const T0: i64 = 1_578_268_800_000;
const HOUR: i64 = 3_600_000;

/// Bars `(open, high, low, close, volume)` one `step` apart from `T0`.
fn bars_every(step: i64, rows: &[(f64, f64, f64, f64, f64)]) -> Candles {
    Candles::from_bars(
        &rows
            .iter()
            .enumerate()
            .map(|(i, &(open, high, low, close, volume))| Bar {
                ts: T0 + i as i64 * step,
                open,
                high,
                low,
                close,
                volume,
            })
            .collect::<Vec<_>>(),
    )
}

/// Daily bars with volume 100.
fn daily(rows: &[(f64, f64, f64, f64)]) -> Candles {
    let rows: Vec<_> = rows
        .iter()
        .map(|&(o, h, l, c)| (o, h, l, c, 100.0))
        .collect();
    bars_every(DAY_MS, &rows)
}

/// "TEST" trades in lots of 100 units, so the orders below (10 to 30 units) are 0.1 to 0.3 lots.
fn test_paper(model: FillModel) -> Paper {
    let inst = Instrument {
        lot_size: 100.0,
        pip_size: Some(0.01),
        ..Instrument::default()
    };
    Paper::new(model, &[("TEST", inst)])
}

/// An entry on TEST 1d (the manual book unless `book`), submitted at `now`.
#[allow(clippy::too_many_arguments)]
fn entry(
    p: &mut Paper,
    side: Side,
    kind: OrderKind,
    tif: TimeInForce,
    units: f64,
    (sl, tp): (f64, f64),
    reference: f64,
    now: i64,
) -> i64 {
    let req = OrderRequest {
        symbol: "TEST".into(),
        interval: Interval::Day1,
        strategy: None,
        side,
        kind,
        tif,
        units,
        stop_loss: Some(sl),
        take_profit: Some(tp),
        reference_price: Some(reference),
        client_id: None,
    };
    match p.place(&req, now) {
        Placed::Submitted(o) => o.id,
        other => panic!("not submitted: {other:?}"),
    }
}

fn run_all(p: &mut Paper, c: &Candles) {
    let interval = if c.len() > 1 && c.ts[1] - c.ts[0] == HOUR {
        Interval::Hour1
    } else {
        Interval::Day1
    };
    p.process("TEST", interval, c, *c.ts.last().unwrap());
}

fn close_enough(got: f64, want: f64) {
    assert!(
        (got - want).abs() <= 1e-9 * want.abs().max(1.0),
        "got {got}, want {want}"
    );
}

#[test]
fn a_market_order_fills_at_the_open_and_a_bar_reaching_both_legs_follows_the_stop_policy() {
    // Long 10 at bar 0's open 100 with stop 95 and target 110 (risk 10·5 = 50, 0.5% of 10 000; reward
    // 10 per risk 5). Bar 0 (99–101) reaches neither leg; bar 1 (94–111) reaches both.
    let c = daily(&[(100.0, 101.0, 99.0, 100.0), (100.0, 111.0, 94.0, 105.0)]);
    for (policy, exit, reason, pnl) in [
        // Pessimistic: the stop, 10·(95 − 100) = −50.
        (StopPolicy::Pessimistic, 95.0, ExitReason::Stop, -50.0),
        // Optimistic: the target, 10·(110 − 100) = +100.
        (StopPolicy::Optimistic, 110.0, ExitReason::Target, 100.0),
    ] {
        let model = PaperConfig {
            slippage_bps: Some(0.0),
            stop_policy: Some(policy),
            ..PaperConfig::default()
        };
        let mut p = test_paper(model.resolve().unwrap());
        let id = entry(
            &mut p,
            Side::Long,
            OrderKind::Market,
            TimeInForce::Gtc,
            10.0,
            (95.0, 110.0),
            100.0,
            T0,
        );
        run_all(&mut p, &c);
        let o = p.order(id);
        assert_eq!(
            (o.state, o.avg_fill_price),
            (OrderState::Filled, Some(100.0))
        );
        let t = p.trades();
        assert_eq!(t.len(), 1);
        assert_eq!(
            (t[0].entry_price, t[0].exit_price, t[0].exit_reason),
            (100.0, exit, reason)
        );
        assert_eq!((t[0].pnl, t[0].ambiguous), (pnl, true));
        assert_eq!((t[0].entry_ms, t[0].exit_ms), (T0, T0 + DAY_MS));
        assert_eq!(p.account().balance, 10_000.0 + pnl);
        // The other leg is cancelled, one-cancels-other: orders 2 (stop) and 3 (target) are the legs.
        let (filled, other) = if reason == ExitReason::Stop {
            (2, 3)
        } else {
            (3, 2)
        };
        assert_eq!(p.order(filled).state, OrderState::Filled);
        let o = p.order(other);
        assert_eq!(
            (o.state, o.reason.as_deref()),
            (OrderState::Cancelled, Some("oco"))
        );
        p.verify();
    }
}

#[test]
fn a_gap_through_a_stop_fills_at_the_open_and_slippage_is_a_column() {
    // Long 10 at 100, stop 95: bar 1 opens at 90, below the stop: the stop fills at the open, 90, not
    // at 95: 10·(90 − 100) = −100.
    let c = daily(&[(100.0, 101.0, 99.0, 100.0), (90.0, 92.0, 89.0, 91.0)]);
    let mut p = test_paper(exact(0.0, 0.0));
    entry(
        &mut p,
        Side::Long,
        OrderKind::Market,
        TimeInForce::Gtc,
        10.0,
        (95.0, 110.0),
        100.0,
        T0,
    );
    run_all(&mut p, &c);
    let t = &p.trades()[0];
    assert_eq!(
        (t.exit_price, t.exit_reason, t.ambiguous, t.pnl),
        (90.0, ExitReason::Stop, false, -100.0)
    );

    // A short gapped through its stop: short 10 at 100, stop 105; bar 1 opens at 108: −10·(108 − 100)
    // = −80.
    let c = daily(&[(100.0, 101.0, 99.0, 100.0), (108.0, 109.0, 107.0, 108.0)]);
    let mut p = test_paper(exact(0.0, 0.0));
    entry(
        &mut p,
        Side::Short,
        OrderKind::Market,
        TimeInForce::Gtc,
        10.0,
        (105.0, 90.0),
        100.0,
        T0,
    );
    run_all(&mut p, &c);
    let t = &p.trades()[0];
    assert_eq!(
        (t.exit_price, t.exit_reason, t.pnl),
        (108.0, ExitReason::Stop, -80.0)
    );

    // With 10 bps of slippage: the market buy pays 100·1.001 = 100.1 (requested 100, +10 bps); the stop
    // sells at 90·0.999 = 89.91, requested at its level 95: (95 − 89.91)/95 = 535.79 bps worse, the gap
    // included. P&L 10·(89.91 − 100.1) = −101.9.
    let c = daily(&[(100.0, 101.0, 99.0, 100.0), (90.0, 92.0, 89.0, 91.0)]);
    let model = PaperConfig {
        slippage_bps: Some(10.0),
        ..PaperConfig::default()
    };
    let mut p = test_paper(model.resolve().unwrap());
    entry(
        &mut p,
        Side::Long,
        OrderKind::Market,
        TimeInForce::Gtc,
        10.0,
        (95.0, 110.0),
        100.0,
        T0,
    );
    run_all(&mut p, &c);
    let f = p.db.read(|tx| account::fills(tx, None)).unwrap();
    assert_eq!(f.len(), 2);
    close_enough(f[0].price, 100.1);
    assert_eq!(f[0].requested_price, 100.0);
    close_enough(f[0].slippage_bps, 10.0);
    close_enough(f[1].price, 89.91);
    assert_eq!(f[1].requested_price, 95.0);
    close_enough(f[1].slippage_bps, (95.0 - 89.91) / 95.0 * 1e4);
    close_enough(p.trades()[0].pnl, -101.9);
    p.verify();
}

#[test]
fn limit_orders_fill_at_their_limit_or_better_and_an_entry_inside_a_bar_is_protected_from_the_next()
{
    // Buy limit 98 (stop 94, target 106). Bar 0 (low 99) does not reach it; bar 1 (low 97) does: the
    // fill is at the limit, 98, not at the low. Bar 2 reaches the target 106: 10·(106 − 98) = +80.
    let c = daily(&[
        (100.0, 101.0, 99.0, 100.0),
        (99.0, 100.0, 97.0, 99.5),
        (99.0, 107.0, 98.0, 106.0),
    ]);
    let mut p = test_paper(exact(0.0, 0.0));
    let limit = OrderKind::Limit { limit: 98.0 };
    let id = entry(
        &mut p,
        Side::Long,
        limit,
        TimeInForce::Gtc,
        10.0,
        (94.0, 106.0),
        98.0,
        T0,
    );
    run_all(&mut p, &c);
    assert_eq!(p.order(id).avg_fill_price, Some(98.0));
    let t = &p.trades()[0];
    assert_eq!(
        (t.entry_ms, t.exit_ms, t.exit_price, t.pnl),
        (T0 + DAY_MS, T0 + 2 * DAY_MS, 106.0, 80.0)
    );

    // A sell limit at 102 on a bar that opens at 103 is marketable at the open: it fills at 103, better
    // than its limit, which the slippage column shows as −(103 − 102)/102 = −98.04 bps.
    let c = daily(&[(103.0, 104.0, 101.0, 103.0)]);
    let mut p = test_paper(exact(0.0, 0.0));
    let limit = OrderKind::Limit { limit: 102.0 };
    entry(
        &mut p,
        Side::Short,
        limit,
        TimeInForce::Gtc,
        10.0,
        (106.0, 96.0),
        102.0,
        T0,
    );
    run_all(&mut p, &c);
    let f = p.db.read(|tx| account::fills(tx, None)).unwrap();
    assert_eq!((f[0].price, f[0].requested_price), (103.0, 102.0));
    close_enough(f[0].slippage_bps, -(103.0 - 102.0) / 102.0 * 1e4);

    // Filled inside bar 1 at 98, the position is not stopped by bar 1's own low 93 (the order of the
    // fill and the low inside the bar is unknown): its bracket works from bar 2. Bar 3 reaches the stop
    // 94: 10·(94 − 98) = −40.
    let c = daily(&[
        (100.0, 101.0, 99.0, 100.0),
        (99.0, 100.0, 93.0, 95.0),
        (95.0, 96.0, 94.5, 95.0),
        (95.0, 95.0, 93.0, 94.0),
    ]);
    let mut p = test_paper(exact(0.0, 0.0));
    let limit = OrderKind::Limit { limit: 98.0 };
    entry(
        &mut p,
        Side::Long,
        limit,
        TimeInForce::Gtc,
        10.0,
        (94.0, 106.0),
        98.0,
        T0,
    );
    p.process("TEST", Interval::Day1, &c, T0 + 2 * DAY_MS);
    assert_eq!(p.positions().len(), 1);
    run_all(&mut p, &c);
    let t = &p.trades()[0];
    assert_eq!(
        (t.exit_ms, t.exit_price, t.pnl),
        (T0 + 3 * DAY_MS, 94.0, -40.0)
    );
    p.verify();
}

#[test]
fn stop_orders_fill_at_the_stop_inside_a_bar_or_at_a_gapped_open() {
    // Buy stop 102 (stop loss 99, target 107): bar 1 trades through 102 → filled at 102.
    let c = daily(&[(100.0, 101.0, 99.0, 100.0), (100.5, 103.0, 100.0, 102.5)]);
    let mut p = test_paper(exact(0.0, 0.0));
    let stop = OrderKind::Stop { stop: 102.0 };
    let id = entry(
        &mut p,
        Side::Long,
        stop,
        TimeInForce::Gtc,
        10.0,
        (99.0, 107.0),
        102.0,
        T0,
    );
    run_all(&mut p, &c);
    let o = p.order(id);
    assert_eq!(
        (o.state, o.avg_fill_price),
        (OrderState::Filled, Some(102.0))
    );
    assert_eq!(p.positions()[0].opened_ms, T0 + DAY_MS);

    // Bar 0 opens at 104, above the buy stop 102: filled at the open, 104 (a gap is no touch: it fills
    // whatever the fill probability).
    let c = daily(&[(104.0, 105.0, 103.0, 104.0)]);
    let model = PaperConfig {
        slippage_bps: Some(0.0),
        fill_probability: Some(0.01),
        ..PaperConfig::default()
    };
    let mut p = test_paper(model.resolve().unwrap());
    let id = entry(
        &mut p,
        Side::Long,
        stop,
        TimeInForce::Gtc,
        10.0,
        (99.0, 107.0),
        102.0,
        T0,
    );
    run_all(&mut p, &c);
    assert_eq!(p.order(id).avg_fill_price, Some(104.0));

    // Sell stop 98 (stop loss 101, target 93.5): bar 1 trades down through 98 → filled at 98.
    let c = daily(&[(100.0, 101.0, 99.0, 100.0), (99.0, 99.5, 97.0, 97.5)]);
    let mut p = test_paper(exact(0.0, 0.0));
    let stop = OrderKind::Stop { stop: 98.0 };
    let id = entry(
        &mut p,
        Side::Short,
        stop,
        TimeInForce::Gtc,
        10.0,
        (101.0, 93.5),
        98.0,
        T0,
    );
    run_all(&mut p, &c);
    assert_eq!(p.order(id).avg_fill_price, Some(98.0));
    assert_eq!(p.positions()[0].quantity, 10.0);
    p.verify();
}

#[test]
fn stop_limit_orders_trigger_then_fill_within_their_limit() {
    let events = |p: &mut Paper, id: i64| -> Vec<String> {
        p.db.read(|tx| store::order_events(tx, id))
            .unwrap()
            .into_iter()
            .map(|e| e.event)
            .collect()
    };
    // Buy stop 102 limit 102.5: bar 1 trades through 102 → triggered at 102, which its limit allows:
    // filled at 102.
    let kind = OrderKind::StopLimit {
        stop: 102.0,
        limit: 102.5,
    };
    let c = daily(&[(100.0, 101.0, 99.0, 100.0), (101.0, 103.0, 100.0, 102.0)]);
    let mut p = test_paper(exact(0.0, 0.0));
    let id = entry(
        &mut p,
        Side::Long,
        kind,
        TimeInForce::Gtc,
        10.0,
        (99.0, 107.0),
        102.0,
        T0,
    );
    run_all(&mut p, &c);
    assert_eq!(p.order(id).avg_fill_price, Some(102.0));
    assert_eq!(events(&mut p, id), ["create", "accept", "trigger", "fill"]);

    // Bar 0 opens at 104: triggered at the open, but 104 is above the limit 102.5; later in the same
    // bar the low 102.2 comes within the limit: filled at 102.5.
    let c = daily(&[(104.0, 105.0, 102.2, 103.0)]);
    let mut p = test_paper(exact(0.0, 0.0));
    let id = entry(
        &mut p,
        Side::Long,
        kind,
        TimeInForce::Gtc,
        10.0,
        (99.0, 107.0),
        102.0,
        T0,
    );
    run_all(&mut p, &c);
    assert_eq!(p.order(id).avg_fill_price, Some(102.5));

    // Buy stop 102 limit 101.5 (below the stop): bar 1 triggers it at 102; its low 100 is within the
    // limit, but whether the low came after the trigger is unknown, so it rests as a limit and fills on
    // bar 2, whose low 101.2 reaches 101.5: at 101.5.
    let kind = OrderKind::StopLimit {
        stop: 102.0,
        limit: 101.5,
    };
    let c = daily(&[
        (100.0, 101.0, 99.0, 100.0),
        (100.0, 103.0, 100.0, 101.0),
        (101.8, 102.0, 101.2, 101.8),
    ]);
    let mut p = test_paper(exact(0.0, 0.0));
    let id = entry(
        &mut p,
        Side::Long,
        kind,
        TimeInForce::Gtc,
        10.0,
        (98.0, 108.5),
        102.0,
        T0,
    );
    p.process("TEST", Interval::Day1, &c, T0 + DAY_MS);
    assert_eq!(p.order(id).state, OrderState::Triggered);
    run_all(&mut p, &c);
    let o = p.order(id);
    assert_eq!(
        (o.state, o.avg_fill_price),
        (OrderState::Filled, Some(101.5))
    );
    assert_eq!(p.positions()[0].opened_ms, T0 + 2 * DAY_MS);
    p.verify();
}

#[test]
fn ioc_and_day_orders_expire_and_gtc_orders_keep_working() {
    // IOC buy limit 98 on a bar opening at 100: not marketable at the open, so it expires there, even
    // though the bar's low 97 reaches 98 later.
    let c = daily(&[(100.0, 101.0, 97.0, 100.0)]);
    let mut p = test_paper(exact(0.0, 0.0));
    let limit = OrderKind::Limit { limit: 98.0 };
    let id = entry(
        &mut p,
        Side::Long,
        limit,
        TimeInForce::Ioc,
        10.0,
        (94.0, 106.0),
        98.0,
        T0,
    );
    run_all(&mut p, &c);
    let o = p.order(id);
    assert_eq!(
        (o.state, o.reason.as_deref(), o.filled_quantity),
        (OrderState::Expired, Some("ioc"), 0.0)
    );

    // Hourly bars from Monday 00:00. A day buy limit at 95 submitted at 21:30 works on the 22:00 and
    // 23:00 bars (neither reaches 95); Tuesday's 00:00 bar reaches 95 but the day is over: expired
    // before that bar is matched. The same order good-till-cancelled fills there, at 95.
    let mut rows = vec![(100.0, 100.5, 99.5, 100.0, 100.0); 24];
    rows.push((96.0, 97.0, 94.0, 95.0, 100.0));
    let c = bars_every(HOUR, &rows);
    let submit = T0 + 21 * HOUR + HOUR / 2;
    for (tif, state, fill) in [
        (TimeInForce::Day, OrderState::Expired, None),
        (TimeInForce::Gtc, OrderState::Filled, Some(95.0)),
    ] {
        let mut p = test_paper(exact(0.0, 0.0));
        let req = OrderRequest {
            symbol: "TEST".into(),
            interval: Interval::Hour1,
            strategy: None,
            side: Side::Long,
            kind: OrderKind::Limit { limit: 95.0 },
            tif,
            units: 10.0,
            stop_loss: Some(91.0),
            take_profit: Some(101.0),
            reference_price: None,
            client_id: None,
        };
        let id = p.place(&req, submit).order().id;
        run_all(&mut p, &c);
        let o = p.order(id);
        assert_eq!((o.state, o.avg_fill_price), (state, fill), "{tif}");
        if tif == TimeInForce::Day {
            assert_eq!(o.expires_ms, Some(T0 + DAY_MS));
            assert_eq!(o.reason.as_deref(), Some("day_end"));
        }
    }
}

#[test]
fn a_volume_cap_fills_in_parts_and_an_ioc_keeps_only_its_first() {
    // At most 10% of a bar's volume per order: market buy 30 (stop 95, target 110) on bars of volume
    // 100, 100, 50, 100 fills 10 @ 100, 10 @ 101, 5 @ 102, then the last 5 @ 103.
    let c = bars_every(
        DAY_MS,
        &[
            (100.0, 101.0, 99.0, 100.0, 100.0),
            (101.0, 102.0, 100.0, 101.0, 100.0),
            (102.0, 103.0, 101.0, 102.0, 50.0),
            (103.0, 104.0, 102.0, 103.0, 100.0),
        ],
    );
    let capped = |tif| {
        let model = PaperConfig {
            slippage_bps: Some(0.0),
            max_volume_share: Some(0.1),
            ..PaperConfig::default()
        };
        let mut p = test_paper(model.resolve().unwrap());
        let id = entry(
            &mut p,
            Side::Long,
            OrderKind::Market,
            tif,
            30.0,
            (95.0, 110.0),
            100.0,
            T0,
        );
        run_all(&mut p, &c);
        (p, id)
    };
    let (mut p, id) = capped(TimeInForce::Gtc);
    let f = p.db.read(|tx| account::fills(tx, None)).unwrap();
    let parts: Vec<(f64, f64)> = f.iter().map(|f| (f.quantity, f.price)).collect();
    assert_eq!(
        parts,
        [(10.0, 100.0), (10.0, 101.0), (5.0, 102.0), (5.0, 103.0)]
    );
    let ev: Vec<(String, String)> =
        p.db.read(|tx| store::order_events(tx, id))
            .unwrap()
            .into_iter()
            .map(|e| (e.event, e.to_state))
            .collect();
    let want = [
        ("create", "new"),
        ("accept", "submitted"),
        ("partial_fill", "partially_filled"),
        ("partial_fill", "partially_filled"),
        ("partial_fill", "partially_filled"),
        ("fill", "filled"),
    ];
    assert_eq!(ev, want.map(|(a, b)| (a.to_string(), b.to_string())));
    // One position of 30 at the volume-weighted entry (10·100 + 10·101 + 5·102 + 5·103)/30 = 3035/30.
    let pos = &p.positions()[0];
    assert_eq!(pos.quantity, 30.0);
    close_enough(pos.entry_price, 3035.0 / 30.0);
    close_enough(p.order(id).avg_fill_price.unwrap(), 3035.0 / 30.0);
    p.verify();

    // The same order immediate-or-cancel: 10 at the first open, the other 20 expire.
    let (mut p, id) = capped(TimeInForce::Ioc);
    let o = p.order(id);
    assert_eq!(
        (o.state, o.filled_quantity, o.reason.as_deref()),
        (OrderState::Expired, 10.0, Some("ioc"))
    );
    assert_eq!(p.positions()[0].quantity, 10.0);
}

#[test]
fn an_entry_while_a_position_is_open_reverses_it_at_the_same_price() {
    // Long 10 at bar 0's open 100 (stop 95, target 110); at bar 0's close a short 10 is decided (stop
    // 109, target 96): at bar 1's open 104 the long closes, 10·(104 − 100) = +40, through an exit order
    // the engine places (reason `reversal`), and the short opens at 104 with its own bracket.
    let c = daily(&[(100.0, 101.0, 99.0, 100.0), (104.0, 105.0, 103.0, 104.0)]);
    let mut p = test_paper(exact(0.0, 0.0));
    entry(
        &mut p,
        Side::Long,
        OrderKind::Market,
        TimeInForce::Gtc,
        10.0,
        (95.0, 110.0),
        100.0,
        T0,
    );
    p.process("TEST", Interval::Day1, &c, T0);
    entry(
        &mut p,
        Side::Short,
        OrderKind::Market,
        TimeInForce::Gtc,
        10.0,
        (109.0, 96.0),
        104.0,
        T0 + DAY_MS,
    );
    run_all(&mut p, &c);
    let t = p.trades();
    assert_eq!(t.len(), 1);
    assert_eq!(
        (t[0].size, t[0].exit_price, t[0].pnl, t[0].exit_reason),
        (10.0, 104.0, 40.0, ExitReason::Signal)
    );
    let pos = p.positions();
    assert_eq!(
        (pos[0].side, pos[0].quantity, pos[0].entry_price),
        (Side::Short, 10.0, 104.0)
    );
    assert_eq!(
        (pos[0].stop_loss, pos[0].take_profit),
        (Some(109.0), Some(96.0))
    );
    let orders =
        p.db.read(|tx| store::orders(tx, 1, &store::OrderFilter::default()))
            .unwrap();
    // 1 long entry, 2–3 its legs, 4 the short entry, 5 the reversal exit, 6–7 the short's legs.
    let summary: Vec<(i64, &str, &str, Option<&str>)> = orders
        .iter()
        .map(|o| (o.id, o.role.as_str(), o.state.as_str(), o.reason.as_deref()))
        .collect();
    assert_eq!(
        summary,
        [
            (1, "entry", "filled", None),
            (2, "stop_loss", "cancelled", Some("position_closed")),
            (3, "take_profit", "cancelled", Some("position_closed")),
            (4, "entry", "filled", None),
            (5, "exit", "filled", Some("signal")),
            (6, "stop_loss", "submitted", Some("bracket")),
            (7, "take_profit", "submitted", Some("bracket")),
        ]
    );
    assert_eq!(orders[4].parent_id, Some(4));
    p.verify();
}

#[test]
fn latency_delays_the_first_eligible_bar() {
    // 1 hour of latency on daily bars: an order submitted at bar 0's open works from 01:00, so bar 0
    // (opening at 00:00) is not eligible and the market order fills at bar 1's open, 102.
    let c = daily(&[(100.0, 101.0, 99.0, 100.0), (102.0, 103.0, 101.0, 102.0)]);
    let model = PaperConfig {
        slippage_bps: Some(0.0),
        latency_ms: Some(HOUR),
        ..PaperConfig::default()
    };
    let mut p = test_paper(model.resolve().unwrap());
    let id = entry(
        &mut p,
        Side::Long,
        OrderKind::Market,
        TimeInForce::Gtc,
        10.0,
        (95.0, 110.0),
        100.0,
        T0,
    );
    assert_eq!(p.order(id).active_from_ms, T0 + HOUR);
    run_all(&mut p, &c);
    assert_eq!(p.order(id).avg_fill_price, Some(102.0));
}

// ---- The seeded fill model ------------------------------------------------------------------------

/// `n` buy limits at 99 (0.1 units each, one book each so none closes another), then `bars` daily bars
/// that each dip to 98 from an open at 100: a touch, never a gap. Returns every fill as
/// (order, bar time, price, slippage bps).
fn touches(model: FillModel, n: usize, bars: usize, kind: OrderKind) -> Vec<(i64, i64, f64, f64)> {
    let mut p = test_paper(model);
    for k in 0..n {
        let req = OrderRequest {
            symbol: "TEST".into(),
            interval: Interval::Day1,
            strategy: Some(format!("s{k}")),
            side: Side::Long,
            kind,
            tif: TimeInForce::Gtc,
            units: 0.1,
            stop_loss: Some(95.0),
            take_profit: Some(106.0),
            reference_price: Some(99.0),
            client_id: None,
        };
        assert!(matches!(p.place(&req, T0), Placed::Submitted(_)));
    }
    let c = daily(&vec![(100.0, 101.0, 98.0, 100.0); bars]);
    run_all(&mut p, &c);
    p.verify();
    p.db.read(|tx| account::fills(tx, None))
        .unwrap()
        .into_iter()
        .filter(|f| f.effect == "open")
        .map(|f| (f.order_id, f.ts_ms, f.price, f.slippage_bps))
        .collect()
}

fn with(seed: u64, fill_probability: f64, random_bps: f64) -> FillModel {
    PaperConfig {
        slippage_bps: Some(0.0),
        random_slippage_bps: Some(random_bps),
        fill_probability: Some(fill_probability),
        seed: Some(seed),
        ..PaperConfig::default()
    }
    .resolve()
    .unwrap()
}

#[test]
fn the_fill_probability_is_seeded_and_observed_at_its_rate() {
    let limit = OrderKind::Limit { limit: 99.0 };
    // Same seed, same fills (which orders, on which bars); another seed, other fills.
    let a = touches(with(1, 0.5, 0.0), 60, 3, limit);
    assert_eq!(a, touches(with(1, 0.5, 0.0), 60, 3, limit));
    assert_ne!(a, touches(with(2, 0.5, 0.0), 60, 3, limit));
    assert!(
        a.iter().all(|f| f.2 == 99.0),
        "a touched limit fills at its limit"
    );

    // 400 orders touched on 3 bars with probability 0.3: each bar fills about 30% of the orders still
    // working. Pooled over every touch (≈ 400 + 280 + 196 = 876) the share has a standard error of
    // sqrt(0.3·0.7/876) ≈ 0.0155; the tolerance is 0.06, about 4 standard errors.
    let fills = touches(with(7, 0.3, 0.0), 400, 3, limit);
    let mut working = 400usize;
    let mut touched = 0usize;
    for day in 0..3 {
        let filled = fills.iter().filter(|f| f.1 == T0 + day * DAY_MS).count();
        touched += working;
        working -= filled;
    }
    let share = fills.len() as f64 / touched as f64;
    assert!(
        (share - 0.3).abs() < 0.06,
        "share {share} over {touched} touches"
    );
}

#[test]
fn random_slippage_is_seeded_and_within_its_range() {
    // 40 market buys at an open of 100 with up to 20 bps of random slippage: each pays 100·(1 + u·0.002)
    // with u in [0, 1), so a price in [100, 100.2) and a slippage in [0, 20) bps; the same seed pays
    // the same, another seed differently.
    let a = touches(with(3, 1.0, 20.0), 40, 1, OrderKind::Market);
    assert_eq!(a.len(), 40);
    for &(_, _, price, bps) in &a {
        assert!((100.0..100.2).contains(&price), "{price}");
        assert!((0.0..20.0).contains(&bps), "{bps}");
    }
    assert_eq!(a, touches(with(3, 1.0, 20.0), 40, 1, OrderKind::Market));
    let b = touches(with(4, 1.0, 20.0), 40, 1, OrderKind::Market);
    assert_ne!(a, b);
    // Not a constant: the draws spread over the range (40 uniform draws all within 2 bps of each other
    // has probability below 1e-30).
    let (lo, hi) = a
        .iter()
        .fold((f64::MAX, f64::MIN), |(l, h), f| (l.min(f.3), h.max(f.3)));
    assert!(hi - lo > 2.0, "{lo}..{hi}");
}

// ---- Risk inside the transaction ------------------------------------------------------------------

#[test]
fn a_denied_entry_is_an_order_in_state_denied_with_the_verdicts_and_nothing_else() {
    // 300 units of TEST (lots of 100) are 3 lots: over the 1.0-lot cap. Risk 300·5 = 1500 = 15% of
    // 10 000: over the 2% cap. Every other rule passes.
    let mut p = test_paper(exact(0.0, 0.0));
    let req = OrderRequest {
        symbol: "TEST".into(),
        interval: Interval::Day1,
        strategy: None,
        side: Side::Long,
        kind: OrderKind::Market,
        tif: TimeInForce::Gtc,
        units: 300.0,
        stop_loss: Some(95.0),
        take_profit: Some(110.0),
        reference_price: Some(100.0),
        client_id: None,
    };
    let Placed::Denied(o, d) = p.place(&req, T0) else {
        panic!("not denied")
    };
    assert_eq!(o.state, OrderState::Denied);
    assert_eq!(
        o.reason.as_deref(),
        Some("risk: position_size,risk_per_trade")
    );
    assert_eq!(o.risk_decision_id, Some(d.decision_id));
    let failed: Vec<&str> = d.failed().map(|v| v.rule.as_str()).collect();
    assert_eq!(failed, ["position_size", "risk_per_trade"]);
    assert_eq!(d.verdicts.len(), 10);
    // The deny event carries every verdict.
    let ev = p.db.read(|tx| store::order_events(tx, o.id)).unwrap();
    assert_eq!(ev.last().unwrap().to_state, "denied");
    let verdicts = ev.last().unwrap().detail.as_ref().unwrap();
    assert_eq!(verdicts.as_array().unwrap().len(), 10);
    assert_eq!(verdicts[5]["rule"], "position_size");
    assert_eq!(verdicts[5]["value"], 3.0);
    // A denied order never fills, whatever bars come.
    run_all(&mut p, &daily(&[(100.0, 101.0, 99.0, 100.0)]));
    assert_eq!(p.order(o.id).state, OrderState::Denied);
    assert_eq!(p.account().fills, 0);
}

#[test]
fn the_eleventh_concurrent_position_is_denied() {
    // Ten markets S0…S9 with one open position each (5 units at 100: 500 of margin each, 5 000 in all);
    // the eleventh entry would make 11 open positions, over the limit of 10 — its only failing rule.
    let inst = Instrument {
        lot_size: 100.0,
        ..Instrument::default()
    };
    let names: Vec<String> = (0..11).map(|k| format!("S{k}")).collect();
    let specs: Vec<(&str, Instrument)> = names.iter().map(|n| (n.as_str(), inst)).collect();
    let mut p = Paper::new(exact(0.0, 0.0), &specs);
    let c = daily(&[(100.0, 101.0, 99.0, 100.0)]);
    let req = |symbol: &str| OrderRequest {
        symbol: symbol.into(),
        interval: Interval::Day1,
        strategy: None,
        side: Side::Long,
        kind: OrderKind::Market,
        tif: TimeInForce::Gtc,
        units: 5.0,
        stop_loss: Some(95.0),
        take_profit: Some(110.0),
        reference_price: Some(100.0),
        client_id: None,
    };
    // One a day (the risk layer allows 5 trades an hour): market k fills on day k.
    for (k, name) in names[..10].iter().enumerate() {
        let day = T0 + k as i64 * DAY_MS;
        let mut c = c.clone();
        c.ts[0] = day;
        assert!(matches!(p.place(&req(name), day), Placed::Submitted(_)));
        p.process(name, Interval::Day1, &c, day);
    }
    assert_eq!(p.positions().len(), 10);
    let Placed::Denied(_, d) = p.place(&req("S10"), T0 + 10 * DAY_MS) else {
        panic!("the 11th was not denied")
    };
    let failed: Vec<(&str, f64, f64)> = d
        .failed()
        .map(|v| (v.rule.as_str(), v.value, v.limit))
        .collect();
    assert_eq!(failed, [("open_positions", 11.0, 10.0)]);
}

#[test]
fn paper_losses_trip_the_emergency_shutdown_which_blocks_entries() {
    // Book "s": long 90 units at 100 (lots of 1 000: 0.09 lots), stop 98 (risk 180 = 1.8%), target 104.
    // Book "b": a buy limit at 79 resting below. Bar 1 opens at 80, through the stop: 90·(80 − 100) =
    // −1 800, an 18% drawdown from 10 000, over the 15% limit: the close trips the emergency shutdown
    // in its own transaction. Later in bar 1 the low 78 reaches b's limit: refused (emergency), and a
    // new entry is denied.
    let inst = Instrument {
        lot_size: 1000.0,
        ..Instrument::default()
    };
    let mut p = Paper::new(exact(0.0, 0.0), &[("TEST", inst)]);
    let order = |book: &str, kind, units, sl, tp, reference| OrderRequest {
        symbol: "TEST".into(),
        interval: Interval::Day1,
        strategy: Some(book.into()),
        side: Side::Long,
        kind,
        tif: TimeInForce::Gtc,
        units,
        stop_loss: Some(sl),
        take_profit: Some(tp),
        reference_price: Some(reference),
        client_id: None,
    };
    p.place(&order("s", OrderKind::Market, 90.0, 98.0, 104.0, 100.0), T0);
    let b = p
        .place(
            &order(
                "b",
                OrderKind::Limit { limit: 79.0 },
                10.0,
                75.0,
                85.0,
                79.0,
            ),
            T0,
        )
        .order()
        .id;
    let c = daily(&[(100.0, 101.0, 99.0, 100.0), (80.0, 81.0, 78.0, 79.0)]);
    p.process("TEST", Interval::Day1, &c, T0);
    // The fill is in the risk book: one open position, one trade today.
    let risk = |p: &mut Paper, t: i64| {
        p.db.read(|tx| flowrex::risk::book::ops::state(tx, at(t)))
            .unwrap()
    };
    let st = risk(&mut p, T0);
    assert_eq!((st.open_positions, st.trades_today), (1, 1));
    run_all(&mut p, &c);
    let st = risk(&mut p, T0 + DAY_MS);
    assert!(st.emergency, "{st:?}");
    assert_eq!(
        (st.balance, st.open_positions, st.daily_pnl),
        (8_200.0, 0, -1_800.0)
    );
    let s = st.strategies.iter().find(|b| b.strategy == "s").unwrap();
    assert_eq!(s.consecutive_losses, 1);
    let o = p.order(b);
    assert_eq!(
        (o.state, o.reason.as_deref()),
        (OrderState::Rejected, Some("emergency_shutdown"))
    );
    let Placed::Denied(_, d) = p.place(
        &order("c", OrderKind::Market, 10.0, 75.0, 85.0, 79.0),
        T0 + 2 * DAY_MS,
    ) else {
        panic!("entry allowed during an emergency")
    };
    assert!(!d.verdict(flowrex::risk::Rule::EmergencyShutdown).pass);
    assert_eq!(p.account().balance, 8_200.0);
    p.verify();
}

#[test]
fn guide_mode_records_previews_that_never_fill_and_an_approval_is_bound_to_its_trade() {
    let mut p = test_paper(exact(0.0, 0.0));
    p.db.write(|tx| store::set_mode(tx, Mode::Guide, "only recommend", T0).map(drop))
        .unwrap();
    let id = match p.place(
        &OrderRequest {
            symbol: "TEST".into(),
            interval: Interval::Day1,
            strategy: None,
            side: Side::Long,
            kind: OrderKind::Market,
            tif: TimeInForce::Gtc,
            units: 10.0,
            stop_loss: Some(95.0),
            take_profit: Some(110.0),
            reference_price: Some(100.0),
            client_id: None,
        },
        T0,
    ) {
        Placed::Previewed(o) => o.id,
        other => panic!("{other:?}"),
    };
    run_all(&mut p, &daily(&[(100.0, 101.0, 99.0, 100.0)]));
    assert_eq!(p.order(id).state, OrderState::Previewed);
    assert_eq!(p.account().fills, 0);

    // An approval for one trade cannot submit another: submit checks the order against it.
    let desk_instruments = p.instruments.clone();
    let desk = Desk {
        limits: HARD,
        instruments: &desk_instruments,
        latency_ms: 0,
        initial_balance: 10_000.0,
    };
    let req = OrderRequest {
        symbol: "TEST".into(),
        interval: Interval::Day1,
        strategy: None,
        side: Side::Long,
        kind: OrderKind::Market,
        tif: TimeInForce::Gtc,
        units: 10.0,
        stop_loss: Some(95.0),
        take_profit: Some(110.0),
        reference_price: Some(100.0),
        client_id: None,
    };
    let err =
        p.db.write(|tx| {
            let trade = flowrex::execution::place::trade_request(tx, &desk, &req, at(T0))?;
            let flowrex::risk::Checked::Approved(a) =
                flowrex::risk::approval::check(tx, &HARD, &trade, at(T0))?
            else {
                panic!("not approved")
            };
            let bigger = OrderRequest {
                units: 20.0,
                ..req.clone()
            };
            flowrex::execution::submit(tx, &desk, a, &bigger, at(T0))
        })
        .unwrap_err();
    assert!(
        err.to_string().contains("approved a different trade"),
        "{err}"
    );
}

// ---- The command line -----------------------------------------------------------------------------

use crate::support::{Run, bundled_home, flowrex, flowrex_std, json, write};

/// Every row of the paper and risk tables, as text, for before/after comparisons. The processing
/// runs (one more after each restart) and the fills' link to them are left out.
fn dump(home: &std::path::Path) -> Vec<String> {
    let db = Db::open(home).unwrap();
    let conn = db.conn();
    let tables = [
        "paper_accounts",
        "paper_mode_changes",
        "paper_orders",
        "paper_order_events",
        "paper_fills",
        "paper_positions",
        "paper_trades",
        "paper_cursors",
        "risk_state",
        "risk_trades",
        "risk_decisions",
        "strategy_budgets",
        "settings_audit",
    ];
    let mut out = Vec::new();
    for t in tables {
        let cols: Vec<String> = conn
            .prepare(&format!("SELECT name FROM pragma_table_info('{t}')"))
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(|c| c.unwrap())
            .filter(|c: &String| c != "run_id")
            .collect();
        let sql = format!("SELECT {} FROM {t} ORDER BY rowid", cols.join(", "));
        let mut stmt = conn.prepare(&sql).unwrap();
        let mut rows = stmt.query([]).unwrap();
        while let Some(r) = rows.next().unwrap() {
            let vals: Vec<String> = (0..cols.len())
                .map(|i| format!("{:?}", r.get::<_, rusqlite::types::Value>(i).unwrap()))
                .collect();
            out.push(format!("{t}: {}", vals.join(" | ")));
        }
    }
    out
}

fn run(home: &std::path::Path, args: &[&str]) -> Run {
    Run::of(flowrex(home).args(args))
}

fn ok(home: &std::path::Path, args: &[&str]) -> serde_json::Value {
    let r = run(home, args);
    assert_eq!(r.code, 0, "{args:?}: {}{}", r.stdout, r.stderr);
    json(&r)
}

#[test]
fn the_command_line_trades_the_bundled_data_and_refuses_what_it_must() {
    let home = bundled_home();
    let h = home.path();
    write(
        h,
        "flowrex.toml",
        "[instruments.GOOG]\nlot_size = 100\n[paper]\nslippage_bps = 0\n",
    );
    let r = run(h, &["paper-trade", "account"]);
    assert_eq!(r.code, 0);
    assert!(r.stdout.starts_with("no paper account yet"), "{}", r.stdout);
    // Modes: a change needs a reason; live does not exist.
    assert_eq!(run(h, &["paper-trade", "mode", "autonomous"]).code, 2);
    let r = run(h, &["paper-trade", "mode", "live", "--reason", "go"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("no live broker"), "{}", r.stderr);
    ok(
        h,
        &[
            "--json",
            "paper-trade",
            "mode",
            "autonomous",
            "--reason",
            "forward test",
        ],
    );

    let goog = load(h, "GOOG", "1d");
    // --now 2012-06-01 (a Friday, a bar's open): the reference price of a market order is the close of
    // the last bar closed by then (the bar of 05-31), and it fills at the open of the 06-01 bar.
    let now =
        flowrex::candles::time::parse_time("2012-06-01", flowrex::candles::time::TimeFormat::Iso)
            .unwrap();
    let j = goog.ts.binary_search(&now).unwrap();
    let order = |extra: &[&str]| {
        let mut a = vec![
            "--json",
            "paper-trade",
            "order",
            "--symbol",
            "GOOG",
            "--interval",
            "1d",
            "--now",
            "2012-06-01",
        ];
        a.extend_from_slice(extra);
        run(h, &a)
    };
    let orders = |h: &std::path::Path| {
        ok(h, &["--json", "paper-trade", "orders", "--all"])["orders"]
            .as_array()
            .unwrap()
            .len()
    };

    // Bad input: a stop loss above a long's price is refused naming the field, nothing recorded.
    let r = order(&[
        "--side",
        "long",
        "--units",
        "9",
        "--stop-loss",
        "700",
        "--take-profit",
        "900",
    ]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.starts_with("error: stop_loss: 700 must be below"),
        "{}",
        r.stderr
    );
    assert_eq!(orders(h), 0);
    // Denied by risk: 200 units = 2 lots, over the 1.0-lot cap: exit 3 with the verdicts, and the order
    // is kept as denied.
    let r = order(&[
        "--side",
        "long",
        "--units",
        "200",
        "--stop-loss",
        "560",
        "--take-profit",
        "640",
    ]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    let d = json(&r);
    assert_eq!(d["result"], "denied");
    assert_eq!(d["order"]["state"], "denied");
    assert!(
        d["decision"]["verdicts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|v| v["rule"] == "position_size" && v["pass"] == false)
    );
    // Accepted: 9 units (risk 9·(ref − 560) stays under 2% of 10 000 for a reference near 580).
    let r = order(&[
        "--side",
        "long",
        "--units",
        "9",
        "--stop-loss",
        "560",
        "--take-profit",
        "640",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let placed = json(&r);
    assert_eq!(placed["result"], "submitted");
    assert_eq!(placed["order"]["reference_price"], goog.close[j - 1]);
    let id = placed["order"]["id"].as_i64().unwrap();

    // Process up to 2012-07-02: the entry fills at the 06-01 open; the bracket exits at the first bar
    // reaching 560 or 640 (at the open if it gapped past), found here by walking the bars.
    let out = ok(
        h,
        &["--json", "paper-trade", "process", "--now", "2012-07-02"],
    );
    let entry = goog.open[j];
    let mut exit = None;
    for k in j..goog.len() {
        let (o, hi, lo) = (goog.open[k], goog.high[k], goog.low[k]);
        exit = if o <= 560.0 {
            Some((k, o))
        } else if lo <= 560.0 {
            Some((k, 560.0))
        } else if hi >= 640.0 {
            Some((k, 640.0))
        } else {
            None
        };
        if exit.is_some() {
            break;
        }
    }
    let (k, price) = exit.unwrap();
    assert!(
        goog.ts[k] < now + 30 * DAY_MS,
        "the test expects the exit within the processed month"
    );
    assert_eq!(out["processed"]["fills"], 2);
    let trades = ok(h, &["--json", "paper-trade", "trades"]);
    let t = &trades["trades"][0];
    assert_eq!(
        (t["entry_price"].as_f64(), t["exit_price"].as_f64()),
        (Some(entry), Some(price))
    );
    assert_eq!(t["pnl"].as_f64(), Some(9.0 * (price - entry)));
    let acct = &out["account"];
    assert_eq!(
        acct["balance"].as_f64(),
        Some(10_000.0 + 9.0 * (price - entry))
    );
    assert_eq!(
        (
            acct["total_trades"].as_i64(),
            acct["open_positions"].as_i64()
        ),
        (Some(1), Some(0))
    );
    let ev = ok(h, &["--json", "paper-trade", "events", &id.to_string()]);
    let names: Vec<&str> = ev["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["create", "accept", "fill"]);

    // Processing again with no new closed bars changes nothing.
    let before = dump(h);
    ok(
        h,
        &["--json", "paper-trade", "process", "--now", "2012-07-02"],
    );
    assert_eq!(dump(h), before);

    // Cancel: a far limit works until cancelled; a second cancel is refused.
    let r = order(&[
        "--side",
        "long",
        "--units",
        "9",
        "--type",
        "limit",
        "--limit-price",
        "500",
        "--stop-loss",
        "490",
        "--take-profit",
        "530",
    ]);
    let far = json(&r)["order"]["id"].as_i64().unwrap().to_string();
    let c = ok(
        h,
        &[
            "--json",
            "paper-trade",
            "cancel",
            &far,
            "--reason",
            "changed my mind",
        ],
    );
    assert_eq!(
        (c["state"].as_str(), c["reason"].as_str()),
        (Some("cancelled"), Some("changed my mind"))
    );
    let r = run(h, &["paper-trade", "cancel", &far]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("is cancelled; only working orders"),
        "{}",
        r.stderr
    );

    // Reset refuses while a position is open, then closes it at its mark with --close-positions.
    // (Half a share with a wide bracket, 500 / 1100: GOOG stays inside it to the end of the year.)
    let r = run(
        h,
        &[
            "paper-trade",
            "order",
            "--symbol",
            "GOOG",
            "--interval",
            "1d",
            "--side",
            "long",
            "--units",
            "0.5",
            "--stop-loss",
            "500",
            "--take-profit",
            "1100",
            "--now",
            "2012-12-20",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    ok(
        h,
        &["--json", "paper-trade", "process", "--now", "2012-12-31"],
    );
    let open = ok(h, &["--json", "paper-trade", "positions"]);
    assert_eq!(open["positions"].as_array().unwrap().len(), 1, "{open}");
    let r = run(
        h,
        &[
            "paper-trade",
            "reset",
            "--balance",
            "5000",
            "--reason",
            "new test",
            "--now",
            "2013-01-02",
        ],
    );
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("position(s) open"), "{}", r.stderr);
    let reset = ok(
        h,
        &[
            "--json",
            "paper-trade",
            "reset",
            "--balance",
            "5000",
            "--reason",
            "new test",
            "--close-positions",
            "--now",
            "2013-01-02",
        ],
    );
    assert_eq!(reset["closed_positions"], 1);
    assert_eq!(reset["account"]["account_id"], 2);
    assert_eq!(reset["account"]["balance"], 5000.0);
    assert_eq!(
        ok(h, &["--json", "paper-trade", "positions"])["positions"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
    let v = ok(h, &["--json", "paper-trade", "account", "--verify"]);
    assert_eq!(v["verify"]["problems"].as_array().unwrap().len(), 0);
}

// ---- Crash safety and concurrency -----------------------------------------------------------------

/// A home with `bars` synthetic one-minute bars of SYN (seed 1: from 100, between 98.4 and 103.4 over
/// the first 20 000 bars) and 240 resting limit entries in their own books, at levels from 98.5 to
/// 103.5 (buys below 100, sells above), each with a bracket a quarter below and half a point above (mirrored for sells). The fill
/// model draws: 2 bps of random slippage and a fill probability of 0.8, seeded, so a restart must
/// reproduce the draws too.
fn crash_home(bars: usize) -> TempDir {
    let home = crate::support::empty_home();
    let h = home.path();
    let bars = bars.to_string();
    let out = flowrex(h)
        .args([
            "-q",
            "fetch",
            "--provider",
            "synthetic",
            "--symbol",
            "SYN",
            "--interval",
            "1m",
        ])
        .args(["--bars", &bars, "--seed", "1"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    write(
        h,
        "flowrex.toml",
        "[paper]\nslippage_bps = 0\nrandom_slippage_bps = 2\nfill_probability = 0.8\nseed = 5\n",
    );
    let mut db = Db::open(h).unwrap();
    let instruments = Instruments::default();
    let desk = Desk {
        limits: HARD,
        instruments: &instruments,
        latency_ms: 0,
        initial_balance: 10_000.0,
    };
    let now = at(T0 - 30 * DAY_MS); // before the synthetic series (2020-01-01)
    db.write(|tx| {
        store::set_mode(tx, Mode::Autonomous, "crash test", now.timestamp_millis())?;
        for i in 0..240 {
            let level = 98.5 + (i % 120) as f64 / 24.0;
            if level == 100.0 {
                continue;
            }
            let long = level < 100.0;
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
    home
}

fn copy_home(from: &std::path::Path) -> TempDir {
    let to = crate::support::empty_home();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            let dst = to.path().join(e.file_name());
            std::fs::create_dir_all(&dst).unwrap();
            for f in walk(&e.path()) {
                let rel = f.strip_prefix(e.path()).unwrap();
                std::fs::create_dir_all(dst.join(rel).parent().unwrap()).unwrap();
                std::fs::copy(&f, dst.join(rel)).unwrap();
            }
        } else {
            std::fs::copy(e.path(), to.path().join(e.file_name())).unwrap();
        }
    }
    to
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

const PROCESS: [&str; 5] = ["-q", "paper-trade", "process", "--now", "2020-06-01"];

fn fills_in(conn: &rusqlite::Connection) -> i64 {
    conn.query_row("SELECT count(*) FROM paper_fills", [], |r| r.get(0))
        .unwrap_or(0)
}

fn verified(home: &std::path::Path) {
    let mut db = Db::open(home).unwrap();
    let v = db.read(account::verify).unwrap();
    assert!(v.problems.is_empty(), "{:?}", v.problems);
}

#[test]
fn a_process_killed_at_any_point_and_restarted_ends_as_an_uninterrupted_one() {
    let home = crash_home(20_000);
    let reference = copy_home(home.path());
    let out = flowrex(reference.path()).args(PROCESS).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let want = dump(reference.path());
    let conn = rusqlite::Connection::open(reference.path().join("flowrex.db")).unwrap();
    let total = fills_in(&conn);
    assert!(
        total > 300,
        "the run must have many fills to kill it between: {total}"
    );
    drop(conn);

    // Kill -9 the run once it has written at least k fills (k across the run), check the ledger is
    // whole (every stored total re-folds, every order's state is its log's last), restart.
    let db_path = home.path().join("flowrex.db");
    let conn =
        rusqlite::Connection::open_with_flags(&db_path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    let mut killed_mid_run = 0;
    for k in [total / 10, total / 3, total / 2, 3 * total / 4] {
        let mut child = flowrex_std(home.path())
            .args(PROCESS)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
        while fills_in(&conn) < k && std::time::Instant::now() < deadline {
            if child.try_wait().unwrap().is_some() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap(); // SIGKILL
            killed_mid_run += 1;
        }
        child.wait().unwrap();
        verified(home.path());
        assert!(fills_in(&conn) <= total);
    }
    assert!(
        killed_mid_run >= 3,
        "only {killed_mid_run} kills landed inside a run"
    );
    drop(conn);
    let out = flowrex(home.path()).args(PROCESS).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(dump(home.path()), want);
}

#[test]
fn two_processes_at_once_serialize_without_a_lost_update_or_a_double_fill() {
    let home = crash_home(8_000);
    let reference = copy_home(home.path());
    assert!(
        flowrex(reference.path())
            .args(PROCESS)
            .output()
            .unwrap()
            .status
            .success()
    );
    let want = dump(reference.path());
    let spawn = || {
        flowrex_std(home.path())
            .args(PROCESS)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn(), spawn());
    for c in [a, b] {
        let out = c.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    verified(home.path());
    assert_eq!(dump(home.path()), want);
}

#[test]
fn the_ledger_refuses_rewrites_and_verify_finds_a_tampered_row() {
    let c = daily(&[(100.0, 101.0, 99.0, 100.0), (100.0, 111.0, 94.0, 105.0)]);
    let mut p = test_paper(exact(0.0, 0.0));
    entry(
        &mut p,
        Side::Long,
        OrderKind::Market,
        TimeInForce::Gtc,
        10.0,
        (95.0, 110.0),
        100.0,
        T0,
    );
    run_all(&mut p, &c);
    p.verify();
    let conn = p.db.conn();
    for (sql, want) in [
        (
            "UPDATE paper_fills SET price = 1",
            "paper_fills is append-only: UPDATE",
        ),
        (
            "DELETE FROM paper_fills",
            "paper_fills is append-only: DELETE",
        ),
        (
            "INSERT OR REPLACE INTO paper_fills SELECT * FROM paper_fills WHERE id = 1",
            "paper_fills is append-only: a row is never replaced",
        ),
        (
            "UPDATE paper_order_events SET reason = 'x'",
            "paper_order_events is append-only",
        ),
        (
            "INSERT OR REPLACE INTO paper_orders SELECT * FROM paper_orders WHERE id = 1",
            "an order is never replaced",
        ),
        (
            "UPDATE paper_orders SET quantity = 1 WHERE id = 1",
            "definition never changes",
        ),
        (
            "UPDATE paper_orders SET state = 'submitted' WHERE id = 1",
            "final state never changes",
        ),
        ("DELETE FROM paper_orders", "DELETE is not allowed"),
        (
            "UPDATE paper_trades SET pnl = 0",
            "paper_trades is append-only",
        ),
        (
            "UPDATE paper_positions SET closed_ms = 0",
            "only an open position's close time",
        ),
        (
            "DELETE FROM paper_mode_changes",
            "paper_mode_changes is append-only",
        ),
    ] {
        let err = conn.execute(sql, []).unwrap_err().to_string();
        assert!(err.contains(want), "{sql}: {err}");
    }
    // Past the guards (dropping one), a rewritten balance is found by re-folding the ledger.
    conn.execute_batch(
        "DROP TRIGGER paper_fills_no_update; UPDATE paper_fills SET balance = balance + 1 WHERE id = 1;",
    )
    .unwrap();
    let v = p.db.read(account::verify).unwrap();
    assert_eq!(v.problems.len(), 1, "{:?}", v.problems);
    assert!(
        v.problems[0].starts_with("fill 1: stored"),
        "{:?}",
        v.problems
    );
}
