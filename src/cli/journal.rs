//! `flowrex journal`: the append-only trade journal — list, show, statistics, import of a broker's fills,
//! verification of the hash chains, analysis of real trades against their backtest, the feedback loop and
//! snapshots. Arguments and rendering only; the logic is in [`flowrex::journal`].

use std::path::{Path, PathBuf};

use chrono::Utc;
use serde::Serialize;
use serde_json::{Value, json};

use super::output::{print_json, print_text, table, table_of};
use super::{Context, Outcome};
use flowrex::backtest::{Report, RunSpec};
use flowrex::candles::time::{format_ts, format_ts_full};
use flowrex::candles::{Candles, Interval, TimeRange};
use flowrex::db::audit::Verification;
use flowrex::error::{Error, IoContext, Result};
use flowrex::home::Home;
use flowrex::journal::analyze::{self, Analysis};
use flowrex::journal::feedback::{self, Decision, Evaluation};
use flowrex::journal::import::{self, Attribution};
use flowrex::journal::reference::{RecordedSettings, Reference};
use flowrex::journal::stats::{self, GroupBy, Outcome as TradeOutcome, TradeStats};
use flowrex::journal::{self, Entry, Filter, NewEntry, PlaybookRef, Source, Thresholds};
use flowrex::playbook::Playbook;
use flowrex::risk::StrategyId;
use flowrex::trade::{ExitReason, Side, TradeRecord};

const AFTER_HELP: &str = "\
Sources: backtest (backtest --journal), paper (the paper broker), live (journal import). Statistics
are on per-trade returns, as backtest --json computes them; see docs/journal.md for every definition.

Examples:
  flowrex backtest --playbook playbooks/goog_sma_cross.toml --journal
  flowrex journal import --file fills.csv --strategy breakout --account ib-1 --interval 1h
  flowrex journal stats --by strategy,symbol
  flowrex journal analyze --strategy goog_sma_cross --symbol GOOG --source paper
  flowrex journal feedback --all                 # exit 3 when a strategy was disabled
  flowrex journal verify                         # exit 3 naming the first altered row

Exit codes: 0 success; 1 bad input (unknown strategy or symbol, an empty journal, a broken CSV row:
nothing is written); 2 usage error; 3 verify found the journal altered, or feedback disabled a strategy.";

/// Arguments of `flowrex journal`.
#[derive(Debug, clap::Args)]
#[command(after_help = AFTER_HELP)]
pub struct JournalArgs {
    /// What to do.
    #[command(subcommand)]
    pub action: Action,
}

/// The `journal` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Action {
    /// List entries (newest --limit, oldest first).
    List(ListArgs),
    /// Show one entry with its context and excursions.
    Show {
        /// The entry id.
        id: i64,
    },
    /// Statistics of the entries, in total and grouped.
    Stats(StatsArgs),
    /// Import live trades from a broker's fills CSV (time, symbol, side, quantity, price, fee, order_id).
    Import(ImportArgs),
    /// Recompute the journal's hash chains and check its guards: exit 0 intact, 3 altered.
    Verify,
    /// Compare real (paper/live) trades one to one with a replay of their backtest over the same bars.
    Analyze(AnalyzeArgs),
    /// Evaluate the underperformance criteria and act: disable, queue a re-optimization, or monitor.
    Feedback(FeedbackArgs),
    /// List the feedback decisions.
    Decisions(BookArgs),
    /// Store a dated performance snapshot per strategy and symbol.
    Snapshot(SnapshotArgs),
    /// List the snapshots (the trend).
    Snapshots(BookArgs),
}

/// Which entries.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct FilterArgs {
    /// Only these sources: backtest, paper, live (comma-separated or repeated).
    #[arg(long, value_delimiter = ',')]
    pub source: Vec<String>,
    /// Only this strategy.
    #[arg(long)]
    pub strategy: Option<String>,
    /// Only this symbol.
    #[arg(long)]
    pub symbol: Option<String>,
    /// Only trades closed at or after this time (date, datetime or epoch).
    #[arg(long)]
    pub since: Option<String>,
    /// Only trades closed up to this time (a date includes that whole day).
    #[arg(long)]
    pub until: Option<String>,
    /// Only long or short trades.
    #[arg(long)]
    pub side: Option<String>,
    /// Only trades closed for this reason: signal, stop, target, end-of-data, out-of-money.
    #[arg(long)]
    pub exit_reason: Option<String>,
    /// Only this account.
    #[arg(long)]
    pub account: Option<String>,
    /// Only this run (backtest run, paper run or import batch).
    #[arg(long)]
    pub run_id: Option<String>,
}

/// Arguments of `journal list`.
#[derive(Debug, clap::Args)]
pub struct ListArgs {
    /// Which entries.
    #[command(flatten)]
    pub filter: FilterArgs,
    /// Show the newest N entries.
    #[arg(long, default_value_t = 50, value_name = "N")]
    pub limit: usize,
    /// Show every entry.
    #[arg(long, conflicts_with = "limit")]
    pub all: bool,
    /// Add each trade's MAE/MFE from the stored candles.
    #[arg(long)]
    pub mae: bool,
}

/// Arguments of `journal stats`.
#[derive(Debug, clap::Args)]
pub struct StatsArgs {
    /// Which entries.
    #[command(flatten)]
    pub filter: FilterArgs,
    /// Group by: strategy, symbol, source, side, exit-reason, weekday, hour (comma-separated or repeated).
    #[arg(long, value_delimiter = ',')]
    pub by: Vec<String>,
    /// Add the mean MAE/MFE of each group from the stored candles.
    #[arg(long)]
    pub mae: bool,
}

/// Arguments of `journal import`.
#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// The fills CSV.
    #[arg(long, value_name = "FILE")]
    pub file: PathBuf,
    /// The strategy the trades belong to (its risk budget and feedback).
    #[arg(long)]
    pub strategy: String,
    /// The account.
    #[arg(long, default_value = journal::DEFAULT_ACCOUNT)]
    pub account: String,
    /// The bar interval the strategy trades on (for excursions and analysis).
    #[arg(long)]
    pub interval: Option<String>,
    /// The playbook the trades were made under (recorded with them; analysis compares with it).
    #[arg(long, value_name = "FILE")]
    pub playbook: Option<PathBuf>,
}

/// One book (strategy and symbol), or every book.
#[derive(Debug, Clone, clap::Args)]
pub struct BookArgs {
    /// The strategy.
    #[arg(long)]
    pub strategy: Option<String>,
    /// The symbol.
    #[arg(long)]
    pub symbol: Option<String>,
}

