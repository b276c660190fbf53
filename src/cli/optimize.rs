//! `flowrex optimize`: search a strategy's parameters (grid, random, genetic, particle swarm) in
//! parallel, write the playbook TOML and optionally every candidate to a results Parquet file;
//! `flowrex optimize merge` combines shard playbooks.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use serde::Deserialize;

use super::optimize_wf::{self, ValidationArgs, WalkJob};
use super::output::{print_json, print_text, progress_bar, table};
use super::run_args::{SettingsArgs, TargetArgs, check_spec_keys, param_inputs};
use super::{Context, Outcome};
use flowrex::candles::store::path_safe_symbol;
use flowrex::error::{Error, Result, toml_line};
use flowrex::indicators::cache::DEFAULT_BUDGET_MB;
use flowrex::optimize::merge_results::{self, ShardPart};
use flowrex::optimize::results::{self, ResultsWriter};
use flowrex::optimize::{
    self, Method, Objective, Observer, Outcome as Evaluated, Settings, Shard, Space,
};
use flowrex::outputs::OutputPlan;
use flowrex::playbook::Playbook;
use flowrex::strategy;

/// Set by Ctrl-C: evaluators stop taking new candidates.
static STOP: AtomicBool = AtomicBool::new(false);

const AFTER_HELP: &str = "Methods — which to use when:
  grid     every feasible candidate; exact and the default. Use it when the grid has up to ~10^5
           candidates (it is parallel, streamed and shardable).
  random   --samples N distinct candidates drawn with --seed; a quick map of a big space, shardable.
  genetic  --population P --generations G: tournament selection, crossover, mutation, elitism; no
           candidate is evaluated twice. Use it on big, rugged spaces where grid is too slow.
  pso      particle swarm (argmin) over the grid coordinates: --population particles for --generations
           iterations. Use it on smooth numeric spaces; it converges in few evaluations.
  explore  --samples N distinct candidates in batches of --population (default 20): each batch 20%
           uniform draws, 80% mutations of the best so far. A simple local search around the leaders.
  tpe      tree-structured Parzen estimator (Optuna's TPE): --samples N distinct candidates in batches
           of --population (default 8), each batch proposed from densities of the good and the bad
           candidates so far. Use it when the budget is a small share of a big space.
  With --shard K/N, grid and random evaluate every N-th candidate (merging all N outputs gives exactly
  the single-run playbook); genetic, pso, explore and tpe run an independent island per shard (seed
  mixed with K).

Parameters: --param fast=5..50:5 (ints; step 1 when omitted), --param x=0.5..2.0:0.25 (floats need a
step), --param mode=a,b,c (lists), --param n=10 (fixed). Unmentioned parameters keep their defaults;
with no --param at all every parameter takes its declared search range (backtest --list-strategies).
Constraints: --constraint \"fast < slow\" (< <= > >= == != between parameters or numbers). A candidate
is ranked when its objective is finite and it made at least --min-trades closed trades; ties rank by
grid index, so any thread count gives the same playbook.

--spec FILE.toml holds the same settings for cron jobs (flags win over it; a --param replaces the
spec's entry for that parameter only, the spec's other parameters stay):
  strategy = \"sma_cross\"  symbol = \"GOOG\"  interval = \"1d\"  objective = \"sharpe\"
  params = [\"fast=5..50:5\", \"slow=10..200:10\"]  constraints = [\"fast < slow\"]  out = \"playbooks/goog.toml\"

Examples:
  flowrex optimize --strategy sma_cross --symbol GOOG --interval 1d --param fast=5..50:5 \\
      --param slow=10..200:10 --constraint \"fast < slow\" --objective sharpe --commission 0.002 \\
      --out playbooks/goog_sma_cross.toml
  flowrex optimize --spec nightly.toml --shard 3/8 --results part3.parquet --quiet
  flowrex optimize merge part*.toml --out playbooks/sweep.toml --results results/sweep.parquet

Validation: every playbook gets [validation] — PSR, the deflated Sharpe ratio (DSR), MinTRL and the
probability of backtest overfitting (PBO, --pbo-blocks S) from every candidate's per-period returns
(--returns-matrix FILE writes them). --walk-forward --train LEN --test LEN [--step LEN] [--purge LEN]
[--anchored] searches each train window, trades its best on the test window after it, and adds
[walk_forward] (LEN: bars such as 500, or 90m 12h 180d 8w 6M 1y). Gates --max-pbo X, --min-dsr Y,
--min-wfe Z, --min-positive-windows K (all in [0, 1]) write their verdicts and exit 3 when one fails.

Ctrl-C stops cleanly: what was evaluated is written with status = \"interrupted\" and the exit code is
130. No candidate meeting --min-trades: exit 1 and no playbook. Exit codes: 0 success; 1 error; 2 usage
error; 3 a gate failed (the playbook is written with the verdicts); 130 interrupted.";

/// Arguments of `flowrex optimize` (every field can also come from `--spec FILE.toml`).
#[derive(Debug, Default, clap::Args, Deserialize)]
#[command(args_conflicts_with_subcommands = true, after_help = AFTER_HELP)]
// A spec file is read part by part (see `load_spec`); unknown keys are refused by `check_spec_keys`.
#[serde(default)]
pub struct OptimizeArgs {
    /// `merge`: combine shard playbooks.
    #[command(subcommand)]
    #[serde(skip)]
    pub command: Option<OptimizeCommand>,
    /// TOML file with any of these settings (keys as the flags, `params` and `constraints` as lists).
    #[arg(long, value_name = "FILE")]
    #[serde(skip)]
    pub spec: Option<PathBuf>,
    /// Strategy, symbol, interval.
    #[command(flatten)]
    #[serde(skip)]
    pub target: TargetArgs,
    /// Searched values: name=a..b[:step], name=v1,v2,… or name=v; repeat per parameter.
    #[arg(long = "param", value_name = "NAME=VALUES")]
    pub params: Vec<String>,
    /// A relation every candidate must satisfy, e.g. "fast < slow"; repeatable.
    #[arg(long = "constraint", value_name = "EXPR")]
    pub constraints: Vec<String>,
    /// Metric to maximize: return, sharpe, sortino, calmar, profit_factor, sqn, expectancy [default: sharpe].
    #[arg(long)]
    pub objective: Option<String>,
    /// Candidates with fewer closed trades are not ranked [default: 1].
    #[arg(long, value_name = "N")]
    pub min_trades: Option<usize>,
    /// grid, random, genetic, pso, explore or tpe (see below) [default: grid].
    #[arg(long)]
    pub method: Option<String>,
    /// Random, explore, tpe: distinct candidates to evaluate [default: 100].
    #[arg(long, value_name = "N")]
    pub samples: Option<u64>,
    /// Genetic: individuals per generation; pso: particles [default: 32]; explore, tpe: candidates
    /// per batch [default: 20, 8].
    #[arg(long, value_name = "P")]
    pub population: Option<usize>,
    /// Genetic: generations; pso: iterations [default: 20].
    #[arg(long, value_name = "G")]
    pub generations: Option<usize>,
    /// Seed of random, genetic and pso search [default: 42].
    #[arg(long)]
    pub seed: Option<u64>,
    /// Best candidates kept in the playbook's [[top]] [default: 10].
    #[arg(long, value_name = "K")]
    pub top: Option<usize>,
    /// Playbook to write [default: <home>/playbooks/<symbol>_<interval>_<strategy>.toml].
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Also write every evaluated candidate (parameters + metrics) to this Parquet file.
    #[arg(long, value_name = "FILE")]
    pub results: Option<PathBuf>,
    /// Replace the playbook at --out even when it is not a `candidate` (promoted to active or retired)
    /// or was edited by hand since flowrex wrote it; without it such a file is refused before the search.
    #[arg(long)]
    pub force: bool,
    /// Write gauges for cron monitoring to this node_exporter textfile (PATH.prom, atomically): last
    /// success time, duration, candidates, best objective; labelled with the playbook's name.
    #[arg(long, value_name = "PATH.prom")]
    pub metrics_file: Option<PathBuf>,
    /// Also write the search's HTML report to this file (see `flowrex report optimize`).
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// Evaluate only slice K of N (cluster array jobs); combine with `optimize merge`.
    #[arg(long, value_name = "K/N")]
    pub shard: Option<String>,
    /// Memory for cached indicator series, in MB (the help text names the default from the constant).
    #[arg(long, value_name = "MB", help = format!(
        "Memory for cached indicator series, in MB; idle ones beyond it are dropped and recomputed \
         when needed again (results never change) [default: {DEFAULT_BUDGET_MB}]"
    ))]
    pub cache_mb: Option<usize>,
    /// Settings and time window.
    #[command(flatten)]
    #[serde(skip)]
    pub settings: SettingsArgs,
    /// Overfitting statistics, gates and walk-forward.
    #[command(flatten)]
    #[serde(skip)]
    pub validation: ValidationArgs,
}

