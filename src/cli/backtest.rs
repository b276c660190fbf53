//! `flowrex backtest`: run a strategy over stored candles and print metrics and trades (table or JSON),
//! optionally writing the trade log and equity curve; `--list-strategies` shows what can be run.

use std::path::PathBuf;

use clap::ValueEnum;
use serde::Serialize;

use super::output::{print_json, print_text, table};
use super::{Context, Outcome};
use flowrex::backtest::{self, Report, export};
use flowrex::candles::time::{format_ts, format_ts_full};
use flowrex::candles::{Interval, Store, TimeRange};
use flowrex::engine::{BacktestConfig, Fill, Sizing, StopPolicy};
use flowrex::error::{Error, Result};
use flowrex::indicators::IndicatorCache;
use flowrex::metrics::Metrics;
use flowrex::metrics::fields::FIELDS;
use flowrex::strategy::{self, ParamKind, Params, Strategy};
use flowrex::trade::{OpenTradeRecord, TradeRecord};

/// When market orders fill (`--fill`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FillArg {
    /// At the next bar's open (the reference behaviour).
    NextOpen,
    /// At the deciding bar's close.
    Close,
}

/// Stop-versus-target rule (`--stop-policy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StopPolicyArg {
    /// A bar reaching both exits at the stop.
    Pessimistic,
    /// A bar reaching both exits at the target.
    Optimistic,
}

/// Arguments of `flowrex backtest`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  flowrex backtest --strategy sma_cross --symbol GOOG --interval 1d --param fast=10 --param slow=20 --commission 0.002
  flowrex backtest --list-strategies --json
  flowrex backtest --playbook playbooks/goog_sma_cross.toml --check     # CI regression gate (exit 3 on drift)

Defaults reproduce backtesting.py 0.6.6: fill at the next open, all cash in whole units, a trade still
open at the end stays open (valued at the last close) and is reported as `open_trade`. In JSON, a
metric without a value (e.g. win rate with no trades) is null.")]
pub struct BacktestArgs {
    /// List the strategies with their parameters (type, default, valid range, search range) and exit.
    #[arg(long)]
    pub list_strategies: bool,
    /// Strategy to run (see --list-strategies).
    #[arg(long, required_unless_present_any = ["list_strategies", "playbook"])]
    pub strategy: Option<String>,
    /// Symbol in the store (data/<SYMBOL>/<interval>.parquet).
    #[arg(long, required_unless_present_any = ["list_strategies", "playbook"])]
    pub symbol: Option<String>,
    /// Bar interval: 1m 5m 15m 30m 1h 4h 1d 1w 1M.
    #[arg(long, required_unless_present_any = ["list_strategies", "playbook"])]
    pub interval: Option<String>,
    /// Strategy parameter as name=value; repeat for several. Unset parameters take their defaults.
    #[arg(long = "param", value_name = "NAME=VALUE")]
    pub params: Vec<String>,
    /// Starting cash.
    #[arg(long, default_value_t = 10_000.0)]
    pub cash: f64,
    /// Commission as a fraction of traded value, charged on entry and on exit (0.002 = 0.2%).
    #[arg(long, default_value_t = 0.0)]
    pub commission: f64,
    /// Spread as a fraction of price; worsens the entry price in the trade's direction.
    #[arg(long, default_value_t = 0.0)]
    pub spread: f64,
    /// When market orders fill.
    #[arg(long, value_enum, default_value_t = FillArg::NextOpen)]
    pub fill: FillArg,
    /// Close a trade still open at the end (at the last bar's open; its close with --fill close) so it
    /// counts in the trade statistics.
    #[arg(long)]
    pub close_at_end: bool,
    /// Position size: all (all cash, whole units), fraction (all cash, fractional units), units:N,
    /// pct:P (P% of equity, whole units), risk:P (lose P% of equity at the stop).
    #[arg(long, default_value = "all", value_name = "SIZE")]
    pub size: String,
    /// Which exit wins when one bar reaches both the stop and the target.
    #[arg(long, value_enum, default_value_t = StopPolicyArg::Pessimistic)]
    pub stop_policy: StopPolicyArg,
    /// First bar time to include (date, datetime or epoch).
    #[arg(long)]
    pub start: Option<String>,
    /// Last bar time to include (a date includes that whole day).
    #[arg(long)]
    pub end: Option<String>,
    /// Write the closed trades to this file (.csv or .parquet).
    #[arg(long, value_name = "FILE")]
    pub trades: Option<PathBuf>,
    /// Write the equity curve to this Parquet file (ts, equity, drawdown_pct).
    #[arg(long, value_name = "FILE")]
    pub equity: Option<PathBuf>,
    /// Re-run a playbook: its strategy, parameters, data range and backtest settings (instead of
    /// --strategy/--symbol/--interval/--param and the settings flags).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["strategy", "symbol", "interval", "params", "start", "end"])]
    pub playbook: Option<PathBuf>,
    /// With --playbook: compare the fresh metrics with the stored ones and exit 3 on drift beyond
    /// --tolerance or when the data's sha256 differs (the CI regression gate).
    #[arg(long, requires = "playbook")]
    pub check: bool,
    /// Relative tolerance of --check for real-valued metrics (counts must match exactly).
    #[arg(long, default_value_t = 1e-9, value_name = "REL")]
    pub tolerance: f64,
    /// With --check: compare even when the data's sha256 differs from the playbook's.
    #[arg(long, requires = "playbook")]
    pub ignore_data_hash: bool,
}

