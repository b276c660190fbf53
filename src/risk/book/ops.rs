//! The risk operations inside a caller's transaction: check, record a fill or a close, set the balance,
//! resets, re-enable, state and the audit log. Each takes `&Transaction`, so a caller can run several of
//! them — and its own writes (an order, a journal row) — as one all-or-nothing unit:
//!
//! ```no_run
//! # use flowrex::risk::{book::ops, Limits, TradeRequest};
//! # fn demo(db: &mut flowrex::db::Db, limits: &Limits, trade: &TradeRequest) -> flowrex::Result<()> {
//! let now = chrono::Utc::now();
//! db.write(|tx| {
//!     let decision = ops::check(tx, limits, trade, now)?;
//!     if decision.approved {
//!         // … place the order, then in the same transaction:
//!         ops::record_fill(tx, &trade.symbol, trade.strategy.as_ref(), now)?;
//!     }
//!     Ok(())
//! })?; // an error anywhere rolls back the check's audit row and the fill together
//! # Ok(()) }
//! ```
//!
//! Every write operation also writes its audit row in the same transaction. The clock is a parameter.
//!
//! What they refuse (bad input: an error, nothing written): amounts that are not finite or beyond
//! [`crate::risk::MAX_AMOUNT`], or that would take the balance beyond it; a stored state that is not finite
//! (only an older flowrex could write one; set the balance again); a close with no open position; a reset
//! of an emergency shutdown that is not on, or while the drawdown is still at its limit; a reset or re-enable
//! without a reason.

use chrono::{DateTime, Utc};
use rusqlite::{Transaction, params};
use serde_json::{Value, json};

use super::rows::{
    Audit, HOUR_MS, Walk, all_budgets, audit, budget, count_fills, ensure_budget, insert_trade,
    non_empty, note_change, note_limits, reseal, save_row, sealed_row, state_of, trip, ts_text,
};
use super::{AuditEntry, AuditKind, Decision, DecisionFilter, RecordOutcome, RiskState};
use crate::db::audit::Verification;
use crate::db::seal;
use crate::error::{Error, Result};
use crate::risk::amounts::{amount, number_text, positive_amount};
use crate::risk::limits::Limits;
use crate::risk::strategy_id::StrategyId;
use crate::risk::validator::{
    Snapshot, StrategyBudget, TradeRequest, drawdown_share, drawdown_trips, evaluate, fmt_num,
};

