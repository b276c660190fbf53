//! `paper-trade run`: one cycle per newly closed bar of every selected playbook, in time order, each
//! cycle one transaction (its fills, its orders, its log rows): a `kill -9` leaves the state before or
//! after a cycle, and a rerun continues with the next bar. Indicators are prepared once per run over
//! the stored history — the no-look-ahead contract (`decide(i)` reads bars `0..=i` only) makes that
//! exactly what preparing them at every bar would give.
//!
//! A cycle, for playbook P at bar i (closed): Supervisor (state, emergency, mode) → the paper broker
//! matches bar i (fills of earlier orders, brackets) → Strategy (the decision at i's close, seeing
//! P's paper position) → Risk (size, protect) → Supervisor again (a halt recorded meanwhile stops
//! here) → Execution (place at i's close) → the log. The cursor is the log itself: P's last cycle.

use chrono::{DateTime, Utc};
use rusqlite::Transaction;
use serde::Serialize;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::log::{self, NewCycle, NewDecision, NewMessage};
use super::risk_stage::{Proposal, RiskDesk};
use super::settings::Selected;
use super::stages::{self, Instruction, Venue};
use super::state::TradingState;
use crate::candles::{Candles, Store, TimeRange};
use crate::db::Db;
use crate::engine::{PositionView, Signals};
use crate::error::{Error, Result};
use crate::execution::{Desk, Instruments, MarketBars, Processor};
use crate::indicators::IndicatorCache;
use crate::paper::{FillModel, PaperBroker, close_time, closed_bars};
use crate::risk::Limits;
use crate::strategy;

/// What a run needs besides the playbooks.
#[derive(Debug, Clone)]
pub struct RunSettings<'a> {
    /// Effective risk limits.
    pub limits: Limits,
    /// `[instruments.*]`.
    pub instruments: &'a Instruments,
    /// The paper fill model (`[paper]`).
    pub model: FillModel,
    /// The clock: bars closed by now are decided.
    pub now_ms: i64,
    /// A file whose presence asks a running run to halt (`paper-trade halt` writes it before it
    /// records the state, which must wait for the database while a run holds it).
    pub halt_request: Option<std::path::PathBuf>,
}

/// What one playbook did in a run.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PlaybookRun {
    /// Name.
    pub playbook: String,
    /// Cycles run (new closed bars decided).
    pub cycles: usize,
    /// Entry proposals.
    pub entries: usize,
    /// Orders submitted (autonomous).
    pub submitted: usize,
    /// Recommendations recorded (guide).
    pub recommended: usize,
    /// Entries refused or denied by the Risk stage or the validator, or blocked by the state.
    pub denied: usize,
    /// Exit orders.
    pub exits: usize,
    /// Bars stored behind the playbook's last decided bar after it was decided (a late write into the
    /// store): a run only goes forward, so they are never decided; reported, not acted on.
    pub late_bars: usize,
}

/// What a run did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RunReport {
    /// The run's log id (none when there was nothing to do).
    pub run_id: Option<i64>,
    /// Per playbook.
    pub playbooks: Vec<PlaybookRun>,
    /// Cycles in all.
    pub cycles: usize,
    /// Fills the paper broker made.
    pub fills: usize,
    /// Why the run stopped early: the trading state is halted.
    pub halted: Option<String>,
    /// Late bars of every playbook (see [`PlaybookRun::late_bars`]).
    pub late_bars: usize,
}

/// A playbook ready to cycle: its closed bars, prepared signals and where it resumes.
struct Lane<'c> {
    sel: &'c Selected,
    candles: &'c Candles,
    signals: Box<dyn Signals + 'c>,
    next: usize,
    hash: [u8; 32],
    hashed: usize,
    lot_size: f64,
    /// The book's position as of the last settle with fills (`None`: read it again).
    view: Option<PositionView>,
    /// The market may have something to match: a position, or an order placed since the last settle.
    busy: bool,
    /// Bars stored behind the last decided bar since it was decided.
    late: usize,
}

impl Lane<'_> {
    /// The chained data hash through bar `i`: h(−1) = 0…0, h(k) = sha256(h(k − 1) ‖ bar k).
    fn data_hash(&mut self, i: usize) -> String {
        while self.hashed <= i {
            let b = self.candles.bar(self.hashed);
            let mut h = Sha256::new();
            h.update(self.hash);
            for v in [b.open, b.high, b.low, b.close, b.volume] {
                h.update(v.to_le_bytes());
            }
            h.update(b.ts.to_le_bytes());
            self.hash = h.finalize().into();
            self.hashed += 1;
        }
        crate::hex::hex(&self.hash)
    }
}

