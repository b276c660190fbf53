//! `flowrex report backtest|optimize|paper|journal`: one self-contained HTML page (inline SVG, no
//! script, no network) of a backtest — from the same flags as `backtest` or from a playbook —, of an
//! optimization, from its playbook and `--results` file, of the paper account (its equity re-marked
//! from the ledger and the stored bars), or of a `journal analyze` comparison. Also the writers behind the `--report FILE` shortcut of
//! `backtest` and `optimize`. Pages are composed by `flowrex::report::compose` and written atomically;
//! the printed path is absolute.

use std::path::{Path, PathBuf};

use clap::ValueEnum;

use super::journal::AnalyzeArgs;
use super::output::{print_json, print_text};
use super::run_args::{SettingsArgs, TargetArgs, param_inputs, run_spec};
use super::{Context, Outcome};
use flowrex::atomic::{parent_dir, write_atomic};
use flowrex::backtest::{Report, RunSpec};
use flowrex::candles::Candles;
use flowrex::candles::store::path_safe_symbol;
use flowrex::error::{Error, IoContext, Result};
use flowrex::home::Home;
use flowrex::indicators::IndicatorCache;
use flowrex::optimize::results::ResultRows;
use flowrex::outputs::OutputPlan;
use flowrex::playbook::{DataChange, Playbook};
use flowrex::report::compose::{self, OptimizeView};
use flowrex::report::{BacktestOptions, HeatMode};
use flowrex::report::{compose_journal, compose_paper};

