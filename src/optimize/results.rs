//! The `--results` Parquet file: one row per evaluated candidate — (`window` in a walk-forward run: the
//! window whose train search evaluated it; rows in window order), `candidate` (grid index), `batch`
//! (generation / iteration), one column per parameter named as the parameter, `objective`, `ranked`,
//! and one column per metric of the field table ([`crate::metrics::fields`]), named as in
//! `backtest --json` (null where the JSON has null).
//!
//! Rows are streamed: evaluator threads send outcomes through a bounded channel to a writer thread,
//! which puts them back in the method's order and writes a row group every [`ROW_GROUP_ROWS`] rows,
//! so memory stays bounded whatever the number of candidates. The file appears atomically when the
//! search ends (temp file in the same folder, then rename).

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

use arrow_array::builder::{
    BooleanBuilder, Float64Builder, Int64Builder, StringBuilder, UInt32Builder, UInt64Builder,
};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;

use super::evaluate::{Observer, Outcome};
use super::space::Space;
use crate::atomic::AtomicFile;
use crate::error::{Error, IoContext, Result};
use crate::metrics::fields::{FIELDS, MetricValue};
use crate::strategy::{ParamKind, ParamValue};

/// Rows per Parquet row group (and per write).
pub const ROW_GROUP_ROWS: usize = 8192;

/// Streams outcomes to a Parquet file from any number of threads.
pub struct ResultsWriter {
    tx: Option<SyncSender<(u64, Outcome)>>,
    handle: Option<JoinHandle<Written>>,
}

/// What a writer thread ends with: the rows written and, for a walk-forward part, its file.
type Written = Result<(u64, Option<File>)>;

enum Col {
    U64(UInt64Builder),
    U32(UInt32Builder),
    I64(Int64Builder),
    F64(Float64Builder),
    Str(StringBuilder),
    Bool(BooleanBuilder),
}

impl Col {
    fn finish(&mut self) -> ArrayRef {
        match self {
            Col::U64(b) => Arc::new(b.finish()),
            Col::U32(b) => Arc::new(b.finish()),
            Col::I64(b) => Arc::new(b.finish()),
            Col::F64(b) => Arc::new(b.finish()),
            Col::Str(b) => Arc::new(b.finish()),
            Col::Bool(b) => Arc::new(b.finish()),
        }
    }
}

struct Sheet {
    schema: Arc<Schema>,
    cols: Vec<Col>,
    rows: usize,
    params: usize,
    /// Walk-forward: the window every row belongs to (the first column).
    window: Option<u32>,
}

impl Sheet {
    fn new(space: &Space, window: Option<u32>) -> Sheet {
        let mut fields = Vec::new();
        let mut cols = Vec::new();
        if window.is_some() {
            fields.push(Field::new("window", DataType::UInt32, false));
            cols.push(Col::U32(UInt32Builder::new()));
        }
        fields.push(Field::new("candidate", DataType::UInt64, false));
        fields.push(Field::new("batch", DataType::UInt32, false));
        cols.push(Col::U64(UInt64Builder::new()));
        cols.push(Col::U32(UInt32Builder::new()));
        let reserved = |n: &str| {
            ["window", "candidate", "batch", "objective", "ranked"].contains(&n)
                || FIELDS.iter().any(|f| f.key == n)
        };
        for d in space.dims() {
            let name = if reserved(d.spec.name) {
                format!("param_{}", d.spec.name)
            } else {
                d.spec.name.to_string()
            };
            let (dt, col) = match d.spec.kind {
                ParamKind::Int { .. } => (DataType::Int64, Col::I64(Int64Builder::new())),
                ParamKind::Float { .. } => (DataType::Float64, Col::F64(Float64Builder::new())),
                ParamKind::Choice { .. } => (DataType::Utf8, Col::Str(StringBuilder::new())),
            };
            fields.push(Field::new(name, dt, false));
            cols.push(col);
        }
        fields.push(Field::new("objective", DataType::Float64, true));
        fields.push(Field::new("ranked", DataType::Boolean, false));
        cols.push(Col::F64(Float64Builder::new()));
        cols.push(Col::Bool(BooleanBuilder::new()));
        // One column per metric, from the field table: whole numbers as non-null Int64, reals as
        // nullable Float64 (null where `backtest --json` has null).
        for f in &FIELDS {
            if f.is_int() {
                fields.push(Field::new(f.key, DataType::Int64, false));
                cols.push(Col::I64(Int64Builder::new()));
            } else {
                fields.push(Field::new(f.key, DataType::Float64, true));
                cols.push(Col::F64(Float64Builder::new()));
            }
        }
        Sheet {
            schema: Arc::new(Schema::new(fields)),
            cols,
            rows: 0,
            params: space.dims().len(),
            window,
        }
    }

