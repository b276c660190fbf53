//! Underperformance detection and the feedback loop.
//!
//! **The four criteria**, on the rolling window of the book's last `window` trades (closing order;
//! thresholds from `[journal]`, [`super::settings`]):
//! 1. `win_rate`: win rate below `min_win_rate_pct` (40 %), judged once the window holds `min_trades` (10);
//! 2. `profit_factor`: profit factor below `min_profit_factor` (1.0), judged from `min_trades` too;
//! 3. `consecutive_losses`: `max_consecutive_losses` (5) or more losses in a row inside the window;
//! 4. `critical_deviation`: the window's mean return per trade more than `deviation_sigmas` (2) standard
//!    errors below the reference backtest's (`σ_bt / √n`), judged once the window holds
//!    `deviation_min_trades` (20) trades and the reference has 2 or more trades that differ.
//!
//! **The sequential test** (CUSUM, Page 1954) runs over every trade of the book in closing order, on
//! returns standardized by the reference backtest's per-trade mean μ and standard deviation σ:
//! `S₀ = 0, Sᵢ = max(0, Sᵢ₋₁ + (μ − xᵢ)/σ − k)`; it alarms while `Sₙ > h`. With `k = 0.5` and `h = 5`
//! (defaults), on normal returns, it alarms falsely once in about 940 trades on average, and detects a
//! drop of the mean by one σ after about 10.4 trades (the average run lengths of a one-sided CUSUM by
//! Siegmund's approximation, `(e^{−2Δb} + 2Δb − 1) / 2Δ²` with `Δ = δ − k`, `b = h + 1.166`: 938 and
//! 10.3; the tests check both by simulation). It advises; with `[journal] cusum_decides = true` an alarm
//! disables the strategy by itself.
//!
//! **The decision** counts the criteria met: none → `no_action`, one → `monitor_closely`, two →
//! `trigger_optimization`, three or four → `disable_strategy`.

use std::path::{Path, PathBuf};

use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::types::Value;
use rusqlite::{OptionalExtension, Transaction};
use serde::Serialize;
use serde_json::json;

use super::entry::{Source, text};
use super::reference::Reference;
use super::settings::Thresholds;
use super::stats::{Outcome, stats_of};
use crate::candles::store::path_safe_symbol;
use crate::candles::time::format_ts_full;
use crate::candles::{Store, TimeRange};
use crate::db::chain::Chain;
use crate::error::{Error, Result};
use crate::json::finite_or_null;
use crate::risk::StrategyId;
use crate::risk::book::ops;

/// `journal_feedback`, chained over these columns in this order.
pub const FEEDBACK: Chain = Chain {
    table: "journal_feedback",
    columns: &[
        "ts_ms",
        "ts",
        "strategy",
        "symbol",
        "sources",
        "decision",
        "trades",
        "criteria",
        "sequential",
        "action",
    ],
};

/// One criterion's verdict.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Criterion {
    /// `win_rate`, `profit_factor`, `consecutive_losses` or `critical_deviation`.
    pub name: &'static str,
    /// Whether it could be judged (enough trades, a reference).
    pub evaluated: bool,
    /// The window's value.
    #[serde(serialize_with = "finite_or_null")]
    pub value: f64,
    /// `<` (met below the threshold) or `>=` (met at or above it).
    pub comparison: &'static str,
    /// The threshold.
    #[serde(serialize_with = "finite_or_null")]
    pub threshold: f64,
    /// It is met.
    pub met: bool,
    /// Why it was not judged, or the evidence in words.
    pub detail: String,
}

/// The CUSUM test's state after the last trade.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Sequential {
    /// It could run (a reference with 2 or more differing trades).
    pub evaluated: bool,
    /// Reference value k.
    pub k: f64,
    /// Decision interval h.
    pub h: f64,
    /// Reference mean return per trade, percent.
    #[serde(serialize_with = "finite_or_null")]
    pub reference_mean_pct: f64,
    /// Reference standard deviation, percent.
    #[serde(serialize_with = "finite_or_null")]
    pub reference_std_pct: f64,
    /// Trades it ran over.
    pub trades: usize,
    /// Sₙ.
    pub statistic: f64,
    /// The largest Sᵢ.
    pub max_statistic: f64,
    /// Sₙ > h.
    pub alarm: bool,
    /// The trade (1-based) at which S first exceeded h.
    pub first_alarm_trade: Option<usize>,
    /// An alarm decides (`[journal] cusum_decides`).
    pub decides: bool,
}

