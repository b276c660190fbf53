//! The metrics field table: one row per metric with its `backtest --json` key, its text-table label
//! (backtesting.py's name where the reference has the metric), its unit, how the text table shows it,
//! and how to read it from [`Metrics`].
//!
//! Every consumer reads this table instead of rediscovering the schema: the JSON of [`Metrics`] (the
//! `Serialize` below), the `backtest` text table, the columns of the optimizer's results Parquet file,
//! the playbook's `[metrics]` and its `--check` comparison, the objective names
//! (`optimize::Objective`), and the HTML report (`report::stats`). A metric added to [`Metrics`] and to this
//! table appears everywhere at once; the tests below fail until both agree.

use serde::ser::{Serialize, SerializeStruct, Serializer};

use super::Metrics;
use crate::candles::time::format_ts;

/// A metric's value: whole numbers (counts, timestamps) or reals (NaN when the metric has none).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum MetricValue {
    /// A count or a timestamp.
    Int(i64),
    /// A real number; NaN where `backtest --json` has `null`.
    Float(f64),
}

impl MetricValue {
    /// The value as a real number (whole numbers converted; may be NaN).
    pub fn as_f64(self) -> f64 {
        match self {
            MetricValue::Int(i) => i as f64,
            MetricValue::Float(f) => f,
        }
    }

    /// The value when it has one: every whole number, a finite real.
    pub fn finite(self) -> Option<f64> {
        Some(self.as_f64()).filter(|v| v.is_finite())
    }
}

/// What a metric measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// A point in time, ms since the epoch (UTC).
    Time,
    /// A span of time in days.
    Days,
    /// A number of things (bars, trades, periods).
    Count,
    /// Percent (×100).
    Percent,
    /// Money, in the account currency.
    Money,
    /// A plain number (a ratio, a coefficient, a fraction).
    Ratio,
}

/// How the `backtest` text table shows a metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Text {
    /// A bar time, `2004-08-19` (with the time of day when it has one).
    Date,
    /// `3116 days` (Rust's shortest form of the number).
    Days,
    /// The whole number.
    Count,
    /// The real number with this many decimals.
    Decimals(usize),
    /// Not in the text table (JSON, files and playbooks only).
    Hidden,
}

/// How to read a metric from [`Metrics`]; the variant is the metric's type.
#[derive(Debug, Clone, Copy)]
pub enum Read {
    /// A whole number (count, timestamp).
    Int(fn(&Metrics) -> i64),
    /// A real number, NaN when it has no value.
    Float(fn(&Metrics) -> f64),
}

/// One metric: one row of [`FIELDS`].
#[derive(Debug, Clone, Copy)]
pub struct Field {
    /// The name in `backtest --json`, playbooks and the results file (the [`Metrics`] field's name).
    pub key: &'static str,
    /// The label in the text table.
    pub label: &'static str,
    /// What it measures.
    pub unit: Unit,
    /// How the text table shows it.
    pub text: Text,
    /// How to read it.
    pub read: Read,
}

/// The value shown for a metric without one.
pub const MISSING: &str = "—";

impl Field {
    /// The metric's value in `m`.
    pub fn value(&self, m: &Metrics) -> MetricValue {
        match self.read {
            Read::Int(get) => MetricValue::Int(get(m)),
            Read::Float(get) => MetricValue::Float(get(m)),
        }
    }

    /// True for whole-number metrics (their value is never missing).
    pub fn is_int(&self) -> bool {
        matches!(self.read, Read::Int(_))
    }

    /// The text-table cell of the metric in `m` ([`MISSING`] when it has no value); `None` when the
    /// text table does not show it.
    pub fn text(&self, m: &Metrics) -> Option<String> {
        self.format(self.value(m))
    }

