//! The command line: global options, one file per subcommand (argument structs and rendering only), and
//! the dispatcher. Business logic lives in the library modules.

pub mod backtest;
pub mod fetch;
pub mod journal;
pub mod logging;
pub mod optimize;
pub mod optimize_wf;
pub mod output;
pub mod paper_run;
pub mod paper_trade;
pub mod playbooks;
pub mod report;
pub mod risk_check;
pub mod run_args;
pub mod shell;
pub mod table_fit;

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
/// closed stdout pipe (`flowrex … | head`) changes neither ([`output::print_text`] drops the rest).
pub fn exit_code(result: &Result<Outcome>) -> i32 {
    match result {
        Ok(outcome) => outcome.exit_code(),
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
    /// current folder. It must exist; only imports and `risk-check state --balance` create it. Paths
    /// typed on the command line are relative to the current folder, not to the home.
    #[arg(long, global = true, env = "FLOWREX_HOME", value_name = "DIR")]
    pub home: Option<PathBuf>,
    /// Print results as one JSON document on stdout instead of tables.
    #[arg(long, global = true)]
    pub json: bool,
    /// Tables with every column (by default tables fit 80 columns and say which they left out).
    #[arg(long, global = true)]
    pub wide: bool,
    /// No progress bars and no informational logs on stderr (errors still print).
    #[arg(long, short, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// More detail in the logs: -v debug, -vv trace (RUST_LOG, when set, wins).
    #[arg(long, short, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Log format on stderr. RUST_LOG sets the level (default: info).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Colour on stderr: auto (when stderr is a terminal and NO_COLOR is unset), always, never.
    #[arg(long, global = true, value_enum, default_value_t = logging::ColorChoice::Auto, value_name = "WHEN")]
    pub color: logging::ColorChoice,
    /// Also append the logs to FILE, with timestamps and without colour (at the -v/RUST_LOG level, also
    /// with --quiet).
    #[arg(long, global = true, value_name = "FILE")]
    pub log_file: Option<PathBuf>,
    /// Worker threads for parallel work, 1 to 1024 (default: one per core, or $RAYON_NUM_THREADS).
    // Capped: the pool starts every thread before any command runs, so `-j 16000` spent over 30 s
    // (and `-j 65535` was killed) before `fetch --list` printed a line; 1024 start in 1.2 s, 500 in
    // 0.2 s (the shared 2-core machine).
    #[arg(long, short = 'j', global = true, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub threads: Option<u16>,
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
    /// Print a shell completion script (bash, zsh, fish, powershell, elvish).
    Completions(shell::CompletionsArgs),
    /// Print the man page (roff), or write one page per subcommand with --out DIR.
    Man(shell::ManArgs),
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
        tracing::debug!(
            "home {} (from {}), flowrex.toml {}",
            absolute(&home_path).display(),
            if global.home.is_some() {
                "--home or FLOWREX_HOME"
            } else {
                "the current folder"
            },
            if Home::layout(&home_path).config_file().is_file() {
                "read"
            } else {
                "absent: defaults"
            }
        );
        Ok(Context {
            home_path,
            json: global.json,
            quiet: global.quiet,
            config,
            db: RefCell::new(None),
        })
    }

    /// `flowrex ARGS` as it can be pasted into a shell in any folder: with `--home DIR` (absolute)
    /// when the home is not the current folder. Paths in `args` should be [`absolute`] already.
    pub fn hint(&self, args: &str) -> String {
        let here = std::env::current_dir().and_then(std::fs::canonicalize).ok();
        let home = std::fs::canonicalize(&self.home_path).ok();
        match home {
            Some(h) if here.as_ref() != Some(&h) => {
                format!("flowrex --home {} {args}", shell_word(&h))
            }
            _ => format!("flowrex {args}"),
        }
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

/// The first of `flags` (a flag and whether it was given) that was given: for usage errors about
/// flags that do not apply.
pub fn first_given<'a>(flags: &[(&'a str, bool)]) -> Option<&'a str> {
    flags.iter().find(|(_, on)| *on).map(|(flag, _)| *flag)
}

