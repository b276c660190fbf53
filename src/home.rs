//! The home folder (the workspace) and its layout: `data/` (the candle store), `playbooks/`, `reports/`,
//! `queue/`, `flowrex.toml` and `flowrex.db` (with its lock file). Every folder name lives here; the two
//! file names are constants of `config` and `db`, which this module joins to the root.
//!
//! A home is either found ([`Home::existing`]: a folder that is not there is an error, so a mistyped
//! `--home` never reads — or approves trades against — a fresh, empty state) or made on purpose
//! ([`Home::create`], for the commands that create state: imports, setting the risk balance, `init`).

use std::path::{Path, PathBuf};

use crate::candles::Store;
use crate::config::{CONFIG_FILE, Config};
use crate::db::{DB_FILE, DB_LOCK_FILE, Db};
use crate::error::{Error, IoContext, Result};

/// The candle store folder.
const DATA_DIR: &str = "data";
/// Playbooks written by `optimize`.
const PLAYBOOKS_DIR: &str = "playbooks";
/// HTML reports.
const REPORTS_DIR: &str = "reports";
/// The job queue.
const QUEUE_DIR: &str = "queue";

/// A home folder. Holding one means the folder existed (or was created) when it was resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Home {
    root: PathBuf,
}

impl Home {
    /// The home at `path`, which must be an existing folder. Nothing is created: a missing folder is an
    /// error naming it and saying how a home is made.
    pub fn existing(path: impl AsRef<Path>) -> Result<Home> {
        let path = path.as_ref();
        match std::fs::metadata(path) {
            Ok(m) if m.is_dir() => Ok(Home::layout(path)),
            Ok(_) => Err(not_a_folder(path)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(Error::invalid(format!(
                "{}: no such home folder; check --home / $FLOWREX_HOME, or create it with an import \
                 (`flowrex fetch --provider …`) or `flowrex risk-check state --balance X`",
                path.display()
            ))),
            Err(e) => Err(Error::io(path, e)),
        }
    }

    /// The home at `path`, creating the folder (and its parents) when it does not exist. Also returns
    /// whether it was created, so the caller can say so.
    pub fn create(path: impl AsRef<Path>) -> Result<(Home, bool)> {
        let path = path.as_ref();
        match std::fs::metadata(path) {
            Ok(m) if m.is_dir() => return Ok((Home::layout(path), false)),
            Ok(_) => return Err(not_a_folder(path)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io(path, e)),
        }
        std::fs::create_dir_all(path).at(path)?;
        Ok((Home::layout(path), true))
    }

    /// The layout of `path` whether or not it exists — for tests, benches and tools that build a home
    /// themselves. Commands use [`Home::existing`] or [`Home::create`].
    pub fn layout(path: impl AsRef<Path>) -> Home {
        let path = path.as_ref();
        Home {
            root: path.to_path_buf(),
        }
    }

    /// The folder itself, as it was given.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `<home>/data`: the candle store.
    pub fn data_dir(&self) -> PathBuf {
        self.root.join(DATA_DIR)
    }

    /// `<home>/playbooks`.
    pub fn playbooks_dir(&self) -> PathBuf {
        self.root.join(PLAYBOOKS_DIR)
    }

    /// `<home>/playbooks/<name>.toml`.
    pub fn playbook_file(&self, name: &str) -> PathBuf {
        self.playbooks_dir().join(format!("{name}.toml"))
    }

    /// `<home>/reports`.
    pub fn reports_dir(&self) -> PathBuf {
        self.root.join(REPORTS_DIR)
    }

    /// `<home>/queue`.
    pub fn queue_dir(&self) -> PathBuf {
        self.root.join(QUEUE_DIR)
    }

    /// `<home>/flowrex.toml`.
    pub fn config_file(&self) -> PathBuf {
        self.root.join(CONFIG_FILE)
    }

    /// `<home>/flowrex.db`.
    pub fn db_file(&self) -> PathBuf {
        self.root.join(DB_FILE)
    }

    /// `<home>/flowrex.db.lock`.
    pub fn db_lock_file(&self) -> PathBuf {
        self.root.join(DB_LOCK_FILE)
    }

    /// The candle store under `<home>/data`.
    pub fn store(&self) -> Store {
        Store::at(self.data_dir())
    }

    /// `<home>/flowrex.toml` (defaults when there is none).
    pub fn config(&self) -> Result<Config> {
        Config::load_file(&self.config_file())
    }

    /// Opens (creating the file if needed, inside this existing folder) the state database and applies
    /// pending migrations. A process should open it once and pass it down. A home without `flowrex.db` is
    /// taken for a first use and gets a new, empty risk state; an existing but empty (0-byte) file is an
    /// error ([`crate::db::files::check`]).
    pub fn open_db(&self) -> Result<Db> {
        Db::open_file(&self.db_file(), &self.db_lock_file())
    }

    /// Opens the state database for reading only ([`Db::open_file_read`]): no write access to the home
    /// is needed once the database exists and is up to date. A home without a database is a first use:
    /// it is created as [`Home::open_db`] would.
    pub fn open_db_read(&self) -> Result<Db> {
        Db::open_file_read(&self.db_file(), &self.db_lock_file())
    }
}

fn not_a_folder(path: &Path) -> Error {
    Error::invalid(format!(
        "{}: not a folder; --home must name a home folder",
        path.display()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every file and folder under `dir`, relative, sorted.
    fn tree(dir: &Path) -> Vec<String> {
        let mut out = Vec::new();
        let mut stack = vec![dir.to_path_buf()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap() {
                let p = e.unwrap().path();
                out.push(p.strip_prefix(dir).unwrap().display().to_string());
                if p.is_dir() {
                    stack.push(p);
                }
            }
        }
        out.sort();
        out
    }

    #[test]
    fn a_missing_home_is_an_error_naming_it_and_nothing_is_created() {
        let dir = tempfile::tempdir().unwrap();
        let typo = dir.path().join("hmoe");
        let err = Home::existing(&typo).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.starts_with(&format!("{}: no such home folder", typo.display())),
            "{msg}"
        );
        assert!(msg.contains("risk-check state --balance"), "{msg}");
        assert!(!msg.contains('\n'), "{msg}");
        assert_eq!(err.exit_code(), 1);
        assert!(tree(dir.path()).is_empty());
    }

    #[test]
    fn a_file_is_not_a_home() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("flowrex.toml");
        std::fs::write(&file, "").unwrap();
        for err in [
            Home::existing(&file).unwrap_err(),
            Home::create(&file).unwrap_err(),
        ] {
            assert!(
                err.to_string()
                    .ends_with("not a folder; --home must name a home folder")
            );
        }
    }

    #[test]
    fn create_makes_the_folder_once_and_reports_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a").join("home");
        let (home, created) = Home::create(&path).unwrap();
        assert!(created);
        assert!(path.is_dir());
        assert_eq!(home, Home::existing(&path).unwrap());
        let (_, created) = Home::create(&path).unwrap();
        assert!(!created);
        // Creating a home writes nothing inside it: files appear when state is written.
        assert!(tree(&path).is_empty());
    }

