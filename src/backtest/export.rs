//! Writing a run to files: the trade log as CSV or Parquet (the columns of [`TradeRecord`], read from
//! [`TRADE_COLUMNS`]), the equity curve as Parquet. Every file is
//! written atomically (a temp file in the same folder, then rename), so a reader never sees half a file.

use std::fs;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use arrow_array::builder::{
    BooleanBuilder, Float64Builder, StringBuilder, TimestampMillisecondBuilder, UInt64Builder,
};
use arrow_array::{ArrayRef, Float64Array, RecordBatch, TimestampMillisecondArray};
use arrow_schema::{ArrowError, DataType, Field, Schema, TimeUnit};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;

use crate::atomic::AtomicFile;
use crate::candles::time::format_ts_full;
use crate::error::{Error, IoContext, Result};
use crate::trade::{Cell, ExitReason, TRADE_COLUMNS, Trade, TradeColumn, TradeRecord};

/// The key/value metadata every Parquet output of a run carries in its footer (pyarrow:
/// `pq.read_metadata(f).metadata`, duckdb: `parquet_kv_metadata`): `flowrex_version`, `strategy`,
/// `params` (JSON), `symbol`, `interval`, and whatever the writer adds (`start`, `end`, `settings`,
/// `objective`, …), in insertion order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FileMeta(pub Vec<(String, String)>);

impl FileMeta {
    /// The common keys; `params` is a JSON object.
    pub fn new(strategy: &str, params: &serde_json::Value, symbol: &str, interval: &str) -> Self {
        FileMeta(vec![
            ("flowrex_version".into(), env!("CARGO_PKG_VERSION").into()),
            ("strategy".into(), strategy.into()),
            ("params".into(), params.to_string()),
            ("symbol".into(), symbol.into()),
            ("interval".into(), interval.into()),
        ])
    }

    /// The keys of a backtest run: the common ones, its settings (JSON) and its first and last bar.
    pub fn of_run(spec: &super::RunSpec, ts: &[i64]) -> Self {
        let c = &spec.config;
        let settings = serde_json::json!({
            "cash": c.cash, "commission": c.commission, "spread": c.spread,
            "fill": c.fill.to_string(), "close_at_end": c.close_at_end,
            "size": c.sizing.to_string(), "stop_policy": c.stop_policy.to_string(),
        });
        let mut m = FileMeta::new(
            spec.strategy.name(),
            &spec.params.to_json(),
            &spec.data.symbol,
            &spec.data.interval.to_string(),
        )
        .with("settings", settings.to_string());
        if let (Some(&first), Some(&last)) = (ts.first(), ts.last()) {
            m = m
                .with("start", format_ts_full(first))
                .with("end", format_ts_full(last));
        }
        m
    }

    /// This plus `key` = `value`.
    pub fn with(mut self, key: &str, value: impl Into<String>) -> Self {
        self.0.push((key.into(), value.into()));
        self
    }

    /// As Parquet footer entries (`None` when empty).
    pub fn key_values(&self) -> Option<Vec<parquet::file::metadata::KeyValue>> {
        (!self.0.is_empty()).then(|| {
            self.0
                .iter()
                .map(|(k, v)| parquet::file::metadata::KeyValue::new(k.clone(), v.clone()))
                .collect()
        })
    }
}

/// Writes `fill(file)` to a temp file next to `path` and renames it into place.
fn write_atomic(path: &Path, fill: impl FnOnce(&fs::File) -> Result<()>) -> Result<()> {
    let out = AtomicFile::create(path)?;
    fill(out.file())?;
    out.commit()
}

fn ts_field(name: &str) -> Field {
    Field::new(
        name,
        DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
        false,
    )
}

fn write_batch(path: &Path, file: &fs::File, batch: RecordBatch, meta: &FileMeta) -> Result<()> {
    let pq_err = |e: parquet::errors::ParquetError| {
        Error::invalid(format!("{}: cannot write Parquet: {e}", path.display()))
    };
    let props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_key_value_metadata(meta.key_values())
        .build();
    let f = file.try_clone().at(path)?;
    let mut w = ArrowWriter::try_new(f, batch.schema(), Some(props)).map_err(pq_err)?;
    w.write(&batch).map_err(pq_err)?;
    w.close().map_err(pq_err)?;
    Ok(())
}

