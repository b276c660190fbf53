//! The command line: global options, one file per subcommand (argument structs and rendering only), and
//! the dispatcher. Business logic lives in the library modules.

pub mod backtest;
pub mod fetch;
pub mod optimize;
pub mod output;
pub mod risk_check;
pub mod run_args;

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

use flowrex::config::Config;
use flowrex::error::Result;

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
    /// current folder.
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
    /// Gate a trade against the risk limits (exit 0 approved, 3 rejected); risk state, limits, audit log.
    RiskCheck(Box<risk_check::RiskCheckArgs>),
}

/// What every subcommand gets: the resolved home folder and output preferences.
#[derive(Debug, Clone)]
pub struct Context {
    /// The workspace folder.
    pub home: PathBuf,
    /// Print JSON instead of tables.
    pub json: bool,
    /// Suppress progress and informational output.
    pub quiet: bool,
    /// The home's `flowrex.toml` (defaults when there is none).
    pub config: Config,
}

impl Context {
    /// Resolves the home folder from the global options (`--home`, `$FLOWREX_HOME`, else `.`) and reads
    /// its configuration.
    pub fn from_args(global: &GlobalArgs) -> Result<Context> {
        let home = global.home.clone().unwrap_or_else(|| PathBuf::from("."));
        let config = Config::load(&home)?;
        Ok(Context {
            home,
            json: global.json,
            quiet: global.quiet,
            config,
        })
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
        Command::RiskCheck(args) => risk_check::run(&ctx, *args),
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