/// Subcommands of `flowrex optimize`.
#[derive(Debug, clap::Subcommand)]
pub enum OptimizeCommand {
    /// Combine the playbooks of all N shards of one search into the playbook one run would write.
    Merge(MergeArgs),
}

/// Arguments of `flowrex optimize merge`.
#[derive(Debug, clap::Args)]
pub struct MergeArgs {
    /// The shard playbooks (one per shard 1..N).
    #[arg(required = true, value_name = "PART.toml")]
    pub parts: Vec<PathBuf>,
    /// Playbook to write.
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Also merge the shards' `--results` files (each playbook names its own) into this Parquet file,
    /// in the order a single run writes its rows.
    #[arg(long, value_name = "FILE")]
    pub results: Option<PathBuf>,
    /// Merge shards that were interrupted too (the merged playbook says `status = "interrupted"`);
    /// without it such a shard is refused, by name.
    #[arg(long)]
    pub allow_partial: bool,
    /// Merge shards written by different flowrex versions (a warning on stderr, and the merged
    /// playbook's notes name the versions); without it they are refused, naming each version's files:
    /// a release may change metrics, and the merge ranks the shards' numbers as one search's.
    #[arg(long)]
    pub allow_mixed_versions: bool,
    /// Replace --out even when it is not a `candidate` playbook or was edited by hand.
    #[arg(long)]
    pub force: bool,
}

