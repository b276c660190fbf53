//! CSV import: backtesting.py's layout (first unnamed column is the time) and any headed CSV whose columns
//! are named date|datetime|time|timestamp|ts, open|o, high|h, low|l, close|c, volume|vol|v (any case).

use std::path::Path;

use super::time::{TimeFormat, parse_time};
use super::validate::{NormalizeReport, Problems, normalize};
use super::{Bar, Candles};
use crate::error::{Error, Result};

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
    let file = path.display().to_string();
    let reader = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    read_csv_from(reader, &file, time_format)
}

/// [`read_csv`] over any reader; `file` names the source in messages.
pub fn read_csv_from(
    reader: impl std::io::Read,
    file: &str,
    time_format: TimeFormat,
) -> Result<(Candles, CsvSummary)> {
    let mut rdr = csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(reader);
    let headers = rdr
        .headers()
        .map_err(|e| Error::invalid(format!("{file}: cannot read the header row: {e}")))?
        .clone();
    if headers.iter().all(|h| h.trim().is_empty()) && headers.len() <= 1 {
        return Err(Error::invalid(format!(
            "{file}: the file is empty; expected a header row such as date,open,high,low,close,volume"
        )));
    }
    let cols = find_columns(&headers, file)?;
    let mut candles = Candles::default();
    let mut lines = Vec::new();
    let mut problems = Problems::default();
    let mut record = csv::StringRecord::new();
    loop {
        match rdr.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                return Err(Error::invalid(format!(
                    "{file}: line {line}: malformed CSV: {e}"
                )));
            }
        }
        let line = record.position().map_or(0, |p| p.line());
        if record.iter().all(|f| f.is_empty()) {
            continue;
        }
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
        if let (Some(ts), Some(open), Some(high), Some(low), Some(close), Some(volume)) =
            (time, open, high, low, close, volume)
        {
            candles.push(Bar {
                ts,
                open,
                high,
                low,
                close,
                volume,
            });
            lines.push(line);
        }
    }
    problems.into_result(file, "nothing was written")?;
    let rows_read = candles.len();
    let normalized = normalize(&mut candles, &lines, file, "line")?;
    Ok((
        candles,
        CsvSummary {
            rows_read,
            has_volume: cols.volume.is_some(),
            normalized,
        },
    ))
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
}
