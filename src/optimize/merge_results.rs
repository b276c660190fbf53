//! `optimize merge --results`: the `--results` files of all N shards of one search become the one file a
//! single run would have written (every evaluated candidate, in the single run's order), and shards that
//! did not finish are refused, by name, unless the caller merges a partial search on purpose.
//!
//! The single run's order. A grid or random run writes its rows in the order the method asks for
//! candidates — its ordinals 0, 1, 2, …: grid index order for grid, draw order for random; the results
//! writer restores that order whatever the thread timing — and shard K of N evaluates ordinals K−1,
//! K−1+N, K−1+2N, … in that same order. So row i of shard K is row (K−1) + i·N of the single run, and
//! the shards interleave round-robin: row 0 of shards 1..N, then row 1 of shards 1..N, and so on. Genetic
//! and particle-swarm shards are independent islands with no common order: island 1's rows come first,
//! then island 2's, and so on.
//!
//! The files are read by their Parquet schema (whatever columns the search wrote; every shard's must be
//! the same), streamed batch by batch, and the merged file appears atomically.

use std::fs::File;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use std::collections::HashMap;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, UInt64Type};
use arrow_array::{Array, RecordBatch};
use arrow_schema::{DataType, Schema};
use arrow_select::interleave::interleave_record_batch;
use parquet::arrow::arrow_reader::{ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder};
use parquet::arrow::{ArrowWriter, ProjectionMask};
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;

use super::results::ROW_GROUP_ROWS;
use super::shard::Shard;
use crate::atomic::AtomicFile;
use crate::error::{Error, IoContext, Result};
use crate::playbook::{Optimization, Playbook};

/// One shard's playbook and the file it was read from (named in every message).
#[derive(Debug, Clone)]
pub struct ShardPart {
    /// The playbook file.
    pub path: PathBuf,
    /// Its contents.
    pub playbook: Playbook,
}

impl ShardPart {
    /// Reads a shard playbook.
    pub fn load(path: &Path) -> Result<ShardPart> {
        Ok(ShardPart {
            path: path.to_path_buf(),
            playbook: Playbook::load(path)?,
        })
    }

    fn optimization(&self) -> Result<&Optimization> {
        self.playbook.optimization.as_ref().ok_or_else(|| {
            Error::invalid(format!(
                "{}: no [optimization]: only optimize outputs can be merged",
                self.path.display()
            ))
        })
    }

    fn shard(&self) -> Result<Shard> {
        let o = self.optimization()?;
        let text = o.shard.as_deref().ok_or_else(|| {
            Error::invalid(format!(
                "{}: not a shard output (no [optimization] shard); run optimize with --shard K/N",
                self.path.display()
            ))
        })?;
        Shard::parse(text)
            .map_err(|_| Error::invalid(format!("{}: bad shard `{text}`", self.path.display())))
    }

    /// The `--results` file this shard wrote, as its playbook records it (relative to the playbook's
    /// folder unless absolute).
    pub fn results_file(&self) -> Result<PathBuf> {
        let o = self.optimization()?;
        let entry = o.results.as_deref().ok_or_else(|| {
            Error::invalid(format!(
                "{}: shard {} names no results file (its optimize ran without --results); \
                 re-run it with --results, or merge without --results",
                self.path.display(),
                o.shard.as_deref().unwrap_or("?")
            ))
        })?;
        let p = Path::new(entry);
        Ok(if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.path.parent().unwrap_or(Path::new("")).join(p)
        })
    }
}

/// Refuses shards whose search did not complete (`status = "interrupted"`: Ctrl-C, or a scheduler's
/// time limit signalling it), naming every one of them.
pub fn refuse_unfinished(parts: &[ShardPart]) -> Result<()> {
    let mut stopped = Vec::new();
    for p in parts {
        let o = p.optimization()?;
        if o.status != "complete" {
            stopped.push(format!(
                "shard {} ({}: status = \"{}\" after {} candidates)",
                o.shard.as_deref().unwrap_or("?"),
                p.path.display(),
                o.status,
                o.evaluated
            ));
        }
    }
    if stopped.is_empty() {
        return Ok(());
    }
    Err(Error::invalid(format!(
        "optimize merge: {} did not finish: {}; re-run only {}, or pass --allow-partial to merge what was evaluated",
        if stopped.len() > 1 {
            "these shards"
        } else {
            "a shard"
        },
        stopped.join(", "),
        if stopped.len() > 1 {
            "those"
        } else {
            "that one"
        }
    )))
}

