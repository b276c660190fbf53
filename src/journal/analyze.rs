//! Real (paper or live) trades against a replay of their backtest over the same bars, matched one to one.
//!
//! - **Replay.** The reference backtest ([`super::reference`]) runs from its own first bar (indicator
//!   warm-up and position state as deployed) through the last stored bar. The **span** is the bars the
//!   real trades cover: from the bar holding the first real entry to the bar holding the last real exit
//!   (a bar holds a time when it is the last bar opening at or before it). The backtest trades compared are
//!   those entered inside the span and closed by its last bar (plus `max_lag`): running past the span lets
//!   one entered inside it close late, and one still open then stands for a position reality had not
//!   closed yet (an always-in-the-market strategy opens its next trade on the bar the last one closed).
//! - **Matching** (one to one, by entry bar and side): first every real trade takes a backtest trade of
//!   the same side entered on the same bar; then, with `max_lag` > 0, a real trade left over takes the
//!   nearest unmatched backtest trade of its side entered within `max_lag` bars (the earlier one on a tie).
//!   **Match rate** = matched / (real + backtest − matched) × 100: 100 % exactly when every trade of
//!   either side has its counterpart.
//! - **Slippage** of a pair, in basis points of the backtest's price, positive when reality did worse:
//!   entry `side · (real − backtest) / backtest · 10⁴`, exit `−side · (real − backtest) / backtest · 10⁴`
//!   (side +1 long, −1 short). Reported as the mean and the worst (largest) over the pairs.
//! - **Timing gap** of a pair, in bars: real bar − backtest bar, for the entry and the exit; reported as
//!   the mean and the worst (largest in size, with its sign).
//! - **P&L gap** = Σ real pnl − Σ backtest pnl, the backtest's trades scaled to the real size, split into
//!   **signal** (Σ pnl of real trades without a counterpart − Σ scaled pnl of backtest trades without
//!   one; a backtest trade without a counterpart is scaled to the real trades' mean notional
//!   `mean(|size| · entry price)`: `return_pct / 100 · notional`), **fill** (for each pair,
//!   `real size · ((real exit − real entry) − (backtest exit − backtest entry))`: the prices) and **cost**
//!   (for each pair the rest of `real pnl − f · backtest pnl` with `f = |real size| / |backtest size|`:
//!   commissions and fees). The three add up to the gap.
//! - **Critical deviation**: with at least `min_trades` real trades, the real expectancy (mean return per
//!   trade) is below the backtest's by more than `sigmas` standard errors of the backtest's per-trade
//!   returns, `σ_bt / √n_real` (defaults 2 and 20, `[journal] deviation_sigmas`, `deviation_min_trades`).

use std::path::{Path, PathBuf};

use rusqlite::Transaction;
use serde::Serialize;

use super::entry::{self, Entry, Filter, PlaybookRef, Source};
use super::reference::{Origin, Reference};
use super::settings::Thresholds;
use super::stats::{Outcome, TradeStats, bar_at, stats_of};
use crate::candles::time::format_ts_full;
use crate::candles::{Interval, Store};
use crate::error::{Error, Result};
use crate::json::finite_or_null;
use crate::playbook::Playbook;
use crate::risk::StrategyId;
use crate::trade::{Side, TradeRecord};

/// A mean and a worst value (NaN / null when there is nothing to measure).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Spread {
    /// The mean.
    #[serde(serialize_with = "finite_or_null")]
    pub mean: f64,
    /// The worst.
    #[serde(serialize_with = "finite_or_null")]
    pub worst: f64,
}

impl Spread {
    /// Mean and largest value.
    fn of_max(v: &[f64]) -> Spread {
        Spread {
            mean: mean(v),
            worst: v.iter().copied().fold(f64::NAN, f64::max),
        }
    }

    /// Mean and the value largest in size.
    fn of_abs(v: &[f64]) -> Spread {
        let worst = v.iter().copied().fold(f64::NAN, |a, b| {
            if a.is_nan() || b.abs() > a.abs() {
                b
            } else {
                a
            }
        });
        Spread {
            mean: mean(v),
            worst,
        }
    }
}

