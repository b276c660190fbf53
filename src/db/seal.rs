//! The seal over the live state: the mutable tables the risk gate and the paper broker decide on —
//! `risk_state`, `strategy_budgets`, `paper_cursors` — and the head of `risk_trades` (itself a hash
//! chain, [`RISK_TRADES`]). Every operation that changes them ends with [`reseal`], inside its own
//! transaction: it appends the state's canonical snapshot to `state_seals` (an append-only hash chain,
//! [`STATE_SEALS`]) when it differs from the last one. Every operation that decides on them starts with
//! [`check`]: the last seal row must match its hash, the `risk_trades` rows the gate counts must chain,
//! and the snapshot of the tables now must be the sealed one — else it fails closed with an error
//! naming the table, row and field ([`Error::CheckFailed`], exit 3) and writes nothing. [`verify_state`]
//! is the same comparison for `verify` commands, which also recompute both chains in full.
//!
//! # The snapshot (version 1)
//!
//! A compact JSON object with four keys in this order: `risk_state` (its row by id), `strategy_budgets`
//! (rows by strategy), `risk_trades` (`last_id` and `head`, the last row's id and hash, or nulls) and
//! `paper_cursors` (rows by `["SYMBOL","INTERVAL"]`). Rows are objects of their columns; values are
//! encoded as in a chain's canonical row ([`super::chain`]), so a REAL stored as the INTEGER with the
//! same value is a change.
//!
//! What it cannot stop: the hash has no secret, so someone who edits a table and then appends a seal
//! row with correctly recomputed hashes (or rewrites `state_seals` from some row on) is not detected
//! here — keep the seal head `verify` prints elsewhere to catch that, as for every chain.

use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, Transaction};
use serde_json::{Map, Value as Json};

use super::chain::{Chain, Fault, encode, row_hash};
use crate::error::{Error, Result};

/// `risk_trades`: every fill and close the risk book recorded, chained over these columns.
pub const RISK_TRADES: Chain = Chain {
    table: "risk_trades",
    columns: &["ts_ms", "ts", "kind", "symbol", "strategy", "pnl"],
};

/// `state_seals`: the sealed snapshots of the live state, chained.
pub const STATE_SEALS: Chain = Chain {
    table: "state_seals",
    columns: &["ts_ms", "state"],
};

/// The chains this module adds, in the order `verify` reports them.
pub const CHAINS: [Chain; 2] = [RISK_TRADES, STATE_SEALS];

/// A sealed table: its name, its key columns (joined into the row's name) and its other columns.
struct Sealed {
    table: &'static str,
    key: &'static [&'static str],
    columns: &'static [&'static str],
}

const RISK_STATE: Sealed = Sealed {
    table: "risk_state",
    key: &["id"],
    columns: &[
        "balance",
        "equity_peak",
        "day",
        "day_started_ms",
        "day_start_balance",
        "daily_pnl",
        "open_positions",
        "emergency",
        "emergency_reason",
        "emergency_ts",
        "updated_ts",
    ],
};

const STRATEGY_BUDGETS: Sealed = Sealed {
    table: "strategy_budgets",
    key: &["strategy"],
    columns: &[
        "enabled",
        "consecutive_losses",
        "disabled_reason",
        "disabled_ts",
        "updated_ts",
    ],
};

const PAPER_CURSORS: Sealed = Sealed {
    table: "paper_cursors",
    key: &["symbol", "interval"],
    columns: &["last_bar_ms", "last_close", "updated_ms"],
};

/// The live state's canonical snapshot (see the module documentation).
pub fn snapshot(conn: &Connection) -> Result<Json> {
    let mut out = Map::new();
    for t in [RISK_STATE, STRATEGY_BUDGETS] {
        out.insert(t.table.into(), rows_of(conn, &t)?);
    }
    let head: Option<(i64, String)> = conn
        .prepare_cached("SELECT id, hash FROM risk_trades ORDER BY id DESC LIMIT 1")?
        .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let (last_id, head) = head.map_or((Json::Null, Json::Null), |(i, h)| (i.into(), h.into()));
    out.insert(
        RISK_TRADES.table.into(),
        serde_json::json!({"last_id": last_id, "head": head}),
    );
    out.insert(PAPER_CURSORS.table.into(), rows_of(conn, &PAPER_CURSORS)?);
    Ok(Json::Object(out))
}