/// The thirteen columns trade files had before they carried the whole [`TradeRecord`], in their old
/// order. They stay first so that readers indexing columns by position keep working; the record's other
/// columns (`side`, `duration_days`, `ambiguous`) follow in record order. Names only: what a column
/// holds and its type come from [`TRADE_COLUMNS`].
const LEADING_COLUMNS: [&str; 13] = [
    "size",
    "entry_bar",
    "exit_bar",
    "entry_time",
    "exit_time",
    "entry_price",
    "exit_price",
    "stop",
    "target",
    "pnl",
    "commission",
    "return_pct",
    "exit_reason",
];

/// The trade file's columns, in file order: `LEADING_COLUMNS`, then the rest of [`TRADE_COLUMNS`].
pub fn trade_file_columns() -> Vec<&'static TradeColumn> {
    let named = |n: &str| TRADE_COLUMNS.iter().find(|(name, _)| *name == n);
    let rest = TRADE_COLUMNS
        .iter()
        .filter(|(name, _)| !LEADING_COLUMNS.contains(name));
    LEADING_COLUMNS
        .iter()
        .filter_map(|n| named(n))
        .chain(rest)
        .collect()
}

/// A CSV cell: numbers in Rust's shortest round-trip form (`f64::to_string`), times in RFC 3339, an
/// unset stop or target empty.
fn csv_cell(cell: Cell) -> String {
    match cell {
        Cell::Real(x) => x.to_string(),
        Cell::MaybeReal(x) => x.map(|x| x.to_string()).unwrap_or_default(),
        Cell::Count(n) => n.to_string(),
        Cell::Time(ms) => format_ts_full(ms),
        Cell::Word(w) => w.to_string(),
        Cell::Flag(b) => b.to_string(),
    }
}

/// A Parquet column being filled; the [`Cell`] variant of its first value picks the Arrow type.
enum Builder {
    Real(Float64Builder),
    MaybeReal(Float64Builder),
    Count(UInt64Builder),
    Time(TimestampMillisecondBuilder),
    Word(StringBuilder),
    Flag(BooleanBuilder),
}

impl Builder {
    /// The builder and the Arrow field for a column whose cells look like `cell`.
    fn new(name: &str, cell: Cell) -> (Field, Builder) {
        let (dt, nullable, b) = match cell {
            Cell::Real(_) => (
                DataType::Float64,
                false,
                Builder::Real(Float64Builder::new()),
            ),
            Cell::MaybeReal(_) => (
                DataType::Float64,
                true,
                Builder::MaybeReal(Float64Builder::new()),
            ),
            Cell::Count(_) => (
                DataType::UInt64,
                false,
                Builder::Count(UInt64Builder::new()),
            ),
            Cell::Time(_) => {
                return (
                    ts_field(name),
                    Builder::Time(TimestampMillisecondBuilder::new().with_timezone("UTC")),
                );
            }
            Cell::Word(_) => (DataType::Utf8, false, Builder::Word(StringBuilder::new())),
            Cell::Flag(_) => (
                DataType::Boolean,
                false,
                Builder::Flag(BooleanBuilder::new()),
            ),
        };
        (Field::new(name, dt, nullable), b)
    }

    fn push(&mut self, cell: Cell) {
        match (self, cell) {
            (Builder::Real(b), Cell::Real(x)) => b.append_value(x),
            (Builder::MaybeReal(b), Cell::MaybeReal(x)) => b.append_option(x),
            (Builder::Count(b), Cell::Count(n)) => b.append_value(n),
            (Builder::Time(b), Cell::Time(ms)) => b.append_value(ms),
            (Builder::Word(b), Cell::Word(w)) => b.append_value(w),
            (Builder::Flag(b), Cell::Flag(f)) => b.append_value(f),
            // A column whose accessor changed its cell type leaves this column short, which
            // `RecordBatch::try_new` reports as an error.
            _ => {}
        }
    }

