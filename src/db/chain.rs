//! Hash chains over append-only tables. Each row stores `prev_hash`, the hash of the row before it
//! ([`GENESIS`] for the first row), and `hash`, the SHA-256 of the row's canonical encoding — which
//! includes `prev_hash`. Editing a row changes its hash; deleting, inserting or reordering rows breaks the
//! link of the next row. [`Chain::verify`] recomputes everything and names the first row where the chain
//! breaks. The risk audit tables use it ([`super::audit`]), and so do the journal's tables.
//!
//! # The canonical encoding (version 1)
//!
//! A row's canonical text is the compact JSON array
//!
//! ```text
//! ["flowrex-chain-v1",TABLE,ID,V1,…,Vn,PREV_HASH]
//! ```
//!
//! TABLE is the table name, ID the row's integer id, V1…Vn the row's content columns in the chain's fixed
//! order ([`Chain::columns`]), PREV_HASH the previous row's hash. A value is encoded by its SQLite storage
//! class: NULL → `null`; INTEGER → a JSON integer; TEXT → a JSON string; REAL → a JSON number in its
//! shortest round-trip form (`{"real":"inf"}`, `{"real":"-inf"}`, `{"real":"nan"}` when not finite);
//! BLOB → `{"blob":"<lowercase hex>"}`. Strings escape `"` and `\` with a backslash, U+0008, U+0009,
//! U+000A, U+000C and U+000D as `\b \t \n \f \r`, the other characters below U+0020 as `\u00xx`
//! (lowercase hex), and nothing else; there are no spaces. The hash is the SHA-256 of the text's UTF-8
//! bytes, written as 64 lowercase hex digits.
//!
//! For rows of NULL, INTEGER and TEXT values (every audit table), Python's
//! `json.dumps(row, ensure_ascii=False, separators=(",", ":"))` produces the same text, so a chain can be
//! checked without flowrex (`docs/safety-risk.md` has the script).
//!
//! A chain detects changes to the rows it covers. It cannot, by itself, detect the newest rows being
//! removed from the end, or every row from some point on being rewritten with freshly computed hashes
//! (the hash has no secret): keep the head hash [`Chain::verify`] reports somewhere else to catch that.

use rusqlite::types::Value;
use rusqlite::{CachedStatement, Connection, OptionalExtension, Transaction, params_from_iter};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::hex::hex;

/// The first element of every canonical row: names the encoding, so a future one can differ.
pub const FORMAT: &str = "flowrex-chain-v1";

/// The `prev_hash` of a chain's first row: 64 zeros.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// An append-only table whose rows are hash-chained. The table has an `INTEGER PRIMARY KEY` named `id`,
/// the content `columns`, and `prev_hash` and `hash` (TEXT).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Chain {
    /// The table.
    pub table: &'static str,
    /// The content columns, in canonical order (not `id`, `prev_hash` or `hash`).
    pub columns: &'static [&'static str],
}

/// Where a chain breaks.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Fault {
    /// The table.
    pub table: &'static str,
    /// The first row that does not verify (`None` for a problem with the table's guards).
    pub id: Option<i64>,
    /// What is wrong, in one line.
    pub problem: String,
}

/// `TABLE row ID: PROBLEM` (or `TABLE: PROBLEM` without a row): one line.
impl std::fmt::Display for Fault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.id {
            Some(id) => write!(f, "{} row {id}: {}", self.table, self.problem),
            None => write!(f, "{}: {}", self.table, self.problem),
        }
    }
}

/// The result of verifying one chain.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ChainStatus {
    /// The table.
    pub table: &'static str,
    /// Rows in the table.
    pub rows: u64,
    /// The last row's stored hash ([`GENESIS`] for an empty table): keep it to detect a later rewrite or
    /// a removal from the end.
    pub head: String,
    /// The first row where the chain breaks, if any.
    pub fault: Option<Fault>,
}

/// Appends rows to one chain inside one transaction ([`Chain::appender`]).
pub struct Appender<'a> {
    chain: Chain,
    stmt: CachedStatement<'a>,
    last_id: i64,
    prev: String,
}

