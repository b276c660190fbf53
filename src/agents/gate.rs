//! `backtest --risk-gate`: the backtest's entries through the agents' Risk stage. [`RiskGate`] wraps a
//! strategy's signals: each entry is sized and protected as the Risk stage does it
//! ([`super::risk_stage`]) and checked by the risk validator against a risk book of its own (an
//! in-memory database) that the bar loop keeps up to date — positions opened, trades closed with
//! their net P&L — with the same calls, at the same bar times, as the paper ledger makes. An entry the
//! gate denies is skipped and counted with its reasons. So a gated backtest is what `paper-trade run`
//! does on the same bars with an exact fill model (slippage 0, latency 0, fill probability 1).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::risk_stage::{self, RiskDesk};
use crate::candles::{Candles, Interval};
use crate::db::Db;
use crate::engine::{Action, Entry, PositionEvent, PositionView, Signals};
use crate::error::{Error, Result};
use crate::risk::book::ops;
use crate::risk::sizing::SizingRule;
use crate::risk::{Limits, StrategyId};

/// What the gate let through and what it denied.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct GateReport {
    /// Entries the strategy proposed.
    pub proposed: usize,
    /// Entries approved (and passed to the bar loop).
    pub approved: usize,
    /// Entries denied (skipped).
    pub denied: usize,
    /// Denial reasons (a failed rule or a sizing refusal) with their counts, most frequent first.
    pub reasons: Vec<(String, usize)>,
}

/// The market and the book the gate trades in.
#[derive(Debug, Clone)]
pub struct GateMarket<'c> {
    /// Symbol.
    pub symbol: String,
    /// Bar series (decisions are timed at each bar's close).
    pub interval: Interval,
    /// The bars.
    pub candles: &'c Candles,
    /// The book (playbook or strategy name): the risk budget the checks use.
    pub book: String,
    /// The starting balance (the backtest's cash).
    pub cash: f64,
}

/// A strategy's signals with every entry through the Risk stage.
pub struct RiskGate<'a> {
    inner: Box<dyn Signals + 'a>,
    market: GateMarket<'a>,
    book: StrategyId,
    limits: Limits,
    rule: SizingRule,
    lot_size: f64,
    db: Db,
    balance_set: bool,
    report: GateReport,
    reasons: BTreeMap<String, usize>,
    error: Option<Error>,
}

impl<'a> RiskGate<'a> {
    /// A gate around `inner` with the effective `limits`, the playbook's `rule` and the instrument's
    /// `lot_size`.
    pub fn new(
        inner: Box<dyn Signals + 'a>,
        market: GateMarket<'a>,
        limits: Limits,
        rule: SizingRule,
        lot_size: f64,
    ) -> Result<RiskGate<'a>> {
        Ok(RiskGate {
            inner,
            book: StrategyId::parse("strategy", &market.book)?,
            market,
            limits,
            rule,
            lot_size,
            db: Db::open_in_memory()?,
            balance_set: false,
            report: GateReport::default(),
            reasons: BTreeMap::new(),
            error: None,
        })
    }

    /// The report, or the first error the risk book raised.
    pub fn finish(self) -> Result<GateReport> {
        if let Some(e) = self.error {
            return Err(e);
        }
        let mut report = self.report;
        let mut reasons: Vec<(String, usize)> = self.reasons.into_iter().collect();
        reasons.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        report.reasons = reasons;
        Ok(report)
    }

    fn time(&self, bar: usize, close: bool) -> Result<DateTime<Utc>> {
        let ts = self.market.candles.ts[bar];
        let ms = if close {
            self.market.interval.next_open(ts)
        } else {
            ts
        };
        DateTime::from_timestamp_millis(ms)
            .ok_or_else(|| Error::invalid(format!("bar {bar}: time {ms} is out of range")))
    }

    fn deny(&mut self, reasons: impl IntoIterator<Item = String>) -> Action {
        self.report.denied += 1;
        for r in reasons {
            *self.reasons.entry(r).or_default() += 1;
        }
        Action::Hold
    }

    /// The Risk stage on an entry decided at bar `i` with the backtest's equity at that close.
    fn gate(&mut self, i: usize, e: Entry, equity: f64) -> Result<Action> {
        self.report.proposed += 1;
        let reference = self.market.candles.close[i];
        let desk = RiskDesk {
            limits: &self.limits,
            rule: &self.rule,
            lot_size: self.lot_size,
        };
        let sized = match risk_stage::size(&desk, e.side, reference, (e.stop, e.target), equity) {
            Ok(s) => s,
            Err(r) => return Ok(self.deny([r.code().to_string()])),
        };
        let trade = risk_stage::trade_request(
            &self.market.symbol,
            self.book.as_str(),
            e.side,
            reference,
            &sized,
            self.lot_size,
            equity,
        )?;
        let now = self.time(i, true)?;
        let (cash, first) = (self.market.cash, !self.balance_set);
        let limits = self.limits;
        let decision = self.db.write(|tx| {
            if first {
                // The paper account opens (and sets the risk book's balance) at its first order.
                ops::set_balance(tx, cash, Some("first use"), now)?;
            }
            ops::check(tx, &limits, &trade, now)
        })?;
        self.balance_set = true;
        if !decision.approved {
            let failed: Vec<String> = decision.failed().map(|v| v.rule.as_str().into()).collect();
            return Ok(self.deny(failed));
        }
        self.report.approved += 1;
        Ok(Action::Enter(Entry {
            side: e.side,
            stop: Some(sized.stop),
            target: Some(sized.target),
            size: Some(sized.units),
        }))
    }

    fn record(&mut self, event: PositionEvent<'_>) -> Result<()> {
        let (limits, book, symbol) = (self.limits, self.book.clone(), self.market.symbol.clone());
        match event {
            PositionEvent::Opened { bar, .. } => {
                let now = self.time(bar, false)?;
                self.db
                    .write(|tx| ops::record_fill(tx, &symbol, Some(&book), now).map(drop))
            }
            PositionEvent::Closed(t) => {
                let now = self.time(t.exit_bar, false)?;
                self.db.write(|tx| {
                    ops::record_close(tx, &limits, Some(&symbol), Some(&book), t.pnl, now).map(drop)
                })
            }
        }
    }
}

impl Signals for RiskGate<'_> {
    fn warmup(&self) -> usize {
        self.inner.warmup()
    }

    fn decide(&mut self, i: usize, position: &PositionView) -> Action {
        let action = self.inner.decide(i, position);
        let Action::Enter(e) = action else {
            return action;
        };
        if self.error.is_some() {
            return Action::Hold;
        }
        self.gate(i, e, position.equity).unwrap_or_else(|err| {
            self.error = Some(err);
            Action::Hold
        })
    }

    fn on_position(&mut self, event: PositionEvent<'_>) {
        if self.error.is_none()
            && let Err(e) = self.record(event)
        {
            self.error = Some(e);
        }
    }
}