/// Arguments of `journal analyze`.
#[derive(Debug, clap::Args)]
pub struct AnalyzeArgs {
    /// The strategy.
    #[arg(long)]
    pub strategy: String,
    /// The symbol.
    #[arg(long)]
    pub symbol: String,
    /// The real sources to compare: paper, live [default: both].
    #[arg(long, value_delimiter = ',')]
    pub source: Vec<String>,
    /// Compare with this playbook instead of the one the trades recorded.
    #[arg(long, value_name = "FILE")]
    pub playbook: Option<PathBuf>,
    /// A real trade may match a backtest trade entered up to N bars away.
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub max_lag: usize,
    /// Only trades closed at or after this time.
    #[arg(long)]
    pub since: Option<String>,
    /// Only trades closed up to this time.
    #[arg(long)]
    pub until: Option<String>,
}

/// Arguments of `journal feedback`.
#[derive(Debug, clap::Args)]
pub struct FeedbackArgs {
    /// The strategy (with --symbol).
    #[arg(long, requires = "symbol", required_unless_present = "all")]
    pub strategy: Option<String>,
    /// The symbol (with --strategy).
    #[arg(long, requires = "strategy")]
    pub symbol: Option<String>,
    /// Every strategy and symbol with trades of the sources.
    #[arg(long, conflicts_with_all = ["strategy", "symbol"])]
    pub all: bool,
    /// The sources evaluated: backtest, paper, live [default: paper,live].
    #[arg(long, value_delimiter = ',')]
    pub source: Vec<String>,
    /// The reference backtest: this playbook instead of the one the trades recorded.
    #[arg(long, value_name = "FILE")]
    pub playbook: Option<PathBuf>,
    /// Run a queued re-optimization now (`flowrex optimize --spec FILE`).
    #[arg(long)]
    pub run: bool,
}

/// Arguments of `journal snapshot`.
#[derive(Debug, clap::Args)]
pub struct SnapshotArgs {
    /// The strategy (with --symbol).
    #[arg(long, requires = "symbol", required_unless_present = "all")]
    pub strategy: Option<String>,
    /// The symbol (with --strategy).
    #[arg(long, requires = "strategy")]
    pub symbol: Option<String>,
    /// Every strategy and symbol.
    #[arg(long, conflicts_with_all = ["strategy", "symbol"])]
    pub all: bool,
    /// The sources: backtest, paper, live [default: all].
    #[arg(long, value_delimiter = ',')]
    pub source: Vec<String>,
}

/// Runs `flowrex journal`.
pub fn run(ctx: &Context, args: JournalArgs) -> Result<Outcome> {
    match args.action {
        Action::List(a) => list(ctx, a),
        Action::Show { id } => show(ctx, id),
        Action::Stats(a) => stats_cmd(ctx, a),
        Action::Import(a) => import_cmd(ctx, a),
        Action::Verify => verify(ctx),
        Action::Analyze(a) => analyze_cmd(ctx, a),
        Action::Feedback(a) => feedback_cmd(ctx, a),
        Action::Decisions(a) => decisions(ctx, a),
        Action::Snapshot(a) => snapshot(ctx, a),
        Action::Snapshots(a) => snapshots(ctx, a),
    }
}

// ---- Parsing ------------------------------------------------------------------------------------

fn sources(list: &[String]) -> Result<Vec<Source>> {
    let mut out: Vec<Source> = list
        .iter()
        .map(|s| Source::parse_field("--source", s))
        .collect::<Result<_>>()?;
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

fn strategy_id(s: &str) -> Result<StrategyId> {
    StrategyId::parse("--strategy", s)
}

/// `--since`/`--until` as [since, until) in ms (a date `until` includes its whole day).
fn window(since: Option<&str>, until: Option<&str>) -> Result<(Option<i64>, Option<i64>)> {
    let r = TimeRange::parse_flags(("since", since), ("until", until))?;
    Ok((r.start, r.end.map(|e| e + 1)))
}

impl FilterArgs {
    fn filter(&self) -> Result<Filter> {
        let (since_ms, until_ms) = window(self.since.as_deref(), self.until.as_deref())?;
        Ok(Filter {
            sources: sources(&self.source)?,
            strategy: self.strategy.as_deref().map(strategy_id).transpose()?,
            symbol: self.symbol.clone(),
            since_ms,
            until_ms,
            side: self.side.as_deref().map(|s| Side::parse_field("--side", s)).transpose()?,
            exit_reason: self
                .exit_reason
                .as_deref()
                .map(|r| {
                    r.trim().parse::<ExitReason>().map_err(|_| {
                        Error::invalid(format!(
                            "--exit-reason: unknown reason '{r}'; expected signal, stop, target, end-of-data or out-of-money"
                        ))
                    })
                })
                .transpose()?,
            account: self.account.clone(),
            run_id: self.run_id.clone(),
        })
    }
}

/// A playbook file with its reference (name and sha256 of its bytes).
fn load_playbook(path: &Path) -> Result<(Playbook, PlaybookRef, PathBuf)> {
    let text = std::fs::read_to_string(path).at(path)?;
    let pb = Playbook::from_toml(&text, &path.display().to_string())?;
    let r = PlaybookRef::of_text(&pb.playbook.name, &text);
    Ok((pb, r, path.to_path_buf()))
}

fn thresholds(ctx: &Context) -> Result<Thresholds> {
    ctx.config.journal.effective()
}

// ---- Formatting ---------------------------------------------------------------------------------

/// A table in the house style, without its last column unless `last` (an optional column, e.g.
/// MAE/MFE); to fit the screen, the `optional` columns are left out first.
fn table_opt<T: tabled::Tabled>(
    rows: impl IntoIterator<Item = T>,
    last: bool,
    optional: &[&str],
) -> String {
    let mut cells = super::table_fit::Cells::of(rows).optional(optional);
    if !last {
        cells.remove_column(cells.header.len().saturating_sub(1));
    }
    super::output::table_of(cells)
}

fn num(v: f64, decimals: usize) -> String {
    // -0.0 (a zero slippage of a short) reads as 0.
    let v = v + 0.0;
    if v.is_nan() {
        "—".into()
    } else if v.is_infinite() {
        if v > 0.0 { "∞".into() } else { "-∞".into() }
    } else {
        format!("{v:.decimals$}")
    }
}

// ---- backtest --journal -------------------------------------------------------------------------

/// Journals the closed trades of a backtest run (`backtest --journal`): one entry per trade the journal
/// does not hold yet (`flowrex::journal::once`: a second identical run adds nothing), source `backtest`,
/// in one transaction. `name` is the strategy name to journal under (the playbook's name, else the
/// strategy's, when empty).
pub fn record_backtest(
    ctx: &Context,
    spec: &RunSpec,
    playbook: Option<(&Path, &Playbook)>,
    report: &Report,
    candles: &Candles,
    name: &str,
) -> Result<Journaled> {
    let pb_ref = playbook
        .map(|(path, pb)| {
            let text = std::fs::read_to_string(path).at(path)?;
            Ok::<_, Error>(PlaybookRef::of_text(&pb.playbook.name, &text))
        })
        .transpose()?;
    let name = match (name.trim(), &pb_ref) {
        ("", Some(r)) => r.name.clone(),
        ("", None) => spec.strategy.name().to_string(),
        (n, _) => n.to_string(),
    };
    let strategy = StrategyId::parse("--journal", &name)?;
    let now = Utc::now();
    let stamp = now.format("%Y%m%dT%H%M%S%.3fZ").to_string();
    let run_id = format!(
        "backtest-{stamp}-{}",
        &flowrex::db::chain::sha256_hex(&format!(
            "{name}|{}|{}|{stamp}",
            spec.params.to_json(),
            candles.sha256()
        ))[..8]
    );
    let settings = RecordedSettings::of_run(&spec.config, candles).to_json();
    let entries: Vec<NewEntry> = TradeRecord::all(&report.run.trades, &candles.ts)
        .into_iter()
        .map(|trade| NewEntry {
            source: Source::Backtest,
            run_id: Some(run_id.clone()),
            strategy: strategy.clone(),
            model: Some(spec.strategy.name().to_string()),
            params: Some(spec.params.to_json()),
            settings: Some(settings.clone()),
            playbook: pb_ref.clone(),
            symbol: spec.data.symbol.clone(),
            interval: Some(spec.data.interval),
            account: None,
            order_ids: Vec::new(),
            trade,
            bars_known: true,
        })
        .collect();
    let clock = std::time::Instant::now();
    let done = ctx
        .db()?
        .write(|tx| journal::once::append_once(tx, &entries, now.timestamp_millis()))?;
    tracing::debug!(
        "journal: {} trades checked and written in {:.1} ms",
        entries.len(),
        clock.elapsed().as_secs_f64() * 1e3
    );
    let journaled = Journaled {
        strategy: strategy.to_string(),
        run_id: (!done.ids.is_empty()).then_some(run_id),
        new: done.ids.len(),
        known: done.known,
        entries: done.ids.first().zip(done.ids.last()).map(|(a, b)| [*a, *b]),
    };
    tracing::info!("{}", journaled.line());
    Ok(journaled)
}

/// What `backtest --journal` wrote: the `journal` object of its JSON document.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Journaled {
    /// The name the trades were journaled under.
    pub strategy: String,
    /// The run id of the new entries (none when there were none).
    pub run_id: Option<String>,
    /// Trades journaled now.
    pub new: usize,
    /// Trades the journal held already (same key: see `flowrex::journal::once`), not written again.
    pub known: usize,
    /// The first and last new entry ids.
    pub entries: Option<[i64; 2]>,
}

