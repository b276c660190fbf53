//! The seal over the live state: the mutable rows the risk gate and the paper broker decide on —
//! `risk_state`, `strategy_budgets`, `paper_cursors` — the head of `risk_trades` (itself a hash chain,
//! [`RISK_TRADES`]) and the counting window of the gate's walk over it ([`Window`]). Every operation
//! that changes such a row ends, inside its own transaction, with [`reseal`]: it appends the row's
//! canonical content (or NULL for a row that is gone) to `state_seals`, an append-only hash chain
//! ([`STATE_SEALS`]), when it differs from the row's last seal. Every operation that decides on rows
//! starts with [`check`] over exactly those rows: each must match its last seal, that seal must match
//! its hash, and the `risk_trades` rows the gate may count must chain ([`check_counted`]) — else it
//! fails closed with an error naming the table, row and fields ([`Error::CheckFailed`], exit 3) and
//! writes nothing. [`verify_state`] compares every row with its last seal for `verify` commands,
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
//! strategy, `["SYMBOL","INTERVAL"]` for a cursor, `last` for the `risk_trades` head, `window` for the
//! counting window) and the row as a compact JSON object of its columns (`last_id` and `head` for the
//! `risk_trades` head; `risk_state`'s `trades_from_ms` and `trades_from_id` for the window), values
//! encoded as in a chain's canonical row ([`super::chain`]), or NULL when the row does not exist.
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

/// The counting window's columns of the `risk_state` row (migration 9), sealed apart from the row's
/// other columns: only a check reads them, and the row's seal entries keep the content migration 8
/// defined.
const WINDOW: Sealed = Sealed {
    table: "risk_state",
    key: &["id"],
    columns: &["trades_from_ms", "trades_from_id"],
};

/// The key of the `risk_trades` head's seal entries.
const HEAD_KEY: &str = "last";

/// The key of the counting window's seal entries (table `risk_trades`).
const WINDOW_KEY: &str = "window";

/// Where the gate's walk over `risk_trades` starts, kept in `risk_state` (`trades_from_ms`,
/// `trades_from_id`; both NULL until the first check anchors it) and sealed as `risk_trades`/`window`.
///
/// What it promises: every `risk_trades` row with an id below `first_id` had a time before `from_ms`
/// when the window was sealed. Rows appended later take higher ids, so it stays true: every row whose
/// time may fall at or after `from_ms` — as written, whatever its time says now — has an id of at least
/// `first_id`. Why not find the first counted row by its time: `--now` and paper fills record at a
/// bar's time, so ids do not rise with time, and a row whose time was edited out of the window would
/// not be walked at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// The window's start (UTC ms): at or before the start of the counts of the check that sealed it.
    pub from_ms: i64,
    /// No row below this id had a time at or after `from_ms`.
    pub first_id: i64,
}

/// One live-state row, as an operation names the rows it reads or writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Row<'a> {
    /// The `risk_state` row.
    RiskState,
    /// The last `risk_trades` row (its id and hash).
    TradesHead,
    /// The counting window kept in `risk_state` ([`Window`]).
    TradesWindow,
    /// A strategy's `strategy_budgets` row.
    Budget(&'a str),
    /// A market's `paper_cursors` row (symbol, interval).
    Cursor(&'a str, &'a str),
}