/// Every row of `t` as `{key: {column: value}}`, in key order.
fn rows_of(conn: &Connection, t: &Sealed) -> Result<Json> {
    let sql = format!(
        "SELECT {}, {} FROM {} ORDER BY {}",
        t.key.join(", "),
        t.columns.join(", "),
        t.table,
        t.key.join(", ")
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows = stmt.query([])?;
    let mut out = Map::new();
    while let Some(r) = rows.next()? {
        let key: Vec<Json> = (0..t.key.len())
            .map(|i| r.get::<_, Value>(i).map(|v| encode(&v)))
            .collect::<rusqlite::Result<_>>()?;
        let key = match key.as_slice() {
            [Json::String(s)] => s.clone(),
            [one] => one.to_string(),
            many => Json::Array(many.to_vec()).to_string(),
        };
        let mut row = Map::new();
        for (i, c) in t.columns.iter().enumerate() {
            row.insert((*c).into(), encode(&r.get::<_, Value>(t.key.len() + i)?));
        }
        out.insert(key, Json::Object(row));
    }
    Ok(Json::Object(out))
}

/// The last seal: its id, time, snapshot text, and whether its stored hash is the hash of its content.
struct LastSeal {
    id: i64,
    state: String,
    hash_ok: bool,
}

fn last_seal(conn: &Connection) -> Result<Option<LastSeal>> {
    Ok(conn
        .prepare_cached(
            "SELECT id, ts_ms, state, prev_hash, hash FROM state_seals ORDER BY id DESC LIMIT 1",
        )?
        .query_row([], |r| {
            let id: i64 = r.get(0)?;
            let values = [r.get::<_, Value>(1)?, r.get::<_, Value>(2)?];
            let (prev, hash): (Value, Value) = (r.get(3)?, r.get(4)?);
            let hash_ok = match (&prev, &hash, &values[1]) {
                (Value::Text(p), Value::Text(h), Value::Text(_)) => {
                    row_hash(STATE_SEALS.table, id, &values, p) == *h
                }
                _ => false,
            };
            let state = match &values[1] {
                Value::Text(s) => s.clone(),
                _ => String::new(),
            };
            Ok(LastSeal { id, state, hash_ok })
        })
        .optional()?)
}

/// How the live state differs from its last seal, if it does: the table and a one-line problem naming
/// the row and field. Reads only; [`check`] and `verify` commands call it.
pub fn verify_state(conn: &Connection) -> Result<Option<Fault>> {
    let Some(seal) = last_seal(conn)? else {
        return Ok(Some(Fault {
            table: STATE_SEALS.table,
            id: None,
            problem: "there is no seal: the table was emptied outside flowrex".into(),
        }));
    };
    if !seal.hash_ok {
        return Ok(Some(Fault {
            table: STATE_SEALS.table,
            id: Some(seal.id),
            problem: "the last seal's content does not match its hash: it was edited after it was \
                      written"
                .into(),
        }));
    }
    let now = snapshot(conn)?;
    // The texts, not `now == seal.state` (which asks whether the JSON value is that string).
    let text = now.to_string();
    if text == seal.state {
        return Ok(None);
    }
    let sealed: Json = serde_json::from_str(&seal.state).unwrap_or(Json::Null);
    let (table, problem) = difference(&sealed, &now);
    Ok(Some(Fault {
        table,
        id: None,
        problem: format!("{problem} (last seal: state_seals row {})", seal.id),
    }))
}

/// The first difference between the `sealed` snapshot and the one `now`, naming table, row and field.
fn difference(sealed: &Json, now: &Json) -> (&'static str, String) {
    for t in [RISK_STATE, STRATEGY_BUDGETS] {
        if let Some(p) = table_difference(&sealed[t.table], &now[t.table]) {
            return (t.table, p);
        }
    }
    let (s, n) = (&sealed[RISK_TRADES.table], &now[RISK_TRADES.table]);
    if s != n {
        return (
            RISK_TRADES.table,
            format!(
                "the last row is id {} with hash {} but the seal has id {} with hash {}: rows were \
                 added, removed or edited at the end",
                n["last_id"], n["head"], s["last_id"], s["head"]
            ),
        );
    }
    let t = PAPER_CURSORS.table;
    if let Some(p) = table_difference(&sealed[t], &now[t]) {
        return (t, p);
    }
    (
        STATE_SEALS.table,
        "the last seal is not a snapshot this flowrex writes: it was edited".into(),
    )
}

fn table_difference(sealed: &Json, now: &Json) -> Option<String> {
    let empty = Map::new();
    let s = sealed.as_object().unwrap_or(&empty);
    let n = now.as_object().unwrap_or(&empty);
    for (key, was) in s {
        let Some(is) = n.get(key) else {
            return Some(format!(
                "row {key}: deleted outside flowrex (the seal has it)"
            ));
        };
        let changed: Vec<String> = was
            .as_object()
            .unwrap_or(&empty)
            .iter()
            .filter(|(field, v)| is[field.as_str()] != **v)
            .map(|(field, v)| format!("{field} is {} but was sealed as {v}", is[field.as_str()]))
            .collect();
        if !changed.is_empty() {
            return Some(format!(
                "row {key}: {}: changed outside flowrex",
                changed.join(", ")
            ));
        }
    }
    n.keys()
        .find(|k| !s.contains_key(*k))
        .map(|key| format!("row {key}: inserted outside flowrex (the seal does not have it)"))
}

/// The gate's check, at the start of every operation that decides on the live state: the last seal
/// matches its hash, the `risk_trades` rows from the one before the first row at or after
/// `trades_from_ms` (the rows the gate counts; `None`: only the last row) chain and match their hashes,
/// and the state is the sealed one. Cost: one snapshot (a few small tables) and one SHA-256 per
/// `risk_trades` row walked. A failure is [`Error::CheckFailed`] naming table, row and field.
pub fn check(conn: &Connection, trades_from_ms: Option<i64>) -> Result<()> {
    if let Some(f) = trades_tail_fault(conn, trades_from_ms)? {
        return Err(tampered(&f));
    }
    match verify_state(conn)? {
        Some(f) => Err(tampered(&f)),
        None => Ok(()),
    }
}

fn tampered(f: &Fault) -> Error {
    Error::CheckFailed(format!(
        "live state tampered: {f}; nothing was checked or recorded (`flowrex risk-check verify` shows \
         it, `flowrex risk-check reseal --reason TEXT` accepts the state as it is now)"
    ))
}

/// The first broken `risk_trades` row from the row before the first one at or after `from_ms` (any
/// kind; by the `(kind, ts_ms)` index) to the last.
fn trades_tail_fault(conn: &Connection, from_ms: Option<i64>) -> Result<Option<Fault>> {
    let first: Option<i64> = match from_ms {
        Some(ms) => conn
            .prepare_cached(
                "SELECT min(id) FROM risk_trades WHERE kind IN ('fill', 'close') AND ts_ms >= ?1",
            )?
            .query_row([ms], |r| r.get(0))?,
        None => None,
    };
    let start: Option<i64> = match first {
        Some(f) => conn
            .prepare_cached("SELECT coalesce(max(id), ?1) FROM risk_trades WHERE id < ?1")?
            .query_row([f], |r| r.get(0))?,
        None => conn
            .prepare_cached("SELECT max(id) FROM risk_trades")?
            .query_row([], |r| r.get(0))?,
    };
    match start {
        Some(s) => RISK_TRADES.verify_from(conn, s),
        None => Ok(None),
    }
}

/// Seals the live state as it is now, at the end of an operation that changed it, in its transaction:
/// appends a seal row when the snapshot differs from the last one (an operation that changed nothing
/// adds nothing).
pub fn reseal(tx: &Transaction<'_>, now_ms: i64) -> Result<()> {
    let state = snapshot(tx)?.to_string();
    let last: Option<String> = tx
        .prepare_cached("SELECT state FROM state_seals ORDER BY id DESC LIMIT 1")?
        .query_row([], |r| r.get(0))
        .optional()?;
    if last.as_deref() != Some(state.as_str()) {
        STATE_SEALS.append(tx, &[now_ms.into(), state.into()])?;
    }
    Ok(())
}

/// Appends a seal of the state as it is now, whatever the last one holds; returns its id. For the
/// audited acceptance of a state found changed (`risk-check reseal`), where the last seal itself may
/// have been edited to match.
pub fn seal_now(tx: &Transaction<'_>, now_ms: i64) -> Result<i64> {
    let state = snapshot(tx)?.to_string();
    STATE_SEALS.append(tx, &[now_ms.into(), state.into()])
}

/// The Rust step of the state-seal migration: copies `risk_trades_v7` (the table as it was) into the
/// chained `risk_trades`, keeping ids, drops it, and anchors the state as found — the first seal. Part
/// of a shipped migration: never change what it does.
pub(crate) fn anchor_existing_state(tx: &Transaction<'_>) -> Result<()> {
    RISK_TRADES.copy_from(tx, "risk_trades_v7")?;
    tx.execute_batch("DROP TABLE risk_trades_v7;")?;
    reseal(tx, chrono::Utc::now().timestamp_millis())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::Db;

    /// 2026-03-02T00:00:00Z in ms (20 514 days × 86 400 000).
    const DAY: i64 = 1_772_409_600_000;

    fn trade(tx: &Transaction<'_>, ts_ms: i64) {
        let values = [
            ts_ms.into(),
            "t".to_string().into(),
            "fill".to_string().into(),
            "BTCUSD".to_string().into(),
            Value::Null,
            Value::Null,
        ];
        RISK_TRADES.append(tx, &values).unwrap();
    }

    fn seals(db: &Db) -> i64 {
        db.conn()
            .query_row("SELECT count(*) FROM state_seals", [], |r| r.get(0))
            .unwrap()
    }

    /// A database with a budget, a cursor and three fills (two days ago, today, today), sealed.
    fn db() -> Db {
        let mut db = Db::open_in_memory().unwrap();
        db.write(|tx| {
            tx.execute_batch(
                "INSERT INTO strategy_budgets (strategy) VALUES ('s');
                 INSERT INTO paper_cursors VALUES ('GOOG', '1d', 5, 580.5, 9);",
            )?;
            for ts in [DAY - 2 * 86_400_000, DAY + 10, DAY + 20] {
                trade(tx, ts);
            }
            reseal(tx, DAY)
        })
        .unwrap();
        db
    }

    fn edited(sql: &str) -> String {
        let db = db();
        db.conn().execute_batch(sql).unwrap();
        let err = check(db.conn(), None).unwrap_err();
        assert_eq!(err.exit_code(), 3, "{err}");
        let fault = verify_state(db.conn()).unwrap().expect("a difference");
        assert!(err.to_string().contains(&fault.to_string()), "{err}");
        fault.to_string()
    }

    #[test]
    fn a_new_database_is_sealed_and_an_unchanged_state_adds_no_seal() {
        let mut db = Db::open_in_memory().unwrap();
        assert_eq!(seals(&db), 1, "the migration anchors the state");
        assert_eq!(verify_state(db.conn()).unwrap(), None);
        db.write(|tx| reseal(tx, 1)).unwrap();
        assert_eq!(seals(&db), 1);
        let db = self::db();
        assert_eq!(seals(&db), 2);
        check(db.conn(), Some(DAY)).unwrap();
    }

    #[test]
    fn each_table_changed_outside_is_named_with_its_row_and_fields() {
        assert!(
            edited("UPDATE risk_state SET daily_pnl = -5, open_positions = 3").starts_with(
                "risk_state: row 1: daily_pnl is -5.0 but was sealed as 0.0, open_positions is 3 \
                 but was sealed as 0: changed outside flowrex (last seal: state_seals row 2)"
            )
        );
        assert!(
            edited("DELETE FROM strategy_budgets")
                .starts_with("strategy_budgets: row s: deleted outside flowrex")
        );
        assert!(
            edited("INSERT INTO strategy_budgets (strategy) VALUES ('t')")
                .starts_with("strategy_budgets: row t: inserted outside flowrex")
        );
        assert!(
            edited("UPDATE paper_cursors SET last_close = 580.25").starts_with(
                "paper_cursors: row [\"GOOG\",\"1d\"]: last_close is 580.25 but was sealed as 580.5"
            )
        );
        assert!(
            edited("DROP TRIGGER risk_trades_no_delete; DELETE FROM risk_trades WHERE id = 3")
                .starts_with("risk_trades: the last row is id 2")
        );
    }

    #[test]
    fn an_edited_last_seal_is_refused() {
        let db = db();
        db.conn()
            .execute_batch(
                "DROP TRIGGER state_seals_no_update;
                 UPDATE state_seals SET ts_ms = ts_ms + 1 WHERE id = 2;",
            )
            .unwrap();
        let err = check(db.conn(), None).unwrap_err().to_string();
        assert!(
            err.contains("state_seals row 2: the last seal's content does not match its hash"),
            "{err}"
        );
    }

    #[test]
    fn the_gate_walks_from_the_row_before_the_first_counted_one() {
        // Fill 2 (today's first) moved to yesterday: today's count drops from 2 to 1. The rows the gate
        // walks start at the one before the first row still in the window (fill 3), so fill 2 is hashed.
        let db = db();
        db.conn()
            .execute_batch(
                "DROP TRIGGER risk_trades_no_update;
                 UPDATE risk_trades SET ts_ms = ts_ms - 86400000 WHERE id = 2;",
            )
            .unwrap();
        let err = check(db.conn(), Some(DAY)).unwrap_err().to_string();
        assert!(
            err.contains("risk_trades row 2: its content does not match its hash"),
            "{err}"
        );
        // Only the last row (no window) does not reach it: the full chain in `verify` does.
        check(db.conn(), None).unwrap();
        let full = RISK_TRADES.verify(db.conn()).unwrap().fault.unwrap();
        assert_eq!(full.id, Some(2));
    }
}
