//! The regression check behind `backtest --playbook P --check`: did the data change since the playbook
//! was written ([`DataChange`]), and do fresh metrics reproduce the stored ones ([`compare_metrics`],
//! summed up in a [`CheckReport`] whose [`CheckReport::verdict`] is the exit-3 error). The command line
//! only renders these values.

use std::path::{Path, PathBuf};

use super::{Playbook, Table};
use crate::candles::{Candles, Interval};
use crate::error::{Error, Result};
use crate::metrics::Metrics;
use crate::metrics::fields::{self, MetricValue};

/// A metric whose fresh value differs from the stored one beyond the tolerance.
#[derive(Debug, Clone, PartialEq)]
pub struct Drift {
    /// Metric name.
    pub metric: String,
    /// Stored value (`None`: not stored, i.e. no value when the playbook was written).
    pub stored: Option<f64>,
    /// Fresh value (`None`: no value now).
    pub fresh: Option<f64>,
    /// `|fresh − stored| / max(|fresh|, |stored|)` (infinite when one side is missing).
    pub relative: f64,
}

/// Compares fresh metrics with a playbook's `[metrics]`: whole numbers must match exactly, reals within
/// `tolerance` relative, and a metric must have a value now exactly when it had one then. Metrics are
/// visited in the field table's order, then stored names the table does not know.
pub fn compare_metrics(stored: &Table, fresh: &Metrics, tolerance: f64) -> Vec<Drift> {
    let as_f64 = |v: &toml::Value| match v {
        toml::Value::Integer(i) => Some(*i as f64),
        toml::Value::Float(f) => Some(*f),
        _ => None,
    };
    let mut drifts = Vec::new();
    for (name, value) in fields::values(fresh) {
        let now = value.finite();
        let then = stored.get(name).and_then(as_f64);
        let relative = match (then, now) {
            (None, None) => continue,
            (Some(a), Some(b)) if a == b => continue,
            (Some(a), Some(b)) => {
                let r = (b - a).abs() / a.abs().max(b.abs());
                let exact = matches!(value, MetricValue::Int(_));
                if !exact && r <= tolerance {
                    continue;
                }
                r
            }
            _ => f64::INFINITY,
        };
        drifts.push(Drift {
            metric: name.to_string(),
            stored: then,
            fresh: now,
            relative,
        });
    }
    for (name, v) in &stored.0 {
        if fields::find(name).is_none() {
            drifts.push(Drift {
                metric: name.clone(),
                stored: as_f64(v),
                fresh: None,
                relative: f64::INFINITY,
            });
        }
    }
    drifts
}

/// `tolerance` when it can be a relative tolerance (a number ≥ 0), else the usage error naming
/// `--tolerance` (a negative or NaN one used to pass every check it was given).
pub fn check_tolerance(tolerance: f64) -> Result<f64> {
    if tolerance >= 0.0 {
        Ok(tolerance)
    } else {
        Err(Error::usage(format!(
            "--tolerance {tolerance}: must be a number of at least 0, e.g. 1e-9"
        )))
    }
}

/// The bars loaded now are not the bars a playbook's numbers were computed on (their sha256 differs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataChange {
    /// Symbol of the data.
    pub symbol: String,
    /// Interval of the data.
    pub interval: Interval,
    /// sha256 of the bars loaded now.
    pub sha256: String,
    /// Bars loaded now.
    pub bars: usize,
    /// The playbook's `[market] data_sha256`.
    pub stored_sha256: String,
    /// The playbook's `[market] bars`.
    pub stored_bars: u64,
}

impl DataChange {
    /// How `candles` (`symbol` `interval`, loaded for `pb`) differ from the playbook's data; `None`
    /// when their sha256 matches.
    pub fn between(
        pb: &Playbook,
        symbol: &str,
        interval: Interval,
        candles: &Candles,
    ) -> Option<DataChange> {
        let sha256 = candles.sha256();
        (sha256 != pb.market.data_sha256).then(|| DataChange {
            symbol: symbol.to_string(),
            interval,
            sha256,
            bars: candles.len(),
            stored_sha256: pb.market.data_sha256.clone(),
            stored_bars: pb.market.bars,
        })
    }

    /// One line naming the playbook file `origin`, both hashes (12 digits) and bar counts.
    pub fn message(&self, origin: &Path) -> String {
        format!(
            "{}: the {} {} data changed: sha256 {} of {} bars, the playbook has {} of {} bars",
            origin.display(),
            self.symbol,
            self.interval,
            self.sha256.get(..12).unwrap_or(&self.sha256),
            self.bars,
            self.stored_sha256.get(..12).unwrap_or(&self.stored_sha256),
            self.stored_bars
        )
    }

    /// The `--json` verdict of `--check` refused on changed data: the keys of a metric check's
    /// document (`passed` false, nothing compared) plus `data_change` with both hashes and bar counts.
    pub fn verdict_document(&self, origin: &Path, tolerance: f64) -> serde_json::Value {
        serde_json::json!({
            "playbook": origin.display().to_string(),
            "passed": false,
            "tolerance": tolerance,
            "metrics_compared": 0,
            "data_sha256_matches": false,
            "drifts": [],
            "data_change": {
                "symbol": self.symbol,
                "interval": self.interval.to_string(),
                "sha256": self.sha256,
                "bars": self.bars,
                "stored_sha256": self.stored_sha256,
                "stored_bars": self.stored_bars,
            },
            "message": self.message(origin),
        })
    }

    /// The exit-3 error of `--check` on changed data (unless the hash is ignored).
    pub fn refusal(&self, origin: &Path) -> Error {
        Error::CheckFailed(format!(
            "{}; re-run the optimization, or pass --ignore-data-hash to compare anyway",
            self.message(origin)
        ))
    }
}