/// Loads each playbook's closed bars by `now_ms`.
pub fn load_bars(store: &Store, selected: &[Selected], now_ms: i64) -> Result<Vec<Candles>> {
    selected
        .iter()
        .map(|s| {
            let all = store.load(s.symbol(), s.interval, &TimeRange::ALL)?;
            Ok(closed_bars(&all, s.interval, now_ms))
        })
        .collect()
}

/// Runs the cycles of every bar of `bars` (one series per playbook of `selected`) not decided yet.
pub fn run(
    db: &mut Db,
    selected: &[Selected],
    bars: &[Candles],
    caches: &[IndicatorCache],
    settings: &RunSettings<'_>,
) -> Result<RunReport> {
    let mut lanes = lanes(db, selected, bars, caches, settings)?;
    let mut report = RunReport {
        playbooks: selected
            .iter()
            .map(|s| PlaybookRun {
                playbook: s.name.clone(),
                ..PlaybookRun::default()
            })
            .collect(),
        ..RunReport::default()
    };
    for (p, lane) in report.playbooks.iter_mut().zip(&lanes) {
        p.late_bars = lane.late;
        report.late_bars += lane.late;
    }
    let order = schedule(&lanes);
    if order.is_empty() {
        // Nothing to cycle, but a halted state is still reported (exit 3 under cron), so a halt is
        // never silent just because no bar closed; nothing is written.
        let sup = db.read(stages::supervise)?;
        if sup.state == TradingState::Halted {
            report.halted = sup.reason.or(Some("halted".into()));
        }
        return Ok(report);
    }
    let names: Vec<&str> = selected.iter().map(|s| s.name.as_str()).collect();
    let now_ms = settings.now_ms;
    let (run_id, sup) = db.write(|tx| {
        let sup = stages::supervise(tx)?;
        let id = log::open_run(tx, now_ms, sup.mode.as_str(), &names)?;
        if sup.state == TradingState::Halted {
            log::Writer::new(tx, id)?.message(None, &halt_message(&sup.reason), now_ms)?;
        }
        Ok((id, sup))
    })?;
    report.run_id = Some(run_id);
    if sup.state == TradingState::Halted {
        report.halted = sup.reason.or(Some("halted".into()));
        return Ok(report);
    }
    let mut broker = PaperBroker::new(settings.model.clone());
    let mut processor = Processor::new(
        &mut broker,
        settings.limits,
        settings.instruments.clone(),
        now_ms,
    );
    let mut next = 0;
    while next < order.len() && report.halted.is_none() {
        let group = db.write(|tx| {
            group(
                tx,
                &mut processor,
                &mut lanes,
                &order[next..],
                run_id,
                settings,
            )
        })?;
        next += group.len();
        for (k, end) in group {
            match end {
                CycleEnd::Halted(why) => report.halted = Some(why),
                CycleEnd::Done(tally) => {
                    report.cycles += 1;
                    report.fills += tally.fills;
                    report.playbooks[k].cycles += 1;
                    tally.add_to(&mut report.playbooks[k]);
                }
            }
        }
    }
    Ok(report)
}