    #[test]
    fn the_layout_is_spelled_once() {
        let home = Home::layout(Path::new("/h"));
        let got = [
            home.data_dir(),
            home.playbooks_dir(),
            home.playbook_file("x"),
            home.reports_dir(),
            home.queue_dir(),
            home.config_file(),
            home.db_file(),
            home.db_lock_file(),
            home.store().root().to_path_buf(),
        ];
        let want = [
            "/h/data",
            "/h/playbooks",
            "/h/playbooks/x.toml",
            "/h/reports",
            "/h/queue",
            "/h/flowrex.toml",
            "/h/flowrex.db",
            "/h/flowrex.db.lock",
            "/h/data",
        ];
        assert_eq!(got.map(|p| p.display().to_string()), want);
    }

    #[test]
    fn opening_the_database_creates_only_the_database_files() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::existing(dir.path()).unwrap();
        let db = home.open_db().unwrap();
        assert_eq!(db.path(), home.db_file());
        drop(db);
        let files = tree(dir.path());
        assert!(files.contains(&DB_FILE.to_string()), "{files:?}");
        assert!(files.contains(&DB_LOCK_FILE.to_string()), "{files:?}");
        assert!(files.iter().all(|f| f.starts_with(DB_FILE)), "{files:?}");
    }
}