/// What the feedback loop decides for a book.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, strum::Display, strum::IntoStaticStr)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Decision {
    /// No criterion is met.
    NoAction,
    /// One criterion is met: recorded, shown in `journal stats`.
    MonitorClosely,
    /// Two are met: an optimize spec goes to the queue.
    TriggerOptimization,
    /// Three or more (or a deciding CUSUM alarm): the strategy's risk budget is disabled.
    DisableStrategy,
}

impl Decision {
    /// The snake_case name stored and shown.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// The evaluation of one book.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Evaluation {
    /// The strategy.
    pub strategy: String,
    /// The symbol.
    pub symbol: String,
    /// The sources evaluated.
    pub sources: Vec<Source>,
    /// Trades in the book.
    pub total_trades: usize,
    /// Trades in the window.
    pub window_trades: usize,
    /// The four criteria.
    pub criteria: Vec<Criterion>,
    /// How many are met.
    pub met: usize,
    /// The CUSUM test.
    pub sequential: Sequential,
    /// The decision.
    pub decision: Decision,
    /// Why, in one line.
    pub reason: String,
    /// Why the reference backtest is missing, when it is.
    pub reference_note: Option<String>,
}

/// Evaluates the criteria and the CUSUM on `trades` (the book's trades in closing order) against the
/// reference backtest's per-trade returns `reference` (percent; `None` without one).
pub fn evaluate(
    trades: &[Outcome],
    reference: Option<&[f64]>,
    th: &Thresholds,
) -> (Vec<Criterion>, Sequential) {
    let window = &trades[trades.len().saturating_sub(th.window)..];
    let n = window.len();
    let s = stats_of(window.iter().copied());
    let few = |need: usize| format!("{n} trades in the window, {need} needed");
    let judged = n >= th.min_trades;
    let mut out = vec![
        Criterion {
            name: "win_rate",
            evaluated: judged,
            value: s.win_rate_pct,
            comparison: "<",
            threshold: th.min_win_rate_pct,
            met: judged && s.win_rate_pct < th.min_win_rate_pct,
            detail: if judged {
                format!("{} wins of {n}", s.wins)
            } else {
                few(th.min_trades)
            },
        },
        Criterion {
            name: "profit_factor",
            evaluated: judged,
            value: s.profit_factor,
            comparison: "<",
            threshold: th.min_profit_factor,
            met: judged && s.profit_factor < th.min_profit_factor,
            detail: if judged {
                String::new()
            } else {
                few(th.min_trades)
            },
        },
        Criterion {
            name: "consecutive_losses",
            evaluated: n > 0,
            value: s.max_consecutive_losses as f64,
            comparison: ">=",
            threshold: th.max_consecutive_losses as f64,
            met: s.max_consecutive_losses >= th.max_consecutive_losses,
            detail: String::new(),
        },
    ];
    let returns: Vec<f64> = window.iter().map(|o| o.return_pct).collect();
    let dev = super::analyze::deviation(
        &returns,
        reference.unwrap_or(&[]),
        th.deviation_sigmas,
        th.deviation_min_trades,
    );
    out.push(Criterion {
        name: "critical_deviation",
        evaluated: dev.evaluated,
        value: dev.real_expectancy_pct,
        comparison: "<",
        threshold: dev.threshold_pct,
        met: dev.met,
        detail: match reference {
            None => "no reference backtest".into(),
            Some(r) if !dev.standard_error_pct.is_finite() || dev.standard_error_pct <= 0.0 => {
                format!(
                    "the reference backtest has {} trades that do not vary",
                    r.len()
                )
            }
            Some(_) if !dev.evaluated => few(th.deviation_min_trades),
            Some(_) => format!(
                "mean return {:.4}% vs backtest {:.4}% − {} × {:.4}%",
                dev.real_expectancy_pct,
                dev.backtest_expectancy_pct,
                th.deviation_sigmas,
                dev.standard_error_pct
            ),
        },
    });
    (out, cusum(trades, reference, th))
}

