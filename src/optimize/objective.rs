//! Objectives: which metric an optimizer maximizes, and the ranking of candidates (objective, then
//! candidate index) that makes results independent of the thread count.

use std::cmp::Ordering;

use crate::error::{Error, Result};
use crate::metrics::Metrics;

/// A metric to maximize.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
    pub const ALL: [Objective; 7] = [
        Objective::Return,
        Objective::Sharpe,
        Objective::Sortino,
        Objective::Calmar,
        Objective::ProfitFactor,
        Objective::Sqn,
        Objective::Expectancy,
    ];

    /// The name used on the command line and in playbooks.
    pub fn name(self) -> &'static str {
        match self {
            Objective::Return => "return",
            Objective::Sharpe => "sharpe",
            Objective::Sortino => "sortino",
            Objective::Calmar => "calmar",
            Objective::ProfitFactor => "profit_factor",
            Objective::Sqn => "sqn",
            Objective::Expectancy => "expectancy",
        }
    }

    /// The metric's name in `backtest --json` and in the results file.
    pub fn metric_name(self) -> &'static str {
        match self {
            Objective::Return => "return_pct",
            Objective::Expectancy => "expectancy_pct",
            other => other.name(),
        }
    }

    /// The objective's value for a run (may be NaN or infinite; see [`rank_value`]).
    pub fn value(self, m: &Metrics) -> f64 {
        match self {
            Objective::Return => m.return_pct,
            Objective::Sharpe => m.sharpe,
            Objective::Sortino => m.sortino,
            Objective::Calmar => m.calmar,
            Objective::ProfitFactor => m.profit_factor,
            Objective::Sqn => m.sqn,
            Objective::Expectancy => m.expectancy_pct,
        }
    }

    /// Parses a name (or its metric name); an unknown one is a usage error listing the valid names.
    pub fn parse(text: &str) -> Result<Objective> {
        let t = text.trim();
        Objective::ALL
            .into_iter()
            .find(|o| o.name() == t || o.metric_name() == t)
            .ok_or_else(|| {
                Error::usage(format!(
                    "--objective {t}: unknown objective; use one of {}",
                    Objective::ALL.map(|o| o.name()).join(", ")
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
}
