//! The journal page from a `journal analyze` result ([`Replayed`]): the matched pairs, the trades only
//! one side made, the metrics side by side and the findings, with the backtest's trades scaled to the
//! real trades' size exactly as the analysis scales them — a matched backtest trade to its real
//! trade's size, an unmatched one to the real trades' mean notional — so the page's P&L gap and its
//! signal, fill and cost parts are the analysis's numbers.

use super::backtest::BacktestOptions;
use super::journal::{JournalInput, MatchedTrade, journal_report};
use super::stats::Compared;
use crate::error::{Error, Result};
use crate::journal::analyze::{Analysis, MetricPair, Replayed};
use crate::journal::reference::Origin;
use crate::metrics::fields::{MetricValue, Text, find};
use crate::trade::TradeRecord;

/// The page of `r`.
pub fn journal_page(r: &Replayed, opts: &BacktestOptions) -> Result<String> {
    let a = &r.analysis;
    let c = &a.comparison;
    let real_of = |id: i64| {
        r.real
            .iter()
            .find(|e| e.id == id)
            .map(|e| e.trade.clone())
            .ok_or_else(|| {
                Error::invalid(format!("journal entry {id}: not among the analyzed trades"))
            })
    };
    let bt_at = |bar: usize, side| {
        r.backtest
            .iter()
            .find(|t| t.entry_bar == bar && t.side == side)
            .ok_or_else(|| Error::invalid(format!("no backtest trade entered at replay bar {bar}")))
    };
    let mut matched = Vec::with_capacity(c.pairs.len());
    for p in &c.pairs {
        let real = real_of(p.entry_id)?;
        let bt = bt_at(p.entry_bars.1, p.side)?;
        let f = real.size.abs() / bt.size.abs();
        matched.push(MatchedTrade {
            backtest: scaled(bt, f, bt.pnl * f),
            real,
        });
    }
    let only_real = c
        .only_real
        .iter()
        .filter_map(|u| u.entry_id)
        .map(real_of)
        .collect::<Result<Vec<_>>>()?;
    let notional = mean_notional(&matched, &only_real);
    let mut only_backtest = Vec::with_capacity(c.only_backtest.len());
    for u in &c.only_backtest {
        let bt = bt_at(u.entry_bar, u.side)?;
        let f = notional / (bt.size.abs() * bt.entry_price);
        only_backtest.push(scaled(bt, f, u.pnl));
    }
    let source = a
        .sources
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join("/");
    let title = format!(
        "Journal: {} on {} {} ({source})",
        a.strategy, a.symbol, a.interval
    );
    let subtitle = format!(
        "{} to {} ({} bars) · against {}",
        c.span.first,
        c.span.last,
        c.span.bars,
        reference_text(&a.reference)
    );
    let metrics = metrics(&c.metrics);
    let notes = notes(a);
    let input = JournalInput {
        title: &title,
        subtitle: &subtitle,
        source: &source,
        matched: &matched,
        only_real: &only_real,
        only_backtest: &only_backtest,
        metrics: &metrics,
        notes: &notes,
    };
    journal_report(&input, opts)
}

/// `t` at `f` times its size and commission, with P&L `pnl`.
fn scaled(t: &TradeRecord, f: f64, pnl: f64) -> TradeRecord {
    TradeRecord {
        size: t.size * f,
        pnl,
        commission: t.commission * f,
        ..t.clone()
    }
}

/// The real trades' mean notional `|size|·entry price`, as the analysis scales unmatched backtest
/// trades.
fn mean_notional(matched: &[MatchedTrade], only_real: &[TradeRecord]) -> f64 {
    let all: Vec<f64> = matched
        .iter()
        .map(|m| &m.real)
        .chain(only_real)
        .map(|t| t.size.abs() * t.entry_price)
        .collect();
    if all.is_empty() {
        f64::NAN
    } else {
        all.iter().sum::<f64>() / all.len() as f64
    }
}

fn reference_text(o: &Origin) -> String {
    match o {
        Origin::Playbook { name, path, .. } => match path.file_name() {
            Some(f) => format!("playbook {name} ({})", f.to_string_lossy()),
            None => format!("playbook {name}"),
        },
        Origin::Recorded { entry_id } => {
            format!("the strategy and settings recorded with entry {entry_id}")
        }
    }
}

/// The analysis's metrics that the field table knows, backtest left and real right; the others are
/// in the notes.
fn metrics(pairs: &[MetricPair]) -> Vec<Compared> {
    pairs
        .iter()
        .filter_map(|m| {
            let field = find(field_key(m.metric)?)?;
            let v = |x: f64| match field.text {
                Text::Count => MetricValue::Int(x as i64),
                // The field table prints days as they come; a mean of durations to the hundredth.
                Text::Days => MetricValue::Float((x * 100.0).round() / 100.0),
                _ => MetricValue::Float(x),
            };
            Some(Compared {
                field,
                left: v(m.backtest),
                right: v(m.real),
            })
        })
        .collect()
}

/// The field-table key of an analysis metric, when it has one.
fn field_key(metric: &str) -> Option<&'static str> {
    Some(match metric {
        "trades" => "num_trades",
        "win_rate_pct" => "win_rate_pct",
        "profit_factor" => "profit_factor",
        "expectancy_pct" => "expectancy_pct",
        "best_pct" => "best_trade_pct",
        "worst_pct" => "worst_trade_pct",
        "avg_duration_days" => "avg_trade_duration_days",
        _ => return None,
    })
}

fn num(v: f64) -> String {
    if v.is_finite() {
        format!("{v:.2}")
    } else {
        "—".into()
    }
}

fn notes(a: &Analysis) -> Vec<String> {
    let c = &a.comparison;
    let mut notes = Vec::new();
    let d = &c.critical_deviation;
    notes.push(if !d.evaluated {
        format!(
            "Critical deviation not judged: {} real trades, {} needed.",
            d.trades, d.min_trades
        )
    } else if d.met {
        format!(
            "Critical deviation: the real expectancy {}% is more than {} standard errors ({}%) below \
             the backtest's {}%.",
            num(d.real_expectancy_pct),
            d.sigmas,
            num(d.standard_error_pct),
            num(d.backtest_expectancy_pct)
        )
    } else {
        format!(
            "No critical deviation: the real expectancy {}% is within {} standard errors ({}%) of \
             the backtest's {}% or above it.",
            num(d.real_expectancy_pct),
            d.sigmas,
            num(d.standard_error_pct),
            num(d.backtest_expectancy_pct)
        )
    });
    let others: Vec<String> = c
        .metrics
        .iter()
        .filter(|m| field_key(m.metric).is_none())
        .map(|m| {
            format!(
                "{}: backtest {}, real {}",
                m.metric.replace('_', " "),
                num(m.backtest),
                num(m.real)
            )
        })
        .collect();
    if !others.is_empty() {
        notes.push(format!("{}.", others.join("; ")));
    }
    notes.push(format!(
        "Backtest trades are scaled to the real size (a matched one to its real trade's, an unmatched \
         one to the real trades' mean notional), as `journal analyze` scales them; entries matched \
         within {} bar(s).",
        c.max_lag_bars
    ));
    if a.left_out > 0 {
        notes.push(format!(
            "{} entries made under another playbook or other settings were left out.",
            a.left_out
        ));
    }
    notes
}
