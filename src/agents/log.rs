//! The decision log (migration `0007_agents.sql`, append-only): runs, cycles with their phases and the
//! bar and data hash they saw, each stage's decisions (linked to the risk decision and the paper
//! order), and the stage-to-stage messages. Writes happen inside the cycle's transaction, so a cycle
//! is logged exactly when its orders are. Every table is hash-chained ([`crate::db::chain`]):
//! [`verify`] names the first row changed after it was written.

use rusqlite::types::Value as SqlValue;
use rusqlite::{OptionalExtension, Transaction, params};
use serde::Serialize;
use serde_json::Value;

use crate::db::audit::{Verification, verify_chains};
use crate::db::chain::{Appender, Chain};
use crate::error::Result;
use crate::execution::store::ts_text;

/// A cycle to record.
#[derive(Debug, Clone)]
pub struct NewCycle<'a> {
    /// The playbook.
    pub playbook: &'a str,
    /// Market.
    pub symbol: &'a str,
    /// Bar series.
    pub interval: &'a str,
    /// The decided bar's open time.
    pub bar_ms: i64,
    /// Its index in the stored series.
    pub bar_index: usize,
    /// The chained hash of the bars up to it.
    pub data_hash: &'a str,
    /// guide | autonomous.
    pub mode: &'a str,
    /// The trading state the cycle ran under.
    pub trading_state: &'a str,
    /// The Strategy stage's proposal (JSON).
    pub proposal: &'a Value,
    /// What came of it, in a few words.
    pub outcome: &'a str,
    /// `(phase, nanoseconds since the cycle began)`.
    pub phases: &'a [(&'static str, u64)],
    /// Wall clock when the cycle began (ms).
    pub wall_ms: i64,
}

/// A stage's decision to record.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NewDecision {
    /// supervisor | strategy | risk | execution.
    pub stage: &'static str,
    /// What it decided (`hold`, `enter long`, `approved`, `denied`, `submitted`, `recommended`, …).
    pub decision: String,
    /// Why.
    pub reason: String,
    /// Details (JSON: sizes, verdicts).
    pub detail: Option<Value>,
    /// The risk audit's decision id.
    pub risk_decision_id: Option<i64>,
    /// The paper order.
    pub order_id: Option<i64>,
}

/// A message between stages.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NewMessage {
    /// Sending stage.
    pub sender: &'static str,
    /// Receiving stage (`*`: every stage).
    pub recipient: &'static str,
    /// command | request | response | event | halt.
    pub kind: &'static str,
    /// critical | high | normal | low.
    pub priority: &'static str,
    /// Ties a response to its request.
    pub correlation_id: Option<String>,
    /// Content (JSON).
    pub body: Value,
}

/// `agent_runs`, chained over these columns in this order.
pub const RUNS: Chain = Chain {
    table: "agent_runs",
    columns: &["started_ms", "started_ts", "now_ms", "mode", "playbooks"],
};

/// `agent_cycles`, chained over these columns in this order.
pub const CYCLES: Chain = Chain {
    table: "agent_cycles",
    columns: &[
        "run_id",
        "playbook",
        "symbol",
        "interval",
        "bar_ms",
        "bar_ts",
        "bar_index",
        "data_hash",
        "mode",
        "trading_state",
        "proposal",
        "outcome",
        "phases",
        "wall_ms",
    ],
};

/// `agent_decisions`, chained over these columns in this order.
pub const DECISIONS: Chain = Chain {
    table: "agent_decisions",
    columns: &[
        "cycle_id",
        "stage",
        "decision",
        "reason",
        "detail",
        "risk_decision_id",
        "order_id",
    ],
};

/// `agent_messages`, chained over these columns in this order.
pub const MESSAGES: Chain = Chain {
    table: "agent_messages",
    columns: &[
        "run_id",
        "cycle_id",
        "ts_ms",
        "sender",
        "recipient",
        "kind",
        "priority",
        "correlation_id",
        "body",
        "expires_ms",
    ],
};

/// Every chained table of the decision log, in the order [`verify`] reports them.
pub const CHAINS: [Chain; 5] = [super::state::STATES, RUNS, CYCLES, DECISIONS, MESSAGES];

/// Recomputes every chain of the log and checks its guard triggers against the migrations'. Run it
/// in a read transaction for a consistent snapshot.
pub fn verify(conn: &rusqlite::Connection) -> Result<Verification> {
    verify_chains(conn, &CHAINS, crate::db::migrations::installed_trigger_sql)
}

