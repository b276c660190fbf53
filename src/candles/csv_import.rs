//! CSV import: backtesting.py's layout (first unnamed column is the time) and any headed CSV whose columns
//! are named date|datetime|time|timestamp|ts, open|o, high|h, low|l, close|c, volume|vol|v (any case).
//! Input is capped ([`MAX_CSV_BYTES`] per file, [`MAX_LINE_BYTES`] per line) so that no file, not even
//! `/dev/zero`, can make the import allocate without bound.

use std::io::Read;
use std::path::Path;

use super::time::{TimeFormat, parse_time};
use super::validate::{NormalizeReport, Problems, normalize};
use super::{Bar, Candles, Interval};
use crate::error::{Error, Result};

/// Largest CSV input imported: 512 MiB, about 10 million rows of ~50 bytes. The parsed bars take ~48
/// bytes a row (plus a sorted copy while validating), so memory stays within a few times the file size.
pub const MAX_CSV_BYTES: u64 = 512 << 20;

/// Longest line accepted: 64 KiB. A candle row is ~60 bytes; a longer line means the input is not a
/// candle CSV (or has no line breaks at all, like `/dev/zero`), and the CSV reader would buffer all of it.
pub const MAX_LINE_BYTES: usize = 64 << 10;

/// A reader that fails once more than `max_total` bytes, or a line longer than `max_line` bytes, went by.
struct Capped<R> {
    inner: R,
    total: u64,
    line_len: usize,
    line_no: u64,
    max_total: u64,
    max_line: usize,
}

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.total += n as u64;
        if self.total > self.max_total {
            return Err(std::io::Error::other(format!(
                "the input is larger than the CSV import limit of {} MiB; split it into smaller files",
                self.max_total >> 20
            )));
        }
        for segment in buf[..n].split_inclusive(|&b| b == b'\n') {
            self.line_len += segment.len();
            if self.line_len > self.max_line {
                return Err(std::io::Error::other(format!(
                    "line {} is longer than {} bytes; a candle row is a short line (is this a CSV file?)",
                    self.line_no + 1,
                    self.max_line
                )));
            }
            if segment.last() == Some(&b'\n') {
                self.line_no += 1;
                self.line_len = 0;
            }
        }
        Ok(n)
    }
}

/// A CSV error as one line: an I/O error (including the caps above) as it is, else with its line.
fn csv_error(e: csv::Error, file: &str) -> Error {
    match e.kind() {
        csv::ErrorKind::Io(io) => Error::invalid(format!("{file}: {io}; nothing was written")),
        _ => {
            let line = e.position().map_or(0, |p| p.line());
            Error::invalid(format!("{file}: line {line}: malformed CSV: {e}"))
        }
    }
}

/// What an import read, besides the bars.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct CsvSummary {
    /// Data rows in the file.
    pub rows_read: usize,
    /// False when the file had no volume column (volume imported as 0).
    pub has_volume: bool,
    /// Sorting and de-duplication done on valid rows.
    #[serde(flatten)]
    pub normalized: NormalizeReport,
}

const TIME_NAMES: [&str; 6] = ["date", "datetime", "time", "timestamp", "ts", ""];
const OPEN_NAMES: [&str; 2] = ["open", "o"];
const HIGH_NAMES: [&str; 2] = ["high", "h"];
const LOW_NAMES: [&str; 2] = ["low", "l"];
const CLOSE_NAMES: [&str; 2] = ["close", "c"];
const VOLUME_NAMES: [&str; 3] = ["volume", "vol", "v"];

struct Columns {
    time: usize,
    open: usize,
    high: usize,
    low: usize,
    close: usize,
    volume: Option<usize>,
}

fn find_columns(headers: &csv::StringRecord, file: &str) -> Result<Columns> {
    let names: Vec<String> = headers
        .iter()
        .map(|h| h.trim().to_ascii_lowercase())
        .collect();
    let find = |aliases: &[&str]| names.iter().position(|n| aliases.contains(&n.as_str()));
    let require = |aliases: &[&str], what: &str| {
        find(aliases).ok_or_else(|| {
            Error::invalid(format!(
                "{file}: no {what} column in the header ({}); expected one named {}",
                headers.iter().collect::<Vec<_>>().join(","),
                aliases
                    .iter()
                    .filter(|a| !a.is_empty())
                    .cloned()
                    .collect::<Vec<_>>()
                    .join("|")
            ))
        })
    };
    Ok(Columns {
        time: require(&TIME_NAMES, "time")?,
        open: require(&OPEN_NAMES, "open")?,
        high: require(&HIGH_NAMES, "high")?,
        low: require(&LOW_NAMES, "low")?,
        close: require(&CLOSE_NAMES, "close")?,
        volume: find(&VOLUME_NAMES),
    })
}