    fn finish(&mut self) -> ArrayRef {
        match self {
            Builder::Real(b) | Builder::MaybeReal(b) => Arc::new(b.finish()),
            Builder::Count(b) => Arc::new(b.finish()),
            Builder::Time(b) => Arc::new(b.finish()),
            Builder::Word(b) => Arc::new(b.finish()),
            Builder::Flag(b) => Arc::new(b.finish()),
        }
    }
}

/// A record that shows each column's cell type when there are no trades to look at (its values are
/// never written).
fn type_probe() -> TradeRecord {
    let t = Trade {
        size: 0.0,
        entry_bar: 0,
        exit_bar: 0,
        entry_price: 0.0,
        exit_price: 0.0,
        stop: None,
        target: None,
        pnl: 0.0,
        commission: 0.0,
        return_frac: 0.0,
        exit_reason: ExitReason::Signal,
        ambiguous: false,
    };
    TradeRecord::new(&t, &[0])
}

/// The trades as one Arrow batch with a column per [`trade_file_columns`]: reals as Float64 (`stop` and
/// `target` nullable), bar indices as UInt64, times as timestamp(ms, UTC), words as strings, flags as
/// booleans.
pub fn trades_batch(records: &[TradeRecord]) -> std::result::Result<RecordBatch, ArrowError> {
    let columns = trade_file_columns();
    let probe = records.first().cloned().unwrap_or_else(type_probe);
    let (fields, mut builders): (Vec<Field>, Vec<Builder>) = columns
        .iter()
        .map(|(name, cell)| Builder::new(name, cell(&probe)))
        .unzip();
    for r in records {
        for ((_, cell), b) in columns.iter().zip(&mut builders) {
            b.push(cell(r));
        }
    }
    let arrays = builders.iter_mut().map(Builder::finish).collect();
    RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)
}

/// Writes the closed trades to `path`: Parquet if it ends in `.parquet`, CSV if in `.csv`, one row per
/// [`TradeRecord`] and one column per [`trade_file_columns`]. Times come from `ts` (bar open times);
/// `return_pct` is in percent; `stop`/`target` are empty (null) when unset. A Parquet file carries
/// `meta` in its footer.
pub fn write_trades(path: &Path, trades: &[Trade], ts: &[i64], meta: &FileMeta) -> Result<()> {
    let records = TradeRecord::all(trades, ts);
    match extension(path).as_deref() {
        Some("csv") => write_atomic(path, |f| {
            let columns = trade_file_columns();
            let mut w = csv::Writer::from_writer(std::io::BufWriter::new(f));
            let csv_err = |e: csv::Error| Error::invalid(format!("{}: {e}", path.display()));
            w.write_record(columns.iter().map(|(name, _)| name))
                .map_err(csv_err)?;
            for r in &records {
                w.write_record(columns.iter().map(|(_, cell)| csv_cell(cell(r))))
                    .map_err(csv_err)?;
            }
            let mut inner = w
                .into_inner()
                .map_err(|e| Error::invalid(format!("{}: {e}", path.display())))?;
            inner.flush().at(path)
        }),
        Some("parquet") => write_atomic(path, |f| {
            let batch = trades_batch(&records).map_err(|e| {
                Error::invalid(format!("{}: cannot build rows: {e}", path.display()))
            })?;
            write_batch(path, f, batch, meta)
        }),
        _ => Err(Error::usage(format!(
            "--trades {}: the file name must end in .csv or .parquet",
            path.display()
        ))),
    }
}