/// Runs `flowrex backtest`.
pub fn run(ctx: &Context, args: BacktestArgs) -> Result<Outcome> {
    if args.list_strategies {
        return list_strategies(ctx);
    }
    let playbook = args
        .playbook
        .as_deref()
        .map(flowrex::playbook::Playbook::load)
        .transpose()?;
    let (strategy, symbol, interval, params, config, range) = match &playbook {
        Some(pb) => playbook_run(pb)?,
        None => args_run(&args)?,
    };
    let symbol = symbol.as_str();
    let store = Store::new(&ctx.home);
    let candles = store.load(symbol, interval, &range)?;
    if candles.is_empty() {
        let all = store.load(symbol, interval, &TimeRange::ALL)?;
        let span = match (all.ts.first(), all.ts.last()) {
            (Some(a), Some(b)) => format!("the store holds {} to {}", format_ts(*a), format_ts(*b)),
            _ => "the store file is empty".to_string(),
        };
        return Err(Error::invalid(format!(
            "no {symbol} {interval} bars between --start {} and --end {}; {span}",
            args.start.as_deref().unwrap_or("(first)"),
            args.end.as_deref().unwrap_or("(last)")
        )));
    }
    let data_hash = playbook.as_ref().map(|pb| {
        let sha = candles.sha256();
        (sha.clone(), sha == pb.market.data_sha256)
    });
    if let (Some(pb), Some((sha, false))) = (&playbook, &data_hash) {
        let msg = format!(
            "{}: the {symbol} {interval} data changed: sha256 {} of {} bars, the playbook has {} of {} bars",
            args.playbook
                .as_deref()
                .unwrap_or(std::path::Path::new(""))
                .display(),
            &sha[..12],
            candles.len(),
            pb.market
                .data_sha256
                .get(..12)
                .unwrap_or(&pb.market.data_sha256),
            pb.market.bars
        );
        if args.check && !args.ignore_data_hash {
            return Err(Error::CheckFailed(format!(
                "{msg}; re-run the optimization, or pass --ignore-data-hash to compare anyway"
            )));
        }
        tracing::warn!("{msg}");
    }
    let cache = IndicatorCache::new();
    let report = backtest::backtest(&candles, strategy, &params, &config, &cache)?;
    if let (Some(pb), true) = (&playbook, args.check) {
        let path = args.playbook.as_deref().unwrap_or(std::path::Path::new(""));
        let data_ok = data_hash.as_ref().is_some_and(|(_, ok)| *ok);
        return check_report(ctx, path, pb, &report.metrics, args.tolerance, data_ok);
    }
    if let Some(path) = &args.trades {
        export::write_trades(path, &report.run.trades, &candles.ts)?;
    }
    if let Some(path) = &args.equity {
        export::write_equity(path, &candles.ts, &report.run.equity)?;
    }
    let doc = Document::new(
        strategy,
        &params,
        symbol,
        interval,
        &config,
        &report,
        &candles.ts,
    );
    if ctx.json {
        print_json(&doc)?;
    } else {
        print_text(&render_text(&doc))?;
    }
    Ok(Outcome::Done)
}

