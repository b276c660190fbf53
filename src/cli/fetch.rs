//! `flowrex fetch`: fetch candles from TwelveData or Binance (paced, retrying, incremental), import CSV
//! files and synthetic series, look up quotes and symbols, list the store, verify a file.

use std::path::PathBuf;
use std::sync::Arc;

use serde::Serialize;
use tabled::Tabled;

use super::output::{print_json, print_text, table, table_of};
use super::table_fit::Cells;
use super::{Context, Outcome};
use flowrex::candles::csv_import::{CsvOptions, CsvSummary, Delimiter, read_csv_with};
use flowrex::candles::gaps::GapReport;
use flowrex::candles::inventory::{InventoryEntry, Verification};
use flowrex::candles::resample::{ResampleSummary, resample_stored};
use flowrex::candles::store::MergeSummary;
use flowrex::candles::synthetic::{SyntheticSpec, try_generate};
use flowrex::candles::time::{TimeFormat, TimeRange, Zone, format_ts, format_ts_full};
use flowrex::candles::{Candles, Interval, Store, Symbol};
use flowrex::error::{Error, IoContext, Result};
use flowrex::outputs::OutputPlan;
use flowrex::providers::batch::{BatchObserver, SymbolOutcome, SymbolResult, update_symbols};
use flowrex::providers::update::{UpdateOptions, UpdateReport};
use flowrex::providers::{self, Overrides, SystemClock};

/// Where bars come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Provider {
    /// A local CSV file (`--file`).
    Csv,
    /// A seeded geometric Brownian motion (`--bars`, `--seed`), for benchmarks and stress tests.
    Synthetic,
    /// TwelveData (stocks, forex, crypto); needs TWELVEDATA_API_KEY or an api_key in flowrex.toml.
    #[value(name = "twelvedata")]
    TwelveData,
    /// Binance spot klines (crypto, no key).
    Binance,
}

/// Arguments of `flowrex fetch`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  flowrex fetch --provider twelvedata --symbol AAPL,MSFT --interval 1h --start 2024-01-01
  flowrex fetch --provider binance --symbols-file crypto.txt --interval 1m     (incremental; for cron)
  flowrex fetch --provider binance --symbol BTCUSDT --interval 1d --start 2020-01-01 --full
  flowrex fetch --quote AAPL
  flowrex fetch --search micro --json
  flowrex fetch --provider csv --file GOOG.csv --symbol GOOG --interval 1d
  flowrex fetch --provider synthetic --bars 1000000 --seed 7 --symbol SYNTH --interval 1m
  flowrex fetch --list --json
  flowrex fetch --verify EURUSD/1h
  flowrex fetch --resample EURUSD/1h --to 4h     (writes data/EURUSD/4h.parquet)

