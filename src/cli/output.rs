//! Writing results to stdout: tables for people, one JSON document for programs, and a quiet exit when
//! the reader closes the pipe (`flowrex … | head`).

use std::io::Write;

use serde::Serialize;

use flowrex::error::{Error, Result};

/// Writes `text` (plus a newline) to stdout. A closed pipe ends the process quietly with success.
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
    match res {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(0),
        Err(e) => Err(Error::io("<stdout>", e)),
    }
}

/// Writes `value` as one pretty JSON document to stdout.
pub fn print_json<T: Serialize + ?Sized>(value: &T) -> Result<()> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| Error::invalid(format!("cannot encode JSON output: {e}")))?;
    print_text(&text)
}

/// A table of rows with the house style.
pub fn table<T: tabled::Tabled>(rows: impl IntoIterator<Item = T>) -> String {
    use tabled::settings::Style;
    tabled::Table::new(rows).with(Style::sharp()).to_string()
}
