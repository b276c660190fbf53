//! The risk book's SQL: the `risk_state` row, fill counts, strategy budgets, audit and settings rows.
//! Every function works inside a caller's transaction; [`super::ops`] composes them into operations.

use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::types::Value as SqlValue;
use rusqlite::{OptionalExtension, Transaction, params};
use serde_json::{Value, json};

use super::{AuditKind, RiskState};
use crate::db::{audit, seal};
use crate::error::{Error, Result};
use crate::risk::limits::Limits;
use crate::risk::validator::{StrategyBudget, drawdown_share, fmt_num};

/// One hour in milliseconds: the window of the trades-this-hour count.
pub(super) const HOUR_MS: i64 = 3_600_000;

#[derive(Debug, Clone)]
pub(super) struct StateRow {
    pub(super) balance: f64,
    pub(super) equity_peak: f64,
    pub(super) day: String,
    pub(super) day_started_ms: i64,
    pub(super) day_start_balance: f64,
    pub(super) daily_pnl: f64,
    pub(super) open_positions: i64,
    pub(super) emergency: bool,
    pub(super) emergency_reason: Option<String>,
    pub(super) emergency_ts: Option<String>,
}

impl StateRow {
    /// An error naming the first stored amount that is not finite. Only an older flowrex (or an edit)
    /// could have stored one, and an infinite balance switches the drawdown and daily-loss rules off,
    /// so nothing is checked or recorded against it until the balance is set again.
    pub(super) fn check_finite(&self) -> Result<()> {
        for (field, v) in [
            ("balance", self.balance),
            ("equity_peak", self.equity_peak),
            ("day_start_balance", self.day_start_balance),
            ("daily_pnl", self.daily_pnl),
        ] {
            if !v.is_finite() {
                return Err(Error::invalid(format!(
                    "risk state: {field} is {v}, not a finite number; set the balance again with \
                     `flowrex risk-check state --balance X --reason TEXT`"
                )));
            }
        }
        Ok(())
    }
}

pub(super) fn ts_text(now: DateTime<Utc>) -> String {
    now.to_rfc3339_opts(SecondsFormat::Millis, true)
}

pub(super) fn load_row(tx: &Transaction<'_>) -> Result<StateRow> {
    Ok(tx.query_row(
        "SELECT balance, equity_peak, day, day_started_ms, day_start_balance, daily_pnl, open_positions,
                emergency, emergency_reason, emergency_ts
         FROM risk_state WHERE id = 1",
        [],
        |r| {
            Ok(StateRow {
                balance: r.get(0)?,
                equity_peak: r.get(1)?,
                day: r.get(2)?,
                day_started_ms: r.get(3)?,
                day_start_balance: r.get(4)?,
                daily_pnl: r.get(5)?,
                open_positions: r.get(6)?,
                emergency: r.get(7)?,
                emergency_reason: r.get(8)?,
                emergency_ts: r.get(9)?,
            })
        },
    )?)
}

/// Which `risk_trades` rows [`sealed_row`] re-hashes besides the last one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Walk {
    /// Every row the trade counters may read (from the day's start or the hour's, whichever is
    /// earlier), found by the sealed counting window ([`seal::Window`]), which then moves to this
    /// check's start: for the check, which decides on the counts.
    Counted,
    /// Only the last row: for the records, resets and re-enables, which do not read the counts (the
    /// next check and `verify` re-hash the rest). They leave the window where it is: the rows they
    /// append take higher ids, so it still bounds every row that may count.
    Head,
}

/// The stored row with today's figures rolled to `now`, after the seal check ([`seal::check`]) over the
/// live state and the `risk_trades` rows `walk` names: every operation that decides on the state
/// starts here, so a state changed outside flowrex fails it closed.
pub(super) fn sealed_row(
    tx: &Transaction<'_>,
    now: DateTime<Utc>,
    walk: Walk,
    strategy: Option<&str>,
) -> Result<StateRow> {
    let rows = sealed_rows(strategy);
    let row = match load_row(tx) {
        Ok(row) => roll_day(row, now),
        Err(e) => {
            // A deleted state row: report it as the tampering it is.
            seal::check(tx, &rows)?;
            return Err(e);
        }
    };
    let now_ms = now.timestamp_millis();
    match walk {
        Walk::Counted => {
            // At or before the start of both counts (the day's start, and now − 1h for the hour's),
            // and the same all day while the clock is past the day's start: the sealed window then
            // moves once a day, not at every check of the day's first hour.
            let from = row.day_started_ms.min(now_ms) - HOUR_MS;
            let window = seal::check_counted(tx, &rows, from)?;
            seal::move_window(tx, window, now_ms)?;
        }
        Walk::Head => seal::check(tx, &rows)?,
    }
    Ok(row)
}

/// The sealed rows an operation on `strategy` reads and writes: the state row, the trades' head and the
/// strategy's budget.
fn sealed_rows(strategy: Option<&str>) -> Vec<seal::Row<'_>> {
    let mut rows = vec![seal::Row::RiskState, seal::Row::TradesHead];
    rows.extend(strategy.map(seal::Row::Budget));
    rows
}