Provider settings (flowrex.toml): [providers] max_attempts, retry_base_ms, retry_max_ms, timeout_ms;
[providers.twelvedata] api_key, base_url, requests_per_minute (default 8); [providers.binance] base_url,
weight_per_minute (default 6000). The API key is never printed.")]
pub struct FetchArgs {
    /// Where to get bars from.
    #[arg(long, value_enum, required_unless_present_any = ["list", "verify", "quote", "search", "resample"])]
    pub provider: Option<Provider>,
    /// Symbol to store the bars under (`EUR/USD` is stored in the folder `EUR%2FUSD`); a comma list
    /// (`AAPL,MSFT`) for twelvedata and binance.
    #[arg(long, required_unless_present_any = ["list", "verify", "symbols_file", "quote", "search", "resample"])]
    pub symbol: Option<String>,
    /// A file with one symbol per line (blank lines and `#` comments ignored), for cron jobs.
    #[arg(long, value_name = "PATH")]
    pub symbols_file: Option<PathBuf>,
    /// Bar interval: 1m 5m 15m 30m 1h 4h 1d 1w 1M.
    #[arg(long, required_unless_present_any = ["list", "verify", "quote", "search", "resample"])]
    pub interval: Option<Interval>,
    /// First bar to fetch: 2024, 2024-06, 2024-06-03 or 20240603 (UTC), a datetime, or an epoch of 10+
    /// digits or with a unit suffix (86400s). Default: after the last stored bar, or the last 5000 bars
    /// when nothing is stored.
    #[arg(long, value_name = "TIME")]
    pub start: Option<String>,
    /// Last bar to fetch, in the same formats (a year, month or date includes its whole period).
    /// Default: now.
    #[arg(long, value_name = "TIME")]
    pub end: Option<String>,
    /// Refetch the whole range instead of only what follows the last stored bar.
    #[arg(long)]
    pub full: bool,
    /// Provider base URL (a proxy or a test server); overrides flowrex.toml.
    #[arg(long, value_name = "URL")]
    pub base_url: Option<String>,
    /// Attempts per request, the first included (overrides `[providers] max_attempts`, default 5).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub max_attempts: Option<u32>,
    /// Show the latest TwelveData quote of SYMBOL.
    #[arg(long, value_name = "SYMBOL", conflicts_with_all = ["list", "verify", "search", "symbol", "symbols_file"])]
    pub quote: Option<String>,
    /// Search TwelveData symbols starting with TEXT.
    #[arg(long, value_name = "TEXT", conflicts_with_all = ["list", "verify", "symbol", "symbols_file"])]
    pub search: Option<String>,
    /// CSV file to import (`--provider csv`).
    #[arg(long, value_name = "PATH", required_if_eq("provider", "csv"))]
    pub file: Option<PathBuf>,
    /// How the CSV time column is written; `auto` detects ISO dates/datetimes and epoch s/ms/µs/ns
    /// (by size).
    #[arg(long, value_enum, default_value_t = TimeFormat::Auto)]
    pub time_format: TimeFormat,
    /// Time zone of CSV datetimes written without an offset: an IANA name (Europe/Berlin), UTC, or an
    /// offset (+02:00). Default UTC. Dates without a time stay calendar days at 00:00 UTC; values with
    /// an offset and epochs are unaffected.
    #[arg(long, value_name = "ZONE")]
    pub tz: Option<Zone>,
    /// CSV field separator: auto (the default: the most frequent of , ; tab | in the header line), ',',
    /// ';', tab or '|'. With a separator other than ',' numbers may use a decimal comma (1,2345).
    #[arg(long, value_name = "SEP")]
    pub delimiter: Option<Delimiter>,
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
    /// Resample a stored file into the longer interval --to, merged into <SYMBOL>/<to>.parquet (with
    /// --replace, its different bars are overwritten). Buckets are UTC: days, weeks from Monday 00:00,
    /// calendar months, each labelled with its start; the last bucket is left out until it has closed.
    #[arg(
        long,
        value_name = "SYMBOL/INTERVAL",
        requires = "to",
        conflicts_with_all = ["provider", "list", "verify", "quote", "search", "symbol", "interval"]
    )]
    pub resample: Option<String>,
    /// The interval --resample writes (longer than the stored one).
    #[arg(long, value_name = "INTERVAL", requires = "resample")]
    pub to: Option<Interval>,
    /// With --provider: write gauges for cron monitoring to this node_exporter textfile (PATH.prom,
    /// atomically): last success time, duration, rows added per symbol, the last stored bar's time.
    #[arg(long, value_name = "PATH.prom")]
    pub metrics_file: Option<PathBuf>,
}

/// One symbol's numbers for `--metrics-file`.
struct SymbolGauges {
    symbol: String,
    added: usize,
    revised: usize,
    total: usize,
    last_bar_ms: Option<i64>,
    failed: bool,
}

impl SymbolGauges {
    /// An import of `symbol` that merged as `m`.
    fn of_import(symbol: &str, m: &MergeSummary) -> SymbolGauges {
        SymbolGauges {
            symbol: symbol.to_string(),
            added: m.added,
            revised: m.replaced,
            total: m.total,
            last_bar_ms: None,
            failed: false,
        }
    }

    /// One symbol of a provider fetch.
    fn of(r: &SymbolResult) -> SymbolGauges {
        let mut g = SymbolGauges {
            symbol: r.symbol.clone(),
            added: 0,
            revised: 0,
            total: 0,
            last_bar_ms: None,
            failed: true,
        };
        match &r.outcome {
            SymbolOutcome::Updated(u) => {
                (g.added, g.revised, g.total) = (u.new_rows, u.revised_rows, u.total_rows);
                g.last_bar_ms = u.last;
                g.failed = false;
            }
            SymbolOutcome::Failed { stored, .. } => {
                g.total = stored.rows;
                g.last_bar_ms = stored.last;
            }
            SymbolOutcome::Skipped { .. } => {}
        }
        g
    }
}

