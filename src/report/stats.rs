//! Metrics on a page, read from the field table ([`FIELDS`]): every metric the `backtest` text table
//! shows, with its label (backtesting.py's name, unit in brackets), its number format, and its
//! `backtest --json` key on the element — so the page, the text table and the JSON say the same thing
//! in the same words. Also the headline cards and two sets of metrics side by side (journal: backtest
//! against real trades).

use super::html::{Stat, Table, Tone};
use crate::metrics::Metrics;
use crate::metrics::fields::{FIELDS, Field, MISSING, MetricValue, Text, find};

/// The metrics on the headline cards, in order: does it make money, against what, at what risk, how
/// often.
pub const HEADLINE: [&str; 8] = [
    "return_pct",
    "buy_hold_return_pct",
    "cagr_pct",
    "sharpe",
    "max_drawdown_pct",
    "win_rate_pct",
    "profit_factor",
    "num_trades",
];

/// Every metric the text table shows, with the value `value(field)` gives (`None` → [`MISSING`]),
/// in the table's order.
pub fn stats_with(value: impl Fn(&Field) -> Option<MetricValue>) -> Vec<Stat> {
    FIELDS
        .iter()
        .filter(|f| f.text != Text::Hidden)
        .map(|f| stat(f, value(f)))
        .collect()
}

/// Every metric of `m` the text table shows, in its order.
pub fn metric_stats(m: &Metrics) -> Vec<Stat> {
    stats_with(|f| Some(f.value(m)))
}

/// The [`HEADLINE`] metrics of `m` as cards.
pub fn headline(m: &Metrics) -> Vec<Stat> {
    HEADLINE
        .iter()
        .filter_map(|k| find(k))
        .map(|f| {
            let v = f.value(m);
            Stat {
                tone: tone(f.key, v),
                ..stat(f, Some(v))
            }
        })
        .collect()
}

/// The cell of metric `key` of `m` as the text table shows it ([`MISSING`] for an unknown key).
pub fn cell(m: &Metrics, key: &str) -> String {
    find(key)
        .and_then(|f| f.text(m))
        .unwrap_or_else(|| MISSING.to_string())
}

fn stat(f: &'static Field, v: Option<MetricValue>) -> Stat {
    Stat {
        key: Some(f.key),
        label: f.label.to_string(),
        value: v
            .and_then(|v| f.format(v))
            .unwrap_or_else(|| MISSING.to_string()),
        tone: Tone::Plain,
    }
}

/// Good or bad news: the strategy's return or Sharpe ratio by its sign, a profit factor against 1 (the
/// buy-and-hold benchmark stays plain).
fn tone(key: &str, v: MetricValue) -> Tone {
    let Some(x) = v.finite() else {
        return Tone::Plain;
    };
    let pivot = match key {
        "return_pct" | "cagr_pct" | "sharpe" => 0.0,
        "profit_factor" => 1.0,
        _ => return Tone::Plain,
    };
    if x > pivot {
        Tone::Up
    } else if x < pivot {
        Tone::Down
    } else {
        Tone::Plain
    }
}

/// One metric of two runs.
#[derive(Debug, Clone, Copy)]
pub struct Compared {
    /// The metric.
    pub field: &'static Field,
    /// Its value in the first run (the reference, e.g. the backtest).
    pub left: MetricValue,
    /// Its value in the second run (e.g. the real trades).
    pub right: MetricValue,
}

/// Every metric the text table shows, of `left` and `right`, in the table's order.
pub fn compare(left: &Metrics, right: &Metrics) -> Vec<Compared> {
    FIELDS
        .iter()
        .filter(|f| f.text != Text::Hidden)
        .map(|f| Compared {
            field: f,
            left: f.value(left),
            right: f.value(right),
        })
        .collect()
}

/// `right − left` in the metric's own format with a sign (`+1.25`, `-3 days`, `+2`); empty for times
/// and when either side has no value.
pub fn difference(c: &Compared) -> String {
    let (Some(a), Some(b)) = (c.left.finite(), c.right.finite()) else {
        return String::new();
    };
    let d = b - a;
    match c.field.text {
        Text::Decimals(n) => format!("{d:+.n$}"),
        Text::Days => format!("{d:+} days"),
        Text::Count => format!("{:+}", d as i64),
        Text::Date | Text::Hidden => String::new(),
    }
}

/// A table `Metric | <left> | <right> | Difference`, one row per compared metric, each cell formatted
/// as the text table formats it.
pub fn side_by_side(rows: &[Compared], left_name: &str, right_name: &str) -> Table {
    let header = ["Metric", left_name, right_name, "Difference"]
        .map(String::from)
        .to_vec();
    let mut t = Table::new(header).numeric(&[1, 2, 3]);
    let show = |f: &Field, v: MetricValue| f.format(v).unwrap_or_else(|| MISSING.to_string());
    for c in rows {
        t.push(vec![
            c.field.label.to_string(),
            show(c.field, c.left),
            show(c.field, c.right),
            difference(c),
        ]);
    }
    t
}