impl Appender<'_> {
    /// Appends a row of content `values` (one per [`Chain::columns`], in order) with the next id, chained
    /// to the row before it. Returns the new row's id.
    pub fn push(&mut self, values: &[Value]) -> Result<i64> {
        let table = self.chain.table;
        if values.len() != self.chain.columns.len() {
            return Err(Error::invalid(format!(
                "{table}: {} values for {} columns",
                values.len(),
                self.chain.columns.len()
            )));
        }
        let id = self.last_id + 1;
        let hash = row_hash(table, id, values, &self.prev);
        let id_value = Value::Integer(id);
        let args = std::iter::once(&id_value)
            .chain(values)
            .map(|v| v as &dyn rusqlite::ToSql)
            .chain([
                &self.prev as &dyn rusqlite::ToSql,
                &hash as &dyn rusqlite::ToSql,
            ]);
        self.stmt.execute(params_from_iter(args))?;
        self.last_id = id;
        self.prev = hash;
        Ok(id)
    }

    /// The hash of the last row (the chain's head so far).
    pub fn head(&self) -> &str {
        &self.prev
    }
}

/// The canonical text of a row (see the module documentation).
pub fn canonical(table: &str, id: i64, values: &[Value], prev_hash: &str) -> String {
    let mut items = Vec::with_capacity(values.len() + 4);
    items.push(serde_json::Value::from(FORMAT));
    items.push(table.into());
    items.push(id.into());
    items.extend(values.iter().map(encode));
    items.push(prev_hash.into());
    serde_json::Value::Array(items).to_string()
}

/// A value as its canonical JSON (see the module documentation).
pub(crate) fn encode(v: &Value) -> serde_json::Value {
    use serde_json::json;
    match v {
        Value::Null => serde_json::Value::Null,
        Value::Integer(i) => (*i).into(),
        Value::Text(s) => s.as_str().into(),
        Value::Real(f) => match serde_json::Number::from_f64(*f) {
            Some(n) => serde_json::Value::Number(n),
            None if f.is_nan() => json!({"real": "nan"}),
            None if *f > 0.0 => json!({"real": "inf"}),
            None => json!({"real": "-inf"}),
        },
        Value::Blob(b) => json!({"blob": hex(b)}),
    }
}

/// The SHA-256 of `text`, as 64 lowercase hex digits.
pub fn sha256_hex(text: &str) -> String {
    hex(&Sha256::digest(text.as_bytes()))
}

/// The hash of a row: [`sha256_hex`] of its [`canonical`] text.
pub fn row_hash(table: &str, id: i64, values: &[Value], prev_hash: &str) -> String {
    sha256_hex(&canonical(table, id, values, prev_hash))
}

impl Chain {
    /// Appends a row of content `values` (one per [`Chain::columns`], in order) with the next id, chained
    /// to the last row. Run it inside a write transaction (`BEGIN IMMEDIATE`), which serializes writers,
    /// so the next id and the last hash cannot change under it. Returns the new row's id.
    pub fn append(&self, tx: &Transaction<'_>, values: &[Value]) -> Result<i64> {
        self.appender(tx)?.push(values)
    }

    /// An [`Appender`] for many rows in one transaction: it reads the last row once and keeps the
    /// chain's head and a prepared statement, so each further row costs one hash and one insert. Run it
    /// inside a write transaction (`BEGIN IMMEDIATE`), and do not append to the same chain any other way
    /// while it lives.
    pub fn appender<'a>(&self, tx: &'a Transaction<'_>) -> Result<Appender<'a>> {
        let (last_id, prev) = self.last(tx)?;
        let sql = format!(
            "INSERT INTO {} (id, {}, prev_hash, hash) VALUES ({})",
            self.table,
            self.columns.join(", "),
            vec!["?"; self.columns.len() + 3].join(", ")
        );
        Ok(Appender {
            chain: *self,
            stmt: tx.prepare_cached(&sql)?,
            last_id,
            prev,
        })
    }

    /// The last row's id and hash (0 and [`GENESIS`] for an empty table).
    fn last(&self, conn: &Connection) -> Result<(i64, String)> {
        let sql = format!(
            "SELECT id, hash FROM {} ORDER BY id DESC LIMIT 1",
            self.table
        );
        Ok(conn
            .prepare_cached(&sql)?
            .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?
            .unwrap_or_else(|| (0, GENESIS.to_string())))
    }

