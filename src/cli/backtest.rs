//! `flowrex backtest`: run a strategy over stored candles and print metrics and trades (table or JSON),
//! optionally writing the trade log and equity curve; `--list-strategies` shows what can be run.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::output::{print_json, print_text, table, table_of};
use super::run_args::{SettingsArgs, TargetArgs, param_inputs, run_spec};
use super::table_fit::Cells;
use super::{Context, Outcome, first_given};
use flowrex::agents::{GateMarket, GateReport, RiskGate, Selected};
use flowrex::backtest::{Report, RunSpec, export, refuse_unstopped};
use flowrex::candles::Candles;
use flowrex::candles::Interval;
use flowrex::candles::time::{format_ts, format_ts_full};
use flowrex::engine::Signals;
use flowrex::engine::{Fill, StopPolicy};
use flowrex::error::{Error, Result};
use flowrex::indicators::IndicatorCache;
use flowrex::json::finite;
use flowrex::metrics::Metrics;
use flowrex::metrics::fields::FIELDS;
use flowrex::outputs::OutputPlan;
use flowrex::playbook::{CheckReport, DataChange, FileChange, Playbook, check_tolerance};
use flowrex::risk::sizing::SizingRule;
use flowrex::strategy::{self, ParamKind};
use flowrex::trade::{OpenTradeRecord, TradeRecord};

/// Arguments of `flowrex backtest`.
#[derive(Debug, clap::Args)]
#[command(
    // The shared strategy/symbol/interval flags are required here unless listing or re-running a playbook.
    mut_arg("strategy", |a| a.required_unless_present_any(["list_strategies", "playbook"])),
    mut_arg("symbol", |a| a.required_unless_present_any(["list_strategies", "playbook"])),
    mut_arg("interval", |a| a.required_unless_present_any(["list_strategies", "playbook"])),
    after_help = "Examples:
  flowrex backtest --strategy sma_cross --symbol GOOG --interval 1d --param fast=10 --param slow=20 --commission 0.002
  flowrex backtest --list-strategies sma_cross
  flowrex backtest --playbook playbooks/goog_sma_cross.toml --check     # CI regression gate (exit 3 on drift)

Defaults reproduce backtesting.py 0.6.6: fill at the next open, all cash in whole units, a trade still
open at the end stays open (valued at the last close) and is reported as `open_trade`. In JSON, a
metric without a value (e.g. win rate with no trades) is null."
)]
pub struct BacktestArgs {
    /// List the strategies and their parameters' names, or with NAME one strategy's parameters (type,
    /// default, valid range, search range, meaning), and exit. --json gives every detail.
    #[arg(long, value_name = "NAME", num_args = 0..=1)]
    pub list_strategies: Option<Option<String>>,
    /// Strategy, symbol, interval.
    #[command(flatten)]
    pub target: TargetArgs,
    /// Strategy parameter as name=value; repeat for several. Unset parameters take their defaults.
    #[arg(long = "param", value_name = "NAME=VALUE")]
    pub params: Vec<String>,
    /// Settings and time window.
    #[command(flatten)]
    pub settings: SettingsArgs,
    /// Write the closed trades to this file (.csv or .parquet).
    #[arg(long, value_name = "FILE")]
    pub trades: Option<PathBuf>,
    /// Write the equity curve to this file, .parquet or .csv (ts, equity, drawdown_pct).
    #[arg(long, value_name = "FILE")]
    pub equity: Option<PathBuf>,
    /// Leave the trade list out of the output (with --json: no `trades` key; a 1m run over years has
    /// hundreds of thousands of trades). --trades FILE still writes them all.
    #[arg(long)]
    pub no_trades: bool,
    /// Re-run a playbook: its strategy, parameters, data range and backtest settings (instead of
    /// --strategy/--symbol/--interval/--param and the settings flags).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["strategy", "symbol", "interval", "params", "start", "end", "timerange"])]
    pub playbook: Option<PathBuf>,
    /// With --playbook: compare the fresh metrics with the stored ones and exit 3 on drift beyond
    /// --tolerance or when the data's sha256 differs (the CI regression gate).
    #[arg(long)]
    pub check: bool,
    /// With --playbook --check: relative tolerance for real-valued metrics (counts must match
    /// exactly) [default: 1e-9].
    #[arg(long, value_name = "REL")]
    pub tolerance: Option<f64>,
    /// With --playbook --check: compare even when the data's sha256 (or a signals file's) differs
    /// from the playbook's.
    #[arg(long)]
    pub ignore_data_hash: bool,
    /// With --playbook --check: check a playbook whose search was interrupted (`[optimization]
    /// status = "interrupted"`) like a finished one, with a warning; without it such a check fails
    /// (exit 3) after comparing the metrics: its parameters are the best of a partial search.
    #[arg(long)]
    pub allow_interrupted: bool,