/// What `--check` found: the comparison and the facts its verdict rests on.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckReport {
    /// The playbook file, as named.
    pub playbook: PathBuf,
    /// Relative tolerance for real-valued metrics.
    pub tolerance: f64,
    /// Metrics stored in the playbook's `[metrics]`.
    pub metrics_compared: usize,
    /// Whether the data's sha256 matched the playbook's.
    pub data_sha256_matches: bool,
    /// Metrics that drifted (empty: the check passed).
    pub drifts: Vec<Drift>,
}

impl CheckReport {
    /// Compares `fresh` with the stored metrics of `pb` (read from `path`).
    pub fn new(
        pb: &Playbook,
        path: &Path,
        fresh: &Metrics,
        tolerance: f64,
        data_sha256_matches: bool,
    ) -> CheckReport {
        CheckReport {
            playbook: path.to_path_buf(),
            tolerance,
            metrics_compared: pb.metrics.0.len(),
            data_sha256_matches,
            drifts: compare_metrics(&pb.metrics, fresh, tolerance),
        }
    }

    /// True when no metric drifted.
    pub fn passed(&self) -> bool {
        self.drifts.is_empty()
    }

    /// `Ok` when the check passed, else the exit-3 error naming every drifted metric.
    pub fn verdict(&self) -> Result<()> {
        if self.passed() {
            return Ok(());
        }
        let names: Vec<&str> = self.drifts.iter().map(|d| d.metric.as_str()).collect();
        Err(Error::CheckFailed(format!(
            "{}: regression: {} drifted beyond {:e} relative",
            self.playbook.display(),
            names.join(", "),
            self.tolerance
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metrics() -> Metrics {
        let candles = Candles::default();
        crate::metrics::compute(&candles, &crate::engine::RunResult::default())
    }

    #[test]
    fn drift_rules() {
        let mut m = metrics();
        m.num_trades = 10;
        m.sharpe = 1.0;
        m.sortino = f64::NAN;
        let stored = Table(vec![
            // Within 1e-9 relative: |1 − (1 + 5e-10)| / (1 + 5e-10) ≈ 5e-10.
            ("sharpe".into(), toml::Value::Float(1.0 + 5e-10)),
            // Counts must match exactly: |10 − 11| / 11 = 1/11.
            ("num_trades".into(), toml::Value::Integer(11)),
            // Had a value, has none now.
            ("sortino".into(), toml::Value::Float(2.0)),
            // Not a metric any more.
            ("old_metric".into(), toml::Value::Float(1.0)),
        ]);
        let d = compare_metrics(&stored, &m, 1e-9);
        let names: Vec<&str> = d.iter().map(|d| d.metric.as_str()).collect();
        // Every other metric of `m` is missing from `stored` but has a value now (start_ts, bars, …)
        // or has none (reals of an empty run): only those with a value drift.
        assert!(names.contains(&"num_trades") && names.contains(&"sortino"));
        assert!(!names.contains(&"sharpe"), "{names:?}");
        assert_eq!(names.last(), Some(&"old_metric"));
        let nt = d.iter().find(|d| d.metric == "num_trades").unwrap();
        assert!((nt.relative - 1.0 / 11.0).abs() < 1e-15);
        assert_eq!(
            d.iter().find(|d| d.metric == "sortino").unwrap().fresh,
            None
        );
    }

    #[test]
    fn data_change_names_both_hashes_and_refuses_with_exit_3() {
        let change = DataChange {
            symbol: "GOOG".into(),
            interval: Interval::Day1,
            sha256: "794d1ba48632ffffffff".into(),
            bars: 2148,
            stored_sha256: "abc".into(),
            stored_bars: 2000,
        };
        let origin = Path::new("pb.toml");
        // Hashes are cut to 12 digits; a stored hash shorter than that is shown whole.
        assert_eq!(
            change.message(origin),
            "pb.toml: the GOOG 1d data changed: sha256 794d1ba48632 of 2148 bars, \
             the playbook has abc of 2000 bars"
        );
        let e = change.refusal(origin);
        assert_eq!(e.exit_code(), 3);
        assert!(
            e.to_string()
                .ends_with("pass --ignore-data-hash to compare anyway")
        );
    }

    #[test]
    fn a_negative_or_nan_tolerance_is_refused() {
        assert_eq!(check_tolerance(0.0).unwrap(), 0.0);
        assert_eq!(check_tolerance(1e-9).unwrap(), 1e-9);
        for bad in [-1.0, f64::NAN, -f64::INFINITY] {
            let e = check_tolerance(bad).unwrap_err();
            assert_eq!(e.exit_code(), 2);
            assert!(e.to_string().starts_with("--tolerance "), "{e}");
        }
    }

    #[test]
    fn verdict_names_the_drifted_metrics() {
        let report = CheckReport {
            playbook: PathBuf::from("p.toml"),
            tolerance: 1e-9,
            metrics_compared: 2,
            data_sha256_matches: true,
            drifts: vec![Drift {
                metric: "sharpe".into(),
                stored: Some(0.5),
                fresh: Some(0.6),
                relative: 1.0 / 6.0,
            }],
        };
        let e = report.verdict().unwrap_err();
        assert_eq!(e.exit_code(), 3);
        assert_eq!(
            e.to_string(),
            "p.toml: regression: sharpe drifted beyond 1e-9 relative"
        );
        let ok = CheckReport {
            drifts: vec![],
            ..report
        };
        assert!(ok.passed() && ok.verdict().is_ok());
    }
}
