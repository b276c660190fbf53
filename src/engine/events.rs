//! The event-driven run: the bar loop of [`super::bar_loop`] for signals that list their decisions
//! ahead ([`Signals::scan`]: decisions that do not depend on the position, such as crossovers). It
//! visits only the bars where something happens — a decision, a fill — and treats each stretch in
//! between as a whole:
//!
//! - While the position does not change, equity is `cash + (close·units − units·entry)`, a
//!   non-decreasing function of the close for a long (non-increasing for a short), rounding included.
//!   So a stretch cannot run out of money when the equity at the data set's lowest close (a long) or
//!   highest close (a short) is above 0, and only then are its bars checked one by one.
//! - Equity is written for every bar ([`Marks::All`]: the bar loop's curve, one multiply-add per bar)
//!   or only at chosen bars ([`Marks::At`]: the period ends the ranking metrics need, ~1 value a day).
//! - A position with a stop or a target is checked bar by bar, as in the bar loop.
//!
//! Screening, fills, costs, sizing and the end-of-data rules are the bar loop's own code (its
//! broker), in the same order, so trades and equity are bit for bit the bar loop's; `tests` compares the two on
//! scripted and real signals under every fill rule.

use std::ops::Range;

use super::bar_loop::Broker;
use super::config::{BacktestConfig, Fill};
use super::{Action, RunResult, Signals};
use crate::candles::Candles;
use crate::error::{Error, Result};
use crate::indicators::IndicatorCache;
use crate::trade::{ExitReason, Trade};

/// Which equity values a run keeps.
#[derive(Debug, Clone, Copy)]
pub enum Marks<'a> {
    /// Every bar's: [`RunResult::equity`] exactly as the bar loop gives it.
    All,
    /// Only at these bars (ascending indexes, stored as exact `f64` as in the metrics calendar), in
    /// [`EventRun::marked`]; [`RunResult::equity`] stays empty.
    At(&'a [f64]),
}

/// The lowest and highest close of a data set: what decides whether a stretch can run out of money
/// without looking at its bars. Computed once per data set.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CloseRange {
    /// Lowest close (NaNs ignored).
    pub min: f64,
    /// Highest close (NaNs ignored).
    pub max: f64,
}

impl CloseRange {
    /// The range of `candles`' close through `cache` (one pass per data set; `cache` belongs to
    /// `candles`).
    pub fn cached(candles: &Candles, cache: &IndicatorCache) -> CloseRange {
        let r = cache.get_or_compute("range(close)", || {
            let r = CloseRange::of(&candles.close);
            vec![r.min, r.max]
        });
        CloseRange {
            min: r[0],
            max: r[1],
        }
    }

    /// The range of `close`.
    pub fn of(close: &[f64]) -> CloseRange {
        close.iter().fold(
            CloseRange {
                min: f64::INFINITY,
                max: f64::NEG_INFINITY,
            },
            |r, &c| CloseRange {
                min: r.min.min(c),
                max: r.max.max(c),
            },
        )
    }
}

/// What an event-driven run produces.
#[derive(Debug, Clone)]
pub struct EventRun {
    /// Trades, open trade and counters as the bar loop gives them; `equity` is the whole curve with
    /// [`Marks::All`] and empty with [`Marks::At`].
    pub run: RunResult,
    /// With [`Marks::At`]: the equity at each marked bar.
    pub marked: Vec<f64>,
    /// The equity at the first bar.
    pub equity_first: f64,
    /// The equity at the last bar.
    pub equity_last: f64,
}

/// Bars per [`Signals::scan`] call: the event buffer stays a few KB.
const SCAN_BLOCK: usize = 1 << 14;

