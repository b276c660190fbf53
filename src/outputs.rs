//! Where a command may write its output files (`--out`, `--results`, `--trades`, `--equity`, reports):
//! one rule set, checked before any work starts, and a lock held until the files are written.
//!
//! A command lists its inputs and outputs in an [`OutputPlan`] and opens it before the work:
//! - an output is never inside the home's candle store (`<home>/data`) nor one of the home's state files
//!   (`flowrex.db` with its `-wal`, `-shm` and lock file, `flowrex.toml`);
//! - an output is never a file the command reads (`--playbook`, `--spec`, merge parts), and two outputs
//!   of one command never share a file;
//! - only a regular file is replaced: a folder, FIFO, socket or device node is refused (writes replace
//!   files by rename, which would put a regular file where the node was);
//! - a symlink is followed to its final target, which is checked by the same rules and replaced; the
//!   link stays a link (a dangling link gets its target created);
//! - [`OutputPlan::open`] creates each output's folder and proves it writable, so a bad place fails in
//!   milliseconds instead of after an hour of search;
//! - it then takes `.<name>.lock` beside each output without waiting: a second run writing the same file
//!   is refused at start (two runs writing one `--out`/`--results` pair used to leave a playbook from
//!   one and results from the other), and under that lock the `.<name>.*.tmp` files a killed writer
//!   left are removed. The locks live as long as the returned [`Outputs`].
//!
//! Paths are compared after resolution (absolute, symlinks followed, `.` and `..` applied), so
//! `playbooks/../data/GOOG/1d.parquet` and a link into `data/` are both caught.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Component, Path, PathBuf};

use crate::atomic::{parent_dir, remove_stale_temps, temp_prefix};
use crate::error::{Error, Result};
use crate::home::Home;

/// Symlinks followed before a target is taken for a loop (Linux's own limit).
const MAX_LINKS: usize = 40;

/// A path as given on the command line and where it really points.
#[derive(Debug, Clone)]
struct Named {
    flag: String,
    given: PathBuf,
    real: PathBuf,
}

/// The inputs and outputs of one command, before any output is written. Build it with
/// [`OutputPlan::inputs`] and [`OutputPlan::add`], then [`OutputPlan::open`] it before the work.
#[derive(Debug)]
pub struct OutputPlan {
    data_dir: PathBuf,
    state_files: Vec<PathBuf>,
    inputs: Vec<Named>,
    outputs: Vec<Named>,
}

/// The checked, locked outputs of a command. Write each file to [`Outputs::path`]; dropping this
/// releases the locks, so keep it until every output is written.
#[derive(Debug)]
pub struct Outputs {
    outputs: Vec<Named>,
    _locks: Vec<Lock>,
    removed: usize,
}

/// A held lock file; dropping it removes the file (while still holding the lock) and releases it.
#[derive(Debug)]
struct Lock {
    file: File,
    path: PathBuf,
}

impl Drop for Lock {
    fn drop(&mut self) {
        // Removed while held: a process that opened the old file and gets the lock after us sees the
        // path gone (or a new file) in `lock`'s identity check and tries again on the new file.
        let _ = fs::remove_file(&self.path);
        let _ = self.file.unlock();
    }
}

impl OutputPlan {
    /// A plan for a command working in `home` (which need not exist: its store is protected anyway).
    pub fn new(home: &Home) -> OutputPlan {
        let db = home.db_file();
        let with = |suffix: &str| {
            let mut s = db.clone().into_os_string();
            s.push(suffix);
            PathBuf::from(s)
        };
        let state = [
            db.clone(),
            with("-wal"),
            with("-shm"),
            home.db_lock_file(),
            home.config_file(),
        ];
        OutputPlan {
            data_dir: real_path(&home.data_dir()).unwrap_or_else(|_| home.data_dir()),
            state_files: state
                .iter()
                .map(|p| real_path(p).unwrap_or_else(|_| p.clone()))
                .collect(),
            inputs: Vec::new(),
            outputs: Vec::new(),
        }
    }

    /// Records the files the command reads under `flag` (a path, an `Option` or a list of them): no
    /// output may replace one. A file that cannot be resolved is left out (reading it fails anyway).
    pub fn inputs<P: AsRef<Path>>(
        mut self,
        flag: &str,
        paths: impl IntoIterator<Item = P>,
    ) -> OutputPlan {
        for path in paths {
            let path = path.as_ref();
            if let Ok(real) = resolve(path) {
                self.inputs.push(Named {
                    flag: flag.to_string(),
                    given: path.to_path_buf(),
                    real,
                });
            }
        }
        self
    }

