//! Reading a signals file: CSV (`,` or `;`, told apart by the header line) and Parquet (string, number,
//! timestamp and date columns). Both collect every bad row and name the file and its line or row.

use std::path::Path;

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Float32Type, Float64Type, Int32Type, Int64Type, TimestampMicrosecondType,
    TimestampMillisecondType, TimestampNanosecondType, TimestampSecondType,
};
use arrow_array::{Array, RecordBatch};
use arrow_schema::{DataType, TimeUnit};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use super::{Layout, RawSignal, SignalRow, action_of, time_of};
use crate::candles::DAY_MS;
use crate::candles::csv_import::extra_fields;
use crate::candles::validate::Problems;
use crate::error::{Error, IoContext, Result};

/// What a bad file is followed by in the error.
const CONSEQUENCE: &str = "no backtest was run";

/// Reads a CSV signals file.
pub(super) fn csv(path: &Path) -> Result<Vec<SignalRow>> {
    let file = path.display().to_string();
    let bytes = std::fs::read(path).at(path)?;
    let header = bytes.split(|&b| b == b'\n').next().unwrap_or(&[]);
    let count = |d: u8| header.iter().filter(|&&b| b == d).count();
    let delimiter = if count(b';') > count(b',') {
        b';'
    } else {
        b','
    };
    let mut rdr = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(bytes.as_slice());
    let names: Vec<String> = rdr
        .headers()
        .map_err(|e| Error::invalid(format!("{file}: cannot read the header row: {e}")))?
        .iter()
        .map(str::to_string)
        .collect();
    let layout = Layout::of(&names, &file)?;
    let mut out = Vec::new();
    let mut problems = Problems::default();
    for record in rdr.records() {
        let record = record.map_err(|e| Error::invalid(format!("{file}: malformed CSV: {e}")))?;
        if record.iter().all(str::is_empty) {
            continue;
        }
        let at = format!("line {}", record.position().map_or(0, |p| p.line()));
        if let Some(why) = extra_fields(&record, names.len()) {
            problems.add(&at, why);
            continue;
        }
        let cell = |i: Option<usize>| i.and_then(|i| record.get(i)).unwrap_or("");
        let mut number = |name: &str, i: Option<usize>| -> Option<f64> {
            let text = cell(i);
            match text.parse::<f64>() {
                _ if text.is_empty() => None,
                Ok(v) if v.is_nan() => None,
                Ok(v) => Some(v),
                Err(_) => {
                    problems.add(&at, format!("{name}: unparsable number '{text}'"));
                    Some(f64::NAN)
                }
            }
        };
        let raw = RawSignal {
            action: cell(layout.action),
            stop: number("stop", layout.stop),
            target: number("target", layout.target),
            size: number("size", layout.size),
        };
        let ts = time_of(cell(layout.time)).map_err(|e| problems.add(&at, format!("time: {e}")));
        // A number already reported as unparsable is not reported again as "not above 0".
        if [raw.stop, raw.target, raw.size]
            .iter()
            .any(|v| v.is_some_and(f64::is_nan))
        {
            continue;
        }
        if let (Ok(ts), Some(action)) = (ts, action_of(&raw, &at, &mut problems)) {
            out.push(SignalRow { at, ts, action });
        }
    }
    problems.into_result(&file, CONSEQUENCE)?;
    Ok(out)
}

/// Reads a Parquet signals file.
pub(super) fn parquet(path: &Path) -> Result<Vec<SignalRow>> {
    let file = path.display().to_string();
    let bad = |e: &dyn std::fmt::Display| {
        Error::invalid(format!("{file}: not a readable Parquet file: {e}"))
    };
    let builder = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(path).at(path)?)
        .map_err(|e| bad(&e))?;
    let names: Vec<String> = builder
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    let layout = Layout::of(&names, &file)?;
    let mut out = Vec::new();
    let mut problems = Problems::default();
    let mut row = 0usize;
    for batch in builder.build().map_err(|e| bad(&e))? {
        let batch = batch.map_err(|e| bad(&e))?;
        for i in 0..batch.num_rows() {
            row += 1;
            let at = format!("row {row}");
            if let Some(signal) = parquet_row(&batch, &layout, i, &at, &mut problems) {
                out.push(signal);
            }
        }
    }
    problems.into_result(&file, CONSEQUENCE)?;
    Ok(out)
}

