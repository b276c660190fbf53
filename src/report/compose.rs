//! Report pages from Flowrex's own outputs: a backtest run (its [`RunSpec`], bars and [`Report`]) and
//! an optimization (its [`Playbook`] and the [`ResultRows`] of its `--results` file). The command
//! line and the benchmark both go through here, so what the bench measures is what a user gets.

use super::backtest::{BacktestInput, BacktestOptions, backtest_report, buy_and_hold};
use super::html::Stat;
use super::html::{Block, Table};
use super::optimize::optimize_document;
use super::optimize::{Candidate, HeatMode, OptimizeInput, OptimizeOptions, ParamAxis};
use super::scale::trim_num;
use super::stats::stats_with;
use crate::backtest::{Report, RunSpec};
use crate::candles::Candles;
use crate::candles::time::{date_part, format_ts};
use crate::error::{Error, Result};
use crate::metrics::fields::{MISSING, MetricValue, find};
use crate::optimize::Space;
use crate::optimize::results::ResultRows;
use crate::playbook::{Optimization, Playbook, WINDOW_COLUMNS, WalkForwardSection, WindowEntry};
use crate::strategy::{self, ParamValue};
use crate::trade::{OpenTrade, Side, TradeRecord};

/// The backtest report of `report`, the run of `spec` over `candles`, with `notes` (e.g. a data
/// warning) under the summary. The trade records are the ones `backtest --json` prints, the metrics
/// are the run's, and the buy-and-hold curve starts at the strategy's warm-up bar as the Buy & Hold
/// Return metric does.
pub fn backtest_page(
    spec: &RunSpec,
    candles: &Candles,
    report: &Report,
    notes: &[String],
    opts: &BacktestOptions,
) -> Result<String> {
    let run = &report.run;
    let ts = &candles.ts;
    let trades = TradeRecord::all(&run.trades, ts);
    let bh = buy_and_hold(&candles.close, run.warmup, run.initial_cash);
    let mut notes = notes.to_vec();
    if let Some(t) = &run.open_trade {
        notes.push(open_trade_note(t, ts));
    }
    if let Some(bar) = run.out_of_money_bar.filter(|&b| b < ts.len()) {
        notes.push(format!(
            "Equity fell to zero on {}; the strategy stopped trading there.",
            format_ts(ts[bar])
        ));
    }
    let title = format!(
        "{} on {} {}",
        spec.strategy.name(),
        spec.data.symbol,
        spec.data.interval
    );
    let input = BacktestInput {
        title: &title,
        subtitle: &backtest_subtitle(spec, candles),
        metrics: &report.metrics,
        ts,
        close: &candles.close,
        equity: &run.equity,
        trades: &trades,
        buy_hold: Some(&bh),
        notes: &notes,
    };
    backtest_report(&input, opts)
}

/// Parameters, period and the settings that change the numbers.
fn backtest_subtitle(spec: &RunSpec, candles: &Candles) -> String {
    let params: Vec<String> = spec
        .params
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    let c = &spec.config;
    let period = match (candles.ts.first(), candles.ts.last()) {
        (Some(a), Some(b)) => format!(
            "{} → {}, {} bars",
            format_ts(*a),
            format_ts(*b),
            candles.len()
        ),
        _ => "no bars".into(),
    };
    format!(
        "{} · {period} · cash {}, commission {}, spread {}, fill {}, size {}, stop policy {}{}",
        if params.is_empty() {
            "no parameters".to_string()
        } else {
            params.join(" ")
        },
        trim_num(c.cash, 2),
        c.commission,
        c.spread,
        c.fill,
        c.sizing,
        c.stop_policy,
        if c.close_at_end { ", close at end" } else { "" }
    )
}

fn open_trade_note(t: &OpenTrade, ts: &[i64]) -> String {
    let entered = ts
        .get(t.entry_bar)
        .map_or("?".to_string(), |&ms| format_ts(ms));
    format!(
        "A {} position of {} units entered {entered} at {} is still open at the end, marked at {} \
         (unrealized P&L {:+.2} before the exit commission): it is in the final equity but not in the \
         trade statistics.",
        Side::of_size(t.size),
        trim_num(t.size.abs(), 8),
        trim_num(t.entry_price, 6),
        trim_num(t.mark_price, 6),
        t.unrealized_pnl
    )
}

