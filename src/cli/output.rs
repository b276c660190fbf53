//! Writing results to stdout: tables for people, one JSON document for programs, and recognizing a
//! reader that closed the pipe (`flowrex … | head`), which `main` treats as a quiet success.

use std::io::Write;

use serde::Serialize;

use super::table_fit::Cells;
use flowrex::error::{Error, Result};

/// Where a closed stdout pipe is reported from (see [`is_closed_pipe`]).
const STDOUT: &str = "<stdout>";

/// Writes `text` (plus a newline) to stdout. A closed pipe is an error that [`is_closed_pipe`]
/// recognizes, so `main` ends quietly with success.
pub fn print_text(text: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    let res = out
        .write_all(text.as_bytes())
        .and_then(|_| {
            if text.ends_with('\n') {
                Ok(())
            } else {
                out.write_all(b"\n")
            }
        })
        .and_then(|_| out.flush());
    res.map_err(|e| Error::io(STDOUT, e))
}

/// Writes `bytes` as they are to stdout (a generated script or man page).
pub fn print_bytes(bytes: &[u8]) -> Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(bytes)
        .and_then(|_| out.flush())
        .map_err(|e| Error::io(STDOUT, e))
}

/// True when `e` is stdout's reader having gone away (`flowrex … | head`).
pub fn is_closed_pipe(e: &Error) -> bool {
    matches!(e, Error::Io { path, source }
        if path.as_os_str() == STDOUT && source.kind() == std::io::ErrorKind::BrokenPipe)
}

/// Writes `value` as one pretty JSON document to stdout.
pub fn print_json<T: Serialize + ?Sized>(value: &T) -> Result<()> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| Error::invalid(format!("cannot encode JSON output: {e}")))?;
    print_text(&text)
}

/// A table of rows in the house style, fitted to the screen (see [`super::table_fit`]).
pub fn table<T: tabled::Tabled>(rows: impl IntoIterator<Item = T>) -> String {
    table_of(Cells::of(rows))
}

/// A table of text cells in the house style, fitted to the screen.
pub fn table_of(cells: Cells) -> String {
    super::table_fit::fit(cells, super::table_fit::width())
}

/// A progress bar over `len` candidates on stderr (done/total, rate, ETA, a message), or None when
/// `show` is false (stderr is not a terminal, or --quiet).
pub fn progress_bar(show: bool, len: u64) -> Option<indicatif::ProgressBar> {
    if !show {
        return None;
    }
    let style = indicatif::ProgressStyle::with_template(
        "{spinner} [{bar:30}] {pos}/{len} candidates, {per_sec}, ETA {eta} {msg}",
    )
    .ok()?
    .progress_chars("=> ");
    let bar = indicatif::ProgressBar::new(len).with_style(style);
    bar.enable_steady_tick(std::time::Duration::from_millis(200));
    Some(bar)
}