impl Journaled {
    /// One line for stderr: `journal: 0 new trades, 93 already journaled (strategy 'x')`.
    pub fn line(&self) -> String {
        let plural = |n: usize| if n == 1 { "" } else { "s" };
        format!(
            "journal: {} new trade{}, {} already journaled (strategy '{}'{}{})",
            self.new,
            plural(self.new),
            self.known,
            self.strategy,
            self.run_id
                .as_ref()
                .map(|r| format!(", run {r}"))
                .unwrap_or_default(),
            self.entries
                .map(|[a, b]| format!(", entries {a}..{b}"))
                .unwrap_or_default()
        )
    }
}

// ---- list / show --------------------------------------------------------------------------------

fn list(ctx: &Context, a: ListArgs) -> Result<Outcome> {
    let filter = a.filter.filter()?;
    let entries = ctx.db_read()?.read(|tx| {
        journal::entry::check_known(tx, &filter)?;
        journal::entry::list(tx, &filter, (!a.all).then_some(a.limit))
    })?;
    let excursions = if a.mae {
        excursions(ctx, &entries)?
    } else {
        vec![None; entries.len()]
    };
    if ctx.json {
        let list: Vec<Value> = entries
            .iter()
            .zip(&excursions)
            .map(|(e, x)| {
                let mut v = e.to_json();
                if a.mae {
                    v["excursion"] = json!(x);
                }
                v
            })
            .collect();
        return print_json(&json!({ "entries": list })).map(|()| Outcome::Done);
    }
    #[derive(tabled::Tabled)]
    struct Row {
        #[tabled(rename = "Id")]
        id: i64,
        #[tabled(rename = "Source")]
        source: &'static str,
        #[tabled(rename = "Strategy")]
        strategy: String,
        #[tabled(rename = "Symbol")]
        symbol: String,
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
        #[tabled(rename = "Return %")]
        ret: String,
        #[tabled(rename = "Exit by")]
        reason: &'static str,
        #[tabled(rename = "MAE/MFE %")]
        mae: String,
    }
    let rows = entries.iter().zip(&excursions).map(|(e, x)| {
        let t = &e.trade;
        Row {
            id: e.id,
            source: e.source.as_str(),
            strategy: e.strategy.clone(),
            symbol: e.symbol.clone(),
            side: t.side.as_str(),
            size: num(t.size.abs(), if t.size.fract() == 0.0 { 0 } else { 4 }),
            entry: format_ts(t.entry_time),
            exit: format_ts(t.exit_time),
            entry_price: num(t.entry_price, 4),
            exit_price: num(t.exit_price, 4),
            pnl: num(t.pnl, 2),
            ret: num(t.return_pct, 2),
            reason: t.exit_reason.as_str(),
            mae: x.map_or_else(
                || "—".into(),
                |x| format!("{:.2}/{:.2}", x.mae_pct, x.mfe_pct),
            ),
        }
    });
    // At 80 columns the outcome (P&L, Return %) matters more than the prices that made it.
    let optional = ["Source", "Entry price", "Exit price", "Size"];
    let mut out = table_opt(rows, a.mae, &optional);
    out.push_str(&format!("\n{} entries", entries.len()));
    print_text(&out)?;
    Ok(Outcome::Done)
}

/// The excursion of each entry from the stored candles of its symbol and interval (each series loaded
/// once); `None` where the entry has no interval or the store has no candles for it.
fn excursions(ctx: &Context, entries: &[Entry]) -> Result<Vec<Option<stats::Excursion>>> {
    let store = ctx.home()?.store();
    let mut cache: std::collections::HashMap<(String, Interval), Option<Candles>> =
        Default::default();
    Ok(entries
        .iter()
        .map(|e| {
            let interval = e.interval?;
            let candles = cache
                .entry((e.symbol.clone(), interval))
                .or_insert_with(|| store.load(&e.symbol, interval, &TimeRange::ALL).ok());
            stats::excursion(&e.trade, candles.as_ref()?)
        })
        .collect())
}