/// `path` made absolute against the current folder (which is what a relative path on the command
/// line means), for messages a user may paste from another folder. Symlinks are kept as typed.
pub fn absolute(path: &std::path::Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

/// `path` as one shell word: as it is when it holds only characters no shell treats specially, else
/// in single quotes (a `'` inside written as `'\''`).
pub fn shell_word(path: &std::path::Path) -> String {
    let s = path.display().to_string();
    let plain = |c: char| c.is_ascii_alphanumeric() || "/._-+=:,@%".contains(c);
    if !s.is_empty() && s.chars().all(plain) {
        s
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// The last line after writing a playbook: where it is and the command that re-checks it, both
/// pasteable from any folder.
pub fn playbook_written(ctx: &Context, out: &std::path::Path) -> String {
    let abs = absolute(out);
    let check = ctx.hint(&format!("backtest --playbook {} --check", shell_word(&abs)));
    format!(
        "playbook written to {} — re-check with: {check}",
        abs.display()
    )
}

/// `message` with every command it suggests (written `` `flowrex …` ``, by the library too) made
/// pasteable from any folder: `--home DIR` added when the home is not the current folder.
pub fn pasteable(global: &GlobalArgs, message: &str) -> String {
    let home = global.home.clone().unwrap_or_else(|| PathBuf::from("."));
    // A home that does not exist yet (a hint may be how to create it) is taken as typed.
    let home = std::fs::canonicalize(&home).unwrap_or_else(|_| absolute(&home));
    let here = std::env::current_dir().and_then(std::fs::canonicalize).ok();
    if here.as_ref() == Some(&home) {
        return message.to_string();
    }
    message.replace(
        "`flowrex ",
        &format!("`flowrex --home {} ", shell_word(&home)),
    )
}

/// Runs the parsed command line and returns the process exit code.
pub fn run(cli: Cli) -> Result<Outcome> {
    table_fit::set_width(cli.global.wide);
    if let Some(n) = cli.global.threads {
        // rayon's global pool serves every parallel loop (optimize, walk-forward); it is built once,
        // before any of them runs, and wins over RAYON_NUM_THREADS.
        rayon::ThreadPoolBuilder::new()
            .num_threads(usize::from(n))
            .build_global()
            .map_err(|e| Error::invalid(format!("--threads {n}: {e}")))?;
        tracing::debug!(
            "{} worker threads (--threads)",
            rayon::current_num_threads()
        );
    }
    match cli.command {
        // Completions and the man page need no home and read no flowrex.toml (they run while
        // installing, from any folder).
        Command::Completions(args) => shell::completions(args),
        Command::Man(args) => shell::man(args),
        command => run_in_home(&cli.global, command),
    }
}

/// Runs a subcommand that works on a home.
fn run_in_home(global: &GlobalArgs, command: Command) -> Result<Outcome> {
    // A broken flowrex.toml is reported before any work starts, whatever the subcommand.
    let ctx = match Context::from_args(global) {
        Ok(ctx) => ctx,
        Err(e) => {
            // `paper-trade run --metrics-file` still says it failed (an unwatched cron job).
            if let Command::PaperTrade(p) = &command
                && let paper_trade::Action::Run(a) = &p.action
            {
                let home = global.home.clone().unwrap_or_else(|| PathBuf::from("."));
                paper_run::failed_before_start(&home, a);
            }
            return Err(e);
        }
    };
    match command {
        Command::Fetch(args) => fetch::run(&ctx, *args),
        Command::Backtest(args) => backtest::run(&ctx, *args),
        Command::Optimize(args) => optimize::run(&ctx, *args),
        Command::Report(args) => report::run(&ctx, *args),
        Command::RiskCheck(args) => risk_check::run(&ctx, *args),
        Command::Journal(args) => journal::run(&ctx, *args),
        Command::PaperTrade(args) => paper_trade::run(&ctx, *args),
        Command::Playbooks(args) => playbooks::run(&ctx, *args),
        Command::Completions(args) => shell::completions(args),
        Command::Man(args) => shell::man(args),
    }
}

/// Parses the command line: clap's help and usage errors follow `--color` (read before parsing), and
/// with `--log-format json` a usage error is one JSON line too (exit 2).
pub fn parse() -> Cli {
    use clap::{CommandFactory, FromArgMatches};
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let (color, format) = logging::early_flags(&args);
    let mut cmd = Cli::command().color(color.for_clap());
    if let Some(width) = table_fit::help_width() {
        cmd = cmd.term_width(width);
    }
    let parsed = cmd
        .try_get_matches_from(&args)
        .and_then(|m| Cli::from_arg_matches(&m));
    match parsed {
        Ok(cli) => cli,
        Err(e) if format == LogFormat::Json && e.use_stderr() => {
            let text = e.render().to_string();
            let message = text.trim().trim_start_matches("error: ");
            let time = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
            eprintln!("{}", logging::error_line(format, message, 2, Some(time)));
            std::process::exit(2);
        }
        Err(e) => e.exit(),
    }
}

#[cfg(test)]
mod tests {
    use super::shell_word;
    use std::path::Path;

    #[test]
    fn shell_words_quote_what_a_shell_would_split() {
        assert_eq!(
            shell_word(Path::new("/srv/flowrex/home")),
            "/srv/flowrex/home"
        );
        assert_eq!(shell_word(Path::new("/tmp/my home")), "'/tmp/my home'");
        assert_eq!(shell_word(Path::new("/tmp/it's")), "'/tmp/it'\\''s'");
        assert_eq!(shell_word(Path::new("/tmp/$x")), "'/tmp/$x'");
    }
}