type Resolved = (
    &'static dyn Strategy,
    String,
    Interval,
    Params,
    BacktestConfig,
    TimeRange,
);

/// Strategy, data and settings from the command line.
fn args_run(args: &BacktestArgs) -> Result<Resolved> {
    let name = args.strategy.as_deref().unwrap_or_default();
    let symbol = args.symbol.as_deref().unwrap_or_default();
    let interval: Interval = args
        .interval
        .as_deref()
        .unwrap_or_default()
        .parse()
        .map_err(|e: Error| Error::usage(format!("--interval: {e}")))?;
    let strategy = strategy::lookup(name)?;
    let overrides = args
        .params
        .iter()
        .map(|p| strategy::params::split_assignment(p))
        .collect::<Result<Vec<_>>>()?;
    let params = strategy::resolve_params(strategy, &overrides)?;
    let config = BacktestConfig {
        cash: args.cash,
        commission: args.commission,
        spread: args.spread,
        fill: match args.fill {
            FillArg::NextOpen => Fill::NextOpen,
            FillArg::Close => Fill::Close,
        },
        close_at_end: args.close_at_end,
        sizing: Sizing::parse(&args.size)?,
        stop_policy: match args.stop_policy {
            StopPolicyArg::Pessimistic => StopPolicy::Pessimistic,
            StopPolicyArg::Optimistic => StopPolicy::Optimistic,
        },
    };
    config.validate()?;
    let range = TimeRange::parse(args.start.as_deref(), args.end.as_deref())?;
    Ok((
        strategy,
        symbol.to_string(),
        interval,
        params,
        config,
        range,
    ))
}

/// Strategy, data and settings from a playbook.
fn playbook_run(pb: &flowrex::playbook::Playbook) -> Result<Resolved> {
    let strategy = strategy::lookup(&pb.strategy.name)?;
    let params = strategy::resolve_params(strategy, &pb.strategy.params.to_overrides())?;
    let interval: Interval = pb
        .market
        .interval
        .parse()
        .map_err(|e: Error| Error::invalid(format!("playbook [market] interval: {e}")))?;
    Ok((
        strategy,
        pb.market.symbol.clone(),
        interval,
        params,
        pb.backtest.to_config()?,
        pb.market.range()?,
    ))
}