    fn insert(&self, tx: &Transaction<'_>, id: i64, values: &[Value], prev: &str) -> Result<()> {
        if values.len() != self.columns.len() {
            return Err(Error::invalid(format!(
                "{}: {} values for {} columns",
                self.table,
                values.len(),
                self.columns.len()
            )));
        }
        let hash = row_hash(self.table, id, values, prev);
        let sql = format!(
            "INSERT INTO {} (id, {}, prev_hash, hash) VALUES ({})",
            self.table,
            self.columns.join(", "),
            vec!["?"; values.len() + 3].join(", ")
        );
        let mut args = Vec::with_capacity(values.len() + 3);
        args.push(Value::Integer(id));
        args.extend(values.iter().cloned());
        args.push(Value::Text(prev.to_string()));
        args.push(Value::Text(hash));
        tx.execute(&sql, params_from_iter(args))?;
        Ok(())
    }

    /// Copies every row of `source` (a table with `id` and the same content columns) into this chain in id
    /// order, keeping the ids, and computing each row's links. For a migration that brings rows written
    /// before the table was chained into the chain.
    pub(crate) fn copy_from(&self, tx: &Transaction<'_>, source: &str) -> Result<u64> {
        let sql = format!(
            "SELECT id, {} FROM {source} ORDER BY id",
            self.columns.join(", ")
        );
        let mut stmt = tx.prepare(&sql)?;
        let mut rows = stmt.query([])?;
        let mut prev = self.last(tx)?.1;
        let mut n = 0;
        while let Some(r) = rows.next()? {
            let id: i64 = r.get(0)?;
            let values = (1..=self.columns.len())
                .map(|i| r.get::<_, Value>(i))
                .collect::<rusqlite::Result<Vec<_>>>()?;
            self.insert(tx, id, &values, &prev)?;
            prev = row_hash(self.table, id, &values, &prev);
            n += 1;
        }
        Ok(n)
    }

    /// Recomputes the chain row by row, in id order, and reports the first row whose stored `prev_hash`
    /// is not the previous row's hash (a row was removed, inserted or reordered before it) or whose stored
    /// `hash` is not the hash of its content (it was edited).
    pub fn verify(&self, conn: &Connection) -> Result<ChainStatus> {
        let n = self.columns.len();
        let sql = format!(
            "SELECT id, {}, prev_hash, hash FROM {} ORDER BY id",
            self.columns.join(", "),
            self.table
        );
        let mut stmt = conn.prepare(&sql)?;
        let mut rows = stmt.query([])?;
        let mut status = ChainStatus {
            table: self.table,
            rows: 0,
            head: GENESIS.to_string(),
            fault: None,
        };
        let mut before: Option<i64> = None;
        while let Some(r) = rows.next()? {
            let id: i64 = r.get(0)?;
            let values = (1..=n)
                .map(|i| r.get::<_, Value>(i))
                .collect::<rusqlite::Result<Vec<_>>>()?;
            let prev = text(r.get(n + 1)?);
            let hash = text(r.get(n + 2)?);
            status.rows += 1;
            if status.fault.is_none() {
                status.fault = self.check_row(id, &values, &prev, &hash, &status.head, before);
            }
            status.head = hash;
            before = Some(id);
        }
        Ok(status)
    }