/// How to draw an optimization.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OptimizeView {
    /// Heatmap columns: this searched parameter (default: the first).
    pub x: Option<String>,
    /// Heatmap rows: this searched parameter (default: the second, or the first other than x).
    pub y: Option<String>,
    /// How the other searched parameters are collapsed.
    pub heat: HeatMode,
    /// Rows of the top table (default 20).
    pub top_n: Option<usize>,
    /// For a walk-forward playbook with its results file: the window whose search to draw (default:
    /// the last, the one the playbook records). Must be one of the playbook's windows.
    pub window: Option<u32>,
}

/// The metrics in the top table after the objective, by `backtest --json` key.
const TOP_COLUMNS: [&str; 4] = [
    "num_trades",
    "return_pct",
    "max_drawdown_pct",
    "win_rate_pct",
];

/// The optimization report of the playbook `pb` (read from `origin`), with every candidate of
/// `results` (checked to be the playbook's search) or, without them, the playbook's `[[top]]` only.
pub fn optimize_page(
    pb: &Playbook,
    origin: &str,
    results: Option<&ResultRows>,
    view: &OptimizeView,
) -> Result<String> {
    let o = pb.optimization.as_ref().ok_or_else(|| {
        Error::invalid(format!(
            "{origin}: the playbook has no [optimization] section (it was not written by `optimize`); \
             `flowrex report backtest --playbook {origin}` shows its backtest"
        ))
    })?;
    let space = playbook_space(pb, o, origin)?;
    let searched: Vec<usize> = (0..space.dims().len())
        .filter(|&d| space.dims()[d].axis.len() > 1)
        .collect();
    let axes: Vec<ParamAxis> = searched.iter().map(|&d| axis_of(&space, d)).collect();
    let earlier = earlier_window(pb, origin, results, view.window)?;
    let (candidates, extra_columns, mut notes) = match &earlier {
        Some((_, rows)) => (
            from_results(rows, &axes),
            top_labels(&TOP_COLUMNS),
            Vec::new(),
        ),
        None => candidates(pb, origin, results, &axes)?,
    };
    if let Some(wf) = &pb.walk_forward {
        notes.insert(
            0,
            match &earlier {
                Some((entry, _)) => window_note(wf, entry),
                None => walk_note(wf),
            },
        );
    }
    let opts = OptimizeOptions {
        heat_x: 0,
        heat_y: 1,
        heat_mode: view.heat,
        top_n: view.top_n.unwrap_or(20),
        ..OptimizeOptions::default()
    };
    let (heat_x, heat_y) = heat_axes(&axes, view, origin)?;
    let drawn = Drawn::of(pb, o, earlier.as_ref());
    let summary = optimize_summary(pb, o, &space, &searched, &drawn);
    let title = format!(
        "Optimization: {} on {} {}{}",
        pb.strategy.name, pb.market.symbol, pb.market.interval, drawn.label
    );
    let input = OptimizeInput {
        title: &title,
        subtitle: &optimize_subtitle(o, &space, &searched, drawn.span),
        metrics: &summary,
        best_metrics: &drawn.best_metrics,
        notes: &notes,
        objective: &o.objective,
        axes: &axes,
        candidates: &candidates,
        extra_columns: &extra_columns,
    };
    let mut doc = optimize_document(
        &input,
        &OptimizeOptions {
            heat_x,
            heat_y,
            ..opts
        },
    )
    .map_err(|e| Error::invalid(format!("{origin}: {e}")))?;
    if let Some(wf) = &pb.walk_forward {
        walk_section(&mut doc, wf);
    }
    Ok(doc.render())
}

/// Window `window` of a walk-forward playbook and its rows of `results`, checked to be its search, when
/// a window other than the last is asked for (the last is the playbook's own search: `None`).
fn earlier_window<'a>(
    pb: &'a Playbook,
    origin: &str,
    results: Option<&ResultRows>,
    window: Option<u32>,
) -> Result<Option<(&'a WindowEntry, ResultRows)>> {
    let (Some(k), Some(wf)) = (window, &pb.walk_forward) else {
        return Ok(None);
    };
    let Some(entry) = wf.window.get(k as usize) else {
        return Err(Error::invalid(format!(
            "{origin}: the walk-forward has windows 0 to {}, not {k}",
            wf.window.len().saturating_sub(1)
        )));
    };
    if k as usize + 1 == wf.window.len() {
        return Ok(None);
    }
    let Some(rows) = results else {
        return Err(Error::invalid(format!(
            "{origin}: window {k}'s search is only in the run's results file"
        )));
    };
    let rows = rows.for_window(pb, origin, Some(k))?;
    rows.check_window(pb, origin, k)?;
    Ok(Some((entry, rows)))
}