/// The flowrex versions that wrote `parts` (`[playbook] flowrex_version`), each with the files it
/// wrote, in order of first appearance; `None` when every part was written by one version.
///
/// Why this matters: the metrics and the objective of a candidate are whatever the engine of that
/// version computed, and a release may change them (a fill rule, a metric's definition, a bug fix).
/// A merge ranks the shards' top lists against each other as one search; with two engines it would
/// rank numbers that are not comparable, and nothing in a playbook says whether two versions agree.
pub fn mixed_versions(parts: &[ShardPart]) -> Option<String> {
    let mut by_version: Vec<(&str, Vec<String>)> = Vec::new();
    for p in parts {
        let v = p.playbook.playbook.flowrex_version.as_str();
        let file = p.path.display().to_string();
        match by_version.iter_mut().find(|(seen, _)| *seen == v) {
            Some((_, files)) => files.push(file),
            None => by_version.push((v, vec![file])),
        }
    }
    (by_version.len() > 1).then(|| {
        by_version
            .iter()
            .map(|(v, files)| format!("flowrex {v}: {}", files.join(", ")))
            .collect::<Vec<_>>()
            .join("; ")
    })
}

/// What a playbook at `playbook` records for its results file at `results`: the path relative to the
/// playbook's folder when the file lies inside it (so a parts folder can move, or be mounted elsewhere
/// on another node), else the absolute path.
pub fn results_entry(playbook: &Path, results: &Path) -> String {
    let abs = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    let (pb, res) = (abs(playbook), abs(results));
    let plain = |p: &Path| !p.components().any(|c| c == Component::ParentDir);
    if plain(&pb)
        && plain(&res)
        && let Some(dir) = pb.parent()
        && let Ok(rel) = res.strip_prefix(dir)
    {
        return rel.to_string_lossy().into_owned();
    }
    res.to_string_lossy().into_owned()
}

/// The order in which the merged file takes rows from the shards (sorted by K): yields the shard
/// (0-based) of each next row. Round-robin for grid and random shards — with `counts` of a complete
/// search that is the single run's order exactly — and one island after the other for genetic and pso.
#[derive(Debug, Clone)]
pub struct RowOrder {
    counts: Vec<u64>,
    islands: bool,
    shard: usize,
    round: u64,
    left: u64,
}

impl RowOrder {
    /// The order over shards holding `counts[k]` rows each.
    pub fn new(counts: &[u64], islands: bool) -> RowOrder {
        RowOrder {
            counts: counts.to_vec(),
            islands,
            shard: 0,
            round: 0,
            left: counts.iter().sum(),
        }
    }
}

impl Iterator for RowOrder {
    type Item = usize;

    fn next(&mut self) -> Option<usize> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        loop {
            if self.islands {
                if self.round < self.counts[self.shard] {
                    self.round += 1;
                    return Some(self.shard);
                }
                (self.shard, self.round) = (self.shard + 1, 0);
            } else {
                if self.shard == self.counts.len() {
                    (self.shard, self.round) = (0, self.round + 1);
                }
                self.shard += 1;
                if self.round < self.counts[self.shard - 1] {
                    return Some(self.shard - 1);
                }
            }
        }
    }
}

/// The rows shard `k` of `n` holds when a complete search evaluates `total` candidates in ordinal
/// order: ordinals k−1, k−1+n, … below `total`.
pub fn shard_rows(total: u64, shard: Shard) -> u64 {
    total / shard.n + u64::from(total % shard.n >= shard.k)
}

/// One shard's results file, opened.
struct Source {
    shard: Shard,
    file: PathBuf,
    rows: u64,
    schema: Arc<Schema>,
    reader: ParquetRecordBatchReader,
    /// The file's footer key/value metadata (strategy, params, …), carried into the merged file.
    kv: Vec<parquet::file::metadata::KeyValue>,
}