    /// Also write the run's HTML report to this file (see `flowrex report backtest`).
    #[arg(long, value_name = "FILE", conflicts_with = "check")]
    pub report: Option<PathBuf>,
    /// Write the closed trades to the journal (source backtest), under this strategy name (default: the
    /// playbook's name, else the strategy's).
    #[arg(long, value_name = "NAME", num_args = 0..=1, require_equals = true, default_missing_value = "", conflicts_with = "check")]
    pub journal: Option<String>,
    /// Size and check every entry as `paper-trade run`'s Risk stage does (risk % of equity between
    /// entry and stop, the playbook's [paper] protective stop, the risk validator): denied entries are
    /// skipped and counted with their reasons.
    #[arg(long, conflicts_with = "check")]
    pub risk_gate: bool,
}

/// Runs `flowrex backtest`.
pub fn run(ctx: &Context, args: BacktestArgs) -> Result<Outcome> {
    if let Some(name) = &args.list_strategies {
        return list_strategies(ctx, name.as_deref());
    }
    refuse_misplaced_flags(&args)?;
    let tolerance = args.tolerance.unwrap_or(DEFAULT_TOLERANCE);
    check_tolerance(tolerance)?;
    let playbook = match &args.playbook {
        Some(path) => Some((path.as_path(), Playbook::load(path)?)),
        None => None,
    };
    let spec = match &playbook {
        Some((path, pb)) => RunSpec::from_playbook_file(pb, path)?,
        None => run_spec(&args.target, &args.params, &args.settings)?,
    };
    let home = ctx.home()?;
    let outputs = param_inputs(OutputPlan::new(&home), &spec.params)
        .inputs("--playbook", &args.playbook)
        .add_opt("--trades", args.trades.as_deref())?
        .add_opt("--equity", args.equity.as_deref())?
        .add_opt("--report", args.report.as_deref())?
        .open()?;
    // After the output rules (a misplaced output is a usage error first), before any work.
    if let (Some((path, _)), true) = (&playbook, args.check)
        && let Some(why) = flowrex::playbook::not_as_written(path)?
    {
        return Err(Error::CheckFailed(format!(
            "{why}: --check compares with what a search wrote; write it again with `flowrex optimize`"
        )));
    }
    let candles = spec.load(&home.store())?;
    let data_change = match &playbook {
        Some((path, pb)) => {
            let (symbol, interval) = (&spec.data.symbol, spec.data.interval);
            match DataChange::between(pb, symbol, interval, &candles) {
                Some(change) => Some((change, *path)),
                None => DataChange::of_walk(pb, symbol, interval, &home.store())?
                    .map(|change| (change, *path)),
            }
        }
        None => None,
    };
    if let Some((change, path)) = &data_change {
        if args.check && !args.ignore_data_hash {
            if ctx.json {
                let mut doc = change.verdict_document(path, tolerance);
                if let Some((_, pb)) = &playbook {
                    doc["search_status"] =
                        pb.optimization.as_ref().map(|o| o.status.clone()).into();
                }
                print_json(&doc)?;
            }
            return Err(change.refusal(path));
        }
        tracing::warn!("{}", change.message(path));
    }
    let file_changes = playbook
        .as_ref()
        .map_or(Vec::new(), |(_, pb)| FileChange::between(pb));
    for change in &file_changes {
        let path = playbook.as_ref().map(|(p, _)| *p).unwrap_or(Path::new(""));
        if args.check && !args.ignore_data_hash {
            return Err(change.refusal(path));
        }
        tracing::warn!("{}", change.message(path));
    }
    let cache = IndicatorCache::new();
    let (report, gate) = if args.risk_gate {
        let pb = args.playbook.as_deref();
        let (report, gate) = gated(ctx, &spec, pb, &candles, &cache)?;
        (report, Some(gate))
    } else {
        (spec.run(&candles, &cache)?, None)
    };
    refuse_unstopped(spec.strategy.name(), &spec.config, &report.run)?;
    if let (Some((path, pb)), true) = (&playbook, args.check) {
        let (drifts, gates) = flowrex::optimize::overfit::check_playbook(
            pb,
            &candles,
            &report.run.equity,
            &cache,
            tolerance,
        );
        let check = CheckReport::new(
            pb,
            path,
            &report.metrics,
            tolerance,
            data_change.is_none() && file_changes.is_empty(),
        )
        .with_validation(drifts, gates)
        .with_search_status(pb, args.allow_interrupted);
        if let (true, Some(why)) = (
            args.allow_interrupted,
            flowrex::playbook::unfinished_search(pb),
        ) {
            tracing::warn!(
                "{}: {why} (checked anyway: --allow-interrupted)",
                path.display()
            );
        }
        render_check(ctx, pb, &check)?;
        return check.verdict().map(|()| Outcome::Done);
    }
    let meta = export::FileMeta::of_run(&spec, &candles.ts);
    if let Some(path) = outputs.get("--trades") {
        export::write_trades(path, &report.run.trades, &candles.ts, &meta)?;
    }
    if let Some(path) = outputs.get("--equity") {
        export::write_equity(path, &candles.ts, &report.run.equity, &meta)?;
    }
    let journaled = match &args.journal {
        Some(name) => {
            let pb = playbook.as_ref().map(|(path, pb)| (*path, pb));
            Some(super::journal::record_backtest(
                ctx, &spec, pb, &report, &candles, name,
            )?)
        }
        None => None,
    };
    let notes: Vec<String> = data_change.iter().map(|(c, p)| c.message(p)).collect();
    let written = match outputs.get("--report") {
        Some(out) => Some(super::report::backtest_shortcut(
            out, &spec, &candles, &report, &notes,
        )?),
        None => None,
    };
    let mut doc = Document::new(&spec, &report, &candles.ts);
    doc.risk_gate = gate;
    doc.journal = journaled;
    if args.no_trades {
        doc.trades = None;
    }
    doc.report_file = written.as_ref().map(|w| w.path.display().to_string());
    if ctx.json {
        print_json(&doc)?;
    } else {
        print_text(&render_text(&doc))?;
        if let Some(w) = &written {
            print_text(&w.to_string())?;
        }
    }
    Ok(Outcome::Done)
}