fn mean(v: &[f64]) -> f64 {
    if v.is_empty() {
        f64::NAN
    } else {
        v.iter().sum::<f64>() / v.len() as f64
    }
}

/// The sample standard deviation (n − 1); NaN with fewer than 2 values.
pub fn std1(v: &[f64]) -> f64 {
    if v.len() < 2 {
        return f64::NAN;
    }
    let m = mean(v);
    (v.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (v.len() - 1) as f64).sqrt()
}

/// A matched real and backtest trade.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Pair {
    /// The real trade's journal entry.
    pub entry_id: i64,
    /// Long or short.
    pub side: Side,
    /// Entry bars (replay indices): real, backtest.
    pub entry_bars: (usize, usize),
    /// Exit bars: real, backtest.
    pub exit_bars: (usize, usize),
    /// Entry slippage, bps.
    pub entry_slippage_bps: f64,
    /// Exit slippage, bps.
    pub exit_slippage_bps: f64,
    /// Real pnl.
    pub real_pnl: f64,
    /// Backtest pnl at the real size.
    pub backtest_pnl: f64,
    /// The price part of the difference.
    pub fill_pnl: f64,
    /// The cost part of the difference.
    pub cost_pnl: f64,
}

/// A trade without a counterpart.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Unmatched {
    /// The journal entry (real trades only).
    pub entry_id: Option<i64>,
    /// Long or short.
    pub side: Side,
    /// Entry time.
    pub entry_time: String,
    /// Entry bar of the replay.
    pub entry_bar: usize,
    /// Its pnl (a backtest trade's scaled to the real mean notional).
    pub pnl: f64,
    /// Its return, percent.
    pub return_pct: f64,
}

/// The P&L gap and its parts (money, at the real trades' size).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct PnlGap {
    /// Σ real pnl.
    pub real_pnl: f64,
    /// Σ backtest pnl, scaled.
    pub backtest_pnl: f64,
    /// real − backtest.
    pub total: f64,
    /// From trades only one side made.
    pub signal: f64,
    /// From prices of matched trades.
    pub fill: f64,
    /// From costs of matched trades.
    pub cost: f64,
}

/// One metric of both sides.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetricPair {
    /// The metric's name (as in `journal stats --json`).
    pub metric: &'static str,
    /// Reality's value.
    #[serde(serialize_with = "finite_or_null")]
    pub real: f64,
    /// The backtest's value.
    #[serde(serialize_with = "finite_or_null")]
    pub backtest: f64,
    /// real − backtest.
    #[serde(serialize_with = "finite_or_null")]
    pub difference: f64,
}

/// The critical-deviation test.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Deviation {
    /// Enough trades on both sides to judge.
    pub evaluated: bool,
    /// The real expectancy is more than `sigmas` standard errors below the backtest's.
    pub met: bool,
    /// Real trades judged.
    pub trades: usize,
    /// Trades needed.
    pub min_trades: usize,
    /// Standard errors of the threshold.
    pub sigmas: f64,
    /// Mean real return per trade, percent.
    #[serde(serialize_with = "finite_or_null")]
    pub real_expectancy_pct: f64,
    /// Mean backtest return per trade, percent.
    #[serde(serialize_with = "finite_or_null")]
    pub backtest_expectancy_pct: f64,
    /// Standard deviation of the backtest's per-trade returns.
    #[serde(serialize_with = "finite_or_null")]
    pub backtest_std_pct: f64,
    /// σ_bt / √n.
    #[serde(serialize_with = "finite_or_null")]
    pub standard_error_pct: f64,
    /// backtest expectancy − sigmas · standard error.
    #[serde(serialize_with = "finite_or_null")]
    pub threshold_pct: f64,
}