impl Source {
    fn open(part: &ShardPart) -> Result<Source> {
        let file = part.results_file()?;
        let bad = |e: parquet::errors::ParquetError| {
            Error::invalid(format!(
                "{}: not a results Parquet file ({e}); it is shard {}'s, named by {}",
                file.display(),
                part.optimization()
                    .ok()
                    .and_then(|o| o.shard.clone())
                    .unwrap_or_default(),
                part.path.display()
            ))
        };
        let builder =
            ParquetRecordBatchReaderBuilder::try_new(File::open(&file).at(&file)?).map_err(bad)?;
        let rows = builder.metadata().file_metadata().num_rows().max(0) as u64;
        let schema = builder.schema().clone();
        // The Arrow schema is stored in the footer too; the writer adds it anew.
        let kv = builder
            .metadata()
            .file_metadata()
            .key_value_metadata()
            .map_or_else(Vec::new, |kv| {
                kv.iter()
                    .filter(|e| e.key != "ARROW:schema")
                    .cloned()
                    .collect()
            });
        let evaluated = part.optimization()?.evaluated;
        if rows != evaluated {
            return Err(Error::invalid(format!(
                "{}: {rows} rows, but its playbook {} says {evaluated} candidates were evaluated: \
                 the file is not from that shard's run",
                file.display(),
                part.path.display()
            )));
        }
        check_top(part, &file, &builder)?;
        Ok(Source {
            shard: part.shard()?,
            reader: builder
                .with_batch_size(ROW_GROUP_ROWS)
                .build()
                .map_err(bad)?,
            file,
            rows,
            schema,
            kv,
        })
    }
}

/// The shard's `[[top]]` entries (candidate and objective) must be rows of its results file: a file
/// of another shard, or one left from a run on other data, is refused. Read by the `candidate` and
/// `objective` columns (skipped when a file has no such columns).
fn check_top(
    part: &ShardPart,
    file: &Path,
    builder: &ParquetRecordBatchReaderBuilder<File>,
) -> Result<()> {
    let schema = builder.schema();
    let typed = |name: &str, t: DataType| {
        schema
            .field_with_name(name)
            .is_ok_and(|f| *f.data_type() == t)
    };
    if !typed("candidate", DataType::UInt64) || !typed("objective", DataType::Float64) {
        return Ok(());
    }
    let mut want: HashMap<u64, f64> = part
        .playbook
        .top
        .iter()
        .map(|t| (t.candidate, t.objective))
        .collect();
    let bad = |e: &dyn std::fmt::Display| {
        Error::invalid(format!("{}: cannot read rows: {e}", file.display()))
    };
    let mask = ProjectionMask::columns(builder.parquet_schema(), ["candidate", "objective"]);
    let reader = ParquetRecordBatchReaderBuilder::try_new(File::open(file).at(file)?)
        .map_err(|e| bad(&e))?
        .with_projection(mask)
        .with_batch_size(ROW_GROUP_ROWS)
        .build()
        .map_err(|e| bad(&e))?;
    for batch in reader {
        let batch = batch.map_err(|e| bad(&e))?;
        let (Some(c), Some(o)) = (
            batch.column_by_name("candidate"),
            batch.column_by_name("objective"),
        ) else {
            return Ok(());
        };
        let (c, o) = (
            c.as_primitive::<UInt64Type>(),
            o.as_primitive::<Float64Type>(),
        );
        for i in 0..c.len() {
            if !o.is_null(i) && want.get(&c.value(i)) == Some(&o.value(i)) {
                want.remove(&c.value(i));
            }
        }
    }
    match want.into_iter().min_by_key(|(c, _)| *c) {
        None => Ok(()),
        Some((c, v)) => Err(Error::invalid(format!(
            "{}: no row of candidate {c} with objective {v}, which {}'s [[top]] lists: \
             the file is not from that shard's run",
            file.display(),
            part.path.display()
        ))),
    }
}

