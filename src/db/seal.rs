//! The seal over the live state: the mutable rows the risk gate and the paper broker decide on —
//! `risk_state`, `strategy_budgets`, `paper_cursors` — and the head of `risk_trades` (itself a hash
//! chain, [`RISK_TRADES`]). Every operation that changes such a row ends, inside its own transaction,
//! with [`reseal`]: it appends the row's canonical content (or NULL for a row that is gone) to
//! `state_seals`, an append-only hash chain ([`STATE_SEALS`]), when it differs from the row's last seal.
//! Every operation that decides on rows starts with [`check`] over exactly those rows: each must match
//! its last seal, that seal must match its hash, and the `risk_trades` rows the gate counts must chain —
//! else it fails closed with an error naming the table, row and fields ([`Error::CheckFailed`], exit 3)
//! and writes nothing. [`verify_state`] compares every row with its last seal for `verify` commands,
//! which also recompute both chains in full.
//!
//! Why one seal entry per row and not one snapshot of everything: the paper broker can hold hundreds of
//! strategy budgets (one per book); a snapshot of them all, taken twice per operation, made
//! `benches/paper.rs`'s 100 000-bar process 5 times slower. Per row, an operation pays for the rows it
//! reads and writes.
//!
//! # A seal entry (version 1)
//!
//! `state_seals` columns `ts_ms, tbl, key, row`: the table, the row's key (`1` for `risk_state`, the
//! strategy, `["SYMBOL","INTERVAL"]` for a cursor, `last` for the `risk_trades` head) and the row as a
//! compact JSON object of its columns (`last_id` and `head` for the `risk_trades` head), values encoded as
//! in a chain's canonical row ([`super::chain`]), or NULL when the row does not exist.
//!
//! What it cannot stop: the hash has no secret, so someone who edits a row and then appends a seal entry
//! with correctly recomputed hashes (or rewrites `state_seals` from some row on) is not detected here —
//! keep the seal head `verify` prints elsewhere to catch that, as for every chain.

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

/// `state_seals`: the sealed content of each live-state row, one entry per change, chained.
pub const STATE_SEALS: Chain = Chain {
    table: "state_seals",
    columns: &["ts_ms", "tbl", "key", "row"],
};

/// The chains this module adds, in the order `verify` reports them.
pub const CHAINS: [Chain; 2] = [RISK_TRADES, STATE_SEALS];

/// A sealed table: its name, its key columns and its other columns.
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

const TABLES: [Sealed; 3] = [RISK_STATE, STRATEGY_BUDGETS, PAPER_CURSORS];

/// The key of the `risk_trades` head's seal entries.
const HEAD_KEY: &str = "last";

/// One live-state row, as an operation names the rows it reads or writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Row<'a> {
    /// The `risk_state` row.
    RiskState,
    /// The last `risk_trades` row (its id and hash).
    TradesHead,
    /// A strategy's `strategy_budgets` row.
    Budget(&'a str),
    /// A market's `paper_cursors` row (symbol, interval).
    Cursor(&'a str, &'a str),
}

impl Row<'_> {
    fn table(&self) -> &'static str {
        match self {
            Row::RiskState => RISK_STATE.table,
            Row::TradesHead => RISK_TRADES.table,
            Row::Budget(_) => STRATEGY_BUDGETS.table,
            Row::Cursor(..) => PAPER_CURSORS.table,
        }
    }

    fn key(&self) -> String {
        match self {
            Row::RiskState => "1".into(),
            Row::TradesHead => HEAD_KEY.into(),
            Row::Budget(s) => (*s).into(),
            Row::Cursor(s, i) => Json::from(vec![*s, *i]).to_string(),
        }
    }

    /// The row's canonical content now (`None`: no such row).
    fn content(&self, conn: &Connection) -> Result<Option<String>> {
        let (t, args): (&Sealed, Vec<Value>) = match self {
            Row::TradesHead => return trades_head(conn),
            Row::RiskState => (&RISK_STATE, vec![Value::Integer(1)]),
            Row::Budget(s) => (&STRATEGY_BUDGETS, vec![Value::Text((*s).into())]),
            Row::Cursor(s, i) => (
                &PAPER_CURSORS,
                vec![Value::Text((*s).into()), Value::Text((*i).into())],
            ),
        };
        let filter: Vec<String> = t
            .key
            .iter()
            .enumerate()
            .map(|(i, k)| format!("{k} = ?{}", i + 1))
            .collect();
        let sql = format!(
            "SELECT {} FROM {} WHERE {}",
            t.columns.join(", "),
            t.table,
            filter.join(" AND ")
        );
        Ok(conn
            .prepare_cached(&sql)?
            .query_row(rusqlite::params_from_iter(args), |r| {
                object(r, 0, t.columns)
            })
            .optional()?)
    }
}

