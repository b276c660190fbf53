//! The Parquet candle store: `<home>/data/<SYMBOL>/<interval>.parquet`, written atomically (temp file in
//! the same folder, fsync, rename) under a per-file lock, read by time range using row-group statistics.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::{Array, Float64Array, RecordBatch, TimestampMillisecondArray};
use arrow_schema::{DataType, Field, Schema, TimeUnit};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::Compression;
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;
use parquet::file::statistics::Statistics;

use super::time::{TimeRange, format_ts};
use super::validate;
use super::{Candles, Interval};
use crate::atomic::AtomicFile;
use crate::error::{Error, IoContext, Result};

/// Store files are written uncompressed with plain encoding: loading 1,000,000 bars takes ~38 ms this
/// way, against ~68 ms with LZ4 and ~105 ms with Snappy, while price columns shrink by only a few percent
/// under compression. Snappy-compressed files written by other tools (pandas' default) still read.
const COMPRESSION: Compression = Compression::UNCOMPRESSED;

/// Rows per Parquet row group: small enough that a time-range load skips most of a big file, large
/// enough that per-group overhead stays negligible.
const ROW_GROUP_ROWS: usize = 65_536;

/// Metadata keys written into every store file.
const META_SYMBOL: &str = "flowrex.symbol";
const META_INTERVAL: &str = "flowrex.interval";
const META_SOURCE: &str = "flowrex.source";
const META_WRITTEN_AT: &str = "flowrex.written_at";

/// What a store file records about itself in its Parquet key-value metadata.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
pub struct StoreMeta {
    /// The symbol as the user spelled it (`EUR/USD`), before it was made path-safe.
    pub symbol: String,
    /// The bar interval (`1h`).
    pub interval: String,
    /// Where the bars came from (`csv:GOOG.csv`, `synthetic:seed=7`, `twelvedata`, …).
    pub source: String,
    /// When the file was written (RFC 3339, UTC).
    pub written_at: String,
}

/// The candle store of one home folder.
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
}

/// Makes a symbol safe as a folder name: `EUR/USD` → `EUR-USD`. Letters, digits, `.`, `_` and `-` stay.
pub fn path_safe_symbol(symbol: &str) -> String {
    symbol
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '-'
            }
        })
        .collect()
}

impl Store {
    /// The store whose root folder is `root`.
    pub fn at(root: PathBuf) -> Store {
        Store { root }
    }

    /// The store's root folder (`<home>/data`).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The file that holds `symbol` at `interval`.
    pub fn path(&self, symbol: &str, interval: Interval) -> PathBuf {
        self.root
            .join(path_safe_symbol(symbol))
            .join(format!("{}.parquet", interval.as_str()))
    }

    /// Loads the bars of `symbol`/`interval` whose open time lies in `range`, reading only the row groups
    /// that can hold them. The rows are validated; a damaged file is an error naming the file and row.
    pub fn load(&self, symbol: &str, interval: Interval, range: &TimeRange) -> Result<Candles> {
        let path = self.path(symbol, interval);
        if !path.exists() {
            return Err(Error::invalid(format!(
                "{}: no candles stored for {symbol} {interval}; import them with `flowrex fetch --provider csv \
                 --file FILE.csv --symbol {symbol} --interval {interval}` or fetch them from a provider",
                path.display()
            )));
        }
        let (candles, _meta) = read_parquet(&path, range)?;
        Ok(candles)
    }

