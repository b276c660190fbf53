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
//!
//! [`ResultRows::read`] reads one or more such files back (the shards of one search), and
//! [`ResultRows::check_playbook`] tells whether they are the search a playbook records.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

use arrow_array::builder::{
    BooleanBuilder, Float64Builder, Int64Builder, StringBuilder, TimestampMillisecondBuilder,
    UInt32Builder, UInt64Builder,
};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, TimeUnit};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;

use super::evaluate::{Observer, Outcome};
use super::space::Space;
use crate::atomic::AtomicFile;
use crate::backtest::DataSpec;
use crate::backtest::export::FileMeta;
use crate::error::{Error, IoContext, Result};
use crate::metrics::fields::{FIELDS, MetricValue, Unit};
use crate::playbook::{Optimization, Playbook, Table};
use crate::strategy::{ParamKind, ParamValue};

/// Rows per Parquet row group (and per write).
pub const ROW_GROUP_ROWS: usize = 8192;

/// Column names the file uses for something other than a parameter.
fn reserved(name: &str) -> bool {
    ["window", "candidate", "batch", "objective", "ranked"].contains(&name)
        || FIELDS.iter().any(|f| f.key == name)
}

/// The column of parameter `name`: its name, or `param_<name>` when that is taken by another column.
pub fn param_column(name: &str) -> String {
    if reserved(name) {
        format!("param_{name}")
    } else {
        name.to_string()
    }
}

/// The parameter a column between `batch` and `objective` holds (the inverse of [`param_column`]).
pub fn column_param(column: &str) -> &str {
    match column.strip_prefix("param_") {
        Some(name) if reserved(name) => name,
        _ => column,
    }
}

/// Streams outcomes to a Parquet file from any number of threads.
pub struct ResultsWriter {
    tx: Option<SyncSender<(u64, Outcome)>>,
    handle: Option<JoinHandle<Written>>,
}

/// What a writer thread ends with: the rows written and, for a walk-forward part, its file.
type Written = Result<(u64, Option<File>)>;

enum Col {
    /// A point in time: timestamp(ms, UTC).
    Ts(TimestampMillisecondBuilder),
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
            Col::Ts(b) => Arc::new(b.finish().with_timezone("UTC")),
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
    /// The file's footer metadata.
    meta: FileMeta,
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
        for d in space.dims() {
            let name = param_column(d.spec.name);
            let (dt, col) = match d.spec.kind {
                ParamKind::Int { .. } => (DataType::Int64, Col::I64(Int64Builder::new())),
                ParamKind::Float { .. } => (DataType::Float64, Col::F64(Float64Builder::new())),
                ParamKind::Choice { .. } | ParamKind::Path => {
                    (DataType::Utf8, Col::Str(StringBuilder::new()))
                }
            };
            fields.push(Field::new(name, dt, false));
            cols.push(col);
        }
        fields.push(Field::new("objective", DataType::Float64, true));
        fields.push(Field::new("ranked", DataType::Boolean, false));
        cols.push(Col::F64(Float64Builder::new()));
        cols.push(Col::Bool(BooleanBuilder::new()));
        // One column per metric, from the field table: points in time (start_ts, end_ts) as
        // timestamp(ms, UTC), other whole numbers as non-null Int64, reals as nullable Float64 (null
        // where `backtest --json` has null).
        for f in &FIELDS {
            if f.unit == Unit::Time {
                let utc = DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()));
                fields.push(Field::new(f.key, utc, false));
                cols.push(Col::Ts(TimestampMillisecondBuilder::new()));
            } else if f.is_int() {
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
            meta: FileMeta::default(),
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
                (Some(Col::Ts(b)), MetricValue::Int(x)) => b.append_value(x),
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

fn props(meta: &FileMeta) -> WriterProperties {
    WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .set_key_value_metadata(meta.key_values())
        .build()
}

/// The footer metadata of a search's results file: strategy, the searched space as `params` (JSON,
/// each parameter's values as written: `"5..50:5"`), symbol, interval, objective, method and version.
pub fn search_meta(space: &Space, objective: &str, method: &str, data: &DataSpec) -> FileMeta {
    let params: serde_json::Map<String, serde_json::Value> = space
        .describe()
        .into_iter()
        .map(|(k, v)| (k, v.into()))
        .collect();
    FileMeta::new(
        space.strategy().name(),
        &params.into(),
        &data.symbol,
        &data.interval.to_string(),
    )
    .with("objective", objective)
    .with("method", method)
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
        let mut writer = ArrowWriter::try_new(file, sheet.schema.clone(), Some(props(&sheet.meta)))
            .map_err(pq)?;
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
pub fn write_parts(path: &Path, parts: Vec<ResultsPart>, meta: &FileMeta) -> Result<u64> {
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
                    ArrowWriter::try_new(
                        file.try_clone().at(path)?,
                        batch.schema(),
                        Some(props(meta)),
                    )
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
    /// Starts a writer thread for `path` with a column per parameter of `space`; the file's footer
    /// carries `meta` ([`search_meta`]).
    pub fn create(path: &Path, space: &Space, meta: &FileMeta) -> Result<ResultsWriter> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).at(dir)?;
        }
        let mut sheet = Sheet::new(space, None);
        sheet.meta = meta.clone();
        ResultsWriter::start(path, Dest::File(path.to_path_buf()), sheet)
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

/// A results file (or the files of every shard of one search) read back: one row per evaluated
/// candidate, column by column.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ResultRows {
    /// The files read, for messages.
    pub origin: String,
    /// Parameter names, in column order (the strategy's declaration order).
    pub params: Vec<String>,
    /// Each row's walk-forward window (the file's `window` column); empty for a plain search's file.
    pub window: Vec<u32>,
    /// The files have a `window` column (a walk-forward run's), whether or not they hold rows.
    pub walk_forward: bool,
    /// Each row's grid index.
    pub candidate: Vec<u64>,
    /// Each row's parameter values as text (`ParamValue`'s form: `10`, `0.25`, `a`), one per
    /// parameter.
    pub values: Vec<Vec<String>>,
    /// Each row's objective (NaN where the file has null).
    pub objective: Vec<f64>,
    /// Whether each row was ranked (finite objective and at least `min_trades` trades).
    pub ranked: Vec<bool>,
    /// Each metric of the field table, in its order: every row's value (a real NaN where the file has
    /// null or lacks the column).
    pub metrics: Vec<Vec<MetricValue>>,
}