/// Writes `--metrics-file` of a fetch or import, labelled with provider and interval (and symbol). A
/// run in which a symbol failed keeps the previous file's last success time.
fn write_fetch_metrics(
    file: &std::path::Path,
    provider: &str,
    interval: Interval,
    symbols: &[SymbolGauges],
    seconds: f64,
) -> Result<()> {
    use flowrex::prom::{TextFile, now_seconds};
    let interval = interval.to_string();
    let run = [("provider", provider), ("interval", interval.as_str())];
    let failed = symbols.iter().filter(|s| s.failed).count();
    let mut f = TextFile::new();
    f.last_success(
        "flowrex_fetch_last_success_timestamp_seconds",
        "When a fetch last updated every symbol (Unix time).",
        &run,
        failed == 0,
        file,
    )?;
    f.gauge(
        "flowrex_fetch_last_run_timestamp_seconds",
        "When the last fetch ended (Unix time).",
        &run,
        now_seconds(),
    )?;
    f.gauge(
        "flowrex_fetch_duration_seconds",
        "Wall time of the last fetch.",
        &run,
        seconds,
    )?;
    f.gauge(
        "flowrex_fetch_symbols",
        "Symbols the last fetch was asked for.",
        &run,
        symbols.len() as f64,
    )?;
    f.gauge(
        "flowrex_fetch_symbols_failed",
        "Symbols the last fetch failed or skipped.",
        &run,
        failed as f64,
    )?;
    fn each<'a>(run: &[(&'a str, &'a str); 2], s: &'a SymbolGauges) -> [(&'a str, &'a str); 3] {
        [run[0], run[1], ("symbol", s.symbol.as_str())]
    }
    type PerSymbol = (&'static str, &'static str, fn(&SymbolGauges) -> f64);
    let per_symbol: [PerSymbol; 3] = [
        (
            "flowrex_fetch_rows_added",
            "Bars the last fetch added to the store.",
            |s| s.added as f64,
        ),
        (
            "flowrex_fetch_rows_revised",
            "Stored bars the last fetch replaced with revised values.",
            |s| s.revised as f64,
        ),
        (
            "flowrex_fetch_rows",
            "Bars stored after the last fetch.",
            |s| s.total as f64,
        ),
    ];
    // One family after the other: the text format wants each metric's samples together.
    for (name, help, value) in per_symbol {
        for s in symbols {
            f.gauge(name, help, &each(&run, s), value(s))?;
        }
    }
    for s in symbols.iter().filter(|s| s.last_bar_ms.is_some()) {
        let t = s.last_bar_ms.unwrap_or_default() as f64 / 1000.0;
        f.gauge(
            "flowrex_fetch_last_bar_timestamp_seconds",
            "Open time of the last stored bar (Unix time).",
            &each(&run, s),
            t,
        )?;
    }
    f.write(file)
}

/// Runs `flowrex fetch`.
pub fn run(ctx: &Context, args: FetchArgs) -> Result<Outcome> {
    check_flags(ctx, &args)?;
    // --list and --verify read the store of an existing home; imports create the home on purpose.
    if args.list {
        return list(ctx, &ctx.home()?.store());
    }
    if let Some(target) = &args.verify {
        return verify(ctx, target);
    }
    if let (Some(source), Some(to)) = (&args.resample, args.to) {
        return resample(ctx, source, to, args.replace);
    }
    if args.quote.is_some() || args.search.is_some() {
        return lookup(ctx, &args);
    }
    if matches!(
        args.provider,
        Some(Provider::TwelveData | Provider::Binance)
    ) {
        return fetch_remote(ctx, &args);
    }
    import_local(ctx, &args)
}

/// The flag combinations clap cannot refuse, and the `--metrics-file` output rules, before any work.
fn check_flags(ctx: &Context, args: &FetchArgs) -> Result<()> {
    if provider_is_not_csv_but_csv_flags(args) {
        return Err(Error::usage(
            "--tz, --delimiter and --time-format apply to --provider csv",
        ));
    }
    // clap skips `requires` when the required flag conflicts with one given (`--list --to 4h`).
    if args.to.is_some() && args.resample.is_none() {
        return Err(Error::usage(
            "--to names the interval --resample writes: it needs --resample SYMBOL/INTERVAL",
        ));
    }
    if args.metrics_file.is_some() && args.provider.is_none() {
        return Err(Error::usage(
            "--metrics-file reports a fetch or an import: it needs --provider",
        ));
    }
    if let Some(file) = &args.metrics_file {
        // Checked before the fetch (never into the store, over a state file or a special file).
        OutputPlan::new(&flowrex::home::Home::layout(&ctx.home_path))
            .add("--metrics-file", file)?
            .open()?;
    }
    Ok(())
}