    /// The text-table cell of `value` read as this metric ([`MISSING`] when it has no value); `None`
    /// when the text table does not show the metric. For values that do not come from a [`Metrics`]
    /// (a playbook's `[metrics]`, a results file's row, a `backtest --json` document).
    pub fn format(&self, value: MetricValue) -> Option<String> {
        let real = |show: &dyn Fn(f64) -> String| match value.finite() {
            Some(v) => show(v),
            None => MISSING.to_string(),
        };
        Some(match (self.text, value) {
            (Text::Hidden, _) => return None,
            (Text::Date, MetricValue::Int(ms)) => format_ts(ms),
            (Text::Count, MetricValue::Int(n)) => n.to_string(),
            (Text::Days, _) => real(&|v| format!("{v} days")),
            (Text::Decimals(d), _) => real(&|v| format!("{v:.d$}")),
            (Text::Date | Text::Count, MetricValue::Float(_)) => real(&|v| v.to_string()),
        })
    }
}

/// A whole-number row: the key is the [`Metrics`] field's name, so the two cannot disagree.
macro_rules! int {
    ($key:ident, $label:literal, $unit:ident, $text:expr) => {
        Field {
            key: stringify!($key),
            label: $label,
            unit: Unit::$unit,
            text: $text,
            read: Read::Int(|m| m.$key as i64),
        }
    };
}

/// A real-valued row.
macro_rules! real {
    ($key:ident, $label:literal, $unit:ident, $text:expr) => {
        Field {
            key: stringify!($key),
            label: $label,
            unit: Unit::$unit,
            text: $text,
            read: Read::Float(|m| m.$key),
        }
    };
}

const PCT: Text = Text::Decimals(2);
const MONEY: Text = Text::Decimals(2);

/// Every metric, in `backtest --json` order (which is also the text table's and the results file's).
pub static FIELDS: [Field; 37] = [
    int!(start_ts, "Start", Time, Text::Date),
    int!(end_ts, "End", Time, Text::Date),
    real!(duration_days, "Duration", Days, Text::Days),
    int!(bars, "Bars", Count, Text::Count),
    real!(exposure_pct, "Exposure Time [%]", Percent, PCT),
    real!(equity_final, "Equity Final [$]", Money, MONEY),
    real!(equity_peak, "Equity Peak [$]", Money, MONEY),
    real!(commissions, "Commissions [$]", Money, MONEY),
    real!(return_pct, "Return [%]", Percent, PCT),
    real!(buy_hold_return_pct, "Buy & Hold Return [%]", Percent, PCT),
    real!(return_ann_pct, "Return (Ann.) [%]", Percent, PCT),
    real!(volatility_ann_pct, "Volatility (Ann.) [%]", Percent, PCT),
    real!(cagr_pct, "CAGR [%]", Percent, PCT),
    real!(sharpe, "Sharpe Ratio", Ratio, Text::Decimals(3)),
    real!(sortino, "Sortino Ratio", Ratio, Text::Decimals(3)),
    real!(calmar, "Calmar Ratio", Ratio, Text::Decimals(3)),
    real!(alpha_pct, "Alpha [%]", Percent, PCT),
    real!(beta, "Beta", Ratio, Text::Decimals(4)),
    real!(max_drawdown_pct, "Max. Drawdown [%]", Percent, PCT),
    real!(avg_drawdown_pct, "Avg. Drawdown [%]", Percent, PCT),
    real!(
        max_drawdown_duration_days,
        "Max. Drawdown Duration",
        Days,
        Text::Days
    ),
    real!(
        avg_drawdown_duration_days,
        "Avg. Drawdown Duration",
        Days,
        Text::Days
    ),
    int!(num_trades, "# Trades", Count, Text::Count),
    real!(win_rate_pct, "Win Rate [%]", Percent, PCT),
    real!(best_trade_pct, "Best Trade [%]", Percent, PCT),
    real!(worst_trade_pct, "Worst Trade [%]", Percent, PCT),
    real!(avg_trade_pct, "Avg. Trade [%]", Percent, PCT),
    real!(
        max_trade_duration_days,
        "Max. Trade Duration",
        Days,
        Text::Days
    ),
    real!(
        avg_trade_duration_days,
        "Avg. Trade Duration",
        Days,
        Text::Days
    ),
    real!(profit_factor, "Profit Factor", Ratio, Text::Decimals(3)),
    real!(expectancy_pct, "Expectancy [%]", Percent, PCT),
    real!(sqn, "SQN", Ratio, Text::Decimals(3)),
    real!(kelly, "Kelly Criterion", Ratio, Text::Decimals(4)),
    real!(recovery_factor, "Recovery Factor", Ratio, Text::Decimals(3)),
    int!(periods_per_year, "Periods per year", Count, Text::Hidden),
    int!(ambiguous_exits, "Ambiguous exits", Count, Text::Count),
    int!(cancelled_orders, "Cancelled orders", Count, Text::Count),
];