impl ResultRows {
    /// Rows read.
    pub fn len(&self) -> usize {
        self.candidate.len()
    }

    /// True when no row was read.
    pub fn is_empty(&self) -> bool {
        self.candidate.is_empty()
    }

    /// The values of metric `key` (its `backtest --json` name), one per row.
    pub fn metric(&self, key: &str) -> Option<&[MetricValue]> {
        let i = FIELDS.iter().position(|f| f.key == key)?;
        self.metrics.get(i).map(Vec::as_slice)
    }

    /// Reads `paths` (one search, possibly in shards) in order. A file that is not a results file, or
    /// whose parameters differ from the first file's, is an error naming it.
    pub fn read(paths: &[PathBuf]) -> Result<ResultRows> {
        let mut rows = ResultRows {
            origin: paths
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
            metrics: vec![Vec::new(); FIELDS.len()],
            ..ResultRows::default()
        };
        for (i, path) in paths.iter().enumerate() {
            read_file(path, &mut rows, i == 0)?;
        }
        Ok(rows)
    }

    /// The walk-forward windows the rows belong to, in file order (empty for a plain search).
    pub fn windows(&self) -> Vec<u32> {
        let mut w = self.window.clone();
        w.dedup();
        w
    }

    /// Only the rows of walk-forward window `k` (none when the file has no `window` column).
    pub fn of_window(&self, k: u32) -> ResultRows {
        let keep: Vec<usize> = (0..self.window.len())
            .filter(|&r| self.window[r] == k)
            .collect();
        let pick = |v: &[f64]| keep.iter().map(|&r| v[r]).collect::<Vec<_>>();
        ResultRows {
            origin: format!("{} (window {k})", self.origin),
            params: self.params.clone(),
            window: vec![k; keep.len()],
            walk_forward: self.walk_forward,
            candidate: keep.iter().map(|&r| self.candidate[r]).collect(),
            values: keep.iter().map(|&r| self.values[r].clone()).collect(),
            objective: pick(&self.objective),
            ranked: keep.iter().map(|&r| self.ranked[r]).collect(),
            metrics: self
                .metrics
                .iter()
                .map(|m| keep.iter().map(|&r| m[r]).collect())
                .collect(),
        }
    }

    /// The rows that `pb`'s `[optimization]` describes: all of them for a plain search; for a
    /// walk-forward playbook (whose `[optimization]`, `[[top]]` and `[metrics]` are its last
    /// window's search) the last window's, after checking that the file holds every window of
    /// `[walk_forward]` with as many candidates as each window evaluated. An error names the file
    /// and says which kind each is when a walk-forward file meets a plain playbook or the reverse.
    pub fn for_playbook(&self, pb: &Playbook, pb_origin: &str) -> Result<ResultRows> {
        self.for_window(pb, pb_origin, None)
    }

