//! The `[validation]` and `[walk_forward]` sections of an optimize playbook and the gates judged on
//! them (`--max-pbo`, `--min-dsr`, `--min-wfe`, `--min-positive-windows`). Only data and comparisons
//! live here; the statistics are computed by `optimize` (`optimize::validation`, `optimize::walk`).
//!
//! ```toml
//! [validation]        period, periods, candidate, sharpe, skew, kurtosis, psr, min_trl, trials,
//!                     sharpe_std, sr0, dsr, pbo, pbo_blocks, pbo_splits, pbo_dropped, pbo_candidates,
//!                     pbo_slope, pbo_intercept, prob_oos_loss, notes
//! [[validation.gates]] gate, limit, value, pass
//! [walk_forward]      train, test, step, purge, anchored, start, end, bars, data_sha256, windows,
//!                     evaluated, positive_windows, positive_share, wfe, oos_return_ann_pct,
//!                     is_return_ann_pct, oos_return_pct, buy_hold_return_pct, param_stability,
//!                     oos_periods, oos_sharpe, oos_psr, oos_min_trl
//! [walk_forward.stability]   per parameter
//! [walk_forward.oos_metrics] every metric of the stitched out-of-sample run
//! [[walk_forward.window]]    index, dates, bars, candidate, objectives, returns, trades, wfe, dsr,
//!                            pbo, evaluated, [walk_forward.window.params]
//! ```
//!
//! A number without a value (too little data, an undefined ratio) is left out, never written as NaN.

use serde::{Deserialize, Serialize};

use super::Table;
use crate::error::{Error, Result};

/// `[validation]`: how likely the best candidate's result is luck, given the search (see
/// `optimize::validation` for every definition). Sharpe ratios here are per period, not annualized.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Validation {
    /// What one period of the returns is: `day` (intraday and daily bars), `week`, `month` or `year`.
    pub period: String,
    /// T: the number of per-period returns of every candidate.
    pub periods: u64,
    /// The grid index of the candidate judged: the playbook's best.
    pub candidate: u64,
    /// Its per-period Sharpe ratio (sample standard deviation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sharpe: Option<f64>,
    /// Skewness γ3 of its returns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skew: Option<f64>,
    /// Raw kurtosis γ4 of its returns (3 for a normal distribution).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kurtosis: Option<f64>,
    /// PSR(0): the probability that its true Sharpe ratio is above 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub psr: Option<f64>,
    /// Minimum track record length (periods) for PSR(0) to reach 95 %.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_trl: Option<f64>,
    /// N: candidates evaluated with a defined Sharpe ratio.
    pub trials: u64,
    /// σ_SR: the sample standard deviation of those candidates' Sharpe ratios.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sharpe_std: Option<f64>,
    /// SR0: the Sharpe ratio the best of N skill-less candidates is expected to reach.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sr0: Option<f64>,
    /// DSR = PSR(SR0): the deflated Sharpe ratio.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dsr: Option<f64>,
    /// The probability of backtest overfitting (CSCV).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pbo: Option<f64>,
    /// S: the blocks of CSCV.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pbo_blocks: Option<u64>,
    /// C(S, S/2): the in-sample/out-of-sample splits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pbo_splits: Option<u64>,
    /// T mod S: returns left out at the start so the blocks are equal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pbo_dropped: Option<u64>,
    /// The candidates CSCV ranked (every evaluated one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pbo_candidates: Option<u64>,
    /// Slope of out-of-sample on in-sample Sharpe ratio of the in-sample winners.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pbo_slope: Option<f64>,
    /// Intercept of that line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pbo_intercept: Option<f64>,
    /// The share of splits where the in-sample winner lost out of sample.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prob_oos_loss: Option<f64>,
    /// Why a number is missing (too few returns for the blocks, too few candidates).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// The verdicts of the gates asked for, in the order of [`Gate::ALL`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gates: Vec<GateVerdict>,
}