fn show(ctx: &Context, id: i64) -> Result<Outcome> {
    let entry = ctx
        .db_read()?
        .read(|tx| journal::entry::get(tx, id))?
        .ok_or_else(|| Error::invalid(format!("journal entry {id}: there is no such entry")))?;
    let x = excursions(ctx, std::slice::from_ref(&entry))?[0];
    let r = stats::r_multiple(&entry.trade);
    if ctx.json {
        let mut v = entry.to_json();
        v["excursion"] = json!(x);
        v["r_multiple"] = json!(r);
        return print_json(&v).map(|()| Outcome::Done);
    }
    let t = &entry.trade;
    let opt = |v: Option<f64>| v.map_or("—".to_string(), |v| format!("{v}"));
    let mut lines = vec![
        format!(
            "entry {} ({}, recorded {})",
            entry.id,
            entry.source,
            format_ts_full(entry.recorded_at)
        ),
        format!(
            "strategy {} on {} {}, account {}",
            entry.strategy,
            entry.symbol,
            entry.interval.map_or("—", Interval::as_str),
            entry.account
        ),
        format!("run {}", entry.run_id.as_deref().unwrap_or("—")),
    ];
    if let Some(m) = &entry.model {
        lines.push(format!(
            "model {m} {}",
            entry
                .params
                .as_ref()
                .map_or(String::new(), |p| p.to_string())
        ));
    }
    if let Some(p) = &entry.playbook {
        lines.push(format!("playbook {} (sha256 {})", p.name, p.sha256));
    }
    if !entry.order_ids.is_empty() {
        lines.push(format!("orders {}", entry.order_ids.join(", ")));
    }
    lines.extend([
        format!(
            "{} {} from {} @ {} to {} @ {} ({:.2} days), exit by {}",
            t.side,
            t.size.abs(),
            format_ts_full(t.entry_time),
            t.entry_price,
            format_ts_full(t.exit_time),
            t.exit_price,
            t.duration_days,
            t.exit_reason
        ),
        format!("stop {}, target {}", opt(t.stop), opt(t.target)),
        format!(
            "pnl {} (commission {}), return {:.4}%, R {}",
            t.pnl,
            t.commission,
            t.return_pct,
            r.map_or("—".into(), |r| format!("{r:.3}"))
        ),
        match x {
            Some(x) => format!("MAE {:.3}%, MFE {:.3}%", x.mae_pct, x.mfe_pct),
            None => "MAE/MFE: no stored candles for this entry's symbol and interval".into(),
        },
        format!("hash {}", entry.hash),
    ]);
    print_text(&lines.join("\n"))?;
    Ok(Outcome::Done)
}

// ---- stats --------------------------------------------------------------------------------------

fn stats_cmd(ctx: &Context, a: StatsArgs) -> Result<Outcome> {
    let filter = a.filter.filter()?;
    let by: Vec<GroupBy> = a
        .by
        .iter()
        .map(|b| {
            b.trim().parse().map_err(|_| {
                Error::usage(format!(
                    "--by {b}: unknown grouping; use strategy, symbol, source, side, exit-reason, weekday or hour"
                ))
            })
        })
        .collect::<Result<_>>()?;
    let (total, groups, feedback, excursion) = ctx.db_read()?.read(|tx| {
        journal::entry::check_known(tx, &filter)?;
        let (total, groups) = stats::grouped(tx, &filter, &by)?;
        let fb = feedback::decisions(tx, filter.strategy.as_ref(), filter.symbol.as_deref(), true)?;
        let entries = if a.mae {
            journal::entry::list(tx, &filter, None)?
        } else {
            Vec::new()
        };
        Ok((total, groups, fb, entries))
    })?;
    if total.trades == 0 {
        return Err(Error::invalid("no journal entries match these filters"));
    }
    let mae = if a.mae {
        Some(mean_excursions(ctx, &excursion, &by)?)
    } else {
        None
    };
    if ctx.json {
        let groups: Vec<Value> = groups
            .iter()
            .map(|g| {
                let mut key = serde_json::Map::new();
                for (k, v) in &g.key {
                    key.insert(k.to_string(), json!(v));
                }
                let mut v = json!({"key": key, "stats": g.stats});
                if let Some(m) = &mae {
                    v["mean_excursion"] = json!(m.get(&label(&g.key)));
                }
                v
            })
            .collect();
        return print_json(&json!({
            "by": by,
            "total": total,
            "groups": groups,
            "feedback": feedback,
        }))
        .map(|()| Outcome::Done);
    }
    let mut out = stats_table(&total, &groups, &by, mae.as_ref());
    if !feedback.is_empty() {
        #[derive(tabled::Tabled)]
        struct Fb {
            #[tabled(rename = "Strategy")]
            strategy: String,
            #[tabled(rename = "Symbol")]
            symbol: String,
            #[tabled(rename = "Latest feedback")]
            decision: String,
            #[tabled(rename = "When")]
            ts: String,
        }
        out.push_str("\nFeedback (latest decision per strategy and symbol):\n");
        out.push_str(&table(feedback.iter().map(|f| Fb {
            strategy: f.strategy.clone(),
            symbol: f.symbol.clone(),
            decision: f.decision.clone(),
            ts: f.ts.clone(),
        })));
    }
    print_text(&out)?;
    Ok(Outcome::Done)
}

fn label(key: &[(GroupBy, String)]) -> String {
    key.iter()
        .map(|(_, v)| v.as_str())
        .collect::<Vec<_>>()
        .join(" / ")
}

/// Mean MAE and MFE per group label (and "" for the total).
fn mean_excursions(
    ctx: &Context,
    entries: &[Entry],
    by: &[GroupBy],
) -> Result<std::collections::HashMap<String, stats::Excursion>> {
    let xs = excursions(ctx, entries)?;
    let mut sums: std::collections::HashMap<String, (f64, f64, usize)> = Default::default();
    for (e, x) in entries.iter().zip(xs) {
        let Some(x) = x else { continue };
        let key = by
            .iter()
            .map(|g| match g {
                GroupBy::Strategy => e.strategy.clone(),
                GroupBy::Symbol => e.symbol.clone(),
                GroupBy::Source => e.source.to_string(),
                GroupBy::Side => e.trade.side.to_string(),
                GroupBy::ExitReason => e.trade.exit_reason.to_string(),
                GroupBy::Weekday => {
                    let d = stats::weekday_hour(e.trade.entry_time).0 as usize;
                    ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"][d].to_string()
                }
                GroupBy::Hour => format!("{:02}", stats::weekday_hour(e.trade.entry_time).1),
            })
            .collect::<Vec<_>>()
            .join(" / ");
        for k in [key, String::new()] {
            let s = sums.entry(k).or_default();
            s.0 += x.mae_pct;
            s.1 += x.mfe_pct;
            s.2 += 1;
        }
    }
    Ok(sums
        .into_iter()
        .map(|(k, (a, f, n))| {
            (
                k,
                stats::Excursion {
                    mae_pct: a / n as f64,
                    mfe_pct: f / n as f64,
                },
            )
        })
        .collect())
}