/// Reads a CSV file into validated candles: sorted by time, exact duplicate rows dropped. Every bad row is
/// counted and the first few are named (file, line, value) in the error; nothing is returned then.
pub fn read_csv(path: &Path, time_format: TimeFormat) -> Result<(Candles, CsvSummary)> {
    read_csv_file(path, time_format, None)
}

/// [`read_csv`] for bars of `interval`: the rows must also keep its grid and spacing
/// ([`super::rules`]), and the messages name their lines.
pub fn read_csv_as(
    path: &Path,
    time_format: TimeFormat,
    interval: Interval,
) -> Result<(Candles, CsvSummary)> {
    read_csv_file(path, time_format, Some(interval))
}

fn read_csv_file(
    path: &Path,
    time_format: TimeFormat,
    interval: Option<Interval>,
) -> Result<(Candles, CsvSummary)> {
    let file = path.display().to_string();
    let reader = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    // A regular file over the cap is refused before reading; devices and pipes hit the reader's cap.
    if let Ok(meta) = reader.metadata()
        && meta.is_file()
        && meta.len() > MAX_CSV_BYTES
    {
        return Err(Error::invalid(format!(
            "{file}: {} MiB is larger than the CSV import limit of {} MiB; split it into smaller files",
            meta.len() >> 20,
            MAX_CSV_BYTES >> 20
        )));
    }
    read_csv_capped(
        reader,
        &file,
        time_format,
        interval,
        MAX_CSV_BYTES,
        MAX_LINE_BYTES,
    )
}

/// [`read_csv`] over any reader; `file` names the source in messages.
pub fn read_csv_from(
    reader: impl std::io::Read,
    file: &str,
    time_format: TimeFormat,
) -> Result<(Candles, CsvSummary)> {
    read_csv_capped(
        reader,
        file,
        time_format,
        None,
        MAX_CSV_BYTES,
        MAX_LINE_BYTES,
    )
}

fn read_csv_capped(
    reader: impl std::io::Read,
    file: &str,
    time_format: TimeFormat,
    interval: Option<Interval>,
    max_total: u64,
    max_line: usize,
) -> Result<(Candles, CsvSummary)> {
    let reader = Capped {
        inner: reader,
        total: 0,
        line_len: 0,
        line_no: 0,
        max_total,
        max_line,
    };
    let mut rdr = csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(reader);
    let cols = read_header(&mut rdr, file)?;
    let mut candles = Candles::default();
    let mut lines = Vec::new();
    let mut problems = Problems::default();
    let mut record = csv::StringRecord::new();
    loop {
        match rdr.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => return Err(csv_error(e, file)),
        }
        let line = record.position().map_or(0, |p| p.line());
        if record.iter().all(|f| f.is_empty()) {
            continue;
        }
        if let Some(bar) = parse_record(&record, &cols, time_format, line, &mut problems) {
            candles.push(bar);
            lines.push(line);
        }
    }
    problems.into_result(file, "nothing was written")?;
    let rows_read = candles.len();
    let normalized = normalize(&mut candles, &lines, file, "line", interval)?;
    Ok((
        candles,
        CsvSummary {
            rows_read,
            has_volume: cols.volume.is_some(),
            normalized,
        },
    ))
}

/// Reads the header row and finds the columns; an empty file or a missing column is an error.
fn read_header<R: std::io::Read>(rdr: &mut csv::Reader<R>, file: &str) -> Result<Columns> {
    let headers = match rdr.headers() {
        Ok(h) => h.clone(),
        Err(e) if matches!(e.kind(), csv::ErrorKind::Io(_)) => return Err(csv_error(e, file)),
        Err(e) => {
            return Err(Error::invalid(format!(
                "{file}: cannot read the header row: {e}"
            )));
        }
    };
    if headers.iter().all(|h| h.trim().is_empty()) && headers.len() <= 1 {
        return Err(Error::invalid(format!(
            "{file}: the file is empty; expected a header row such as date,open,high,low,close,volume"
        )));
    }
    find_columns(&headers, file)
}