/// `[walk_forward]`: the windows, the stitched out-of-sample record and how it compares with the
/// in-sample promise (see `optimize::walk_forward` for the definitions).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct WalkForwardSection {
    /// Train length as given (`2000` bars or a span such as `6M`).
    pub train: String,
    /// Test length.
    pub test: String,
    /// Step between windows.
    pub step: String,
    /// Bars or span left out between train and test.
    pub purge: String,
    /// Every train window starts at the first bar.
    pub anchored: bool,
    /// First bar of the whole data (RFC 3339).
    pub start: String,
    /// Last bar of the whole data.
    pub end: String,
    /// Bars of the whole data.
    pub bars: u64,
    /// sha256 of the whole data's bars.
    pub data_sha256: String,
    /// Number of windows.
    pub windows: u64,
    /// Candidates backtested over all train windows.
    pub evaluated: u64,
    /// Windows whose out-of-sample return is above 0.
    pub positive_windows: u64,
    /// `positive_windows / windows`.
    pub positive_share: f64,
    /// Overall walk-forward efficiency: annualized stitched OOS return / mean annualized IS return.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wfe: Option<f64>,
    /// Annualized return of the stitched out-of-sample record, ×100.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oos_return_ann_pct: Option<f64>,
    /// Mean annualized in-sample return of the chosen parameters, ×100.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_return_ann_pct: Option<f64>,
    /// Total return of the stitched out-of-sample record, ×100.
    pub oos_return_pct: f64,
    /// Buy & hold over the same test windows, chained, ×100.
    pub buy_hold_return_pct: f64,
    /// Mean over parameters of the mean normalized move between consecutive windows (0 = steady).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub param_stability: Option<f64>,
    /// Per-period returns of the stitched out-of-sample record.
    pub oos_periods: u64,
    /// Their per-period Sharpe ratio.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oos_sharpe: Option<f64>,
    /// PSR(0) of the stitched out-of-sample record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oos_psr: Option<f64>,
    /// Its minimum track record length (periods) at 95 %.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oos_min_trl: Option<f64>,
    /// Where a change in the whole data lies (as `[market.fingerprint]`; absent in playbooks of an
    /// older flowrex).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<super::Fingerprint>,
    /// Per parameter: its stability (parameters with a single value are left out).
    pub stability: Table,
    /// Every metric of the stitched out-of-sample run, named as in `backtest --json`.
    pub oos_metrics: Table,
    /// One entry per window, in order.
    pub window: Vec<WindowEntry>,
}

/// One `[[walk_forward.window]]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WindowEntry {
    /// 0 for the first window.
    pub index: u64,
    /// First train bar (RFC 3339).
    pub train_start: String,
    /// Last train bar.
    pub train_end: String,
    /// First test bar.
    pub test_start: String,
    /// Last test bar.
    pub test_end: String,
    /// Train bars.
    pub train_bars: u64,
    /// Test bars.
    pub test_bars: u64,
    /// The grid index of the parameters chosen on the train bars.
    pub candidate: u64,
    /// Their objective in sample.
    pub is_objective: f64,
    /// Their objective out of sample (left out when it has no value).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oos_objective: Option<f64>,
    /// Their total return in sample, ×100.
    pub is_return_pct: f64,
    /// Their total return out of sample, ×100.
    pub oos_return_pct: f64,
    /// Closed trades out of sample.
    pub oos_trades: u64,
    /// Buy & hold over the test bars, ×100.
    pub buy_hold_return_pct: f64,
    /// Walk-forward efficiency of the window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wfe: Option<f64>,
    /// DSR of the window's search.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dsr: Option<f64>,
    /// PBO of the window's search.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pbo: Option<f64>,
    /// Candidates backtested on the train bars.
    pub evaluated: u64,
    /// The chosen parameters.
    pub params: Table,
}

/// A gate: a limit on one validation number that cron jobs and CI can act on (exit 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    /// `--max-pbo X`: PBO ≤ X.
    MaxPbo,
    /// `--min-dsr Y`: DSR ≥ Y.
    MinDsr,
    /// `--min-wfe Z`: overall walk-forward efficiency ≥ Z.
    MinWfe,
    /// `--min-positive-windows K`: the share of windows with a positive OOS return ≥ K.
    MinPositiveWindows,
}

impl Gate {
    /// Every gate, in the order verdicts are listed.
    pub const ALL: [Gate; 4] = [
        Gate::MaxPbo,
        Gate::MinDsr,
        Gate::MinWfe,
        Gate::MinPositiveWindows,
    ];