    /// [`ResultRows::for_playbook`], but for a walk-forward playbook the rows of window `window`
    /// (`None`: the last), which must be one of its windows (the caller checks).
    pub fn for_window(
        &self,
        pb: &Playbook,
        pb_origin: &str,
        window: Option<u32>,
    ) -> Result<ResultRows> {
        let other = |what: String| {
            Error::invalid(format!(
                "{}: {what}; the results file is from another search than {pb_origin}",
                self.origin
            ))
        };
        let Some(wf) = &pb.walk_forward else {
            if self.walk_forward {
                return Err(other(
                    "it is a walk-forward results file (it has a `window` column) but the playbook is not a walk-forward playbook".into(),
                ));
            }
            return Ok(self.clone());
        };
        if !self.walk_forward {
            return Err(other(format!(
                "it has no `window` column but the playbook is a walk-forward playbook ({} windows); pass the --results file of its `optimize --walk-forward` run",
                wf.windows
            )));
        }
        let windows = self.windows();
        let want: Vec<u32> = (0..wf.window.len() as u32).collect();
        if windows != want {
            return Err(other(format!(
                "its rows belong to windows {windows:?} but the playbook's walk-forward has windows 0 to {}",
                wf.window.len().saturating_sub(1)
            )));
        }
        for (k, entry) in want.iter().zip(&wf.window) {
            let n = self.window.iter().filter(|&&w| w == *k).count() as u64;
            if n != entry.evaluated {
                return Err(other(format!(
                    "its window {k} holds {n} candidates but the playbook's window {k} evaluated {}",
                    entry.evaluated
                )));
            }
        }
        Ok(self.of_window(window.unwrap_or(*want.last().unwrap_or(&0))))
    }

    /// Checks that these rows are the search of window `k` of `pb`'s walk-forward (rows from
    /// [`ResultRows::for_window`]): the same parameters, and the candidate the window chose is a row
    /// with the parameters and the in-sample objective `[[walk_forward.window]]` records (bit for bit).
    /// An error says what differs and that the file is from another search.
    pub fn check_window(&self, pb: &Playbook, pb_origin: &str, k: u32) -> Result<()> {
        let other = |what: String| {
            Error::invalid(format!(
                "{}: {what}; the results file is from another search than {pb_origin}",
                self.origin
            ))
        };
        let Some(entry) = pb
            .walk_forward
            .as_ref()
            .and_then(|wf| wf.window.get(k as usize))
        else {
            return Err(other(format!(
                "the playbook has no walk-forward window {k}"
            )));
        };
        if let Some(o) = &pb.optimization {
            self.check_params(o).map_err(other)?;
        }
        let Some(r) = self.row_of(entry.candidate) else {
            return Err(other(format!(
                "its window {k} has no row for candidate {} ({}), the window's choice",
                entry.candidate,
                entry.params.to_line()
            )));
        };
        if !self.row_is(r, &entry.params, entry.is_objective) {
            return Err(other(format!(
                "its window {k} candidate {} has objective {} but the playbook's window {k} chose {} with {}",
                entry.candidate,
                self.objective[r],
                entry.params.to_line(),
                entry.is_objective
            )));
        }
        Ok(())
    }

    /// Row `r` has these parameter values and this objective (bit for bit: both were written from the
    /// same f64, the playbook in shortest round-trip form).
    fn row_is(&self, r: usize, params: &Table, objective: f64) -> bool {
        let same_params = self
            .params
            .iter()
            .zip(&self.values[r])
            .all(|(name, v)| params.get(name).is_some_and(|p| same_value(p, v)));
        same_params && self.objective[r] == objective
    }

    /// The row of grid index `candidate`, if there is one.
    pub fn row_of(&self, candidate: u64) -> Option<usize> {
        self.candidate.iter().position(|&c| c == candidate)
    }

    /// Checks that these rows are the search `pb` records: the same parameters, as many candidates as
    /// it evaluated, backtests over the same bars, and every `[[top]]` candidate with the same
    /// parameters and objective. An error says what differs and that the file is from another search.
    pub fn check_playbook(&self, pb: &Playbook, pb_origin: &str) -> Result<()> {
        let Some(o) = &pb.optimization else {
            return Err(Error::invalid(format!(
                "{pb_origin}: the playbook has no [optimization] section (it was not written by `optimize`)"
            )));
        };
        let other = |what: String| {
            Error::invalid(format!(
                "{}: {what}; the results file is from another search than {pb_origin}",
                self.origin
            ))
        };
        self.check_params(o).map_err(other)?;
        if self.len() as u64 != o.evaluated {
            return Err(other(format!(
                "it holds {} candidates but the playbook's search evaluated {} (for a merged playbook, pass every shard's results file)",
                self.len(),
                o.evaluated
            )));
        }
        self.check_bars(pb).map_err(other)?;
        self.check_top(pb, &o.objective).map_err(other)
    }

