//! The command line: global options, one file per subcommand (argument structs and rendering only), and
//! the dispatcher. Business logic lives in the library modules.

pub mod backtest;
pub mod fetch;
pub mod journal;
pub mod optimize;
pub mod optimize_wf;
pub mod output;
pub mod paper_trade;
pub mod playbooks;
pub mod report;
pub mod risk_check;
pub mod run_args;

use std::cell::{RefCell, RefMut};
use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

use flowrex::config::Config;
use flowrex::db::Db;
use flowrex::error::{Error, Result};
use flowrex::home::Home;

/// Exit codes, as documented in `--help` and the README.
pub const EXIT_CODES_HELP: &str = "Exit codes: 0 success; 1 error (bad input, I/O, network); \
2 usage error; 3 a check said no (risk rejected, regression detected, verification failed); \
130 interrupted (Ctrl-C; optimize writes what it evaluated).";

/// What a subcommand reports back. `main` maps it (and every error) to the process exit code in one
/// place: [`Outcome::exit_code`] and [`exit_code`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Everything asked for was done (exit 0).
    Done,
    /// Part of the work failed and was reported on stdout, the rest was done (exit 1): one symbol of
    /// several, a damaged file in an inventory, a bad line of `--stdin`.
    PartlyFailed,
    /// A check said no and its reasons were printed (exit 3): a risk rejection.
    Refused,
    /// Ctrl-C stopped the work; what was done is saved (exit 130).
    Interrupted,
}

/// Exit code after Ctrl-C (128 + SIGINT), as shells report it.
pub const EXIT_INTERRUPTED: i32 = 130;

impl Outcome {
    /// The documented exit code of this outcome.
    pub fn exit_code(self) -> i32 {
        match self {
            Outcome::Done => 0,
            Outcome::PartlyFailed => 1,
            Outcome::Refused => 3,
            Outcome::Interrupted => EXIT_INTERRUPTED,
        }
    }
}

/// The exit code of a run: the outcome's, or the error's (1 error, 2 usage, 3 a check said no). A
/// closed stdout pipe (`flowrex … | head`) is a quiet success.
pub fn exit_code(result: &Result<Outcome>) -> i32 {
    match result {
        Ok(outcome) => outcome.exit_code(),
        Err(e) if output::is_closed_pipe(e) => 0,
        Err(e) => e.exit_code(),
    }
}

/// Flowrex: fetch candles, backtest, optimize, journal, risk-check and paper-trade from the shell.
#[derive(Debug, Parser)]
#[command(name = "flowrex", version, about, after_help = EXIT_CODES_HELP)]
pub struct Cli {
    /// Options shared by every subcommand.
    #[command(flatten)]
    pub global: GlobalArgs,
    /// The subcommand to run.
    #[command(subcommand)]
    pub command: Command,
}

/// Options shared by every subcommand.
#[derive(Debug, Clone, clap::Args)]
pub struct GlobalArgs {
    /// Workspace folder (data/, playbooks/, flowrex.toml, flowrex.db). Default: $FLOWREX_HOME, else the
    /// current folder. It must exist; only imports and `risk-check state --balance` create it.
    #[arg(long, global = true, env = "FLOWREX_HOME", value_name = "DIR")]
    pub home: Option<PathBuf>,
    /// Print results as one JSON document on stdout instead of tables.
    #[arg(long, global = true)]
    pub json: bool,
    /// No progress bars and no informational logs on stderr (errors still print).
    #[arg(long, short, global = true)]
    pub quiet: bool,
    /// Log format on stderr. `RUST_LOG` sets the level (default: info).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

/// How logs are written to stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Import or fetch candles into the store; list and verify stored files.
    Fetch(Box<fetch::FetchArgs>),
    /// Run a strategy over stored candles: metrics, trades, equity curve; re-run or check a playbook.
    Backtest(Box<backtest::BacktestArgs>),
    /// Search a strategy's parameters in parallel (grid, random, genetic, pso) and write a playbook.
    Optimize(Box<optimize::OptimizeArgs>),
    /// Write one self-contained HTML page of a backtest or an optimization (charts, tables, verdicts).
    Report(Box<report::ReportArgs>),
    /// Gate a trade against the risk limits (exit 0 approved, 3 rejected); risk state, limits, audit log.
    RiskCheck(Box<risk_check::RiskCheckArgs>),
    /// The append-only trade journal: list, stats, import, verify, analyze against the backtest, feedback.
    Journal(Box<journal::JournalArgs>),
    /// Paper trading: orders, fills, positions and an account derived from the fill ledger; process the
    /// bars that arrived since the last run (exit 3 when risk denies an order).
    PaperTrade(Box<paper_trade::PaperTradeArgs>),
    /// Playbooks: list them (status, objective, whether their data still matches), show one, set a
    /// status (candidate, active, retired) with a note.
    Playbooks(Box<playbooks::PlaybooksArgs>),
}

