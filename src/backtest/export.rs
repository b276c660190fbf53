//! Writing a run to files: the trade log as CSV or Parquet, the equity curve as Parquet. Every file is
//! written atomically (a temp file in the same folder, then rename), so a reader never sees half a file.

use std::fs;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use arrow_array::{
    Array, Float64Array, RecordBatch, StringArray, TimestampMillisecondArray, UInt64Array,
};
use arrow_schema::{DataType, Field, Schema, TimeUnit};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;

use crate::atomic::AtomicFile;
use crate::candles::time::format_ts_full;
use crate::error::{Error, IoContext, Result};
use crate::trade::Trade;

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

fn write_batch(path: &Path, file: &fs::File, batch: RecordBatch) -> Result<()> {
    let pq_err = |e: parquet::errors::ParquetError| {
        Error::invalid(format!("{}: cannot write Parquet: {e}", path.display()))
    };
    let props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .build();
    let f = file.try_clone().at(path)?;
    let mut w = ArrowWriter::try_new(f, batch.schema(), Some(props)).map_err(pq_err)?;
    w.write(&batch).map_err(pq_err)?;
    w.close().map_err(pq_err)?;
    Ok(())
}

/// The trade-log columns, in file order.
pub const TRADE_COLUMNS: [&str; 13] = [
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

/// Writes the closed trades to `path`: Parquet if it ends in `.parquet`, CSV if in `.csv`. Times come
/// from `ts` (bar open times); `return_pct` is in percent; `stop`/`target` are empty (null) when unset.
pub fn write_trades(path: &Path, trades: &[Trade], ts: &[i64]) -> Result<()> {
    match extension(path).as_deref() {
        Some("csv") => write_atomic(path, |f| {
            let mut w = csv::Writer::from_writer(std::io::BufWriter::new(f));
            let csv_err = |e: csv::Error| Error::invalid(format!("{}: {e}", path.display()));
            w.write_record(TRADE_COLUMNS).map_err(csv_err)?;
            let opt = |v: Option<f64>| v.map(|x| x.to_string()).unwrap_or_default();
            for t in trades {
                w.write_record([
                    t.size.to_string(),
                    t.entry_bar.to_string(),
                    t.exit_bar.to_string(),
                    format_ts_full(ts[t.entry_bar]),
                    format_ts_full(ts[t.exit_bar]),
                    t.entry_price.to_string(),
                    t.exit_price.to_string(),
                    opt(t.stop),
                    opt(t.target),
                    t.pnl.to_string(),
                    t.commission.to_string(),
                    (t.return_frac * 100.0).to_string(),
                    t.exit_reason.as_str().to_string(),
                ])
                .map_err(csv_err)?;
            }
            let mut inner = w
                .into_inner()
                .map_err(|e| Error::invalid(format!("{}: {e}", path.display())))?;
            inner.flush().at(path)
        }),
        Some("parquet") => write_atomic(path, |f| {
            let fcol = |g: &dyn Fn(&Trade) -> f64| {
                Arc::new(Float64Array::from(trades.iter().map(g).collect::<Vec<_>>()))
                    as Arc<dyn Array>
            };
            let ocol = |g: &dyn Fn(&Trade) -> Option<f64>| {
                Arc::new(Float64Array::from(trades.iter().map(g).collect::<Vec<_>>()))
                    as Arc<dyn Array>
            };
            let ucol = |g: &dyn Fn(&Trade) -> usize| {
                Arc::new(UInt64Array::from(
                    trades.iter().map(|t| g(t) as u64).collect::<Vec<_>>(),
                )) as Arc<dyn Array>
            };
            let tcol = |g: &dyn Fn(&Trade) -> usize| {
                Arc::new(
                    TimestampMillisecondArray::from(
                        trades.iter().map(|t| ts[g(t)]).collect::<Vec<_>>(),
                    )
                    .with_timezone("UTC"),
                ) as Arc<dyn Array>
            };
            let f64f = |n: &str, null: bool| Field::new(n, DataType::Float64, null);
            let schema = Arc::new(Schema::new(vec![
                f64f("size", false),
                Field::new("entry_bar", DataType::UInt64, false),
                Field::new("exit_bar", DataType::UInt64, false),
                ts_field("entry_time"),
                ts_field("exit_time"),
                f64f("entry_price", false),
                f64f("exit_price", false),
                f64f("stop", true),
                f64f("target", true),
                f64f("pnl", false),
                f64f("commission", false),
                f64f("return_pct", false),
                Field::new("exit_reason", DataType::Utf8, false),
            ]));
            let batch = RecordBatch::try_new(
                schema,
                vec![
                    fcol(&|t| t.size),
                    ucol(&|t| t.entry_bar),
                    ucol(&|t| t.exit_bar),
                    tcol(&|t| t.entry_bar),
                    tcol(&|t| t.exit_bar),
                    fcol(&|t| t.entry_price),
                    fcol(&|t| t.exit_price),
                    ocol(&|t| t.stop),
                    ocol(&|t| t.target),
                    fcol(&|t| t.pnl),
                    fcol(&|t| t.commission),
                    fcol(&|t| t.return_frac * 100.0),
                    Arc::new(StringArray::from(
                        trades
                            .iter()
                            .map(|t| t.exit_reason.as_str())
                            .collect::<Vec<_>>(),
                    )),
                ],
            )
            .map_err(|e| Error::invalid(format!("{}: cannot build rows: {e}", path.display())))?;
            write_batch(path, f, batch)
        }),
        _ => Err(Error::usage(format!(
            "--trades {}: the file name must end in .csv or .parquet",
            path.display()
        ))),
    }
}

/// Writes the equity curve to a Parquet file: `ts` (bar open time, ms UTC), `equity`, and
/// `drawdown_pct` (`(1 − equity / running peak) × 100`, ≥ 0).
pub fn write_equity(path: &Path, ts: &[i64], equity: &[f64]) -> Result<()> {
    if extension(path).as_deref() != Some("parquet") {
        return Err(Error::usage(format!(
            "--equity {}: the file name must end in .parquet",
            path.display()
        )));
    }
    let mut peak = f64::NAN;
    let dd: Vec<f64> = equity
        .iter()
        .map(|&e| {
            peak = if peak.is_nan() || e > peak { e } else { peak };
            (1.0 - e / peak) * 100.0
        })
        .collect();
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
    write_atomic(path, |f| write_batch(path, f, batch))
}

fn extension(path: &Path) -> Option<String> {
    path.extension()
        .and_then(|e| e.to_str())
        .map(|e| e.to_ascii_lowercase())
}