/// Runs `signals` over `candles` with `cfg`, event by event; `Ok(None)` when the signals cannot list
/// their decisions (then use [`super::bar_loop::run`]). `range` must be [`CloseRange::of`] the close.
/// The run's trades are written into `log` (emptied first), so that a caller running many backtests
/// can hand back the last one's vector and keep its memory (see `optimize::fast`).
pub fn run<S: Signals + ?Sized>(
    candles: &Candles,
    signals: &mut S,
    cfg: &BacktestConfig,
    marks: Marks<'_>,
    range: CloseRange,
    log: Vec<Trade>,
) -> Result<Option<EventRun>> {
    cfg.validate()?;
    let n = candles.len();
    if n == 0 {
        return Err(Error::invalid("no candles to backtest"));
    }
    let mut events: Vec<(usize, Action)> = Vec::with_capacity(256);
    if !signals.scan(0..0, &mut events) {
        return Ok(None);
    }
    let px = Prices {
        open: &candles.open[..n],
        high: &candles.high[..n],
        low: &candles.low[..n],
        close: &candles.close[..n],
        range,
    };
    let warmup = signals.warmup();
    let start = warmup.saturating_add(1);
    let mut rec = Recorder::new(marks, n);
    rec.fill(0, start.min(n), cfg.cash);
    let mut broker = Broker::with_log(cfg, log);
    // The bars a decision is asked at (the bar loop's rules: not on the last bar with next-open fills
    // unless close_at_end).
    let asked_end = match cfg.fill {
        Fill::NextOpen if !cfg.close_at_end => n - 1,
        _ => n,
    };
    let mut queue = Events {
        buf: events,
        prices: Vec::with_capacity(256),
        next: 0,
        scanned: start,
        end: asked_end,
    };
    let mut pending = Action::Hold;
    // The open `pending` fills at (the bar after its decision).
    let mut pending_open = f64::NAN;
    let mut out_of_money_bar = None;
    let mut i = start;
    while i < n {
        let event = queue.next(signals, &px);
        let j = event.map_or(n - 1, |e| e.bar);
        let ruin = match (cfg.fill, event) {
            (Fill::NextOpen, _) => {
                broker.apply(std::mem::take(&mut pending), pending_open, i);
                let ruin = stretch(&mut broker, &mut rec, &px, i..j + 1);
                // Decided at bar j's close once it is marked (never after a ruin).
                if let (None, Some(e)) = (ruin, event) {
                    pending = broker.screen(e.action, e.close);
                    pending_open = e.next_open;
                }
                ruin
            }
            (Fill::Close, None) => stretch(&mut broker, &mut rec, &px, i..j + 1),
            (Fill::Close, Some(e)) => stretch(&mut broker, &mut rec, &px, i..j).or_else(|| {
                broker.check_exits(j, px.open, px.high, px.low);
                let action = broker.screen(e.action, e.close);
                broker.apply(action, e.close, j);
                one_bar(&mut broker, &mut rec, &px, j)
            }),
        };
        if let Some(k) = ruin {
            out_of_money_bar = Some(k);
            break;
        }
        i = j + 1;
    }
    if cfg.close_at_end && out_of_money_bar.is_none() && start < n {
        let last = n - 1;
        match cfg.fill {
            // As the bar loop: the open trade closes at the last open, and an entry decided on the
            // last bar fills at that same open (and stays open).
            Fill::NextOpen => {
                let reason = match pending {
                    Action::Hold => ExitReason::EndOfData,
                    _ => ExitReason::Signal,
                };
                broker.close(px.open[last], last, reason, false);
                if let Action::Enter(e) = pending {
                    broker.open(e, px.open[last], last);
                    broker.check_exits(last, px.open, px.high, px.low);
                }
            }
            Fill::Close => broker.close(px.close[last], last, ExitReason::EndOfData, false),
        }
        let eq = broker.equity(px.close[last]);
        rec.remark_last(eq);
        if eq <= 0.0 {
            broker.close(px.close[last], last, ExitReason::OutOfMoney, false);
            broker.cash = 0.0;
            rec.remark_last(0.0);
            out_of_money_bar = Some(last);
        }
    }
    Ok(Some(EventRun {
        run: broker.finish(px.close[n - 1], rec.all, warmup, out_of_money_bar),
        marked: rec.marked,
        equity_first: rec.first,
        equity_last: rec.last,
    }))
}

/// The price columns and their range.
struct Prices<'a> {
    open: &'a [f64],
    high: &'a [f64],
    low: &'a [f64],
    close: &'a [f64],
    range: CloseRange,
}

/// A decision with the prices it is screened and filled at.
#[derive(Clone, Copy)]
struct Event {
    bar: usize,
    action: Action,
    /// `close[bar]`.
    close: f64,
    /// `open[bar + 1]` (the last open on the last bar).
    next_open: f64,
}

/// The decisions, scanned block by block as the run reaches them.
struct Events {
    buf: Vec<(usize, Action)>,
    /// `(close[bar], open[bar + 1])` of each decision in `buf`.
    prices: Vec<(f64, f64)>,
    next: usize,
    /// Bars before this one are scanned.
    scanned: usize,
    /// Decisions are asked before this bar.
    end: usize,
}

