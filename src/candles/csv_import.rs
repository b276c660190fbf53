//! CSV import: backtesting.py's layout (first unnamed column is the time) and any headed CSV whose columns
//! are named date|datetime|time|timestamp|ts, open|o, high|h, low|l, close|c, volume|vol|v (any case).
//! Input is capped ([`MAX_CSV_BYTES`] per file, [`MAX_LINE_BYTES`] per line) so that no file, not even
//! `/dev/zero`, can make the import allocate without bound.
//!
//! [`CsvOptions`]: the delimiter (`,` `;` tab or `|`, or detected from the header line), and the zone of
//! wall-clock times ([`Zone`]). With a delimiter other than `,`, a number may use a decimal comma
//! (`1,2345`), as files from European brokers do. Imported for an interval, the rows' typical spacing
//! must also match it ([`super::rules::spacing_problem`]).

use std::io::Read;
use std::path::Path;

use super::time::{TimeFormat, Zone, ZonedTimes};
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
    /// Fields in the header row.
    width: usize,
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
    let missing = |aliases: &[&str], what: &str| {
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
    };
    // Two price or volume columns (`Close` and `c`, or `Open` twice) leave it open which one holds the
    // values: refused rather than the first one taken. (Not the time: a `Date` and a `Time` column side
    // by side are common, and the first one is the bar's time.)
    let unique = |aliases: &[&str], what: &str| -> Result<Option<usize>> {
        let mut hits = (0..names.len()).filter(|&i| aliases.contains(&names[i].as_str()));
        match (hits.next(), hits.next()) {
            (Some(a), Some(b)) => Err(Error::invalid(format!(
                "{file}: the header has two {what} columns, `{}` (column {}) and `{}` (column {}); \
                 keep one",
                headers[a].trim(),
                a + 1,
                headers[b].trim(),
                b + 1
            ))),
            (first, _) => Ok(first),
        }
    };
    let require =
        |aliases: &[&str], what: &str| unique(aliases, what)?.ok_or_else(|| missing(aliases, what));
    Ok(Columns {
        width: names.len(),
        time: names
            .iter()
            .position(|n| TIME_NAMES.contains(&n.as_str()))
            .ok_or_else(|| missing(&TIME_NAMES, "time"))?,
        open: require(&OPEN_NAMES, "open")?,
        high: require(&HIGH_NAMES, "high")?,
        low: require(&LOW_NAMES, "low")?,
        close: require(&CLOSE_NAMES, "close")?,
        volume: unique(&VOLUME_NAMES, "volume")?,
    })
}

/// The field separator of a CSV file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Delimiter {
    /// Detected from the header line: the most frequent of `,` `;` tab `|` (`,` on a tie or when none
    /// appears).
    #[default]
    Auto,
    /// This byte.
    Byte(u8),
}

impl std::str::FromStr for Delimiter {
    type Err = Error;

    fn from_str(s: &str) -> Result<Delimiter> {
        match s {
            "auto" => Ok(Delimiter::Auto),
            "," | "comma" => Ok(Delimiter::Byte(b',')),
            ";" | "semicolon" => Ok(Delimiter::Byte(b';')),
            "tab" | "\\t" | "\t" => Ok(Delimiter::Byte(b'\t')),
            "|" | "pipe" => Ok(Delimiter::Byte(b'|')),
            other => Err(Error::usage(format!(
                "'{other}' is not a delimiter; expected auto, ',', ';', tab or '|'"
            ))),
        }
    }
}

/// Candidate delimiters, in tie-breaking order.
const DELIMITERS: [u8; 4] = [b',', b';', b'\t', b'|'];

/// The delimiter of a file whose first line is `head`: the candidate appearing most often.
fn sniff(head: &[u8]) -> u8 {
    let line = head.split(|&b| b == b'\n').next().unwrap_or(head);
    let count = |d: u8| line.iter().filter(|&&b| b == d).count();
    DELIMITERS
        .iter()
        .copied()
        .fold((b',', 0), |best, d| {
            if count(d) > best.1 {
                (d, count(d))
            } else {
                best
            }
        })
        .0
}

