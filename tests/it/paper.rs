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
    for i in 0..n {
        paper.process(symbol, interval, candles, candles.ts[i]);
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

/// The backtest and the paper broker, driven by the same strategy with the same costs and a fixed size
/// of `units`, produce the same trades (every field of the trade record), the same open position and
/// the same final equity, bit for bit.
fn assert_same_as_backtest(
    (symbol, interval): (&str, Interval),
    (name, params, bracket): (&str, &[(&str, &str)], Option<(f64, f64)>),
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