impl Row<'_> {
    fn table(&self) -> &'static str {
        match self {
            Row::RiskState => RISK_STATE.table,
            Row::TradesHead | Row::TradesWindow => RISK_TRADES.table,
            Row::Budget(_) => STRATEGY_BUDGETS.table,
            Row::Cursor(..) => PAPER_CURSORS.table,
        }
    }

    fn key(&self) -> String {
        match self {
            Row::RiskState => "1".into(),
            Row::TradesHead => HEAD_KEY.into(),
            Row::TradesWindow => WINDOW_KEY.into(),
            Row::Budget(s) => (*s).into(),
            Row::Cursor(s, i) => Json::from(vec![*s, *i]).to_string(),
        }
    }

    /// The row's canonical content now (`None`: no such row).
    fn content(&self, conn: &Connection) -> Result<Option<String>> {
        let (t, args): (&Sealed, Vec<Value>) = match self {
            Row::TradesHead => return trades_head(conn),
            Row::RiskState => (&RISK_STATE, vec![Value::Integer(1)]),
            Row::TradesWindow => (&WINDOW, vec![Value::Integer(1)]),
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
            let row = if key == WINDOW_KEY && table == RISK_TRADES.table {
                "the counting window kept in risk_state row 1".to_string()
            } else {
                format!("row {key}")
            };
            format!("{row}: {}: changed outside flowrex{at}", changed.join(", "))
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
    Ok(differences(conn, true)?.into_iter().next().map(|d| d.2))
}

/// Every row that differs from its last seal: table, key, fault. `window`: also the counting window
/// (its seal, and its promise over the rows below it); false only for migration 8's step, which ran
/// before the window's columns existed.
fn differences(conn: &Connection, window: bool) -> Result<Vec<(&'static str, String, Fault)>> {
    let mut out = Vec::new();
    for t in TABLES {
        table_differences(conn, &t, &mut out)?;
    }
    if let Some(f) = row_fault(conn, Row::TradesHead)? {
        out.push((RISK_TRADES.table, HEAD_KEY.to_string(), f));
    }
    if window {
        let fault = match row_fault(conn, Row::TradesWindow)? {
            Some(f) => Some(f),
            None => window_broken(conn)?,
        };
        if let Some(f) = fault {
            out.push((RISK_TRADES.table, WINDOW_KEY.to_string(), f));
        }
    }
    Ok(out)
}

/// The first row below the window's first id whose time is at or after its start: the window's
/// promise broken (the row's time edited, which its hash shows too, or the window sealed wrong). A
/// scan of the rows below the window, no hashing: for `verify`, which walks every chain anyway.
fn window_broken(conn: &Connection) -> Result<Option<Fault>> {
    let Some(w) = window(conn)? else {
        return Ok(None);
    };
    let found: Option<(i64, i64)> = conn
        .prepare_cached(
            "SELECT id, ts_ms FROM risk_trades WHERE id < ?1 AND ts_ms >= ?2 ORDER BY id LIMIT 1",
        )?
        .query_row([w.first_id, w.from_ms], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    Ok(found.map(|(id, ts)| Fault {
        table: RISK_TRADES.table,
        id: Some(id),
        problem: format!(
            "its time {} is at or after the start of the counting window sealed in risk_state row 1 \
             ({}) but its id is below the window's first row {}: its time was edited, or the window was",
            ms_text(ts),
            ms_text(w.from_ms),
            w.first_id
        ),
    }))
}

fn ms_text(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms).map_or(ms.to_string(), |t| {
        t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    })
}

/// The counting window as `risk_state` keeps it (`None`: not anchored yet, or no state row).
fn window(conn: &Connection) -> Result<Option<Window>> {
    let pair: Option<(Option<i64>, Option<i64>)> = conn
        .prepare_cached("SELECT trades_from_ms, trades_from_id FROM risk_state WHERE id = 1")?
        .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    Ok(match pair {
        Some((Some(from_ms), Some(first_id))) => Some(Window { from_ms, first_id }),
        _ => None,
    })
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

/// The gate's check, at the start of every operation that decides on the live state: the last
/// `risk_trades` row chains and matches its hash, and each of `rows` matches its last seal entry and
/// that entry its hash. Cost: a keyed read and a small hash per row named, one SHA-256 for the last
/// trade row. A failure is [`Error::CheckFailed`] naming table, row and fields. An operation that
/// counts trades (a risk check) uses [`check_counted`] instead.
pub fn check(conn: &Connection, rows: &[Row<'_>]) -> Result<()> {
    if let Some(f) = last_trade_fault(conn)? {
        return Err(history_tampered(&f));
    }
    rows_fault(conn, rows)
}

fn rows_fault(conn: &Connection, rows: &[Row<'_>]) -> Result<()> {
    for &row in rows {
        if let Some(f) = row_fault(conn, row)? {
            return Err(tampered(&f));
        }
    }
    Ok(())
}

/// The gate's check for an operation that counts the trades at or after `from_ms` (a risk check):
/// `rows` and the counting window ([`Window`]) match their seals, then every `risk_trades` row whose
/// time may fall at or after `from_ms` chains and matches its hash — every row from the window's first
/// id on, whatever its time says now, and any row below it whose time is now in the window (an edit
/// into the window). When the window is not anchored yet, or starts after `from_ms` (the clock went
/// back: `--now`, a bar time, an agent re-run over history), no id bounds those rows and every row is
/// walked. Returns the window for [`move_window`]: moved forward to `from_ms` (or anchored there), the
/// next check walks from there; a check before the window leaves it where it is, so the checks after
/// it still walk from the window, not from the older time.
///
/// Cost: as [`check`], plus one SHA-256 per row walked — the rows appended since the last check's
/// window started (its day, or the hour before it), or every row for a check before the window — and
/// one index lookup.
pub fn check_counted(conn: &Connection, rows: &[Row<'_>], from_ms: i64) -> Result<Window> {
    rows_fault(conn, rows)?;
    if let Some(f) = row_fault(conn, Row::TradesWindow)? {
        return Err(window_tampered(&f));
    }
    let first_now: Option<i64> = conn
        .prepare_cached(
            "SELECT min(id) FROM risk_trades WHERE kind IN ('fill', 'close') AND ts_ms >= ?1",
        )?
        .query_row([from_ms], |r| r.get(0))?;
    let last: Option<i64> = conn
        .prepare_cached("SELECT max(id) FROM risk_trades")?
        .query_row([], |r| r.get(0))?;
    let (start, kept) = match window(conn)? {
        Some(w) if w.from_ms <= from_ms => {
            (first_now.map_or(w.first_id, |f| f.min(w.first_id)), None)
        }
        // Before the window: its promise says nothing about older times, so every row is walked. Moving
        // the window back to `from_ms` would make every later check walk from there too (an agent
        // gating bar by bar over history would re-hash all its rows at each step): it stays.
        Some(w) => (i64::MIN, Some(w)),
        None => (i64::MIN, None),
    };
    if let Some(last) = last
        && let Some(f) = RISK_TRADES.verify_from(conn, start.min(last))?
    {
        return Err(history_tampered(&f));
    }
    // Every row from `start` on was just hashed, and every row below it has (and had) a time before
    // `from_ms`: the first row at or after it now is the first there ever was.
    Ok(kept.unwrap_or(Window {
        from_ms,
        first_id: first_now.unwrap_or(last.unwrap_or(0) + 1),
    }))
}

/// Keeps `w` in `risk_state` and seals it, in the check's transaction (nothing when it is already
/// there: through a day, checks find the window where the day's first check left it).
pub fn move_window(tx: &Transaction<'_>, w: Window, now_ms: i64) -> Result<()> {
    if window(tx)? == Some(w) {
        return Ok(());
    }
    set_window(tx, Some(w))?;
    reseal(tx, &[Row::TradesWindow], now_ms)
}

fn set_window(tx: &Transaction<'_>, w: Option<Window>) -> Result<()> {
    tx.prepare_cached(
        "UPDATE risk_state SET trades_from_ms = ?1, trades_from_id = ?2 WHERE id = 1",
    )?
    .execute([w.map(|w| w.from_ms), w.map(|w| w.first_id)])?;
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

/// The counting window changed outside flowrex: `reseal` does not accept it as found but clears it
/// ([`seal_all`]), so the message says that rather than "accepts the state as it is now".
fn window_tampered(f: &Fault) -> Error {
    Error::CheckFailed(format!(
        "live state tampered: {f}; nothing was checked or recorded (`flowrex risk-check verify` shows \
         it, `flowrex risk-check reseal --reason TEXT` clears the window: the next check re-hashes every \
         risk_trades row and seals a new window)"
    ))
}

/// The last `risk_trades` row, if it does not chain to the row before it or match its hash.
fn last_trade_fault(conn: &Connection) -> Result<Option<Fault>> {
    let last: Option<i64> = conn
        .prepare_cached("SELECT max(id) FROM risk_trades")?
        .query_row([], |r| r.get(0))?;
    match last {
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
///
/// The counting window is not accepted as found but cleared (not anchored): it is derived from the
/// rows, not a fact to correct, so the next check walks every row once and anchors it again.
pub fn seal_all(tx: &Transaction<'_>, now_ms: i64) -> Result<usize> {
    seal_found(tx, now_ms, differences(tx, true)?)
}

fn seal_found(
    tx: &Transaction<'_>,
    now_ms: i64,
    found: Vec<(&'static str, String, Fault)>,
) -> Result<usize> {
    for (table, key, _) in &found {
        let cursor: Vec<String>;
        let row = match (*table, key.as_str()) {
            ("risk_state", _) => Row::RiskState,
            ("strategy_budgets", _) => Row::Budget(key),
            ("paper_cursors", _) => {
                cursor = serde_json::from_str(key).unwrap_or_default();
                match cursor.as_slice() {
                    [s, i] => Row::Cursor(s, i),
                    _ => return Err(Error::invalid(format!("paper_cursors: bad key {key}"))),
                }
            }
            (_, WINDOW_KEY) => {
                set_window(tx, None)?;
                Row::TradesWindow
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
    let now_ms = chrono::Utc::now().timestamp_millis();
    seal_found(tx, now_ms, differences(tx, false)?).map(drop)
}

/// The Rust step of the trades-window migration: seals the counting window as the migration left it —
/// not anchored, so the first check walks every `risk_trades` row and anchors it. The seal entries of
/// the state row are not touched: a change made outside flowrex before the upgrade is still named.
/// Part of a shipped migration: never change what it does.
pub(crate) fn anchor_window(tx: &Transaction<'_>) -> Result<()> {
    reseal(
        tx,
        &[Row::TradesWindow],
        chrono::Utc::now().timestamp_millis(),
    )
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
        db_with(&[DAY - 2 * 86_400_000, DAY + 10, DAY + 20])
    }

    /// A database with a budget, a cursor and fills at `trades` (ids 1, 2, …), sealed.
    fn db_with(trades: &[i64]) -> Db {
        let mut db = Db::open_in_memory().unwrap();
        db.write(|tx| {
            tx.execute_batch(
                "INSERT INTO strategy_budgets (strategy) VALUES ('s');
                 INSERT INTO paper_cursors VALUES ('GOOG', '1d', 5, 580.5, 9);",
            )?;
            for &ts in trades {
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
        let err = check(db.conn(), &ROWS).unwrap_err();
        assert_eq!(err.exit_code(), 3, "{err}");
        let fault = verify_state(db.conn()).unwrap().expect("a difference");
        assert!(err.to_string().contains(&fault.to_string()), "{err}");
        fault.to_string()
    }

    #[test]
    fn a_new_database_is_sealed_and_an_unchanged_row_adds_no_entry() {
        let mut db = Db::open_in_memory().unwrap();
        assert_eq!(
            seals(&db),
            2,
            "the migrations seal the risk_state row and the counting window"
        );
        assert_eq!(verify_state(db.conn()).unwrap(), None);
        db.write(|tx| reseal(tx, &ROWS, 1)).unwrap();
        assert_eq!(seals(&db), 2);
        // The budget, the cursor and the trades' head: three more.
        let mut db = self::db();
        assert_eq!(seals(&db), 5);
        check_counted(db.conn(), &ROWS, DAY).unwrap();
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
        let err = check(db.conn(), &[Row::RiskState]).unwrap_err().to_string();
        assert!(
            err.contains("state_seals row 1: the seal of risk_state row 1 does not match its hash"),
            "{err}"
        );
        assert_eq!(db.write(|tx| seal_all(tx, DAY)).unwrap(), 1);
        check(db.conn(), &ROWS).unwrap();
    }

    /// Drops `table`'s triggers, runs `sql`, puts them back (as `support::tamper` does with sqlite3).
    fn tamper(conn: &Connection, table: &str, sql: &str) {
        let triggers: Vec<(String, String)> = conn
            .prepare("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ?1")
            .unwrap()
            .query_map([table], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        for (name, _) in &triggers {
            conn.execute(&format!("DROP TRIGGER {name}"), []).unwrap();
        }
        assert_eq!(conn.execute(sql, []).unwrap(), 1, "{sql}");
        for (_, create) in &triggers {
            conn.execute(create, []).unwrap();
        }
    }

    /// A risk check's walk from `from_ms`, its window kept and sealed as the gate does.
    fn counted(db: &mut Db, from_ms: i64) -> Result<Window> {
        db.write(|tx| {
            let w = check_counted(tx, &ROWS, from_ms)?;
            move_window(tx, w, from_ms)?;
            Ok(w)
        })
    }

    fn fault_of(r: Result<Window>) -> String {
        let err = r.unwrap_err();
        assert_eq!(err.exit_code(), 3, "{err}");
        err.to_string()
    }

    #[test]
    fn a_row_edited_out_of_the_window_is_walked_though_ids_do_not_rise_with_time() {
        // Fill 1 today, fill 2 at a bar time of yesterday (`--now`, a paper fill), fill 3 today: ids
        // do not rise with time. The check anchors the window at today's first row, fill 1.
        let mut db = db_with(&[DAY + 10, DAY - 86_400_000, DAY + 20]);
        let w = counted(&mut db, DAY).unwrap();
        assert_eq!(
            w,
            Window {
                from_ms: DAY,
                first_id: 1
            }
        );
        // Fill 1 moved to yesterday: today's count drops from 2 to 1. The first row of the window by
        // time is now fill 3, and a walk from the row before it (fill 2) does not reach fill 1.
        tamper(
            db.conn(),
            "risk_trades",
            "UPDATE risk_trades SET ts_ms = ts_ms - 86400000 WHERE id = 1",
        );
        let conn = db.conn();
        let first_by_time: i64 = conn
            .query_row(
                "SELECT min(id) FROM risk_trades WHERE ts_ms >= ?1",
                [DAY],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(first_by_time, 3);
        assert_eq!(RISK_TRADES.verify_from(conn, 2).unwrap(), None);
        // The sealed window starts at fill 1: it is walked.
        let err = fault_of(counted(&mut db, DAY));
        assert!(
            err.contains("risk_trades row 1: its content does not match its hash"),
            "{err}"
        );
    }

    #[test]
    fn a_clock_gone_back_before_the_window_walks_every_row() {
        let mut db = db();
        let w = counted(&mut db, DAY).unwrap();
        assert_eq!(w.first_id, 2);
        // Fill 1 (two days ago) moved a day further back: a check timed two days ago no longer counts
        // it. No id bounds the rows of a window that starts before the sealed one: every row is walked.
        tamper(
            db.conn(),
            "risk_trades",
            "UPDATE risk_trades SET ts_ms = ts_ms - 86400000 WHERE id = 1",
        );
        let err = fault_of(counted(&mut db, DAY - 2 * 86_400_000 - 3_600_000));
        assert!(err.contains("risk_trades row 1"), "{err}");
        // From the sealed window on, fill 1 cannot count: it is not walked.
        counted(&mut db, DAY).unwrap();
    }

    #[test]
    fn a_check_before_the_window_leaves_it_and_later_checks_walk_from_it() {
        let mut db = db();
        let sealed = counted(&mut db, DAY).unwrap();
        let entries = seals(&db);
        // An agent re-run over history: a check two days back walks every row but keeps the window.
        let back = DAY - 2 * 86_400_000 - 3_600_000;
        assert_eq!(counted(&mut db, back).unwrap(), sealed);
        assert_eq!(window(db.conn()).unwrap(), Some(sealed));
        assert_eq!(
            seals(&db),
            entries,
            "the window was not moved, so not sealed again"
        );
        // Fill 1 (below the window) edited further back: a check back there walks it and names it...
        tamper(
            db.conn(),
            "risk_trades",
            "UPDATE risk_trades SET ts_ms = ts_ms - 86400000 WHERE id = 1",
        );
        assert!(fault_of(counted(&mut db, back)).contains("risk_trades row 1"));
        // ...a forward check walks only from the window (fill 2 on), where fill 1 cannot count...
        assert_eq!(counted(&mut db, DAY).unwrap(), sealed);
        // ...and still names a row in it that was edited.
        tamper(
            db.conn(),
            "risk_trades",
            "UPDATE risk_trades SET symbol = 'X' WHERE id = 3",
        );
        assert!(fault_of(counted(&mut db, DAY)).contains("risk_trades row 3"));
    }

    #[test]
    fn the_window_moves_with_each_check_and_rows_appended_later_stay_above_it() {
        let mut db = db();
        counted(&mut db, DAY).unwrap();
        // Tomorrow: no row in the window, so it starts at the next id.
        let tomorrow = DAY + 86_400_000;
        assert_eq!(counted(&mut db, tomorrow).unwrap().first_id, 4);
        // A fill at an old bar time takes id 4; an edit of it is walked by tomorrow's next check.
        db.write(|tx| {
            trade(tx, DAY - 86_400_000);
            trade(tx, tomorrow + 5);
            reseal(tx, &ROWS, tomorrow)
        })
        .unwrap();
        tamper(
            db.conn(),
            "risk_trades",
            "UPDATE risk_trades SET symbol = 'X' WHERE id = 4",
        );
        let err = fault_of(counted(&mut db, tomorrow));
        assert!(err.contains("risk_trades row 4"), "{err}");
    }

    #[test]
    fn an_edited_window_is_named_and_reseal_clears_it() {
        let mut db = db();
        counted(&mut db, DAY).unwrap();
        tamper(
            db.conn(),
            "risk_state",
            "UPDATE risk_state SET trades_from_id = 3 WHERE id = 1",
        );
        let err = fault_of(counted(&mut db, DAY));
        let fault = verify_state(db.conn()).unwrap().unwrap().to_string();
        assert!(
            fault.starts_with(
                "risk_trades: the counting window kept in risk_state row 1: trades_from_id is 3 but \
                 was sealed as 2: changed outside flowrex"
            ),
            "{fault}"
        );
        assert!(err.contains(&fault), "{err}");
        assert!(
            err.ends_with(
                "`flowrex risk-check reseal --reason TEXT` clears the window: the next check \
                 re-hashes every risk_trades row and seals a new window)"
            ),
            "{err}"
        );
        // Accepting the state clears the window: the next check walks every row and anchors it.
        assert_eq!(db.write(|tx| seal_all(tx, DAY)).unwrap(), 1);
        assert_eq!(window(db.conn()).unwrap(), None);
        assert_eq!(counted(&mut db, DAY).unwrap().first_id, 2);
        assert_eq!(verify_state(db.conn()).unwrap(), None);
    }

    #[test]
    fn verify_names_a_row_below_the_window_whose_time_is_in_it() {
        // A window sealed past a row of today (as a forged seal would): `verify` names the row.
        let mut db = db();
        let w = Window {
            from_ms: DAY,
            first_id: 3,
        };
        db.write(|tx| move_window(tx, w, DAY)).unwrap();
        let fault = verify_state(db.conn()).unwrap().unwrap();
        assert_eq!(fault.id, Some(2));
        assert!(
            fault.to_string().starts_with(
                "risk_trades row 2: its time 2026-03-02T00:00:00.010Z is at or after the start of \
                 the counting window sealed in risk_state row 1 (2026-03-02T00:00:00.000Z) but its id \
                 is below the window's first row 3"
            ),
            "{fault}"
        );
    }

    #[test]
    fn a_database_sealed_before_the_window_walks_every_row_at_its_first_check() {
        let mut conn = Connection::open_in_memory().unwrap();
        let all = crate::db::migrations::MIGRATIONS;
        crate::db::migrations::apply(&mut conn, &all[..8]).unwrap();
        // As the state seal left it: fill 1 today, fill 2 at yesterday's bar time, sealed.
        let tx = conn.transaction().unwrap();
        for ts in [DAY + 10, DAY - 86_400_000] {
            trade(&tx, ts);
        }
        reseal(&tx, &[Row::TradesHead], DAY).unwrap();
        tx.commit().unwrap();
        crate::db::migrations::apply(&mut conn, all).unwrap();
        assert_eq!(verify_state(&conn).unwrap(), None);
        assert_eq!(window(&conn).unwrap(), None);
        // Fill 1 moved out of today: the first row in the window by time is none, yet it is walked.
        tamper(
            &conn,
            "risk_trades",
            "UPDATE risk_trades SET ts_ms = ts_ms - 86400000 WHERE id = 1",
        );
        let err = check_counted(&conn, &[Row::RiskState, Row::TradesHead], DAY)
            .unwrap_err()
            .to_string();
        assert!(err.contains("risk_trades row 1"), "{err}");
    }
}