/// `--check`'s relative tolerance when `--tolerance` is not given.
const DEFAULT_TOLERANCE: f64 = 1e-9;

/// Refuses flags that would be silently ignored (a usage error naming the flag, exit 2): `--check`
/// and its options without `--playbook`, its options without `--check`, and the settings flags with
/// a playbook. Why refuse the settings rather than apply
/// them as overrides: a playbook is the record of one run's settings; a re-run with other costs is a
/// different experiment and belongs in a copy of the playbook (or a plain `backtest` run), and `--check`
/// could never pass with them anyway. (`--start`, `--end`, `--param` are refused by clap itself.)
fn refuse_misplaced_flags(args: &BacktestArgs) -> Result<()> {
    let check_options = [
        ("--tolerance", args.tolerance.is_some()),
        ("--ignore-data-hash", args.ignore_data_hash),
        ("--allow-interrupted", args.allow_interrupted),
    ];
    if args.playbook.is_none() {
        let check = first_given(&[("--check", args.check)]).or(first_given(&check_options));
        return match check {
            Some(flag) => Err(Error::usage(format!(
                "{flag} needs --playbook FILE (it checks a playbook's stored metrics)"
            ))),
            None => Ok(()),
        };
    }
    if let Some(flag) = first_given(&check_options).filter(|_| !args.check) {
        return Err(Error::usage(format!("{flag} only applies with --check")));
    }
    let s = &args.settings;
    let settings = [
        ("--cash", s.cash.is_some()),
        ("--commission", s.commission.is_some()),
        ("--spread", s.spread.is_some()),
        ("--fill", s.fill.is_some()),
        ("--close-at-end", s.close_at_end),
        ("--size", s.size.is_some()),
        ("--stop-policy", s.stop_policy.is_some()),
    ];
    match first_given(&settings) {
        Some(flag) => Err(Error::usage(format!(
            "{flag} cannot be used with --playbook: the playbook's [backtest] section fixes every \
             setting (edit a copy of the playbook, or run without --playbook)"
        ))),
        None => Ok(()),
    }
}