/// The CUSUM test (see the module documentation).
pub fn cusum(trades: &[Outcome], reference: Option<&[f64]>, th: &Thresholds) -> Sequential {
    let r = reference.unwrap_or(&[]);
    let mu = if r.is_empty() {
        f64::NAN
    } else {
        r.iter().sum::<f64>() / r.len() as f64
    };
    let sigma = super::analyze::std1(r);
    let mut seq = Sequential {
        evaluated: sigma.is_finite() && sigma > 0.0,
        k: th.cusum_k,
        h: th.cusum_h,
        reference_mean_pct: mu,
        reference_std_pct: sigma,
        trades: trades.len(),
        statistic: 0.0,
        max_statistic: 0.0,
        alarm: false,
        first_alarm_trade: None,
        decides: th.cusum_decides,
    };
    if !seq.evaluated {
        return seq;
    }
    let mut s = 0.0f64;
    for (i, o) in trades.iter().enumerate() {
        s = cusum_step(s, (o.return_pct - mu) / sigma, th.cusum_k);
        seq.max_statistic = seq.max_statistic.max(s);
        if s > th.cusum_h && seq.first_alarm_trade.is_none() {
            seq.first_alarm_trade = Some(i + 1);
        }
    }
    seq.statistic = s;
    seq.alarm = s > th.cusum_h;
    seq
}

/// One step of the lower CUSUM: `max(0, s − z − k)` for the standardized return `z = (x − μ) / σ`.
#[inline]
pub fn cusum_step(s: f64, z: f64, k: f64) -> f64 {
    (s - z - k).max(0.0)
}

/// The decision the criteria and the test lead to, and why.
pub fn decide(criteria: &[Criterion], seq: &Sequential) -> (Decision, String) {
    let met: Vec<String> = criteria
        .iter()
        .filter(|c| c.met)
        .map(|c| {
            format!(
                "{} {} {} {}",
                c.name,
                num(c.value),
                c.comparison,
                num(c.threshold)
            )
        })
        .collect();
    let mut decision = match met.len() {
        0 => Decision::NoAction,
        1 => Decision::MonitorClosely,
        2 => Decision::TriggerOptimization,
        _ => Decision::DisableStrategy,
    };
    let mut reason = if met.is_empty() {
        "no criterion met".to_string()
    } else {
        format!(
            "{} of {} criteria met: {}",
            met.len(),
            criteria.len(),
            met.join(", ")
        )
    };
    if seq.alarm {
        reason.push_str(&format!(
            "; CUSUM alarm (S = {:.2} > h = {})",
            seq.statistic, seq.h
        ));
        if seq.decides {
            decision = Decision::DisableStrategy;
        } else {
            reason.push_str(", advisory");
        }
    }
    (decision, reason)
}