/// `--provider csv` or `synthetic`: one symbol's bars merged into the store.
fn import_local(ctx: &Context, args: &FetchArgs) -> Result<Outcome> {
    if args.symbols_file.is_some() || args.symbol.as_deref().is_some_and(|s| s.contains(',')) {
        return Err(Error::usage(
            "--provider csv and synthetic take one --symbol; symbol lists and --symbols-file are for twelvedata and binance",
        ));
    }
    if args.start.is_some() || args.end.is_some() || args.full || args.base_url.is_some() {
        return Err(Error::usage(
            "--start, --end, --full and --base-url apply to --provider twelvedata and binance",
        ));
    }
    let (Some(provider), Some(symbol), Some(interval)) =
        (args.provider, args.symbol.clone(), args.interval)
    else {
        return Err(Error::usage(
            "--provider, --symbol and --interval are required",
        ));
    };
    Symbol::parse(&symbol)?;
    let started = std::time::Instant::now();
    let (candles, source, notes, summary_extra) = match provider {
        Provider::Csv => read_csv_import(args, interval)?,
        Provider::TwelveData | Provider::Binance => return fetch_remote(ctx, args),
        Provider::Synthetic => {
            let candles = try_generate(&SyntheticSpec::new(args.bars, args.seed, interval))?;
            let source = format!("synthetic:seed={}", args.seed);
            (candles, source, Vec::new(), None)
        }
    };
    if candles.is_empty() {
        let what = args
            .file
            .as_ref()
            .map_or(source.clone(), |f| f.display().to_string());
        return Err(Error::invalid(format!(
            "{what}: no data rows below the header; nothing was written"
        )));
    }
    let store = ctx.create_home()?.store();
    let merged = store.merge(&symbol, interval, &candles, &source, args.replace)?;
    if let Some(file) = &args.metrics_file {
        let gauges = SymbolGauges::of_import(&symbol, &merged);
        let name = match provider {
            Provider::Csv => "csv",
            _ => "synthetic",
        };
        let seconds = started.elapsed().as_secs_f64();
        write_fetch_metrics(file, name, interval, &[gauges], seconds)?;
    }
    for n in &notes {
        tracing::warn!("{n}");
    }
    let report = ImportReport {
        symbol,
        interval: interval.to_string(),
        file: store.path(args.symbol.as_deref().unwrap_or_default(), interval)?,
        source,
        rows_read: summary_extra.map_or(candles.len(), |s| s.rows_read),
        out_of_order_sorted: summary_extra.map_or(0, |s| s.normalized.out_of_order),
        duplicates_dropped: summary_extra.map_or(0, |s| s.normalized.duplicates_dropped),
        has_volume: summary_extra.is_none_or(|s| s.has_volume),
        merge: merged,
        notes,
    };
    print_import(ctx, &report)?;
    Ok(Outcome::Done)
}

/// The bars of `--file` (`--provider csv`), the source name, what normalizing did (as notes) and
/// the read's summary.
fn read_csv_import(
    args: &FetchArgs,
    interval: Interval,
) -> Result<(Candles, String, Vec<String>, Option<CsvSummary>)> {
    let file = args
        .file
        .as_ref()
        .ok_or_else(|| Error::usage("--provider csv needs --file PATH"))?;
    let options = CsvOptions {
        time_format: args.time_format,
        zone: args.tz.unwrap_or_default(),
        delimiter: args.delimiter.unwrap_or_default(),
    };
    let (candles, s) = read_csv_with(file, &options, interval)?;
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
    Ok((candles, format!("csv:{name}"), notes, Some(s)))
}

/// An import's report on stdout: JSON with `--json`, else one line.
fn print_import(ctx: &Context, report: &ImportReport) -> Result<()> {
    if ctx.json {
        return print_json(report);
    }
    let merged = &report.merge;
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
    ))
}

/// True when CSV-only flags were given with another provider (they would be ignored).
fn provider_is_not_csv_but_csv_flags(args: &FetchArgs) -> bool {
    args.provider != Some(Provider::Csv)
        && (args.tz.is_some() || args.delimiter.is_some() || args.time_format != TimeFormat::Auto)
}