    /// The name in playbooks (`max_pbo`, …); the flag is `--` + the name with dashes.
    pub fn name(self) -> &'static str {
        match self {
            Gate::MaxPbo => "max_pbo",
            Gate::MinDsr => "min_dsr",
            Gate::MinWfe => "min_wfe",
            Gate::MinPositiveWindows => "min_positive_windows",
        }
    }

    /// The command-line flag.
    pub fn flag(self) -> String {
        format!("--{}", self.name().replace('_', "-"))
    }

    /// The gate named `name` in a playbook.
    pub fn from_name(name: &str) -> Option<Gate> {
        Gate::ALL.into_iter().find(|g| g.name() == name)
    }

    /// Whether the gate needs a walk-forward run.
    pub fn needs_walk_forward(self) -> bool {
        matches!(self, Gate::MinWfe | Gate::MinPositiveWindows)
    }

    /// The number the gate judges: PBO and DSR from `[validation]`, WFE and the positive share from
    /// `[walk_forward]`.
    pub fn value(self, v: &Validation, wf: Option<&WalkForwardSection>) -> Option<f64> {
        match self {
            Gate::MaxPbo => v.pbo,
            Gate::MinDsr => v.dsr,
            Gate::MinWfe => wf.and_then(|w| w.wfe),
            Gate::MinPositiveWindows => wf.map(|w| w.positive_share),
        }
    }

    /// The verdict on `value` against `limit`. A number without a value fails: nothing shows the
    /// strategy clears the bar.
    pub fn judge(self, limit: f64, value: Option<f64>) -> GateVerdict {
        let pass = value.is_some_and(|x| match self {
            Gate::MaxPbo => x <= limit,
            _ => x >= limit,
        });
        GateVerdict {
            gate: self.name().to_string(),
            limit,
            value,
            pass,
        }
    }
}

/// One `[[validation.gates]]`: a gate, its limit, the number it judged and the verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GateVerdict {
    /// The gate's name (`max_pbo`, `min_dsr`, `min_wfe`, `min_positive_windows`).
    pub gate: String,
    /// The limit given.
    pub limit: f64,
    /// The number judged (left out when it had no value, which fails the gate).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    /// Whether the number cleared the limit.
    pub pass: bool,
}

impl GateVerdict {
    /// `pbo 0.62 > --max-pbo 0.5`-style text for messages.
    pub fn describe(&self) -> String {
        let gate = Gate::from_name(&self.gate);
        let what = match gate {
            Some(Gate::MaxPbo) => "pbo",
            Some(Gate::MinDsr) => "dsr",
            Some(Gate::MinWfe) => "wfe",
            Some(Gate::MinPositiveWindows) => "positive window share",
            None => self.gate.as_str(),
        };
        let flag = gate.map_or_else(|| self.gate.clone(), Gate::flag);
        match self.value {
            None => format!("{what} has no value ({flag} {})", self.limit),
            Some(v) => {
                let rel = match (gate, self.pass) {
                    (Some(Gate::MaxPbo), true) => "≤",
                    (Some(Gate::MaxPbo), false) => ">",
                    (_, true) => "≥",
                    (_, false) => "<",
                };
                format!("{what} {} {rel} {flag} {}", round4(v), self.limit)
            }
        }
    }
}

fn round4(v: f64) -> String {
    format!("{v:.4}")
}

/// The gates asked for on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Gates {
    /// `--max-pbo`.
    pub max_pbo: Option<f64>,
    /// `--min-dsr`.
    pub min_dsr: Option<f64>,
    /// `--min-wfe`.
    pub min_wfe: Option<f64>,
    /// `--min-positive-windows`.
    pub min_positive_windows: Option<f64>,
}

impl Gates {
    /// The limit of `gate`, if asked for.
    pub fn limit(&self, gate: Gate) -> Option<f64> {
        match gate {
            Gate::MaxPbo => self.max_pbo,
            Gate::MinDsr => self.min_dsr,
            Gate::MinWfe => self.min_wfe,
            Gate::MinPositiveWindows => self.min_positive_windows,
        }
    }