/// Seals the rows an operation on `strategy` left ([`seal::reseal`]): the last step of every write.
pub(super) fn reseal(
    tx: &Transaction<'_>,
    now: DateTime<Utc>,
    strategy: Option<&str>,
) -> Result<()> {
    seal::reseal(tx, &sealed_rows(strategy), now.timestamp_millis())
}

/// Appends a `fill` or `close` row to the `risk_trades` chain.
pub(super) fn insert_trade(
    tx: &Transaction<'_>,
    now: DateTime<Utc>,
    kind: &str,
    symbol: Option<&str>,
    strategy: Option<&str>,
    pnl: Option<f64>,
) -> Result<()> {
    seal::RISK_TRADES.append(
        tx,
        &[
            now.timestamp_millis().into(),
            ts_text(now).into(),
            text(kind),
            symbol.map(text).unwrap_or(SqlValue::Null),
            strategy.map(text).unwrap_or(SqlValue::Null),
            pnl.map_or(SqlValue::Null, SqlValue::Real),
        ],
    )?;
    Ok(())
}

/// Starts a new day's figures when `now` is on a later UTC day than the stored one.
pub(super) fn roll_day(mut row: StateRow, now: DateTime<Utc>) -> StateRow {
    let today = now.date_naive().format("%Y-%m-%d").to_string();
    if row.day < today {
        let midnight = now
            .date_naive()
            .and_hms_opt(0, 0, 0)
            .expect("midnight exists")
            .and_utc();
        row.day = today;
        row.day_started_ms = midnight.timestamp_millis();
        row.day_start_balance = row.balance;
        row.daily_pnl = 0.0;
    }
    row
}

pub(super) fn save_row(tx: &Transaction<'_>, row: &StateRow, now: DateTime<Utc>) -> Result<()> {
    tx.execute(
        "UPDATE risk_state SET balance = ?1, equity_peak = ?2, day = ?3, day_started_ms = ?4,
                day_start_balance = ?5, daily_pnl = ?6, open_positions = ?7, emergency = ?8,
                emergency_reason = ?9, emergency_ts = ?10, updated_ts = ?11
         WHERE id = 1",
        params![
            row.balance,
            row.equity_peak,
            row.day,
            row.day_started_ms,
            row.day_start_balance,
            row.daily_pnl,
            row.open_positions,
            row.emergency,
            row.emergency_reason,
            row.emergency_ts,
            ts_text(now)
        ],
    )?;
    Ok(())
}

pub(super) fn count_fills(
    tx: &Transaction<'_>,
    after_ms: i64,
    inclusive: bool,
    now_ms: i64,
) -> Result<u32> {
    let sql = if inclusive {
        "SELECT count(*) FROM risk_trades WHERE kind = 'fill' AND ts_ms >= ?1 AND ts_ms <= ?2"
    } else {
        "SELECT count(*) FROM risk_trades WHERE kind = 'fill' AND ts_ms > ?1 AND ts_ms <= ?2"
    };
    let n: i64 = tx.query_row(sql, params![after_ms, now_ms], |r| r.get(0))?;
    Ok(n as u32)
}

pub(super) fn budget(tx: &Transaction<'_>, name: &str) -> Result<Option<StrategyBudget>> {
    Ok(tx
        .query_row(
            "SELECT strategy, enabled, consecutive_losses, disabled_reason
             FROM strategy_budgets WHERE strategy = ?1",
            [name],
            budget_from_row,
        )
        .optional()?)
}

pub(super) fn budget_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<StrategyBudget> {
    Ok(StrategyBudget {
        strategy: r.get(0)?,
        enabled: r.get(1)?,
        consecutive_losses: r.get::<_, i64>(2)? as u32,
        disabled_reason: r.get(3)?,
    })
}

pub(super) fn all_budgets(tx: &Transaction<'_>) -> Result<Vec<StrategyBudget>> {
    let mut stmt = tx.prepare(
        "SELECT strategy, enabled, consecutive_losses, disabled_reason
         FROM strategy_budgets ORDER BY strategy",
    )?;
    let rows = stmt.query_map([], budget_from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

pub(super) fn ensure_budget(tx: &Transaction<'_>, name: &str, now: DateTime<Utc>) -> Result<()> {
    tx.execute(
        "INSERT OR IGNORE INTO strategy_budgets (strategy, updated_ts) VALUES (?1, ?2)",
        params![name, ts_text(now)],
    )?;
    Ok(())
}

pub(super) fn state_of(
    tx: &Transaction<'_>,
    row: &StateRow,
    now: DateTime<Utc>,
) -> Result<RiskState> {
    let now_ms = now.timestamp_millis();
    let base = if row.day_start_balance > 0.0 {
        row.day_start_balance
    } else {
        row.balance
    };
    Ok(RiskState {
        balance: row.balance,
        equity_peak: row.equity_peak,
        drawdown_pct: drawdown_share(row.balance, row.equity_peak) * 100.0,
        day: row.day.clone(),
        day_start_balance: row.day_start_balance,
        daily_pnl: row.daily_pnl,
        daily_loss_pct: if base > 0.0 && row.daily_pnl < 0.0 {
            -row.daily_pnl / base * 100.0
        } else {
            0.0
        },
        open_positions: row.open_positions.max(0) as u32,
        trades_today: count_fills(tx, row.day_started_ms, true, now_ms)?,
        trades_this_hour: count_fills(tx, now_ms - HOUR_MS, false, now_ms)?,
        emergency: row.emergency,
        emergency_reason: row.emergency_reason.clone(),
        emergency_since: row.emergency_ts.clone(),
        strategies: all_budgets(tx)?,
    })
}

/// One audit row's fields (besides time).
pub(super) struct Audit<'a> {
    pub(super) kind: AuditKind,
    pub(super) symbol: Option<&'a str>,
    pub(super) strategy: Option<&'a str>,
    pub(super) approved: Option<bool>,
    pub(super) reason: Option<&'a str>,
    pub(super) inputs: Value,
    pub(super) verdicts: Value,
}

impl Audit<'_> {
    pub(super) fn of(kind: AuditKind) -> Audit<'static> {
        Audit {
            kind,
            symbol: None,
            strategy: None,
            approved: None,
            reason: None,
            inputs: json!({}),
            verdicts: json!([]),
        }
    }
}