fn stats_table(
    total: &TradeStats,
    groups: &[stats::Group],
    by: &[GroupBy],
    mae: Option<&std::collections::HashMap<String, stats::Excursion>>,
) -> String {
    #[derive(tabled::Tabled)]
    struct Row {
        #[tabled(rename = "Group")]
        group: String,
        #[tabled(rename = "Trades")]
        trades: u64,
        #[tabled(rename = "Win %")]
        win: String,
        #[tabled(rename = "PF")]
        pf: String,
        #[tabled(rename = "Expect. %")]
        expectancy: String,
        #[tabled(rename = "Avg R")]
        avg_r: String,
        #[tabled(rename = "Max L")]
        streak: u32,
        #[tabled(rename = "Best %")]
        best: String,
        #[tabled(rename = "Worst %")]
        worst: String,
        #[tabled(rename = "Net P&L")]
        net: String,
        #[tabled(rename = "MAE/MFE %")]
        mae: String,
    }
    let row = |name: String, s: &TradeStats| Row {
        mae: mae
            .and_then(|m| {
                m.get(&if name == "total" {
                    String::new()
                } else {
                    name.clone()
                })
            })
            .map_or("—".into(), |x| {
                format!("{:.2}/{:.2}", x.mae_pct, x.mfe_pct)
            }),
        group: name,
        trades: s.trades,
        win: num(s.win_rate_pct, 1),
        pf: num(s.profit_factor, 2),
        expectancy: num(s.expectancy_pct, 3),
        avg_r: num(s.avg_r, 2),
        streak: s.max_consecutive_losses,
        best: num(s.best_pct, 2),
        worst: num(s.worst_pct, 2),
        net: num(s.net_pnl, 2),
    };
    let mut rows: Vec<Row> = groups
        .iter()
        .map(|g| row(label(&g.key), &g.stats))
        .collect();
    rows.push(row("total".into(), total));
    let head = if by.is_empty() {
        String::from("All trades:\n")
    } else {
        format!(
            "By {}:\n",
            by.iter()
                .map(|b| b.to_string())
                .collect::<Vec<_>>()
                .join(" / ")
        )
    };
    let optional = ["MAE/MFE %", "Avg R", "Max L"];
    format!("{head}{}", table_opt(rows, mae.is_some(), &optional))
}

// ---- import -------------------------------------------------------------------------------------

fn import_cmd(ctx: &Context, a: ImportArgs) -> Result<Outcome> {
    let strategy = strategy_id(&a.strategy)?;
    let interval = a
        .interval
        .as_deref()
        .map(|i| {
            i.parse::<Interval>()
                .map_err(|e| Error::usage(format!("--interval: {e}")))
        })
        .transpose()?;
    let playbook = a.playbook.as_deref().map(load_playbook).transpose()?;
    let interval = match (interval, &playbook) {
        (Some(i), _) => Some(i),
        (None, Some((pb, _, path))) => {
            Some(pb.market.interval.parse::<Interval>().map_err(|e| {
                Error::invalid(format!("{}: [market] interval: {e}", path.display()))
            })?)
        }
        (None, None) => None,
    };
    let playbook = playbook
        .map(|(pb, r, path)| {
            let spec = RunSpec::from_playbook_file(&pb, &path)?;
            let settings = RecordedSettings {
                backtest: pb.backtest.clone(),
                data_start: Some(pb.market.start.clone()),
                data_end: Some(pb.market.end.clone()),
                bars: Some(pb.market.bars),
            };
            Ok::<_, Error>((
                r,
                pb.strategy.name.clone(),
                spec.params.to_json(),
                settings.to_json(),
            ))
        })
        .transpose()?;
    let fills = import::read_fills(&a.file)?;
    let who = Attribution {
        strategy,
        account: a.account.clone(),
        interval,
        playbook,
    };
    let file = a.file.display().to_string();
    let now = Utc::now().timestamp_millis();
    let report = ctx
        .db()?
        .write(|tx| import::import(tx, &fills, &file, &who, now))?;
    if ctx.json {
        return print_json(&report).map(|()| Outcome::Done);
    }
    let open: Vec<String> = report
        .open
        .iter()
        .filter(|(_, q)| **q != 0.0)
        .map(|(s, q)| format!("{s} {q}"))
        .collect();
    print_text(&format!(
        "{}: {} fills read, {} new, {} already imported; {} round trips journaled as strategy '{}' (run {}){}",
        file,
        report.fills_read,
        report.fills_new,
        report.fills_known,
        report.entries.len(),
        who.strategy,
        report.run_id,
        if open.is_empty() {
            String::new()
        } else {
            format!("; still open: {}", open.join(", "))
        }
    ))?;
    Ok(Outcome::Done)
}

// ---- verify -------------------------------------------------------------------------------------

fn verify(ctx: &Context) -> Result<Outcome> {
    let v = ctx.db_read()?.read(|tx| journal::verify(tx))?;
    show_verification(ctx, &v)?;
    Ok(if v.intact() {
        Outcome::Done
    } else {
        Outcome::Refused
    })
}

fn show_verification(ctx: &Context, v: &Verification) -> Result<()> {
    if ctx.json {
        return print_json(&json!({
            "intact": v.intact(),
            "first_fault": v.first_fault(),
            "chains": v.chains,
            "guards": v.guards,
        }));
    }
    #[derive(tabled::Tabled)]
    struct Row {
        #[tabled(rename = "Table")]
        table: &'static str,
        #[tabled(rename = "Rows")]
        rows: u64,
        #[tabled(rename = "Head hash")]
        head: String,
        #[tabled(rename = "Status")]
        status: String,
    }
    let rows = v.chains.iter().map(|c| Row {
        table: c.table,
        rows: c.rows,
        head: c.head.clone(),
        status: match &c.fault {
            None => "ok".into(),
            Some(f) => format!("BROKEN at row {}", f.id.unwrap_or(0)),
        },
    });
    // The 64-character head goes first at 80 columns (--wide shows it), so the status stays.
    let mut out = table_of(super::table_fit::Cells::of(rows).optional(&["Head hash"]));
    match v.first_fault() {
        None => out
            .push_str("\njournal intact: every chain verifies and every guard trigger is in place"),
        Some(f) => {
            out.push_str(&format!(
                "\nTAMPERED: {}{}: {}",
                f.table,
                f.id.map_or(String::new(), |id| format!(" row {id}")),
                f.problem
            ));
            for g in &v.guards {
                out.push_str(&format!("\n  {}: {}", g.table, g.problem));
            }
        }
    }
    print_text(&out)
}

// ---- analyze ------------------------------------------------------------------------------------

/// The comparison `journal analyze` makes for `a`, with the trades behind it (`report journal` draws
/// them).
pub fn analyze_replayed(ctx: &Context, a: &AnalyzeArgs) -> Result<analyze::Replayed> {
    let home = ctx.home()?;
    let (since_ms, until_ms) = window(a.since.as_deref(), a.until.as_deref())?;
    let srcs = sources(&a.source)?;
    let req = analyze::Request {
        strategy: strategy_id(&a.strategy)?,
        symbol: a.symbol.trim().to_string(),
        sources: srcs,
        playbook: a.playbook.as_deref().map(load_playbook).transpose()?,
        playbooks_dir: &home.playbooks_dir(),
        max_lag: a.max_lag,
        since_ms,
        until_ms,
    };
    let th = thresholds(ctx)?;
    let store = home.store();
    ctx.db_read()?
        .read(|tx| analyze::analyze_replayed(tx, &store, &req, &th))
}