/// The metric named `key` (its `backtest --json` name).
pub fn find(key: &str) -> Option<&'static Field> {
    FIELDS.iter().find(|f| f.key == key)
}

/// Every metric of `m` with its key, in table order.
pub fn values(m: &Metrics) -> impl Iterator<Item = (&'static str, MetricValue)> + '_ {
    FIELDS.iter().map(move |f| (f.key, f.value(m)))
}

/// `backtest --json`'s `metrics` object: every row of [`FIELDS`] in order, whole numbers as integers,
/// reals as numbers or `null` when they have no value.
impl Serialize for Metrics {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut out = s.serialize_struct("Metrics", FIELDS.len())?;
        for f in &FIELDS {
            match f.value(self) {
                MetricValue::Int(i) => out.serialize_field(f.key, &i)?,
                MetricValue::Float(x) => out.serialize_field(f.key, &crate::json::finite(x))?,
            }
        }
        out.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `Metrics` whose every field holds its 1-based position in the struct declaration. The struct
    /// literal must name every field (no `..`), so a new field does not compile here until it is given
    /// a value — and then `every_field_is_read_once_in_declaration_order` fails until the table reads it.
    fn numbered() -> Metrics {
        Metrics {
            start_ts: 1,
            end_ts: 2,
            duration_days: 3.0,
            bars: 4,
            exposure_pct: 5.0,
            equity_final: 6.0,
            equity_peak: 7.0,
            commissions: 8.0,
            return_pct: 9.0,
            buy_hold_return_pct: 10.0,
            return_ann_pct: 11.0,
            volatility_ann_pct: 12.0,
            cagr_pct: 13.0,
            sharpe: 14.0,
            sortino: 15.0,
            calmar: 16.0,
            alpha_pct: 17.0,
            beta: 18.0,
            max_drawdown_pct: 19.0,
            avg_drawdown_pct: 20.0,
            max_drawdown_duration_days: 21.0,
            avg_drawdown_duration_days: 22.0,
            num_trades: 23,
            win_rate_pct: 24.0,
            best_trade_pct: 25.0,
            worst_trade_pct: 26.0,
            avg_trade_pct: 27.0,
            max_trade_duration_days: 28.0,
            avg_trade_duration_days: 29.0,
            profit_factor: 30.0,
            expectancy_pct: 31.0,
            sqn: 32.0,
            kelly: 33.0,
            recovery_factor: 34.0,
            periods_per_year: 35,
            ambiguous_exits: 36,
            cancelled_orders: 37,
        }
    }

    #[test]
    fn every_field_is_read_once_in_declaration_order() {
        let got: Vec<f64> = values(&numbered()).map(|(_, v)| v.as_f64()).collect();
        let want: Vec<f64> = (1..=37).map(f64::from).collect();
        assert_eq!(got, want);
        // Whole-number fields are exactly the integer-typed ones of the struct (start_ts, end_ts,
        // bars, num_trades, periods_per_year, ambiguous_exits, cancelled_orders).
        let ints: Vec<&str> = FIELDS
            .iter()
            .filter(|f| f.is_int())
            .map(|f| f.key)
            .collect();
        assert_eq!(
            ints,
            [
                "start_ts",
                "end_ts",
                "bars",
                "num_trades",
                "periods_per_year",
                "ambiguous_exits",
                "cancelled_orders"
            ]
        );
    }

    #[test]
    fn keys_are_unique() {
        for (i, f) in FIELDS.iter().enumerate() {
            assert!(FIELDS[..i].iter().all(|g| g.key != f.key), "{}", f.key);
            assert!(
                FIELDS[..i].iter().all(|g| g.label != f.label),
                "{}",
                f.label
            );
        }
    }

    #[test]
    fn labels_are_the_reference_stat_names() {
        // backtesting.py 0.6.6's `stats` of the oracle run (tests/fixtures, written by Python): every
        // stat is one of our labels, in the reference's order.
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/goog_smacross_10_20.stats.json"
        );
        let text = std::fs::read_to_string(path).unwrap();
        let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
        let stats = doc["stats"].as_object().unwrap();
        // serde_json sorts object keys (no preserve_order); take the reference order from the text.
        let mut names: Vec<&String> = stats.keys().collect();
        names.sort_by_key(|k| text.find(&format!("\"{k}\":")).unwrap());
        let at: Vec<usize> = names
            .iter()
            .map(|n| {
                FIELDS
                    .iter()
                    .position(|f| f.label == n.as_str())
                    .unwrap_or_else(|| panic!("no field labelled {n}"))
            })
            .collect();
        assert_eq!(at.len(), 32);
        assert!(at.windows(2).all(|w| w[0] < w[1]), "{at:?}");
    }

    #[test]
    fn json_is_driven_by_the_table() {
        let mut m = numbered();
        m.sharpe = f64::NAN;
        m.kelly = f64::INFINITY;
        let text = serde_json::to_string(&m).unwrap();
        // Keys in table order, integers without a decimal point, reals with one, no value → null.
        let expected: Vec<String> = FIELDS
            .iter()
            .enumerate()
            .map(|(i, f)| match f.key {
                "sharpe" | "kelly" => format!("\"{}\":null", f.key),
                k if f.is_int() => format!("\"{k}\":{}", i + 1),
                k => format!("\"{k}\":{}.0", i + 1),
            })
            .collect();
        assert_eq!(text, format!("{{{}}}", expected.join(",")));
    }

    #[test]
    fn json_of_a_real_run_has_the_table_keys_in_order() {
        use crate::candles::Interval;
        use crate::candles::synthetic::{SyntheticSpec, generate};
        let candles = generate(&SyntheticSpec::new(600, 7, Interval::Day1));
        let cache = crate::indicators::IndicatorCache::new();
        let sma = crate::strategy::lookup("sma_cross").unwrap();
        let params = crate::strategy::resolve_params(sma, &[]).unwrap();
        let config = crate::engine::BacktestConfig::default();
        let report = crate::backtest::backtest(&candles, sma, &params, &config, &cache).unwrap();
        let m = report.metrics;
        let text = serde_json::to_string(&m).unwrap();
        let json: serde_json::Value = serde_json::from_str(&text).unwrap();
        let obj = json.as_object().unwrap();
        assert_eq!(obj.len(), FIELDS.len());
        // Keys appear in the table's order in the text (serde_json's map sorts them, the text does not).
        let at: Vec<usize> = FIELDS
            .iter()
            .map(|f| text.find(&format!("\"{}\":", f.key)).unwrap())
            .collect();
        assert!(at.windows(2).all(|w| w[0] < w[1]), "{text}");
        // Spot checks against the struct itself, read without the table.
        assert_eq!(obj["bars"], 600);
        assert_eq!(obj["num_trades"].as_u64(), Some(m.num_trades as u64));
        assert_eq!(
            obj["sharpe"].as_f64(),
            Some(m.sharpe).filter(|v| v.is_finite())
        );
        assert_eq!(obj["equity_final"].as_f64(), Some(m.equity_final));
        assert!(m.num_trades > 0, "the run should trade");
    }

    #[test]
    fn text_cells_follow_the_format() {
        let mut m = numbered();
        m.start_ts = 1_092_873_600_000; // 2004-08-19T00:00:00Z
        m.duration_days = 3116.0;
        m.sharpe = 0.600_739_972_986_189_9;
        m.beta = f64::NAN;
        let cell = |k: &str| find(k).unwrap().text(&m);
        assert_eq!(cell("start_ts").as_deref(), Some("2004-08-19"));
        assert_eq!(cell("duration_days").as_deref(), Some("3116 days"));
        assert_eq!(cell("bars").as_deref(), Some("4"));
        assert_eq!(cell("sharpe").as_deref(), Some("0.601"));
        assert_eq!(cell("exposure_pct").as_deref(), Some("5.00"));
        assert_eq!(cell("beta").as_deref(), Some(MISSING));
        assert_eq!(cell("periods_per_year"), None);
    }
}