/// Prints what `--check` found: one line when it passed, the drifted metrics when not (or the whole
/// report as JSON). The verdict (exit 3) is the caller's.
fn render_check(ctx: &Context, pb: &Playbook, check: &CheckReport) -> Result<()> {
    let path = check.playbook.display();
    let tolerance = check.tolerance;
    if ctx.json {
        let list: Vec<serde_json::Value> = check
            .drifts
            .iter()
            .map(|d| {
                serde_json::json!({
                    "metric": d.metric,
                    "stored": d.stored,
                    "fresh": d.fresh,
                    "relative": finite(d.relative),
                })
            })
            .collect();
        return print_json(&serde_json::json!({
            "playbook": path.to_string(),
            "passed": check.passed(),
            "tolerance": tolerance,
            "metrics_compared": check.metrics_compared,
            "data_sha256_matches": check.data_sha256_matches,
            "search_status": check.search_status,
            "search_unfinished": check.unfinished,
            "drifts": list,
            "gates": check.gates,
        }));
    }
    let gates = if check.gates.is_empty() {
        String::new()
    } else {
        let failed: Vec<String> = check
            .gates
            .iter()
            .filter(|g| !g.pass)
            .map(|g| format!("gate failed: {}\n", g.describe()))
            .collect();
        format!(
            "{} of {} stored gates pass\n{}",
            check.gates.iter().filter(|g| g.pass).count(),
            check.gates.len(),
            failed.concat()
        )
    };
    if check.passed() {
        return print_text(&format!(
            "{gates}check passed: {path} — {} {} on {} {}: {} stored metrics reproduced within {tolerance:e} relative; {}",
            pb.strategy.name,
            pb.strategy.params.to_line(),
            pb.market.symbol,
            pb.market.interval,
            check.metrics_compared,
            if check.data_sha256_matches {
                "data sha256 matches"
            } else {
                "data sha256 DIFFERS (ignored)"
            }
        ));
    }
    #[derive(tabled::Tabled)]
    struct DriftRow {
        #[tabled(rename = "Metric")]
        metric: String,
        #[tabled(rename = "Stored")]
        stored: String,
        #[tabled(rename = "Fresh")]
        fresh: String,
        #[tabled(rename = "Relative")]
        relative: String,
    }
    let show = |v: Option<f64>| v.map_or("(none)".to_string(), |v| format!("{v}"));
    let rows = check.drifts.iter().map(|d| DriftRow {
        metric: d.metric.clone(),
        stored: show(d.stored),
        fresh: show(d.fresh),
        relative: format!("{:.3e}", d.relative),
    });
    if let (Some(why), true) = (&check.unfinished, check.drifts.is_empty()) {
        return print_text(&format!(
            "{gates}check FAILED: {path}: {why} (its {} stored metrics reproduced within {tolerance:e} relative)",
            check.metrics_compared
        ));
    }
    let unfinished = check.unfinished.as_ref().map_or(String::new(), |why| {
        format!("check FAILED: {path}: {why}\n")
    });
    // Too wide for the screen, Stored goes first (the playbook file holds it), then Fresh: the
    // metric and how far it moved are what a failed gate must show.
    let cells = Cells::of(rows).optional(&["Stored", "Fresh"]);
    print_text(&format!(
        "{gates}{unfinished}check FAILED: {path}: {} of {} metrics drifted beyond {tolerance:e} relative\n{}",
        check.drifts.len(),
        check.metrics_compared,
        if check.drifts.is_empty() {
            String::new()
        } else {
            table_of(cells)
        }
    ))
}