    /// Checks the rows from id `start` on, in id order: each chains to the row before it (the first to
    /// the row before `start`, which is not itself checked) and matches its hash. The first broken row,
    /// if any. For a check of a chain's recent rows that must not cost a walk over all of them.
    pub fn verify_from(&self, conn: &Connection, start: i64) -> Result<Option<Fault>> {
        let n = self.columns.len();
        let before: Option<(i64, String)> = conn
            .prepare_cached(&format!(
                "SELECT id, hash FROM {} WHERE id < ?1 ORDER BY id DESC LIMIT 1",
                self.table
            ))?
            .query_row([start], |r| Ok((r.get(0)?, text(r.get(1)?))))
            .optional()?;
        let (mut before, mut expected) = match before {
            Some((id, h)) => (Some(id), h),
            None => (None, GENESIS.to_string()),
        };
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT id, {}, prev_hash, hash FROM {} WHERE id >= ?1 ORDER BY id",
            self.columns.join(", "),
            self.table
        ))?;
        let mut rows = stmt.query([start])?;
        while let Some(r) = rows.next()? {
            let id: i64 = r.get(0)?;
            let values = (1..=n)
                .map(|i| r.get::<_, Value>(i))
                .collect::<rusqlite::Result<Vec<_>>>()?;
            let (prev, hash) = (text(r.get(n + 1)?), text(r.get(n + 2)?));
            if let Some(f) = self.check_row(id, &values, &prev, &hash, &expected, before) {
                return Ok(Some(f));
            }
            (before, expected) = (Some(id), hash);
        }
        Ok(None)
    }

    fn check_row(
        &self,
        id: i64,
        values: &[Value],
        prev: &str,
        hash: &str,
        expected_prev: &str,
        before: Option<i64>,
    ) -> Option<Fault> {
        let fault = |problem: String| {
            Some(Fault {
                table: self.table,
                id: Some(id),
                problem,
            })
        };
        if prev != expected_prev {
            return fault(match before {
                Some(b) => format!(
                    "its prev_hash is not the hash of row {b} before it: a row was deleted, inserted or \
                     reordered, or row {b} was rewritten"
                ),
                None => {
                    "it is the first row but its prev_hash is not the genesis hash: rows before it \
                         were deleted"
                        .to_string()
                }
            });
        }
        if row_hash(self.table, id, values, prev) != hash {
            return fault(
                "its content does not match its hash: it was edited after it was written".into(),
            );
        }
        None
    }
}