/// Merges the results files of `parts` — all N shards of one search, each once, as checked by
/// [`super::merge::merge`] — into `out`, in the single run's order (module docs). Every file must have
/// the first one's columns and as many rows as its playbook's `evaluated`; when every shard completed a
/// grid or random search, shard K must hold exactly its share of the search's candidates. Returns the
/// rows written. Nothing is written when a check fails.
pub fn merge_results(parts: &[ShardPart], out: &Path) -> Result<u64> {
    let first = parts
        .first()
        .ok_or_else(|| Error::usage("optimize merge: give the shard playbooks to merge"))?;
    let o = first.optimization()?;
    let islands = matches!(o.method.as_str(), "genetic" | "pso");
    let mut sources = parts.iter().map(Source::open).collect::<Result<Vec<_>>>()?;
    sources.sort_by_key(|s| s.shard.k);
    for (i, s) in sources.iter().enumerate() {
        if s.shard.n != sources.len() as u64 || s.shard.k != i as u64 + 1 {
            return Err(Error::invalid(format!(
                "optimize merge --results: {} is shard {}, but {} shards were given: give each of 1..N once",
                s.file.display(),
                s.shard,
                sources.len()
            )));
        }
        if out.exists() && same_file(out, &s.file) {
            return Err(Error::usage(format!(
                "optimize merge --results {}: that is shard {}'s own results file; write the merged file elsewhere",
                out.display(),
                s.shard
            )));
        }
    }
    check_columns(&sources)?;
    let complete = parts
        .iter()
        .all(|p| p.optimization().is_ok_and(|o| o.status == "complete"));
    if complete && !islands {
        check_shares(&sources, o)?;
    }
    let counts: Vec<u64> = sources.iter().map(|s| s.rows).collect();
    write(out, sources, RowOrder::new(&counts, islands))
}

fn same_file(a: &Path, b: &Path) -> bool {
    matches!((a.canonicalize(), b.canonicalize()), (Ok(x), Ok(y)) if x == y)
}

