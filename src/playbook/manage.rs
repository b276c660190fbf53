//! Playbook management (`flowrex playbooks`): the playbooks of a folder, whether the data they were
//! computed on is still what the store holds, and status changes (`candidate`, `active`, `retired`)
//! written into the file atomically and audited in the state database's append-only, hash-chained
//! `playbook_status_events` table (migration 6). `paper-trade run` trades the `active` ones: read them
//! with [`catalog`] and [`Playbook::playbook`]`.status`.

use std::path::{Path, PathBuf};

use rusqlite::types::Value;
use rusqlite::{Connection, params};
use serde::Serialize;

use super::{FileChange, Playbook, Provenance};
use crate::candles::Interval;
use crate::candles::store::Store;
use crate::db::Db;
use crate::db::chain::Chain;
use crate::error::{Error, IoContext, Result};

/// The statuses a playbook can have, in their usual order.
pub const STATUSES: [&str; 3] = ["candidate", "active", "retired"];

/// `playbook_status_events`, chained over these columns in this order.
pub const STATUS_EVENTS: Chain = Chain {
    table: "playbook_status_events",
    columns: &[
        "ts_ms",
        "ts",
        "name",
        "file",
        "old_status",
        "new_status",
        "note",
        "content_sha256",
    ],
};

/// One file of a playbook folder: its path and the playbook, or why it could not be read.
#[derive(Debug)]
pub struct Listed {
    /// The file.
    pub path: PathBuf,
    /// The playbook, or the one-line reason it is not one.
    pub playbook: std::result::Result<Playbook, String>,
}

/// Every `*.toml` file of `dir` (not its subfolders), by file name. A missing folder has none. Files
/// that are not playbooks are listed with the reason, so one bad file hides nothing else.
pub fn catalog(dir: &Path) -> Result<Vec<Listed>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io(dir, e)),
    };
    let mut paths = Vec::new();
    for entry in entries {
        let path = entry.at(dir)?.path();
        if path.extension().is_some_and(|e| e == "toml") && path.is_file() {
            paths.push(path);
        }
    }
    paths.sort();
    Ok(paths
        .into_iter()
        .map(|path| Listed {
            playbook: Playbook::load(&path).map_err(|e| e.to_string()),
            path,
        })
        .collect())
}

/// Whether the data a playbook was computed on is still what the store (and its signals files) hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "state", content = "detail")]
pub enum DataState {
    /// The bars of its range hash to `data_sha256`, and every file it names to its `file_sha256`.
    Same,
    /// The bars (or a signals file) differ: why.
    Changed(String),
    /// The bars cannot be read (no file, a bad range): why.
    Missing(String),
}

impl DataState {
    /// `same`, `changed` or `missing`.
    pub fn word(&self) -> &'static str {
        match self {
            DataState::Same => "same",
            DataState::Changed(_) => "changed",
            DataState::Missing(_) => "missing",
        }
    }
}

/// Compares `pb`'s `[market]` (and `[strategy.file_sha256]`) with what `store` holds now; `origin`
/// names the playbook in the detail.
pub fn data_state(pb: &Playbook, store: &Store, origin: &Path) -> DataState {
    let interval: Interval = match pb.market.interval.parse() {
        Ok(i) => i,
        Err(e) => return DataState::Missing(format!("[market] interval: {e}")),
    };
    let candles = match pb
        .market
        .range()
        .and_then(|r| store.load(&pb.market.symbol, interval, &r))
    {
        Ok(c) => c,
        Err(e) => return DataState::Missing(e.to_string()),
    };
    if let Some(change) = super::DataChange::between(pb, &pb.market.symbol, interval, &candles) {
        return DataState::Changed(change.message(origin));
    }
    match super::DataChange::of_walk(pb, &pb.market.symbol, interval, store) {
        Ok(Some(change)) => return DataState::Changed(change.message(origin)),
        Ok(None) => {}
        Err(e) => return DataState::Missing(e.to_string()),
    }
    match FileChange::between(pb).first() {
        Some(change) => DataState::Changed(change.message(origin)),
        None => DataState::Same,
    }
}

/// One row of `playbook_status_events`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StatusEvent {
    /// Row id (chain order).
    pub id: i64,
    /// When (RFC 3339, UTC).
    pub ts: String,
    /// `[playbook] name`.
    pub name: String,
    /// The playbook file, absolute.
    pub file: String,
    /// Status before.
    pub old_status: String,
    /// Status after.
    pub new_status: String,
    /// Why, as given.
    pub note: String,
    /// The sha256 of the file's content as written (its `content_sha256`).
    pub content_sha256: String,
}