fn text(s: &str) -> SqlValue {
    SqlValue::Text(s.to_string())
}

fn int(i: i64) -> SqlValue {
    SqlValue::Integer(i)
}

fn opt_int(i: Option<i64>) -> SqlValue {
    i.map_or(SqlValue::Null, SqlValue::Integer)
}

/// Opens a run; returns its id.
pub fn open_run(tx: &Transaction<'_>, now_ms: i64, mode: &str, playbooks: &[&str]) -> Result<i64> {
    let started = chrono::Utc::now().timestamp_millis();
    let names = serde_json::to_string(playbooks).expect("names serialize");
    let values = [
        int(started),
        text(&ts_text(started)),
        int(now_ms),
        text(mode),
        text(&names),
    ];
    RUNS.append(tx, &values)
}

/// The last cycle of `playbook`: its bar's open time, index and data hash.
pub fn last_cycle(tx: &Transaction<'_>, playbook: &str) -> Result<Option<(i64, usize, String)>> {
    Ok(tx
        .prepare_cached(
            "SELECT bar_ms, bar_index, data_hash FROM agent_cycles WHERE playbook = ?1
             ORDER BY bar_ms DESC LIMIT 1",
        )?
        .query_row([playbook], |r| {
            Ok((r.get(0)?, r.get::<_, i64>(1)? as usize, r.get(2)?))
        })
        .optional()?)
}

/// Appends cycles, decisions and messages inside one transaction (each table's chain head is read
/// once; each row then costs one hash and one insert).
pub struct Writer<'a> {
    run_id: i64,
    cycles: Appender<'a>,
    decisions: Appender<'a>,
    messages: Appender<'a>,
}

impl<'a> Writer<'a> {
    /// A writer of run `run_id`'s rows in `tx`; nothing else may append to the log's cycles,
    /// decisions or messages while it lives.
    pub fn new(tx: &'a Transaction<'_>, run_id: i64) -> Result<Writer<'a>> {
        Ok(Writer {
            run_id,
            cycles: CYCLES.appender(tx)?,
            decisions: DECISIONS.appender(tx)?,
            messages: MESSAGES.appender(tx)?,
        })
    }

    /// Records a cycle, its decisions and its messages; returns the cycle id.
    pub fn cycle(
        &mut self,
        c: &NewCycle<'_>,
        decisions: &[NewDecision],
        messages: &[NewMessage],
        now_ms: i64,
    ) -> Result<i64> {
        let phases = serde_json::to_string(c.phases).expect("phases serialize");
        let id = self.cycles.push(&[
            int(self.run_id),
            text(c.playbook),
            text(c.symbol),
            text(c.interval),
            int(c.bar_ms),
            text(&ts_text(c.bar_ms)),
            int(c.bar_index as i64),
            text(c.data_hash),
            text(c.mode),
            text(c.trading_state),
            text(&c.proposal.to_string()),
            text(c.outcome),
            text(&phases),
            int(c.wall_ms),
        ])?;
        for d in decisions {
            self.decisions.push(&[
                int(id),
                text(d.stage),
                text(&d.decision),
                text(&d.reason),
                d.detail
                    .as_ref()
                    .map_or(SqlValue::Null, |v| text(&v.to_string())),
                opt_int(d.risk_decision_id),
                opt_int(d.order_id),
            ])?;
        }
        for m in messages {
            self.message(Some(id), m, now_ms)?;
        }
        Ok(id)
    }

    /// Records a message (outside a cycle when `cycle_id` is `None`, e.g. a halt).
    pub fn message(&mut self, cycle_id: Option<i64>, m: &NewMessage, now_ms: i64) -> Result<()> {
        self.messages.push(&[
            int(self.run_id),
            opt_int(cycle_id),
            int(now_ms),
            text(m.sender),
            text(m.recipient),
            text(m.kind),
            text(m.priority),
            m.correlation_id.as_deref().map_or(SqlValue::Null, text),
            text(&m.body.to_string()),
            SqlValue::Null,
        ])?;
        Ok(())
    }
}

/// A logged cycle.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Cycle {
    /// Id.
    pub id: i64,
    /// Run.
    pub run_id: i64,
    /// Playbook.
    pub playbook: String,
    /// Market.
    pub symbol: String,
    /// Bar series.
    pub interval: String,
    /// The decided bar's open time (RFC 3339).
    pub bar: String,
    /// Its index in the series.
    pub bar_index: i64,
    /// Chained hash of the bars up to it.
    pub data_hash: String,
    /// Mode.
    pub mode: String,
    /// Trading state.
    pub trading_state: String,
    /// The proposal.
    pub proposal: Value,
    /// The outcome.
    pub outcome: String,
    /// `[phase, ns]` pairs.
    pub phases: Value,
}