/// Appends a row to the `risk_decisions` chain; returns its id.
pub(super) fn audit(tx: &Transaction<'_>, now: DateTime<Utc>, a: Audit<'_>) -> Result<i64> {
    audit::RISK_DECISIONS.append(
        tx,
        &[
            now.timestamp_millis().into(),
            ts_text(now).into(),
            text(a.kind.as_str()),
            a.symbol.map(text).unwrap_or(SqlValue::Null),
            a.strategy.map(text).unwrap_or(SqlValue::Null),
            a.approved
                .map_or(SqlValue::Null, |b| SqlValue::Integer(b as i64)),
            a.reason.map(text).unwrap_or(SqlValue::Null),
            a.inputs.to_string().into(),
            a.verdicts.to_string().into(),
        ],
    )
}

fn text(s: &str) -> SqlValue {
    SqlValue::Text(s.to_string())
}

/// Appends a `settings_audit` row when `setting` differs from its last recorded value.
fn note_setting(
    tx: &Transaction<'_>,
    now: DateTime<Utc>,
    setting: &str,
    value: &str,
) -> Result<()> {
    let old: Option<String> = tx
        .query_row(
            "SELECT new_value FROM settings_audit WHERE setting = ?1 ORDER BY id DESC LIMIT 1",
            [setting],
            |r| r.get(0),
        )
        .optional()?;
    if old.as_deref() != Some(value) {
        note_change(tx, now, setting, old, value, None)?;
    }
    Ok(())
}

/// Appends a `settings_audit` row recording that `setting` changed from `old` to `value`.
pub(super) fn note_change(
    tx: &Transaction<'_>,
    now: DateTime<Utc>,
    setting: &str,
    old: Option<String>,
    value: &str,
    reason: Option<&str>,
) -> Result<()> {
    audit::SETTINGS_AUDIT.append(
        tx,
        &[
            now.timestamp_millis().into(),
            ts_text(now).into(),
            text(setting),
            old.map_or(SqlValue::Null, SqlValue::Text),
            text(value),
            reason.map(text).unwrap_or(SqlValue::Null),
        ],
    )?;
    Ok(())
}

pub(super) fn note_limits(tx: &Transaction<'_>, now: DateTime<Utc>, limits: &Limits) -> Result<()> {
    let value = serde_json::to_string(limits).expect("limits serialize");
    note_setting(tx, now, "risk.effective_limits", &value)
}

/// Switches the emergency shutdown on (if it is off) and audits it.
pub(super) fn trip(
    tx: &Transaction<'_>,
    row: &mut StateRow,
    now: DateTime<Utc>,
    equity: f64,
    limits: &Limits,
    source: &str,
) -> Result<bool> {
    if row.emergency {
        return Ok(false);
    }
    let peak = row.equity_peak.max(equity);
    let dd = drawdown_share(equity, row.equity_peak);
    let reason = format!(
        "drawdown {:.2}% reached the {}% limit (equity {} vs peak {})",
        dd * 100.0,
        fmt_num(limits.emergency_drawdown * 100.0),
        fmt_num(equity),
        fmt_num(peak)
    );
    row.emergency = true;
    row.emergency_reason = Some(reason.clone());
    row.emergency_ts = Some(ts_text(now));
    audit(
        tx,
        now,
        Audit {
            reason: Some(&reason),
            inputs: json!({
                "source": source,
                "equity": equity,
                "equity_peak": peak,
                "drawdown_pct": dd * 100.0,
                "limit_pct": limits.emergency_drawdown * 100.0,
            }),
            ..Audit::of(AuditKind::EmergencyTrip)
        },
    )?;
    Ok(true)
}

pub(super) fn non_empty<'a>(field: &str, s: &'a str) -> Result<&'a str> {
    let t = s.trim();
    if t.is_empty() {
        Err(Error::invalid(format!("{field}: must not be empty")))
    } else {
        Ok(t)
    }
}