fn analyze_cmd(ctx: &Context, a: AnalyzeArgs) -> Result<Outcome> {
    let result = analyze_replayed(ctx, &a)?.analysis;
    if ctx.json {
        return print_json(&result).map(|()| Outcome::Done);
    }
    print_text(&render_analysis(&result))?;
    Ok(Outcome::Done)
}

fn render_analysis(a: &Analysis) -> String {
    let r = &a.comparison;
    let srcs: Vec<&str> = a.sources.iter().map(|s| s.as_str()).collect();
    let reference = match &a.reference {
        journal::reference::Origin::Playbook { name, path, .. } => {
            format!("playbook {name} ({})", path.display())
        }
        journal::reference::Origin::Recorded { entry_id } => {
            format!("the settings recorded with entry {entry_id}")
        }
    };
    let mut out = vec![
        format!(
            "{} on {} {}: {} trades vs the backtest of {reference}",
            a.strategy,
            a.symbol,
            a.interval,
            srcs.join("+")
        ),
        format!(
            "span {} .. {} ({} bars of a {}-bar replay from {}); matching by entry bar and side, up to {} bar(s) apart",
            r.span.first, r.span.last, r.span.bars, r.replay.bars, r.replay.first, r.max_lag_bars
        ),
        format!(
            "matched {} of {} real and {} backtest trades: match rate {}%; only real {}, only backtest {}",
            r.matched,
            r.real_trades,
            r.backtest_trades,
            num(r.match_rate_pct, 1),
            r.only_real.len(),
            r.only_backtest.len()
        ),
        format!(
            "slippage (bps, + = worse): entry mean {} worst {}; exit mean {} worst {}",
            num(r.entry_slippage_bps.mean, 2),
            num(r.entry_slippage_bps.worst, 2),
            num(r.exit_slippage_bps.mean, 2),
            num(r.exit_slippage_bps.worst, 2)
        ),
        format!(
            "timing gap (bars, + = later): entry mean {} worst {}; exit mean {} worst {}",
            num(r.entry_gap_bars.mean, 2),
            num(r.entry_gap_bars.worst, 0),
            num(r.exit_gap_bars.mean, 2),
            num(r.exit_gap_bars.worst, 0)
        ),
        format!(
            "P&L gap {} = signal {} + fill {} + cost {} (real {} vs backtest {} at the real size)",
            num(r.pnl_gap.total, 2),
            num(r.pnl_gap.signal, 2),
            num(r.pnl_gap.fill, 2),
            num(r.pnl_gap.cost, 2),
            num(r.pnl_gap.real_pnl, 2),
            num(r.pnl_gap.backtest_pnl, 2)
        ),
    ];
    if a.left_out > 0 {
        out.push(format!(
            "{} entries made under another playbook or settings were left out",
            a.left_out
        ));
    }
    #[derive(tabled::Tabled)]
    struct Row {
        #[tabled(rename = "Metric")]
        metric: &'static str,
        #[tabled(rename = "Real")]
        real: String,
        #[tabled(rename = "Backtest")]
        backtest: String,
        #[tabled(rename = "Difference")]
        diff: String,
    }
    out.push(table(r.metrics.iter().map(|m| {
        let d = if matches!(m.metric, "trades" | "max_consecutive_losses") {
            0
        } else {
            4
        };
        Row {
            metric: m.metric,
            real: num(m.real, d),
            backtest: num(m.backtest, d),
            diff: num(m.difference, d),
        }
    })));
    let d = &r.critical_deviation;
    out.push(if !d.evaluated {
        format!("critical deviation: not judged ({} real trades, {} needed, and 2 or more backtest trades that differ)", d.trades, d.min_trades)
    } else {
        format!(
            "critical deviation: {} — real expectancy {}% vs threshold {}% (backtest {}% − {} × {}%)",
            if d.met { "MET" } else { "not met" },
            num(d.real_expectancy_pct, 4),
            num(d.threshold_pct, 4),
            num(d.backtest_expectancy_pct, 4),
            d.sigmas,
            num(d.standard_error_pct, 4)
        )
    });
    out.join("\n")
}

// ---- feedback -----------------------------------------------------------------------------------

/// The books to evaluate: the one named, or every one with trades of `srcs`.
fn books(
    ctx: &Context,
    strategy: Option<&str>,
    symbol: Option<&str>,
    srcs: &[Source],
) -> Result<Vec<(String, String)>> {
    let filter = Filter {
        sources: srcs.to_vec(),
        strategy: strategy.map(strategy_id).transpose()?,
        symbol: symbol.map(str::to_string),
        ..Filter::default()
    };
    let names = srcs
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join("/");
    // Feedback and snapshot write afterwards: the process's one connection must be a writing one.
    ctx.db()?.read(|tx| {
        journal::entry::check_known(tx, &filter)?;
        let all = journal::entry::books(tx, srcs)?;
        let picked: Vec<(String, String)> = all
            .into_iter()
            .filter(|(s, x, _)| filter.strategy.as_ref().is_none_or(|f| f.as_str() == s) && filter.symbol.as_deref().is_none_or(|f| f.trim() == x))
            .map(|(s, x, _)| (s, x))
            .collect();
        if picked.is_empty() {
            return Err(Error::invalid(format!(
                "no {names} trades{} in the journal (--source chooses which: backtest, paper, live)",
                match (&filter.strategy, &filter.symbol) {
                    (Some(s), Some(x)) => format!(" of strategy '{s}' on {x}"),
                    _ => String::new(),
                }
            )));
        }
        Ok(picked)
    })
}

/// The trades of one book in closing order, and its reference backtest (or why there is none).
fn book_trades(ctx: &Context, strategy: &str, symbol: &str, srcs: &[Source]) -> Result<Vec<Entry>> {
    let filter = Filter {
        sources: srcs.to_vec(),
        strategy: Some(strategy_id(strategy)?),
        symbol: Some(symbol.to_string()),
        ..Filter::default()
    };
    ctx.db()?
        .read(|tx| journal::entry::closed_in_order(tx, &filter))
}

/// One book's feedback: its evaluation, the feedback row's id, the action taken and the queued spec.
type BookFeedback = (Evaluation, i64, Value, Option<PathBuf>);

