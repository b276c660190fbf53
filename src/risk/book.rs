//! The risk book: risk state, fills and strategy budgets in SQLite, and every operation on them (check,
//! record, resets, re-enable), each one transaction that also writes its audit row. The clock is a
//! parameter (`now`), so tests move time without sleeping.

use std::path::Path;

use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::{OptionalExtension, Transaction, params};
use serde::Serialize;
use serde_json::{Value, json};

use super::limits::Limits;
use super::rules::Rule;
use super::validator::{
    Snapshot, StrategyBudget, TradeRequest, Verdict, drawdown_share, drawdown_trips, evaluate,
    fmt_num,
};
use crate::db::Db;
use crate::error::{Error, Result};

const HOUR_MS: i64 = 3_600_000;

/// The account as the risk layer sees it, with today's figures rolled to the given time.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RiskState {
    /// Account balance (realized).
    pub balance: f64,
    /// Highest balance seen since the balance was last set or the emergency last reset.
    pub equity_peak: f64,
    /// Drawdown from the peak, in percent.
    pub drawdown_pct: f64,
    /// The UTC day the daily figures belong to (YYYY-MM-DD).
    pub day: String,
    /// Balance at the start of the day.
    pub day_start_balance: f64,
    /// Realized P&L today.
    pub daily_pnl: f64,
    /// Today's realized loss as a percent of the day's starting balance (0 when up on the day).
    pub daily_loss_pct: f64,
    /// Positions open now.
    pub open_positions: u32,
    /// Trades opened today.
    pub trades_today: u32,
    /// Trades opened in the last 60 minutes.
    pub trades_this_hour: u32,
    /// The emergency shutdown is on.
    pub emergency: bool,
    /// Why it is on.
    pub emergency_reason: Option<String>,
    /// When it tripped (RFC 3339).
    pub emergency_since: Option<String>,
    /// Every strategy with a budget, by name.
    pub strategies: Vec<StrategyBudget>,
}

/// The answer to a proposed trade.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Decision {
    /// Every rule passed.
    pub approved: bool,
    /// The id of the audit row.
    pub decision_id: i64,
    /// This check reached the drawdown limit and switched the emergency shutdown on.
    pub emergency_tripped: bool,
    /// The equity the check used.
    pub equity: f64,
    /// One verdict per rule, in checking order.
    pub verdicts: Vec<Verdict>,
}

impl Decision {
    /// The verdicts that failed.
    pub fn failed(&self) -> impl Iterator<Item = &Verdict> {
        self.verdicts.iter().filter(|v| !v.pass)
    }

    /// The verdict of one rule.
    pub fn verdict(&self, rule: Rule) -> &Verdict {
        self.verdicts
            .iter()
            .find(|v| v.rule == rule)
            .expect("every rule has a verdict")
    }
}

/// What recording a fill or a close did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RecordOutcome {
    /// The state after the record.
    pub state: RiskState,
    /// The close took the drawdown to the limit and switched the emergency shutdown on.
    pub emergency_tripped: bool,
    /// The close was the strategy's last allowed loss in a row and disabled it.
    pub strategy_disabled: Option<String>,
}

/// The kinds of audit rows in `risk_decisions`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditKind {
    /// A trade validation.
    Check,
    /// The drawdown limit switched the emergency shutdown on.
    EmergencyTrip,
    /// A strategy reached its consecutive-loss limit.
    StrategyDisabled,
    /// The emergency shutdown was reset by hand.
    ResetEmergency,
    /// The daily figures were reset by hand.
    ResetDaily,
    /// A strategy was re-enabled by hand.
    EnableStrategy,
}

impl AuditKind {
    /// The snake_case name stored in the table.
    pub fn as_str(self) -> &'static str {
        match self {
            AuditKind::Check => "check",
            AuditKind::EmergencyTrip => "emergency_trip",
            AuditKind::StrategyDisabled => "strategy_disabled",
            AuditKind::ResetEmergency => "reset_emergency",
            AuditKind::ResetDaily => "reset_daily",
            AuditKind::EnableStrategy => "enable_strategy",
        }
    }
}