    fn push(&mut self, o: &Outcome) {
        let finite = |v: f64| v.is_finite().then_some(v);
        let mut c = self.cols.iter_mut();
        if let Some(w) = self.window
            && let Some(Col::U32(b)) = c.next()
        {
            b.append_value(w);
        }
        if let Some(Col::U64(b)) = c.next() {
            b.append_value(o.index);
        }
        if let Some(Col::U32(b)) = c.next() {
            b.append_value(o.batch);
        }
        for (_, v) in o.params.iter().take(self.params) {
            match (c.next(), v) {
                (Some(Col::I64(b)), ParamValue::Int(x)) => b.append_value(x),
                (Some(Col::F64(b)), ParamValue::Float(x)) => b.append_value(x),
                (Some(Col::F64(b)), ParamValue::Int(x)) => b.append_value(x as f64),
                (Some(Col::Str(b)), ParamValue::Choice(x)) => b.append_value(x),
                (Some(Col::Str(b)), other) => b.append_value(other.to_string()),
                (Some(Col::I64(b)), _) => b.append_value(0),
                (Some(Col::F64(b)), _) => b.append_null(),
                _ => {}
            }
        }
        if let Some(Col::F64(b)) = c.next() {
            b.append_option(finite(o.objective));
        }
        if let Some(Col::Bool(b)) = c.next() {
            b.append_value(o.rank.is_some());
        }
        for f in &FIELDS {
            let v = f.value(&o.metrics);
            match (c.next(), v) {
                (Some(Col::I64(b)), MetricValue::Int(x)) => b.append_value(x),
                (Some(Col::F64(b)), MetricValue::Float(x)) => b.append_option(finite(x)),
                (Some(Col::F64(b)), MetricValue::Int(x)) => b.append_value(x as f64),
                (Some(Col::I64(b)), MetricValue::Float(x)) => b.append_value(x as i64),
                _ => {}
            }
        }
        self.rows += 1;
    }

    fn batch(&mut self) -> std::result::Result<RecordBatch, arrow_schema::ArrowError> {
        self.rows = 0;
        let cols: Vec<ArrayRef> = self.cols.iter_mut().map(Col::finish).collect();
        RecordBatch::try_new(self.schema.clone(), cols)
    }
}

/// Where a writer thread puts its rows: the results file itself (atomically), or an unnamed temporary
/// file (one walk-forward window's part, deleted when closed).
enum Dest {
    File(PathBuf),
    Part(File),
}

fn props() -> WriterProperties {
    WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .build()
}

fn write_all(
    path: PathBuf,
    dest: Dest,
    mut sheet: Sheet,
    rx: Receiver<(u64, Outcome)>,
) -> Result<(u64, Option<File>)> {
    let pq = |e: parquet::errors::ParquetError| {
        Error::invalid(format!("{}: cannot write Parquet: {e}", path.display()))
    };
    let arrow = |e: arrow_schema::ArrowError| {
        Error::invalid(format!("{}: cannot build rows: {e}", path.display()))
    };
    (|| -> Result<(u64, Option<File>)> {
        let (out, file) = match dest {
            Dest::File(p) => {
                let out = AtomicFile::create(&p)?;
                let file: File = out.file().try_clone().at(out.temp_path())?;
                (Some(out), file)
            }
            Dest::Part(f) => (None, f),
        };
        let part = match out {
            None => Some(file.try_clone().at(&path)?),
            Some(_) => None,
        };
        let mut writer =
            ArrowWriter::try_new(file, sheet.schema.clone(), Some(props())).map_err(pq)?;
        let mut pending: BTreeMap<u64, Outcome> = BTreeMap::new();
        let mut next = 0u64;
        let mut total = 0u64;
        let flush = |sheet: &mut Sheet, writer: &mut ArrowWriter<File>| -> Result<()> {
            if sheet.rows > 0 {
                let b = sheet.batch().map_err(arrow)?;
                writer.write(&b).map_err(pq)?;
            }
            Ok(())
        };
        for (seq, o) in rx.iter() {
            pending.insert(seq, o);
            while let Some(o) = pending.remove(&next) {
                sheet.push(&o);
                next += 1;
                total += 1;
                if sheet.rows >= ROW_GROUP_ROWS {
                    flush(&mut sheet, &mut writer)?;
                }
            }
        }
        // Outcomes after a gap (a stop skipped some candidates), in order.
        for o in std::mem::take(&mut pending).into_values() {
            sheet.push(&o);
            total += 1;
            if sheet.rows >= ROW_GROUP_ROWS {
                flush(&mut sheet, &mut writer)?;
            }
        }
        flush(&mut sheet, &mut writer)?;
        writer.close().map_err(pq)?;
        if let Some(out) = out {
            out.commit()?;
        }
        Ok((total, part))
    })()
}