/// A number for a reason line: up to 4 decimals without trailing zeros, `∞` for infinity.
fn num(v: f64) -> String {
    if v.is_infinite() {
        return "∞".into();
    }
    let s = format!("{v:.4}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    s.to_string()
}

/// Builds the evaluation of a book.
pub fn evaluation(
    strategy: &str,
    symbol: &str,
    sources: &[Source],
    trades: &[Outcome],
    reference: Result<Vec<f64>>,
    th: &Thresholds,
) -> Evaluation {
    let (reference, note) = match reference {
        Ok(r) => (Some(r), None),
        Err(e) => (None, Some(e.to_string())),
    };
    let (criteria, sequential) = evaluate(trades, reference.as_deref(), th);
    let (decision, reason) = decide(&criteria, &sequential);
    Evaluation {
        strategy: strategy.to_string(),
        symbol: symbol.to_string(),
        sources: sources.to_vec(),
        total_trades: trades.len(),
        window_trades: trades.len().min(th.window),
        met: criteria.iter().filter(|c| c.met).count(),
        criteria,
        sequential,
        decision,
        reason,
        reference_note: note,
    }
}

/// The reference backtest's per-trade returns (percent) as deployed.
pub fn reference_returns(reference: &Reference, store: &Store) -> Result<Vec<f64>> {
    let (_, report) = reference.deployed(store)?;
    Ok(report
        .run
        .trades
        .iter()
        .map(|t| t.return_frac * 100.0)
        .collect())
}

/// Writes an optimize spec for `reference` into `queue_dir`: the playbook's space, constraints, objective,
/// method and settings (the strategy's declared search ranges when there is no playbook), with the data
/// window moved to the latest bars — as many bars as the deployed run had, ending at the last stored bar.
/// `out_dir` is where the optimizer writes its playbook. Returns the spec's path.
pub fn write_spec(
    reference: &Reference,
    store: &Store,
    queue_dir: &Path,
    out_dir: &Path,
    strategy: &str,
    now: DateTime<Utc>,
) -> Result<PathBuf> {
    let (symbol, interval) = reference.market();
    let all = store.load(symbol, interval, &TimeRange::ALL)?;
    let Some(&last) = all.ts.last() else {
        return Err(Error::invalid(format!(
            "no {symbol} {interval} bars stored to optimize on"
        )));
    };
    let bars = reference
        .bars
        .map_or(all.len(), |b| (b as usize).clamp(1, all.len()));
    let first = all.ts[all.len() - bars];
    let stamp = now.format("%Y%m%dT%H%M%SZ").to_string();
    let base = format!(
        "{}-{}-{}",
        strategy.replace(|c: char| !c.is_ascii_alphanumeric() && c != '_', "-"),
        path_safe_symbol(symbol),
        interval
    );
    let mut t = spec_table(reference);
    let s = |v: String| toml::Value::String(v);
    t.insert("start".into(), s(format_ts_full(first)));
    t.insert("end".into(), s(format_ts_full(last)));
    let out = out_dir.join(format!("{base}-reopt-{stamp}.toml"));
    t.insert("out".into(), s(out.display().to_string()));
    let header = format!(
        "# Queued by `flowrex journal feedback` at {}: trigger_optimization for strategy '{strategy}' \
         on {symbol} {interval}.\n# Run it with: flowrex optimize --spec <this file>\n",
        now.to_rfc3339_opts(SecondsFormat::Secs, true)
    );
    let body = toml::to_string(&t)
        .map_err(|e| Error::invalid(format!("cannot encode the optimize spec: {e}")))?;
    let path = queue_dir.join(format!("{stamp}-{base}.toml"));
    crate::atomic::write_atomic(&path, format!("{header}{body}").as_bytes())?;
    Ok(path)
}

/// The optimize spec keys of `reference` (the keys of `flowrex optimize --spec`): what to search and the
/// backtest settings; the data window is the caller's.
fn spec_table(reference: &Reference) -> toml::Table {
    let (symbol, interval) = reference.market();
    let mut t = toml::Table::new();
    let s = |v: &str| toml::Value::String(v.to_string());
    let int = |v: u64| toml::Value::Integer(v as i64);
    t.insert("strategy".into(), s(reference.spec.strategy.name()));
    t.insert("symbol".into(), s(symbol));
    t.insert("interval".into(), s(interval.as_str()));
    // Without a playbook's search the optimizer takes every parameter's declared search range.
    if let Some(o) = reference
        .playbook
        .as_ref()
        .and_then(|p| p.optimization.as_ref())
    {
        let list =
            |v: Vec<String>| toml::Value::Array(v.into_iter().map(toml::Value::String).collect());
        let space = o.space.0.iter().map(|(k, v)| match v.as_str() {
            Some(text) => format!("{k}={text}"),
            None => format!("{k}={v}"),
        });
        t.insert("params".into(), list(space.collect()));
        t.insert("constraints".into(), list(o.constraints.clone()));
        t.insert("objective".into(), s(&o.objective));
        t.insert("method".into(), s(&o.method));
        t.insert("min_trades".into(), int(o.min_trades));
        t.insert("seed".into(), int(o.seed));
        t.insert("top".into(), int(o.top_k));
        for (key, v) in [
            ("samples", o.samples),
            ("population", o.population),
            ("generations", o.generations),
        ] {
            if let Some(v) = v {
                t.insert(key.into(), int(v));
            }
        }
    }
    let c = &reference.spec.config;
    t.insert("cash".into(), toml::Value::Float(c.cash));
    t.insert("commission".into(), toml::Value::Float(c.commission));
    t.insert("spread".into(), toml::Value::Float(c.spread));
    t.insert("fill".into(), s(&c.fill.to_string()));
    t.insert("close_at_end".into(), toml::Value::Boolean(c.close_at_end));
    t.insert("size".into(), s(&c.sizing.to_string()));
    t.insert("stop_policy".into(), s(&c.stop_policy.to_string()));
    t
}

/// Records `eval`'s decision inside the caller's transaction, after doing what it says: for
/// `disable_strategy` the strategy's risk budget is disabled in this same transaction (audited in the risk
/// log with the evidence); `spec` is the optimize spec already queued for `trigger_optimization`. Returns
/// the feedback row's id and the action taken (as stored).
pub fn record(
    tx: &Transaction<'_>,
    eval: &Evaluation,
    spec: Option<&Path>,
    repeat_of: Option<i64>,
    now: DateTime<Utc>,
) -> Result<(i64, serde_json::Value)> {
    let evidence = json!({
        "by": "journal feedback",
        "symbol": eval.symbol,
        "criteria": eval.criteria,
        "sequential": eval.sequential,
    });
    let action = match eval.decision {
        Decision::DisableStrategy => {
            let id = StrategyId::parse("strategy", &eval.strategy)?;
            let reason = format!("journal feedback on {}: {}", eval.symbol, eval.reason);
            let (_, audit_id) = ops::disable_strategy(tx, &id, &reason, evidence, now)?;
            json!({"risk_budget": "disabled", "risk_decision_id": audit_id, "already_disabled": audit_id.is_none()})
        }
        Decision::TriggerOptimization => match repeat_of {
            Some(id) => json!({
                "spec": null,
                "note": format!("the evidence is unchanged since feedback {id}: its spec stands, none queued"),
                "repeat_of": id,
            }),
            None => json!({
                "spec": spec.map(|p| p.display().to_string()),
                "note": if spec.is_none() { eval.reference_note.clone().or(Some("no reference backtest to re-optimize".into())) } else { None },
            }),
        },
        Decision::MonitorClosely | Decision::NoAction => json!({}),
    };
    let sources: Vec<&str> = eval.sources.iter().map(|s| s.as_str()).collect();
    let id = FEEDBACK.append(
        tx,
        &[
            Value::Integer(now.timestamp_millis()),
            text(&now.to_rfc3339_opts(SecondsFormat::Millis, true)),
            text(&eval.strategy),
            text(&eval.symbol),
            text(&sources.join(",")),
            text(eval.decision.as_str()),
            Value::Integer(eval.window_trades as i64),
            text(&serde_json::to_string(&eval.criteria).expect("criteria serialize")),
            text(&serde_json::to_string(&eval.sequential).expect("test serializes")),
            text(&action.to_string()),
        ],
    )?;
    Ok((id, action))
}

/// The book's latest decision when it is `eval`'s own, over the same sources, with the same criteria
/// values and the same sequential test (which counts every trade): nothing was journaled since, so a
/// cron line run twice must not queue the same optimization twice. Compared as the stored JSON text.
pub fn repeat_of(tx: &Transaction<'_>, eval: &Evaluation) -> Result<Option<i64>> {
    let sources: Vec<&str> = eval.sources.iter().map(|s| s.as_str()).collect();
    type Last = (i64, String, String, String, String, String);
    let last: Option<Last> = tx
        .query_row(
            "SELECT id, decision, sources, criteria, sequential, action FROM journal_feedback
             WHERE strategy = ?1 AND symbol = ?2 ORDER BY id DESC LIMIT 1",
            [&eval.strategy, &eval.symbol],
            |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                ))
            },
        )
        .optional()?;
    Ok(
        last.and_then(|(id, decision, srcs, criteria, sequential, action)| {
            let same = decision == eval.decision.as_str()
                && srcs == sources.join(",")
                && criteria == serde_json::to_string(&eval.criteria).expect("criteria serialize")
                && sequential == serde_json::to_string(&eval.sequential).expect("test serializes");
            // A repeat of a repeat names the decision that queued the spec.
            let first = serde_json::from_str::<serde_json::Value>(&action)
                .ok()
                .and_then(|a| a.get("repeat_of").and_then(serde_json::Value::as_i64));
            same.then_some(first.unwrap_or(id))
        }),
    )
}