/// One row of the audit log.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditEntry {
    /// Row id (increasing).
    pub id: i64,
    /// When (RFC 3339, UTC).
    pub ts: String,
    /// What happened (an [`AuditKind`] name).
    pub kind: String,
    /// The trade's symbol, for checks.
    pub symbol: Option<String>,
    /// The strategy involved.
    pub strategy: Option<String>,
    /// For checks: approved or rejected.
    pub approved: Option<bool>,
    /// The reason given or found.
    pub reason: Option<String>,
    /// The inputs (trade, state snapshot, previous values).
    pub inputs: Value,
    /// The verdicts (checks only; empty otherwise).
    pub verdicts: Value,
}

/// Which audit rows to list.
#[derive(Debug, Clone, Default)]
pub struct DecisionFilter {
    /// Only this kind.
    pub kind: Option<AuditKind>,
    /// Only this symbol.
    pub symbol: Option<String>,
    /// Only this strategy.
    pub strategy: Option<String>,
    /// Only approved (`Some(true)`) or rejected (`Some(false)`) checks.
    pub approved: Option<bool>,
    /// Only at or after this time (UTC ms).
    pub since_ms: Option<i64>,
    /// Only before this time (UTC ms).
    pub until_ms: Option<i64>,
    /// At most this many (the newest), listed oldest first. `None`: all.
    pub limit: Option<usize>,
}

/// The risk book over a database, with the effective limits.
#[derive(Debug)]
pub struct RiskBook {
    db: Db,
    limits: Limits,
}

/// The stored `risk_state` row.
#[derive(Debug, Clone)]
struct StateRow {
    balance: f64,
    equity_peak: f64,
    day: String,
    day_started_ms: i64,
    day_start_balance: f64,
    daily_pnl: f64,
    open_positions: i64,
    emergency: bool,
    emergency_reason: Option<String>,
    emergency_ts: Option<String>,
}