/// The symbols of `--symbol A,B` and `--symbols-file F`, in order, without repeats.
fn symbols(args: &FetchArgs) -> Result<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    let mut add = |s: &str| {
        let s = s.trim();
        if !s.is_empty() && !out.iter().any(|o| o == s) {
            out.push(s.to_string());
        }
    };
    if let Some(list) = &args.symbol {
        list.split(',').for_each(&mut add);
    }
    if let Some(path) = &args.symbols_file {
        let text = std::fs::read_to_string(path).at(path)?;
        for line in text.lines() {
            add(line.split('#').next().unwrap_or(""));
        }
    }
    for s in &out {
        Symbol::parse(s)?;
    }
    if out.is_empty() {
        let from = args
            .symbols_file
            .as_deref()
            .map_or_else(|| "--symbol".to_string(), |p| p.display().to_string());
        return Err(Error::usage(format!(
            "{from}: no symbols (give --symbol A,B or a file with one symbol per line; # starts a comment)"
        )));
    }
    Ok(out)
}

/// One row of the fetch summary.
#[derive(Debug, Serialize, Tabled)]
struct SymbolRow {
    symbol: String,
    #[tabled(skip)]
    interval: String,
    #[tabled(rename = "new rows")]
    new_rows: usize,
    #[tabled(rename = "revised rows")]
    revised_rows: usize,
    #[tabled(rename = "total rows")]
    total_rows: usize,
    #[serde(serialize_with = "iso_or_null")]
    #[tabled(display = "super::table_fit::short_time")]
    first: String,
    #[serde(serialize_with = "iso_or_null")]
    #[tabled(display = "super::table_fit::short_time")]
    last: String,
    status: String,
    #[tabled(skip)]
    requests: usize,
    #[tabled(skip)]
    file: PathBuf,
    #[tabled(skip)]
    error: Option<String>,
}

/// The `--json` document of a provider fetch.
#[derive(Debug, Serialize)]
struct FetchSummary {
    provider: &'static str,
    interval: String,
    failed: usize,
    symbols: Vec<SymbolRow>,
}

fn fetch_remote(ctx: &Context, args: &FetchArgs) -> Result<Outcome> {
    let interval = args
        .interval
        .ok_or_else(|| Error::usage("--interval is required"))?;
    let symbols = symbols(args)?;
    let range = TimeRange::parse(args.start.as_deref(), args.end.as_deref())?;
    let overrides = Overrides {
        base_url: args.base_url.clone(),
        max_attempts: args.max_attempts,
    };
    let cfg = &ctx.config.providers;
    let clock = Arc::new(SystemClock::new());
    let provider: Box<dyn providers::Provider> = match args.provider {
        Some(Provider::TwelveData) => Box::new(cfg.twelvedata(&overrides, clock, true)?),
        _ => Box::new(cfg.binance(&overrides, clock)?),
    };
    let opts = UpdateOptions {
        range,
        full: args.full,
        now: chrono::Utc::now().timestamp_millis(),
    };
    let store = ctx.create_home()?.store();
    let mut observer = Bars {
        ctx,
        interval,
        bar: None,
    };
    let started = std::time::Instant::now();
    let results = update_symbols(
        &store,
        provider.as_ref(),
        &symbols,
        interval,
        &opts,
        &mut observer,
    );
    if let Some(file) = &args.metrics_file {
        let gauges: Vec<SymbolGauges> = results.iter().map(SymbolGauges::of).collect();
        let seconds = started.elapsed().as_secs_f64();
        write_fetch_metrics(file, provider.name(), interval, &gauges, seconds)?;
    }
    let rows: Vec<SymbolRow> = results
        .into_iter()
        .map(|r| symbol_row(r, interval))
        .collect();
    let failed = rows.iter().filter(|r| r.error.is_some()).count();
    if ctx.json {
        print_json(&FetchSummary {
            provider: provider.name(),
            interval: interval.to_string(),
            failed,
            symbols: rows,
        })?;
    } else {
        // The status is what a reader looks for; the row counts can go first (--wide, --json).
        let cells = Cells::of(rows).optional(&["revised rows", "total rows"]);
        print_text(&table_of(cells))?;
    }
    Ok(if failed > 0 {
        Outcome::PartlyFailed
    } else {
        Outcome::Done
    })
}

/// Draws one progress bar per symbol (only when stderr is a terminal and `--quiet` is off) and logs
/// each symbol's result.
struct Bars<'a> {
    ctx: &'a Context,
    interval: Interval,
    bar: Option<indicatif::ProgressBar>,
}