fn feedback_cmd(ctx: &Context, a: FeedbackArgs) -> Result<Outcome> {
    let home = ctx.home()?;
    let th = thresholds(ctx)?;
    let mut srcs = sources(&a.source)?;
    if srcs.is_empty() {
        srcs = Source::REAL.to_vec();
    }
    let explicit = a.playbook.as_deref().map(load_playbook).transpose()?;
    let mut results = Vec::new();
    for (strategy, symbol) in books(ctx, a.strategy.as_deref(), a.symbol.as_deref(), &srcs)? {
        results.push(feedback_book(
            ctx,
            &home,
            (&strategy, &symbol),
            &srcs,
            &explicit,
            &th,
            a.run,
        )?);
    }
    let runs = if a.run {
        run_specs(ctx, &home, &results)?
    } else {
        Vec::new()
    };
    let disabled = results
        .iter()
        .any(|r| r.0.decision == Decision::DisableStrategy);
    if ctx.json {
        let list: Vec<Value> = results
            .iter()
            .map(|(e, id, action, _)| json!({"feedback_id": id, "evaluation": e, "action": action}))
            .collect();
        print_json(&json!({"thresholds": th, "books": list, "optimizations": runs}))?;
    } else {
        let mut out = render_feedback(ctx, &results, &th);
        for r in &runs {
            if let Some(text) = r.get("output").and_then(Value::as_str) {
                out.push_str(&format!("\n{text}"));
            }
        }
        print_text(&out)?;
    }
    Ok(if disabled {
        Outcome::Refused
    } else {
        Outcome::Done
    })
}

/// Evaluates one book and records the decision: a queued spec for `trigger_optimization` (written first,
/// removed again if the decision row cannot be written), the risk budget for `disable_strategy` (in the
/// decision row's transaction).
fn feedback_book(
    ctx: &Context,
    home: &Home,
    (strategy, symbol): (&str, &str),
    srcs: &[Source],
    explicit: &Option<(Playbook, PlaybookRef, PathBuf)>,
    th: &Thresholds,
    run_now: bool,
) -> Result<BookFeedback> {
    let store = home.store();
    let entries = book_trades(ctx, strategy, symbol, srcs)?;
    let outcomes: Vec<TradeOutcome> = entries.iter().map(|e| TradeOutcome::of(&e.trade)).collect();
    let reference = Reference::for_entries(&entries, explicit.clone(), &home.playbooks_dir());
    let returns = reference
        .as_ref()
        .map_err(|e| Error::invalid(e.to_string()))
        .and_then(|r| feedback::reference_returns(r, &store));
    let eval = feedback::evaluation(strategy, symbol, srcs, &outcomes, returns, th);
    let now = Utc::now();
    // Absolute paths in the spec: the nightly job may run from another folder.
    let root = std::fs::canonicalize(home.root()).unwrap_or_else(|_| home.root().to_path_buf());
    let abs = Home::layout(root);
    // `--run` asks for the optimization now: it is queued (and run) even on unchanged evidence.
    let repeat = match eval.decision {
        Decision::TriggerOptimization if !run_now => {
            ctx.db()?.read(|tx| feedback::repeat_of(tx, &eval))?
        }
        _ => None,
    };
    let spec = match (&eval.decision, &reference) {
        _ if repeat.is_some() => None,
        (Decision::TriggerOptimization, Ok(r)) => Some(feedback::write_spec(
            r,
            &store,
            &abs.queue_dir(),
            &abs.playbooks_dir(),
            strategy,
            now,
        )?),
        _ => None,
    };
    let written = ctx
        .db()?
        .write(|tx| feedback::record(tx, &eval, spec.as_deref(), repeat, now));
    match written {
        Ok((id, action)) => Ok((eval, id, action, spec)),
        Err(e) => {
            if let Some(p) = &spec {
                let _ = std::fs::remove_file(p);
            }
            Err(e)
        }
    }
}

/// Runs each queued spec now with `flowrex optimize --spec FILE` (a child process of this executable).
fn run_specs(ctx: &Context, home: &Home, results: &[BookFeedback]) -> Result<Vec<Value>> {
    let exe = std::env::current_exe().map_err(|e| Error::io("<current executable>", e))?;
    let mut out = Vec::new();
    for spec in results.iter().filter_map(|r| r.3.as_ref()) {
        let mut cmd = std::process::Command::new(&exe);
        cmd.arg("--home").arg(home.root()).arg("--quiet");
        if ctx.json {
            cmd.arg("--json");
        }
        cmd.arg("optimize").arg("--spec").arg(spec);
        let o = cmd.output().map_err(|e| Error::io(&exe, e))?;
        let stdout = String::from_utf8_lossy(&o.stdout).into_owned();
        if !o.status.success() {
            let err = String::from_utf8_lossy(&o.stderr);
            return Err(Error::invalid(format!(
                "flowrex optimize --spec {} failed (exit {}): {}",
                spec.display(),
                o.status.code().unwrap_or(-1),
                err.trim().lines().last().unwrap_or("")
            )));
        }
        out.push(if ctx.json {
            json!({"spec": spec, "result": serde_json::from_str::<Value>(&stdout).unwrap_or(Value::String(stdout))})
        } else {
            json!({"spec": spec, "output": stdout.trim_end()})
        });
    }
    Ok(out)
}

fn render_feedback(ctx: &Context, results: &[BookFeedback], th: &Thresholds) -> String {
    let mut out = format!(
        "window {} trades; thresholds: win rate < {}%, profit factor < {}, {}+ losses in a row, critical \
         deviation {}σ (from {} trades); CUSUM k {} h {} ({})\n",
        th.window,
        th.min_win_rate_pct,
        th.min_profit_factor,
        th.max_consecutive_losses,
        th.deviation_sigmas,
        th.deviation_min_trades,
        th.cusum_k,
        th.cusum_h,
        if th.cusum_decides {
            "decides"
        } else {
            "advises"
        }
    );
    for book in results {
        out.push_str(&render_book(ctx, book));
    }
    out
}