impl Events {
    /// The next decision that is not `Hold`, if any is left.
    fn next<S: Signals + ?Sized>(&mut self, signals: &mut S, px: &Prices<'_>) -> Option<Event> {
        while self.next == self.buf.len() && self.scanned < self.end {
            self.buf.clear();
            self.next = 0;
            let to = self.end.min(self.scanned + SCAN_BLOCK);
            signals.scan(self.scanned..to, &mut self.buf);
            self.scanned = to;
            // The prices of a block's decisions are read here, all at once: independent loads the
            // processor overlaps. Read one decision at a time, each is a cache miss waited for in
            // turn (decisions are ~40 bars apart): measured, that was 55% of a lean candidate's time.
            let last = px.open.len() - 1;
            self.prices.clear();
            self.prices.extend(
                self.buf
                    .iter()
                    .map(|&(j, _)| (px.close[j], px.open[(j + 1).min(last)])),
            );
        }
        let e = self.buf.get(self.next).map(|&(bar, action)| {
            let (close, next_open) = self.prices[self.next];
            Event {
                bar,
                action,
                close,
                next_open,
            }
        });
        self.next += 1;
        e
    }
}

/// The bars `bars` with no decision in them: stops and targets bar by bar while the position has
/// them, then equity at constant position. Returns the bar where the money ran out, if it did.
fn stretch(
    broker: &mut Broker<'_>,
    rec: &mut Recorder,
    px: &Prices<'_>,
    bars: Range<usize>,
) -> Option<usize> {
    let (mut a, b) = (bars.start, bars.end);
    while a < b
        && broker
            .pos
            .is_some_and(|p| p.stop.is_some() || p.target.is_some())
    {
        broker.check_exits(a, px.open, px.high, px.low);
        if let Some(k) = one_bar(broker, rec, px, a) {
            return Some(k);
        }
        a += 1;
    }
    if a >= b {
        return None;
    }
    let ruin = first_ruin(broker, px, a..b);
    rec.constant(a..ruin.unwrap_or(b), broker, px.close);
    if let Some(k) = ruin {
        out_of_money(broker, rec, px, k);
    }
    ruin
}

/// Bar `k`'s equity after its fills; `Some(k)` when it ran out of money there.
fn one_bar(
    broker: &mut Broker<'_>,
    rec: &mut Recorder,
    px: &Prices<'_>,
    k: usize,
) -> Option<usize> {
    let eq = broker.equity(px.close[k]);
    if eq <= 0.0 {
        out_of_money(broker, rec, px, k);
        return Some(k);
    }
    rec.one(k, eq);
    None
}

/// The first bar of `bars` whose equity at the unchanged position is ≤ 0. Equity is monotonic in the
/// close (see the module docs), so the data set's worst close rules most stretches out at once.
fn first_ruin(broker: &Broker<'_>, px: &Prices<'_>, bars: Range<usize>) -> Option<usize> {
    let worst = match broker.pos {
        None => return (broker.cash <= 0.0).then_some(bars.start),
        Some(p) if p.units > 0.0 => px.range.min,
        Some(_) => px.range.max,
    };
    if broker.equity(worst) > 0.0 {
        return None;
    }
    bars.into_iter()
        .find(|&k| broker.equity(px.close[k]) <= 0.0)
}

/// The bar loop's ruin: closed at bar `k`'s close, cash and equity 0 from there on.
fn out_of_money(broker: &mut Broker<'_>, rec: &mut Recorder, px: &Prices<'_>, k: usize) {
    broker.close(px.close[k], k, ExitReason::OutOfMoney, false);
    broker.cash = 0.0;
    rec.fill(k, px.close.len(), 0.0);
}

/// Writes equity values: every bar's, or the marked bars' only.
struct Recorder<'m> {
    /// With [`Marks::All`]: the curve so far.
    all: Vec<f64>,
    marks: Option<&'m [f64]>,
    /// With [`Marks::At`]: the values so far (one per mark below `next_mark`).
    marked: Vec<f64>,
    /// The first and the last bar's equity once written.
    first: f64,
    last: f64,
    n: usize,
}