/// One stored decision.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Recorded {
    /// Row id.
    pub id: i64,
    /// When.
    pub ts: String,
    /// The strategy.
    pub strategy: String,
    /// The symbol.
    pub symbol: String,
    /// The sources evaluated.
    pub sources: String,
    /// The decision.
    pub decision: String,
    /// Trades in the window.
    pub trades: i64,
    /// The criteria.
    pub criteria: serde_json::Value,
    /// The CUSUM test.
    pub sequential: serde_json::Value,
    /// What was done.
    pub action: serde_json::Value,
}

/// The stored decisions, oldest first; only `strategy`'s / `symbol`'s when given; with `latest`, only the
/// newest per strategy and symbol.
pub fn decisions(
    tx: &Transaction<'_>,
    strategy: Option<&StrategyId>,
    symbol: Option<&str>,
    latest: bool,
) -> Result<Vec<Recorded>> {
    let mut sql = String::from(
        "SELECT id, ts, strategy, symbol, sources, decision, trades, criteria, sequential, action FROM journal_feedback f WHERE 1 = 1",
    );
    let mut args: Vec<Value> = Vec::new();
    if let Some(s) = strategy {
        args.push(text(s.as_str()));
        sql.push_str(&format!(" AND strategy = ?{}", args.len()));
    }
    if let Some(s) = symbol {
        args.push(text(s));
        sql.push_str(&format!(" AND symbol = ?{}", args.len()));
    }
    if latest {
        sql.push_str(" AND id = (SELECT max(id) FROM journal_feedback g WHERE g.strategy = f.strategy AND g.symbol = f.symbol)");
    }
    sql.push_str(" ORDER BY id");
    let mut stmt = tx.prepare(&sql)?;
    let rows = stmt.query_map(rusqlite::params_from_iter(args), |r| {
        let json = |i: usize| -> rusqlite::Result<serde_json::Value> {
            let s: String = r.get(i)?;
            Ok(serde_json::from_str(&s).unwrap_or(serde_json::Value::String(s)))
        };
        Ok(Recorded {
            id: r.get(0)?,
            ts: r.get(1)?,
            strategy: r.get(2)?,
            symbol: r.get(3)?,
            sources: r.get(4)?,
            decision: r.get(5)?,
            trades: r.get(6)?,
            criteria: json(7)?,
            sequential: json(8)?,
            action: json(9)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::settings::DEFAULTS;

    fn o(ret: f64) -> Outcome {
        Outcome {
            pnl: ret,
            return_pct: ret,
            r: f64::NAN,
            duration_days: 1.0,
        }
    }

    /// For each prefix of `trades` (1, 2, …), whether criterion `name` is met.
    fn met_after_each(trades: &[Outcome], name: &str, reference: Option<&[f64]>) -> Vec<bool> {
        (1..=trades.len())
            .map(|n| {
                let (c, _) = evaluate(&trades[..n], reference, &DEFAULTS);
                let c = c.iter().find(|c| c.name == name).unwrap();
                c.met
            })
            .collect()
    }

    /// The 1-based trade count at which `name` is first met, and the others never met up to there.
    fn first_met(trades: &[Outcome], name: &str, reference: Option<&[f64]>) -> Option<usize> {
        for n in 1..=trades.len() {
            let (c, _) = evaluate(&trades[..n], reference, &DEFAULTS);
            for c in &c {
                if c.met && c.name != name {
                    panic!("{} met at trade {n} in the {name} test", c.name);
                }
            }
            if c.iter().any(|c| c.met && c.name == name) {
                return Some(n);
            }
        }
        None
    }

    #[test]
    fn five_losses_in_a_row_meet_the_streak_criterion_at_the_fifth() {
        // A win, then losses: 4 in a row is below the threshold, the 5th meets it.
        let trades = [o(3.0), o(-1.0), o(-1.0), o(-1.0), o(-1.0), o(-1.0)];
        assert_eq!(first_met(&trades, "consecutive_losses", None), Some(6));
        assert_eq!(
            met_after_each(&trades, "consecutive_losses", None),
            [false, false, false, false, false, true]
        );
    }

    #[test]
    fn the_win_rate_criterion_needs_ten_trades_and_a_rate_below_forty_percent() {
        // W L L W L L W L L W: after 9 trades 3 wins (33 %) but fewer than min_trades (10): not judged.
        // After 10: 4 wins of 10 = 40 %, not below 40: not met. The 11th, a loss: 4 / 11 = 36.4 %: met.
        // Wins +5, losses −1: profit factor 20/7 > 1, never 5 losses in a row.
        let mut trades: Vec<Outcome> = [5.0, -1.0, -1.0].repeat(3).into_iter().map(o).collect();
        trades.push(o(5.0));
        trades.push(o(-1.0));
        let (c, _) = evaluate(&trades[..9], None, &DEFAULTS);
        assert!(!c[0].evaluated && !c[0].met);
        let (c, _) = evaluate(&trades[..10], None, &DEFAULTS);
        assert_eq!((c[0].evaluated, c[0].value, c[0].met), (true, 40.0, false));
        assert_eq!(first_met(&trades, "win_rate", None), Some(11));
    }

    #[test]
    fn the_profit_factor_criterion_is_met_below_one_not_at_one() {
        // +1, −1 alternating: after 10 trades 5 / |−5| = 1.0, at the threshold: not met. The 11th loses
        // 0.5: 5 / 5.5 = 0.909: met. Win rate 5 of 11 = 45 %; at most 2 losses in a row.
        let mut trades: Vec<Outcome> = [1.0, -1.0].repeat(5).into_iter().map(o).collect();
        trades.push(o(-0.5));
        let (c, _) = evaluate(&trades[..10], None, &DEFAULTS);
        assert_eq!((c[1].value, c[1].met), (1.0, false));
        assert_eq!(first_met(&trades, "profit_factor", None), Some(11));
    }

    #[test]
    fn the_critical_deviation_needs_twenty_trades_below_two_standard_errors() {
        // Reference returns 0 and 2: mean 1, σ (n − 1) = √2. With n = 20: standard error √2 / √20
        // = 0.316228, threshold 1 − 2 · 0.316228 = 0.367544. Real trades all win 0.3 % (no other
        // criterion can be met): 19 trades are not judged; the 20th is, and 0.3 < 0.3675: met.
        let reference = [0.0, 2.0];
        let trades = vec![o(0.3); 20];
        assert_eq!(
            first_met(&trades, "critical_deviation", Some(&reference)),
            Some(20)
        );
        let (c, _) = evaluate(&trades, Some(&reference), &DEFAULTS);
        assert!((c[3].threshold - (1.0 - 2.0 * (2.0f64 / 20.0).sqrt())).abs() < 1e-12);
        // 0.4 % a trade is above the threshold: never met.
        assert_eq!(
            first_met(&vec![o(0.4); 20], "critical_deviation", Some(&reference)),
            None
        );
        // Without a reference it is not judged.
        let (c, _) = evaluate(&trades, None, &DEFAULTS);
        assert!(!c[3].evaluated && c[3].detail == "no reference backtest");
    }

    #[test]
    fn only_the_window_counts() {
        // Five old losses, then 20 wins: the window (20) holds only wins.
        let mut trades: Vec<Outcome> = vec![o(-1.0); 5];
        trades.extend(vec![o(1.0); 20]);
        let (c, _) = evaluate(&trades, None, &DEFAULTS);
        assert_eq!(c[2].value, 0.0);
        assert!(c.iter().all(|c| !c.met));
    }

    fn criteria(met: usize) -> Vec<Criterion> {
        (0..4)
            .map(|i| Criterion {
                name: [
                    "win_rate",
                    "profit_factor",
                    "consecutive_losses",
                    "critical_deviation",
                ][i],
                evaluated: true,
                value: 0.0,
                comparison: "<",
                threshold: 1.0,
                met: i < met,
                detail: String::new(),
            })
            .collect()
    }

    #[test]
    fn the_decision_counts_the_criteria_met_and_a_deciding_alarm_disables() {
        let quiet = cusum(&[], None, &DEFAULTS);
        let want = [
            Decision::NoAction,
            Decision::MonitorClosely,
            Decision::TriggerOptimization,
            Decision::DisableStrategy,
            Decision::DisableStrategy,
        ];
        for (met, want) in want.iter().enumerate() {
            assert_eq!(decide(&criteria(met), &quiet).0, *want, "{met} met");
        }
        let mut alarm = quiet.clone();
        alarm.alarm = true;
        let (d, reason) = decide(&criteria(0), &alarm);
        assert_eq!(d, Decision::NoAction);
        assert!(reason.ends_with("advisory"), "{reason}");
        alarm.decides = true;
        assert_eq!(decide(&criteria(0), &alarm).0, Decision::DisableStrategy);
    }

    #[test]
    fn the_cusum_alarms_after_a_run_of_standardized_losses() {
        // Reference mean 1, σ √2 (returns 0 and 2). A trade at −1.828427 is z = (−1.828427 − 1)/√2 = −2:
        // each adds 2 − 0.5 = 1.5 to S: 1.5, 3.0, 4.5, 6.0 — above h = 5 at the 4th.
        let z = 1.0 - 2.0 * 2.0f64.sqrt();
        let s = cusum(&[o(z); 4], Some(&[0.0, 2.0]), &DEFAULTS);
        assert!(s.evaluated && s.alarm);
        assert_eq!(s.first_alarm_trade, Some(4));
        assert!((s.statistic - 6.0).abs() < 1e-9, "{s:?}");
        let s = cusum(&[o(z); 3], Some(&[0.0, 2.0]), &DEFAULTS);
        assert!(!s.alarm && (s.statistic - 4.5).abs() < 1e-9);
        assert!(!cusum(&[o(1.0)], Some(&[1.0, 1.0]), &DEFAULTS).evaluated);
    }

    /// Mean run length of the lower CUSUM (k, h) on N(−shift, 1) data, over `runs` runs.
    fn average_run_length(shift: f64, runs: usize, seed: u64) -> f64 {
        use rand::SeedableRng;
        use rand_distr::{Distribution, StandardNormal};
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let mut total = 0usize;
        for _ in 0..runs {
            let mut s = 0.0;
            let mut n = 0;
            loop {
                n += 1;
                let z: f64 = StandardNormal.sample(&mut rng);
                s = cusum_step(s, z - shift, CUSUM_K_TEST);
                if s > CUSUM_H_TEST {
                    break;
                }
            }
            total += n;
        }
        total as f64 / runs as f64
    }

    const CUSUM_K_TEST: f64 = crate::journal::settings::CUSUM_K;
    const CUSUM_H_TEST: f64 = crate::journal::settings::CUSUM_H;

    /// Siegmund's approximation of a one-sided CUSUM's average run length for a shift `delta` (in σ).
    fn siegmund(delta: f64) -> f64 {
        let d = delta - CUSUM_K_TEST;
        let b = CUSUM_H_TEST + 1.166;
        ((-2.0 * d * b).exp() + 2.0 * d * b - 1.0) / (2.0 * d * d)
    }

    #[test]
    fn the_documented_run_lengths_hold_by_simulation() {
        // In control: Siegmund gives 938 trades between false alarms; 1500 simulated runs (standard error
        // about 938 / √1500 = 24) must land within 10 %.
        let arl0 = average_run_length(0.0, 1500, 7);
        assert!((siegmund(0.0) - 938.0).abs() < 1.0);
        assert!((arl0 / siegmund(0.0) - 1.0).abs() < 0.10, "ARL0 {arl0}");
        // A one-σ drop: about 10.3 trades to detect it.
        let arl1 = average_run_length(1.0, 4000, 8);
        assert!(
            (arl1 / siegmund(1.0) - 1.0).abs() < 0.05,
            "ARL1 {arl1} vs {}",
            siegmund(1.0)
        );
    }
}