/// What every subcommand gets: the resolved home path, its configuration, output preferences, and the
/// process's one connection to the state database (opened on first use).
#[derive(Debug)]
pub struct Context {
    /// The workspace folder as given (`--home`, `$FLOWREX_HOME`, else `.`). It may not exist: commands
    /// ask for a [`Home`] with [`Context::home`] (reading state) or [`Context::create_home`] (creating it).
    pub home_path: PathBuf,
    /// Print JSON instead of tables.
    pub json: bool,
    /// Suppress progress and informational output.
    pub quiet: bool,
    /// The home's `flowrex.toml` (defaults when there is none, or no home yet).
    pub config: Config,
    /// The state database, opened at most once per process by [`Context::db`].
    db: RefCell<Option<Db>>,
}

impl Context {
    /// Resolves the home folder from the global options (`--home`, `$FLOWREX_HOME`, else `.`) and reads
    /// its configuration. Nothing is created.
    pub fn from_args(global: &GlobalArgs) -> Result<Context> {
        let home_path = global.home.clone().unwrap_or_else(|| PathBuf::from("."));
        let config = Config::load_file(&Home::layout(&home_path).config_file())?;
        Ok(Context {
            home_path,
            json: global.json,
            quiet: global.quiet,
            config,
            db: RefCell::new(None),
        })
    }

    /// The home folder, which must exist: commands that read state refuse a missing one (a mistyped
    /// `--home`) instead of starting from an empty state.
    pub fn home(&self) -> Result<Home> {
        Home::existing(&self.home_path)
    }

    /// The home folder, created if it does not exist (and said so on stderr), for the commands that
    /// create state on purpose: imports and setting the risk balance.
    pub fn create_home(&self) -> Result<Home> {
        let (home, created) = Home::create(&self.home_path)?;
        if created {
            tracing::info!("created home folder {}", home.root().display());
        }
        Ok(home)
    }

    /// The state database of the (existing) home, opened on the first call and shared by every later
    /// one, so a process holds one connection and can run several operations in one transaction.
    pub fn db(&self) -> Result<RefMut<'_, Db>> {
        let mut slot = self
            .db
            .try_borrow_mut()
            .map_err(|_| Error::invalid("the state database is already in use by this command"))?;
        if slot.is_none() {
            *slot = Some(self.home()?.open_db()?);
        }
        Ok(RefMut::map(slot, |db| db.as_mut().expect("opened above")))
    }

    /// The state database of the (existing) home opened for reading only ([`Home::open_db_read`]), for
    /// commands that only read it: a user who may read the home but not write to it can run them. Shares
    /// the slot of [`Context::db`] (a process opens the database once).
    pub fn db_read(&self) -> Result<RefMut<'_, Db>> {
        let mut slot = self
            .db
            .try_borrow_mut()
            .map_err(|_| Error::invalid("the state database is already in use by this command"))?;
        if slot.is_none() {
            *slot = Some(self.home()?.open_db_read()?);
        }
        Ok(RefMut::map(slot, |db| db.as_mut().expect("opened above")))
    }

    /// Whether progress bars may be drawn: stderr is a terminal and `--quiet` is off.
    pub fn show_progress(&self) -> bool {
        use std::io::IsTerminal;
        !self.quiet && std::io::stderr().is_terminal()
    }
}

/// Runs the parsed command line and returns the process exit code.
pub fn run(cli: Cli) -> Result<Outcome> {
    // A broken flowrex.toml is reported before any work starts, whatever the subcommand.
    let ctx = Context::from_args(&cli.global)?;
    match cli.command {
        Command::Fetch(args) => fetch::run(&ctx, *args),
        Command::Backtest(args) => backtest::run(&ctx, *args),
        Command::Optimize(args) => optimize::run(&ctx, *args),
        Command::Report(args) => report::run(&ctx, *args),
        Command::RiskCheck(args) => risk_check::run(&ctx, *args),
        Command::Journal(args) => journal::run(&ctx, *args),
        Command::PaperTrade(args) => paper_trade::run(&ctx, *args),
        Command::Playbooks(args) => playbooks::run(&ctx, *args),
    }
}

/// Sets up `tracing` on stderr: `RUST_LOG` wins, else `info` (or `error` with `--quiet`).
pub fn init_logging(global: &GlobalArgs) {
    use tracing_subscriber::EnvFilter;
    let default = if global.quiet { "error" } else { "info" };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false);
    let _ = match global.log_format {
        LogFormat::Text => builder.without_time().try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}