/// What the page says of the search it draws: the playbook's own (for a walk-forward playbook, its
/// last window's) or an earlier walk-forward window's, read from that window's rows.
struct Drawn<'a> {
    /// Appended to the title.
    label: String,
    /// First bar, last bar and bars searched.
    span: (&'a str, &'a str, u64),
    evaluated: u64,
    ranked: u64,
    /// The chosen parameters.
    best: String,
    /// `None` for an earlier window: the playbook keeps the last window's search time only.
    elapsed_s: Option<f64>,
    /// The chosen candidate's metrics.
    best_metrics: Vec<Stat>,
}

impl<'a> Drawn<'a> {
    fn of(
        pb: &'a Playbook,
        o: &Optimization,
        earlier: Option<&(&'a WindowEntry, ResultRows)>,
    ) -> Drawn<'a> {
        match earlier {
            Some((entry, rows)) => {
                let r = rows.row_of(entry.candidate);
                Drawn {
                    label: format!(", walk-forward window {}", entry.index),
                    span: (&entry.train_start, &entry.train_end, entry.train_bars),
                    evaluated: entry.evaluated,
                    ranked: rows.ranked.iter().filter(|&&r| r).count() as u64,
                    best: entry.params.to_line(),
                    elapsed_s: None,
                    best_metrics: stats_with(|f| rows.metric(f.key)?.get(r?).copied()),
                }
            }
            None => Drawn {
                label: String::new(),
                span: (&pb.market.start, &pb.market.end, pb.market.bars),
                evaluated: o.evaluated,
                ranked: o.ranked,
                best: pb.strategy.params.to_line(),
                elapsed_s: Some(o.elapsed_s),
                best_metrics: stats_with(|f| match pb.metrics.get(f.key)? {
                    toml::Value::Integer(i) => Some(MetricValue::Int(*i)),
                    toml::Value::Float(x) => Some(MetricValue::Float(*x)),
                    _ => None,
                }),
            },
        }
    }
}

/// What the page of an earlier walk-forward window shows, and what the playbook records instead.
fn window_note(wf: &WalkForwardSection, entry: &WindowEntry) -> String {
    format!(
        "Window {} of a walk-forward playbook ({} windows): the heatmap, the top candidates and the \
         neighbours are those of its search on the train bars {} to {}, which chose {} (out of \
         sample: {}). The playbook records the last window's search. Every window is in \
         \"Walk-forward windows\" below.",
        entry.index,
        wf.windows,
        date_part(&entry.train_start),
        date_part(&entry.train_end),
        entry.params.to_line(),
        entry
            .oos_objective
            .map_or("no objective".to_string(), |v| format!("objective {v:.4}"))
    )
}

/// What the page of a walk-forward playbook shows: its last window's search, the one whose
/// parameters the playbook records (as `[optimization]`, `[[top]]` and `[metrics]` do).
fn walk_note(wf: &WalkForwardSection) -> String {
    let last = wf.window.last();
    format!(
        "A walk-forward playbook ({} windows): the heatmap, the top candidates and the neighbours are \
         those of its last window's search{} — the parameters the playbook records and \
         `backtest --playbook --check` reproduces. Every window is in \"Walk-forward windows\" below.",
        wf.windows,
        last.map_or(String::new(), |w| format!(
            " (window {}, train {} to {})",
            w.index,
            date_part(&w.train_start),
            date_part(&w.train_end)
        ))
    )
}

/// One row per walk-forward window: its train and test, the parameters chosen, in- and
/// out-of-sample results.
fn walk_section(doc: &mut super::html::Document, wf: &WalkForwardSection) {
    let opt = |v: Option<f64>, d: usize| v.map_or("—".to_string(), |v| format!("{v:.d$}"));
    let (header, rows) = wf.window_cells();
    let numeric: Vec<usize> = (0..WINDOW_COLUMNS.len())
        .filter(|&k| WINDOW_COLUMNS[k].numeric)
        .collect();
    let mut table = Table::new(header).numeric(&numeric);
    for row in rows {
        table.push(row);
    }
    let overall = format!(
        "Train {}, test {}, step {}, purge {}{}. Stitched out-of-sample return {:.2} % (buy & hold {:.2} %), \
         {} of {} windows positive, WFE {}.",
        wf.train,
        wf.test,
        wf.step,
        wf.purge,
        if wf.anchored { ", anchored" } else { "" },
        wf.oos_return_pct,
        wf.buy_hold_return_pct,
        wf.positive_windows,
        wf.windows,
        opt(wf.wfe, 4)
    );
    doc.section("Walk-forward windows")
        .caption("Each window searched its train bars and traded the best parameters on its test bars, one account from window to window.")
        .push(Block::Text(overall))
        .push(Block::Table(table));
}

