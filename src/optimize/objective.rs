//! Objectives: which metric an optimizer maximizes, and the ranking of candidates (objective, then
//! candidate index) that makes results independent of the thread count.

use std::cmp::Ordering;

use crate::error::{Error, Result};
use crate::metrics::Metrics;
use crate::metrics::fields::{self, FIELDS, Field};

/// A metric to maximize. Each objective is named after a metric of the field table, without its
/// `_pct` unit suffix (`return` → `return_pct`); the names and the metric come from there and from the
/// variant names (strum), not from a hand-kept list.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    strum::Display,
    strum::EnumString,
    strum::IntoStaticStr,
    strum::VariantNames,
    strum::VariantArray,
)]
#[strum(serialize_all = "snake_case")]
pub enum Objective {
    /// Total return, `return_pct`.
    Return,
    /// Annualized Sharpe ratio, `sharpe`.
    Sharpe,
    /// Annualized Sortino ratio, `sortino`.
    Sortino,
    /// Calmar ratio, `calmar`.
    Calmar,
    /// Profit factor, `profit_factor`.
    ProfitFactor,
    /// System quality number, `sqn`.
    Sqn,
    /// Mean trade return, `expectancy_pct`.
    Expectancy,
}

impl Objective {
    /// Every objective, in the order `--help` lists them.
    pub const ALL: &'static [Objective] = <Objective as strum::VariantArray>::VARIANTS;

    /// The name used on the command line and in playbooks.
    pub fn name(self) -> &'static str {
        self.into()
    }

    /// The metric it maximizes: the field named `name` or `name_pct`.
    pub fn field(self) -> &'static Field {
        let name = self.name();
        fields::find(name)
            .or_else(|| {
                FIELDS
                    .iter()
                    .find(|f| f.key.strip_suffix("_pct") == Some(name))
            })
            .expect("every objective names a metric (tested below)")
    }

    /// The metric's name in `backtest --json` and in the results file.
    pub fn metric_name(self) -> &'static str {
        self.field().key
    }

    /// The objective's value for a run (may be NaN or infinite; see [`rank_value`]).
    pub fn value(self, m: &Metrics) -> f64 {
        self.field().value(m).as_f64()
    }

    /// Parses a name (or its metric name); an unknown one is a usage error listing the valid names.
    pub fn parse(text: &str) -> Result<Objective> {
        let t = text.trim();
        Objective::ALL
            .iter()
            .copied()
            .find(|o| o.name() == t || o.metric_name() == t)
            .ok_or_else(|| {
                Error::usage(format!(
                    "--objective {t}: unknown objective; use one of {}",
                    <Objective as strum::VariantNames>::VARIANTS.join(", ")
                ))
            })
    }
}

/// The value a candidate is ranked by: the objective when it is finite and the candidate made at least
/// the minimum number of trades, else `None` (not ranked).
pub fn rank_value(objective: f64, trades: usize, min_trades: usize) -> Option<f64> {
    (objective.is_finite() && trades >= min_trades).then_some(objective)
}

/// The ranking order: higher objective first, then lower candidate index. A total order, so the top K
/// of a set of candidates does not depend on the order in which they were evaluated.
pub fn rank_cmp(a: (f64, u64), b: (f64, u64)) -> Ordering {
    b.0.total_cmp(&a.0).then(a.1.cmp(&b.1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_ranking() {
        assert_eq!(Objective::parse("sharpe").unwrap(), Objective::Sharpe);
        assert_eq!(Objective::parse("return_pct").unwrap(), Objective::Return);
        let e = Objective::parse("alpha").unwrap_err().to_string();
        assert!(
            e.contains("unknown objective") && e.contains("profit_factor"),
            "{e}"
        );
        assert_eq!(rank_cmp((2.0, 9), (1.0, 0)), Ordering::Less);
        assert_eq!(rank_cmp((1.0, 3), (1.0, 5)), Ordering::Less);
        assert_eq!(rank_value(f64::NAN, 10, 1), None);
        assert_eq!(rank_value(f64::INFINITY, 10, 1), None);
        assert_eq!(rank_value(1.5, 0, 1), None);
        assert_eq!(rank_value(1.5, 1, 1), Some(1.5));
    }

    #[test]
    fn every_objective_names_a_metric() {
        // The names and metrics `--objective` has always documented.
        let pairs: Vec<(&str, &str)> = Objective::ALL
            .iter()
            .map(|o| (o.name(), o.metric_name()))
            .collect();
        assert_eq!(
            pairs,
            [
                ("return", "return_pct"),
                ("sharpe", "sharpe"),
                ("sortino", "sortino"),
                ("calmar", "calmar"),
                ("profit_factor", "profit_factor"),
                ("sqn", "sqn"),
                ("expectancy", "expectancy_pct"),
            ]
        );
        // The value is the field's: a run with distinct values per metric.
        let mut m = crate::metrics::compute(
            &crate::candles::Candles::default(),
            &crate::engine::RunResult::default(),
        );
        (m.return_pct, m.sharpe, m.sqn, m.expectancy_pct) = (1.5, 2.5, 3.5, 4.5);
        assert_eq!(Objective::Return.value(&m), 1.5);
        assert_eq!(Objective::Sharpe.value(&m), 2.5);
        assert_eq!(Objective::Sqn.value(&m), 3.5);
        assert_eq!(Objective::Expectancy.value(&m), 4.5);
        assert_eq!(Objective::ProfitFactor.to_string(), "profit_factor");
    }
}