    /// Merges `incoming` into the stored file for `symbol`/`interval` (creating it if needed), under the
    /// file's lock, and writes the result atomically. A bar already stored with different values is a
    /// conflict error unless `replace` is set. On any error the stored file is left exactly as it was.
    pub fn merge(
        &self,
        symbol: &str,
        interval: Interval,
        incoming: &Candles,
        source: &str,
        replace: bool,
    ) -> Result<MergeSummary> {
        let path = self.path(symbol, interval);
        let dir = path.parent().expect("store paths have a parent");
        fs::create_dir_all(dir).at(dir)?;
        let _lock = FileLock::acquire(&path)?;
        let existing = if path.exists() {
            read_parquet(&path, &TimeRange::ALL)?.0
        } else {
            Candles::default()
        };
        let (merged, summary) = merge_candles(&existing, incoming, replace, &path)?;
        // Holding the lock, no live writer owns a temp file of this target: clear what killed ones left.
        let stale = crate::atomic::remove_stale_temps(&path);
        if stale > 0 {
            tracing::info!(
                "{}: removed {stale} temp file(s) left by an interrupted write",
                path.display()
            );
        }
        let meta = StoreMeta {
            symbol: symbol.to_string(),
            interval: interval.as_str().to_string(),
            source: source.to_string(),
            written_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        };
        if summary.added > 0 || summary.replaced > 0 || existing.is_empty() {
            write_parquet(&path, &merged, &meta)?;
        }
        Ok(summary)
    }

    /// Every stored file: `(symbol folder, interval, path)`, sorted by symbol then interval.
    pub fn files(&self) -> Result<Vec<(String, Interval, PathBuf)>> {
        let mut out = Vec::new();
        if !self.root.exists() {
            return Ok(out);
        }
        for sym in fs::read_dir(&self.root).at(&self.root)? {
            let sym = sym.at(&self.root)?;
            if !sym.file_type().at(sym.path())?.is_dir() {
                continue;
            }
            let sym_name = sym.file_name().to_string_lossy().into_owned();
            for f in fs::read_dir(sym.path()).at(sym.path())? {
                let f = f.at(sym.path())?;
                let name = f.file_name().to_string_lossy().into_owned();
                if let Some(stem) = name.strip_suffix(".parquet")
                    && let Ok(interval) = stem.parse::<Interval>()
                {
                    out.push((sym_name.clone(), interval, f.path()));
                }
            }
        }
        out.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
        Ok(out)
    }
}

/// What a merge changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct MergeSummary {
    /// Bars that were not stored before.
    pub added: usize,
    /// Stored bars overwritten with different values (only with `replace`).
    pub replaced: usize,
    /// Incoming bars identical to what was stored.
    pub unchanged: usize,
    /// Rows in the file afterwards.
    pub total: usize,
}

/// Merges two sorted, unique candle sets. Identical bars are kept once; a bar at the same time with other
/// values is a conflict unless `replace`, in which case the incoming bar wins.
pub fn merge_candles(
    existing: &Candles,
    incoming: &Candles,
    replace: bool,
    path: &Path,
) -> Result<(Candles, MergeSummary)> {
    let mut out = Candles::with_capacity(existing.len() + incoming.len());
    let mut summary = MergeSummary::default();
    let mut conflicts = Vec::new();
    let mut conflict_count = 0usize;
    let (mut i, mut j) = (0, 0);
    while i < existing.len() || j < incoming.len() {
        let take_existing =
            j >= incoming.len() || (i < existing.len() && existing.ts[i] < incoming.ts[j]);
        let take_incoming =
            i >= existing.len() || (j < incoming.len() && incoming.ts[j] < existing.ts[i]);
        if take_existing {
            out.push(existing.bar(i));
            i += 1;
        } else if take_incoming {
            out.push(incoming.bar(j));
            summary.added += 1;
            j += 1;
        } else {
            let (old, new) = (existing.bar(i), incoming.bar(j));
            if old.same_bits(&new) {
                summary.unchanged += 1;
                out.push(old);
            } else if replace {
                summary.replaced += 1;
                out.push(new);
            } else {
                conflict_count += 1;
                if conflicts.len() < 3 {
                    conflicts.push(format!(
                        "{}: stored o/h/l/c/v {}/{}/{}/{}/{} vs new {}/{}/{}/{}/{}",
                        format_ts(old.ts),
                        old.open,
                        old.high,
                        old.low,
                        old.close,
                        old.volume,
                        new.open,
                        new.high,
                        new.low,
                        new.close,
                        new.volume
                    ));
                }
                out.push(old);
            }
            i += 1;
            j += 1;
        }
    }
    if conflict_count > 0 {
        return Err(Error::invalid(format!(
            "{}: {conflict_count} bar(s) already stored with different values ({}); nothing was written; \
             pass --replace to overwrite them",
            path.display(),
            conflicts.join("; ")
        )));
    }
    summary.total = out.len();
    Ok((out, summary))
}

