//! Error types and the exit codes they map to (docs/DESIGN.md §8: 1 error, 2 usage, 3 a check said no).

use std::path::{Path, PathBuf};

/// Everything that can go wrong in the library. Each message is one line a person can act on.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad input: a malformed file, row, field or value. Exit code 1.
    #[error("{0}")]
    Invalid(String),
    /// An I/O failure on a named file. Exit code 1.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or folder involved.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// A SQLite error on the state database. Exit code 1. `path` is the database file; it is `None` only
    /// between a `?` on a `rusqlite` error and the [`crate::db::Db`] call that ran the statement, which
    /// fills it in, so every message a person sees names the file.
    #[error("{}", db_message(path.as_deref(), message))]
    Db {
        /// The database file.
        path: Option<PathBuf>,
        /// What SQLite said (a trigger's RAISE text, a constraint, "database is locked").
        message: String,
    },
    /// The command line asked for something impossible. Exit code 2.
    #[error("{0}")]
    Usage(String),
    /// A check said no: a risk rejection, a regression, a failed verification. Exit code 3.
    #[error("{0}")]
    CheckFailed(String),
}

/// The library's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Bad input with the given message.
    pub fn invalid(msg: impl Into<String>) -> Self {
        Error::Invalid(msg.into())
    }

    /// A usage error with the given message.
    pub fn usage(msg: impl Into<String>) -> Self {
        Error::Usage(msg.into())
    }

    /// An I/O error on `path`.
    pub fn io(path: impl AsRef<Path>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.as_ref().to_path_buf(),
            source,
        }
    }

    /// The process exit code for this error.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Invalid(_) | Error::Io { .. } | Error::Db { .. } => 1,
            Error::Usage(_) => 2,
            Error::CheckFailed(_) => 3,
        }
    }
}

fn db_message(path: Option<&Path>, message: &str) -> String {
    match path {
        Some(p) => format!("{}: {message}", p.display()),
        None => format!("state database: {message}"),
    }
}

/// Adds a file path to I/O results.
pub trait IoContext<T> {
    /// Names `path` in the error.
    fn at(self, path: impl AsRef<Path>) -> Result<T>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn at(self, path: impl AsRef<Path>) -> Result<T> {
        self.map_err(|e| Error::io(path, e))
    }
}

/// A TOML error in `text` as one line: `line N: what` (toml's own message spans several lines, with a
/// caret drawing under the source, which a log line or a cron mail mangles).
pub fn toml_line(text: &str, e: &toml::de::Error) -> String {
    let what = e.message().trim();
    match e.span() {
        // Lines are 1-based: the number of newlines before the span, plus one.
        Some(s) => {
            let line = text[..s.start.min(text.len())].matches('\n').count() + 1;
            format!("line {line}: {what}")
        }
        None => what.to_string(),
    }
}