/// The rows of one walk-forward window, in an unnamed temporary file until [`write_parts`].
pub struct ResultsPart {
    rows: u64,
    file: File,
}

/// Writes the walk-forward results file `path` from the windows' parts, in window order (each part's
/// rows in its method's order), one row group at a time; returns the row count.
pub fn write_parts(path: &Path, parts: Vec<ResultsPart>) -> Result<u64> {
    let pq = |e: parquet::errors::ParquetError| {
        Error::invalid(format!("{}: cannot write Parquet: {e}", path.display()))
    };
    let arrow = |e: arrow_schema::ArrowError| {
        Error::invalid(format!(
            "{}: cannot read a window's rows: {e}",
            path.display()
        ))
    };
    let out = AtomicFile::create(path)?;
    let file: File = out.file().try_clone().at(out.temp_path())?;
    let mut writer: Option<ArrowWriter<File>> = None;
    let mut total = 0;
    for part in parts {
        let reader = ParquetRecordBatchReaderBuilder::try_new(part.file)
            .map_err(pq)?
            .build()
            .map_err(pq)?;
        for batch in reader {
            let batch = batch.map_err(arrow)?;
            let w = match &mut writer {
                Some(w) => w,
                None => writer.insert(
                    ArrowWriter::try_new(file.try_clone().at(path)?, batch.schema(), Some(props()))
                        .map_err(pq)?,
                ),
            };
            w.write(&batch).map_err(pq)?;
        }
        total += part.rows;
    }
    match writer {
        Some(w) => {
            w.close().map_err(pq)?;
        }
        None => return Err(Error::invalid("walk-forward results: no window wrote rows")),
    }
    out.commit()?;
    Ok(total)
}

/// Outcomes that may wait between the evaluating threads and the writer thread.
const CHANNEL_SLOTS: usize = 1024;

impl ResultsWriter {
    /// Starts a writer thread for `path` with a column per parameter of `space`.
    pub fn create(path: &Path, space: &Space) -> Result<ResultsWriter> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).at(dir)?;
        }
        ResultsWriter::start(
            path,
            Dest::File(path.to_path_buf()),
            Sheet::new(space, None),
        )
    }

    /// Starts a writer thread for walk-forward window `window` of the results file `path`: its rows,
    /// with a leading `window` column, go to a temporary file beside `path` until [`write_parts`].
    pub fn create_part(path: &Path, space: &Space, window: u32) -> Result<ResultsWriter> {
        let dir = crate::atomic::parent_dir(path);
        std::fs::create_dir_all(&dir).at(&dir)?;
        let file = tempfile::tempfile_in(&dir).at(&dir)?;
        ResultsWriter::start(path, Dest::Part(file), Sheet::new(space, Some(window)))
    }

    fn start(path: &Path, dest: Dest, sheet: Sheet) -> Result<ResultsWriter> {
        // std's bounded channel allocates every slot up front (~0.5 KB per outcome), so keep the bound
        // small: 1024 slots cost ~0.5 MB, where 4 row groups' worth cost 16 MB of peak memory.
        let (tx, rx) = sync_channel(CHANNEL_SLOTS);
        let path = path.to_path_buf();
        let handle = std::thread::Builder::new()
            .name("flowrex-results".into())
            .spawn(move || write_all(path, dest, sheet, rx))
            .map_err(|e| Error::io("<results writer thread>", e))?;
        Ok(ResultsWriter {
            tx: Some(tx),
            handle: Some(handle),
        })
    }

    /// Queues one outcome (blocks briefly when the writer is behind).
    pub fn send(&self, seq: u64, outcome: &Outcome) {
        if let Some(tx) = &self.tx {
            // A failed send means the writer stopped on an error, which `finish` reports.
            let _ = tx.send((seq, outcome.clone()));
        }
    }

    /// Waits for every queued row to be written and moves the file into place; returns the row count.
    pub fn finish(self) -> Result<u64> {
        self.join().map(|(rows, _)| rows)
    }

    /// Waits for every queued row of a window's part ([`ResultsWriter::create_part`]).
    pub fn finish_part(self) -> Result<ResultsPart> {
        match self.join()? {
            (rows, Some(file)) => Ok(ResultsPart { rows, file }),
            (_, None) => Err(Error::invalid("not a walk-forward results part")),
        }
    }

    fn join(mut self) -> Result<(u64, Option<File>)> {
        self.tx.take();
        match self.handle.take().map(|h| h.join()) {
            Some(Ok(r)) => r,
            Some(Err(_)) => Err(Error::invalid("the results writer thread panicked")),
            None => Ok((0, None)),
        }
    }
}

impl Observer for ResultsWriter {
    fn evaluated(&self, seq: u64, outcome: &Outcome) {
        self.send(seq, outcome);
    }
}

impl Drop for ResultsWriter {
    fn drop(&mut self) {
        self.tx.take();
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}