/// How to read a CSV file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CsvOptions {
    /// How the time column is written.
    pub time_format: TimeFormat,
    /// The zone of wall-clock times (datetimes without an offset); UTC by default.
    pub zone: Zone,
    /// The field separator.
    pub delimiter: Delimiter,
}

impl CsvOptions {
    /// Default options with this time format.
    pub fn with_format(time_format: TimeFormat) -> CsvOptions {
        CsvOptions {
            time_format,
            ..CsvOptions::default()
        }
    }
}

/// Reads a CSV file into validated candles: sorted by time, exact duplicate rows dropped. Every bad row is
/// counted and the first few are named (file, line, value) in the error; nothing is returned then.
pub fn read_csv(path: &Path, time_format: TimeFormat) -> Result<(Candles, CsvSummary)> {
    read_csv_file(path, &CsvOptions::with_format(time_format), None)
}

/// [`read_csv`] for bars of `interval`: the rows must also keep its grid and spacing
/// ([`super::rules`]), and the messages name their lines.
pub fn read_csv_as(
    path: &Path,
    time_format: TimeFormat,
    interval: Interval,
) -> Result<(Candles, CsvSummary)> {
    read_csv_file(path, &CsvOptions::with_format(time_format), Some(interval))
}

/// [`read_csv_as`] with every option.
pub fn read_csv_with(
    path: &Path,
    options: &CsvOptions,
    interval: Interval,
) -> Result<(Candles, CsvSummary)> {
    read_csv_file(path, options, Some(interval))
}

fn read_csv_file(
    path: &Path,
    options: &CsvOptions,
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
        options,
        interval,
        (MAX_CSV_BYTES, MAX_LINE_BYTES),
    )
}

/// [`read_csv`] over any reader; `file` names the source in messages.
pub fn read_csv_from(
    reader: impl std::io::Read,
    file: &str,
    options: &CsvOptions,
) -> Result<(Candles, CsvSummary)> {
    read_csv_capped(reader, file, options, None, (MAX_CSV_BYTES, MAX_LINE_BYTES))
}

fn read_csv_capped(
    reader: impl std::io::Read,
    file: &str,
    options: &CsvOptions,
    interval: Option<Interval>,
    (max_total, max_line): (u64, usize),
) -> Result<(Candles, CsvSummary)> {
    use std::io::BufRead;
    let mut reader = std::io::BufReader::new(Capped {
        inner: reader,
        total: 0,
        line_len: 0,
        line_no: 0,
        max_total,
        max_line,
    });
    let delimiter = match options.delimiter {
        Delimiter::Byte(b) => b,
        Delimiter::Auto => sniff(
            reader
                .fill_buf()
                .map_err(|e| Error::invalid(format!("{file}: {e}; nothing was written")))?,
        ),
    };
    let mut rdr = csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::All)
        .delimiter(delimiter)
        .from_reader(reader);
    let cols = read_header(&mut rdr, file)?;
    let mut fields = Fields {
        format: options.time_format,
        times: ZonedTimes::new(options.zone),
        decimal_comma: delimiter != b',',
    };
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
        if let Some(why) = extra_fields(&record, cols.width) {
            problems.add(format!("line {line}"), why);
            continue;
        }
        if let Some(bar) = parse_record(&record, &cols, &mut fields, line, &mut problems) {
            candles.push(bar);
            lines.push(line);
        }
    }
    problems.into_result(file, "nothing was written")?;
    let rows_read = candles.len();
    let normalized = normalize(&mut candles, &lines, file, "line", interval)?;
    if let Some(interval) = interval
        && let Some(why) = super::rules::spacing_problem(&candles.ts, interval)
    {
        return Err(Error::invalid(format!(
            "{file}: {why} (--interval {interval}); nothing was written"
        )));
    }
    Ok((
        candles,
        CsvSummary {
            rows_read,
            has_volume: cols.volume.is_some(),
            normalized,
        },
    ))
}