    /// The file's parameters are the search's, in the same order.
    fn check_params(&self, o: &Optimization) -> std::result::Result<(), String> {
        let names: Vec<&str> = o.space.0.iter().map(|(k, _)| k.as_str()).collect();
        if self.params != names {
            return Err(format!(
                "its parameters are ({}) but the playbook's search has ({})",
                self.params.join(", "),
                names.join(", ")
            ));
        }
        Ok(())
    }

    /// The backtests ran over the playbook's bars: the same count, first and last bar.
    fn check_bars(&self, pb: &Playbook) -> std::result::Result<(), String> {
        let first = |key: &str| self.metric(key).and_then(|v| v.first()).map(|v| v.as_f64());
        let stored = |key: &str| match pb.metrics.get(key) {
            Some(toml::Value::Integer(i)) => Some(*i as f64),
            _ => None,
        };
        for key in ["bars", "start_ts", "end_ts"] {
            let (file, book) = (first(key), stored(key));
            if book.is_some() && file.is_some() && file != book {
                let show = |v: Option<f64>| match (key, v) {
                    (_, None) => "none".to_string(),
                    ("bars", Some(n)) => format!("{n}"),
                    (_, Some(ms)) => crate::candles::time::format_ts(ms as i64),
                };
                return Err(format!(
                    "its backtests have {key} = {} but the playbook's have {}",
                    show(file),
                    show(book)
                ));
            }
        }
        Ok(())
    }

    /// Every `[[top]]` candidate is a row with the same parameters and the same objective (bit for
    /// bit: both were written from the same f64, the playbook in shortest round-trip form).
    fn check_top(&self, pb: &Playbook, objective: &str) -> std::result::Result<(), String> {
        let mut row_of: std::collections::HashMap<u64, usize> = std::collections::HashMap::new();
        for (r, &c) in self.candidate.iter().enumerate().rev() {
            row_of.insert(c, r);
        }
        for t in &pb.top {
            let Some(&r) = row_of.get(&t.candidate) else {
                return Err(format!(
                    "it has no row for candidate {} ({}), rank {} of the playbook",
                    t.candidate,
                    t.params.to_line(),
                    t.rank
                ));
            };
            if !self.row_is(r, &t.params, t.objective) {
                return Err(format!(
                    "its candidate {} is {} with {objective} {} but the playbook's is {} with {}",
                    t.candidate,
                    self.params
                        .iter()
                        .zip(&self.values[r])
                        .map(|(n, v)| format!("{n}={v}"))
                        .collect::<Vec<_>>()
                        .join(" "),
                    self.objective[r],
                    t.params.to_line(),
                    t.objective
                ));
            }
        }
        Ok(())
    }
}

/// A playbook parameter value and a results file's text of it are the same value.
fn same_value(p: &toml::Value, text: &str) -> bool {
    match p {
        toml::Value::Integer(i) => text.parse::<f64>() == Ok(*i as f64),
        toml::Value::Float(f) => text.parse::<f64>() == Ok(*f),
        toml::Value::String(s) => s == text,
        other => other.to_string() == text,
    }
}

fn read_file(path: &Path, rows: &mut ResultRows, first: bool) -> Result<()> {
    use arrow_array::RecordBatchReader;
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    let not_results = |why: String| {
        Error::invalid(format!(
            "{}: not a flowrex optimize results file ({why})",
            path.display()
        ))
    };
    let file = File::open(path).at(path)?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .and_then(|b| b.build())
        .map_err(|e| not_results(format!("cannot read it as Parquet: {e}")))?;
    let schema = reader.schema();
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    let at = |n: &str| names.iter().position(|c| *c == n);
    let (Some(obj), Some(ranked), Some(cand), Some(batch)) =
        (at("objective"), at("ranked"), at("candidate"), at("batch"))
    else {
        return Err(not_results(
            "it lacks a candidate, batch, objective or ranked column".into(),
        ));
    };
    let window = at("window");
    if !(cand < batch && batch < obj && obj < ranked) || window.is_some_and(|w| w > cand) {
        return Err(not_results(
            "its columns are not in the results order".into(),
        ));
    }
    // A walk-forward file's rows belong to windows; mixed with a plain search's they would not.
    if first {
        rows.walk_forward = window.is_some();
    } else if window.is_some() != rows.walk_forward {
        return Err(Error::invalid(format!(
            "{}: {} a walk-forward results file (a `window` column) but the first results file {}; pass the files of one search",
            path.display(),
            if window.is_some() { "is" } else { "is not" },
            if window.is_some() { "is not" } else { "is" },
        )));
    }
    let params: Vec<String> = names[batch + 1..obj]
        .iter()
        .map(|c| column_param(c).to_string())
        .collect();
    if first {
        rows.params = params;
    } else if params != rows.params {
        return Err(Error::invalid(format!(
            "{}: its parameters ({}) differ from the first results file's ({}); pass the files of one search",
            path.display(),
            params.join(", "),
            rows.params.join(", ")
        )));
    }
    let metric_cols: Vec<Option<usize>> = FIELDS.iter().map(|f| at(f.key)).collect();
    for batch_rows in reader {
        let b = batch_rows.map_err(|e| not_results(format!("a row group cannot be read: {e}")))?;
        append_batch(&b, rows, (window, cand, batch, obj, ranked), &metric_cols)
            .map_err(not_results)?;
    }
    Ok(())
}