/// One data row as a bar, or `None` after recording each bad field of it in `problems`.
fn parse_record(
    record: &csv::StringRecord,
    cols: &Columns,
    time_format: TimeFormat,
    line: u64,
    problems: &mut Problems,
) -> Option<Bar> {
    let at = format!("line {line}");
    let time = match record.get(cols.time).map(|s| parse_time(s, time_format)) {
        Some(Ok(t)) => Some(t),
        Some(Err(e)) => {
            problems.add(&at, format!("time: {e}"));
            None
        }
        None => {
            problems.add(&at, "time: missing field");
            None
        }
    };
    let mut num = |idx: usize, name: &str| -> Option<f64> {
        match record.get(idx) {
            Some(s) => match s.parse::<f64>() {
                Ok(v) => Some(v),
                Err(_) => {
                    problems.add(&at, format!("{name}: unparsable number '{s}'"));
                    None
                }
            },
            None => {
                problems.add(&at, format!("{name}: missing field"));
                None
            }
        }
    };
    let open = num(cols.open, "open");
    let high = num(cols.high, "high");
    let low = num(cols.low, "low");
    let close = num(cols.close, "close");
    let volume = match cols.volume {
        Some(v) => num(v, "volume"),
        None => Some(0.0),
    };
    Some(Bar {
        ts: time?,
        open: open?,
        high: high?,
        low: low?,
        close: close?,
        volume: volume?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Result<(Candles, CsvSummary)> {
        read_csv_from(text.as_bytes(), "t.csv", TimeFormat::Auto)
    }

    #[test]
    fn reads_the_backtesting_py_layout() {
        let (c, s) =
            read(",Open,High,Low,Close,Volume\n2004-08-19,100.0,104.06,95.96,100.34,22351900\n")
                .unwrap();
        assert_eq!(c.ts, vec![1_092_873_600_000]);
        assert_eq!(
            (c.open[0], c.high[0], c.low[0], c.close[0], c.volume[0]),
            (100.0, 104.06, 95.96, 100.34, 22_351_900.0)
        );
        assert!(s.has_volume);
    }

    #[test]
    fn reads_aliases_in_any_case_and_order_without_volume() {
        let (c, s) = read("C,TS,l,H,o\n1.5,1492592400,1.0,2.0,1.2\n").unwrap();
        assert_eq!(c.ts, vec![1_492_592_400_000]);
        assert_eq!(
            (c.open[0], c.high[0], c.low[0], c.close[0], c.volume[0]),
            (1.2, 2.0, 1.0, 1.5, 0.0)
        );
        assert!(!s.has_volume);
    }

    #[test]
    fn names_every_bad_field_with_its_line() {
        let err = read("date,open,high,low,close\n2020-01-01,1,2,0.5,x\nsoon,1,2,0.5,1\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(
                "t.csv: line 2: close: unparsable number 'x'; line 3: time: unparsable time 'soon'"
            ),
            "{err}"
        );
        let err = read("date,open,high,close\n").unwrap_err().to_string();
        assert!(err.contains("no low column"), "{err}");
        let err = read("").unwrap_err().to_string();
        assert!(err.contains("t.csv: the file is empty"), "{err}");
    }

    #[test]
    fn input_beyond_the_caps_is_refused_naming_the_cap() {
        let text = "date,open,high,low,close\n2020-01-01,1,2,0.5,1.5\n2020-01-02,1,2,0.5,1.5\n";
        // 25 + 23 + 23 = 71 bytes: they pass a cap of 71 and fail one of 70.
        let capped = |total: u64, line: usize| {
            read_csv_capped(
                text.as_bytes(),
                "t.csv",
                TimeFormat::Auto,
                None,
                total,
                line,
            )
        };
        assert_eq!(capped(71, 100).unwrap().0.len(), 2);
        let err = capped(70, 100).unwrap_err().to_string();
        assert!(
            err.contains("t.csv: the input is larger than the CSV import limit"),
            "{err}"
        );
        // The longest line is the header, 25 bytes with its line break.
        assert_eq!(capped(1000, 25).unwrap().0.len(), 2);
        let err = capped(1000, 24).unwrap_err().to_string();
        assert!(
            err.contains("t.csv: line 1 is longer than 24 bytes"),
            "{err}"
        );
        let err = read_csv_capped(
            std::io::repeat(0).take(1 << 20),
            "zeros",
            TimeFormat::Auto,
            None,
            MAX_CSV_BYTES,
            MAX_LINE_BYTES,
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("zeros: line 1 is longer than 65536 bytes"),
            "{err}"
        );
    }
}
