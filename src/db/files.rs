//! The database's files on disk, checked before SQLite touches them: `flowrex.db`, and beside it in WAL
//! mode SQLite's write-ahead log `flowrex.db-wal` and its index `flowrex.db-shm`.
//!
//! SQLite itself would "repair" each of these situations silently, and each one loses risk state:
//!
//! - **An empty `flowrex.db`** (a full disk, an interrupted copy). SQLite treats a 0-byte file as a new
//!   database — and deletes a WAL beside it — so an active emergency shutdown would vanish and trades
//!   would be approved against a fresh state. It is an error naming the file and asking for a restore.
//!   flowrex never leaves an empty file itself: a new database is built under a temporary name and
//!   renamed into place complete ([`create`]).
//! - **A `-wal` or `-shm` without `flowrex.db`** (the database deleted or moved without them). A new
//!   database created beside them would have the old log's pages replayed into it; it is an error.
//! - **A deleted `flowrex.db-wal`.** Committed transactions live in the WAL until a checkpoint copies
//!   them into `flowrex.db` (SQLite's documented hazard: <https://sqlite.org/howtocorrupt.html>, §1.4).
//!   Two signs of a deletion are sound:
//!   1. `-shm` exists but `-wal` does not. SQLite never leaves that state: the last connection to close
//!      deletes `-shm` first, then `-wal`; a crash leaves both.
//!   2. A process has the database open (every connection in WAL mode holds a read lock on the
//!      database file's SHARED byte range from open to close; Linux lists it in `/proc/locks`) but
//!      `-wal` or `-shm` is missing. SQLite creates both before a connection's first read and deletes them
//!      only when the last connection closes, under an exclusive (write) lock — so a read lock held
//!      while they are missing means someone deleted them. Openers of flowrex are serialized by the
//!      home's lock file, so no flowrex process can be half-way through opening when this is checked.
//!
//!   Either one is an error: opening anyway would answer from a stale database file (in our test, a trade
//!   was approved while the emergency shutdown sat in the deleted log) and write into a log that the
//!   other process's changes will later overwrite. What is not detectable: both files deleted after the
//!   last process was killed (no process, no `-shm`: that looks exactly like a clean shutdown). The
//!   second check needs `/proc/locks` (Linux); elsewhere only the first one runs.

use std::path::{Path, PathBuf};

use crate::error::{Error, IoContext, Result};

/// `<db>-wal`: SQLite's write-ahead log.
pub fn wal_path(db: &Path) -> PathBuf {
    suffixed(db, "-wal")
}

/// `<db>-shm`: SQLite's shared-memory index of the WAL.
pub fn shm_path(db: &Path) -> PathBuf {
    suffixed(db, "-shm")
}

fn suffixed(db: &Path, suffix: &str) -> PathBuf {
    let mut s = db.as_os_str().to_os_string();
    s.push(suffix);
    PathBuf::from(s)
}

/// Whether the database file exists; an error when it exists but is empty, or when its WAL is missing
/// (see the module documentation). Opens no file descriptor on the database: closing one would drop this
/// process's POSIX locks on it, which SQLite connections of the same process rely on.
pub fn check(db: &Path) -> Result<bool> {
    let meta = match std::fs::metadata(db) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return orphans(db).map(|()| false),
        Err(e) => return Err(Error::io(db, e)),
    };
    if meta.len() == 0 {
        return Err(Error::invalid(format!(
            "{}: the database file is empty (0 bytes): it was truncated (a full disk, an interrupted \
             copy?); restore it from a backup. flowrex will not start a fresh risk state over it: an \
             active emergency shutdown would be lost. If this home never held state, delete the empty \
             file.",
            db.display()
        )));
    }
    check_wal(db)?;
    Ok(true)
}

/// No database file, but its log or index is there: the database was deleted or moved without them. A new
/// database must not be created beside them — SQLite would replay the old log's pages into it.
fn orphans(db: &Path) -> Result<()> {
    for side in [wal_path(db), shm_path(db)] {
        if side.try_exists().at(&side)? {
            return Err(Error::invalid(format!(
                "{}: there is no database file, but its {} is there: the database was deleted or moved \
                 without it. Put flowrex.db back (with its -wal and -shm files); to start from an empty \
                 state instead, delete {} and {}.",
                db.display(),
                side.file_name().unwrap_or_default().to_string_lossy(),
                wal_path(db).display(),
                shm_path(db).display()
            )));
        }
    }
    Ok(())
}

