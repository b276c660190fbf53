//! The SQLite state database (`<home>/flowrex.db`): opening with WAL and a busy timeout, numbered schema
//! migrations, and transactions that make every multi-row change all-or-nothing.
//!
//! Other modules use it like this:
//!
//! ```no_run
//! # fn demo(home: &std::path::Path) -> flowrex::Result<()> {
//! let mut db = flowrex::db::Db::open(home)?; // the home must exist; creates the file, applies migrations
//! let n: i64 = db.read(|tx| Ok(tx.query_row("SELECT count(*) FROM risk_trades", [], |r| r.get(0))?))?;
//! db.write(|tx| {
//!     // BEGIN IMMEDIATE: read-modify-write here is serialized with every other process.
//!     tx.execute("UPDATE risk_state SET open_positions = open_positions + 1 WHERE id = 1", [])?;
//!     Ok(())
//! })?;
//! # let _ = n; Ok(()) }
//! ```
//!
//! A schema change is a new file in `src/db/migrations/` and one line appended to [`migrations::MIGRATIONS`].
//!
//! Opening checks the files first ([`files::check`]): an empty `flowrex.db` or a deleted write-ahead log is
//! an error, never a fresh or stale state. A home without `flowrex.db` is a first use: opening for writing
//! creates it, complete, with every migration applied. Commands that only read open the database read-only
//! ([`Db::open_file_read`]), so a user who may read the home but not write to it can still list it.

pub mod audit;
pub mod chain;
pub mod files;
pub mod migrations;
pub mod seal;

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, Transaction, TransactionBehavior};

use crate::error::{Error, IoContext, Result};

/// The database file name inside a home folder.
pub const DB_FILE: &str = "flowrex.db";
/// The lock file beside it that serializes opening (and migrating) the database across processes.
pub const DB_LOCK_FILE: &str = "flowrex.db.lock";

/// How long a writer waits for another process's transaction before giving up with "database is locked".
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// A SQLite error becomes [`Error::Db`] without a path (a `?` inside a transaction does not know the
/// file); [`Db`] fills in the real database path, so every database error names the file.
impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        Error::Db {
            path: None,
            message: sqlite_message(&e),
        }
    }
}

/// The most useful one-line text of a SQLite error (a trigger's RAISE message, a constraint, "locked").
fn sqlite_message(e: &rusqlite::Error) -> String {
    match e {
        rusqlite::Error::SqliteFailure(_, Some(msg)) => msg.clone(),
        other => other.to_string(),
    }
}

/// An open state database.
#[derive(Debug)]
pub struct Db {
    conn: Connection,
    path: PathBuf,
}

impl Db {
    /// Opens the database in the existing folder `dir` (`dir/flowrex.db`, with its lock file). The
    /// folder is never created: a missing one is an error. Commands go through `Home::open_db`.
    pub fn open(dir: &Path) -> Result<Db> {
        Db::open_file(&dir.join(DB_FILE), &dir.join(DB_LOCK_FILE))
    }

    /// Opens the database in the existing folder `dir` for reading only (see [`Db::open_file_read`]).
    /// Commands go through `Home::open_db_read`.
    pub fn open_read(dir: &Path) -> Result<Db> {
        Db::open_file_read(&dir.join(DB_FILE), &dir.join(DB_LOCK_FILE))
    }

    /// Opens the database `path` for reading and writing — creating it, complete, when there is none (its
    /// folder must exist) — sets WAL mode and the busy timeout, and applies every pending migration. An
    /// empty file or a deleted write-ahead log is an error ([`files::check`]).
    ///
    /// Opening is serialized across processes by an OS lock on `lock_path`: SQLite answers "database is
    /// locked" at once, without waiting, when several connections race to switch a new file to WAL mode,
    /// so the checks, the creation, the WAL switch and the migrations run one process at a time. The lock
    /// is released as soon as the database is ready (and by the OS if the process dies).
    pub fn open_file(path: &Path, lock_path: &Path) -> Result<Db> {
        let path = path.to_path_buf();
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(lock_path)
            .at(lock_path)?;
        lock.lock().at(lock_path)?;
        if !files::check(&path)? {
            files::create(&path).map_err(|e| named(&path, e))?;
        }
        // No SQLITE_OPEN_CREATE: a file that vanished since the check is an error, not a new database.
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_URI
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(&path, flags).map_err(|e| named(&path, e.into()))?;
        let db = Db::init(conn, path);
        drop(lock);
        db
    }