/// Appends the rows of one record batch; `(window, cand, batch, obj, ranked)` are the fixed
/// columns' indices (`window` only in a walk-forward file).
fn append_batch(
    b: &RecordBatch,
    rows: &mut ResultRows,
    (window, cand, batch, obj, ranked): (Option<usize>, usize, usize, usize, usize),
    metric_cols: &[Option<usize>],
) -> std::result::Result<(), String> {
    use arrow_array::Array;
    use arrow_array::cast::AsArray;
    use arrow_array::types::{Float64Type, Int64Type, UInt32Type, UInt64Type};
    let col = |i: usize| b.column(i);
    let typed =
        |i: usize, want: &str| format!("column {} is not {want}", b.schema().field(i).name());
    if let Some(w) = window {
        let windows = col(w)
            .as_primitive_opt::<UInt32Type>()
            .ok_or_else(|| typed(w, "UInt32"))?;
        rows.window.extend(windows.values().iter().copied());
    }
    let cands = col(cand)
        .as_primitive_opt::<UInt64Type>()
        .ok_or_else(|| typed(cand, "UInt64"))?;
    let objs = col(obj)
        .as_primitive_opt::<Float64Type>()
        .ok_or_else(|| typed(obj, "Float64"))?;
    let flags = col(ranked)
        .as_boolean_opt()
        .ok_or_else(|| typed(ranked, "Boolean"))?;
    let n = b.num_rows();
    let text_of = |i: usize, r: usize| -> std::result::Result<String, String> {
        let a = col(i);
        if let Some(v) = a.as_primitive_opt::<Int64Type>() {
            Ok(v.value(r).to_string())
        } else if let Some(v) = a.as_primitive_opt::<Float64Type>() {
            Ok(ParamValue::Float(v.value(r)).to_string())
        } else if let Some(v) = a.as_string_opt::<i32>() {
            Ok(v.value(r).to_string())
        } else {
            Err(typed(i, "Int64, Float64 or Utf8"))
        }
    };
    for r in 0..n {
        rows.candidate.push(cands.value(r));
        rows.values.push(
            (batch + 1..obj)
                .map(|i| text_of(i, r))
                .collect::<std::result::Result<_, _>>()?,
        );
        rows.objective.push(if objs.is_null(r) {
            f64::NAN
        } else {
            objs.value(r)
        });
        rows.ranked.push(flags.value(r));
    }
    for ((f, c), out) in FIELDS.iter().zip(metric_cols).zip(&mut rows.metrics) {
        let Some(i) = *c else {
            out.extend(std::iter::repeat_n(MetricValue::Float(f64::NAN), n));
            continue;
        };
        let a = col(i);
        if let (true, Some(v)) = (f.is_int(), a.as_primitive_opt::<Int64Type>()) {
            out.extend((0..n).map(|r| MetricValue::Int(v.value(r))));
        } else if let (true, Some(v)) = (
            f.is_int(),
            a.as_primitive_opt::<arrow_array::types::TimestampMillisecondType>(),
        ) {
            out.extend((0..n).map(|r| MetricValue::Int(v.value(r))));
        } else if let Some(v) = a.as_primitive_opt::<Float64Type>() {
            out.extend(
                (0..n)
                    .map(|r| MetricValue::Float(if v.is_null(r) { f64::NAN } else { v.value(r) })),
            );
        } else {
            return Err(typed(i, if f.is_int() { "Int64" } else { "Float64" }));
        }
    }
    Ok(())
}