    /// The gates asked for with their limits, in [`Gate::ALL`] order.
    pub fn asked(&self) -> impl Iterator<Item = (Gate, f64)> + '_ {
        Gate::ALL
            .into_iter()
            .filter_map(|g| self.limit(g).map(|l| (g, l)))
    }

    /// Usage error when a limit is outside [0, 1] (or not a number), or a walk-forward gate is asked
    /// for without `--walk-forward`.
    pub fn check(&self, walk_forward: bool) -> Result<()> {
        for (gate, limit) in self.asked() {
            if !(0.0..=1.0).contains(&limit) {
                return Err(Error::usage(format!(
                    "{} {limit}: must be a number in [0, 1]",
                    gate.flag()
                )));
            }
            if gate.needs_walk_forward() && !walk_forward {
                return Err(Error::usage(format!(
                    "{} judges a walk-forward run: add --walk-forward --train LEN --test LEN",
                    gate.flag()
                )));
            }
        }
        Ok(())
    }

    /// The verdicts on a playbook's sections.
    pub fn judge(&self, v: &Validation, wf: Option<&WalkForwardSection>) -> Vec<GateVerdict> {
        self.asked()
            .map(|(g, limit)| g.judge(limit, g.value(v, wf)))
            .collect()
    }
}

/// The gates stored in `v` judged again on `v` and `wf` (whose numbers may be fresh); a stored gate
/// with an unknown name fails.
pub fn rejudge(v: &Validation, wf: Option<&WalkForwardSection>) -> Vec<GateVerdict> {
    v.gates
        .iter()
        .map(|stored| match Gate::from_name(&stored.gate) {
            Some(g) => g.judge(stored.limit, g.value(v, wf)),
            None => GateVerdict {
                pass: false,
                value: None,
                ..stored.clone()
            },
        })
        .collect()
}

/// One column of the per-window table: its title, whether it holds numbers (right-aligned in HTML),
/// and its cell for a window.
pub struct WindowColumn {
    /// The title.
    pub title: &'static str,
    /// Numbers (right-aligned where the output aligns).
    pub numeric: bool,
    /// The cell of a window: `—` where the number has no value.
    pub cell: fn(&WindowEntry) -> String,
}

/// The per-window table of a walk-forward playbook, one description that every output reads (the
/// text table of `optimize --walk-forward` and the HTML report's "Walk-forward windows").
pub const WINDOW_COLUMNS: [WindowColumn; 13] = [
    WindowColumn {
        title: "#",
        numeric: true,
        cell: |w| w.index.to_string(),
    },
    WindowColumn {
        title: "Train",
        numeric: false,
        cell: |w| dates(&w.train_start, &w.train_end),
    },
    WindowColumn {
        title: "Test",
        numeric: false,
        cell: |w| dates(&w.test_start, &w.test_end),
    },
    WindowColumn {
        title: "Parameters",
        numeric: false,
        cell: |w| w.params.to_line(),
    },
    WindowColumn {
        title: "IS obj",
        numeric: true,
        cell: |w| fixed(Some(w.is_objective), 4),
    },
    WindowColumn {
        title: "OOS obj",
        numeric: true,
        cell: |w| fixed(w.oos_objective, 4),
    },
    WindowColumn {
        title: "IS ret %",
        numeric: true,
        cell: |w| fixed(Some(w.is_return_pct), 2),
    },
    WindowColumn {
        title: "OOS ret %",
        numeric: true,
        cell: |w| fixed(Some(w.oos_return_pct), 2),
    },
    WindowColumn {
        title: "B&H %",
        numeric: true,
        cell: |w| fixed(Some(w.buy_hold_return_pct), 2),
    },
    WindowColumn {
        title: "OOS trades",
        numeric: true,
        cell: |w| w.oos_trades.to_string(),
    },
    WindowColumn {
        title: "WFE",
        numeric: true,
        cell: |w| fixed(w.wfe, 4),
    },
    WindowColumn {
        title: "DSR",
        numeric: true,
        cell: |w| fixed(w.dsr, 4),
    },
    WindowColumn {
        title: "PBO",
        numeric: true,
        cell: |w| fixed(w.pbo, 4),
    },
];