/// The critical-deviation test of real returns `real` against backtest returns `backtest` (percent).
pub fn deviation(real: &[f64], backtest: &[f64], sigmas: f64, min_trades: usize) -> Deviation {
    let (m_bt, s_bt) = (mean(backtest), std1(backtest));
    let n = real.len();
    let se = s_bt / (n as f64).sqrt();
    let threshold = m_bt - sigmas * se;
    let evaluated = n >= min_trades && n > 0 && se.is_finite() && se > 0.0;
    let real_mean = mean(real);
    Deviation {
        evaluated,
        met: evaluated && real_mean < threshold,
        trades: n,
        min_trades,
        sigmas,
        real_expectancy_pct: real_mean,
        backtest_expectancy_pct: m_bt,
        backtest_std_pct: s_bt,
        standard_error_pct: se,
        threshold_pct: threshold,
    }
}

/// Bars of the replay or the span.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BarWindow {
    /// First bar's open time.
    pub first: String,
    /// Last bar's open time.
    pub last: String,
    /// Number of bars.
    pub bars: usize,
}

/// What `journal analyze` found: which book, against which backtest, and the comparison.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Analysis {
    /// The strategy.
    pub strategy: String,
    /// The symbol.
    pub symbol: String,
    /// The interval of the replay.
    pub interval: Interval,
    /// The entry sources compared.
    pub sources: Vec<Source>,
    /// The backtest compared with.
    pub reference: Origin,
    /// Entries of the book left out because they were made under another playbook or settings.
    pub left_out: usize,
    /// The comparison.
    #[serde(flatten)]
    pub comparison: Comparison,
}

/// Real trades against the replay's trades over the same bars.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comparison {
    /// The replay's bars.
    pub replay: BarWindow,
    /// The bars the real trades span.
    pub span: BarWindow,
    /// Largest entry-bar difference a match may have.
    pub max_lag_bars: usize,
    /// Real trades.
    pub real_trades: usize,
    /// Backtest trades entered inside the span.
    pub backtest_trades: usize,
    /// Matched pairs.
    pub matched: usize,
    /// matched / (real + backtest − matched) × 100.
    #[serde(serialize_with = "finite_or_null")]
    pub match_rate_pct: f64,
    /// Entry slippage, bps.
    pub entry_slippage_bps: Spread,
    /// Exit slippage, bps.
    pub exit_slippage_bps: Spread,
    /// Entry timing gap, bars.
    pub entry_gap_bars: Spread,
    /// Exit timing gap, bars.
    pub exit_gap_bars: Spread,
    /// The P&L gap and its parts.
    pub pnl_gap: PnlGap,
    /// The metrics side by side.
    pub metrics: Vec<MetricPair>,
    /// Statistics of the real trades.
    pub real_stats: TradeStats,
    /// Statistics of the backtest trades inside the span.
    pub backtest_stats: TradeStats,
    /// The critical-deviation test against the backtest trades inside the span.
    pub critical_deviation: Deviation,
    /// Every matched pair.
    pub pairs: Vec<Pair>,
    /// Real trades without a counterpart.
    pub only_real: Vec<Unmatched>,
    /// Backtest trades without a counterpart.
    pub only_backtest: Vec<Unmatched>,
}

/// What to analyze.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    /// The strategy.
    pub strategy: StrategyId,
    /// The symbol.
    pub symbol: String,
    /// The sources to compare (paper and live when empty).
    pub sources: Vec<Source>,
    /// Compare with this playbook instead of the recorded one.
    pub playbook: Option<(Playbook, PlaybookRef, PathBuf)>,
    /// Where recorded playbooks are looked up.
    pub playbooks_dir: &'a Path,
    /// Largest entry-bar difference of a match.
    pub max_lag: usize,
    /// Only trades closed at or after this time.
    pub since_ms: Option<i64>,
    /// Only trades closed before this time.
    pub until_ms: Option<i64>,
}

/// Reads the book's real trades, replays its reference backtest from `store` and compares them.
pub fn analyze(
    tx: &Transaction<'_>,
    store: &Store,
    req: &Request<'_>,
    th: &Thresholds,
) -> Result<Analysis> {
    analyze_replayed(tx, store, req, th).map(|r| r.analysis)
}

/// An analysis with what it compared: the real entries (closing order) and the replay's trades (bar
/// indices of the replay), for a report that shows the trades themselves.
#[derive(Debug, Clone)]
pub struct Replayed {
    /// The comparison.
    pub analysis: Analysis,
    /// The real trades compared.
    pub real: Vec<Entry>,
    /// Every trade of the replay.
    pub backtest: Vec<TradeRecord>,
}