    /// Opens the database `path` for reading only: no write access to the file, its folder or the lock
    /// file is needed. Checks the files like [`Db::open_file`]; when there is no database yet, or its schema
    /// needs a migration, it falls back to [`Db::open_file`] (which needs write access).
    ///
    /// When SQLite cannot open the WAL index because the folder is read-only and there is no write-ahead
    /// log (the last process closed cleanly, so every committed transaction is in the file), the file is
    /// read as immutable. A writer that starts and finishes a checkpoint during that read can make it fail
    /// (run it again); it cannot change the file through this connection.
    pub fn open_file_read(path: &Path, lock_path: &Path) -> Result<Db> {
        // Wait for a process that is creating or migrating the database, when the lock file is there to
        // be read; a reader never creates it.
        let lock = std::fs::File::open(lock_path).ok();
        if let Some(l) = &lock {
            l.lock_shared().at(lock_path)?;
        }
        if !files::check(path)? {
            drop(lock);
            return Db::open_file(path, lock_path);
        }
        let conn = open_read_only(path).map_err(|e| named(path, e.into()))?;
        let db = Db {
            conn,
            path: path.to_path_buf(),
        };
        db.conn
            .busy_timeout(BUSY_TIMEOUT)
            .map_err(|e| named(path, e.into()))?;
        let (have, known) = (db.schema_version()?, migrations::MIGRATIONS.len() as u32);
        if have == known {
            drop(lock);
            return Ok(db);
        }
        drop(db);
        drop(lock);
        Db::open_file(path, lock_path).map_err(|e| {
            Error::invalid(format!(
                "{}: the database has schema version {have} and this flowrex needs {known}; the migration \
                 needs write access (run a writing command, e.g. `flowrex risk-check state --balance X`, as \
                 a user who may write the home): {e}",
                path.display()
            ))
        })
    }

    /// Opens a private in-memory database with the full schema (for tests).
    pub fn open_in_memory() -> Result<Db> {
        let conn = Connection::open_in_memory()?;
        Db::init(conn, PathBuf::from(":memory:"))
    }

    fn init(conn: Connection, path: PathBuf) -> Result<Db> {
        let mut db = Db { conn, path };
        db.configure().map_err(|e| named(&db.path, e))?;
        migrations::apply(&mut db.conn, migrations::MIGRATIONS).map_err(|e| named(&db.path, e))?;
        Ok(db)
    }

    fn configure(&self) -> Result<()> {
        self.conn.busy_timeout(BUSY_TIMEOUT)?;
        // A gate call alone runs about twenty distinct cached statements (the risk book, the audit and
        // state-seal chains); rusqlite's default cache of 16 would re-prepare some on every call.
        self.conn.set_prepared_statement_cache_capacity(64);
        // Switching to WAL needs a moment of exclusive access; the busy handler covers a concurrent opener,
        // and once the file is in WAL mode this is a no-op.
        let mode: String = self
            .conn
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") && !mode.eq_ignore_ascii_case("memory") {
            return Err(Error::invalid(format!(
                "cannot switch to WAL mode (journal_mode is {mode})"
            )));
        }
        self.conn.pragma_update(None, "synchronous", "NORMAL")?;
        self.conn.pragma_update(None, "foreign_keys", "ON")?;
        Ok(())
    }

    /// The database file (`:memory:` for an in-memory database).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The raw connection, for single statements outside a transaction.
    pub fn conn(&self) -> &Connection {
        &self.conn
    }

    /// The schema version: the number of migrations applied.
    pub fn schema_version(&self) -> Result<u32> {
        migrations::current_version(&self.conn).map_err(|e| named(&self.path, e))
    }

    /// Runs `f` in a read transaction (a consistent snapshot; never blocks or is blocked by writers in WAL
    /// mode). Nothing `f` writes is kept.
    pub fn read<T>(&mut self, f: impl FnOnce(&Transaction<'_>) -> Result<T>) -> Result<T> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Deferred)
            .map_err(|e| named(&self.path, e.into()))?;
        let out = f(&tx).map_err(|e| named(&self.path, e))?;
        tx.rollback().map_err(|e| named(&self.path, e.into()))?;
        Ok(out)
    }

    /// Runs `f` in a write transaction started with `BEGIN IMMEDIATE`, so a read-modify-write is
    /// serialized with every other writer (other processes wait up to [`BUSY_TIMEOUT`]). Commits when `f`
    /// returns `Ok`, rolls everything back when it returns `Err`.
    pub fn write<T>(&mut self, f: impl FnOnce(&Transaction<'_>) -> Result<T>) -> Result<T> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| named(&self.path, e.into()))?;
        let out = f(&tx).map_err(|e| named(&self.path, e))?;
        tx.commit().map_err(|e| named(&self.path, e.into()))?;
        Ok(out)
    }
}

/// A read-only connection to `path`, or — when that fails and there is no write-ahead log — an immutable
/// one (see [`Db::open_file_read`]).
fn open_read_only(path: &Path) -> rusqlite::Result<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
        | OpenFlags::SQLITE_OPEN_URI
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let first = Connection::open_with_flags(path, flags).and_then(|c| {
        // The first read opens the WAL and its index; this is where a read-only folder fails.
        c.query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0))?;
        Ok(c)
    });
    match first {
        Err(e) if !files::wal_path(path).exists() => {
            let uri = format!("file:{}?immutable=1", uri_path(path));
            Connection::open_with_flags(uri, flags).map_err(|_| e)
        }
        other => other,
    }
}