/// A stored hash as text (anything else cannot match and is shown as its SQL type).
fn text(v: Value) -> String {
    match v {
        Value::Text(s) => s,
        other => format!("<{:?}>", other.data_type()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn txt(s: &str) -> Value {
        Value::Text(s.into())
    }

    const T: Chain = Chain {
        table: "t",
        columns: &["a", "b"],
    };

    fn db() -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE t (id INTEGER PRIMARY KEY, a, b, prev_hash TEXT NOT NULL, hash TEXT NOT NULL);",
        )
        .unwrap();
        conn
    }

    fn append(conn: &mut Connection, a: Value, b: Value) -> i64 {
        let tx = conn.transaction().unwrap();
        let id = T.append(&tx, &[a, b]).unwrap();
        tx.commit().unwrap();
        id
    }

    #[test]
    fn the_canonical_text_and_hash_match_an_independent_computation() {
        // Every storage class and every escaping rule in one row.
        let values = [
            Value::Null,
            Value::Integer(-42),
            Value::Text("a \"q\" \\ é\n\t\u{1}".into()),
            Value::Real(1.5),
            Value::Real(f64::INFINITY),
            Value::Blob(vec![0, 255]),
        ];
        let text = canonical("risk_decisions", 7, &values, GENESIS);
        assert_eq!(
            text,
            format!(
                r#"["flowrex-chain-v1","risk_decisions",7,null,-42,"a \"q\" \\ é\n\t\u0001",1.5,{{"real":"inf"}},{{"blob":"00ff"}},"{GENESIS}"]"#
            )
        );
        // The expected digests come from coreutils, not from this code:
        //   printf '%s' "$TEXT" | sha256sum
        // for TEXT = the canonical text above, and for the audit-style row below.
        assert_eq!(
            sha256_hex(&text),
            "419dcf78c3bf7858808a8c4f18b2bbf590dfb753684e53557d5a06293097c83a"
        );
        let row = canonical(
            "settings_audit",
            1,
            &[
                Value::Integer(1_772_323_200_000),
                txt("2026-03-01T00:00:00.000Z"),
                txt("risk.balance"),
                Value::Null,
                txt("1000"),
                Value::Null,
            ],
            GENESIS,
        );
        assert_eq!(
            row,
            format!(
                r#"["flowrex-chain-v1","settings_audit",1,1772323200000,"2026-03-01T00:00:00.000Z","risk.balance",null,"1000",null,"{GENESIS}"]"#
            )
        );
        assert_eq!(
            sha256_hex(&row),
            "5fc296970825b1e183fd1438e3422360ec17325873cfe1563a1ac1e62ded3ba0"
        );
    }

    #[test]
    fn appended_rows_chain_and_verify() {
        let mut conn = db();
        let empty = T.verify(&conn).unwrap();
        assert_eq!(
            (empty.rows, empty.head.as_str(), empty.fault),
            (0, GENESIS, None)
        );
        assert_eq!(append(&mut conn, Value::Integer(1), txt("x")), 1);
        assert_eq!(append(&mut conn, Value::Null, txt("y")), 2);
        let (prev2, hash2): (String, String) = conn
            .query_row("SELECT prev_hash, hash FROM t WHERE id = 2", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .unwrap();
        let hash1: String = conn
            .query_row("SELECT hash FROM t WHERE id = 1", [], |r| r.get(0))
            .unwrap();
        assert_eq!(prev2, hash1);
        assert_eq!(hash2, row_hash("t", 2, &[Value::Null, txt("y")], &hash1));
        let st = T.verify(&conn).unwrap();
        assert_eq!((st.rows, st.head, st.fault), (2, hash2, None));
    }

    fn three_rows() -> Connection {
        let mut conn = db();
        for i in 1..=3 {
            append(
                &mut conn,
                Value::Integer(i),
                Value::Text(format!("row {i}")),
            );
        }
        conn
    }

    fn fault_of(conn: &Connection) -> (Option<i64>, String) {
        let f = T.verify(conn).unwrap().fault.expect("a fault");
        (f.id, f.problem)
    }

    #[test]
    fn an_edit_names_the_edited_row() {
        let conn = three_rows();
        conn.execute("UPDATE t SET b = 'row two' WHERE id = 2", [])
            .unwrap();
        let (id, problem) = fault_of(&conn);
        assert_eq!(id, Some(2));
        assert!(problem.contains("edited"), "{problem}");
        // A change of storage class alone (the integer 2 stored as the text '2') is an edit too.
        let conn = three_rows();
        conn.execute("UPDATE t SET a = '2' WHERE id = 2", [])
            .unwrap();
        assert_eq!(fault_of(&conn).0, Some(2));
    }

    #[test]
    fn a_deletion_or_a_rewrite_with_a_fresh_hash_names_the_next_row() {
        let conn = three_rows();
        conn.execute("DELETE FROM t WHERE id = 2", []).unwrap();
        let (id, problem) = fault_of(&conn);
        assert_eq!(id, Some(3));
        assert!(problem.contains("row 1 before it"), "{problem}");

        // Row 2 rewritten with a correctly recomputed hash: row 3 no longer links to it.
        let conn = three_rows();
        let prev: String = conn
            .query_row("SELECT prev_hash FROM t WHERE id = 2", [], |r| r.get(0))
            .unwrap();
        let forged = row_hash("t", 2, &[Value::Integer(2), txt("forged")], &prev);
        conn.execute(
            "UPDATE t SET b = 'forged', hash = ?1 WHERE id = 2",
            [&forged],
        )
        .unwrap();
        assert_eq!(fault_of(&conn).0, Some(3));

        // The first row deleted: the new first row does not start from the genesis hash.
        let conn = three_rows();
        conn.execute("DELETE FROM t WHERE id = 1", []).unwrap();
        let (id, problem) = fault_of(&conn);
        assert_eq!(id, Some(2));
        assert!(problem.contains("genesis"), "{problem}");
    }

    #[test]
    fn copying_old_rows_keeps_their_ids_and_chains_them() {
        let mut conn = db();
        conn.execute_batch(
            "CREATE TABLE old (id INTEGER PRIMARY KEY, a, b);
             INSERT INTO old VALUES (3, 1, 'c'), (1, 2, 'a'), (2, NULL, 'b');",
        )
        .unwrap();
        let tx = conn.transaction().unwrap();
        assert_eq!(T.copy_from(&tx, "old").unwrap(), 3);
        tx.commit().unwrap();
        let ids: Vec<i64> = conn
            .prepare("SELECT id FROM t ORDER BY id")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        assert_eq!(ids, [1, 2, 3]);
        assert_eq!(T.verify(&conn).unwrap().fault, None);
        // Appending continues the same chain.
        assert_eq!(append(&mut conn, Value::Integer(9), txt("d")), 4);
        assert_eq!(T.verify(&conn).unwrap().rows, 4);
        assert_eq!(T.verify(&conn).unwrap().fault, None);
    }
}