/// The newest `last` cycles (of `playbook`, if given), oldest first.
pub fn cycles(tx: &Transaction<'_>, last: usize, playbook: Option<&str>) -> Result<Vec<Cycle>> {
    let mut out = query_cycles(
        tx,
        "WHERE ?1 IS NULL OR playbook = ?1 ORDER BY id DESC LIMIT ?2",
        params![playbook, last.min(i64::MAX as usize) as i64],
    )?;
    out.reverse();
    Ok(out)
}

fn query_cycles(tx: &Transaction<'_>, tail: &str, p: impl rusqlite::Params) -> Result<Vec<Cycle>> {
    let mut stmt = tx.prepare(&format!(
        "SELECT id, run_id, playbook, symbol, interval, bar_ts, bar_index, data_hash, mode, trading_state,
                proposal, outcome, phases
         FROM agent_cycles {tail}"
    ))?;
    let rows = stmt.query_map(p, |r| {
        Ok(Cycle {
            id: r.get(0)?,
            run_id: r.get(1)?,
            playbook: r.get(2)?,
            symbol: r.get(3)?,
            interval: r.get(4)?,
            bar: r.get(5)?,
            bar_index: r.get(6)?,
            data_hash: r.get(7)?,
            mode: r.get(8)?,
            trading_state: r.get(9)?,
            proposal: json_col(r.get::<_, String>(10)?),
            outcome: r.get(11)?,
            phases: json_col(r.get::<_, String>(12)?),
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
}

fn json_col(text: String) -> Value {
    serde_json::from_str(&text).unwrap_or(Value::String(text))
}

/// A logged decision.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Decision {
    /// Id.
    pub id: i64,
    /// Stage.
    pub stage: String,
    /// What it decided.
    pub decision: String,
    /// Why.
    pub reason: String,
    /// Details.
    pub detail: Option<Value>,
    /// Risk audit decision.
    pub risk_decision_id: Option<i64>,
    /// Paper order.
    pub order_id: Option<i64>,
}

/// A logged message.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Message {
    /// Id.
    pub id: i64,
    /// Sender.
    pub sender: String,
    /// Recipient.
    pub recipient: String,
    /// Kind.
    pub kind: String,
    /// Priority.
    pub priority: String,
    /// Correlation id.
    pub correlation_id: Option<String>,
    /// Body.
    pub body: Value,
}

/// A cycle with its decisions and messages.
pub type CycleDetail = (Cycle, Vec<Decision>, Vec<Message>);

/// The decisions and messages of cycle `id` (`None` when there is no such cycle).
pub fn cycle_detail(tx: &Transaction<'_>, id: i64) -> Result<Option<CycleDetail>> {
    let Some(cycle) = cycles_by_id(tx, id)? else {
        return Ok(None);
    };
    let mut stmt = tx.prepare(
        "SELECT id, stage, decision, reason, detail, risk_decision_id, order_id FROM agent_decisions
         WHERE cycle_id = ?1 ORDER BY id",
    )?;
    let decisions = stmt
        .query_map([id], |r| {
            Ok(Decision {
                id: r.get(0)?,
                stage: r.get(1)?,
                decision: r.get(2)?,
                reason: r.get(3)?,
                detail: r.get::<_, Option<String>>(4)?.map(json_col),
                risk_decision_id: r.get(5)?,
                order_id: r.get(6)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let mut stmt = tx.prepare(
        "SELECT id, sender, recipient, kind, priority, correlation_id, body FROM agent_messages
         WHERE cycle_id = ?1 ORDER BY id",
    )?;
    let messages = stmt
        .query_map([id], |r| {
            Ok(Message {
                id: r.get(0)?,
                sender: r.get(1)?,
                recipient: r.get(2)?,
                kind: r.get(3)?,
                priority: r.get(4)?,
                correlation_id: r.get(5)?,
                body: json_col(r.get(6)?),
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(Some((cycle, decisions, messages)))
}

fn cycles_by_id(tx: &Transaction<'_>, id: i64) -> Result<Option<Cycle>> {
    Ok(query_cycles(tx, "WHERE id = ?1", [id])?.pop())
}