/// `path` for a `file:` URI: `%`, `?` and `#` percent-encoded.
fn uri_path(path: &Path) -> String {
    let mut out = String::new();
    for c in path.to_string_lossy().chars() {
        match c {
            '%' | '?' | '#' => out.push_str(&format!("%{:02X}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// Names the database file in a database error that does not name one yet.
fn named(path: &Path, e: Error) -> Error {
    match e {
        Error::Db {
            path: None,
            message,
        } => Error::Db {
            path: Some(path.to_path_buf()),
            message,
        },
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_creates_file_in_wal_mode_with_all_migrations() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path()).unwrap();
        assert!(dir.path().join(DB_FILE).exists());
        assert_eq!(
            db.schema_version().unwrap() as usize,
            migrations::MIGRATIONS.len()
        );
        let mode: String = db
            .conn()
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        drop(db);
        // Reopening applies nothing twice.
        let db = Db::open(dir.path()).unwrap();
        assert_eq!(
            db.schema_version().unwrap() as usize,
            migrations::MIGRATIONS.len()
        );
    }

    #[test]
    fn write_rolls_back_on_error_and_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let mut db = Db::open(dir.path()).unwrap();
        let err = db
            .write(|tx| {
                tx.execute("UPDATE risk_state SET open_positions = 7 WHERE id = 1", [])?;
                tx.execute("INSERT INTO no_such_table VALUES (1)", [])?;
                Ok(())
            })
            .unwrap_err();
        // A database error of its own kind, naming the real file (not a placeholder).
        let file = dir.path().join(DB_FILE);
        match &err {
            Error::Db {
                path: Some(p),
                message,
            } => {
                assert_eq!(p, &file);
                assert!(message.contains("no_such_table"), "{message}");
            }
            other => panic!("expected Error::Db, got {other:?}"),
        }
        assert!(
            err.to_string()
                .starts_with(&format!("{}: ", file.display())),
            "{err}"
        );
        assert_eq!(err.exit_code(), 1);
        let open: i64 = db
            .read(|tx| Ok(tx.query_row("SELECT open_positions FROM risk_state", [], |r| r.get(0))?))
            .unwrap();
        assert_eq!(open, 0);
    }

    #[test]
    fn a_missing_home_is_not_created() {
        let dir = tempfile::tempdir().unwrap();
        let typo = dir.path().join("typo");
        let err = Db::open(&typo).unwrap_err();
        assert_eq!(err.exit_code(), 1, "{err}");
        assert!(!typo.exists());
    }

    #[test]
    fn read_errors_name_the_file_too() {
        let dir = tempfile::tempdir().unwrap();
        let mut db = Db::open(dir.path()).unwrap();
        let err = db
            .read(|tx| Ok(tx.query_row("SELECT nope FROM risk_state", [], |r| r.get::<_, i64>(0))?))
            .unwrap_err()
            .to_string();
        let want = format!(
            "{}: no such column: nope",
            dir.path().join(DB_FILE).display()
        );
        assert!(err.starts_with(&want), "{err}");
    }

    #[test]
    fn reading_opens_read_only_and_an_old_schema_is_migrated_first() {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path();
        // A database an older flowrex left: schema version 1, WAL mode.
        {
            let mut conn = Connection::open(home.join(DB_FILE)).unwrap();
            conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get::<_, String>(0))
                .unwrap();
            migrations::apply(&mut conn, &migrations::MIGRATIONS[..1]).unwrap();
        }
        let db = Db::open_read(home).unwrap();
        assert_eq!(
            db.schema_version().unwrap() as usize,
            migrations::MIGRATIONS.len()
        );
        drop(db);
        // Up to date now: opened read-only, and a write through it is refused by SQLite.
        let mut db = Db::open_read(home).unwrap();
        let err = db
            .write(|tx| Ok(tx.execute("UPDATE risk_state SET open_positions = 1", [])?))
            .unwrap_err()
            .to_string();
        assert!(err.contains("readonly"), "{err}");
    }

    #[test]
    fn an_empty_database_file_is_refused_by_both_ways_of_opening() {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path();
        std::fs::write(home.join(DB_FILE), b"").unwrap();
        for err in [
            Db::open(home).unwrap_err(),
            Db::open_read(home).unwrap_err(),
        ] {
            assert!(
                err.to_string().contains("the database file is empty"),
                "{err}"
            );
        }
        assert_eq!(std::fs::metadata(home.join(DB_FILE)).unwrap().len(), 0);
    }

    #[test]
    fn concurrent_openers_and_writers_lose_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().to_path_buf();
        let threads: Vec<_> = (0..6)
            .map(|_| {
                let home = home.clone();
                std::thread::spawn(move || {
                    let mut db = Db::open(&home).unwrap();
                    for _ in 0..20 {
                        db.write(|tx| {
                            let n: i64 = tx.query_row(
                                "SELECT open_positions FROM risk_state WHERE id = 1",
                                [],
                                |r| r.get(0),
                            )?;
                            tx.execute(
                                "UPDATE risk_state SET open_positions = ?1 WHERE id = 1",
                                [n + 1],
                            )?;
                            Ok(())
                        })
                        .unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let db = Db::open(&home).unwrap();
        let n: i64 = db
            .conn()
            .query_row("SELECT open_positions FROM risk_state", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 120);
    }
}