/// Writes the equity curve to a Parquet or CSV file (by extension): `ts` (bar open time; a
/// timestamp(ms, UTC) column in Parquet, RFC 3339 in CSV), `equity`, and `drawdown_pct`
/// (`(1 − equity / running peak) × 100`, ≥ 0). A Parquet file carries `meta` in its footer.
pub fn write_equity(path: &Path, ts: &[i64], equity: &[f64], meta: &FileMeta) -> Result<()> {
    let mut peak = f64::NAN;
    let dd: Vec<f64> = equity
        .iter()
        .map(|&e| {
            peak = if peak.is_nan() || e > peak { e } else { peak };
            (1.0 - e / peak) * 100.0
        })
        .collect();
    match extension(path).as_deref() {
        Some("parquet") => {}
        Some("csv") => return write_equity_csv(path, ts, equity, &dd),
        _ => {
            return Err(Error::usage(format!(
                "--equity {}: the file name must end in .parquet or .csv",
                path.display()
            )));
        }
    }
    let schema = Arc::new(Schema::new(vec![
        ts_field("ts"),
        Field::new("equity", DataType::Float64, false),
        Field::new("drawdown_pct", DataType::Float64, false),
    ]));
    let batch = RecordBatch::try_new(
        schema,
        vec![
            Arc::new(TimestampMillisecondArray::from(ts.to_vec()).with_timezone("UTC")),
            Arc::new(Float64Array::from(equity.to_vec())),
            Arc::new(Float64Array::from(dd)),
        ],
    )
    .map_err(|e| Error::invalid(format!("{}: cannot build rows: {e}", path.display())))?;
    write_atomic(path, |f| write_batch(path, f, batch, meta))
}

/// The equity curve as CSV: `ts` in RFC 3339, reals in Rust's shortest round-trip form.
fn write_equity_csv(path: &Path, ts: &[i64], equity: &[f64], dd: &[f64]) -> Result<()> {
    write_atomic(path, |f| {
        let mut w = std::io::BufWriter::new(f);
        let mut line = String::with_capacity(64);
        w.write_all(b"ts,equity,drawdown_pct\n").at(path)?;
        for ((&t, &e), &d) in ts.iter().zip(equity).zip(dd) {
            line.clear();
            use std::fmt::Write as _;
            let _ = writeln!(line, "{},{e},{d}", format_ts_full(t));
            w.write_all(line.as_bytes()).at(path)?;
        }
        w.flush().at(path)
    })
}