/// A status change to make with [`set_status`].
#[derive(Debug, Clone)]
pub struct StatusChange<'a> {
    /// The playbook file.
    pub path: &'a Path,
    /// The new status (one of [`STATUSES`]).
    pub status: &'a str,
    /// Why (required, one line or more).
    pub note: &'a str,
    /// When, in milliseconds since the epoch.
    pub now_ms: i64,
    /// Change a playbook that was edited by hand since flowrex wrote it (the new file is signed anew).
    pub force: bool,
}

/// Sets the playbook's status, appends `"<ts> <old> -> <new>: <note>"` to its `[playbook] notes`,
/// writes the file atomically (re-signed, [`Playbook::save`]) and records the change in
/// `playbook_status_events` — both or neither: the row is appended in a write transaction that commits
/// only after the file was replaced, and the old file is put back when the commit fails.
pub fn set_status(db: &mut Db, change: &StatusChange<'_>) -> Result<StatusEvent> {
    let path = change.path;
    if !STATUSES.contains(&change.status) {
        return Err(Error::usage(format!(
            "status `{}`: expected one of {}",
            change.status,
            STATUSES.join(", ")
        )));
    }
    let note = change.note.trim();
    if note.is_empty() {
        return Err(Error::usage("--note must say why the status changes"));
    }
    let before = std::fs::read(path).at(path)?;
    let (pb, event) = changed(&String::from_utf8_lossy(&before), change, note)?;
    let written = std::cell::Cell::new(false);
    let result = db.write(|tx| {
        let id = STATUS_EVENTS.append(tx, &event_values(&event, change.now_ms))?;
        pb.save(path)?;
        written.set(true);
        Ok(id)
    });
    match result {
        Ok(id) => Ok(StatusEvent { id, ..event }),
        Err(e) => {
            if written.get() {
                crate::atomic::write_atomic(path, &before)?;
            }
            Err(e)
        }
    }
}

/// The playbook of `text` with the change made (status, a line appended to its notes), and the event
/// that records it (id 0 until appended). A playbook edited by hand is refused unless `change.force`.
fn changed(text: &str, change: &StatusChange<'_>, note: &str) -> Result<(Playbook, StatusEvent)> {
    let path = change.path;
    let origin = path.display().to_string();
    if let (Provenance::Edited { .. }, false) = (Provenance::of_text(text, &origin)?, change.force)
    {
        return Err(Error::invalid(format!(
            "{origin}: was edited since flowrex wrote it; setting its status would sign the edit as \
             flowrex's (check the file, then pass --force)"
        )));
    }
    let mut pb = Playbook::from_toml(text, &origin)?;
    let ts = crate::candles::time::format_ts_full(change.now_ms);
    let old = std::mem::replace(&mut pb.playbook.status, change.status.to_string());
    let line = format!("{ts} {old} -> {}: {note}", change.status);
    pb.playbook.notes = Some(match pb.playbook.notes.take() {
        Some(n) if !n.trim().is_empty() => format!("{}\n{line}", n.trim_end()),
        _ => line,
    });
    let event = StatusEvent {
        id: 0,
        ts,
        name: pb.playbook.name.clone(),
        file: std::path::absolute(path).at(path)?.display().to_string(),
        old_status: old,
        new_status: change.status.to_string(),
        note: note.to_string(),
        content_sha256: pb.content_sha256()?,
    };
    Ok((pb, event))
}

fn event_values(e: &StatusEvent, ts_ms: i64) -> Vec<Value> {
    vec![
        Value::Integer(ts_ms),
        Value::Text(e.ts.clone()),
        Value::Text(e.name.clone()),
        Value::Text(e.file.clone()),
        Value::Text(e.old_status.clone()),
        Value::Text(e.new_status.clone()),
        Value::Text(e.note.clone()),
        Value::Text(e.content_sha256.clone()),
    ]
}

