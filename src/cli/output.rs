//! Writing results to stdout: tables for people, one JSON document for programs, and a reader that
//! closed the pipe (`flowrex … | head`): the rest of the output is dropped quietly and the command
//! ends with its own exit code (a failed `--check | grep -q …` still exits 3).

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

use serde::Serialize;

use super::table_fit::Cells;
use flowrex::error::{Error, Result};

/// Where a failed write to stdout is reported from.
const STDOUT: &str = "<stdout>";

/// Set once stdout's reader has gone away: later output is dropped.
static STDOUT_CLOSED: AtomicBool = AtomicBool::new(false);

/// Writes `text` (plus a newline) to stdout. A closed pipe is not an error: the output is dropped
/// and the command goes on to its own outcome (before, the closed pipe ended the command as a
/// success and a failed check behind `| head` exited 0).
pub fn print_text(text: &str) -> Result<()> {
    write_stdout(|out| {
        out.write_all(text.as_bytes())?;
        if !text.ends_with('\n') {
            out.write_all(b"\n")?;
        }
        Ok(())
    })
}

/// Writes `bytes` as they are to stdout (a generated script or man page).
pub fn print_bytes(bytes: &[u8]) -> Result<()> {
    write_stdout(|out| out.write_all(bytes))
}

/// True once a write found stdout's reader gone (the rest of the output is being dropped).
pub fn stdout_closed() -> bool {
    STDOUT_CLOSED.load(Ordering::Relaxed)
}

fn write_stdout(
    write: impl FnOnce(&mut std::io::StdoutLock<'static>) -> std::io::Result<()>,
) -> Result<()> {
    if STDOUT_CLOSED.load(Ordering::Relaxed) {
        return Ok(());
    }
    let mut out = std::io::stdout().lock();
    match write(&mut out).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
            STDOUT_CLOSED.store(true, Ordering::Relaxed);
            Ok(())
        }
        res => res.map_err(|e| Error::io(STDOUT, e)),
    }
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