/// Cycles committed together: until one places an order or the group has run for
/// [`GROUP_BUDGET`] — whole cycles only, so a `kill -9` still leaves the state before or after a
/// cycle, and a halt recorded by another process (which waits for this transaction) takes effect
/// within the budget. One transaction per cycle cost 0.2 ms of CPU and far more wall time per bar.
fn group(
    tx: &Transaction<'_>,
    processor: &mut Processor<'_>,
    lanes: &mut [Lane<'_>],
    order: &[(usize, usize)],
    run_id: i64,
    settings: &RunSettings<'_>,
) -> Result<Vec<(usize, CycleEnd)>> {
    let clock = std::time::Instant::now();
    let w = &mut log::Writer::new(tx, run_id)?;
    let mut sup = stages::supervise(tx)?;
    if let Some(why) = requested_halt(settings) {
        sup.state = TradingState::Halted;
        sup.reason = Some(why);
    }
    let skip = super::health::health(tx)?
        .iter()
        .any(|h| h.stage == "execution" && h.unhealthy());
    let mut out = Vec::new();
    for &(k, i) in order {
        let end = if let Some(why) = halted(w, &sup, settings.now_ms)? {
            CycleEnd::Halted(why)
        } else {
            cycle(tx, processor, &mut lanes[k], i, w, (&sup, skip), settings)?
        };
        let stop = match &end {
            CycleEnd::Halted(_) => true,
            CycleEnd::Done(t) => t.submitted + t.recommended + t.exits + t.fills > 0,
        };
        out.push((k, end));
        if stop || clock.elapsed() >= GROUP_BUDGET {
            break;
        }
    }
    Ok(out)
}

/// The reason in the halt request file, when there is one. SQLite's lock is not fair — a `halt`
/// waiting for it could wait out a long catch-up run — so a halt asks through a file first.
fn requested_halt(settings: &RunSettings<'_>) -> Option<String> {
    let path = settings.halt_request.as_ref()?;
    let text = std::fs::read_to_string(path).ok()?;
    Some(format!("halt requested: {}", text.trim()))
}

/// How long one transaction of cycles may run.
const GROUP_BUDGET: std::time::Duration = std::time::Duration::from_millis(50);

fn halt_message(reason: &Option<String>) -> NewMessage {
    NewMessage {
        sender: "supervisor",
        recipient: "*",
        kind: "halt",
        priority: "critical",
        correlation_id: None,
        body: json!({"reason": reason}),
    }
}

fn lanes<'c>(
    db: &mut Db,
    selected: &'c [Selected],
    bars: &'c [Candles],
    caches: &'c [IndicatorCache],
    settings: &RunSettings<'_>,
) -> Result<Vec<Lane<'c>>> {
    let mut out = Vec::with_capacity(selected.len());
    for ((sel, candles), cache) in selected.iter().zip(bars).zip(caches) {
        let s = strategy::lookup(&sel.playbook.strategy.name)?;
        let params = strategy::resolve_params(s, &sel.playbook.strategy.params.to_overrides())
            .map_err(|e| {
                Error::invalid(format!("{}: [strategy.params]: {e}", sel.path.display()))
            })?;
        let signals = s.prepare(candles, &params, cache)?;
        let last = db.read(|tx| log::last_cycle(tx, &sel.name))?;
        let first = signals.warmup() + 1;
        let after = last
            .as_ref()
            .map_or(0, |(t, ..)| candles.ts.partition_point(|&x| x <= *t));
        let (hash, hashed) = resume_hash(candles, last.as_ref());
        // The last cycle decided bar `i`, then the (i + 1)-th bar: the store holds more bars up to
        // it now only when some were written behind it since (net of any removed from there).
        let late = last
            .as_ref()
            .map_or(0, |(_, i, _)| after.saturating_sub(i + 1));
        out.push(Lane {
            sel,
            candles,
            next: first.max(after),
            signals,
            hash,
            hashed,
            lot_size: settings.instruments.get(sel.symbol()).lot_size,
            view: None,
            busy: true,
            late,
        });
    }
    Ok(out)
}

/// Where the data hash chain resumes: after the last cycle's bar, from its logged hash, when that bar
/// is still at its index in the store (else from the first bar). Hashing 100 000 bars again at every
/// cron run would cost some 30 ms per playbook.
fn resume_hash(candles: &Candles, last: Option<&(i64, usize, String)>) -> ([u8; 32], usize) {
    let parse = |hex: &str| -> Option<[u8; 32]> {
        let mut out = [0u8; 32];
        for (k, b) in out.iter_mut().enumerate() {
            *b = u8::from_str_radix(hex.get(2 * k..2 * k + 2)?, 16).ok()?;
        }
        Some(out)
    };
    match last {
        Some((ts, i, hex)) if candles.ts.get(*i) == Some(ts) => match parse(hex) {
            Some(h) if hex.len() == 64 => (h, i + 1),
            _ => ([0; 32], 0),
        },
        _ => ([0; 32], 0),
    }
}

