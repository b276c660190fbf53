//! The stages' health, read from the decision log: per stage, over the last [`WINDOW`] cycles, how
//! often it ran and failed, its last heartbeat (the wall clock of the last cycle it ran in) and its
//! slowest time. A stage that failed in more than half of the cycles it ran in is **unhealthy** (the
//! Supervisor then skips it, recorded, until it is healthy again); one that took longer than its
//! [`budget_ms`] is **unresponsive**.

use rusqlite::Transaction;
use serde::Serialize;

use crate::error::Result;
use crate::execution::store::ts_text;

/// Cycles looked back over.
pub const WINDOW: usize = 20;

/// The stages, in cycle order.
pub const STAGES: [&str; 4] = ["supervisor", "strategy", "risk", "execution"];

/// A stage's time budget per cycle, in milliseconds.
pub fn budget_ms(stage: &str) -> f64 {
    match stage {
        "execution" => 5_000.0,
        _ => 1_000.0,
    }
}

/// One stage's health.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StageHealth {
    /// The stage.
    pub stage: &'static str,
    /// Cycles of the window it ran in.
    pub cycles: usize,
    /// Of those, cycles where it failed.
    pub errors: usize,
    /// The wall clock of the last cycle it ran in (RFC 3339).
    pub last_heartbeat: Option<String>,
    /// Its slowest time in the window, ms.
    pub slowest_ms: f64,
    /// healthy | unhealthy | unresponsive | idle (not run in the window).
    pub status: &'static str,
}

impl StageHealth {
    /// Failed in more than half of the cycles it ran in.
    pub fn unhealthy(&self) -> bool {
        self.errors * 2 > self.cycles
    }
}

/// The health of every stage over the last [`WINDOW`] cycles.
pub fn health(tx: &Transaction<'_>) -> Result<Vec<StageHealth>> {
    let mut stmt = tx
        .prepare_cached("SELECT id, wall_ms, phases FROM agent_cycles ORDER BY id DESC LIMIT ?1")?;
    let cycles: Vec<(i64, i64, String)> = stmt
        .query_map([WINDOW as i64], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let first = cycles.last().map_or(i64::MAX, |c| c.0);
    let mut stmt = tx.prepare_cached(
        "SELECT cycle_id, stage, decision FROM agent_decisions WHERE cycle_id >= ?1",
    )?;
    let decisions: Vec<(i64, String, String)> = stmt
        .query_map([first], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(STAGES
        .iter()
        .enumerate()
        .map(|(k, stage)| stage_health(stage, k, &cycles, &decisions))
        .collect())
}

fn stage_health(
    stage: &'static str,
    k: usize,
    cycles: &[(i64, i64, String)],
    decisions: &[(i64, String, String)],
) -> StageHealth {
    let of = |id: i64| decisions.iter().filter(move |d| d.0 == id && d.1 == stage);
    let mut h = StageHealth {
        stage,
        cycles: 0,
        errors: 0,
        last_heartbeat: None,
        slowest_ms: 0.0,
        status: "idle",
    };
    for (id, wall, phases) in cycles {
        // Execution runs only when there is something to execute; the others in every cycle.
        let ran = stage != "execution" || of(*id).next().is_some();
        if !ran {
            continue;
        }
        h.cycles += 1;
        h.errors += of(*id).any(|d| d.2 == "error") as usize;
        h.last_heartbeat.get_or_insert_with(|| ts_text(*wall));
        h.slowest_ms = h.slowest_ms.max(duration_ms(phases, k));
    }
    h.status = if h.cycles == 0 {
        "idle"
    } else if h.unhealthy() {
        "unhealthy"
    } else if h.slowest_ms > budget_ms(stage) {
        "unresponsive"
    } else {
        "healthy"
    };
    h
}

/// Stage `k`'s time in a cycle's phases (`[[phase, ns], …]`: stage k runs from phase k to k + 1).
fn duration_ms(phases: &str, k: usize) -> f64 {
    let v: Vec<(String, u64)> = serde_json::from_str(phases).unwrap_or_default();
    match (v.get(k), v.get(k + 1)) {
        (Some(a), Some(b)) => b.1.saturating_sub(a.1) as f64 / 1e6,
        _ => 0.0,
    }
}