/// The settings block of the JSON document.
#[derive(Debug, Serialize)]
pub struct SettingsJson {
    /// Starting cash.
    pub cash: f64,
    /// Commission fraction.
    pub commission: f64,
    /// Spread fraction.
    pub spread: f64,
    /// `next-open` or `close`.
    pub fill: Fill,
    /// Whether an open trade is closed at the end.
    pub close_at_end: bool,
    /// Sizing as given to `--size`.
    pub size: String,
    /// `pessimistic` or `optimistic`.
    pub stop_policy: StopPolicy,
}

/// The `--json` document of `flowrex backtest`.
#[derive(Debug, Serialize)]
pub struct Document {
    /// Strategy name.
    pub strategy: &'static str,
    /// Parameter values used (defaults included).
    pub params: serde_json::Value,
    /// Symbol.
    pub symbol: String,
    /// Interval.
    pub interval: Interval,
    /// First bar time.
    pub start: String,
    /// Last bar time.
    pub end: String,
    /// Every setting that changes the numbers.
    pub settings: SettingsJson,
    /// Bar index of the strategy's warm-up (decisions start at the next bar).
    pub warmup_bar: usize,
    /// Every metric; null where a metric has no value.
    pub metrics: Metrics,
    /// Closed trades (left out with `--no-trades`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trades: Option<Vec<TradeRecord>>,
    /// The position still open at the end, or null.
    pub open_trade: Option<OpenTradeRecord>,
    /// With `--report`: the report's absolute path (absent without it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report_file: Option<String>,
    /// With `--risk-gate`: entries proposed, approved, denied and the denial reasons.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub risk_gate: Option<GateReport>,
    /// With `--journal`: trades journaled now and already journaled before (absent without it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub journal: Option<super::journal::Journaled>,
}

impl Document {
    fn new(spec: &RunSpec, report: &Report, ts: &[i64]) -> Document {
        let config = &spec.config;
        Document {
            strategy: spec.strategy.name(),
            params: spec.params.to_json(),
            symbol: spec.data.symbol.clone(),
            interval: spec.data.interval,
            start: format_ts_full(report.metrics.start_ts),
            end: format_ts_full(report.metrics.end_ts),
            settings: SettingsJson {
                cash: config.cash,
                commission: config.commission,
                spread: config.spread,
                fill: config.fill,
                close_at_end: config.close_at_end,
                size: config.sizing.to_string(),
                stop_policy: config.stop_policy,
            },
            warmup_bar: report.run.warmup,
            metrics: report.metrics,
            trades: Some(TradeRecord::all(&report.run.trades, ts)),
            open_trade: report
                .run
                .open_trade
                .as_ref()
                .map(|t| OpenTradeRecord::new(t, ts)),
            report_file: None,
            risk_gate: None,
            journal: None,
        }
    }
}

/// The backtest with every entry through the Risk stage ([`RiskGate`]): the playbook's `[paper]`
/// rule and name (the book) when re-running one, else the default rule and the strategy's name.
fn gated(
    ctx: &Context,
    spec: &RunSpec,
    playbook: Option<&Path>,
    candles: &Candles,
    cache: &IndicatorCache,
) -> Result<(Report, GateReport)> {
    let (rule, book) = match playbook {
        Some(p) => {
            let s = Selected::load(p)?;
            (s.rule, s.name)
        }
        None => (SizingRule::default(), spec.strategy.name().to_string()),
    };
    let inner = spec.strategy.prepare(candles, &spec.params, cache)?;
    let market = GateMarket {
        symbol: spec.data.symbol.clone(),
        interval: spec.data.interval,
        candles,
        book,
        cash: spec.config.cash,
    };
    let limits = ctx.config.risk.effective()?;
    let lot = ctx.config.instruments.get(&spec.data.symbol).lot_size;
    let mut gate = RiskGate::new(inner, market, limits, rule, lot)?;
    let run = gate.run_engine(candles, &spec.config)?;
    let metrics = flowrex::metrics::compute_cached(candles, &run, cache);
    Ok((Report { run, metrics }, gate.finish()?))
}