/// The Arrow schema of a store file: `ts` as a UTC millisecond timestamp, then five f64 columns.
pub fn schema() -> Schema {
    let f = |name: &str| Field::new(name, DataType::Float64, false);
    Schema::new(vec![
        Field::new(
            "ts",
            DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
            false,
        ),
        f("open"),
        f("high"),
        f("low"),
        f("close"),
        f("volume"),
    ])
}

/// Writes `candles` to `path` atomically: a temp file in the same folder, fsync, rename, fsync of the
/// folder. Readers see the old file or the new one, never a partial one.
pub fn write_parquet(path: &Path, candles: &Candles, meta: &StoreMeta) -> Result<()> {
    let out = AtomicFile::create(path)?;
    let pq_err = |e: parquet::errors::ParquetError| {
        Error::invalid(format!("{}: cannot write Parquet: {e}", path.display()))
    };
    let schema = Arc::new(schema());
    let kv = [
        (META_SYMBOL, &meta.symbol),
        (META_INTERVAL, &meta.interval),
        (META_SOURCE, &meta.source),
        (META_WRITTEN_AT, &meta.written_at),
    ]
    .into_iter()
    .map(|(k, v)| KeyValue::new(k.to_string(), v.clone()))
    .collect();
    let props = WriterProperties::builder()
        .set_compression(COMPRESSION)
        .set_dictionary_enabled(false)
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .set_key_value_metadata(Some(kv))
        .build();
    let file = out.file().try_clone().at(out.temp_path())?;
    let mut writer = ArrowWriter::try_new(file, schema.clone(), Some(props)).map_err(pq_err)?;
    for start in (0..candles.len()).step_by(ROW_GROUP_ROWS) {
        let end = (start + ROW_GROUP_ROWS).min(candles.len());
        let f64col =
            |v: &Vec<f64>| Arc::new(Float64Array::from(v[start..end].to_vec())) as Arc<dyn Array>;
        let ts =
            TimestampMillisecondArray::from(candles.ts[start..end].to_vec()).with_timezone("UTC");
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(ts),
                f64col(&candles.open),
                f64col(&candles.high),
                f64col(&candles.low),
                f64col(&candles.close),
                f64col(&candles.volume),
            ],
        )
        .map_err(|e| Error::invalid(format!("{}: cannot build rows: {e}", path.display())))?;
        writer.write(&batch).map_err(pq_err)?;
    }
    writer.close().map_err(pq_err)?;
    out.commit()
}