/// Columns `columns` of `r` from index `from` on, as a compact JSON object.
fn object(r: &rusqlite::Row<'_>, from: usize, columns: &[&str]) -> rusqlite::Result<String> {
    let mut row = Map::new();
    for (i, c) in columns.iter().enumerate() {
        row.insert((*c).into(), encode(&r.get::<_, Value>(from + i)?));
    }
    Ok(Json::Object(row).to_string())
}

fn trades_head(conn: &Connection) -> Result<Option<String>> {
    Ok(conn
        .prepare_cached("SELECT id, hash FROM risk_trades ORDER BY id DESC LIMIT 1")?
        .query_row([], |r| {
            let (id, hash): (i64, Value) = (r.get(0)?, r.get(1)?);
            Ok(serde_json::json!({"last_id": id, "head": encode(&hash)}).to_string())
        })
        .optional()?)
}

/// The last seal entry of one row: its id, the sealed content, and whether its hash is right.
struct Entry {
    id: i64,
    row: Option<String>,
    hash_ok: bool,
}

fn entry_of(r: &rusqlite::Row<'_>) -> rusqlite::Result<Entry> {
    let id: i64 = r.get(0)?;
    let values = [r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?];
    let (prev, hash): (Value, Value) = (r.get(5)?, r.get(6)?);
    let hash_ok = match (&prev, &hash) {
        (Value::Text(p), Value::Text(h)) => row_hash(STATE_SEALS.table, id, &values, p) == *h,
        _ => false,
    };
    let row = match &values[3] {
        Value::Text(s) => Some(s.clone()),
        _ => None,
    };
    Ok(Entry { id, row, hash_ok })
}

const ENTRY_COLUMNS: &str = "id, ts_ms, tbl, key, row, prev_hash, hash";

fn last_entry(conn: &Connection, table: &str, key: &str) -> Result<Option<Entry>> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {ENTRY_COLUMNS} FROM state_seals WHERE tbl = ?1 AND key = ?2 ORDER BY id DESC LIMIT 1"
        ))?
        .query_row([table, key], entry_of)
        .optional()?)
}

/// How `row` differs from its last seal entry, if it does.
fn row_fault(conn: &Connection, row: Row<'_>) -> Result<Option<Fault>> {
    let (table, key) = (row.table(), row.key());
    let entry = last_entry(conn, table, &key)?;
    let now = row.content(conn)?;
    Ok(compare(table, &key, now.as_deref(), entry.as_ref()))
}

/// The fault between a row's content `now` and its last seal `entry` (`None`: they agree).
fn compare(
    table: &'static str,
    key: &str,
    now: Option<&str>,
    entry: Option<&Entry>,
) -> Option<Fault> {
    if let Some(e) = entry.filter(|e| !e.hash_ok) {
        return Some(Fault {
            table: STATE_SEALS.table,
            id: Some(e.id),
            problem: format!(
                "the seal of {table} row {key} does not match its hash: it was edited after it was \
                 written"
            ),
        });
    }
    let sealed = entry.and_then(|e| e.row.as_deref());
    if now == sealed {
        return None;
    }
    let at = entry.map_or(String::new(), |e| {
        format!(" (sealed in state_seals row {})", e.id)
    });
    let problem = match (now, sealed) {
        (Some(n), Some(s)) if key == HEAD_KEY && table == RISK_TRADES.table => {
            let (n, s): (Json, Json) = (parse(n), parse(s));
            format!(
                "the last row is id {} with hash {} but the seal has id {} with hash {}: rows were \
                 added, removed or edited at the end{at}",
                n["last_id"], n["head"], s["last_id"], s["head"]
            )
        }
        (Some(n), Some(s)) => {
            let (n, s) = (parse(n), parse(s));
            let empty = Map::new();
            let changed: Vec<String> = s
                .as_object()
                .unwrap_or(&empty)
                .iter()
                .filter(|(f, v)| n[f.as_str()] != **v)
                .map(|(f, v)| format!("{f} is {} but was sealed as {v}", n[f.as_str()]))
                .collect();
            format!(
                "row {key}: {}: changed outside flowrex{at}",
                changed.join(", ")
            )
        }
        (Some(_), None) => format!("row {key}: inserted outside flowrex (no seal has it){at}"),
        (None, _) => format!("row {key}: deleted outside flowrex (the seal has it){at}"),
    };
    Some(Fault {
        table,
        id: None,
        problem,
    })
}

fn parse(text: &str) -> Json {
    serde_json::from_str(text).unwrap_or(Json::Null)
}

/// How the live state differs from its seals: the first row (in table order, then key order) that
/// differs from its last seal entry, or whose last entry does not match its hash. Reads every row and
/// every row's last entry; `verify` commands call it.
pub fn verify_state(conn: &Connection) -> Result<Option<Fault>> {
    Ok(differences(conn)?.into_iter().next().map(|d| d.2))
}

