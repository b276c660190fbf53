//! Atomic file writes: a temp file in the target's own folder, fsync, the replaced file's mode, rename,
//! fsync of the folder — so readers see the old file or the new one, never a partial one.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{Error, IoContext, Result};

/// A file being written next to its final `path`; it replaces `path` only on [`AtomicFile::commit`].
/// Dropped without a commit, the temp file is removed.
pub struct AtomicFile {
    tmp: tempfile::NamedTempFile,
    path: PathBuf,
}

/// The folder that holds `path` (`.` for a bare file name).
pub fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// The temp-file name prefix for `path`: `.<file name>.`, so a temp file left by a killed writer can be
/// told apart by the file it was meant to replace (see [`remove_stale_temps`]).
pub fn temp_prefix(path: &Path) -> String {
    let name = path
        .file_name()
        .map_or_else(|| "flowrex".into(), |n| n.to_string_lossy());
    format!(".{name}.")
}

const TEMP_SUFFIX: &str = ".tmp";

impl AtomicFile {
    /// Creates the folder of `path` if needed and a temp file beside `path`.
    pub fn create(path: &Path) -> Result<AtomicFile> {
        let dir = parent_dir(path);
        fs::create_dir_all(&dir).at(&dir)?;
        let tmp = tempfile::Builder::new()
            .prefix(&temp_prefix(path))
            .suffix(TEMP_SUFFIX)
            .tempfile_in(&dir)
            .at(&dir)?;
        Ok(AtomicFile {
            tmp,
            path: path.to_path_buf(),
        })
    }

    /// The temp file, to write into.
    pub fn file(&self) -> &File {
        self.tmp.as_file()
    }

    /// The temp file's own path (for error messages).
    pub fn temp_path(&self) -> &Path {
        self.tmp.path()
    }

    /// Gives the temp file the replaced file's mode (0644 for a new one; temp files start as 0600),
    /// fsyncs it, renames it over the target and fsyncs the folder.
    pub fn commit(self) -> Result<()> {
        keep_mode(&self.path, self.tmp.path())?;
        self.tmp.as_file().sync_all().at(self.tmp.path())?;
        let path = self.path;
        self.tmp
            .persist(&path)
            .map_err(|e| Error::io(&path, e.error))?;
        if let Ok(d) = File::open(parent_dir(&path)) {
            let _ = d.sync_all();
        }
        Ok(())
    }
}

/// Writes `bytes` to `path` atomically.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let out = AtomicFile::create(path)?;
    let mut f = out.file();
    f.write_all(bytes).at(out.temp_path())?;
    out.commit()
}

/// Gives `tmp` the mode of the file it replaces at `path` (0644 when there is none).
fn keep_mode(path: &Path, tmp: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(path).map_or(0o644, |m| m.permissions().mode());
        fs::set_permissions(tmp, fs::Permissions::from_mode(mode)).at(tmp)?;
    }
    #[cfg(not(unix))]
    let _ = (path, tmp);
    Ok(())
}

/// Removes temp files that a killed writer left beside `path`. Call it only while holding the lock that
/// serializes writers of `path`: then no live writer can own such a file. Returns how many were removed.
pub fn remove_stale_temps(path: &Path) -> usize {
    let prefix = temp_prefix(path);
    let Ok(entries) = fs::read_dir(parent_dir(path)) else {
        return 0;
    };
    entries
        .flatten()
        .filter(|e| {
            let name = e.file_name();
            let name = name.to_string_lossy();
            name.starts_with(&prefix) && name.ends_with(TEMP_SUFFIX)
        })
        .filter(|e| fs::remove_file(e.path()).is_ok())
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_commit_replaces_the_file_and_a_drop_leaves_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.toml");
        write_atomic(&path, b"one").unwrap();
        let out = AtomicFile::create(&path).unwrap();
        out.file().write_all(b"two").unwrap();
        drop(out);
        assert_eq!(fs::read(&path).unwrap(), b"one");
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
        write_atomic(&path, b"three").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"three");
    }

    #[test]
    fn stale_temps_of_one_target_are_removed_and_others_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("1m.parquet");
        for name in [
            ".1m.parquet.abc.tmp",
            ".1m.parquet.def.tmp",
            ".1h.parquet.abc.tmp",
            "1m.parquet",
        ] {
            fs::write(dir.path().join(name), b"x").unwrap();
        }
        assert_eq!(remove_stale_temps(&path), 2);
        assert!(dir.path().join(".1h.parquet.abc.tmp").exists());
        assert!(path.exists());
    }
}