/// Reads the rows of a store file whose `ts` lies in `range`, skipping row groups whose statistics rule
/// them out, and validates them.
pub fn read_parquet(path: &Path, range: &TimeRange) -> Result<(Candles, StoreMeta)> {
    let file = File::open(path).at(path)?;
    let bad = |what: String| Error::invalid(format!("{}: {what}", path.display()));
    let builder = ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(|e| bad(format!("not a readable Parquet file ({e})")))?;
    let metadata = builder.metadata().clone();
    let mut meta_map = BTreeMap::new();
    if let Some(kv) = metadata.file_metadata().key_value_metadata() {
        for e in kv {
            meta_map.insert(e.key.clone(), e.value.clone().unwrap_or_default());
        }
    }
    let meta = StoreMeta {
        symbol: meta_map.remove(META_SYMBOL).unwrap_or_default(),
        interval: meta_map.remove(META_INTERVAL).unwrap_or_default(),
        source: meta_map.remove(META_SOURCE).unwrap_or_default(),
        written_at: meta_map.remove(META_WRITTEN_AT).unwrap_or_default(),
    };
    let expected = schema();
    for name in ["ts", "open", "high", "low", "close", "volume"] {
        if builder.schema().field_with_name(name).is_err() {
            return Err(bad(format!(
                "column '{name}' is missing; expected ts, open, high, low, close, volume"
            )));
        }
    }
    let ts_col = builder
        .parquet_schema()
        .columns()
        .iter()
        .position(|c| c.name() == "ts")
        .ok_or_else(|| bad("column 'ts' is missing".into()))?;
    let mut groups = Vec::new();
    let mut rows_before = 0usize; // rows in skipped groups before the first kept one
    for (g, rg) in metadata.row_groups().iter().enumerate() {
        let keep = match rg.column(ts_col).statistics() {
            Some(Statistics::Int64(s)) => {
                let below = matches!((s.max_opt(), range.start), (Some(&h), Some(st)) if h < st);
                let above = matches!((s.min_opt(), range.end), (Some(&l), Some(en)) if l > en);
                !(below || above)
            }
            _ => true,
        };
        if keep {
            groups.push(g);
        } else if groups.is_empty() {
            rows_before += rg.num_rows() as usize;
        }
    }
    let total_rows: usize = groups
        .iter()
        .map(|&g| metadata.row_group(g).num_rows() as usize)
        .sum();
    let reader = builder
        .with_row_groups(groups)
        .with_batch_size(ROW_GROUP_ROWS)
        .build()
        .map_err(|e| bad(format!("cannot read ({e})")))?;
    let mut c = Candles::with_capacity(total_rows);
    let mut first_row: Option<usize> = None;
    let mut rows_seen = rows_before;
    for batch in reader {
        let batch = batch.map_err(|e| bad(format!("cannot read ({e})")))?;
        let ts = batch
            .column_by_name("ts")
            .and_then(|a| a.as_any().downcast_ref::<TimestampMillisecondArray>())
            .ok_or_else(|| {
                bad(format!(
                    "column 'ts' must be {}",
                    expected.field(0).data_type()
                ))
            })?;
        let col = |name: &str| -> Result<&Float64Array> {
            batch
                .column_by_name(name)
                .and_then(|a| a.as_any().downcast_ref::<Float64Array>())
                .ok_or_else(|| bad(format!("column '{name}' must be Float64")))
        };
        let (o, h, l, cl, v) = (
            col("open")?,
            col("high")?,
            col("low")?,
            col("close")?,
            col("volume")?,
        );
        let columns: [(&str, &dyn Array); 6] = [
            ("ts", ts),
            ("open", o),
            ("high", h),
            ("low", l),
            ("close", cl),
            ("volume", v),
        ];
        for (name, arr) in columns {
            if arr.null_count() > 0 {
                return Err(bad(format!(
                    "column '{name}' has {} missing values",
                    arr.null_count()
                )));
            }
        }
        let n = batch.num_rows();
        let lo = range
            .start
            .map_or(0, |s| ts.values().partition_point(|&t| t < s));
        let hi = range
            .end
            .map_or(n, |e| ts.values().partition_point(|&t| t <= e))
            .max(lo);
        if hi > lo && first_row.is_none() {
            first_row = Some(rows_seen + lo);
        }
        c.ts.extend_from_slice(&ts.values()[lo..hi]);
        c.open.extend_from_slice(&o.values()[lo..hi]);
        c.high.extend_from_slice(&h.values()[lo..hi]);
        c.low.extend_from_slice(&l.values()[lo..hi]);
        c.close.extend_from_slice(&cl.values()[lo..hi]);
        c.volume.extend_from_slice(&v.values()[lo..hi]);
        rows_seen += n;
    }
    validate::check_stored(&c, &path.display().to_string(), first_row.unwrap_or(0))?;
    Ok((c, meta))
}

/// An exclusive lock on `<file>.lock`, held while a store file is read, merged and rewritten, so that
/// concurrent writers serialize. Released on drop (and by the OS if the process dies).
pub struct FileLock {
    _file: File,
}

impl FileLock {
    /// Blocks until the lock for `path` is held.
    pub fn acquire(path: &Path) -> Result<FileLock> {
        let lock_path = path.with_extension("parquet.lock");
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .at(&lock_path)?;
        file.lock().at(&lock_path)?;
        Ok(FileLock { _file: file })
    }
}