impl BatchObserver for Bars<'_> {
    fn started(&mut self, symbol: &str) {
        self.bar = progress_bar(self.ctx, symbol);
    }

    fn progress(&mut self, _symbol: &str, p: providers::Progress) {
        if let Some(b) = &self.bar {
            b.set_position((p.covered * 1000.0).round() as u64);
            b.set_message(format!("{} pages, {} bars", p.pages, p.bars));
        }
    }

    fn finished(&mut self, r: &SymbolResult) {
        if let Some(b) = self.bar.take() {
            b.finish_and_clear();
        }
        match &r.outcome {
            SymbolOutcome::Updated(u) => tracing::info!(
                "{} {}: {} new, {} revised, {} total",
                r.symbol,
                self.interval,
                u.new_rows,
                u.revised_rows,
                u.total_rows
            ),
            SymbolOutcome::Failed { message, .. } => {
                tracing::error!("{message}; the stored file was left as it was")
            }
            SymbolOutcome::Skipped { .. } => {}
        }
    }
}

/// The summary row of one symbol's result.
fn symbol_row(r: SymbolResult, interval: Interval) -> SymbolRow {
    let mut row = SymbolRow {
        symbol: r.symbol,
        interval: interval.to_string(),
        new_rows: 0,
        revised_rows: 0,
        total_rows: 0,
        first: String::new(),
        last: String::new(),
        status: String::new(),
        requests: 0,
        file: r.file,
        error: None,
    };
    match r.outcome {
        SymbolOutcome::Updated(u) => fill_row(&mut row, &u),
        SymbolOutcome::Failed {
            message,
            requests,
            stored,
            ..
        } => {
            row.status = "failed".into();
            row.total_rows = stored.rows;
            row.first = stored.first.map(format_ts).unwrap_or_default();
            row.last = stored.last.map(format_ts).unwrap_or_default();
            row.requests = requests;
            row.error = Some(message);
        }
        SymbolOutcome::Skipped { reason } => {
            row.status = "skipped".into();
            row.error = Some(format!("not fetched: the run stopped ({reason})"));
        }
    }
    row
}

fn fill_row(row: &mut SymbolRow, r: &UpdateReport) {
    row.file = r.file.clone();
    row.new_rows = r.new_rows;
    row.revised_rows = r.revised_rows;
    row.total_rows = r.total_rows;
    row.first = r.first.map(format_ts).unwrap_or_default();
    row.last = r.last.map(format_ts).unwrap_or_default();
    row.requests = r.requests;
    row.status = if r.requested_start.is_none() {
        "up to date".into()
    } else if r.new_rows == 0 && r.revised_rows == 0 {
        "ok (no new bars)".into()
    } else {
        "ok".into()
    };
}

/// A progress bar for one symbol, only when stderr is a terminal and `--quiet` is off.
fn progress_bar(ctx: &Context, symbol: &str) -> Option<indicatif::ProgressBar> {
    if !ctx.show_progress() {
        return None;
    }
    let bar = indicatif::ProgressBar::new(1000);
    if let Ok(style) =
        indicatif::ProgressStyle::with_template("{prefix:>12} [{bar:30}] {percent:>3}% {msg}")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_prefix(symbol.to_string());
    Some(bar)
}

/// `--quote SYMBOL` and `--search TEXT` (TwelveData).
fn lookup(ctx: &Context, args: &FetchArgs) -> Result<Outcome> {
    if !matches!(args.provider, None | Some(Provider::TwelveData)) {
        return Err(Error::usage(
            "--quote and --search use --provider twelvedata",
        ));
    }
    let overrides = Overrides {
        base_url: args.base_url.clone(),
        max_attempts: args.max_attempts,
    };
    let cfg = &ctx.config.providers;
    let clock = Arc::new(SystemClock::new());
    if let Some(symbol) = &args.quote {
        let td = cfg.twelvedata(&overrides, clock, true)?;
        let q = td.quote(symbol).map_err(|e| Error::invalid(e.message))?;
        if ctx.json {
            print_json(&q)?;
        } else {
            let num = |v: Option<f64>| v.map(|x| x.to_string()).unwrap_or_default();
            let rows = [
                ("symbol", q.symbol.clone()),
                ("name", q.name.clone()),
                ("exchange", q.exchange.clone()),
                ("currency", q.currency.clone()),
                ("datetime", q.datetime.clone()),
                ("open", num(q.open)),
                ("high", num(q.high)),
                ("low", num(q.low)),
                ("close", num(q.close)),
                ("volume", num(q.volume)),
                ("previous close", num(q.previous_close)),
                ("change", num(q.change)),
                ("change %", num(q.percent_change)),
                (
                    "market open",
                    q.is_market_open.map(|b| b.to_string()).unwrap_or_default(),
                ),
            ]
            .into_iter()
            .map(|(field, value)| KeyValue {
                field: field.to_string(),
                value,
            });
            print_text(&table(rows))?;
        }
    } else if let Some(text) = &args.search {
        let td = cfg.twelvedata(&overrides, clock, false)?;
        let hits = td.search(text).map_err(|e| Error::invalid(e.message))?;
        if ctx.json {
            print_json(&hits)?;
        } else if hits.is_empty() {
            print_text(&format!("no symbols found for '{text}'"))?;
        } else {
            print_text(&table(hits))?;
        }
    }
    Ok(Outcome::Done)
}