impl<'m> Recorder<'m> {
    fn new(marks: Marks<'m>, n: usize) -> Recorder<'m> {
        match marks {
            Marks::All => Recorder {
                all: Vec::with_capacity(n),
                marks: None,
                marked: Vec::new(),
                first: f64::NAN,
                last: f64::NAN,
                n,
            },
            Marks::At(m) => Recorder {
                all: Vec::new(),
                marks: Some(m),
                marked: Vec::with_capacity(m.len()),
                first: f64::NAN,
                last: f64::NAN,
                n,
            },
        }
    }

    /// How many marks lie below bar `end` (bars are written in order, so the count grows from the
    /// marks already written; most stretches hold none).
    fn marks_below(&self, end: usize) -> usize {
        let m = self.marks.unwrap_or(&[]);
        let mut k = self.marked.len();
        while k < m.len() && (m[k] as usize) < end {
            k += 1;
        }
        k
    }

    /// Bars `bars` all at `value`.
    fn fill(&mut self, a: usize, b: usize, value: f64) {
        if a >= b {
            return;
        }
        if a == 0 {
            self.first = value;
        }
        if self.marks.is_none() {
            self.all.resize(b, value);
        } else {
            let upto = self.marks_below(b);
            self.marked.resize(upto, value);
        }
        if b == self.n {
            self.last = value;
        }
    }

    /// Bar `k` at `value`.
    fn one(&mut self, k: usize, value: f64) {
        self.fill(k, k + 1, value);
    }

    /// Bars `bars` at the broker's unchanged position.
    fn constant(&mut self, bars: Range<usize>, broker: &Broker<'_>, close: &[f64]) {
        let Some(p) = broker.pos else {
            self.fill(bars.start, bars.end, broker.cash);
            return;
        };
        if bars.is_empty() {
            return;
        }
        let (cash, units, entry) = (broker.cash, p.units, p.entry);
        // The bar loop's `Broker::equity`, operation by operation.
        let eq = |c: f64| cash + (c * units - units * entry);
        if bars.start == 0 {
            self.first = eq(close[0]);
        }
        match self.marks {
            None => self.all.extend(close[bars.clone()].iter().map(|&c| eq(c))),
            Some(m) => {
                let upto = self.marks_below(bars.end);
                for k in self.marked.len()..upto {
                    self.marked.push(eq(close[m[k] as usize]));
                }
            }
        }
        if bars.end == self.n {
            self.last = eq(close[self.n - 1]);
        }
    }

    /// Overwrites the last bar's value (the end-of-data re-mark).
    fn remark_last(&mut self, value: f64) {
        self.last = value;
        let last = self.n - 1;
        match self.marks {
            None => self.all[last] = value,
            Some(m) => {
                let written = self.marked.len() == m.len();
                if let (Some(&k), Some(v)) = (m.last(), self.marked.last_mut())
                    && written
                    && k as usize == last
                {
                    *v = value;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::candles::HOUR_MS;
    use crate::engine::{Entry, PositionView, Sizing, StopPolicy, bar_loop};

    /// Position-independent scripted signals: a fixed action per bar.
    struct Script {
        warmup: usize,
        at: Vec<Action>,
    }

    impl Signals for Script {
        fn warmup(&self) -> usize {
            self.warmup
        }
        fn decide(&mut self, i: usize, _position: &PositionView) -> Action {
            self.at[i]
        }
        fn scan(&mut self, bars: Range<usize>, out: &mut Vec<(usize, Action)>) -> bool {
            out.extend(
                bars.filter(|&i| self.at[i] != Action::Hold)
                    .map(|i| (i, self.at[i])),
            );
            true
        }
    }

    /// xorshift64*: a small seeded generator for the scripts.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> f64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64
        }
    }

    /// Hourly bars of a random walk with steps up to ±`step` (a large step makes shorts run out of
    /// money).
    fn walk(n: usize, seed: u64, step: f64) -> Candles {
        let mut rng = Rng(seed);
        let mut c = Candles::default();
        let mut price = 100.0;
        for i in 0..n {
            let open = price;
            price *= 1.0 + step * (2.0 * rng.next() - 1.0);
            let (hi, lo) = (open.max(price), open.min(price));
            c.ts.push(1_600_000_000_000 + i as i64 * HOUR_MS);
            c.open.push(open);
            c.close.push(price);
            c.high.push(hi * (1.0 + step * rng.next() / 2.0));
            c.low.push(lo * (1.0 - step * rng.next() / 2.0));
            c.volume.push(1.0);
        }
        c
    }

    /// Random entries (some with a stop and a target around the deciding close) and exits.
    fn script(c: &Candles, seed: u64, warmup: usize, levels: bool) -> Script {
        let mut rng = Rng(seed);
        let at = (0..c.len())
            .map(|i| {
                let (x, close) = (rng.next(), c.close[i]);
                let side = if rng.next() < 0.5 {
                    Entry::long()
                } else {
                    Entry::short()
                };
                let s = side.side.sign();
                match x {
                    x if x < 0.04 => Action::Enter(side),
                    x if x < 0.06 && levels => Action::Enter(
                        side.with_stop(close * (1.0 - s * 0.03))
                            .with_target(close * (1.0 + s * 0.05)),
                    ),
                    // Screened out when decided: a stop on the wrong side, a size of 0.
                    x if x < 0.065 && levels => {
                        Action::Enter(side.with_stop(close * (1.0 + s * 0.01)))
                    }
                    x if x < 0.07 => {
                        Action::Enter(side.with_size(if x < 0.0675 { 0.0 } else { 2.0 }))
                    }
                    x if x < 0.08 => Action::Exit,
                    _ => Action::Hold,
                }
            })
            .collect();
        Script { warmup, at }
    }

    fn configs() -> Vec<BacktestConfig> {
        let mut out = Vec::new();
        for fill in [Fill::NextOpen, Fill::Close] {
            for close_at_end in [false, true] {
                for (k, sizing) in [
                    Sizing::All,
                    Sizing::Fraction,
                    Sizing::Units(3.0),
                    Sizing::PctEquity(50.0),
                    Sizing::RiskPct(2.0),
                ]
                .into_iter()
                .enumerate()
                {
                    let policies = [
                        StopPolicy::Pessimistic,
                        StopPolicy::Optimistic,
                        StopPolicy::Reference,
                    ];
                    out.push(BacktestConfig {
                        cash: 1000.0,
                        commission: 0.001,
                        spread: 0.0005,
                        fill,
                        close_at_end,
                        sizing,
                        stop_policy: policies[k % 3],
                    });
                }
            }
        }
        out
    }

    #[test]
    fn event_runs_equal_the_bar_loop_bit_for_bit() {
        let (mut ruined, mut screened) = (0, 0);
        for (seed, step, n) in [
            (1, 0.01, 600),
            (2, 0.08, 400),
            (3, 0.2, 300),
            (5, 0.3, 300),
            (4, 0.01, 3),
        ] {
            let c = walk(n, seed, step);
            let range = CloseRange::of(&c.close);
            // Marks: the last bar of every 24 (a day of hourly bars) and the last bar.
            let marks: Vec<f64> = (0..n)
                .filter(|i| i % 24 == 23 || i + 1 == n)
                .map(|i| i as f64)
                .collect();
            for cfg in configs() {
                for (k, warmup) in [0, 5, n + 2].into_iter().enumerate() {
                    let mut s = script(&c, seed * 31 + k as u64, warmup, k != 1);
                    let want = bar_loop::run(&c, &mut s, &cfg).unwrap();
                    let all = run(&c, &mut s, &cfg, Marks::All, range, Vec::new())
                        .unwrap()
                        .unwrap();
                    let what = format!("seed {seed} warmup {warmup} {cfg:?}");
                    assert_eq!(format!("{:?}", all.run), format!("{want:?}"), "{what}");
                    assert_eq!(all.equity_last.to_bits(), want.equity[n - 1].to_bits());
                    // Written into the first run's log: a reused log starts empty.
                    let log = all.run.trades.clone();
                    let at = run(&c, &mut s, &cfg, Marks::At(&marks), range, log)
                        .unwrap()
                        .unwrap();
                    let gathered: Vec<f64> =
                        marks.iter().map(|&k| want.equity[k as usize]).collect();
                    assert_eq!(
                        format!("{:?}", at.marked),
                        format!("{gathered:?}"),
                        "{what}"
                    );
                    assert_eq!(format!("{:?}", at.run.trades), format!("{:?}", want.trades));
                    assert!(at.run.equity.is_empty());
                    assert_eq!(at.equity_last.to_bits(), want.equity[n - 1].to_bits());
                    assert_eq!(at.equity_first.to_bits(), want.equity[0].to_bits());
                    ruined += usize::from(want.out_of_money_bar.is_some());
                    screened += want.cancelled_orders;
                }
            }
        }
        // The walks with large steps do run out of money: the ruin rules are exercised.
        assert!(ruined >= 5 && screened > 100, "{ruined} {screened}");
    }

    #[test]
    fn signals_without_scan_are_refused() {
        struct Plain;
        impl Signals for Plain {
            fn warmup(&self) -> usize {
                0
            }
            fn decide(&mut self, _i: usize, _p: &PositionView) -> Action {
                Action::Hold
            }
        }
        let c = walk(10, 1, 0.01);
        let cfg = BacktestConfig::default();
        let r = run(
            &c,
            &mut Plain,
            &cfg,
            Marks::All,
            CloseRange::of(&c.close),
            Vec::new(),
        )
        .unwrap();
        assert!(r.is_none());
    }
}
