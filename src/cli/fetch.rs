//! `flowrex fetch`: import CSV files and synthetic series into the store, list the store, verify a file.

use std::path::PathBuf;

use serde::Serialize;
use tabled::Tabled;

use super::Context;
use super::output::{print_json, print_text, table};
use crate::candles::csv_import::read_csv;
use crate::candles::gaps::{GapReport, find_gaps};
use crate::candles::store::{MergeSummary, read_parquet};
use crate::candles::synthetic::{SyntheticSpec, generate};
use crate::candles::time::{TimeFormat, TimeRange, format_ts};
use crate::candles::{Interval, Store};
use crate::error::{Error, Result};

/// Where bars come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Provider {
    /// A local CSV file (`--file`).
    Csv,
    /// A seeded geometric Brownian motion (`--bars`, `--seed`), for benchmarks and stress tests.
    Synthetic,
}

/// Arguments of `flowrex fetch`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  flowrex fetch --provider csv --file GOOG.csv --symbol GOOG --interval 1d
  flowrex fetch --provider synthetic --bars 1000000 --seed 7 --symbol SYNTH --interval 1m
  flowrex fetch --list --json
  flowrex fetch --verify EURUSD/1h")]
pub struct FetchArgs {
    /// Where to get bars from.
    #[arg(long, value_enum, required_unless_present_any = ["list", "verify"])]
    pub provider: Option<Provider>,
    /// Symbol to store the bars under (`EUR/USD` is stored in the folder `EUR-USD`).
    #[arg(long, required_unless_present_any = ["list", "verify"])]
    pub symbol: Option<String>,
    /// Bar interval: 1m 5m 15m 30m 1h 4h 1d 1w 1M.
    #[arg(long, required_unless_present_any = ["list", "verify"])]
    pub interval: Option<Interval>,
    /// CSV file to import (`--provider csv`).
    #[arg(long, value_name = "PATH", required_if_eq("provider", "csv"))]
    pub file: Option<PathBuf>,
    /// How the CSV time column is written; `auto` detects ISO dates/datetimes and epoch s/ms.
    #[arg(long, value_enum, default_value_t = TimeFormat::Auto)]
    pub time_format: TimeFormat,
    /// Overwrite stored bars that have different values (otherwise that is a conflict error).
    #[arg(long)]
    pub replace: bool,
    /// Number of synthetic bars (`--provider synthetic`).
    #[arg(long, default_value_t = 100_000)]
    pub bars: usize,
    /// Seed of the synthetic series.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// List the store's inventory: symbol, interval, rows, first, last, gaps, size.
    #[arg(long, conflicts_with_all = ["provider", "verify"])]
    pub list: bool,
    /// Re-validate one stored file and report its gaps (exit 3 if the file is damaged).
    #[arg(long, value_name = "SYMBOL/INTERVAL", conflicts_with = "provider")]
    pub verify: Option<String>,
}

/// Runs `flowrex fetch`.
pub fn run(ctx: &Context, args: FetchArgs) -> Result<i32> {
    let store = Store::new(&ctx.home);
    if args.list {
        return list(ctx, &store);
    }
    if let Some(target) = &args.verify {
        return verify(ctx, &store, target);
    }
    let (Some(provider), Some(symbol), Some(interval)) =
        (args.provider, args.symbol.clone(), args.interval)
    else {
        return Err(Error::usage(
            "--provider, --symbol and --interval are required",
        ));
    };
    let (candles, source, mut notes, summary_extra) = match provider {
        Provider::Csv => {
            let file = args
                .file
                .as_ref()
                .ok_or_else(|| Error::usage("--provider csv needs --file PATH"))?;
            let (candles, s) = read_csv(file, args.time_format)?;
            let mut notes = Vec::new();
            if !s.has_volume {
                notes.push("no volume column: volume imported as 0".to_string());
            }
            if s.normalized.out_of_order > 0 {
                notes.push(format!(
                    "{} rows were out of order and were sorted",
                    s.normalized.out_of_order
                ));
            }
            if s.normalized.duplicates_dropped > 0 {
                notes.push(format!(
                    "{} exact duplicate rows dropped",
                    s.normalized.duplicates_dropped
                ));
            }
            let name = file.file_name().map_or_else(
                || file.display().to_string(),
                |n| n.to_string_lossy().into_owned(),
            );
            (candles, format!("csv:{name}"), notes, Some(s))
        }
        Provider::Synthetic => {
            if args.bars == 0 {
                return Err(Error::usage("--bars must be at least 1"));
            }
            let candles = generate(&SyntheticSpec::new(args.bars, args.seed, interval));
            (
                candles,
                format!("synthetic:seed={}", args.seed),
                Vec::new(),
                None,
            )
        }
    };
    if candles.is_empty() {
        return Err(Error::invalid(format!(
            "{source}: no data rows; nothing was written"
        )));
    }
    let merged = store.merge(&symbol, interval, &candles, &source, args.replace)?;
    for n in &notes {
        tracing::warn!("{n}");
    }
    let report = ImportReport {
        symbol,
        interval: interval.to_string(),
        file: store.path(args.symbol.as_deref().unwrap_or_default(), interval),
        source,
        rows_read: summary_extra.map_or(candles.len(), |s| s.rows_read),
        out_of_order_sorted: summary_extra.map_or(0, |s| s.normalized.out_of_order),
        duplicates_dropped: summary_extra.map_or(0, |s| s.normalized.duplicates_dropped),
        has_volume: summary_extra.is_none_or(|s| s.has_volume),
        merge: merged,
        notes: std::mem::take(&mut notes),
    };
    if ctx.json {
        print_json(&report)?;
    } else {
        print_text(&format!(
            "{} {}: {} rows read, {} added, {} replaced, {} unchanged, {} total in {}",
            report.symbol,
            report.interval,
            report.rows_read,
            merged.added,
            merged.replaced,
            merged.unchanged,
            merged.total,
            report.file.display()
        ))?;
    }
    Ok(0)
}