fn ts_text(now: DateTime<Utc>) -> String {
    now.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn load_row(tx: &Transaction<'_>) -> Result<StateRow> {
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

/// Starts a new day's figures when `now` is on a later UTC day than the stored one.
fn roll_day(mut row: StateRow, now: DateTime<Utc>) -> StateRow {
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

fn save_row(tx: &Transaction<'_>, row: &StateRow, now: DateTime<Utc>) -> Result<()> {
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

fn count_fills(tx: &Transaction<'_>, after_ms: i64, inclusive: bool, now_ms: i64) -> Result<u32> {
    let sql = if inclusive {
        "SELECT count(*) FROM risk_trades WHERE kind = 'fill' AND ts_ms >= ?1 AND ts_ms <= ?2"
    } else {
        "SELECT count(*) FROM risk_trades WHERE kind = 'fill' AND ts_ms > ?1 AND ts_ms <= ?2"
    };
    let n: i64 = tx.query_row(sql, params![after_ms, now_ms], |r| r.get(0))?;
    Ok(n as u32)
}

fn budget(tx: &Transaction<'_>, name: &str) -> Result<Option<StrategyBudget>> {
    Ok(tx
        .query_row(
            "SELECT strategy, enabled, consecutive_losses, disabled_reason
             FROM strategy_budgets WHERE strategy = ?1",
            [name],
            budget_from_row,
        )
        .optional()?)
}

fn budget_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<StrategyBudget> {
    Ok(StrategyBudget {
        strategy: r.get(0)?,
        enabled: r.get(1)?,
        consecutive_losses: r.get::<_, i64>(2)? as u32,
        disabled_reason: r.get(3)?,
    })
}

fn all_budgets(tx: &Transaction<'_>) -> Result<Vec<StrategyBudget>> {
    let mut stmt = tx.prepare(
        "SELECT strategy, enabled, consecutive_losses, disabled_reason
         FROM strategy_budgets ORDER BY strategy",
    )?;
    let rows = stmt.query_map([], budget_from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

fn ensure_budget(tx: &Transaction<'_>, name: &str, now: DateTime<Utc>) -> Result<()> {
    tx.execute(
        "INSERT OR IGNORE INTO strategy_budgets (strategy, updated_ts) VALUES (?1, ?2)",
        params![name, ts_text(now)],
    )?;
    Ok(())
}

fn state_of(tx: &Transaction<'_>, row: &StateRow, now: DateTime<Utc>) -> Result<RiskState> {
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
struct Audit<'a> {
    kind: AuditKind,
    symbol: Option<&'a str>,
    strategy: Option<&'a str>,
    approved: Option<bool>,
    reason: Option<&'a str>,
    inputs: Value,
    verdicts: Value,
}

impl Audit<'_> {
    fn of(kind: AuditKind) -> Audit<'static> {
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

fn audit(tx: &Transaction<'_>, now: DateTime<Utc>, a: Audit<'_>) -> Result<i64> {
    tx.execute(
        "INSERT INTO risk_decisions (ts_ms, ts, kind, symbol, strategy, approved, reason, inputs, verdicts)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![
            now.timestamp_millis(),
            ts_text(now),
            a.kind.as_str(),
            a.symbol,
            a.strategy,
            a.approved,
            a.reason,
            a.inputs.to_string(),
            a.verdicts.to_string()
        ],
    )?;
    Ok(tx.last_insert_rowid())
}

/// Appends a `settings_audit` row when `setting` differs from its last recorded value.
fn note_setting(
    tx: &Transaction<'_>,
    now: DateTime<Utc>,
    setting: &str,
    value: &str,
    reason: Option<&str>,
    always: bool,
) -> Result<()> {
    let old: Option<String> = tx
        .query_row(
            "SELECT new_value FROM settings_audit WHERE setting = ?1 ORDER BY id DESC LIMIT 1",
            [setting],
            |r| r.get(0),
        )
        .optional()?;
    if always || old.as_deref() != Some(value) {
        tx.execute(
            "INSERT INTO settings_audit (ts_ms, ts, setting, old_value, new_value, reason)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                now.timestamp_millis(),
                ts_text(now),
                setting,
                old,
                value,
                reason
            ],
        )?;
    }
    Ok(())
}

fn note_limits(tx: &Transaction<'_>, now: DateTime<Utc>, limits: &Limits) -> Result<()> {
    let value = serde_json::to_string(limits).expect("limits serialize");
    note_setting(tx, now, "risk.effective_limits", &value, None, false)
}

/// Switches the emergency shutdown on (if it is off) and audits it.
fn trip(
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

fn non_empty<'a>(field: &str, s: &'a str) -> Result<&'a str> {
    let t = s.trim();
    if t.is_empty() {
        Err(Error::invalid(format!("{field}: must not be empty")))
    } else {
        Ok(t)
    }
}

impl RiskBook {
    /// A risk book over `db` with the effective `limits`.
    pub fn new(db: Db, limits: Limits) -> RiskBook {
        RiskBook { db, limits }
    }

    /// Opens `<home>/flowrex.db` with the effective `limits`.
    pub fn open(home: &Path, limits: Limits) -> Result<RiskBook> {
        Ok(RiskBook::new(Db::open(home)?, limits))
    }

    /// The effective limits.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The underlying database.
    pub fn db(&mut self) -> &mut Db {
        &mut self.db
    }

    /// Validates `trade` at time `now`: every rule's verdict, an audit row, and — when the drawdown has
    /// reached its limit — the emergency shutdown switched on. A malformed trade, or no equity to measure
    /// against, is an error and nothing is recorded.
    pub fn check(&mut self, trade: &TradeRequest, now: DateTime<Utc>) -> Result<Decision> {
        trade.validate()?;
        let limits = self.limits;
        self.db.write(|tx| {
            let mut row = roll_day(load_row(tx)?, now);
            let equity = trade.equity.unwrap_or(row.balance);
            if equity.is_nan() || equity <= 0.0 {
                return Err(Error::invalid(
                    "equity: no balance set; run `flowrex risk-check state --balance X` or pass --equity X",
                ));
            }
            let now_ms = now.timestamp_millis();
            let strategy = match &trade.strategy {
                Some(name) => Some(budget(tx, name)?.unwrap_or(StrategyBudget {
                    strategy: name.clone(),
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
            let verdicts = evaluate(trade, &snap, &limits);
            let approved = verdicts.iter().all(|v| v.pass);
            let dd = drawdown_share(equity, row.equity_peak);
            let emergency_tripped = drawdown_trips(dd, &limits)
                && trip(tx, &mut row, now, equity, &limits, "check")?;
            save_row(tx, &row, now)?;
            note_limits(tx, now, &limits)?;
            let decision_id = audit(
                tx,
                now,
                Audit {
                    symbol: Some(&trade.symbol),
                    strategy: trade.strategy.as_deref(),
                    approved: Some(approved),
                    reason: (!approved).then(|| {
                        verdicts
                            .iter()
                            .filter(|v| !v.pass)
                            .map(|v| v.rule.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    }).as_deref(),
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
        })
    }

    /// Records a fill that opened a trade: one more trade today and this hour, one more open position.
    pub fn record_fill(
        &mut self,
        symbol: &str,
        strategy: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<RecordOutcome> {
        let symbol = non_empty("symbol", symbol)?;
        let strategy = strategy.map(|s| non_empty("strategy", s)).transpose()?;
        self.db.write(|tx| {
            let mut row = roll_day(load_row(tx)?, now);
            tx.execute(
                "INSERT INTO risk_trades (ts_ms, ts, kind, symbol, strategy) VALUES (?1, ?2, 'fill', ?3, ?4)",
                params![now.timestamp_millis(), ts_text(now), symbol, strategy],
            )?;
            if let Some(s) = strategy {
                ensure_budget(tx, s, now)?;
            }
            row.open_positions += 1;
            save_row(tx, &row, now)?;
            Ok(RecordOutcome {
                state: state_of(tx, &row, now)?,
                emergency_tripped: false,
                strategy_disabled: None,
            })
        })
    }

    /// Records a closed trade with its realized P&L: one fewer open position, balance, daily P&L, peak
    /// and drawdown (reaching the limit trips the emergency shutdown), and the strategy's losing streak (a
    /// loss adds one, a win resets it, reaching the limit disables the strategy).
    pub fn record_close(
        &mut self,
        symbol: Option<&str>,
        strategy: Option<&str>,
        pnl: f64,
        now: DateTime<Utc>,
    ) -> Result<RecordOutcome> {
        if !pnl.is_finite() {
            return Err(Error::invalid(format!(
                "pnl: must be a finite number, got {pnl}"
            )));
        }
        let symbol = symbol.map(|s| non_empty("symbol", s)).transpose()?;
        let strategy = strategy.map(|s| non_empty("strategy", s)).transpose()?;
        let limits = self.limits;
        self.db.write(|tx| {
            let mut row = roll_day(load_row(tx)?, now);
            tx.execute(
                "INSERT INTO risk_trades (ts_ms, ts, kind, symbol, strategy, pnl) VALUES (?1, ?2, 'close', ?3, ?4, ?5)",
                params![now.timestamp_millis(), ts_text(now), symbol, strategy, pnl],
            )?;
            row.open_positions = (row.open_positions - 1).max(0);
            row.balance += pnl;
            row.daily_pnl += pnl;
            row.equity_peak = row.equity_peak.max(row.balance);
            let dd = drawdown_share(row.balance, row.equity_peak);
            let balance = row.balance;
            let emergency_tripped =
                drawdown_trips(dd, &limits) && trip(tx, &mut row, now, balance, &limits, "record")?;
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
            if emergency_tripped || strategy_disabled.is_some() {
                note_limits(tx, now, &limits)?;
            }
            Ok(RecordOutcome {
                state: state_of(tx, &row, now)?,
                emergency_tripped,
                strategy_disabled,
            })
        })
    }

    /// The risk state at time `now` (today's figures rolled over if a new UTC day has begun).
    pub fn state(&mut self, now: DateTime<Utc>) -> Result<RiskState> {
        self.db.read(|tx| {
            let row = roll_day(load_row(tx)?, now);
            state_of(tx, &row, now)
        })
    }

    /// Sets the balance (a deposit, a withdrawal, or the first setup). The peak and the day's starting
    /// balance restart from it, since moving money is not a drawdown or a daily loss. Audited in
    /// `settings_audit`.
    pub fn set_balance(&mut self, balance: f64, now: DateTime<Utc>) -> Result<RiskState> {
        if !(balance.is_finite() && balance > 0.0) {
            return Err(Error::invalid(format!(
                "balance: must be a positive number, got {balance}"
            )));
        }
        self.db.write(|tx| {
            let mut row = roll_day(load_row(tx)?, now);
            row.balance = balance;
            row.equity_peak = balance;
            row.day_start_balance = balance;
            save_row(tx, &row, now)?;
            note_setting(tx, now, "risk.balance", &fmt_num(balance), None, true)?;
            state_of(tx, &row, now)
        })
    }

    /// Switches the emergency shutdown off (audited with `reason`) and restarts the peak from the current
    /// balance, so the drawdown that tripped it does not trip it again at once.
    pub fn reset_emergency(&mut self, reason: &str, now: DateTime<Utc>) -> Result<RiskState> {
        let reason = non_empty("reason", reason)?;
        self.db.write(|tx| {
            let mut row = roll_day(load_row(tx)?, now);
            let inputs = json!({
                "was_on": row.emergency,
                "emergency_reason": row.emergency_reason,
                "emergency_since": row.emergency_ts,
                "balance": row.balance,
                "equity_peak_before": row.equity_peak,
                "drawdown_pct_before": drawdown_share(row.balance, row.equity_peak) * 100.0,
            });
            row.emergency = false;
            row.emergency_reason = None;
            row.emergency_ts = None;
            row.equity_peak = row.balance;
            save_row(tx, &row, now)?;
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
        })
    }

    /// Starts a new trading day now: daily P&L to zero, the day's starting balance to the balance, and
    /// only trades from now on count as today's. Audited.
    pub fn reset_daily(&mut self, reason: Option<&str>, now: DateTime<Utc>) -> Result<RiskState> {
        self.db.write(|tx| {
            let mut row = roll_day(load_row(tx)?, now);
            let before = state_of(tx, &row, now)?;
            row.day_started_ms = now.timestamp_millis();
            row.day_start_balance = row.balance;
            row.daily_pnl = 0.0;
            save_row(tx, &row, now)?;
            audit(
                tx,
                now,
                Audit {
                    reason: reason.map(str::trim).filter(|r| !r.is_empty()),
                    inputs: json!({
                        "daily_pnl_before": before.daily_pnl,
                        "day_start_balance_before": before.day_start_balance,
                        "trades_today_before": before.trades_today,
                    }),
                    ..Audit::of(AuditKind::ResetDaily)
                },
            )?;
            state_of(tx, &row, now)
        })
    }

    /// Re-enables a strategy and clears its losing streak. Audited with `reason`.
    pub fn enable_strategy(
        &mut self,
        name: &str,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<StrategyBudget> {
        let name = non_empty("strategy", name)?;
        let reason = non_empty("reason", reason)?;
        self.db.write(|tx| {
            let Some(before) = budget(tx, name)? else {
                let known: Vec<String> =
                    all_budgets(tx)?.into_iter().map(|b| b.strategy).collect();
                return Err(Error::invalid(format!(
                    "strategy: no risk budget named '{name}' (known: {})",
                    if known.is_empty() { "none".to_string() } else { known.join(", ") }
                )));
            };
            tx.execute(
                "UPDATE strategy_budgets SET enabled = 1, consecutive_losses = 0, disabled_reason = NULL,
                        disabled_ts = NULL, updated_ts = ?2 WHERE strategy = ?1",
                params![name, ts_text(now)],
            )?;
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
        })
    }

    /// The audit log, filtered; the newest `limit` rows, oldest first.
    pub fn decisions(&mut self, filter: &DecisionFilter) -> Result<Vec<AuditEntry>> {
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
            push("strategy =", s.clone().into());
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
        self.db.read(|tx| {
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
        })
    }
}

#[cfg(test)]
#[path = "book_tests.rs"]
mod tests;