/// [`analyze`], keeping the trades it compared.
pub fn analyze_replayed(
    tx: &Transaction<'_>,
    store: &Store,
    req: &Request<'_>,
    th: &Thresholds,
) -> Result<Replayed> {
    let sources = if req.sources.is_empty() {
        Source::REAL.to_vec()
    } else {
        req.sources.clone()
    };
    let filter = Filter {
        sources: sources.clone(),
        strategy: Some(req.strategy.clone()),
        symbol: Some(req.symbol.clone()),
        since_ms: req.since_ms,
        until_ms: req.until_ms,
        ..Filter::default()
    };
    entry::check_known(tx, &filter)?;
    let all = entry::closed_in_order(tx, &filter)?;
    if all.is_empty() {
        return Err(Error::invalid(format!(
            "no {} trades of strategy '{}' on {} in the journal{}",
            names(&sources),
            req.strategy,
            req.symbol,
            if req.since_ms.is_some() || req.until_ms.is_some() {
                " in that time window"
            } else {
                ""
            }
        )));
    }
    let reference = Reference::for_entries(&all, req.playbook.clone(), req.playbooks_dir)?;
    let (real, left_out) = same_configuration(all, &reference);
    let first_entry = real
        .iter()
        .map(|e| e.trade.entry_time)
        .min()
        .unwrap_or(i64::MAX);
    let (candles, report) = reference.replay_from(store, first_entry)?;
    let bt = TradeRecord::all(&report.run.trades, &candles.ts);
    let analysis = Analysis {
        strategy: req.strategy.to_string(),
        symbol: req.symbol.clone(),
        interval: reference.market().1,
        sources,
        reference: reference.origin.clone(),
        left_out,
        comparison: compare(&real, &candles.ts, &bt, req.max_lag, th)?,
    };
    Ok(Replayed {
        analysis,
        real,
        backtest: bt,
    })
}

fn names(sources: &[Source]) -> String {
    sources
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join("/")
}

/// The entries made under the reference's playbook or recorded settings (all of them when the playbook
/// was given explicitly), and how many were left out.
fn same_configuration(all: Vec<Entry>, r: &Reference) -> (Vec<Entry>, usize) {
    let n = all.len();
    let keep: Vec<Entry> = match &r.origin {
        Origin::Playbook { sha256, .. } => {
            if all
                .iter()
                .any(|e| e.playbook.as_ref().is_some_and(|p| &p.sha256 == sha256))
            {
                all.into_iter()
                    .filter(|e| e.playbook.as_ref().is_some_and(|p| &p.sha256 == sha256))
                    .collect()
            } else {
                all
            }
        }
        Origin::Recorded { entry_id } => {
            let model = all
                .iter()
                .find(|e| e.id == *entry_id)
                .map(|e| (e.model.clone(), e.params.clone(), e.settings.clone()));
            all.into_iter()
                .filter(|e| Some((e.model.clone(), e.params.clone(), e.settings.clone())) == model)
                .collect()
        }
    };
    let left = n - keep.len();
    (keep, left)
}