/// Every row that differs from its last seal: table, key, fault.
fn differences(conn: &Connection) -> Result<Vec<(&'static str, String, Fault)>> {
    let mut out = Vec::new();
    for t in TABLES {
        table_differences(conn, &t, &mut out)?;
    }
    if let Some(f) = row_fault(conn, Row::TradesHead)? {
        out.push((RISK_TRADES.table, HEAD_KEY.to_string(), f));
    }
    Ok(out)
}

/// Every row of `t` and every key sealed for it, compared.
fn table_differences(
    conn: &Connection,
    t: &Sealed,
    out: &mut Vec<(&'static str, String, Fault)>,
) -> Result<()> {
    let mut now = std::collections::BTreeMap::new();
    let sql = format!(
        "SELECT {}, {} FROM {}",
        t.key.join(", "),
        t.columns.join(", "),
        t.table
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows = stmt.query([])?;
    while let Some(r) = rows.next()? {
        let key = key_text(r, t.key.len())?;
        now.insert(key, object(r, t.key.len(), t.columns)?);
    }
    let mut sealed = std::collections::BTreeMap::new();
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {ENTRY_COLUMNS} FROM state_seals s WHERE tbl = ?1
           AND id = (SELECT max(id) FROM state_seals t WHERE t.tbl = s.tbl AND t.key = s.key)"
    ))?;
    let mut rows = stmt.query([t.table])?;
    while let Some(r) = rows.next()? {
        let key: String = r.get(3)?;
        sealed.insert(key, entry_of(r)?);
    }
    let keys: std::collections::BTreeSet<&String> = now.keys().chain(sealed.keys()).collect();
    for k in keys {
        if let Some(f) = compare(t.table, k, now.get(k).map(String::as_str), sealed.get(k)) {
            out.push((t.table, k.clone(), f));
        }
    }
    Ok(())
}

/// A row's key as [`Row::key`] writes it.
fn key_text(r: &rusqlite::Row<'_>, n: usize) -> rusqlite::Result<String> {
    let parts: Vec<Json> = (0..n)
        .map(|i| r.get::<_, Value>(i).map(|v| encode(&v)))
        .collect::<rusqlite::Result<_>>()?;
    Ok(match parts.as_slice() {
        [Json::String(s)] => s.clone(),
        [one] => one.to_string(),
        many => Json::Array(many.to_vec()).to_string(),
    })
}