/// Every (playbook, bar) to decide, in bar time order (ties: playbook order).
fn schedule(lanes: &[Lane<'_>]) -> Vec<(usize, usize)> {
    let mut order: Vec<(i64, usize, usize)> = lanes
        .iter()
        .enumerate()
        .flat_map(|(k, l)| (l.next..l.candles.len()).map(move |i| (l.candles.ts[i], k, i)))
        .collect();
    order.sort_unstable();
    order.into_iter().map(|(_, k, i)| (k, i)).collect()
}

enum CycleEnd {
    Done(Tally),
    Halted(String),
}

#[derive(Default)]
struct Tally {
    fills: usize,
    entries: usize,
    submitted: usize,
    recommended: usize,
    denied: usize,
    exits: usize,
}

impl Tally {
    fn add_to(&self, pr: &mut PlaybookRun) {
        pr.entries += self.entries;
        pr.submitted += self.submitted;
        pr.recommended += self.recommended;
        pr.denied += self.denied;
        pr.exits += self.exits;
    }
}

fn time(ms: i64) -> Result<DateTime<Utc>> {
    DateTime::from_timestamp_millis(ms)
        .ok_or_else(|| Error::invalid(format!("time {ms} is out of range")))
}

/// One cycle of `lane` at bar `i`, inside `tx`, under the group's supervision `sup`.
fn cycle(
    tx: &Transaction<'_>,
    processor: &mut Processor<'_>,
    lane: &mut Lane<'_>,
    i: usize,
    w: &mut log::Writer<'_>,
    (sup, skip): (&stages::Supervision, bool),
    settings: &RunSettings<'_>,
) -> Result<CycleEnd> {
    let clock = std::time::Instant::now();
    let wall_ms = chrono::Utc::now().timestamp_millis();
    let mut phases: Vec<(&'static str, u64)> = vec![("initializing", 0)];
    let mut mark = |p: &'static str| phases.push((p, clock.elapsed().as_nanos() as u64));
    let fills = settle(tx, processor, lane, i, settings)?;
    mark("strategy_analysis");
    let view = lane.view.expect("settle reads the view");
    let close = lane.candles.close[i];
    let proposal = stages::strategy(&mut *lane.signals, i, &view, close);
    mark("risk_validation");
    let (equity, disabled) = match proposal {
        Proposal::Enter { .. } => match stages::disabled_budget(tx, &lane.sel.name)? {
            Some(why) => (view.equity, Some(why)),
            None => (equity(tx, settings)?, None),
        },
        _ => (view.equity, None),
    };
    let desk = RiskDesk {
        limits: &settings.limits,
        rule: &lane.sel.rule,
        lot_size: lane.lot_size,
    };
    let (instruction, risk_decision) =
        stages::risk(&desk, &proposal, sup.state, (equity, disabled.as_deref()));
    // Closes the broker just made may have tripped the emergency: the Supervisor looks again before
    // the Execution stage (nothing else can write while this transaction is open).
    if fills > 0 {
        let again = stages::supervise(tx)?;
        if let Some(why) = halted(w, &again, settings.now_ms)? {
            return Ok(CycleEnd::Halted(why));
        }
    }
    mark("execution");
    let executed = execute(tx, lane, i, &instruction, &proposal, (settings, skip))?;
    mark("completed");
    let mut tally = Tally {
        fills,
        ..Tally::default()
    };
    let outcome = outcome(
        &proposal,
        &instruction,
        &risk_decision,
        executed.as_ref(),
        &mut tally,
    );
    lane.busy |= executed.is_some();
    let record = Record {
        proposal: &proposal,
        outcome: &outcome,
        risk: risk_decision,
        executed,
        phases: &phases,
        mode: sup.mode.as_str(),
        state: sup.state,
        wall_ms,
    };
    write(w, lane, i, settings.now_ms, record)?;
    Ok(CycleEnd::Done(tally))
}

/// The Execution stage for the lane's playbook at bar `i`'s close, inside a savepoint: a failure is
/// rolled back to it and recorded as the stage's error (counted by `paper-trade health`), and the run
/// goes on. While the stage is unhealthy the Supervisor skips it (recorded).
fn execute(
    tx: &Transaction<'_>,
    lane: &Lane<'_>,
    i: usize,
    instruction: &Instruction,
    proposal: &Proposal,
    ctx: (&RunSettings<'_>, bool),
) -> Result<Option<NewDecision>> {
    let (settings, skip) = ctx;
    if matches!(instruction, Instruction::Nothing) {
        return Ok(None);
    }
    let note = |decision: &str, reason: String| NewDecision {
        stage: "execution",
        decision: decision.into(),
        reason,
        detail: None,
        risk_decision_id: None,
        order_id: None,
    };
    if skip {
        let why = "the supervisor skips the execution stage: it failed in more than half of its last cycles";
        return Ok(Some(note("skipped", why.into())));
    }
    let bar_ms = lane.candles.ts[i];
    let desk = Desk {
        limits: settings.limits,
        instruments: settings.instruments,
        latency_ms: settings.model.latency_ms,
        initial_balance: settings.model.initial_balance,
    };
    let venue = Venue {
        desk: &desk,
        book: &lane.sel.name,
        symbol: lane.sel.symbol(),
        interval: lane.sel.interval,
        bar_ms,
    };
    let decided_at = time(close_time(lane.sel.interval, bar_ms))?;
    tx.execute_batch("SAVEPOINT agents_execution")?;
    match stages::execute(tx, &venue, instruction, proposal, decided_at) {
        Ok(x) => {
            tx.execute_batch("RELEASE agents_execution")?;
            Ok(x)
        }
        Err(e) => {
            tx.execute_batch("ROLLBACK TO agents_execution; RELEASE agents_execution")?;
            Ok(Some(note("error", e.to_string())))
        }
    }
}

/// When the supervisor found the state halted: the broadcast HALT message and the reason.
fn halted(
    w: &mut log::Writer<'_>,
    sup: &stages::Supervision,
    now_ms: i64,
) -> Result<Option<String>> {
    if sup.state != TradingState::Halted {
        return Ok(None);
    }
    w.message(None, &halt_message(&sup.reason), now_ms)?;
    Ok(Some(sup.reason.clone().unwrap_or_else(|| "halted".into())))
}

/// The paper broker matches the lane's market up to and including bar `i`, when it may have
/// something to match (a position, or an order placed since); the book's view is read again after
/// fills. Returns the fills.
fn settle(
    tx: &Transaction<'_>,
    processor: &mut Processor<'_>,
    lane: &mut Lane<'_>,
    i: usize,
    settings: &RunSettings<'_>,
) -> Result<usize> {
    let mut fills = 0;
    if lane.busy {
        let market = [MarketBars {
            symbol: lane.sel.symbol(),
            interval: lane.sel.interval,
            candles: lane.candles,
        }];
        loop {
            let step = processor.step(tx, &market, lane.candles.ts[i], settings.now_ms)?;
            fills += step.fills;
            if step.done {
                break;
            }
        }
    }
    if fills > 0 || lane.view.is_none() {
        lane.view = Some(position_view(tx, lane, i, settings)?);
    }
    // Idle once flat with no order of the book working: positions come only from fills.
    let flat = lane.view.is_some_and(|v| v.is_flat());
    lane.busy = !flat || (lane.busy && working(tx, lane)?);
    Ok(fills)
}

/// Whether the lane's book has an order working in its market.
fn working(tx: &Transaction<'_>, lane: &Lane<'_>) -> Result<bool> {
    let sql = format!(
        "SELECT EXISTS (SELECT 1 FROM paper_orders WHERE symbol = ?1 AND interval = ?2 AND strategy = ?3
                        AND state IN {})",
        crate::execution::OrderState::WORKING_SQL
    );
    let args = (
        lane.sel.symbol(),
        lane.sel.interval.as_str(),
        lane.sel.name.as_str(),
    );
    Ok(tx.prepare_cached(&sql)?.query_row(args, |r| r.get(0))?)
}

/// The account's equity (the initial balance before the account opens).
fn equity(tx: &Transaction<'_>, settings: &RunSettings<'_>) -> Result<f64> {
    Ok(crate::paper::account::account(tx, settings.instruments)?
        .map_or(settings.model.initial_balance, |a| a.equity))
}

/// The playbook's paper position as the strategy sees it, with the account's equity at this read
/// (between reads the view keeps it: sizing reads the equity afresh for every entry).
fn position_view(
    tx: &Transaction<'_>,
    lane: &Lane<'_>,
    i: usize,
    settings: &RunSettings<'_>,
) -> Result<PositionView> {
    let inst = settings.instruments;
    let equity = equity(tx, settings)?;
    let interval = lane.sel.interval.as_str();
    let pos = crate::paper::account::positions(tx, inst)?
        .into_iter()
        .find(|p| {
            p.symbol == lane.sel.symbol() && p.interval == interval && p.strategy == lane.sel.name
        });
    Ok(match pos {
        None => PositionView {
            equity,
            ..PositionView::default()
        },
        Some(p) => PositionView {
            units: p.side.sign() * p.quantity,
            entry_price: p.entry_price,
            entry_bar: lane.candles.ts.binary_search(&p.opened_ms).unwrap_or(i),
            equity,
        },
    })
}

/// The cycle's outcome in a few words, counted into `tally`.
fn outcome(
    proposal: &Proposal,
    instruction: &Instruction,
    risk: &NewDecision,
    executed: Option<&NewDecision>,
    tally: &mut Tally,
) -> String {
    if matches!(proposal, Proposal::Enter { .. }) {
        tally.entries += 1;
    }
    match (instruction, executed) {
        (Instruction::Nothing, _) if matches!(proposal, Proposal::Hold) => "hold".into(),
        (Instruction::Nothing, _) => {
            tally.denied += 1;
            format!("{}: {}", risk.decision, risk.reason)
        }
        (_, Some(x)) => {
            match (x.decision.as_str(), instruction) {
                (_, Instruction::Exit) => tally.exits += 1,
                ("submitted", _) => tally.submitted += 1,
                ("recommended", _) => tally.recommended += 1,
                ("denied", _) => tally.denied += 1,
                _ => {}
            }
            let order = x
                .order_id
                .map(|o| format!(" order {o}"))
                .unwrap_or_default();
            format!("{}{order}", x.decision)
        }
        (_, None) => "nothing executed".into(),
    }
}

/// What a cycle writes to the log.
struct Record<'a> {
    proposal: &'a Proposal,
    outcome: &'a str,
    risk: NewDecision,
    executed: Option<NewDecision>,
    phases: &'a [(&'static str, u64)],
    mode: &'a str,
    state: TradingState,
    wall_ms: i64,
}

