//! `optimize --returns-matrix FILE.parquet`: the T × N matrix of per-period returns that the
//! overfitting statistics are computed from, so anyone can recompute them independently. Columns: `ts`
//! (timestamp, ms, UTC: the open time of the last bar of the period the return ends), then one
//! Float64 column per evaluated candidate, named by its grid index (`"0"`, `"17"`, …), in grid-index
//! order. One row per period.
//!
//! Memory stays O(T) whatever N: while the search runs, each candidate's returns are written at
//! their own offset (sequence number × T × 8 bytes) of a temporary file in the destination's folder
//! ([`Spill::put`], from any thread); at the end the Parquet file is written one column at a time
//! with parquet's low-level column writer, reading each column back from the spill
//! ([`Spill::write_parquet`]), and moved into place atomically. The spill is deleted when dropped.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parquet::basic::{LogicalType, Repetition, TimeUnit, Type as PhysicalType};
use parquet::data_type::{DoubleType, Int64Type};
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::types::Type;

use crate::atomic::AtomicFile;
use crate::backtest::export::FileMeta;
use crate::error::{Error, IoContext, Result};

/// A temporary file holding every candidate's returns by sequence number.
pub struct Spill {
    target: PathBuf,
    file: tempfile::NamedTempFile,
    periods: usize,
    /// The Parquet file's footer metadata.
    pub meta: FileMeta,
}

impl Spill {
    /// A spill for returns of length `periods`, destined for `target` (its folder is created).
    pub fn create(target: &Path, periods: usize) -> Result<Spill> {
        let dir = match target.parent().filter(|d| !d.as_os_str().is_empty()) {
            Some(d) => {
                std::fs::create_dir_all(d).at(d)?;
                d.to_path_buf()
            }
            None => PathBuf::from("."),
        };
        let file = tempfile::Builder::new()
            .prefix(".returns-matrix.")
            .tempfile_in(&dir)
            .at(&dir)?;
        Ok(Spill {
            target: target.to_path_buf(),
            file,
            periods,
            meta: FileMeta::default(),
        })
    }

    /// Stores the returns of the candidate evaluated as number `seq`.
    pub fn put(&self, seq: u64, returns: &[f64]) -> Result<()> {
        let bytes: Vec<u8> = returns.iter().flat_map(|x| x.to_le_bytes()).collect();
        let offset = seq * (self.periods as u64) * 8;
        self.file
            .as_file()
            .write_all_at(&bytes, offset)
            .at(self.file.path())
    }

    fn get(&self, seq: u64, out: &mut Vec<f64>) -> Result<()> {
        let mut bytes = vec![0u8; self.periods * 8];
        let offset = seq * (self.periods as u64) * 8;
        self.file
            .as_file()
            .read_exact_at(&mut bytes, offset)
            .at(self.file.path())?;
        out.clear();
        out.extend(
            bytes
                .chunks_exact(8)
                .map(|b| f64::from_le_bytes(b.try_into().expect("8 bytes"))),
        );
        Ok(())
    }

    /// Writes the Parquet file: `ts` = `times` (one per return), then the candidates `(seq, grid
    /// index)` in the given order, one column each.
    pub fn write_parquet(self, times: &[i64], order: &[(u64, u64)]) -> Result<()> {
        let path = self.target.clone();
        let pq = |e: parquet::errors::ParquetError| {
            Error::invalid(format!("{}: cannot write Parquet: {e}", path.display()))
        };
        let schema = schema(order).map_err(pq)?;
        let props = Arc::new(
            WriterProperties::builder()
                .set_dictionary_enabled(false)
                .set_key_value_metadata(self.meta.key_values())
                .build(),
        );
        let out = AtomicFile::create(&path)?;
        let file: File = out.file().try_clone().at(out.temp_path())?;
        let mut writer = SerializedFileWriter::new(file, schema, props).map_err(pq)?;
        let mut group = writer.next_row_group().map_err(pq)?;
        let mut col = group.next_column().map_err(pq)?.ok_or_else(no_column)?;
        col.typed::<Int64Type>()
            .write_batch(times, None, None)
            .map_err(pq)?;
        col.close().map_err(pq)?;
        let mut values = Vec::with_capacity(self.periods);
        for &(seq, _) in order {
            self.get(seq, &mut values)?;
            let mut col = group.next_column().map_err(pq)?.ok_or_else(no_column)?;
            col.typed::<DoubleType>()
                .write_batch(&values, None, None)
                .map_err(pq)?;
            col.close().map_err(pq)?;
        }
        group.close().map_err(pq)?;
        writer.close().map_err(pq)?;
        out.commit()
    }
}

fn no_column() -> Error {
    Error::invalid("returns matrix: the Parquet schema ran out of columns")
}

/// `ts` as a UTC millisecond timestamp, then one required double per candidate.
fn schema(order: &[(u64, u64)]) -> parquet::errors::Result<Arc<Type>> {
    let ts = Type::primitive_type_builder("ts", PhysicalType::INT64)
        .with_repetition(Repetition::REQUIRED)
        .with_logical_type(Some(LogicalType::timestamp(true, TimeUnit::MILLIS)))
        .build()?;
    let mut fields = vec![Arc::new(ts)];
    for &(_, index) in order {
        let c = Type::primitive_type_builder(&index.to_string(), PhysicalType::DOUBLE)
            .with_repetition(Repetition::REQUIRED)
            .build()?;
        fields.push(Arc::new(c));
    }
    Ok(Arc::new(
        Type::group_type_builder("returns")
            .with_fields(fields)
            .build()?,
    ))
}