/// Compares `real` (closing order) with the replay's trades `bt` over the bars `ts`.
pub fn compare(
    real: &[Entry],
    ts: &[i64],
    bt: &[TradeRecord],
    max_lag: usize,
    th: &Thresholds,
) -> Result<Comparison> {
    let bars = real
        .iter()
        .map(|e| {
            let at = |t: i64, what: &str| {
                bar_at(ts, t).ok_or_else(|| {
                    Error::invalid(format!(
                        "journal entry {}: its {what} {} is before the first stored bar {}",
                        e.id,
                        format_ts_full(t),
                        ts.first().map_or("(none)".into(), |&f| format_ts_full(f))
                    ))
                })
            };
            Ok((
                at(e.trade.entry_time, "entry")?,
                at(e.trade.exit_time, "exit")?,
            ))
        })
        .collect::<Result<Vec<(usize, usize)>>>()?;
    let span_first = bars.iter().map(|b| b.0).min().unwrap_or(0);
    let span_last = bars.iter().map(|b| b.1).max().unwrap_or(0);
    // A backtest trade still open `max_lag` bars after the span's end stands for a position reality had
    // not closed when its last journaled trade closed: it is not compared.
    let mut inside: Vec<&TradeRecord> = bt
        .iter()
        .filter(|t| {
            (span_first..=span_last).contains(&t.entry_bar) && t.exit_bar <= span_last + max_lag
        })
        .collect();
    inside.sort_by_key(|t| t.entry_bar);
    let matches = match_trades(real, &bars, &inside, max_lag);
    let sides = Sides::split(real, &bars, &inside, &matches);
    let real_stats = stats_of(real.iter().map(|e| Outcome::of(&e.trade)));
    let mut closing = inside.clone();
    closing.sort_by_key(|t| (t.exit_bar, t.entry_bar));
    let backtest_stats = stats_of(closing.iter().map(|t| Outcome::of(t)));
    let (m, nr, nb) = (sides.pairs.len(), real.len(), inside.len());
    let col = |f: fn(&Pair) -> f64| sides.pairs.iter().map(f).collect::<Vec<f64>>();
    let gap = |f: fn(&Pair) -> f64| Spread::of_abs(&col(f));
    Ok(Comparison {
        replay: window(ts, 0, ts.len().saturating_sub(1)),
        span: window(ts, span_first, span_last),
        max_lag_bars: max_lag,
        real_trades: nr,
        backtest_trades: nb,
        matched: m,
        match_rate_pct: m as f64 / (nr + nb - m) as f64 * 100.0,
        entry_slippage_bps: Spread::of_max(&col(|p| p.entry_slippage_bps)),
        exit_slippage_bps: Spread::of_max(&col(|p| p.exit_slippage_bps)),
        entry_gap_bars: gap(|p| p.entry_bars.0 as f64 - p.entry_bars.1 as f64),
        exit_gap_bars: gap(|p| p.exit_bars.0 as f64 - p.exit_bars.1 as f64),
        pnl_gap: sides.pnl_gap(real),
        metrics: side_by_side(&real_stats, &backtest_stats),
        real_stats,
        backtest_stats,
        critical_deviation: deviation(
            &real.iter().map(|e| e.trade.return_pct).collect::<Vec<_>>(),
            &inside.iter().map(|t| t.return_pct).collect::<Vec<_>>(),
            th.deviation_sigmas,
            th.deviation_min_trades,
        ),
        pairs: sides.pairs,
        only_real: sides.only_real,
        only_backtest: sides.only_backtest,
    })
}

/// For each real trade, the index into `bt` (sorted by entry bar) of its counterpart.
fn match_trades(
    real: &[Entry],
    bars: &[(usize, usize)],
    bt: &[&TradeRecord],
    max_lag: usize,
) -> Vec<Option<usize>> {
    let mut taken = vec![false; bt.len()];
    let mut out = vec![None; real.len()];
    // Pass 1: same bar, same side.
    for (i, e) in real.iter().enumerate() {
        let bar = bars[i].0;
        let from = bt.partition_point(|t| t.entry_bar < bar);
        let hit = (from..bt.len())
            .take_while(|&j| bt[j].entry_bar == bar)
            .find(|&j| !taken[j] && bt[j].side == e.trade.side);
        if let Some(j) = hit {
            taken[j] = true;
            out[i] = Some(j);
        }
    }
    if max_lag == 0 {
        return out;
    }
    // Pass 2: the nearest unmatched trade of the same side within max_lag bars.
    for (i, e) in real.iter().enumerate() {
        if out[i].is_some() {
            continue;
        }
        let bar = bars[i].0;
        let from = bt.partition_point(|t| t.entry_bar + max_lag < bar);
        let best = (from..bt.len())
            .take_while(|&j| bt[j].entry_bar <= bar + max_lag)
            .filter(|&j| !taken[j] && bt[j].side == e.trade.side)
            .min_by_key(|&j| (bt[j].entry_bar.abs_diff(bar), bt[j].entry_bar));
        if let Some(j) = best {
            taken[j] = true;
            out[i] = Some(j);
        }
    }
    out
}