/// The recorded status changes of the playbook file `path` (absolute or not), oldest first.
pub fn history(conn: &Connection, path: &Path) -> Result<Vec<StatusEvent>> {
    let file = std::path::absolute(path).at(path)?.display().to_string();
    let mut stmt = conn.prepare(
        "SELECT id, ts, name, file, old_status, new_status, note, content_sha256
           FROM playbook_status_events WHERE file = ?1 ORDER BY id",
    )?;
    let rows = stmt.query_map(params![file], |r| {
        Ok(StatusEvent {
            id: r.get(0)?,
            ts: r.get(1)?,
            name: r.get(2)?,
            file: r.get(3)?,
            old_status: r.get(4)?,
            new_status: r.get(5)?,
            note: r.get(6)?,
            content_sha256: r.get(7)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal playbook file, as flowrex writes it.
    fn playbook_file(dir: &Path) -> PathBuf {
        let text = r#"
[playbook]
name = "p"
status = "candidate"
created_at = "2026-01-01T00:00:00Z"
flowrex_version = "0.1.0"

[strategy]
name = "sma_cross"
params = { fast = 10, slow = 20 }

[market]
symbol = "GOOG"
interval = "1d"
start = "2020-01-01T00:00:00Z"
end = "2020-02-01T00:00:00Z"
bars = 2
data_sha256 = "00"

[backtest]
cash = 10000.0
commission = 0.0
spread = 0.0
fill = "next-open"
close_at_end = false
size = "all"
stop_policy = "pessimistic"

[metrics]
"#;
        let pb = Playbook::from_toml(text, "test").unwrap();
        let path = dir.join("p.toml");
        pb.save(&path).unwrap();
        path
    }

    #[test]
    fn a_failed_commit_puts_the_old_file_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = playbook_file(dir.path());
        let before = std::fs::read(&path).unwrap();
        let mut db = Db::open_in_memory().unwrap();
        // A deferred foreign key broken by every new event: SQLite reports it at COMMIT, after
        // set_status replaced the file.
        db.conn()
            .execute_batch(
                "CREATE TABLE parent (id INTEGER PRIMARY KEY);
                 CREATE TABLE child (p INTEGER REFERENCES parent(id) DEFERRABLE INITIALLY DEFERRED);
                 CREATE TRIGGER break AFTER INSERT ON playbook_status_events
                 BEGIN INSERT INTO child VALUES (42); END;",
            )
            .unwrap();
        let change = StatusChange {
            path: &path,
            status: "active",
            note: "go",
            now_ms: 0,
            force: false,
        };
        let err = set_status(&mut db, &change).unwrap_err().to_string();
        assert!(err.contains("FOREIGN KEY"), "{err}");
        assert_eq!(std::fs::read(&path).unwrap(), before);
        let n: i64 = db
            .conn()
            .query_row("SELECT count(*) FROM playbook_status_events", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(n, 0);
        // Without the broken key the same change goes through.
        db.conn().execute_batch("DROP TRIGGER break").unwrap();
        let e = set_status(&mut db, &change).unwrap();
        assert_eq!((e.id, e.old_status.as_str()), (1, "candidate"));
        let after = Playbook::load(&path).unwrap();
        assert_eq!(after.playbook.status, "active");
        assert_eq!(
            after.playbook.notes.as_deref(),
            Some("1970-01-01T00:00:00Z candidate -> active: go")
        );
    }

    #[test]
    fn the_chain_verifies_and_refuses_rewrites() {
        let mut db = Db::open_in_memory().unwrap();
        let e = StatusEvent {
            id: 0,
            ts: "2026-01-01T00:00:00Z".into(),
            name: "x".into(),
            file: "/p/x.toml".into(),
            old_status: "candidate".into(),
            new_status: "active".into(),
            note: "why".into(),
            content_sha256: "a".repeat(64),
        };
        db.write(|tx| STATUS_EVENTS.append(tx, &event_values(&e, 1)))
            .unwrap();
        db.write(|tx| STATUS_EVENTS.append(tx, &event_values(&e, 2)))
            .unwrap();
        let status = STATUS_EVENTS.verify(db.conn()).unwrap();
        assert_eq!((status.rows, status.fault), (2, None));
        for sql in [
            "UPDATE playbook_status_events SET note = 'other'",
            "DELETE FROM playbook_status_events",
        ] {
            let err = db.conn().execute(sql, []).unwrap_err().to_string();
            assert!(err.contains("append-only"), "{sql}: {err}");
        }
        let got = history(db.conn(), Path::new("/p/x.toml")).unwrap();
        assert_eq!(got.iter().map(|e| e.id).collect::<Vec<_>>(), [1, 2]);
    }
}