const AFTER_HELP: &str = "One HTML file that opens in any browser: inline SVG charts, one inline style sheet, no script and
no network request (readable with JavaScript off, fine as a CI artifact). Written atomically to --out,
by default <home>/reports/<name>.html; the absolute path is printed (--json: {\"report_file\", \"bytes\"}).

Examples:
  flowrex report backtest --strategy sma_cross --symbol GOOG --interval 1d --param fast=10 --param slow=20 --commission 0.002
  flowrex report backtest --playbook playbooks/goog_sma_cross.toml
  flowrex optimize … --results sweep.parquet --out playbooks/sweep.toml
  flowrex report optimize --playbook playbooks/sweep.toml --results sweep.parquet --x fast --y slow
  flowrex backtest … --report goog.html          # the same page from the backtest command itself
  flowrex optimize … --report sweep.html         # and from the optimizer (no --results needed)
  flowrex report paper                           # the paper account: equity, positions, fills, trades
  flowrex report journal --strategy goog_sma_cross --symbol GOOG --source paper";

/// Arguments of `flowrex report`.
#[derive(Debug, clap::Args)]
#[command(after_help = AFTER_HELP)]
pub struct ReportArgs {
    /// What to show.
    #[command(subcommand)]
    pub command: ReportCommand,
}

/// The kinds of report.
#[derive(Debug, clap::Subcommand)]
pub enum ReportCommand {
    /// A backtest: metrics, equity with drawdowns and buy & hold, trades on the price, monthly returns,
    /// trade returns, the largest losses and the trade table.
    Backtest(Box<BacktestReportArgs>),
    /// An optimization: the objective over two parameters, plateau or spike around the best, the top
    /// candidates and the best candidate's metrics.
    Optimize(OptimizeReportArgs),
    /// The paper account: its numbers, equity over time (re-marked at every processed bar's close),
    /// underwater curve, monthly returns, open positions, fills and closed trades.
    Paper(PaperReportArgs),
    /// Real (paper or live) trades against a replay of their backtest, as `journal analyze` compares
    /// them: matched trades, slippage, the P&L gap and its parts, the metrics side by side.
    Journal(Box<JournalReportArgs>),
}

/// Arguments of `flowrex report paper`.
#[derive(Debug, clap::Args)]
pub struct PaperReportArgs {
    /// The account epoch (1, then one more per `paper-trade reset`) [default: the current one].
    #[arg(long, value_name = "N")]
    pub account: Option<i64>,
    /// Rows of the fill and trade tables shown from the start and from the end.
    #[arg(long, default_value_t = 25, value_name = "N")]
    pub rows: usize,
    /// The HTML file to write [default: <home>/reports/paper-account-<N>.html].
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

/// Arguments of `flowrex report journal`: those of `journal analyze`, and the page's.
#[derive(Debug, clap::Args)]
pub struct JournalReportArgs {
    /// The book, the sources and the reference, as `journal analyze` takes them.
    #[command(flatten)]
    pub analyze: AnalyzeArgs,
    /// Rows of the trade tables shown from the start and from the end.
    #[arg(long, default_value_t = 25, value_name = "N")]
    pub rows: usize,
    /// The HTML file to write [default: <home>/reports/journal-<strategy>-<symbol>.html].
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

/// Arguments of `flowrex report backtest`.
#[derive(Debug, clap::Args)]
#[command(
    mut_arg("strategy", |a| a.required_unless_present("playbook")),
    mut_arg("symbol", |a| a.required_unless_present("playbook")),
    mut_arg("interval", |a| a.required_unless_present("playbook")),
)]
pub struct BacktestReportArgs {
    /// Strategy, symbol, interval.
    #[command(flatten)]
    pub target: TargetArgs,
    /// Strategy parameter as name=value; repeat for several. Unset parameters take their defaults.
    #[arg(long = "param", value_name = "NAME=VALUE")]
    pub params: Vec<String>,
    /// Settings and time window.
    #[command(flatten)]
    pub settings: SettingsArgs,
    /// Run a playbook's strategy, parameters, data range and settings instead of the flags above.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["strategy", "symbol", "interval", "params", "start", "end"])]
    pub playbook: Option<PathBuf>,
    /// Rows of the trade table shown from the start and from the end.
    #[arg(long, default_value_t = 25, value_name = "N")]
    pub rows: usize,
    /// The HTML file to write [default: <home>/reports/<symbol>_<interval>_<strategy>-backtest.html, or
    /// <playbook name>-backtest.html].
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

/// How the heatmap collapses parameters other than --x and --y.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Heat {
    /// Each cell is the candidate whose other parameters equal the best candidate's.
    AtBest,
    /// Each cell is the best objective over every value of the other parameters.
    Max,
}

/// Arguments of `flowrex report optimize`.
#[derive(Debug, clap::Args)]
pub struct OptimizeReportArgs {
    /// The playbook `optimize` wrote.
    #[arg(long, value_name = "FILE")]
    pub playbook: PathBuf,
    /// The search's results file (`optimize --results`); repeat for the shards of a merged playbook.
    /// Without it only the playbook's top candidates are known.
    #[arg(long, value_name = "FILE")]
    pub results: Vec<PathBuf>,
    /// Heatmap columns: a searched parameter [default: the first].
    #[arg(long, value_name = "NAME")]
    pub x: Option<String>,
    /// Heatmap rows: another searched parameter [default: the next one].
    #[arg(long, value_name = "NAME")]
    pub y: Option<String>,
    /// With more than two searched parameters, what a heatmap cell shows.
    #[arg(long, value_enum, default_value_t = Heat::AtBest)]
    pub heat: Heat,
    /// Rows of the top-candidates table.
    #[arg(long, default_value_t = 20, value_name = "N")]
    pub top: usize,
    /// A walk-forward playbook: draw window K's search (0 = the first) from its results file instead
    /// of the last window's, the one the playbook records [default: the last].
    #[arg(long, value_name = "K")]
    pub window: Option<u32>,
    /// The HTML file to write [default: <home>/reports/<playbook name>-optimize.html].
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

/// Runs `flowrex report`.
pub fn run(ctx: &Context, args: ReportArgs) -> Result<Outcome> {
    match args.command {
        ReportCommand::Backtest(a) => backtest(ctx, *a),
        ReportCommand::Optimize(a) => optimize(ctx, a),
        ReportCommand::Paper(a) => paper(ctx, a),
        ReportCommand::Journal(a) => journal(ctx, *a),
    }
}

fn table_options(rows: usize) -> BacktestOptions {
    BacktestOptions {
        table_head: rows,
        table_tail: rows,
        ..BacktestOptions::default()
    }
}

fn paper(ctx: &Context, args: PaperReportArgs) -> Result<Outcome> {
    let home = ctx.home()?;
    let inst = &ctx.config.instruments;
    let data = ctx
        .db_read()?
        .read(|tx| compose_paper::read_account(tx, inst, args.account))?;
    let html = compose_paper::paper_page(&data, &home.store(), &table_options(args.rows))?;
    let out = args.out.unwrap_or_else(|| {
        default_out(&home, &format!("paper-account-{}", data.account.account_id))
    });
    let outputs = OutputPlan::new(&home).add("--out", &out)?.open()?;
    print_written(ctx, &write_page(outputs.path("--out"), &html)?)
}

fn journal(ctx: &Context, args: JournalReportArgs) -> Result<Outcome> {
    let home = ctx.home()?;
    let replayed = super::journal::analyze_replayed(ctx, &args.analyze)?;
    let html = compose_journal::journal_page(&replayed, &table_options(args.rows))?;
    let out = args.out.unwrap_or_else(|| {
        let a = &replayed.analysis;
        default_out(
            &home,
            &format!(
                "journal-{}-{}",
                path_safe_symbol(&a.strategy).to_lowercase(),
                path_safe_symbol(&a.symbol).to_lowercase()
            ),
        )
    });
    let outputs = OutputPlan::new(&home)
        .inputs("--playbook", &args.analyze.playbook)
        .add("--out", &out)?
        .open()?;
    print_written(ctx, &write_page(outputs.path("--out"), &html)?)
}

fn backtest(ctx: &Context, args: BacktestReportArgs) -> Result<Outcome> {
    let home = ctx.home()?;
    let playbook = match &args.playbook {
        Some(path) => Some((path.as_path(), Playbook::load(path)?)),
        None => None,
    };
    let spec = match &playbook {
        Some((path, pb)) => RunSpec::from_playbook_file(pb, path)?,
        None => run_spec(&args.target, &args.params, &args.settings)?,
    };
    let candles = spec.load(&home.store()).map_err(|e| match &playbook {
        Some((path, _)) => Error::invalid(format!(
            "{}: the playbook's data cannot be loaded: {e}",
            path.display()
        )),
        None => e,
    })?;
    let mut notes = Vec::new();
    if let Some((path, pb)) = &playbook
        && let Some(change) =
            DataChange::between(pb, &spec.data.symbol, spec.data.interval, &candles)
    {
        tracing::warn!("{}", change.message(path));
        notes.push(format!(
            "{}; the numbers below are those of the data now in the store, not the playbook's [metrics].",
            change.message(path)
        ));
    }
    let report = spec.run(&candles, &IndicatorCache::new())?;
    flowrex::backtest::refuse_unstopped(spec.strategy.name(), &spec.config, &report.run)?;
    let name = match &playbook {
        Some((path, _)) => format!("{}-backtest", file_stem(path)),
        None => format!(
            "{}_{}_{}-backtest",
            path_safe_symbol(&spec.data.symbol).to_lowercase(),
            spec.data.interval,
            spec.strategy.name()
        ),
    };
    let out = args.out.unwrap_or_else(|| default_out(&home, &name));
    let opts = BacktestOptions {
        table_head: args.rows,
        table_tail: args.rows,
        ..BacktestOptions::default()
    };
    let outputs = param_inputs(OutputPlan::new(&home), &spec.params)
        .inputs("--playbook", &args.playbook)
        .add("--out", &out)?
        .open()?;
    let html = compose::backtest_page(&spec, &candles, &report, &notes, &opts)?;
    print_written(ctx, &write_page(outputs.path("--out"), &html)?)
}

/// `--window K` needs a walk-forward playbook that has window K, and the run's results file (the
/// playbook holds the last window's search only).
fn refuse_bad_window(pb: &Playbook, args: &OptimizeReportArgs) -> Result<()> {
    let Some(k) = args.window else {
        return Ok(());
    };
    let path = args.playbook.display();
    let Some(wf) = &pb.walk_forward else {
        return Err(Error::usage(format!(
            "--window {k}: {path} is not a walk-forward playbook (it records one search)"
        )));
    };
    if k as usize >= wf.window.len() {
        return Err(Error::usage(format!(
            "--window {k}: {path} has walk-forward windows 0 to {}",
            wf.window.len().saturating_sub(1)
        )));
    }
    if args.results.is_empty() {
        return Err(Error::usage(format!(
            "--window {k} needs --results FILE: the search of each window is in the results file of the \
             `optimize --walk-forward` run, not in the playbook"
        )));
    }
    Ok(())
}

fn optimize(ctx: &Context, args: OptimizeReportArgs) -> Result<Outcome> {
    let pb = Playbook::load(&args.playbook)?;
    if args.top == 0 {
        return Err(Error::usage("--top must be at least 1"));
    }
    refuse_bad_window(&pb, &args)?;
    let rows = if args.results.is_empty() {
        None
    } else {
        Some(ResultRows::read(&args.results)?)
    };
    let view = OptimizeView {
        x: args.x,
        y: args.y,
        heat: match args.heat {
            Heat::AtBest => HeatMode::AtBest,
            Heat::Max => HeatMode::Max,
        },
        top_n: Some(args.top),
        window: args.window,
    };
    let origin = args.playbook.display().to_string();
    let html = compose::optimize_page(&pb, &origin, rows.as_ref(), &view)?;
    let out = match args.out {
        Some(p) => p,
        None => default_out(
            &ctx.home()?,
            &format!("{}-optimize", file_stem(&args.playbook)),
        ),
    };
    let outputs = OutputPlan::new(&Home::layout(&ctx.home_path))
        .inputs("--playbook", [&args.playbook])
        .inputs("--results", &args.results)
        .add("--out", &out)?
        .open()?;
    print_written(ctx, &write_page(outputs.path("--out"), &html)?)
}

fn file_stem(path: &Path) -> String {
    path.file_stem()
        .map_or_else(|| "report".into(), |s| s.to_string_lossy().into_owned())
}

fn default_out(home: &Home, name: &str) -> PathBuf {
    home.reports_dir().join(format!("{name}.html"))
}

/// A report page on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    /// Its absolute path.
    pub path: PathBuf,
    /// Its size.
    pub bytes: usize,
}

impl std::fmt::Display for Written {
    /// `report written to /abs/path.html (123 KB)`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "report written to {} ({} KB)",
            self.path.display(),
            self.bytes.div_ceil(1024)
        )
    }
}