/// A field/value line of `--quote`.
#[derive(Tabled)]
struct KeyValue {
    field: String,
    value: String,
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
    #[serde(serialize_with = "iso_or_null")]
    #[tabled(display = "super::table_fit::short_time")]
    first: String,
    #[serde(serialize_with = "iso_or_null")]
    #[tabled(display = "super::table_fit::short_time")]
    last: String,
    #[tabled(rename = "missing bars")]
    missing_bars: usize,
    #[tabled(rename = "size (bytes)")]
    size_bytes: u64,
    /// `ok`, or why the file could not be read (it is still listed).
    status: String,
    #[tabled(skip)]
    #[serde(serialize_with = "iso_or_null")]
    source: String,
    #[tabled(skip)]
    #[serde(serialize_with = "iso_or_null")]
    written_at: String,
}

impl From<InventoryEntry> for InventoryRow {
    fn from(e: InventoryEntry) -> Self {
        let mut row = InventoryRow {
            symbol: e.symbol,
            interval: e.interval.to_string(),
            rows: 0,
            first: String::new(),
            last: String::new(),
            missing_bars: 0,
            size_bytes: e.size_bytes,
            status: "ok".into(),
            source: String::new(),
            written_at: String::new(),
        };
        match e.contents {
            Ok(s) => {
                row.rows = s.rows;
                row.first = s.first.map(format_ts).unwrap_or_default();
                row.last = s.last.map(format_ts).unwrap_or_default();
                row.missing_bars = s.missing_bars;
                row.source = s.source;
                row.written_at = s.written_at;
            }
            Err(why) => row.status = format!("damaged: {why}"),
        }
        row
    }
}

fn list(ctx: &Context, store: &Store) -> Result<Outcome> {
    let entries = store.inventory()?;
    // A damaged file is listed with its error (and makes the exit code 1); the others still show.
    let damaged = entries.iter().filter(|e| e.contents.is_err()).count();
    let rows: Vec<InventoryRow> = entries.into_iter().map(InventoryRow::from).collect();
    if ctx.json {
        print_json(&rows)?;
    } else if rows.is_empty() {
        print_text(&format!(
            "the store at {} is empty; import bars with `{}`",
            super::absolute(store.root()).display(),
            ctx.hint("fetch --provider csv --file F --symbol S --interval I")
        ))?;
    } else {
        // A damaged file's status is a whole error message: in the table it would be the widest
        // column, the first one left out at 80 columns. The table says `damaged`, the lines after it
        // why.
        let why: Vec<String> = rows
            .iter()
            .filter(|r| r.status != "ok")
            .map(|r| r.status.clone())
            .collect();
        let mut cells = Cells::of(rows).optional(&["size (bytes)", "missing bars"]);
        if let Some(col) = cells.header.iter().position(|h| h == "status") {
            for row in &mut cells.rows {
                if row[col] != "ok" {
                    row[col] = "damaged".into();
                }
            }
        }
        let mut text = table_of(cells);
        for line in why {
            text.push('\n');
            text.push_str(&line);
        }
        print_text(&text)?;
    }
    if damaged > 0 {
        tracing::error!("{damaged} store file(s) could not be read; see their status");
        return Ok(Outcome::PartlyFailed);
    }
    Ok(Outcome::Done)
}

/// The result of `fetch --verify`.
#[derive(Debug, Serialize)]
struct VerifyReport {
    symbol: String,
    interval: String,
    file: PathBuf,
    rows: usize,
    #[serde(serialize_with = "iso_or_null")]
    first: String,
    #[serde(serialize_with = "iso_or_null")]
    last: String,
    valid: bool,
    #[serde(flatten)]
    gaps: GapReport,
}