impl OptimizeArgs {
    /// Fills every unset field from `spec` (flags win). `--param` merges per parameter name (a flag
    /// replaces the spec's entry of the same name, the spec's other entries stay); constraints come from
    /// the spec only when no flag gave any.
    fn with_spec(mut self, spec: OptimizeArgs) -> OptimizeArgs {
        macro_rules! fill {
            ($($f:ident),*) => { $( if self.$f.is_none() { self.$f = spec.$f; } )* };
        }
        fill!(
            objective,
            min_trades,
            method,
            samples,
            population,
            generations,
            seed,
            top,
            out,
            results,
            report,
            shard,
            cache_mb,
            metrics_file
        );
        self.params = merge_params(spec.params, std::mem::take(&mut self.params));
        if self.constraints.is_empty() {
            self.constraints = spec.constraints;
        }
        self.force |= spec.force;
        self.target = self.target.or(spec.target);
        self.settings = self.settings.or(spec.settings);
        self.validation = self.validation.or(spec.validation);
        self
    }
}

/// The spec's `params` entries whose parameter no flag names, then the flags' entries: flags win per
/// parameter name. An entry without `=` keeps its place (the space reports it as malformed later).
fn merge_params(spec: Vec<String>, flags: Vec<String>) -> Vec<String> {
    let name = |p: &str| p.split_once('=').map(|(n, _)| n.trim().to_string());
    let named: Vec<String> = flags.iter().filter_map(|f| name(f)).collect();
    let mut out: Vec<String> = spec
        .into_iter()
        .filter(|s| name(s).is_none_or(|n| !named.contains(&n)))
        .collect();
    out.extend(flags);
    out
}

/// Reads a spec file: every key must be one of the flags' ids (`--spec` itself excepted). The shared
/// flag groups are read from the same text as the rest, each ignoring the others' keys: unlike
/// `#[serde(flatten)]`, this keeps TOML's line and column in a type error.
fn load_spec(path: &Path) -> Result<OptimizeArgs> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let usage = |e: toml::de::Error| {
        Error::usage(format!(
            "--spec {}: {}",
            path.display(),
            toml_line(&text, &e)
        ))
    };
    let table: toml::Table = toml::from_str(&text).map_err(usage)?;
    check_spec_keys::<OptimizeArgs>(&table, path, &["spec"])?;
    let mut spec: OptimizeArgs = toml::from_str(&text).map_err(usage)?;
    spec.target = toml::from_str(&text).map_err(usage)?;
    spec.settings = toml::from_str(&text).map_err(usage)?;
    spec.validation = toml::from_str(&text).map_err(usage)?;
    Ok(spec)
}

fn method(a: &OptimizeArgs) -> Result<Method> {
    let population = a.population.unwrap_or(32);
    let generations = a.generations.unwrap_or(20);
    let m = a.method.as_deref().unwrap_or("grid");
    Ok(match m {
        "grid" => Method::Grid,
        "random" => {
            let samples = a.samples.unwrap_or(100);
            if samples == 0 {
                return Err(Error::usage("--samples must be at least 1"));
            }
            Method::Random { samples }
        }
        "genetic" => {
            if population < 2 || generations < 1 {
                return Err(Error::usage(
                    "--population must be at least 2 and --generations at least 1",
                ));
            }
            Method::Genetic {
                population,
                generations,
            }
        }
        "pso" => {
            if population < 2 {
                return Err(Error::usage("--population (particles) must be at least 2"));
            }
            Method::Pso {
                particles: population,
                iterations: generations,
            }
        }
        "explore" | "tpe" => {
            let samples = a.samples.unwrap_or(100);
            let batch = a.population.unwrap_or(if m == "tpe" { 8 } else { 20 });
            if samples == 0 || batch == 0 {
                return Err(Error::usage(
                    "--samples and --population (batch size) must be at least 1",
                ));
            }
            if m == "tpe" {
                Method::Tpe { samples, batch }
            } else {
                Method::Explore { samples, batch }
            }
        }
        m => {
            return Err(Error::usage(format!(
                "--method {m}: unknown method; use grid, random, genetic, pso, explore or tpe"
            )));
        }
    })
}