fn extension(path: &Path) -> Option<String> {
    path.extension()
        .and_then(|e| e.to_str())
        .map(|e| e.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::candles::HOUR_MS;
    use arrow_array::{
        Array, BooleanArray, Float64Array, StringArray, TimestampMillisecondArray, UInt64Array,
    };
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

    /// Hourly bars from 2020-01-01T00:00Z.
    fn hours(n: i64) -> Vec<i64> {
        (0..n).map(|i| 1_577_836_800_000 + i * HOUR_MS).collect()
    }

    /// Two hand-worked trades. A short of 2 units entered at 100 on bar 1 (01:00) and closed at its
    /// target 75 on bar 4 (04:00), the bar also reaching its stop 110: pnl = −2·(75 − 100) = 50, return
    /// 25 %, 3 hours = 0.125 days. Then a long of 3 units from bar 4 to bar 6 (2 hours = 1/12 day) at 80
    /// → 90 without stop or target: pnl 30, return 12.5 %.
    fn trades() -> Vec<Trade> {
        let short = Trade {
            size: -2.0,
            entry_bar: 1,
            exit_bar: 4,
            entry_price: 100.0,
            exit_price: 75.0,
            stop: Some(110.0),
            target: Some(75.0),
            pnl: 50.0,
            commission: 0.0,
            return_frac: 0.25,
            exit_reason: ExitReason::Target,
            ambiguous: true,
        };
        let long = Trade {
            size: 3.0,
            entry_bar: 4,
            exit_bar: 6,
            entry_price: 80.0,
            exit_price: 90.0,
            stop: None,
            target: None,
            pnl: 30.0,
            return_frac: 0.125,
            exit_reason: ExitReason::Signal,
            ambiguous: false,
            ..short
        };
        vec![short, long]
    }

    #[test]
    fn file_columns_are_every_record_column_once_old_ones_first() {
        let names: Vec<&str> = trade_file_columns().iter().map(|(n, _)| *n).collect();
        assert_eq!(names.len(), TRADE_COLUMNS.len());
        assert_eq!(&names[..LEADING_COLUMNS.len()], &LEADING_COLUMNS);
        assert_eq!(
            &names[LEADING_COLUMNS.len()..],
            ["side", "duration_days", "ambiguous"]
        );
    }

    #[test]
    fn csv_carries_every_record_column() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.csv");
        write_trades(&path, &trades(), &hours(7), &FileMeta::default()).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines,
            [
                "size,entry_bar,exit_bar,entry_time,exit_time,entry_price,exit_price,stop,target,pnl,\
                 commission,return_pct,exit_reason,side,duration_days,ambiguous",
                "-2,1,4,2020-01-01T01:00:00Z,2020-01-01T04:00:00Z,100,75,110,75,50,0,25,target,short,\
                 0.125,true",
                // 2 h / 24 h = 0.08333… days, in Rust's shortest round-trip form.
                "3,4,6,2020-01-01T04:00:00Z,2020-01-01T06:00:00Z,80,90,,,30,0,12.5,signal,long,\
                 0.08333333333333333,false",
            ]
        );
    }

    #[test]
    fn parquet_types_and_values() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.parquet");
        write_trades(&path, &trades(), &hours(7), &FileMeta::default()).unwrap();
        let file = std::fs::File::open(&path).unwrap();
        let batch = ParquetRecordBatchReaderBuilder::try_new(file)
            .unwrap()
            .build()
            .unwrap()
            .next()
            .unwrap()
            .unwrap();
        let schema = batch.schema();
        let field = |n: &str| schema.field_with_name(n).unwrap().clone();
        let utc = DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()));
        assert_eq!(field("entry_time").data_type(), &utc);
        assert_eq!(field("entry_bar").data_type(), &DataType::UInt64);
        assert_eq!(field("side").data_type(), &DataType::Utf8);
        assert_eq!(field("exit_reason").data_type(), &DataType::Utf8);
        assert_eq!(field("ambiguous").data_type(), &DataType::Boolean);
        assert!(field("stop").is_nullable() && field("target").is_nullable());
        assert!(!field("size").is_nullable() && !field("duration_days").is_nullable());
        let col = |n: &str| batch.column_by_name(n).unwrap().clone();
        let side = col("side");
        let side = side.as_any().downcast_ref::<StringArray>().unwrap();
        assert_eq!((side.value(0), side.value(1)), ("short", "long"));
        let days = col("duration_days");
        let days = days.as_any().downcast_ref::<Float64Array>().unwrap();
        assert_eq!(days.values().as_ref(), &[0.125, 2.0 / 24.0]);
        let amb = col("ambiguous");
        let amb = amb.as_any().downcast_ref::<BooleanArray>().unwrap();
        assert_eq!((amb.value(0), amb.value(1)), (true, false));
        let stop = col("stop");
        let stop = stop.as_any().downcast_ref::<Float64Array>().unwrap();
        assert_eq!((stop.value(0), stop.is_null(1)), (110.0, true));
        let exit = col("exit_time");
        let exit = exit
            .as_any()
            .downcast_ref::<TimestampMillisecondArray>()
            .unwrap();
        assert_eq!(exit.value(1), 1_577_836_800_000 + 6 * HOUR_MS);
        let bars = col("exit_bar");
        let bars = bars.as_any().downcast_ref::<UInt64Array>().unwrap();
        assert_eq!(bars.values().as_ref(), &[4, 6]);
    }

    #[test]
    fn no_trades_still_write_the_schema() {
        let batch = trades_batch(&[]).unwrap();
        assert_eq!(batch.num_rows(), 0);
        assert_eq!(batch.num_columns(), TRADE_COLUMNS.len());
        assert_eq!(
            batch.schema().field_with_name("side").unwrap().data_type(),
            &DataType::Utf8
        );
    }
}