impl From<Verification> for VerifyReport {
    fn from(v: Verification) -> Self {
        VerifyReport {
            symbol: v.symbol,
            interval: v.interval.to_string(),
            file: v.path,
            rows: v.rows,
            first: v.first.map(format_ts).unwrap_or_default(),
            last: v.last.map(format_ts).unwrap_or_default(),
            valid: true,
            gaps: v.gaps,
        }
    }
}

/// `SYMBOL/INTERVAL` as given to `--flag` (the symbol may contain `/`: `EUR/USD/1h`).
fn symbol_interval<'a>(flag: &str, target: &'a str) -> Result<(&'a str, Interval)> {
    let (symbol, interval) = target.rsplit_once('/').ok_or_else(|| {
        Error::usage(format!(
            "--{flag} {target}: expected SYMBOL/INTERVAL, e.g. EURUSD/1h"
        ))
    })?;
    let interval: Interval = interval
        .parse()
        .map_err(|e: Error| Error::usage(format!("--{flag} {target}: {e}")))?;
    Ok((symbol, interval))
}

/// `fetch --resample SYMBOL/FROM --to TO`.
fn resample(ctx: &Context, source: &str, to: Interval, replace: bool) -> Result<Outcome> {
    let (symbol, from) = symbol_interval("resample", source)?;
    if to.nominal_ms() <= from.nominal_ms() {
        return Err(Error::usage(format!(
            "--to {to}: resampling goes to a longer interval than {from}"
        )));
    }
    let store = ctx.home()?.store();
    let s = resample_stored(&store, symbol, from, to, replace)?;
    let file = store.path(symbol, to)?;
    if let Some(t) = s.first_bucket_starts_late {
        tracing::warn!(
            "the first {to} bar holds only the bars from {} on (the data starts inside it)",
            format_ts(t)
        );
    }
    if let Some(t) = s.forming_left_out {
        tracing::info!(
            "the last {to} bar (from {}) has not closed: left out",
            format_ts(t)
        );
    }
    if ctx.json {
        #[derive(Serialize)]
        struct Doc<'a> {
            symbol: &'a str,
            from: Interval,
            to: Interval,
            file: PathBuf,
            bars_read: usize,
            bars_written: usize,
            forming_left_out: Option<String>,
            first_bucket_starts_late: Option<String>,
            #[serde(flatten)]
            merge: MergeSummary,
        }
        let ResampleSummary {
            bars_read,
            bars_written,
            forming_left_out,
            first_bucket_starts_late,
            merge,
        } = s;
        return print_json(&Doc {
            symbol,
            from,
            to,
            file,
            bars_read,
            bars_written,
            forming_left_out: forming_left_out.map(format_ts_full),
            first_bucket_starts_late: first_bucket_starts_late.map(format_ts_full),
            merge,
        })
        .map(|()| Outcome::Done);
    }
    print_text(&format!(
        "{symbol} {from} → {to}: {} bars read, {} {to} bars: {} added, {} replaced, {} unchanged, {} total in {}",
        s.bars_read,
        s.bars_written,
        s.merge.added,
        s.merge.replaced,
        s.merge.unchanged,
        s.merge.total,
        file.display()
    ))?;
    Ok(Outcome::Done)
}

fn verify(ctx: &Context, target: &str) -> Result<Outcome> {
    let (symbol, interval) = symbol_interval("verify", target)?;
    let report = VerifyReport::from(ctx.home()?.store().verify(symbol, interval)?);
    if ctx.json {
        print_json(&report)?;
    } else {
        let mut text = if report.rows == 0 {
            format!("{} ok: 0 rows (an empty file)", report.file.display())
        } else {
            format!(
                "{} ok: {} rows, {} to {}, {} missing bars in {} gaps",
                report.file.display(),
                report.rows,
                report.first,
                report.last,
                report.gaps.missing_bars,
                report.gaps.gaps.len()
            )
        };
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
    Ok(Outcome::Done)
}

/// A table cell in JSON: `null` when empty (no bar, an unreadable file), a date the table shortened
/// (`2004-08-19`, a bar at 00:00 UTC) as the full RFC 3339 time, anything else as it is — so every
/// time in `--json` has one format and a missing value is never `""`.
fn iso_or_null<S: serde::Serializer>(v: &str, s: S) -> std::result::Result<S::Ok, S::Error> {
    let is_date = v.len() == 10 && v.as_bytes()[4] == b'-' && v.as_bytes()[7] == b'-';
    match v {
        "" => s.serialize_none(),
        _ if is_date => s.serialize_str(&format!("{v}T00:00:00Z")),
        _ => s.serialize_str(v),
    }
}