/// Why a data row does not fit a header of `width` fields: it holds a value beyond the last named
/// column. Every value would then be read from the wrong column — a decimal comma in a `,`-separated
/// file (`1,5`) splits one number into two fields and shifts the rest — so such a row is refused, never
/// read. Empty fields at the end (a trailing separator) are fine.
pub fn extra_fields(record: &csv::StringRecord, width: usize) -> Option<String> {
    let used = (0..record.len())
        .rev()
        .find(|&i| !record[i].is_empty())
        .map_or(0, |i| i + 1);
    (used > width).then(|| {
        format!(
            "{used} fields, but the header names {width} (a decimal comma or a stray separator \
             would shift the values into the wrong columns)"
        )
    })
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

/// How one file's fields are read: its time format and zone, and whether numbers may use a decimal
/// comma.
struct Fields {
    format: TimeFormat,
    times: ZonedTimes,
    decimal_comma: bool,
}

impl Fields {
    /// A number; with `decimal_comma`, one `,` and no `.` is a decimal separator (`1,25` is 1.25).
    fn number(&self, s: &str) -> Option<f64> {
        match s.parse::<f64>() {
            Ok(v) => Some(v),
            Err(_) if self.decimal_comma && s.matches(',').count() == 1 && !s.contains('.') => {
                s.replace(',', ".").parse().ok()
            }
            Err(_) => None,
        }
    }
}

/// One data row as a bar, or `None` after recording each bad field of it in `problems`.
fn parse_record(
    record: &csv::StringRecord,
    cols: &Columns,
    fields: &mut Fields,
    line: u64,
    problems: &mut Problems,
) -> Option<Bar> {
    let at = format!("line {line}");
    let format = fields.format;
    let time = match record.get(cols.time).map(|s| fields.times.parse(s, format)) {
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
            Some(s) => match fields.number(s) {
                Some(v) => Some(v),
                None => {
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
        read_csv_from(text.as_bytes(), "t.csv", &CsvOptions::default())
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
    fn semicolon_files_with_decimal_commas_are_detected() {
        let text = "Date;Open;High;Low;Close;Volume\n2020-01-02;1,1000;1,1050;1,0950;1,1010;12\n";
        let (c, _) = read(text).unwrap();
        assert_eq!(
            (c.open[0], c.high[0], c.low[0], c.close[0]),
            (1.1, 1.105, 1.095, 1.101)
        );
        // Told explicitly, the same; told ',' the header is one column and the error says so.
        let opts = |d| CsvOptions {
            delimiter: d,
            ..CsvOptions::default()
        };
        let (c2, _) =
            read_csv_from(text.as_bytes(), "t.csv", &opts(Delimiter::Byte(b';'))).unwrap();
        assert_eq!(c2, c);
        let e = read_csv_from(text.as_bytes(), "t.csv", &opts(Delimiter::Byte(b',')))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("no time column in the header (Date;Open;High;Low;Close;Volume)"),
            "{e}"
        );
        // A comma file keeps its commas as separators and refuses a decimal comma in a quoted field.
        let e = read("date,open,high,low,close\n2020-01-02,\"1,1\",2,0.5,1.5\n").unwrap_err();
        assert!(
            e.to_string().contains("open: unparsable number '1,1'"),
            "{e}"
        );
        // Tabs and pipes.
        assert_eq!(sniff(b"date\topen\thigh\tlow\tclose"), b'\t');
        assert_eq!(sniff(b"date|open|high|low|close\n1,2,3"), b'|');
        assert_eq!(sniff(b"date"), b',');
        assert_eq!("tab".parse::<Delimiter>().unwrap(), Delimiter::Byte(b'\t'));
        assert!("x".parse::<Delimiter>().is_err());
    }

    #[test]
    fn wall_clock_times_are_read_in_the_given_zone() {
        let berlin = CsvOptions {
            zone: "Europe/Berlin".parse().unwrap(),
            ..CsvOptions::default()
        };
        // Winter (UTC+1) and summer (UTC+2); a value with an offset and a plain date are not moved.
        let text = "date,open,high,low,close\n\
                    2024-01-15 10:00,1,2,0.5,1\n\
                    2024-07-15 10:00,1,2,0.5,1\n\
                    2024-07-16T10:00:00Z,1,2,0.5,1\n\
                    2024-07-17,1,2,0.5,1\n";
        let (c, _) = read_csv_from(text.as_bytes(), "t.csv", &berlin).unwrap();
        let utc = |s: &str| super::super::time::parse_time(s, TimeFormat::Iso).unwrap();
        assert_eq!(
            c.ts,
            [
                utc("2024-01-15T09:00:00Z"),
                utc("2024-07-15T08:00:00Z"),
                utc("2024-07-16T10:00:00Z"),
                utc("2024-07-17T00:00:00Z")
            ]
        );
        // 2024-10-27 02:00–03:00 happens twice in Berlin: in file order the first is CEST (00:00Z),
        // the repeat CET (01:00Z). 2024-03-31 02:30 never happens: an error naming the line.
        let text = "date,open,high,low,close\n\
                    2024-10-27 01:30,1,2,0.5,1\n\
                    2024-10-27 02:30,1,2,0.5,1\n\
                    2024-10-27 02:30,1,2,0.5,1.5\n\
                    2024-10-27 03:30,1,2,0.5,1\n";
        let (c, _) = read_csv_from(text.as_bytes(), "t.csv", &berlin).unwrap();
        let hours: Vec<i64> = c.ts.iter().map(|t| (t - c.ts[0]) / 3_600_000).collect();
        assert_eq!(hours, [0, 1, 2, 3]); // 23:30Z, 00:30Z, 01:30Z, 02:30Z
        let e = read_csv_from(
            "date,open,high,low,close\n2024-03-31 02:30,1,2,0.5,1\n".as_bytes(),
            "t.csv",
            &berlin,
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("line 2: time: time 2024-03-31 02:30:00 does not exist in Europe/Berlin"),
            "{e}"
        );
        // A fixed offset.
        let plus2 = CsvOptions {
            zone: "+02:00".parse().unwrap(),
            ..CsvOptions::default()
        };
        let (c, _) = read_csv_from(
            "date,o,h,l,c\n2024-01-15 10:00,1,2,0.5,1\n".as_bytes(),
            "t",
            &plus2,
        )
        .unwrap();
        assert_eq!(c.ts[0], utc("2024-01-15T08:00:00Z"));
        for bad in ["Mars/Olympus", "+25:00", "+2", "0200"] {
            assert!(bad.parse::<Zone>().is_err(), "{bad}");
        }
    }

    #[test]
    fn an_import_for_an_interval_checks_the_spacing() {
        let daily = "date,open,high,low,close\n2020-01-01,1,2,0.5,1\n2020-01-02,1,2,0.5,1\n\
                     2020-01-03,1,2,0.5,1\n2020-01-04,1,2,0.5,1\n";
        let e = read_csv_capped(
            daily.as_bytes(),
            "d.csv",
            &CsvOptions::default(),
            Some(Interval::Hour1),
            (MAX_CSV_BYTES, MAX_LINE_BYTES),
        )
        .unwrap_err()
        .to_string();
        assert_eq!(
            e,
            "d.csv: the bars are 1d apart (the lower quartile of 3 steps), not 1h: they look like \
             1d bars (--interval 1h); nothing was written"
        );
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
                &CsvOptions::default(),
                None,
                (total, line),
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
            &CsvOptions::default(),
            None,
            (MAX_CSV_BYTES, MAX_LINE_BYTES),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("zeros: line 1 is longer than 65536 bytes"),
            "{err}"
        );
    }
}