/// Row `i` of `batch` as a signal, or `None` after recording its problems.
fn parquet_row(
    batch: &RecordBatch,
    layout: &Layout,
    i: usize,
    at: &str,
    problems: &mut Problems,
) -> Option<SignalRow> {
    let col = |c: Option<usize>| c.map(|c| batch.column(c).as_ref());
    let mut fail = |what: String| {
        problems.add(at, what);
        None::<SignalRow>
    };
    let ts = match col(layout.time).map(|c| time_cell(c, i)) {
        Some(Ok(t)) => t,
        Some(Err(e)) => return fail(format!("time: {e}")),
        None => return fail("time: missing".into()),
    };
    let action = match col(layout.action).map(|c| text_cell(c, i)) {
        Some(Ok(t)) => t,
        Some(Err(e)) => return fail(format!("action: {e}")),
        None => return fail("action: missing".into()),
    };
    let mut nums = [None; 3];
    for (k, (name, c)) in [
        ("stop", layout.stop),
        ("target", layout.target),
        ("size", layout.size),
    ]
    .into_iter()
    .enumerate()
    {
        match col(c).map(|c| number_cell(c, i)).unwrap_or(Ok(None)) {
            Ok(v) => nums[k] = v,
            Err(e) => return fail(format!("{name}: {e}")),
        }
    }
    let raw = RawSignal {
        action: &action,
        stop: nums[0],
        target: nums[1],
        size: nums[2],
    };
    let action = action_of(&raw, at, problems)?;
    Some(SignalRow {
        at: at.to_string(),
        ts,
        action,
    })
}

/// A time cell: a timestamp (any unit; without a zone it is UTC), a date, an epoch number (unit by
/// size) or text.
fn time_cell(c: &dyn Array, i: usize) -> std::result::Result<i64, String> {
    if c.is_null(i) {
        return Err("missing".into());
    }
    let by_size = |v: i64| time_of(&v.to_string()).map_err(|e| e.to_string());
    Ok(match c.data_type() {
        DataType::Timestamp(TimeUnit::Second, _) => {
            c.as_primitive::<TimestampSecondType>().value(i) * 1000
        }
        DataType::Timestamp(TimeUnit::Millisecond, _) => {
            c.as_primitive::<TimestampMillisecondType>().value(i)
        }
        DataType::Timestamp(TimeUnit::Microsecond, _) => c
            .as_primitive::<TimestampMicrosecondType>()
            .value(i)
            .div_euclid(1000),
        DataType::Timestamp(TimeUnit::Nanosecond, _) => c
            .as_primitive::<TimestampNanosecondType>()
            .value(i)
            .div_euclid(1_000_000),
        DataType::Date32 => {
            i64::from(c.as_primitive::<arrow_array::types::Date32Type>().value(i)) * DAY_MS
        }
        DataType::Date64 => c.as_primitive::<arrow_array::types::Date64Type>().value(i),
        DataType::Int64 => by_size(c.as_primitive::<Int64Type>().value(i))?,
        DataType::Int32 => by_size(i64::from(c.as_primitive::<Int32Type>().value(i)))?,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
            time_of(&text_cell(c, i)?).map_err(|e| e.to_string())?
        }
        other => return Err(format!("a {other} column cannot hold times")),
    })
}

/// A text cell (UTF-8 of any offset size).
fn text_cell(c: &dyn Array, i: usize) -> std::result::Result<String, String> {
    if c.is_null(i) {
        return Err("missing".into());
    }
    Ok(match c.data_type() {
        DataType::Utf8 => c.as_string::<i32>().value(i).to_string(),
        DataType::LargeUtf8 => c.as_string::<i64>().value(i).to_string(),
        DataType::Utf8View => c.as_string_view().value(i).to_string(),
        other => return Err(format!("a {other} column; expected text")),
    })
}

/// A number cell: `None` for a null or NaN.
fn number_cell(c: &dyn Array, i: usize) -> std::result::Result<Option<f64>, String> {
    if c.is_null(i) {
        return Ok(None);
    }
    let v = match c.data_type() {
        DataType::Float64 => c.as_primitive::<Float64Type>().value(i),
        DataType::Float32 => f64::from(c.as_primitive::<Float32Type>().value(i)),
        DataType::Int64 => c.as_primitive::<Int64Type>().value(i) as f64,
        DataType::Int32 => f64::from(c.as_primitive::<Int32Type>().value(i)),
        other => return Err(format!("a {other} column; expected numbers")),
    };
    Ok((!v.is_nan()).then_some(v))
}