fn check_wal(db: &Path) -> Result<()> {
    let wal = wal_path(db);
    let shm = shm_path(db);
    let wal_there = wal.try_exists().at(&wal)?;
    let shm_there = shm.try_exists().at(&shm)?;
    if shm_there && !wal_there {
        return Err(missing_wal(
            &wal,
            &shm,
            "was deleted: its index -shm is still there",
        ));
    }
    if (!wal_there || !shm_there) && open_elsewhere(db)? {
        return Err(missing_wal(
            &wal,
            &shm,
            "was deleted while another process has the database open",
        ));
    }
    Ok(())
}

fn missing_wal(wal: &Path, shm: &Path, what: &str) -> Error {
    Error::invalid(format!(
        "{}: the write-ahead log {what}; transactions committed to it may not be in the database file. \
         Nothing was opened. If a flowrex process is still running, let it finish: closing writes its log \
         back. Otherwise restore {} from where it went; to accept the loss, delete {} too.",
        wal.display(),
        wal.file_name().unwrap_or_default().to_string_lossy(),
        shm.display()
    ))
}

/// Whether some process holds a read lock on the SHARED byte range of `db` (an open SQLite connection in
/// WAL mode), per `/proc/locks`. A write lock there means a connection is closing or checkpointing; that
/// is waited out (it lasts milliseconds). `false` where `/proc/locks` cannot be read.
fn open_elsewhere(db: &Path) -> Result<bool> {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::fs::MetadataExt;
        let meta = std::fs::metadata(db).at(db)?;
        for _ in 0..100 {
            let Ok(table) = std::fs::read_to_string("/proc/locks") else {
                return Ok(false);
            };
            match shared_range_lock(&table, meta.dev(), meta.ino()) {
                Some(LockKind::Write) => std::thread::sleep(std::time::Duration::from_millis(20)),
                Some(LockKind::Read) => return Ok(true),
                None => return Ok(false),
            }
        }
        Ok(false)
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = db;
        Ok(false)
    }
}

/// SQLite's SHARED lock range in a database file (unix VFS): 510 bytes from PENDING_BYTE + 2.
const SHARED_FIRST: u64 = 0x4000_0000 + 2;
const SHARED_LAST: u64 = SHARED_FIRST + 510 - 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LockKind {
    Read,
    Write,
}

/// The strongest lock held (not waited for) on the SHARED range of the file `dev`/`ino`, from the text of
/// `/proc/locks`: lines like `9: POSIX  ADVISORY  READ 9659 fe:00:10044010 1073741826 1073742335`.
fn shared_range_lock(table: &str, dev: u64, ino: u64) -> Option<LockKind> {
    let (major, minor) = dev_numbers(dev);
    let mut found = None;
    for line in table.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        // A waiter's line has "->" after the number; it holds nothing.
        if f.len() < 8 || f[1] == "->" || !matches!(f[1], "POSIX" | "OFDLCK") {
            continue;
        }
        let mut id = f[5].split(':');
        let (Some(ma), Some(mi), Some(inode)) = (id.next(), id.next(), id.next()) else {
            continue;
        };
        let same_file = u64::from_str_radix(ma, 16).ok() == Some(major)
            && u64::from_str_radix(mi, 16).ok() == Some(minor)
            && inode.parse::<u64>().ok() == Some(ino);
        let start = f[6].parse::<u64>().unwrap_or(u64::MAX);
        let end = if f[7] == "EOF" {
            u64::MAX
        } else {
            f[7].parse::<u64>().unwrap_or(0)
        };
        if !same_file || start > SHARED_LAST || end < SHARED_FIRST {
            continue;
        }
        match f[3] {
            "WRITE" => return Some(LockKind::Write),
            "READ" => found = Some(LockKind::Read),
            _ => {}
        }
    }
    found
}