/// The result of one import, as printed.
#[derive(Debug, Serialize)]
struct ImportReport {
    symbol: String,
    interval: String,
    file: PathBuf,
    source: String,
    rows_read: usize,
    out_of_order_sorted: usize,
    duplicates_dropped: usize,
    has_volume: bool,
    #[serde(flatten)]
    merge: MergeSummary,
    notes: Vec<String>,
}

/// One line of `fetch --list`.
#[derive(Debug, Serialize, Tabled)]
struct InventoryRow {
    symbol: String,
    interval: String,
    rows: usize,
    first: String,
    last: String,
    #[tabled(rename = "missing bars")]
    missing_bars: usize,
    #[tabled(rename = "size (bytes)")]
    size_bytes: u64,
    #[tabled(skip)]
    source: String,
    #[tabled(skip)]
    written_at: String,
}

fn list(ctx: &Context, store: &Store) -> Result<i32> {
    let mut rows = Vec::new();
    for (folder, interval, path) in store.files()? {
        let (c, meta) = read_parquet(&path, &TimeRange::ALL)?;
        let gaps = find_gaps(&c, interval);
        rows.push(InventoryRow {
            symbol: if meta.symbol.is_empty() {
                folder
            } else {
                meta.symbol
            },
            interval: interval.to_string(),
            rows: c.len(),
            first: c.ts.first().map(|&t| format_ts(t)).unwrap_or_default(),
            last: c.ts.last().map(|&t| format_ts(t)).unwrap_or_default(),
            missing_bars: gaps.missing_bars,
            size_bytes: std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0),
            source: meta.source,
            written_at: meta.written_at,
        });
    }
    if ctx.json {
        print_json(&rows)?;
    } else if rows.is_empty() {
        print_text(&format!(
            "the store at {} is empty; import bars with `flowrex fetch --provider csv --file F --symbol S --interval I`",
            store.root().display()
        ))?;
    } else {
        print_text(&table(rows))?;
    }
    Ok(0)
}

/// The result of `fetch --verify`.
#[derive(Debug, Serialize)]
struct VerifyReport {
    symbol: String,
    interval: String,
    file: PathBuf,
    rows: usize,
    first: String,
    last: String,
    valid: bool,
    #[serde(flatten)]
    gaps: GapReport,
}

fn verify(ctx: &Context, store: &Store, target: &str) -> Result<i32> {
    let (symbol, interval) = target.rsplit_once('/').ok_or_else(|| {
        Error::usage(format!(
            "--verify {target}: expected SYMBOL/INTERVAL, e.g. EURUSD/1h"
        ))
    })?;
    let interval: Interval = interval
        .parse()
        .map_err(|e: Error| Error::usage(e.to_string()))?;
    let path = store.path(symbol, interval);
    if !path.exists() {
        return Err(Error::invalid(format!(
            "{}: no such store file; see `flowrex fetch --list`",
            path.display()
        )));
    }
    let c = match read_parquet(&path, &TimeRange::ALL) {
        Ok((c, _)) => c,
        Err(e) => return Err(Error::CheckFailed(format!("verification failed: {e}"))),
    };
    let gaps = find_gaps(&c, interval);
    let report = VerifyReport {
        symbol: symbol.to_string(),
        interval: interval.to_string(),
        file: path,
        rows: c.len(),
        first: c.ts.first().map(|&t| format_ts(t)).unwrap_or_default(),
        last: c.ts.last().map(|&t| format_ts(t)).unwrap_or_default(),
        valid: true,
        gaps,
    };
    if ctx.json {
        print_json(&report)?;
    } else {
        let mut text = format!(
            "{} ok: {} rows, {} to {}, {} missing bars in {} gaps",
            report.file.display(),
            report.rows,
            report.first,
            report.last,
            report.gaps.missing_bars,
            report.gaps.gaps.len()
        );
        for g in report.gaps.gaps.iter().take(10) {
            text.push_str(&format!(
                "\n  {} → {}: {} missing",
                format_ts(g.after_ts),
                format_ts(g.before_ts),
                g.missing_bars
            ));
        }
        if report.gaps.gaps.len() > 10 {
            text.push_str(&format!(
                "\n  … {} more gaps (use --json for all)",
                report.gaps.gaps.len() - 10
            ));
        }
        print_text(&text)?;
    }
    Ok(0)
}