#[derive(tabled::Tabled)]
struct Row {
    #[tabled(rename = "Metric")]
    name: &'static str,
    #[tabled(rename = "Value")]
    value: String,
}

fn num(v: f64, decimals: usize) -> String {
    if v.is_finite() {
        format!("{v:.decimals$}")
    } else {
        "—".to_string()
    }
}

/// `risk gate: 40 entries proposed, 31 approved, 9 denied (reward_risk 6, no stop 3)`.
fn gate_line(g: &GateReport) -> String {
    let reasons: Vec<String> = g
        .reasons
        .iter()
        .take(5)
        .map(|(r, n)| format!("{r} {n}"))
        .collect();
    let why = if reasons.is_empty() {
        String::new()
    } else {
        format!(" ({})", reasons.join(", "))
    };
    format!(
        "risk gate: {} entries proposed, {} approved, {} denied{why}\n",
        g.proposed, g.approved, g.denied
    )
}

fn render_text(d: &Document) -> String {
    let m = &d.metrics;
    // One row per metric the field table shows in text, in its order.
    let rows = FIELDS.iter().filter_map(|f| {
        Some(Row {
            name: f.label,
            value: f.text(m)?,
        })
    });
    let mut out = format!(
        "{} {} on {} {} ({} to {})\n",
        d.strategy,
        params_line(&d.params),
        d.symbol,
        d.interval,
        format_ts(m.start_ts),
        format_ts(m.end_ts)
    );
    out.push_str(&table(rows));
    out.push('\n');
    let Some(trades) = &d.trades else {
        return out;
    };
    let wins = trades.iter().filter(|t| t.pnl > 0.0).count();
    let longs = trades.iter().filter(|t| t.size > 0.0).count();
    out.push_str(&format!(
        "{} closed trades ({} long, {} short; {} won)",
        trades.len(),
        longs,
        trades.len() - longs,
        wins
    ));
    match &d.open_trade {
        Some(o) => out.push_str(&format!(
            "; open at the end: {} {} @ {:.4} since {}, unrealized {:.2}\n",
            o.side,
            o.size.abs(),
            o.entry_price,
            format_ts(o.entry_time),
            o.unrealized_pnl
        )),
        None => out.push('\n'),
    }
    if let Some(g) = &d.risk_gate {
        out.push_str(&gate_line(g));
    }
    if !trades.is_empty() {
        #[derive(tabled::Tabled)]
        struct TradeRow {
            #[tabled(rename = "Side")]
            side: &'static str,
            #[tabled(rename = "Size")]
            size: String,
            #[tabled(rename = "Entry")]
            entry: String,
            #[tabled(rename = "Exit")]
            exit: String,
            #[tabled(rename = "Entry price")]
            entry_price: String,
            #[tabled(rename = "Exit price")]
            exit_price: String,
            #[tabled(rename = "P&L")]
            pnl: String,
            #[tabled(rename = "Return [%]")]
            ret: String,
            #[tabled(rename = "Exit by")]
            reason: &'static str,
        }
        let shown = 5.min(trades.len());
        out.push_str(&format!("Last {shown} trades:\n"));
        let rows = trades[trades.len() - shown..].iter().map(|t| TradeRow {
            side: t.side.as_str(),
            size: num(t.size.abs(), if t.size.fract() == 0.0 { 0 } else { 4 }),
            entry: format_ts(t.entry_time),
            exit: format_ts(t.exit_time),
            entry_price: num(t.entry_price, 4),
            exit_price: num(t.exit_price, 4),
            pnl: num(t.pnl, 2),
            ret: num(t.return_pct, 2),
            reason: t.exit_reason.as_str(),
        });
        out.push_str(&table(rows));
    }
    out
}