    /// Records the output `flag` at `path` and checks it on its own: not in the store, not a state
    /// file, not a special file. Usage errors (exit 2) name the flag and the path.
    pub fn add(mut self, flag: &str, path: &Path) -> Result<OutputPlan> {
        let (real, shown, via) = self.placed(flag, path)?;
        match fs::metadata(&real) {
            Ok(m) if !m.is_file() => {
                return Err(Error::usage(format!(
                    "{shown}: not a regular file (a folder, FIFO, socket or device){via}; outputs \
                     replace regular files only"
                )));
            }
            Ok(_) => {}
            Err(e) if is_missing(&e) => {}
            Err(e) => return Err(Error::io(&real, e)),
        }
        self.outputs.push(Named {
            flag: flag.to_string(),
            given: path.to_path_buf(),
            real,
        });
        Ok(self)
    }

    /// Checks a file the command appends to (`--log-file`), which is never replaced and so may be a
    /// FIFO or a device: only that it is neither inside the candle store nor a state file, where an
    /// appended log line would damage a Parquet file or the database.
    pub fn check_appended(&self, flag: &str, path: &Path) -> Result<()> {
        self.placed(flag, path).map(|_| ())
    }

    /// `path` resolved (the real path, the flag and path for messages, and ` (it leads to …)` when a
    /// link or `..` took it elsewhere), refused inside the store or over a state file.
    fn placed(&self, flag: &str, path: &Path) -> Result<(PathBuf, String, String)> {
        let shown = format!("{flag} {}", path.display());
        let real = resolve(path).map_err(|e| Error::invalid(format!("{shown}: {e}")))?;
        let via = if real == std::path::absolute(path).unwrap_or_default() {
            String::new()
        } else {
            format!(" (it leads to {})", real.display())
        };
        if real.starts_with(&self.data_dir) {
            return Err(Error::usage(format!(
                "{shown}: inside the candle store {}{via}; write outputs elsewhere, e.g. under the \
                 home's playbooks/ or reports/",
                self.data_dir.display()
            )));
        }
        if self.state_files.contains(&real) {
            return Err(Error::usage(format!(
                "{shown}: one of the home's state files{via}; write outputs elsewhere"
            )));
        }
        Ok((real, shown, via))
    }

    /// [`OutputPlan::add`] when `path` is given; the plan unchanged when not.
    pub fn add_opt(self, flag: &str, path: Option<&Path>) -> Result<OutputPlan> {
        match path {
            Some(p) => self.add(flag, p),
            None => Ok(self),
        }
    }

    /// Checks the outputs against each other and the inputs, creates their folders, proves each folder
    /// writable, locks every output and removes the temp files killed writers left beside them.
    pub fn open(self) -> Result<Outputs> {
        for (i, o) in self.outputs.iter().enumerate() {
            if let Some(first) = self.outputs[..i].iter().find(|a| a.real == o.real) {
                return Err(Error::usage(format!(
                    "{} {}: the same file as {} {}; give each output its own file",
                    o.flag,
                    o.given.display(),
                    first.flag,
                    first.given.display()
                )));
            }
            if let Some(input) = self.inputs.iter().find(|a| a.real == o.real) {
                return Err(Error::usage(format!(
                    "{} {}: the file is also an input ({} {}); write the output to another file",
                    o.flag,
                    o.given.display(),
                    input.flag,
                    input.given.display()
                )));
            }
        }
        // Every place is proven writable before any lock file is made, so a refusal leaves nothing.
        for o in &self.outputs {
            prove_writable(o)?;
        }
        let locks = self.outputs.iter().map(lock).collect::<Result<Vec<_>>>()?;
        let removed = self
            .outputs
            .iter()
            .map(|o| remove_stale_temps(&o.real))
            .sum();
        Ok(Outputs {
            outputs: self.outputs,
            _locks: locks,
            removed,
        })
    }
}

impl Outputs {
    /// Where to write the output `flag` (its resolved path: a symlink's target). Panics when `flag` was
    /// not added: that is a programming error, not a user's.
    pub fn path(&self, flag: &str) -> &Path {
        self.get(flag)
            .unwrap_or_else(|| panic!("output {flag} was not added to the plan"))
    }

    /// Where to write the output `flag`, if it was added.
    pub fn get(&self, flag: &str) -> Option<&Path> {
        self.outputs
            .iter()
            .find(|o| o.flag == flag)
            .map(|o| o.real.as_path())
    }

    /// How many temp files of interrupted writes were removed beside the outputs.
    pub fn removed_temps(&self) -> usize {
        self.removed
    }
}