/// Every file has the first file's columns: names, types and nullability, in order.
fn check_columns(sources: &[Source]) -> Result<()> {
    let first = &sources[0];
    for s in &sources[1..] {
        let (a, b) = (first.schema.fields(), s.schema.fields());
        let differ = a.len() != b.len()
            || a.iter().zip(b.iter()).any(|(x, y)| {
                x.name() != y.name()
                    || x.data_type() != y.data_type()
                    || x.is_nullable() != y.is_nullable()
            });
        if differ {
            let show = |f: &arrow_schema::Fields| {
                f.iter()
                    .map(|f| format!("{} {}", f.name(), f.data_type()))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            return Err(Error::invalid(format!(
                "optimize merge --results: {} has other columns than {} ({} against {}): merge only results of one search",
                s.file.display(),
                first.file.display(),
                show(b),
                show(a)
            )));
        }
    }
    Ok(())
}

/// A complete grid or random search evaluates `feasible` (grid) or min(samples, feasible) (random)
/// candidates, and shard K holds ordinals K−1, K−1+N, …: anything else is not the single run's rows.
fn check_shares(sources: &[Source], o: &Optimization) -> Result<()> {
    let total = match o.method.as_str() {
        "random" => o.samples.unwrap_or(o.feasible).min(o.feasible),
        _ => o.feasible,
    };
    for s in sources {
        let want = shard_rows(total, s.shard);
        if s.rows != want {
            return Err(Error::invalid(format!(
                "optimize merge --results: {} holds {} rows where shard {} of a complete {} search over {total} candidates holds {want}",
                s.file.display(),
                s.rows,
                s.shard,
                o.method
            )));
        }
    }
    Ok(())
}

/// Streams the sources' rows into `out` in `order`: a batch is cut whenever `ROW_GROUP_ROWS` rows are
/// picked or a source must read its next batch (the picks point into the sources' current batches).
fn write(out: &Path, mut sources: Vec<Source>, order: RowOrder) -> Result<u64> {
    let schema = sources[0].schema.clone();
    let pq = |e: parquet::errors::ParquetError| {
        Error::invalid(format!("{}: cannot write Parquet: {e}", out.display()))
    };
    let arrow = |e: arrow_schema::ArrowError| {
        Error::invalid(format!("{}: cannot merge rows: {e}", out.display()))
    };
    let file = AtomicFile::create(out)?;
    let mut kv = sources[0].kv.clone();
    kv.push(parquet::file::metadata::KeyValue::new(
        "merged_shards".to_string(),
        sources.len().to_string(),
    ));
    let props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .set_key_value_metadata(Some(kv))
        .build();
    let handle = file.file().try_clone().at(file.temp_path())?;
    let mut writer = ArrowWriter::try_new(handle, schema.clone(), Some(props)).map_err(pq)?;
    let mut current: Vec<RecordBatch> = vec![RecordBatch::new_empty(schema); sources.len()];
    let mut next_row = vec![0usize; sources.len()];
    let mut picks: Vec<(usize, usize)> = Vec::with_capacity(ROW_GROUP_ROWS);
    let mut written = 0u64;
    let mut order = order.peekable();
    loop {
        while picks.len() < ROW_GROUP_ROWS
            && let Some(&s) = order.peek()
        {
            if next_row[s] == current[s].num_rows() {
                if !picks.is_empty() {
                    break; // write what points into the old batch first
                }
                current[s] = next_batch(&mut sources[s])?;
                next_row[s] = 0;
            }
            picks.push((s, next_row[s]));
            next_row[s] += 1;
            order.next();
        }
        if picks.is_empty() {
            break;
        }
        let batches: Vec<&RecordBatch> = current.iter().collect();
        let merged = interleave_record_batch(&batches, &picks).map_err(arrow)?;
        writer.write(&merged).map_err(pq)?;
        written += picks.len() as u64;
        picks.clear();
    }
    writer.close().map_err(pq)?;
    file.commit()?;
    Ok(written)
}

fn next_batch(s: &mut Source) -> Result<RecordBatch> {
    match s.reader.next() {
        Some(Ok(b)) if b.num_rows() > 0 => Ok(b),
        Some(Err(e)) => Err(Error::invalid(format!(
            "{}: cannot read rows: {e}",
            s.file.display()
        ))),
        _ => Err(Error::invalid(format!(
            "{}: ends before the {} rows its metadata promises",
            s.file.display(),
            s.rows
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shard(k: u64, n: u64) -> Shard {
        Shard { k, n }
    }

    #[test]
    fn round_robin_is_the_ordinal_order_of_a_complete_search() {
        // 10 candidates over 4 shards: shard K holds ordinals K-1, K-1+4, K-1+8 below 10, i.e.
        // {0,4,8}, {1,5,9}, {2,6}, {3,7}: 3, 3, 2, 2 rows.
        let counts: Vec<u64> = (1..=4).map(|k| shard_rows(10, shard(k, 4))).collect();
        assert_eq!(counts, [3, 3, 2, 2]);
        // Walking the order and giving each pick its shard's next ordinal must count 0..10.
        let mut next: Vec<u64> = (0..4).collect();
        let ordinals: Vec<u64> = RowOrder::new(&counts, false)
            .map(|s| {
                let o = next[s];
                next[s] += 4;
                o
            })
            .collect();
        assert_eq!(ordinals, (0..10).collect::<Vec<_>>());
    }

    #[test]
    fn partial_shards_keep_their_order_and_islands_follow_one_another() {
        // Shard 2 stopped after 1 row: rounds skip it once it has none left.
        assert_eq!(
            RowOrder::new(&[3, 1, 2], false).collect::<Vec<_>>(),
            [0, 1, 2, 0, 2, 0]
        );
        assert_eq!(
            RowOrder::new(&[2, 0, 3], true).collect::<Vec<_>>(),
            [0, 0, 2, 2, 2]
        );
        assert_eq!(RowOrder::new(&[0, 0], false).count(), 0);
        // More shards than candidates: the last shards are empty.
        assert_eq!(shard_rows(2, shard(3, 4)), 0);
        assert_eq!(shard_rows(2, shard(2, 4)), 1);
    }

    #[test]
    fn results_entry_is_relative_inside_the_playbook_folder() {
        assert_eq!(
            results_entry(Path::new("parts/a-1.toml"), Path::new("parts/a-1.parquet")),
            "a-1.parquet"
        );
        assert_eq!(
            results_entry(Path::new("parts/a.toml"), Path::new("parts/r/a.parquet")),
            "r/a.parquet"
        );
        let outside = results_entry(Path::new("parts/a.toml"), Path::new("results/a.parquet"));
        assert!(Path::new(&outside).is_absolute(), "{outside}");
        assert!(outside.ends_with("results/a.parquet"), "{outside}");
        let up = results_entry(Path::new("parts/a.toml"), Path::new("parts/../x.parquet"));
        assert!(Path::new(&up).is_absolute(), "{up}");
    }
}