/// Validates `trade` at time `now`: every rule's verdict, an audit row, and — when the drawdown has
/// reached its limit — the emergency shutdown switched on. A malformed trade, or no equity to measure
/// against, is an error and nothing is recorded.
pub fn check(
    tx: &Transaction<'_>,
    limits: &Limits,
    trade: &TradeRequest,
    now: DateTime<Utc>,
) -> Result<Decision> {
    trade.validate()?;
    let mut row = sealed_row(
        tx,
        now,
        Walk::Counted,
        trade.strategy.as_ref().map(StrategyId::as_str),
    )?;
    row.check_finite()?;
    let equity = trade.equity.unwrap_or(row.balance);
    if equity.is_nan() || equity <= 0.0 {
        return Err(Error::invalid(
            "equity: no balance set; run `flowrex risk-check state --balance X` or pass --equity X",
        ));
    }
    let now_ms = now.timestamp_millis();
    let strategy = match &trade.strategy {
        Some(id) => Some(budget(tx, id.as_str())?.unwrap_or(StrategyBudget {
            strategy: id.to_string(),
            enabled: true,
            consecutive_losses: 0,
            disabled_reason: None,
        })),
        None => None,
    };
    let snap = Snapshot {
        emergency: row.emergency,
        emergency_reason: row.emergency_reason.clone(),
        equity,
        equity_peak: row.equity_peak,
        open_positions: row.open_positions.max(0) as u32,
        trades_today: count_fills(tx, row.day_started_ms, true, now_ms)?,
        trades_this_hour: count_fills(tx, now_ms - HOUR_MS, false, now_ms)?,
        day_start_balance: row.day_start_balance,
        daily_pnl: row.daily_pnl,
        strategy,
    };
    let verdicts = evaluate(trade, &snap, limits);
    let approved = verdicts.iter().all(|v| v.pass);
    let dd = drawdown_share(equity, row.equity_peak);
    let emergency_tripped =
        drawdown_trips(dd, limits) && trip(tx, &mut row, now, equity, limits, "check")?;
    save_row(tx, &row, now)?;
    reseal(tx, now, trade.strategy.as_ref().map(StrategyId::as_str))?;
    note_limits(tx, now, limits)?;
    let decision_id = audit(
        tx,
        now,
        Audit {
            symbol: Some(&trade.symbol),
            strategy: trade.strategy.as_ref().map(StrategyId::as_str),
            approved: Some(approved),
            reason: (!approved)
                .then(|| {
                    verdicts
                        .iter()
                        .filter(|v| !v.pass)
                        .map(|v| v.rule.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                })
                .as_deref(),
            inputs: json!({
                "trade": trade,
                "equity_source": if trade.equity.is_some() { "override" } else { "state" },
                "state": snap,
                "limits": limits,
            }),
            verdicts: serde_json::to_value(&verdicts).expect("verdicts serialize"),
            ..Audit::of(AuditKind::Check)
        },
    )?;
    Ok(Decision {
        approved,
        decision_id,
        emergency_tripped,
        equity,
        verdicts,
    })
}

/// Records a fill that opened a trade: one more trade today and this hour, one more open position.
pub fn record_fill(
    tx: &Transaction<'_>,
    symbol: &str,
    strategy: Option<&StrategyId>,
    now: DateTime<Utc>,
) -> Result<RecordOutcome> {
    let symbol = non_empty("symbol", symbol)?;
    let strategy = strategy.map(StrategyId::as_str);
    let mut row = sealed_row(tx, now, Walk::Head, strategy)?;
    insert_trade(tx, now, "fill", Some(symbol), strategy, None)?;
    if let Some(s) = strategy {
        ensure_budget(tx, s, now)?;
    }
    row.open_positions += 1;
    save_row(tx, &row, now)?;
    reseal(tx, now, strategy)?;
    Ok(RecordOutcome {
        state: state_of(tx, &row, now)?,
        emergency_tripped: false,
        strategy_disabled: None,
    })
}

/// Records a closed trade with its realized P&L: one fewer open position, balance, daily P&L, peak
/// and drawdown (reaching the limit trips the emergency shutdown), and the strategy's losing streak (a
/// loss adds one, a win resets it, reaching the limit disables the strategy). Refused when no position
/// is open, and when the P&L or the balance it leads to is not a finite amount within
/// [`crate::risk::MAX_AMOUNT`].
pub fn record_close(
    tx: &Transaction<'_>,
    limits: &Limits,
    symbol: Option<&str>,
    strategy: Option<&StrategyId>,
    pnl: f64,
    now: DateTime<Utc>,
) -> Result<RecordOutcome> {
    let pnl = amount("pnl", pnl)?;
    let symbol = symbol.map(|s| non_empty("symbol", s)).transpose()?;
    let strategy = strategy.map(StrategyId::as_str);
    let mut row = sealed_row(tx, now, Walk::Head, strategy)?;
    row.check_finite()?;
    if row.open_positions <= 0 {
        return Err(Error::invalid(
            "record close: no open position to close; record the fill that opened it first \
             (`flowrex risk-check record fill --symbol …`)",
        ));
    }
    let balance = row.balance + pnl;
    if amount("balance", balance).is_err() {
        return Err(Error::invalid(format!(
            "pnl: {} would take the balance from {} to {}, more than 1e15 in size",
            number_text(pnl),
            number_text(row.balance),
            number_text(balance)
        )));
    }
    insert_trade(tx, now, "close", symbol, strategy, Some(pnl))?;
    row.open_positions -= 1;
    row.balance = balance;
    row.daily_pnl += pnl;
    row.equity_peak = row.equity_peak.max(row.balance);
    let dd = drawdown_share(row.balance, row.equity_peak);
    let balance = row.balance;
    let emergency_tripped =
        drawdown_trips(dd, limits) && trip(tx, &mut row, now, balance, limits, "record")?;
    let mut strategy_disabled = None;
    if let Some(name) = strategy {
        ensure_budget(tx, name, now)?;
        let mut b = budget(tx, name)?.expect("budget row exists");
        if pnl < 0.0 {
            b.consecutive_losses += 1;
        } else if pnl > 0.0 {
            b.consecutive_losses = 0;
        }
        if b.enabled && b.consecutive_losses >= limits.max_consecutive_losses {
            let reason = format!(
                "{} consecutive losses, limit {}",
                b.consecutive_losses, limits.max_consecutive_losses
            );
            b.enabled = false;
            b.disabled_reason = Some(reason.clone());
            tx.execute(
                "UPDATE strategy_budgets SET disabled_ts = ?2 WHERE strategy = ?1",
                params![name, ts_text(now)],
            )?;
            audit(
                tx,
                now,
                Audit {
                    strategy: Some(name),
                    symbol,
                    reason: Some(&reason),
                    inputs: json!({"consecutive_losses": b.consecutive_losses, "last_pnl": pnl}),
                    ..Audit::of(AuditKind::StrategyDisabled)
                },
            )?;
            strategy_disabled = Some(name.to_string());
        }
        tx.execute(
                "UPDATE strategy_budgets SET enabled = ?2, consecutive_losses = ?3, disabled_reason = ?4,
                        updated_ts = ?5 WHERE strategy = ?1",
                params![name, b.enabled, b.consecutive_losses, b.disabled_reason, ts_text(now)],
            )?;
    }
    save_row(tx, &row, now)?;
    reseal(tx, now, strategy)?;
    if emergency_tripped || strategy_disabled.is_some() {
        note_limits(tx, now, limits)?;
    }
    Ok(RecordOutcome {
        state: state_of(tx, &row, now)?,
        emergency_tripped,
        strategy_disabled,
    })
}

/// The risk state at time `now` (today's figures rolled over if a new UTC day has begun).
pub fn state(tx: &Transaction<'_>, now: DateTime<Utc>) -> Result<RiskState> {
    let row = super::rows::roll_day(super::rows::load_row(tx)?, now);
    state_of(tx, &row, now)
}

/// Sets the balance (a deposit, a withdrawal, the first setup, or re-basing the account after a drawdown).
/// The peak and the day's starting balance restart from it — this is the only operation that moves the
/// peak other than a new high. Audited in `settings_audit`: the balance and the peak, each with its old
/// value and `reason`. A daily P&L that is not finite (written by an older flowrex) restarts at 0.
pub fn set_balance(
    tx: &Transaction<'_>,
    balance: f64,
    reason: Option<&str>,
    now: DateTime<Utc>,
) -> Result<RiskState> {
    let balance = positive_amount("balance", balance)?;
    let reason = reason.map(str::trim).filter(|r| !r.is_empty());
    let mut row = sealed_row(tx, now, Walk::Head, None)?;
    let (old_balance, old_peak) = (row.balance, row.equity_peak);
    row.balance = balance;
    row.equity_peak = balance;
    row.day_start_balance = balance;
    if !row.daily_pnl.is_finite() {
        row.daily_pnl = 0.0;
    }
    save_row(tx, &row, now)?;
    reseal(tx, now, None)?;
    let old = |v: f64| (v != 0.0).then(|| fmt_num(v));
    note_change(
        tx,
        now,
        "risk.balance",
        old(old_balance),
        &fmt_num(balance),
        reason,
    )?;
    if old_peak != balance {
        let peak = fmt_num(balance);
        note_change(tx, now, "risk.equity_peak", old(old_peak), &peak, reason)?;
    }
    state_of(tx, &row, now)
}

/// Switches the emergency shutdown off, audited with `reason`. Refused when it is not on (a reset must
/// never be a way to move anything else), and while the drawdown from the peak is still at the limit
/// (the next check would trip it again): re-basing the account is [`set_balance`], on purpose and
/// audited. The peak does not move.
pub fn reset_emergency(
    tx: &Transaction<'_>,
    limits: &Limits,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<RiskState> {
    let reason = non_empty("reason", reason)?;
    let mut row = sealed_row(tx, now, Walk::Head, None)?;
    if !row.emergency {
        return Err(Error::invalid(
            "reset-emergency: no emergency shutdown is active; nothing to reset",
        ));
    }
    let dd = drawdown_share(row.balance, row.equity_peak);
    if drawdown_trips(dd, limits) {
        return Err(Error::invalid(format!(
            "reset-emergency: the balance {} is still {:.2}% below its peak {} (the limit is {}%), so the \
             next check would trip the shutdown again; to go on from this balance, re-base the account \
             first with `flowrex risk-check state --balance X --reason TEXT` (audited), then reset",
            fmt_num(row.balance),
            dd * 100.0,
            fmt_num(row.equity_peak),
            fmt_num(limits.emergency_drawdown * 100.0)
        )));
    }
    let inputs = json!({
        "emergency_reason": row.emergency_reason,
        "emergency_since": row.emergency_ts,
        "balance": row.balance,
        "equity_peak": row.equity_peak,
        "drawdown_pct": dd * 100.0,
    });
    row.emergency = false;
    row.emergency_reason = None;
    row.emergency_ts = None;
    save_row(tx, &row, now)?;
    reseal(tx, now, None)?;
    audit(
        tx,
        now,
        Audit {
            reason: Some(reason),
            inputs,
            ..Audit::of(AuditKind::ResetEmergency)
        },
    )?;
    state_of(tx, &row, now)
}

/// Starts a new trading day now: daily P&L to zero, the day's starting balance to the balance, and
/// only trades from now on count as today's. Audited with `reason`, which is required.
pub fn reset_daily(tx: &Transaction<'_>, reason: &str, now: DateTime<Utc>) -> Result<RiskState> {
    let reason = non_empty("reason", reason)?;
    let mut row = sealed_row(tx, now, Walk::Head, None)?;
    let before = state_of(tx, &row, now)?;
    row.day_started_ms = now.timestamp_millis();
    row.day_start_balance = row.balance;
    row.daily_pnl = 0.0;
    save_row(tx, &row, now)?;
    reseal(tx, now, None)?;
    audit(
        tx,
        now,
        Audit {
            reason: Some(reason),
            inputs: json!({
                "daily_pnl_before": before.daily_pnl,
                "day_start_balance_before": before.day_start_balance,
                "trades_today_before": before.trades_today,
            }),
            ..Audit::of(AuditKind::ResetDaily)
        },
    )?;
    state_of(tx, &row, now)
}

/// Re-enables a strategy and clears its losing streak. Audited with `reason`.
pub fn enable_strategy(
    tx: &Transaction<'_>,
    name: &StrategyId,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<StrategyBudget> {
    let name = name.as_str();
    let reason = non_empty("reason", reason)?;
    sealed_row(tx, now, Walk::Head, Some(name))?;
    let Some(before) = budget(tx, name)? else {
        let known: Vec<String> = all_budgets(tx)?.into_iter().map(|b| b.strategy).collect();
        return Err(Error::invalid(format!(
            "strategy: no risk budget named '{name}' (known: {})",
            if known.is_empty() {
                "none".to_string()
            } else {
                known.join(", ")
            }
        )));
    };
    tx.execute(
        "UPDATE strategy_budgets SET enabled = 1, consecutive_losses = 0, disabled_reason = NULL,
                    disabled_ts = NULL, updated_ts = ?2 WHERE strategy = ?1",
        params![name, ts_text(now)],
    )?;
    reseal(tx, now, Some(name))?;
    audit(
        tx,
        now,
        Audit {
            strategy: Some(name),
            reason: Some(reason),
            inputs: json!({
                "was_enabled": before.enabled,
                "consecutive_losses_before": before.consecutive_losses,
                "disabled_reason": before.disabled_reason,
            }),
            ..Audit::of(AuditKind::EnableStrategy)
        },
    )?;
    Ok(budget(tx, name)?.expect("budget row exists"))
}

/// Disables a strategy's risk budget (creating the budget when it has none), so every check naming it is
/// rejected by the strategy-budget rule until [`enable_strategy`]. Audited with `reason` and `inputs`
/// (the evidence, e.g. the journal's feedback criteria). A strategy already disabled keeps its first
/// reason and nothing is written; the returned flag says whether this call disabled it.
pub fn disable_strategy(
    tx: &Transaction<'_>,
    name: &StrategyId,
    reason: &str,
    inputs: Value,
    now: DateTime<Utc>,
) -> Result<(StrategyBudget, Option<i64>)> {
    let name = name.as_str();
    let reason = non_empty("reason", reason)?;
    sealed_row(tx, now, Walk::Head, Some(name))?;
    let before = budget(tx, name)?;
    if let Some(b) = before.filter(|b| !b.enabled) {
        return Ok((b, None));
    }
    ensure_budget(tx, name, now)?;
    tx.execute(
        "UPDATE strategy_budgets SET enabled = 0, disabled_reason = ?2, disabled_ts = ?3, updated_ts = ?3
         WHERE strategy = ?1",
        params![name, reason, ts_text(now)],
    )?;
    reseal(tx, now, Some(name))?;
    let id = audit(
        tx,
        now,
        Audit {
            strategy: Some(name),
            reason: Some(reason),
            inputs,
            ..Audit::of(AuditKind::StrategyDisabled)
        },
    )?;
    Ok((budget(tx, name)?.expect("budget row exists"), Some(id)))
}

/// Accepts the live state as it is now after it was found changed outside flowrex (`verify` names the
/// change): seals it again and records, in `settings_audit` as `risk.state_seal`, what was found (the
/// old value), the new seal row and `reason`, which is required. Refused when the state matches its
/// seal. Returns how many rows it sealed again. It cannot mend a broken `risk_trades` chain: while a broken row is among the rows the counters
/// read, the gate stays closed.
pub fn reseal_state(tx: &Transaction<'_>, reason: &str, now: DateTime<Utc>) -> Result<usize> {
    let reason = non_empty("reason", reason)?;
    let Some(found) = seal::verify_state(tx)? else {
        return Err(Error::invalid(
            "reseal: the live state matches its seal; nothing to reseal",
        ));
    };
    let n = seal::seal_all(tx, now.timestamp_millis())?;
    note_change(
        tx,
        now,
        "risk.state_seal",
        Some(found.to_string()),
        &format!("{n} row(s) sealed again"),
        Some(reason),
    )?;
    Ok(n)
}

/// Recomputes the audit chains and checks their guard triggers ([`crate::db::audit::verify`]).
pub fn verify_audit(tx: &Transaction<'_>) -> Result<Verification> {
    crate::db::audit::verify(tx, crate::db::migrations::installed_trigger_sql)
}

/// The audit log, filtered; the newest `limit` rows, oldest first.
pub fn decisions(tx: &Transaction<'_>, filter: &DecisionFilter) -> Result<Vec<AuditEntry>> {
    let mut sql = String::from(
        "SELECT id, ts, kind, symbol, strategy, approved, reason, inputs, verdicts FROM risk_decisions WHERE 1 = 1",
    );
    let mut args: Vec<rusqlite::types::Value> = Vec::new();
    let mut push = |clause: &str, v: rusqlite::types::Value| {
        args.push(v);
        sql.push_str(&format!(" AND {clause} ?{}", args.len()));
    };
    if let Some(k) = filter.kind {
        push("kind =", k.as_str().to_string().into());
    }
    if let Some(s) = &filter.symbol {
        push("symbol =", s.clone().into());
    }
    if let Some(s) = &filter.strategy {
        // Rows written before migration 3 may hold another spelling of the name.
        push(
            "lower(trim(strategy, char(32, 9, 10, 12, 13))) =",
            s.as_str().to_string().into(),
        );
    }
    if let Some(a) = filter.approved {
        push("approved =", (a as i64).into());
    }
    if let Some(t) = filter.since_ms {
        push("ts_ms >=", t.into());
    }
    if let Some(t) = filter.until_ms {
        push("ts_ms <", t.into());
    }
    sql.push_str(" ORDER BY id DESC");
    if let Some(n) = filter.limit {
        sql.push_str(&format!(" LIMIT {n}"));
    }
    let mut stmt = tx.prepare(&sql)?;
    let rows = stmt.query_map(rusqlite::params_from_iter(args.iter()), |r| {
        let inputs: String = r.get(7)?;
        let verdicts: String = r.get(8)?;
        Ok(AuditEntry {
            id: r.get(0)?,
            ts: r.get(1)?,
            kind: r.get(2)?,
            symbol: r.get(3)?,
            strategy: r.get(4)?,
            approved: r.get(5)?,
            reason: r.get(6)?,
            inputs: serde_json::from_str(&inputs).unwrap_or(Value::String(inputs)),
            verdicts: serde_json::from_str(&verdicts).unwrap_or(Value::String(verdicts)),
        })
    })?;
    let mut out: Vec<AuditEntry> = rows.collect::<rusqlite::Result<_>>()?;
    out.reverse();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::db::Db;
    use crate::risk::Rule;
    use crate::risk::limits::HARD;
    use crate::trade::Side;

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 2, 10, 0, 0).unwrap()
    }

    /// Risk 0.5 × 1 × 100 = 50 on 10 000 (0.5%), R:R 2: passes every hard limit on a clean book.
    fn trade() -> TradeRequest {
        TradeRequest {
            symbol: "BTCUSD".into(),
            side: Side::Long,
            entry: 1000.0,
            stop: 900.0,
            target: 1200.0,
            size: 0.5,
            lot_size: 1.0,
            strategy: Some(s()),
            equity: None,
        }
    }

    fn s() -> StrategyId {
        StrategyId::parse("strategy", "s").unwrap()
    }

    fn state_and_log(db: &mut Db) -> (RiskState, Vec<AuditEntry>) {
        db.read(|tx| Ok((state(tx, t0())?, decisions(tx, &DecisionFilter::default())?)))
            .unwrap()
    }

    #[test]
    fn two_operations_in_one_caller_transaction_commit_or_roll_back_together() {
        let mut db = Db::open_in_memory().unwrap();
        db.write(|tx| set_balance(tx, 10_000.0, None, t0()).map(drop))
            .unwrap();

        // A fill and a check, then the caller's own step fails: neither is kept.
        let err = db
            .write(|tx| {
                record_fill(tx, "BTCUSD", Some(&s()), t0())?;
                assert!(check(tx, &HARD, &trade(), t0())?.approved);
                Err::<(), _>(Error::invalid("broker: order rejected"))
            })
            .unwrap_err();
        assert_eq!(err.to_string(), "broker: order rejected");
        let (st, log) = state_and_log(&mut db);
        assert_eq!((st.open_positions, st.trades_today), (0, 0));
        assert!(st.strategies.is_empty(), "{:?}", st.strategies);
        assert!(log.is_empty(), "{log:?}");

        // The same two operations committed: both are kept, and the check already saw the fill made
        // earlier in the same transaction: 1 open position and 1 trade today, so the verdicts count
        // 1 + this trade = 2.
        let d = db
            .write(|tx| {
                record_fill(tx, "BTCUSD", Some(&s()), t0())?;
                check(tx, &HARD, &trade(), t0())
            })
            .unwrap();
        assert_eq!(d.verdict(Rule::OpenPositions).value, 2.0);
        assert_eq!(d.verdict(Rule::TradesToday).value, 2.0);
        let (st, log) = state_and_log(&mut db);
        assert_eq!((st.open_positions, st.trades_today), (1, 1));
        assert_eq!(st.strategies.len(), 1);
        assert_eq!(log.len(), 1);
        assert_eq!(log[0].id, d.decision_id);
        assert_eq!(log[0].inputs["state"]["open_positions"], 1);
    }

    #[test]
    fn a_disabled_strategy_is_rejected_until_re_enabled_and_a_second_disable_writes_nothing() {
        let mut db = Db::open_in_memory().unwrap();
        db.write(|tx| set_balance(tx, 10_000.0, None, t0()).map(drop))
            .unwrap();
        let (b, id) = db
            .write(|tx| disable_strategy(tx, &s(), "feedback: 3 criteria", json!({"k": 1}), t0()))
            .unwrap();
        assert!(!b.enabled);
        assert_eq!(b.disabled_reason.as_deref(), Some("feedback: 3 criteria"));
        let d = db.write(|tx| check(tx, &HARD, &trade(), t0())).unwrap();
        assert!(!d.approved);
        assert!(!d.verdict(Rule::StrategyBudget).pass);
        // Already disabled: the first reason stays, no audit row.
        let (b2, id2) = db
            .write(|tx| disable_strategy(tx, &s(), "again", json!({}), t0()))
            .unwrap();
        assert_eq!(
            (b2.disabled_reason.as_deref(), id2),
            (Some("feedback: 3 criteria"), None)
        );
        let (_, log) = state_and_log(&mut db);
        let kinds: Vec<&str> = log.iter().map(|e| e.kind.as_str()).collect();
        assert_eq!(kinds, ["strategy_disabled", "check"]);
        assert_eq!(Some(log[0].id), id);
        assert_eq!(log[0].inputs["k"], 1);
        db.write(|tx| enable_strategy(tx, &s(), "fixed", t0()).map(drop))
            .unwrap();
        assert!(
            db.write(|tx| check(tx, &HARD, &trade(), t0()))
                .unwrap()
                .approved
        );
    }

    #[test]
    fn a_failing_second_operation_rolls_back_the_first() {
        let mut db = Db::open_in_memory().unwrap();
        db.write(|tx| set_balance(tx, 10_000.0, None, t0()).map(drop))
            .unwrap();
        // A fill and its close are recorded, then re-enabling an unknown strategy fails: both are undone.
        let err = db
            .write(|tx| {
                record_fill(tx, "BTCUSD", None, t0())?;
                record_close(tx, &HARD, Some("BTCUSD"), None, -100.0, t0())?;
                let nope = StrategyId::parse("strategy", "nope")?;
                enable_strategy(tx, &nope, "why not", t0())
            })
            .unwrap_err();
        assert!(
            err.to_string().contains("no risk budget named 'nope'"),
            "{err}"
        );
        let (st, _) = state_and_log(&mut db);
        assert_eq!(st.balance, 10_000.0);
        assert_eq!(st.daily_pnl, 0.0);
        assert_eq!(st.open_positions, 0);
    }
}