/// The matched pairs and the trades of either side without a counterpart.
struct Sides {
    pairs: Vec<Pair>,
    only_real: Vec<Unmatched>,
    only_backtest: Vec<Unmatched>,
}

impl Sides {
    fn split(
        real: &[Entry],
        bars: &[(usize, usize)],
        bt: &[&TradeRecord],
        matches: &[Option<usize>],
    ) -> Sides {
        let notional = mean(
            &real
                .iter()
                .map(|e| e.trade.size.abs() * e.trade.entry_price)
                .collect::<Vec<_>>(),
        );
        let mut out = Sides {
            pairs: Vec::new(),
            only_real: Vec::new(),
            only_backtest: Vec::new(),
        };
        let mut matched_bt = vec![false; bt.len()];
        for (i, e) in real.iter().enumerate() {
            match matches[i] {
                Some(j) => {
                    matched_bt[j] = true;
                    out.pairs.push(pair(e, bars[i], bt[j]));
                }
                None => out.only_real.push(Unmatched {
                    entry_id: Some(e.id),
                    side: e.trade.side,
                    entry_time: format_ts_full(e.trade.entry_time),
                    entry_bar: bars[i].0,
                    pnl: e.trade.pnl,
                    return_pct: e.trade.return_pct,
                }),
            }
        }
        out.only_backtest = bt
            .iter()
            .zip(&matched_bt)
            .filter(|(_, m)| !**m)
            .map(|(t, _)| Unmatched {
                entry_id: None,
                side: t.side,
                entry_time: format_ts_full(t.entry_time),
                entry_bar: t.entry_bar,
                pnl: t.return_pct / 100.0 * notional,
                return_pct: t.return_pct,
            })
            .collect();
        out
    }

    /// The P&L gap and its signal, fill and cost parts.
    fn pnl_gap(&self, real: &[Entry]) -> PnlGap {
        let only_real: f64 = self.only_real.iter().map(|u| u.pnl).sum();
        let only_bt: f64 = self.only_backtest.iter().map(|u| u.pnl).sum();
        let signal = only_real - only_bt;
        let fill: f64 = self.pairs.iter().map(|p| p.fill_pnl).sum();
        let cost: f64 = self.pairs.iter().map(|p| p.cost_pnl).sum();
        PnlGap {
            real_pnl: real.iter().map(|e| e.trade.pnl).sum(),
            backtest_pnl: self.pairs.iter().map(|p| p.backtest_pnl).sum::<f64>() + only_bt,
            total: signal + fill + cost,
            signal,
            fill,
            cost,
        }
    }
}

fn window(ts: &[i64], first: usize, last: usize) -> BarWindow {
    BarWindow {
        first: ts
            .get(first)
            .map_or_else(String::new, |&t| format_ts_full(t)),
        last: ts
            .get(last)
            .map_or_else(String::new, |&t| format_ts_full(t)),
        bars: if ts.is_empty() { 0 } else { last + 1 - first },
    }
}

/// A matched pair's measures.
fn pair(e: &Entry, bars: (usize, usize), b: &TradeRecord) -> Pair {
    let r = &e.trade;
    let sign = r.side.sign();
    let f = r.size.abs() / b.size.abs();
    let fill = r.size * ((r.exit_price - r.entry_price) - (b.exit_price - b.entry_price));
    let backtest_pnl = f * b.pnl;
    Pair {
        entry_id: e.id,
        side: r.side,
        entry_bars: (bars.0, b.entry_bar),
        exit_bars: (bars.1, b.exit_bar),
        // `+ 0.0`: a zero slippage of a short is -0.0, which reads (and prints in JSON) as 0.
        entry_slippage_bps: sign * (r.entry_price - b.entry_price) / b.entry_price * 1e4 + 0.0,
        exit_slippage_bps: -sign * (r.exit_price - b.exit_price) / b.exit_price * 1e4 + 0.0,
        real_pnl: r.pnl,
        backtest_pnl,
        fill_pnl: fill,
        cost_pnl: (r.pnl - backtest_pnl) - fill,
    }
}