/// Progress bar + results file, fed from the evaluator threads.
struct CliObserver {
    results: Option<ResultsWriter>,
    bar: Option<indicatif::ProgressBar>,
    best: Mutex<f64>,
}

impl Observer for CliObserver {
    fn evaluated(&self, seq: u64, outcome: &Evaluated) {
        if let Some(r) = &self.results {
            r.send(seq, outcome);
        }
        if let Some(bar) = &self.bar {
            if let Some(v) = outcome.rank {
                let mut best = self.best.lock().unwrap_or_else(|p| p.into_inner());
                if best.is_nan() || v > *best {
                    *best = v;
                    bar.set_message(format!("best {v:.4} ({})", outcome.params));
                }
            }
            bar.inc(1);
        }
    }

    fn wants_metrics(&self) -> bool {
        self.results.is_some()
    }
}

/// Runs `flowrex optimize`.
pub fn run(ctx: &Context, args: OptimizeArgs) -> Result<Outcome> {
    let mut args = args;
    if let Some(OptimizeCommand::Merge(m)) = args.command.take() {
        return merge(ctx, m);
    }
    if let Some(spec) = args.spec.clone() {
        args = args.with_spec(load_spec(&spec)?);
    }
    let Some(metrics_file) = args.metrics_file.clone() else {
        return search(ctx, args, &mut None);
    };
    let started = std::time::Instant::now();
    let mut out = None;
    let result = search(ctx, args, &mut out);
    // A run that wrote its playbook (exit 0, or 3 when a gate failed) succeeded as a search.
    let succeeded = matches!(result, Ok(Outcome::Done) | Err(Error::CheckFailed(_)));
    if let Some(out) = &out {
        let pb = if succeeded {
            Some(Playbook::load(out)?)
        } else {
            None
        };
        let run = SearchRun {
            playbook: out,
            written: pb.as_ref(),
            seconds: started.elapsed().as_secs_f64(),
        };
        run.metrics(&metrics_file)?.write(&metrics_file)?;
    }
    result
}

/// What `--metrics-file` reports of one optimize run.
struct SearchRun<'a> {
    /// The playbook file the run was to write.
    playbook: &'a Path,
    /// The playbook written, when the search succeeded.
    written: Option<&'a Playbook>,
    /// Wall time of the whole run.
    seconds: f64,
}

impl SearchRun<'_> {
    /// The gauges, labelled `playbook="<file stem>"`. A failed run keeps the previous file's last
    /// success time (so `time() - …_last_success_timestamp_seconds` keeps growing) and reports 0 for
    /// `…_last_run_success`.
    fn metrics(&self, file: &Path) -> Result<flowrex::prom::TextFile> {
        use flowrex::prom::{TextFile, now_seconds};
        let name = self
            .playbook
            .file_stem()
            .map_or_else(String::new, |s| s.to_string_lossy().into_owned());
        let labels = [("playbook", name.as_str())];
        let mut f = TextFile::new();
        f.last_success(
            "flowrex_optimize_last_success_timestamp_seconds",
            "When an optimize run last wrote its playbook (Unix time).",
            &labels,
            self.written.is_some(),
            file,
        )?;
        let ok = if self.written.is_some() { 1.0 } else { 0.0 };
        let mut gauges: Vec<(&str, &str, f64)> = vec![
            (
                "flowrex_optimize_last_run_timestamp_seconds",
                "When the last optimize run ended (Unix time).",
                now_seconds(),
            ),
            (
                "flowrex_optimize_last_run_success",
                "1 when the last optimize run wrote its playbook, else 0.",
                ok,
            ),
            (
                "flowrex_optimize_duration_seconds",
                "Wall time of the last optimize run.",
                self.seconds,
            ),
        ];
        gauges.extend(self.written.map(result_gauges).unwrap_or_default());
        for (metric, help, value) in gauges {
            f.gauge(metric, help, &labels, value)?;
        }
        let best = self.written.and_then(|pb| {
            let o = pb.optimization.as_ref()?;
            Some((o.objective.as_str(), pb.top.first()?.objective))
        });
        if let Some((objective, value)) = best {
            let labels = [("playbook", name.as_str()), ("objective", objective)];
            let help = "The best candidate's objective value.";
            f.gauge("flowrex_optimize_best_objective", help, &labels, value)?;
        }
        Ok(f)
    }
}