fn is_missing(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
    )
}

/// Creates the folder of `o` and a temp file in it (removed at once), so an unwritable place fails now.
fn prove_writable(o: &Named) -> Result<()> {
    let dir = parent_dir(&o.real);
    let fail = |what: &str, e: io::Error| {
        Error::invalid(format!(
            "{} {}: cannot {what} {}: {e}",
            o.flag,
            o.given.display(),
            dir.display()
        ))
    };
    fs::create_dir_all(&dir).map_err(|e| fail("create the folder", e))?;
    tempfile::Builder::new()
        .prefix(&temp_prefix(&o.real))
        .suffix(".probe")
        .tempfile_in(&dir)
        .map_err(|e| fail("write in the folder", e))?;
    Ok(())
}

/// Locks `.<name>.lock` beside `o` without waiting; held by another process, it is an error naming it.
/// The lock file is removed when the lock is dropped, so no `.lock` files pile up beside outputs; a lock
/// taken on a file that was removed meanwhile (its holder finished) is retaken on the new file.
fn lock(o: &Named) -> Result<Lock> {
    let name = o
        .real
        .file_name()
        .map_or_else(|| "output".into(), |n| n.to_string_lossy());
    let path = parent_dir(&o.real).join(format!(".{name}.lock"));
    // Each retry means another run finished between our open and our lock: a handful is plenty.
    for _ in 0..16 {
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| Error::io(&path, e))?;
        match file.try_lock() {
            Ok(()) if still_named(&file, &path) => return Ok(Lock { file, path }),
            Ok(()) => continue,
            Err(fs::TryLockError::WouldBlock) => {
                return Err(Error::invalid(format!(
                    "{} {}: another flowrex process is writing this file (it holds {}); wait for \
                     it to finish or write to another file",
                    o.flag,
                    o.given.display(),
                    path.display()
                )));
            }
            Err(fs::TryLockError::Error(e)) => return Err(Error::io(&path, e)),
        }
    }
    Err(Error::invalid(format!(
        "{} {}: could not take the lock {} (it kept being replaced)",
        o.flag,
        o.given.display(),
        path.display()
    )))
}