/// Linux's encoding of a device number into (major, minor).
fn dev_numbers(dev: u64) -> (u64, u64) {
    let major = ((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff);
    let minor = (dev & 0xff) | ((dev >> 12) & !0xff);
    (major, minor)
}

/// Creates the database file `db` complete: the schema is built in a temporary file beside it (SQLite's
/// rollback journal, every migration applied), which is then renamed into place. A process killed half-way
/// leaves a stray temporary file, never an empty or half-made `flowrex.db`. Call it holding the home's
/// lock, after [`check`] said there is no file.
pub fn create(db: &Path) -> Result<()> {
    crate::atomic::remove_stale_temps(db);
    let file = crate::atomic::AtomicFile::create(db)?;
    let mut conn = rusqlite::Connection::open(file.temp_path())?;
    super::migrations::apply(&mut conn, super::migrations::MIGRATIONS)?;
    conn.close().map_err(|(_, e)| e)?;
    file.commit()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_locks_lines_are_read_for_the_right_file_and_range() {
        // st_dev 0xfe00 is major 0xfe, minor 0 (as `ls -l` on /dev/dm-0 shows: 254, 0).
        let dev = 0xfe00;
        assert_eq!(dev_numbers(dev), (254, 0));
        let table = "\
1: FLOCK  ADVISORY  WRITE 9555 fe:00:77 0 EOF
2: POSIX  ADVISORY  READ 9659 fe:00:1234 128 128
3: POSIX  ADVISORY  READ 9659 fe:00:77 1073741826 1073742335
4: POSIX  ADVISORY  READ 9659 fe:01:77 1073741826 1073742335
";
        assert_eq!(shared_range_lock(table, dev, 77), Some(LockKind::Read));
        assert_eq!(shared_range_lock(table, dev, 1234), None, "other range");
        assert_eq!(shared_range_lock(table, dev, 78), None, "other inode");
        let closing = "5: POSIX  ADVISORY  WRITE 1 fe:00:77 1073741826 1073742335\n\
                       6: -> POSIX  ADVISORY  READ 2 fe:00:77 1073741826 1073742335\n";
        assert_eq!(shared_range_lock(closing, dev, 77), Some(LockKind::Write));
        let waiting_only = "6: -> POSIX  ADVISORY  READ 2 fe:00:77 1073741826 1073742335\n";
        assert_eq!(shared_range_lock(waiting_only, dev, 77), None);
        let whole_file = "7: OFDLCK ADVISORY  READ -1 fe:00:77 0 EOF\n";
        assert_eq!(shared_range_lock(whole_file, dev, 77), Some(LockKind::Read));
    }

    #[test]
    fn an_empty_file_is_refused_and_a_missing_one_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("flowrex.db");
        assert!(!check(&db).unwrap());
        std::fs::write(&db, b"").unwrap();
        let err = check(&db).unwrap_err().to_string();
        assert!(err.starts_with(&format!("{}: the database file is empty", db.display())));
        assert!(err.contains("restore it from a backup"), "{err}");
        assert!(!err.contains('\n'));
    }

    #[test]
    fn a_log_without_its_database_is_refused_not_replayed_into_a_new_one() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("flowrex.db");
        std::fs::write(wal_path(&db), b"old pages").unwrap();
        let err = check(&db).unwrap_err().to_string();
        assert!(
            err.starts_with(&format!(
                "{}: there is no database file, but its flowrex.db-wal is there",
                db.display()
            )),
            "{err}"
        );
        std::fs::remove_file(wal_path(&db)).unwrap();
        assert!(!check(&db).unwrap());
    }

    #[test]
    fn an_index_without_its_log_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("flowrex.db");
        create(&db).unwrap();
        assert!(check(&db).unwrap());
        std::fs::write(shm_path(&db), b"").unwrap();
        let err = check(&db).unwrap_err().to_string();
        assert!(
            err.starts_with(&format!(
                "{}: the write-ahead log was deleted",
                wal_path(&db).display()
            )),
            "{err}"
        );
        std::fs::write(wal_path(&db), b"").unwrap();
        assert!(check(&db).unwrap());
    }

    #[test]
    fn a_new_database_is_complete_when_it_appears() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("flowrex.db");
        create(&db).unwrap();
        let conn = rusqlite::Connection::open(&db).unwrap();
        assert_eq!(
            super::super::migrations::current_version(&conn).unwrap() as usize,
            super::super::migrations::MIGRATIONS.len()
        );
        drop(conn);
        // Nothing else is left beside it.
        let mut names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["flowrex.db"]);
    }
}