/// The columns a narrow screen leaves out first, in this order: what the out-of-sample results do
/// not need to be read (the in-sample return, each window's search statistics, the train dates —
/// each test follows its train — and the efficiency); then the last columns go. On 80 columns the
/// window, its test dates, its parameters, both objectives and the out-of-sample return remain.
pub const WINDOW_OPTIONAL: [&str; 5] = ["IS ret %", "DSR", "PBO", "Train", "WFE"];

impl WalkForwardSection {
    /// The per-window table: [`WINDOW_COLUMNS`]' titles and one row of cells per window.
    pub fn window_cells(&self) -> (Vec<String>, Vec<Vec<String>>) {
        let header = WINDOW_COLUMNS.iter().map(|c| c.title.to_string()).collect();
        let rows = self
            .window
            .iter()
            .map(|w| WINDOW_COLUMNS.iter().map(|c| (c.cell)(w)).collect())
            .collect();
        (header, rows)
    }
}

/// `first…last` as dates.
fn dates(first: &str, last: &str) -> String {
    use crate::candles::time::date_part;
    format!("{}…{}", date_part(first), date_part(last))
}

/// `v` with `decimals` decimals, `—` for no value or a non-finite one.
fn fixed(v: Option<f64>, decimals: usize) -> String {
    match v {
        Some(x) if x.is_finite() => format!("{x:.decimals$}"),
        _ => "—".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_table_leaves_out_only_its_own_columns() {
        for t in WINDOW_OPTIONAL {
            assert!(
                WINDOW_COLUMNS.iter().any(|c| c.title == t),
                "{t} is no column"
            );
        }
    }

    #[test]
    fn gates_judge_limits_inclusively_and_fail_without_a_value() {
        // PBO 0.3 against --max-pbo 0.3: at the limit passes; 0.31 fails.
        assert!(Gate::MaxPbo.judge(0.3, Some(0.3)).pass);
        assert!(!Gate::MaxPbo.judge(0.3, Some(0.31)).pass);
        assert!(Gate::MinDsr.judge(0.95, Some(0.95)).pass);
        assert!(!Gate::MinDsr.judge(0.95, Some(0.9499)).pass);
        assert!(!Gate::MinWfe.judge(0.5, None).pass);
        assert_eq!(
            Gate::MaxPbo.judge(0.5, Some(0.625)).describe(),
            "pbo 0.6250 > --max-pbo 0.5"
        );
        assert_eq!(
            Gate::MinWfe.judge(0.5, None).describe(),
            "wfe has no value (--min-wfe 0.5)"
        );
    }

    #[test]
    fn limits_outside_zero_one_and_walk_forward_gates_alone_are_usage_errors() {
        let bad = Gates {
            max_pbo: Some(1.5),
            ..Gates::default()
        };
        let e = bad.check(false).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert_eq!(e.to_string(), "--max-pbo 1.5: must be a number in [0, 1]");
        let nan = Gates {
            min_dsr: Some(f64::NAN),
            ..Gates::default()
        };
        assert_eq!(nan.check(false).unwrap_err().exit_code(), 2);
        let wfe = Gates {
            min_wfe: Some(0.5),
            ..Gates::default()
        };
        assert!(
            wfe.check(false)
                .unwrap_err()
                .to_string()
                .contains("--walk-forward")
        );
        assert!(wfe.check(true).is_ok());
    }

    #[test]
    fn stored_gates_are_judged_again_on_fresh_numbers() {
        let mut v = Validation {
            dsr: Some(0.97),
            pbo: Some(0.2),
            ..Validation::default()
        };
        let gates = Gates {
            max_pbo: Some(0.5),
            min_dsr: Some(0.95),
            ..Gates::default()
        };
        v.gates = gates.judge(&v, None);
        assert!(v.gates.iter().all(|g| g.pass));
        // A fresh DSR below the limit fails the stored gate.
        v.dsr = Some(0.9);
        let again = rejudge(&v, None);
        assert_eq!(again[0].gate, "max_pbo");
        assert!(again[0].pass);
        assert!(!again[1].pass);
        assert_eq!(again[1].value, Some(0.9));
    }
}