/// Writes `html` to `out` atomically (creating its folder).
pub fn write_page(out: &Path, html: &str) -> Result<Written> {
    if out.is_dir() {
        return Err(Error::usage(format!(
            "{}: is a folder; name the HTML file to write",
            out.display()
        )));
    }
    write_atomic(out, html.as_bytes())?;
    Ok(Written {
        path: std::path::absolute(out).at(out)?,
        bytes: html.len(),
    })
}

fn print_written(ctx: &Context, w: &Written) -> Result<Outcome> {
    if ctx.json {
        print_json(&serde_json::json!({
            "report_file": w.path.display().to_string(),
            "bytes": w.bytes,
        }))?;
    } else {
        print_text(&w.to_string())?;
    }
    Ok(Outcome::Done)
}

/// `backtest --report FILE`: the backtest page of a run that was just made.
pub fn backtest_shortcut(
    out: &Path,
    spec: &RunSpec,
    candles: &Candles,
    report: &Report,
    notes: &[String],
) -> Result<Written> {
    let html = compose::backtest_page(spec, candles, report, notes, &BacktestOptions::default())?;
    write_page(out, &html)
}

/// `optimize --report FILE`: where the search writes its results for the report — the `--results`
/// file when given, else a temporary file beside the report (removed with the returned guard).
pub fn results_for_report(
    report: Option<&Path>,
    results: Option<&Path>,
) -> Result<(Option<PathBuf>, Option<tempfile::TempDir>)> {
    match (report, results) {
        (Some(out), None) => {
            let dir = parent_dir(out);
            std::fs::create_dir_all(&dir).at(&dir)?;
            let tmp = tempfile::Builder::new()
                .prefix(".flowrex-report-")
                .tempdir_in(&dir)
                .at(&dir)?;
            Ok((Some(tmp.path().join("results.parquet")), Some(tmp)))
        }
        (_, r) => Ok((r.map(Path::to_path_buf), None)),
    }
}

/// `optimize --report FILE`: the optimization page of the playbook just written (`pb`, saved at
/// `pb_path`) with the candidates in `results`.
pub fn optimize_shortcut(
    out: &Path,
    pb: &Playbook,
    pb_path: &Path,
    results: &Path,
) -> Result<Written> {
    let rows = ResultRows::read(&[results.to_path_buf()])?;
    let origin = pb_path.display().to_string();
    let html = compose::optimize_page(pb, &origin, Some(&rows), &OptimizeView::default())?;
    write_page(out, &html)
}