/// Whether `path` still names the open `file` (not removed or replaced since it was opened).
#[cfg(unix)]
fn still_named(file: &File, path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (file.metadata(), fs::metadata(path)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

#[cfg(not(unix))]
fn still_named(_file: &File, path: &Path) -> bool {
    path.exists()
}

/// `path` made absolute, its symlinks followed (the last component's too, up to [`MAX_LINKS`]), `.` and
/// `..` applied. The file itself need not exist.
fn resolve(path: &Path) -> io::Result<PathBuf> {
    let mut p = std::path::absolute(path)?;
    for _ in 0..MAX_LINKS {
        match fs::symlink_metadata(&p) {
            Ok(m) if m.file_type().is_symlink() => {
                let target = fs::read_link(&p)?;
                // A relative target is relative to the link's folder; an absolute one replaces it.
                p = parent_dir(&p).join(target);
            }
            Ok(_) => return real_path(&p),
            Err(e) if is_missing(&e) => return real_path(&p),
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::other("too many levels of symbolic links"))
}

/// The real path of `path` (absolute, need not exist): the longest existing prefix canonicalized
/// (symlinks resolved), the rest applied by name. The rest cannot hold a symlink: it does not exist.
fn real_path(path: &Path) -> io::Result<PathBuf> {
    let path = std::path::absolute(path)?;
    let parts: Vec<Component> = path.components().collect();
    for k in (1..=parts.len()).rev() {
        let head: PathBuf = parts[..k].iter().collect();
        match fs::canonicalize(&head) {
            Ok(mut real) => {
                for c in &parts[k..] {
                    match c {
                        Component::ParentDir => {
                            real.pop();
                        }
                        Component::Normal(n) => real.push(n),
                        _ => {}
                    }
                }
                return Ok(real);
            }
            Err(e) if is_missing(&e) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(home: &Path) -> OutputPlan {
        OutputPlan::new(&Home::layout(home))
    }

    fn err(r: Result<OutputPlan>) -> String {
        r.unwrap_err().to_string()
    }

    #[test]
    fn store_and_state_files_are_refused_however_spelled() {
        let dir = tempfile::tempdir().unwrap();
        let h = dir.path();
        fs::create_dir_all(h.join("data/GOOG")).unwrap();
        for p in [
            h.join("data/GOOG/1d.parquet"),
            h.join("data/new/x.toml"),
            h.join("reports/../data/x.toml"),
            h.join("missing/../data/x.toml"),
        ] {
            let e = err(plan(h).add("--out", &p));
            assert!(e.contains("inside the candle store"), "{p:?}: {e}");
        }
        for name in [
            "flowrex.db",
            "flowrex.db-wal",
            "flowrex.db-shm",
            "flowrex.db.lock",
            "flowrex.toml",
        ] {
            let e = err(plan(h).add("--results", &h.join(name)));
            assert!(e.contains("state files"), "{name}: {e}");
        }
        assert!(plan(h).add("--out", &h.join("playbooks/x.toml")).is_ok());
        assert!(plan(h).add("--out", &h.join("database.parquet")).is_ok());
    }

    #[cfg(unix)]
    #[test]
    fn device_nodes_are_refused_without_touching_them() {
        let dir = tempfile::tempdir().unwrap();
        let e = err(plan(dir.path()).add("--trades", Path::new("/dev/null")));
        assert!(
            e.starts_with("--trades /dev/null: not a regular file"),
            "{e}"
        );
    }

    #[cfg(unix)]
    #[test]
    fn symlinks_resolve_to_their_final_target_and_loops_are_errors() {
        use std::os::unix::fs::symlink;
        let dir = tempfile::tempdir().unwrap();
        let d = fs::canonicalize(dir.path()).unwrap();
        fs::create_dir(d.join("real")).unwrap();
        symlink("real", d.join("alias")).unwrap();
        symlink("alias/file.toml", d.join("a")).unwrap();
        symlink(d.join("a"), d.join("b")).unwrap();
        // b -> a -> alias/file.toml, alias -> real: the file is real/file.toml (not yet there).
        assert_eq!(resolve(&d.join("b")).unwrap(), d.join("real/file.toml"));
        assert_eq!(
            resolve(&d.join("alias/../x")).unwrap(),
            d.join("x"),
            "`..` after a link to a folder beside it"
        );
        symlink("loop2", d.join("loop1")).unwrap();
        symlink("loop1", d.join("loop2")).unwrap();
        assert!(resolve(&d.join("loop1")).is_err());
        let outputs = plan(&d.join("home"))
            .add("--out", &d.join("b"))
            .unwrap()
            .open()
            .unwrap();
        assert_eq!(outputs.path("--out"), d.join("real/file.toml"));
    }

    #[test]
    fn duplicates_and_inputs_are_refused_at_open() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        fs::write(d.join("in.toml"), "x").unwrap();
        let e = plan(d)
            .add("--out", &d.join("a.toml"))
            .unwrap()
            .add("--results", &d.join("./a.toml"))
            .unwrap()
            .open()
            .unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(e.to_string().contains("the same file as --out"), "{e}");
        let e = plan(d)
            .inputs("--playbook", [d.join("in.toml")])
            .add("--trades", &d.join("sub/../in.toml"))
            .unwrap()
            .open()
            .unwrap_err();
        assert!(
            e.to_string().contains("is also an input (--playbook"),
            "{e}"
        );
    }

    #[test]
    fn open_creates_the_folder_locks_once_and_clears_stale_temps() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let out = d.join("new/folder/pb.toml");
        fs::create_dir_all(d.join("new/folder")).unwrap();
        fs::write(d.join("new/folder/.pb.toml.abc.tmp"), "x").unwrap();
        let first = plan(d).add("--out", &out).unwrap().open().unwrap();
        assert_eq!(first.removed_temps(), 1);
        assert!(!d.join("new/folder/.pb.toml.abc.tmp").exists());
        // The lock is per open file description: a second open, even in this process, is refused.
        let e = plan(d).add("--out", &out).unwrap().open().unwrap_err();
        assert!(e.to_string().contains("another flowrex process"), "{e}");
        drop(first);
        assert!(plan(d).add("--out", &out).unwrap().open().is_ok());
        // Nothing stays: the writability probe is gone, and the lock file goes with the lock.
        let names: Vec<String> = fs::read_dir(d.join("new/folder"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(names.is_empty(), "{names:?}");
    }

    #[test]
    fn an_unwritable_place_fails_at_open_naming_the_flag() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        fs::write(d.join("file"), "x").unwrap();
        let e = plan(d)
            .add("--results", &d.join("fine.parquet"))
            .unwrap()
            .add("--out", &d.join("file/pb.toml"))
            .unwrap()
            .open()
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("--out "), "{e}");
        assert!(e.contains("cannot create the folder"), "{e}");
        // Not even the writable output's lock file was made.
        let names: Vec<_> = fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec!["file"]);
    }
}