/// The gate's check, at the start of every operation that decides on the live state: each of `rows`
/// matches its last seal entry and that entry its hash, and the `risk_trades` rows from the one before
/// the first row at or after `trades_from_ms` (the rows the gate counts; `None`: only the last row)
/// chain and match their hashes. Cost: a keyed read and a small hash per row named, one SHA-256 per
/// `risk_trades` row walked. A failure is [`Error::CheckFailed`] naming table, row and fields.
pub fn check(conn: &Connection, rows: &[Row<'_>], trades_from_ms: Option<i64>) -> Result<()> {
    if let Some(f) = trades_tail_fault(conn, trades_from_ms)? {
        return Err(history_tampered(&f));
    }
    for &row in rows {
        if let Some(f) = row_fault(conn, row)? {
            return Err(tampered(&f));
        }
    }
    Ok(())
}

/// A `risk_trades` row that does not match its hash: `reseal` accepts rows of the sealed tables, not
/// an edited history, so the message does not offer it.
fn history_tampered(f: &Fault) -> Error {
    Error::CheckFailed(format!(
        "live state tampered: {f}; nothing was checked or recorded. The recorded fills and closes \
         cannot be accepted as they are (`risk-check reseal` does not mend a chain): restore flowrex.db \
         from a backup; `flowrex risk-check verify` names every broken row"
    ))
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

/// Seals `rows` as an operation left them, at its end, in its transaction: appends an entry for each
/// row whose content differs from its last seal (a row that did not change adds nothing).
pub fn reseal(tx: &Transaction<'_>, rows: &[Row<'_>], now_ms: i64) -> Result<()> {
    for &row in rows {
        let (table, key) = (row.table(), row.key());
        let now = row.content(tx)?;
        let last = last_entry(tx, table, &key)?;
        let sealed = last.as_ref().and_then(|e| e.row.as_deref());
        if last.is_none() && now.is_some() || last.is_some() && sealed != now.as_deref() {
            append(tx, now_ms, table, &key, now)?;
        }
    }
    Ok(())
}

fn append(
    tx: &Transaction<'_>,
    now_ms: i64,
    table: &str,
    key: &str,
    row: Option<String>,
) -> Result<i64> {
    STATE_SEALS.append(
        tx,
        &[
            now_ms.into(),
            Value::Text(table.into()),
            Value::Text(key.into()),
            row.map_or(Value::Null, Value::Text),
        ],
    )
}

/// Seals every live-state row as it is now where it differs from its last entry or that entry does not
/// match its hash; returns how many entries it appended. For the migration's anchor and for the audited
/// acceptance of a state found changed (`risk-check reseal`).
pub fn seal_all(tx: &Transaction<'_>, now_ms: i64) -> Result<usize> {
    let found = differences(tx)?;
    for (table, key, _) in &found {
        let cursor: Vec<String>;
        let row = match *table {
            "risk_state" => Row::RiskState,
            "strategy_budgets" => Row::Budget(key),
            "paper_cursors" => {
                cursor = serde_json::from_str(key).unwrap_or_default();
                match cursor.as_slice() {
                    [s, i] => Row::Cursor(s, i),
                    _ => return Err(Error::invalid(format!("paper_cursors: bad key {key}"))),
                }
            }
            _ => Row::TradesHead,
        };
        append(tx, now_ms, table, key, row.content(tx)?)?;
    }
    Ok(found.len())
}

/// The Rust step of the state-seal migration: copies `risk_trades_v7` (the table as it was) into the
/// chained `risk_trades`, keeping ids, drops it, and seals every live-state row as found. Part of a
/// shipped migration: never change what it does.
pub(crate) fn anchor_existing_state(tx: &Transaction<'_>) -> Result<()> {
    RISK_TRADES.copy_from(tx, "risk_trades_v7")?;
    tx.execute_batch("DROP TABLE risk_trades_v7;")?;
    seal_all(tx, chrono::Utc::now().timestamp_millis()).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::Db;

    /// 2026-03-02T00:00:00Z in ms (20 514 days × 86 400 000).
    const DAY: i64 = 1_772_409_600_000;

    /// Every row the tests touch, as a gate would name them.
    const ROWS: [Row<'static>; 5] = [
        Row::RiskState,
        Row::TradesHead,
        Row::Budget("s"),
        Row::Budget("t"),
        Row::Cursor("GOOG", "1d"),
    ];

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
            reseal(tx, &ROWS, DAY)
        })
        .unwrap();
        db
    }

    fn edited(sql: &str) -> String {
        let db = db();
        db.conn().execute_batch(sql).unwrap();
        let err = check(db.conn(), &ROWS, None).unwrap_err();
        assert_eq!(err.exit_code(), 3, "{err}");
        let fault = verify_state(db.conn()).unwrap().expect("a difference");
        assert!(err.to_string().contains(&fault.to_string()), "{err}");
        fault.to_string()
    }

    #[test]
    fn a_new_database_is_sealed_and_an_unchanged_row_adds_no_entry() {
        let mut db = Db::open_in_memory().unwrap();
        assert_eq!(seals(&db), 1, "the migration seals the risk_state row");
        assert_eq!(verify_state(db.conn()).unwrap(), None);
        db.write(|tx| reseal(tx, &ROWS, 1)).unwrap();
        assert_eq!(seals(&db), 1);
        // The budget, the cursor and the trades' head: three more.
        let mut db = self::db();
        assert_eq!(seals(&db), 4);
        check(db.conn(), &ROWS, Some(DAY)).unwrap();
        assert_eq!(db.write(|tx| seal_all(tx, DAY)).unwrap(), 0);
    }

    #[test]
    fn each_table_changed_outside_is_named_with_its_row_and_fields() {
        assert_eq!(
            edited("UPDATE risk_state SET daily_pnl = -5, open_positions = 3"),
            "risk_state: row 1: daily_pnl is -5.0 but was sealed as 0.0, open_positions is 3 but was \
             sealed as 0: changed outside flowrex (sealed in state_seals row 1)"
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
    fn an_edited_seal_entry_is_refused_and_seal_all_seals_the_row_again() {
        let mut db = db();
        db.conn()
            .execute_batch(
                "DROP TRIGGER state_seals_no_update;
                 UPDATE state_seals SET ts_ms = ts_ms + 1 WHERE id = 1;",
            )
            .unwrap();
        let err = check(db.conn(), &[Row::RiskState], None)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("state_seals row 1: the seal of risk_state row 1 does not match its hash"),
            "{err}"
        );
        assert_eq!(db.write(|tx| seal_all(tx, DAY)).unwrap(), 1);
        check(db.conn(), &ROWS, None).unwrap();
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
        let err = check(db.conn(), &ROWS, Some(DAY)).unwrap_err().to_string();
        assert!(
            err.contains("risk_trades row 2: its content does not match its hash"),
            "{err}"
        );
        // Only the last row (no window) does not reach it: the full chain in `verify` does.
        check(db.conn(), &ROWS, None).unwrap();
        let full = RISK_TRADES.verify(db.conn()).unwrap().fault.unwrap();
        assert_eq!(full.id, Some(2));
    }
}