/// The candidates over `axes`, the top table's extra columns and a note: every row of `results`
/// (checked to be the playbook's search), else the playbook's `[[top]]` and a note saying so.
fn candidates(
    pb: &Playbook,
    origin: &str,
    results: Option<&ResultRows>,
    axes: &[ParamAxis],
) -> Result<(Vec<Candidate>, Vec<String>, Vec<String>)> {
    Ok(match results {
        Some(rows) => {
            let rows = rows.for_playbook(pb, origin)?;
            rows.check_playbook(pb, origin)?;
            (
                from_results(&rows, axes),
                top_labels(&TOP_COLUMNS),
                Vec::new(),
            )
        }
        None => {
            let note = format!(
                "Only the playbook's {} best candidates are known, so the heatmap and the neighbours are \
                 mostly empty: pass --results FILE (written by `optimize --results FILE`) for every \
                 evaluated candidate.",
                pb.top.len()
            );
            (
                from_top(pb, axes),
                top_labels(&TOP_COLUMNS[..1]),
                vec![note],
            )
        }
    })
}

/// The search space the playbook records (`[optimization.space]` and its constraints).
fn playbook_space(pb: &Playbook, o: &Optimization, origin: &str) -> Result<Space> {
    let strategy = strategy::lookup(&pb.strategy.name)
        .map_err(|e| Error::invalid(format!("{origin}: [strategy] name: {e}")))?;
    let pairs: Vec<(String, String)> = o
        .space
        .0
        .iter()
        .map(|(k, v)| {
            let text = match v {
                toml::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            (k.clone(), text)
        })
        .collect();
    Space::new(strategy, &pairs, &o.constraints)
        .map_err(|e| Error::invalid(format!("{origin}: [optimization.space]: {e}")))
}

/// A searched dimension's grid values as text (`ParamValue`'s form, as the results file's).
fn axis_of(space: &Space, d: usize) -> ParamAxis {
    let dim = &space.dims()[d];
    ParamAxis {
        name: dim.spec.name.to_string(),
        values: (0..dim.axis.len())
            .map(|k| dim.axis.value(k).to_string())
            .collect(),
    }
}

fn top_labels(keys: &[&str]) -> Vec<String> {
    keys.iter()
        .map(|k| find(k).map_or(k.to_string(), |f| f.label.to_string()))
        .collect()
}

/// Every row as a candidate over the searched axes, in grid order (so ties go to the lower index, as
/// in the playbook's ranking); a row that was not ranked has no objective.
fn from_results(rows: &ResultRows, axes: &[ParamAxis]) -> Vec<Candidate> {
    let cols: Vec<usize> = axes
        .iter()
        .filter_map(|a| rows.params.iter().position(|p| *p == a.name))
        .collect();
    let extra: Vec<(&'static crate::metrics::fields::Field, &[MetricValue])> = TOP_COLUMNS
        .iter()
        .filter_map(|k| Some((find(k)?, rows.metric(k)?)))
        .collect();
    let mut order: Vec<usize> = (0..rows.len()).collect();
    order.sort_by_key(|&r| rows.candidate[r]);
    order
        .into_iter()
        .map(|r| Candidate {
            params: cols.iter().map(|&c| rows.values[r][c].clone()).collect(),
            objective: if rows.ranked[r] {
                rows.objective[r]
            } else {
                f64::NAN
            },
            extra: extra
                .iter()
                .map(|(f, v)| f.format(v[r]).unwrap_or_else(|| MISSING.to_string()))
                .collect(),
        })
        .collect()
}

/// The playbook's `[[top]]` as candidates (their trade counts as the one extra column).
fn from_top(pb: &Playbook, axes: &[ParamAxis]) -> Vec<Candidate> {
    let mut top: Vec<_> = pb.top.iter().collect();
    top.sort_by_key(|t| t.candidate);
    top.into_iter()
        .map(|t| Candidate {
            params: axes
                .iter()
                .map(|a| t.params.get(&a.name).map_or(String::new(), param_text))
                .collect(),
            objective: t.objective,
            extra: vec![t.trades.to_string()],
        })
        .collect()
}

/// A playbook parameter value written as the axes write it.
fn param_text(v: &toml::Value) -> String {
    match v {
        toml::Value::Integer(i) => ParamValue::Int(*i).to_string(),
        toml::Value::Float(f) => ParamValue::Float(*f).to_string(),
        toml::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The heatmap's axes from `--x`/`--y` (names of searched parameters); an unknown name is a usage
/// error listing the searched ones.
fn heat_axes(axes: &[ParamAxis], view: &OptimizeView, origin: &str) -> Result<(usize, usize)> {
    let index = |flag: &str, name: &Option<String>| -> Result<Option<usize>> {
        let Some(n) = name else { return Ok(None) };
        axes.iter()
            .position(|a| a.name == *n)
            .map(Some)
            .ok_or_else(|| {
                let names: Vec<&str> = axes.iter().map(|a| a.name.as_str()).collect();
                Error::usage(format!(
                    "--{flag} {n}: not a searched parameter of {origin}; searched: {}",
                    if names.is_empty() {
                        "none".to_string()
                    } else {
                        names.join(", ")
                    }
                ))
            })
    };
    let (x, y) = (index("x", &view.x)?, index("y", &view.y)?);
    if x.is_some() && x == y {
        return Err(Error::usage(
            "--x and --y name the same parameter; choose two",
        ));
    }
    let x = x.unwrap_or(if y == Some(0) { 1 } else { 0 });
    let y = y.unwrap_or_else(|| (0..axes.len()).find(|&d| d != x).unwrap_or(x));
    Ok((x, y))
}

fn searched_text(space: &Space, searched: &[usize]) -> String {
    searched
        .iter()
        .map(|&d| {
            let dim = &space.dims()[d];
            format!("{}={}", dim.spec.name, dim.text)
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// What was searched and over which bars (`span`: first bar, last bar, bars).
fn optimize_subtitle(
    o: &Optimization,
    space: &Space,
    searched: &[usize],
    span: (&str, &str, u64),
) -> String {
    let fixed: Vec<String> = (0..space.dims().len())
        .filter(|d| !searched.contains(d))
        .map(|d| format!("{}={}", space.dims()[d].spec.name, space.dims()[d].text))
        .collect();
    format!(
        "maximizing {} over {}{} · {} search · {} → {}, {} bars",
        o.objective,
        if searched.is_empty() {
            "no searched parameter".to_string()
        } else {
            searched_text(space, searched)
        },
        if fixed.is_empty() {
            String::new()
        } else {
            format!(" (fixed: {})", fixed.join(", "))
        },
        o.method,
        date_part(span.0),
        date_part(span.1),
        span.2
    )
}

fn optimize_summary(
    pb: &Playbook,
    o: &Optimization,
    space: &Space,
    searched: &[usize],
    drawn: &Drawn<'_>,
) -> Vec<Stat> {
    let mut method = o.method.clone();
    if let Some(n) = o.samples {
        method.push_str(&format!(", {n} samples"));
    }
    if let (Some(p), Some(g)) = (o.population, o.generations) {
        method.push_str(&format!(", population {p}, {g} generations"));
    }
    let mut s = vec![
        Stat::plain("Strategy", pb.strategy.name.clone()),
        Stat::plain(
            "Market",
            format!("{} {}", pb.market.symbol, pb.market.interval),
        ),
        Stat::plain("Method", method),
        Stat::plain("Objective", o.objective.clone()),
        Stat::plain("Searched", searched_text(space, searched)),
        Stat::plain(
            "Constraints",
            if o.constraints.is_empty() {
                "none".to_string()
            } else {
                o.constraints.join(", ")
            },
        ),
        Stat::plain(
            "Candidates",
            format!(
                "{} evaluated of {} feasible ({} in the grid)",
                drawn.evaluated, o.feasible, o.space_size
            ),
        ),
        Stat::plain(
            "Ranked",
            format!("{} (at least {} trades)", drawn.ranked, o.min_trades),
        ),
        Stat::plain("Best parameters", drawn.best.clone()),
        Stat::plain("Status", o.status.clone()),
        Stat::plain("Seed", o.seed.to_string()),
    ];
    if let Some(t) = drawn.elapsed_s {
        s.push(Stat::plain("Search time", format!("{t} s")));
    }
    if let Some(k) = o.merged_shards {
        s.push(Stat::plain("Shards merged", k.to_string()));
    } else if let Some(sh) = &o.shard {
        s.push(Stat::plain("Shard", sh.clone()));
    }
    s
}