/// One book's evaluation: the decision, the criteria table, the CUSUM and what was done.
fn render_book(ctx: &Context, (e, id, action, spec): &BookFeedback) -> String {
    #[derive(tabled::Tabled)]
    struct Row {
        #[tabled(rename = "Criterion")]
        name: &'static str,
        #[tabled(rename = "Value")]
        value: String,
        #[tabled(rename = "Rule")]
        rule: String,
        #[tabled(rename = "Met")]
        met: &'static str,
        #[tabled(rename = "Detail")]
        detail: String,
    }
    let mut out = format!(
        "\n{} on {}: {} trades ({} in the window) → {} — {}\n",
        e.strategy, e.symbol, e.total_trades, e.window_trades, e.decision, e.reason
    );
    out.push_str(&table(e.criteria.iter().map(|c| Row {
        name: c.name,
        value: num(c.value, 4),
        rule: format!("{} {}", c.comparison, num(c.threshold, 4)),
        met: match (c.evaluated, c.met) {
            (false, _) => "not judged",
            (true, true) => "MET",
            (true, false) => "no",
        },
        detail: c.detail.clone(),
    })));
    let s = &e.sequential;
    out.push_str(&if s.evaluated {
        let alarm = if s.alarm { " — ALARM" } else { "" };
        format!(
            "\nCUSUM: S = {:.3} (max {:.3}) vs h = {}{alarm}",
            s.statistic, s.max_statistic, s.h
        )
    } else {
        let why = e.reference_note.as_deref();
        format!(
            "\nCUSUM: not run ({})",
            why.unwrap_or("the reference backtest has fewer than 2 trades that differ")
        )
    });
    let done = match (e.decision, spec) {
        (Decision::DisableStrategy, _) => format!(
            "strategy '{}' disabled in the risk budget (re-enable: {})",
            e.strategy,
            ctx.hint(&format!(
                "risk-check enable-strategy {} --reason …",
                e.strategy
            ))
        ),
        (Decision::TriggerOptimization, Some(p)) => format!(
            "optimize spec queued: {} (run: {})",
            p.display(),
            ctx.hint(&format!("optimize --spec {}", super::shell_word(p)))
        ),
        (Decision::TriggerOptimization, None) => format!(
            "no optimize spec: {}",
            action
                .get("note")
                .and_then(Value::as_str)
                .unwrap_or("no reference")
        ),
        (Decision::MonitorClosely, _) => "recorded; shown in journal stats".into(),
        (Decision::NoAction, _) => "recorded".into(),
    };
    out.push_str(&format!("\nfeedback {id}: {done}\n"));
    out
}

fn decisions(ctx: &Context, a: BookArgs) -> Result<Outcome> {
    let strategy = a.strategy.as_deref().map(strategy_id).transpose()?;
    let rows = ctx
        .db_read()?
        .read(|tx| feedback::decisions(tx, strategy.as_ref(), a.symbol.as_deref(), false))?;
    if ctx.json {
        return print_json(&json!({ "decisions": rows })).map(|()| Outcome::Done);
    }
    #[derive(tabled::Tabled)]
    struct Row {
        #[tabled(rename = "Id")]
        id: i64,
        #[tabled(rename = "When")]
        ts: String,
        #[tabled(rename = "Strategy")]
        strategy: String,
        #[tabled(rename = "Symbol")]
        symbol: String,
        #[tabled(rename = "Sources")]
        sources: String,
        #[tabled(rename = "Trades")]
        trades: i64,
        #[tabled(rename = "Decision")]
        decision: String,
        #[tabled(rename = "Action")]
        action: String,
    }
    let n = rows.len();
    let mut out = table(rows.into_iter().map(|r| Row {
        id: r.id,
        ts: r.ts,
        strategy: r.strategy,
        symbol: r.symbol,
        sources: r.sources,
        trades: r.trades,
        decision: r.decision,
        action: r.action.to_string(),
    }));
    out.push_str(&format!("\n{n} decisions"));
    print_text(&out)?;
    Ok(Outcome::Done)
}

// ---- snapshots ----------------------------------------------------------------------------------

fn snapshot(ctx: &Context, a: SnapshotArgs) -> Result<Outcome> {
    let th = thresholds(ctx)?;
    let mut srcs = sources(&a.source)?;
    if srcs.is_empty() {
        srcs = Source::ALL.to_vec();
    }
    let picked = books(ctx, a.strategy.as_deref(), a.symbol.as_deref(), &srcs)?;
    let now = Utc::now();
    let mut out = Vec::new();
    for (strategy, symbol) in picked {
        let entries = book_trades(ctx, &strategy, &symbol, &srcs)?;
        let outcomes: Vec<TradeOutcome> =
            entries.iter().map(|e| TradeOutcome::of(&e.trade)).collect();
        let (id, all, recent) = ctx.db()?.write(|tx| {
            journal::snapshot::take(tx, &strategy, &symbol, &srcs, &outcomes, th.window, now)
        })?;
        out.push((id, strategy, symbol, all, recent));
    }
    if ctx.json {
        let list: Vec<Value> = out
            .iter()
            .map(|(id, s, x, all, w)| json!({"id": id, "strategy": s, "symbol": x, "stats": all, "window": w}))
            .collect();
        return print_json(
            &json!({"ts": format_ts_full(now.timestamp_millis()), "snapshots": list}),
        )
        .map(|()| Outcome::Done);
    }
    let lines: Vec<String> = out
        .iter()
        .map(|(id, s, x, all, w)| {
            format!(
                "snapshot {id}: {s} on {x}: {} trades, win {}%, PF {}, expectancy {}%; last {}: win {}%, PF {}",
                all.trades,
                num(all.win_rate_pct, 1),
                num(all.profit_factor, 2),
                num(all.expectancy_pct, 3),
                w.trades,
                num(w.win_rate_pct, 1),
                num(w.profit_factor, 2)
            )
        })
        .collect();
    print_text(&lines.join("\n"))?;
    Ok(Outcome::Done)
}

fn snapshots(ctx: &Context, a: BookArgs) -> Result<Outcome> {
    let strategy = a.strategy.as_deref().map(strategy_id).transpose()?;
    let rows = ctx
        .db_read()?
        .read(|tx| journal::snapshot::list(tx, strategy.as_ref(), a.symbol.as_deref()))?;
    if ctx.json {
        return print_json(&json!({ "snapshots": rows })).map(|()| Outcome::Done);
    }
    #[derive(tabled::Tabled)]
    struct Row {
        #[tabled(rename = "Id")]
        id: i64,
        #[tabled(rename = "When")]
        ts: String,
        #[tabled(rename = "Strategy")]
        strategy: String,
        #[tabled(rename = "Symbol")]
        symbol: String,
        #[tabled(rename = "Trades")]
        trades: String,
        #[tabled(rename = "Win %")]
        win: String,
        #[tabled(rename = "PF")]
        pf: String,
        #[tabled(rename = "Expect. %")]
        expectancy: String,
        #[tabled(rename = "Window win %")]
        wwin: String,
        #[tabled(rename = "Window PF")]
        wpf: String,
    }
    let get = |v: &Value, k: &str, d: usize| {
        v.get(k)
            .and_then(Value::as_f64)
            .map_or("—".into(), |x| num(x, d))
    };
    let n = rows.len();
    let mut out = table(rows.iter().map(|r| Row {
        id: r.id,
        ts: r.ts.clone(),
        strategy: r.strategy.clone(),
        symbol: r.symbol.clone(),
        trades: get(&r.stats, "trades", 0),
        win: get(&r.stats, "win_rate_pct", 1),
        pf: get(&r.stats, "profit_factor", 2),
        expectancy: get(&r.stats, "expectancy_pct", 3),
        wwin: get(&r.window, "win_rate_pct", 1),
        wpf: get(&r.window, "profit_factor", 2),
    }));
    out.push_str(&format!("\n{n} snapshots"));
    print_text(&out)?;
    Ok(Outcome::Done)
}