/// Logs the cycle: the row, and for anything but a hold each stage's decision and the messages
/// (request → response correlated by the cycle's key).
fn write(
    w: &mut log::Writer<'_>,
    lane: &mut Lane<'_>,
    i: usize,
    now_ms: i64,
    r: Record<'_>,
) -> Result<()> {
    let hash = lane.data_hash(i);
    let proposal = serde_json::to_value(r.proposal).expect("a proposal serializes");
    let bar_ms = lane.candles.ts[i];
    let state = r.state.to_string();
    let c = NewCycle {
        playbook: &lane.sel.name,
        symbol: lane.sel.symbol(),
        interval: lane.sel.interval.as_str(),
        bar_ms,
        bar_index: i,
        data_hash: &hash,
        mode: r.mode,
        trading_state: &state,
        proposal: &proposal,
        outcome: r.outcome,
        phases: r.phases,
        wall_ms: r.wall_ms,
    };
    if matches!(r.proposal, Proposal::Hold) {
        return w.cycle(&c, &[], &[], now_ms).map(drop);
    }
    let strategy = NewDecision {
        stage: "strategy",
        decision: proposal["kind"].as_str().unwrap_or("?").to_string(),
        reason: format!(
            "{} decided at the close of bar {i}",
            lane.sel.playbook.strategy.name
        ),
        detail: Some(proposal.clone()),
        risk_decision_id: None,
        order_id: None,
    };
    let corr = Some(format!("{}:{bar_ms}", lane.sel.name));
    let msg = |sender, recipient, kind, body| NewMessage {
        sender,
        recipient,
        kind,
        priority: "normal",
        correlation_id: corr.clone(),
        body,
    };
    let mut messages = vec![
        msg("strategy", "risk", "request", proposal.clone()),
        msg(
            "risk",
            "strategy",
            "response",
            json!({"decision": r.risk.decision, "reason": r.risk.reason}),
        ),
    ];
    let mut decisions = vec![strategy, r.risk];
    if let Some(x) = r.executed {
        messages.push(msg(
            "risk",
            "execution",
            "command",
            json!({"instruction": x.decision}),
        ));
        messages.push(msg(
            "execution",
            "supervisor",
            "event",
            json!({"order_id": x.order_id, "decision": x.decision}),
        ));
        decisions.push(x);
    }
    w.cycle(&c, &decisions, &messages, now_ms).map(drop)
}