/// The gauges of a written playbook: candidates evaluated, feasible and ranked, gates failed.
fn result_gauges(pb: &Playbook) -> Vec<(&'static str, &'static str, f64)> {
    let mut gauges = Vec::new();
    if let Some(o) = &pb.optimization {
        gauges.extend([
            (
                "flowrex_optimize_candidates",
                "Candidates backtested by the last successful run.",
                o.evaluated as f64,
            ),
            (
                "flowrex_optimize_candidates_feasible",
                "Feasible candidates in the searched space.",
                o.feasible as f64,
            ),
            (
                "flowrex_optimize_candidates_ranked",
                "Candidates ranked (finite objective, enough trades).",
                o.ranked as f64,
            ),
        ]);
    }
    let failed = pb
        .validation
        .as_ref()
        .map_or(0, |v| v.gates.iter().filter(|g| !g.pass).count());
    let help = "Gates (--max-pbo, --min-dsr, ...) the playbook failed.";
    gauges.push(("flowrex_optimize_gates_failed", help, failed as f64));
    gauges
}

/// The search itself (everything after the spec file was merged); sets `written_to` to the playbook
/// file once it is known and every output (the metrics file too) passed the output rules.
fn search(ctx: &Context, args: OptimizeArgs, written_to: &mut Option<PathBuf>) -> Result<Outcome> {
    // Every input is checked before any work starts.
    let strategy = args.target.strategy()?;
    let symbol = args.target.symbol()?.to_string();
    let interval = args.target.interval()?;
    let (settings, plan, config) = settings_of(&args, strategy)?;
    parquet_named(args.results.as_deref())?;
    let feasible = optimize::check_space(&settings)?;
    let data = args.settings.data(&symbol, interval)?;
    let home = ctx.home()?;
    let mut phase = Phases::start();
    let candles = data.load(&home.store())?;
    phase.done("load");
    let out = args.out.clone().unwrap_or_else(|| {
        default_playbook_file(&home, &symbol, interval, strategy.name(), settings.shard)
    });
    let name = out
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "playbook".into());
    let outputs = open_outputs(&home, &settings, &args, &out)?;
    // Only now: a --metrics-file the output rules refused (in the store, over --out) is never written.
    *written_to = Some(out.clone());
    // After the output rules (they name a misplaced --out first), before the search.
    if !args.force {
        flowrex::playbook::check_replaceable(outputs.path("--out"))?;
    }
    stop_on_ctrl_c();
    preflight_risk_sizing(&settings, &candles, &config)?;
    let planned = settings.method.planned(feasible, settings.shard);
    if let Some(wf) = &plan.walk {
        let job = WalkJob {
            settings: &settings,
            data: &data,
            candles: &candles,
            config: &config,
            out: &out,
            name: &name,
            results: args.results.as_deref(),
            report: outputs.get("--report"),
            stop: &STOP,
            planned,
        };
        return optimize_wf::run_walk(ctx, &plan, wf, job);
    }
    let job = Job {
        settings: &settings,
        plan: &plan,
        data: &data,
        candles: &candles,
        config: &config,
        outputs: &outputs,
        out: &out,
        name: &name,
        results_flag: args.results.as_deref(),
    };
    tracing::info!(
        "{} {} {}: {} bars, {} feasible candidates, {} planned ({})",
        strategy.name(),
        symbol,
        interval,
        candles.len(),
        feasible,
        planned,
        settings.method.name()
    );
    let Some(done) = job.run(ctx, planned, &mut phase)? else {
        return Ok(Outcome::Interrupted);
    };
    drop(outputs);
    print_summary(ctx, &out, candles.len(), &done, args.results.as_deref())?;
    if done.report.interrupted {
        return Ok(Outcome::Interrupted);
    }
    optimize_wf::gate_verdict(&done.pb, &out).map(|()| Outcome::Done)
}