fn params_line(params: &serde_json::Value) -> String {
    match params {
        serde_json::Value::Object(m) => m
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(" "),
        _ => String::new(),
    }
}

fn list_strategies(ctx: &Context, name: Option<&str>) -> Result<Outcome> {
    let chosen: Vec<&dyn strategy::Strategy> = match name {
        Some(n) => vec![strategy::lookup(n)?],
        None => strategy::registry().to_vec(),
    };
    if ctx.json {
        let list: Vec<serde_json::Value> = chosen
            .iter()
            .map(|s| {
                let params: Vec<serde_json::Value> = s
                    .params()
                    .iter()
                    .map(|p| {
                        let mut o = serde_json::json!({
                            "name": p.name,
                            "type": p.type_name(),
                            "default": p.default_value(),
                            "help": p.help,
                        });
                        match p.kind {
                            ParamKind::Int { min, max, search_min, search_max, step, .. } => {
                                o["min"] = min.into();
                                o["max"] = max.into();
                                o["search"] = serde_json::json!({"min": search_min, "max": search_max, "step": step});
                            }
                            ParamKind::Float { min, max, search_min, search_max, step, .. } => {
                                o["min"] = min.into();
                                o["max"] = max.into();
                                o["search"] = serde_json::json!({"min": search_min, "max": search_max, "step": step});
                            }
                            ParamKind::Choice { options, .. } => {
                                o["options"] = serde_json::json!(options);
                            }
                            ParamKind::Path => o["required"] = true.into(),
                        }
                        o
                    })
                    .collect();
                serde_json::json!({"name": s.name(), "summary": s.summary(), "params": params})
            })
            .collect();
        print_json(&serde_json::json!({ "strategies": list }))?;
        return Ok(Outcome::Done);
    }
    let Some(s) = name.and(chosen.first()) else {
        print_text(&strategy_overview(&chosen))?;
        return Ok(Outcome::Done);
    };
    print_text(&strategy_details(*s))?;
    Ok(Outcome::Done)
}

/// One strategy's parameters as a list that reads at 80 columns (a six-column table left its
/// meanings 14 characters wide): name, type and default, then valid and search ranges, then the
/// meaning, wrapped.
fn strategy_details(s: &dyn strategy::Strategy) -> String {
    let w = width();
    let indent =
        |text: &str| super::table_fit::wrap(text, w.saturating_sub(4)).replace('\n', "\n    ");
    let mut out = super::table_fit::wrap(&format!("{}: {}", s.name(), s.summary()), w);
    for p in s.params() {
        let default = p.default_value().to_string();
        let default = if default.is_empty() {
            "none".into()
        } else {
            default
        };
        out.push_str(&format!(
            "\n\n{} ({}, default {default})",
            p.name,
            p.type_name()
        ));
        let search = p.search_range();
        let ranges = if search.is_empty() {
            format!("valid: {}", p.valid_range())
        } else {
            format!("valid: {}; search: {search}", p.valid_range())
        };
        out.push_str(&format!(
            "\n    {}\n    {}",
            indent(&ranges),
            indent(p.help)
        ));
    }
    out
}

/// Every strategy's summary and parameter names, wrapped to the screen; NAME shows the details.
fn strategy_overview(all: &[&dyn strategy::Strategy]) -> String {
    let indent = |text: String| {
        let wrapped = super::table_fit::wrap(&text, width().saturating_sub(2));
        wrapped.replace('\n', "\n  ")
    };
    let mut out = String::new();
    for s in all {
        let names: Vec<&str> = s.params().iter().map(|p| p.name).collect();
        out.push_str(&super::table_fit::wrap(
            &format!("{}: {}", s.name(), s.summary()),
            width(),
        ));
        out.push_str(&format!(
            "\n  {}\n",
            indent(format!("parameters: {}", names.join(", ")))
        ));
    }
    out.push_str("`flowrex backtest --list-strategies NAME` shows one strategy's parameters.");
    out
}

fn width() -> usize {
    super::table_fit::width()
}