/// The metrics of both sides with their difference.
fn side_by_side(r: &TradeStats, b: &TradeStats) -> Vec<MetricPair> {
    type Read = fn(&TradeStats) -> f64;
    let rows: [(&'static str, Read); 9] = [
        ("trades", |s| s.trades as f64),
        ("win_rate_pct", |s| s.win_rate_pct),
        ("profit_factor", |s| s.profit_factor),
        ("expectancy_pct", |s| s.expectancy_pct),
        ("avg_r", |s| s.avg_r),
        ("max_consecutive_losses", |s| {
            s.max_consecutive_losses as f64
        }),
        ("best_pct", |s| s.best_pct),
        ("worst_pct", |s| s.worst_pct),
        ("avg_duration_days", |s| s.avg_duration_days),
    ];
    rows.iter()
        .map(|(metric, get)| MetricPair {
            metric,
            real: get(r),
            backtest: get(b),
            difference: get(r) - get(b),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::candles::DAY_MS;
    use crate::journal::settings::DEFAULTS;
    use crate::trade::ExitReason;

    /// A trade of `size` units from bar `eb` at `entry` to bar `xb` at `exit` with `commission`.
    fn t(size: f64, eb: usize, entry: f64, xb: usize, exit: f64, commission: f64) -> TradeRecord {
        let side = Side::of_size(size);
        TradeRecord {
            size,
            side,
            entry_bar: eb,
            exit_bar: xb,
            entry_price: entry,
            exit_price: exit,
            stop: None,
            target: None,
            pnl: size * (exit - entry) - commission,
            commission,
            return_pct: (side.sign() * (exit / entry - 1.0) - commission / (size.abs() * entry))
                * 100.0,
            entry_time: eb as i64 * DAY_MS,
            exit_time: xb as i64 * DAY_MS,
            duration_days: (xb - eb) as f64,
            exit_reason: ExitReason::Signal,
            ambiguous: false,
        }
    }

    fn entry(id: i64, trade: TradeRecord) -> Entry {
        Entry {
            id,
            recorded_at: 0,
            source: Source::Paper,
            run_id: None,
            strategy: "s".into(),
            model: None,
            params: None,
            settings: None,
            playbook: None,
            symbol: "X".into(),
            interval: None,
            account: "default".into(),
            order_ids: Vec::new(),
            trade,
            bars_known: true,
            hash: String::new(),
        }
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-9 * b.abs().max(1.0)
    }

    #[test]
    fn matching_slippage_timing_and_the_pnl_gap_by_hand() {
        let ts: Vec<i64> = (0..10).map(|i| i * DAY_MS).collect();
        let bt = [
            t(10.0, 1, 100.0, 3, 110.0, 2.0),  // b1: pnl 98
            t(-10.0, 4, 110.0, 6, 100.0, 2.0), // b2: pnl 98
            t(10.0, 5, 100.0, 6, 95.0, 2.0),   // b3: pnl −52, return −5.2 %
            t(10.0, 8, 100.0, 9, 101.0, 0.0),  // b4: after the span, not compared
            t(-10.0, 6, 100.0, 9, 99.0, 0.0), // b5: entered on the span's last bar, still open 1 bar later
        ];
        // Real trades in closing order: r3 (closes bar 2), r1 (bar 3), r2 (bar 6).
        let r1 = entry(1, t(5.0, 1, 100.5, 3, 109.0, 1.5)); // pnl 5 · 8.5 − 1.5 = 41
        let r2 = entry(2, t(-5.0, 5, 109.0, 6, 100.0, 1.0)); // pnl 45 − 1 = 44, one bar after b2
        let r3 = entry(3, t(5.0, 2, 100.0, 2, 101.0, 0.0)); // pnl 5, no counterpart
        let real = [r3, r1, r2];
        let a = compare(&real, &ts, &bt, 1, &DEFAULTS).unwrap();
        // Span: bar 1 (first entry) to bar 6 (last exit): b1, b2, b3 inside; b4 (bar 8) outside; b5 enters
        // on bar 6 but closes on bar 9, after 6 + max_lag: not compared.
        assert_eq!(
            (a.span.bars, a.real_trades, a.backtest_trades, a.matched),
            (6, 3, 3, 2)
        );
        // r1 ↔ b1 on the same bar; r2 ↔ b2 one bar apart; 2 / (3 + 3 − 2) = 50 %.
        assert_eq!(a.match_rate_pct, 50.0);
        assert_eq!(
            a.pairs.iter().map(|p| p.entry_id).collect::<Vec<_>>(),
            [1, 2]
        );
        // Entry slippage: r1 long (100.5 − 100)/100 = 50 bps; r2 short −(109 − 110)/110 = 90.909 bps.
        let s2 = 1.0 / 110.0 * 1e4;
        assert!(
            close(a.entry_slippage_bps.mean, (50.0 + s2) / 2.0)
                && close(a.entry_slippage_bps.worst, s2)
        );
        // Exit: r1 long −(109 − 110)/110 = 90.909 bps; r2 0.
        assert!(close(a.exit_slippage_bps.mean, s2 / 2.0) && close(a.exit_slippage_bps.worst, s2));
        assert_eq!((a.entry_gap_bars.mean, a.entry_gap_bars.worst), (0.5, 1.0));
        assert_eq!((a.exit_gap_bars.mean, a.exit_gap_bars.worst), (0.0, 0.0));
        // Fill: r1 5 · ((109 − 100.5) − (110 − 100)) = −7.5; r2 −5 · ((100 − 109) − (100 − 110)) = −5.
        // Cost: r1 0.5 · 2 − 1.5 = −0.5; r2 0.5 · 2 − 1 = 0.
        // Signal: r3's 5 minus b3 scaled to the real mean notional (500 + 502.5 + 545) / 3:
        // −5.2 % of it = −26.8233…; 5 + 26.8233… = 31.8233….
        let notional = (500.0 + 502.5 + 545.0) / 3.0;
        let g = a.pnl_gap;
        assert!(close(g.fill, -12.5) && close(g.cost, -0.5), "{g:?}");
        assert!(close(g.signal, 5.0 + 0.052 * notional), "{g:?}");
        assert!(close(g.real_pnl, 90.0));
        assert!(close(g.backtest_pnl, 49.0 + 49.0 - 0.052 * notional));
        assert!(close(g.total, g.real_pnl - g.backtest_pnl));
        assert_eq!(a.only_real.len(), 1);
        assert_eq!(a.only_real[0].entry_id, Some(3));
        assert_eq!(a.only_backtest[0].entry_bar, 5);
        // Without a lag, r2 finds no counterpart.
        let a = compare(&real, &ts, &bt, 0, &DEFAULTS).unwrap();
        assert_eq!(
            (a.matched, a.only_real.len(), a.only_backtest.len()),
            (1, 2, 2)
        );
    }

    #[test]
    fn a_trade_before_the_first_bar_is_an_error_naming_the_entry() {
        let ts: Vec<i64> = (5..10).map(|i| i * DAY_MS).collect();
        let real = [entry(7, t(1.0, 1, 10.0, 6, 11.0, 0.0))];
        let err = compare(&real, &ts, &[], 0, &DEFAULTS)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with(
                "journal entry 7: its entry 1970-01-02T00:00:00Z is before the first stored bar"
            ),
            "{err}"
        );
    }

    #[test]
    fn the_deviation_threshold_by_hand() {
        // Backtest returns 1, 3: mean 2, σ √2; 2 real trades: SE = √2/√2 = 1; threshold 2 − 2 · 1 = 0.
        let d = deviation(&[-0.5, 0.0], &[1.0, 3.0], 2.0, 2);
        assert!(d.evaluated && d.met);
        assert!(close(d.threshold_pct, 0.0) || d.threshold_pct.abs() < 1e-12);
        assert!(!deviation(&[0.5, 0.0], &[1.0, 3.0], 2.0, 2).met);
        assert!(!deviation(&[-9.0], &[1.0, 3.0], 2.0, 2).evaluated);
    }
}