/// The search settings, the validation plan and the backtest configuration of the arguments, in
/// the order their errors are reported.
fn settings_of(
    args: &OptimizeArgs,
    strategy: &'static dyn strategy::Strategy,
) -> Result<(Settings, optimize_wf::Plan, flowrex::engine::BacktestConfig)> {
    let objective = Objective::parse(args.objective.as_deref().unwrap_or("sharpe"))?;
    let pairs = args
        .params
        .iter()
        .map(|p| {
            strategy::params::split_assignment(p).map_err(|_| {
                Error::usage(format!(
                    "--param `{p}`: expected name=values, e.g. --param fast=5..50:5"
                ))
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let space = Space::new(strategy, &pairs, &args.constraints)?;
    let method = method(args)?;
    let shard = match &args.shard {
        Some(s) => Shard::parse(s)?,
        None => Shard::ALL,
    };
    let plan = args.validation.plan(shard)?;
    let top_k = args.top.unwrap_or(10);
    if top_k == 0 {
        return Err(Error::usage("--top must be at least 1"));
    }
    let config = args.settings.config()?;
    let settings = Settings {
        space,
        objective,
        min_trades: args.min_trades.unwrap_or(1),
        method,
        seed: args.seed.unwrap_or(42),
        top_k,
        shard,
        cache_mb: args.cache_mb.unwrap_or(DEFAULT_BUDGET_MB),
    };
    Ok((settings, plan, config))
}

/// `--results` is written as Parquet: a name ending in anything but `.parquet` (`x.csv`) is a usage
/// error rather than Parquet bytes under a misleading name.
fn parquet_named(results: Option<&Path>) -> Result<()> {
    let Some(path) = results else {
        return Ok(());
    };
    let parquet = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("parquet"));
    if parquet {
        return Ok(());
    }
    Err(Error::usage(format!(
        "--results {}: the results file is Parquet; name it *.parquet",
        path.display()
    )))
}

/// `playbooks/<symbol>_<interval>_<strategy>[.shard-K-of-N].toml` in the home.
fn default_playbook_file(
    home: &flowrex::home::Home,
    symbol: &str,
    interval: flowrex::candles::Interval,
    strategy: &str,
    shard: Shard,
) -> PathBuf {
    let mut name = format!(
        "{}_{}_{}",
        path_safe_symbol(symbol).to_lowercase(),
        interval,
        strategy
    );
    if !shard.is_all() {
        name.push_str(&format!(".shard-{}-of-{}", shard.k, shard.n));
    }
    home.playbook_file(&name)
}

/// The run's outputs, checked, created and locked before the search; the locks hold until the files
/// are written. Every candidate reads the same files (a path parameter takes one value): candidate
/// 0's.
fn open_outputs(
    home: &flowrex::home::Home,
    settings: &Settings,
    args: &OptimizeArgs,
    out: &Path,
) -> Result<flowrex::outputs::Outputs> {
    param_inputs(OutputPlan::new(home), &settings.space.params(0))
        .inputs("--spec", &args.spec)
        .add("--out", out)?
        .add_opt("--results", args.results.as_deref())?
        .add_opt("--report", args.report.as_deref())?
        .add_opt("--metrics-file", args.metrics_file.as_deref())?
        .open()
}

/// Ctrl-C sets [`STOP`] (evaluators stop taking candidates); a second one ends the process at once.
fn stop_on_ctrl_c() {
    let _ = ctrlc::set_handler(|| {
        if STOP.swap(true, Ordering::SeqCst) {
            // A second Ctrl-C: the user wants out now (inside a signal handler, so exit directly).
            std::process::exit(super::EXIT_INTERRUPTED);
        }
    });
}

/// One search over loaded candles, its outputs open.
struct Job<'a> {
    settings: &'a Settings,
    plan: &'a optimize_wf::Plan,
    data: &'a flowrex::backtest::DataSpec,
    candles: &'a flowrex::candles::Candles,
    config: &'a flowrex::engine::BacktestConfig,
    outputs: &'a flowrex::outputs::Outputs,
    out: &'a Path,
    name: &'a str,
    results_flag: Option<&'a Path>,
}

/// What a finished search wrote.
struct Done {
    report: optimize::Report,
    pb: Playbook,
    rows: Option<u64>,
    written: Option<super::report::Written>,
}

impl Job<'_> {
    /// Searches, validates, writes the playbook (and the results and report files); `None` when
    /// interrupted before any candidate was ranked (said on stderr).
    fn run(&self, ctx: &Context, planned: u64, phase: &mut Phases) -> Result<Option<Done>> {
        let settings = self.settings;
        let meta = results::search_meta(
            &settings.space,
            settings.objective.name(),
            settings.method.name(),
            self.data,
        );
        let collector = self
            .plan
            .collector(self.candles)?
            .map(|c| c.with_matrix_meta(meta.clone().with("kind", "returns_matrix")));
        phase.done("setup");
        // --report reads the candidates back from the results: a temporary file without --results.
        let (results, _scratch) = super::report::results_for_report(
            self.outputs.get("--report"),
            self.outputs.get("--results"),
        )?;
        let observer = CliObserver {
            results: match &results {
                Some(p) => Some(ResultsWriter::create(p, &settings.space, &meta)?),
                None => None,
            },
            bar: progress_bar(ctx.show_progress(), planned),
            best: Mutex::new(f64::NAN),
        };
        // The data hash for `[market]` (≈ 35 ms for 1,000,000 bars, one core) is taken while the
        // search runs instead of after it: with 2 threads it was a tenth of the wall time.
        let (report, data_sha256) = rayon::join(
            || {
                optimize::run_with(
                    settings,
                    self.candles,
                    self.config,
                    &STOP,
                    &observer,
                    collector.as_ref(),
                )
            },
            || self.candles.sha256(),
        );
        if let Some(bar) = &observer.bar {
            bar.finish_and_clear();
        }
        phase.done("search and data hash");
        let rows = match observer.results {
            Some(r) => Some(r.finish()?),
            None => None,
        };
        let report = report?;
        let pb = optimize::to_playbook(
            self.name,
            settings,
            &report,
            self.data,
            self.candles,
            data_sha256,
            self.config,
        );
        let mut pb = match pb {
            Ok(pb) => pb,
            Err(e) if report.interrupted => {
                eprintln!("error: interrupted before any candidate was ranked: {e}");
                return Ok(None);
            }
            Err(e) => return Err(e),
        };
        self.plan.validate(&mut pb, collector, &report)?;
        phase.done("validation statistics");
        let pb = with_results_entry(pb, self.out, self.results_flag);
        pb.save(self.outputs.path("--out"))?;
        phase.done("playbook written");
        let written = match (self.outputs.get("--report"), &results) {
            (Some(file), Some(r)) => {
                Some(super::report::optimize_shortcut(file, &pb, self.out, r)?)
            }
            _ => None,
        };
        Ok(Some(Done {
            report,
            pb,
            rows,
            written,
        }))
    }
}

/// The summary on stdout: the JSON document with `--json`, else the text summary.
fn print_summary(
    ctx: &Context,
    out: &Path,
    bars: usize,
    done: &Done,
    results: Option<&Path>,
) -> Result<()> {
    let (pb, report) = (&done.pb, &done.report);
    let per_s = report.evaluated as f64 / report.elapsed_s.max(1e-9);
    if ctx.json {
        let mut doc = serde_json::json!({
            "playbook_file": out.display().to_string(),
            "results_file": results.map(|p| p.display().to_string()),
            "results_rows": done.rows,
            "candidates_per_s": per_s,
            "bar_evaluations_per_s": per_s * bars as f64,
            "playbook": pb,
        });
        if let Some(w) = &done.written {
            doc["report_file"] = w.path.display().to_string().into();
        }
        return print_json(&doc);
    }
    let summary = render(pb, report, bars, per_s);
    print_text(&format!("{summary}{}", super::playbook_written(ctx, out)))?;
    if let Some(w) = &done.written {
        print_text(&w.to_string())?;
    }
    Ok(())
}

/// Debug-level timings of a search's phases (`-v`): where a run's wall time went.
struct Phases {
    last: std::time::Instant,
}

impl Phases {
    /// Starts timing.
    fn start() -> Phases {
        Phases {
            last: std::time::Instant::now(),
        }
    }

    /// Logs the time since the previous phase ended.
    fn done(&mut self, what: &str) {
        let now = std::time::Instant::now();
        let took = now - std::mem::replace(&mut self.last, now);
        tracing::debug!("{what}: {:.3} s", took.as_secs_f64());
    }
}

fn render(pb: &Playbook, report: &optimize::Report, bars: usize, per_s: f64) -> String {
    let o = pb.optimization.as_ref();
    let objective = o.map(|o| o.objective.as_str()).unwrap_or("objective");
    #[derive(tabled::Tabled)]
    struct Row {
        #[tabled(rename = "Rank")]
        rank: u64,
        #[tabled(rename = "Parameters")]
        params: String,
        #[tabled(rename = "Objective")]
        objective: String,
        #[tabled(rename = "Trades")]
        trades: u64,
        #[tabled(rename = "Candidate")]
        candidate: u64,
    }
    let rows = pb.top.iter().map(|t| Row {
        rank: t.rank,
        params: t.params.to_line(),
        objective: format!("{:.6}", t.objective),
        trades: t.trades,
        candidate: t.candidate,
    });
    let mut s = format!(
        "{} on {} {} ({} to {}, {} bars), maximizing {}:\n",
        pb.strategy.name,
        pb.market.symbol,
        pb.market.interval,
        flowrex::candles::time::date_part(&pb.market.start),
        flowrex::candles::time::date_part(&pb.market.end),
        bars,
        objective
    );
    s.push_str(&table(rows));
    s.push('\n');
    let num = |k: &str| match pb.metrics.get(k) {
        Some(toml::Value::Float(f)) => format!("{f:.2}"),
        Some(v) => v.to_string(),
        None => "—".into(),
    };
    s.push_str(&format!(
        "best: {} — return {}%, sharpe {}, max drawdown {}%, {} trades\n",
        pb.strategy.params.to_line(),
        num("return_pct"),
        num("sharpe"),
        num("max_drawdown_pct"),
        num("num_trades")
    ));
    if let Some(v) = &pb.validation {
        s.push_str(&optimize_wf::render_validation(v));
    }
    s.push_str(&format!(
        "{} of {}{} feasible candidates evaluated{} in {:.3} s ({:.1} candidates/s, {:.3e} bar-evaluations/s; {} indicator series computed)\n",
        report.evaluated,
        if report.feasible_estimated { "~" } else { "" },
        report.feasible,
        if report.interrupted { " (interrupted)" } else { "" },
        report.elapsed_s,
        per_s,
        per_s * bars as f64,
        report.indicators_computed
    ));
    s
}

/// With `--size risk:P`, backtests the first feasible candidate once before the search and refuses the
/// search when that run met entries without a stop ([`flowrex::backtest::refuse_unstopped`]): otherwise
/// every candidate would make no trade (or fewer than it decided) and the search would end in a
/// misleading "no candidate meets --min-trades". One backtest: milliseconds against the search.
fn preflight_risk_sizing(
    settings: &Settings,
    candles: &flowrex::candles::Candles,
    config: &flowrex::engine::BacktestConfig,
) -> Result<()> {
    if !matches!(config.sizing, flowrex::engine::Sizing::RiskPct(_)) {
        return Ok(());
    }
    let Some((_, params)) = settings.space.feasible().next() else {
        return Ok(());
    };
    let strategy = settings.space.strategy();
    let cache = flowrex::indicators::IndicatorCache::new();
    let report = flowrex::backtest::backtest(candles, strategy, &params, config, &cache)?;
    flowrex::backtest::refuse_unstopped(strategy.name(), config, &report.run)
}

/// Records in the playbook's `[optimization]` where its results file is (merge finds shards' files so).
fn with_results_entry(mut pb: Playbook, out: &Path, results: Option<&Path>) -> Playbook {
    if let (Some(o), Some(r)) = (pb.optimization.as_mut(), results) {
        o.results = Some(merge_results::results_entry(out, r));
    }
    pb
}

fn merge(ctx: &Context, m: MergeArgs) -> Result<Outcome> {
    parquet_named(m.results.as_deref())?;
    let outputs = OutputPlan::new(&flowrex::home::Home::layout(&ctx.home_path))
        .inputs("PART.toml", &m.parts)
        .add("--out", &m.out)?
        .add_opt("--results", m.results.as_deref())?
        .open()?;
    let shards = m
        .parts
        .iter()
        .map(|p| ShardPart::load(p))
        .collect::<Result<Vec<_>>>()?;
    for part in &m.parts {
        if let Some(why) = flowrex::playbook::not_as_written(part)? {
            return Err(Error::invalid(format!(
                "optimize merge: {why}; the merged playbook would sign its values as a search's \
                 (re-run that shard)"
            )));
        }
    }
    if !m.allow_partial {
        merge_results::refuse_unfinished(&shards)?;
    }
    let mixed = merge_results::mixed_versions(&shards);
    match &mixed {
        Some(versions) if !m.allow_mixed_versions => {
            return Err(Error::invalid(format!(
                "optimize merge: the shards were written by different flowrex versions ({versions}); \
                 a release may change metrics and objectives, and the merge would rank them as one \
                 search's: re-run the shards with one flowrex, or pass --allow-mixed-versions"
            )));
        }
        Some(versions) => tracing::warn!(
            "optimize merge: merging shards of different flowrex versions ({versions}); their numbers may not be comparable"
        ),
        None => {}
    }
    if !m.force {
        flowrex::playbook::check_replaceable(&m.out)?;
    }
    let parts: Vec<Playbook> = shards.iter().map(|s| s.playbook.clone()).collect();
    let name = m
        .out
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "playbook".into());
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let mut pb = optimize::merge::merge(&parts, &name, &now)?;
    if let Some(versions) = mixed {
        let note = format!("shards of different flowrex versions ({versions})");
        pb.playbook.notes = Some(match pb.playbook.notes.take() {
            Some(n) => format!("{n}; {note}"),
            None => note,
        });
    }
    let rows = match outputs.get("--results") {
        Some(r) => Some(merge_results::merge_results(&shards, r)?),
        None => None,
    };
    let pb = with_results_entry(pb, &m.out, m.results.as_deref());
    pb.save(outputs.path("--out"))?;
    drop(outputs);
    if ctx.json {
        print_json(&serde_json::json!({
            "playbook_file": m.out.display().to_string(),
            "results_file": m.results.as_ref().map(|p| p.display().to_string()),
            "results_rows": rows,
            "playbook": pb,
        }))?;
    } else {
        let o = pb.optimization.as_ref();
        print_text(&format!(
            "merged {} shards ({} candidates evaluated): best {} with {} {:.6}; playbook written to {}",
            parts.len(),
            o.map_or(0, |o| o.evaluated),
            pb.strategy.params.to_line(),
            o.map_or("objective", |o| o.objective.as_str()),
            pb.top.first().map_or(f64::NAN, |t| t.objective),
            m.out.display()
        ))?;
        if let (Some(r), Some(n)) = (&m.results, rows) {
            print_text(&format!("{n} results rows written to {}", r.display()))?;
        }
    }
    Ok(Outcome::Done)
}