/// `--check`: compares fresh metrics with the playbook's; exit 3 listing what drifted.
fn check_report(
    ctx: &Context,
    path: &std::path::Path,
    pb: &flowrex::playbook::Playbook,
    fresh: &Metrics,
    tolerance: f64,
    data_ok: bool,
) -> Result<Outcome> {
    let drifts = flowrex::playbook::compare_metrics(&pb.metrics, fresh, tolerance);
    let show = |v: Option<f64>| v.map_or("(none)".to_string(), |v| format!("{v}"));
    if ctx.json {
        let list: Vec<serde_json::Value> = drifts
            .iter()
            .map(|d| {
                serde_json::json!({
                    "metric": d.metric,
                    "stored": d.stored,
                    "fresh": d.fresh,
                    "relative": finite_or(d.relative),
                })
            })
            .collect();
        print_json(&serde_json::json!({
            "playbook": path.display().to_string(),
            "passed": drifts.is_empty(),
            "tolerance": tolerance,
            "metrics_compared": pb.metrics.0.len(),
            "data_sha256_matches": data_ok,
            "drifts": list,
        }))?;
    } else if drifts.is_empty() {
        print_text(&format!(
            "check passed: {} — {} {} on {} {}: {} stored metrics reproduced within {tolerance:e} relative; {}",
            path.display(),
            pb.strategy.name,
            pb.strategy.params.to_line(),
            pb.market.symbol,
            pb.market.interval,
            pb.metrics.0.len(),
            if data_ok {
                "data sha256 matches"
            } else {
                "data sha256 DIFFERS (ignored)"
            }
        ))?;
    } else {
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
        let rows = drifts.iter().map(|d| DriftRow {
            metric: d.metric.clone(),
            stored: show(d.stored),
            fresh: show(d.fresh),
            relative: format!("{:.3e}", d.relative),
        });
        print_text(&format!(
            "check FAILED: {}: {} of {} metrics drifted beyond {tolerance:e} relative\n{}",
            path.display(),
            drifts.len(),
            pb.metrics.0.len(),
            table(rows)
        ))?;
    }
    if drifts.is_empty() {
        Ok(Outcome::Done)
    } else {
        let names: Vec<&str> = drifts.iter().map(|d| d.metric.as_str()).collect();
        Err(Error::CheckFailed(format!(
            "{}: regression: {} drifted beyond {tolerance:e} relative",
            path.display(),
            names.join(", ")
        )))
    }
}

fn finite_or(v: f64) -> Option<f64> {
    v.is_finite().then_some(v)
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
    /// Closed trades.
    pub trades: Vec<TradeRecord>,
    /// The position still open at the end, or null.
    pub open_trade: Option<OpenTradeRecord>,
}

impl Document {
    fn new(
        strategy: &dyn Strategy,
        params: &Params,
        symbol: &str,
        interval: Interval,
        config: &BacktestConfig,
        report: &Report,
        ts: &[i64],
    ) -> Document {
        Document {
            strategy: strategy.name(),
            params: params.to_json(),
            symbol: symbol.to_string(),
            interval,
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
            trades: TradeRecord::all(&report.run.trades, ts),
            open_trade: report
                .run
                .open_trade
                .as_ref()
                .map(|t| OpenTradeRecord::new(t, ts)),
        }
    }
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
    let wins = d.trades.iter().filter(|t| t.pnl > 0.0).count();
    let longs = d.trades.iter().filter(|t| t.size > 0.0).count();
    out.push_str(&format!(
        "{} closed trades ({} long, {} short; {} won)",
        d.trades.len(),
        longs,
        d.trades.len() - longs,
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
    if !d.trades.is_empty() {
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
        let shown = 5.min(d.trades.len());
        out.push_str(&format!("Last {shown} trades:\n"));
        let rows = d.trades[d.trades.len() - shown..].iter().map(|t| TradeRow {
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

fn list_strategies(ctx: &Context) -> Result<Outcome> {
    if ctx.json {
        let list: Vec<serde_json::Value> = strategy::registry()
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
    #[derive(tabled::Tabled)]
    struct ParamRow {
        #[tabled(rename = "Strategy")]
        strategy: &'static str,
        #[tabled(rename = "Param")]
        name: &'static str,
        #[tabled(rename = "Type")]
        kind: &'static str,
        #[tabled(rename = "Default")]
        default: String,
        #[tabled(rename = "Valid")]
        valid: String,
        #[tabled(rename = "Search")]
        search: String,
        #[tabled(rename = "Meaning")]
        help: &'static str,
    }
    let mut out = String::new();
    for s in strategy::registry() {
        out.push_str(&format!("{}: {}\n", s.name(), s.summary()));
    }
    let rows = strategy::registry().iter().flat_map(|s| {
        s.params().iter().map(|p| ParamRow {
            strategy: s.name(),
            name: p.name,
            kind: p.type_name(),
            default: p.default_value().to_string(),
            valid: p.valid_range(),
            search: p.search_range(),
            help: p.help,
        })
    });
    out.push_str(&table(rows));
    print_text(&out)?;
    Ok(Outcome::Done)
}
