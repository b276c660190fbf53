//! The regression check behind `backtest --playbook P --check`: did the data change since the playbook
//! was written ([`DataChange`]), and do fresh metrics reproduce the stored ones ([`compare_metrics`],
//! summed up in a [`CheckReport`] whose [`CheckReport::verdict`] is the exit-3 error). The command line
//! only renders these values.

use std::path::{Path, PathBuf};

use super::{Fingerprint, FirstChange, GateVerdict, Playbook, Table};
use crate::candles::time::TimeRange;
use crate::candles::{Candles, Interval, Store};
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
        let exact = matches!(value, MetricValue::Int(_));
        let then = stored.get(name).and_then(as_f64);
        drifts.extend(compare_value(name, then, value.finite(), exact, tolerance));
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
    // `inf` would pass every real-valued metric: a gate that checks nothing.
    if tolerance >= 0.0 && tolerance.is_finite() {
        Ok(tolerance)
    } else {
        Err(Error::usage(format!(
            "--tolerance {tolerance}: must be a finite number of at least 0, e.g. 1e-9"
        )))
    }
}

/// One number compared as `--check` compares metrics: `exact` ones must be equal, reals within
/// `tolerance` relative, and it must have a value now exactly when it had one then. `None` when it
/// did not drift.
pub fn compare_value(
    name: &str,
    stored: Option<f64>,
    fresh: Option<f64>,
    exact: bool,
    tolerance: f64,
) -> Option<Drift> {
    let relative = match (stored, fresh) {
        (None, None) => return None,
        (Some(a), Some(b)) if a == b => return None,
        (Some(a), Some(b)) => {
            let r = (b - a).abs() / a.abs().max(b.abs());
            if !exact && r <= tolerance {
                return None;
            }
            r
        }
        _ => f64::INFINITY,
    };
    Some(Drift {
        metric: name.to_string(),
        stored,
        fresh,
        relative,
    })
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
    /// Which data: `data` (`[market]`'s range) or `walk-forward data` (`[walk_forward]`'s whole
    /// range, every train and test window).
    pub scope: &'static str,
    /// Where the bars first differ, when the playbook keeps a fingerprint of them.
    pub first_change: Option<FirstChange>,
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
        let m = &pb.market;
        let stored = (m.data_sha256.as_str(), m.bars, m.fingerprint.as_ref());
        DataChange::against(symbol, interval, candles, stored, "data")
    }

    /// How `candles` differ from the `stored` (sha256, bar count, fingerprint) of the data called
    /// `scope`; `None` when the sha256 matches.
    fn against(
        symbol: &str,
        interval: Interval,
        candles: &Candles,
        (stored_sha256, stored_bars, fingerprint): (&str, u64, Option<&Fingerprint>),
        scope: &'static str,
    ) -> Option<DataChange> {
        let sha256 = candles.sha256();
        (sha256 != stored_sha256).then(|| DataChange {
            symbol: symbol.to_string(),
            interval,
            sha256,
            bars: candles.len(),
            stored_sha256: stored_sha256.to_string(),
            stored_bars,
            scope,
            first_change: fingerprint.and_then(|f| f.first_change(candles)),
        })
    }

    /// For a walk-forward playbook, how its whole walk's bars in `store` now (`[walk_forward]
    /// start..=end`) differ from `[walk_forward] data_sha256`: `[market]` holds only the last train
    /// window, so a bar changed in an earlier window shows only here. `None` without
    /// `[walk_forward]` or when the hash matches.
    pub fn of_walk(
        pb: &Playbook,
        symbol: &str,
        interval: Interval,
        store: &Store,
    ) -> Result<Option<DataChange>> {
        let Some(wf) = &pb.walk_forward else {
            return Ok(None);
        };
        // The same reading as `[market]`'s range (`Market::range`).
        let range = TimeRange::parse(Some(&wf.start), Some(&wf.end))
            .map_err(|e| Error::invalid(format!("playbook [walk_forward] start/end: {e}")))?;
        let candles = store.load(symbol, interval, &range)?;
        let stored = (wf.data_sha256.as_str(), wf.bars, wf.fingerprint.as_ref());
        Ok(DataChange::against(
            symbol,
            interval,
            &candles,
            stored,
            "walk-forward data",
        ))
    }

    /// One line naming the playbook file `origin`, both hashes (12 digits) and bar counts, then
    /// where the bars first differ when the playbook's fingerprint can tell.
    pub fn message(&self, origin: &Path) -> String {
        format!(
            "{}: the {} {} {} changed: sha256 {} of {} bars, the playbook has {} of {} bars{}",
            origin.display(),
            self.symbol,
            self.interval,
            self.scope,
            self.sha256.get(..12).unwrap_or(&self.sha256),
            self.bars,
            self.stored_sha256.get(..12).unwrap_or(&self.stored_sha256),
            self.stored_bars,
            self.first_change
                .as_ref()
                .map_or(String::new(), |c| format!("; {}", c.describe()))
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
                "first_change": self.first_change.as_ref().map(|c| serde_json::json!({
                    "first_bar": c.bars.start,
                    "last_bar": c.bars.end.checked_sub(1).filter(|_| !c.bars.is_empty()),
                    "from": c.times.map(|(t, _)| crate::candles::time::format_ts_full(t)),
                    "to": c.times.map(|(_, t)| crate::candles::time::format_ts_full(t)),
                    "columns": c.columns,
                })),
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

/// A file that a playbook's parameters name (a signals file) is not the file its numbers were computed
/// with: its sha256 differs from `[strategy.file_sha256]`, or it cannot be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileChange {
    /// The parameter naming the file.
    pub param: String,
    /// The file.
    pub path: String,
    /// The playbook's sha256 of it.
    pub stored_sha256: String,
    /// Its sha256 now, or why it cannot be read.
    pub now: std::result::Result<String, String>,
}

impl FileChange {
    /// Every file of `pb`'s `[strategy.file_sha256]` whose contents differ now.
    pub fn between(pb: &Playbook) -> Vec<FileChange> {
        pb.strategy
            .file_sha256
            .0
            .iter()
            .filter_map(|(param, stored)| {
                let stored = stored.as_str().unwrap_or_default().to_string();
                let path = match pb.strategy.params.get(param) {
                    Some(toml::Value::String(p)) => p.clone(),
                    _ => String::new(),
                };
                let now = super::file_sha256(Path::new(&path)).map_err(|e| e.to_string());
                (now.as_ref() != Ok(&stored)).then(|| FileChange {
                    param: param.clone(),
                    path,
                    stored_sha256: stored,
                    now,
                })
            })
            .collect()
    }

    /// One line naming the playbook file `origin`, the parameter, the file and both hashes (12 digits).
    pub fn message(&self, origin: &Path) -> String {
        let short = |h: &str| h.get(..12).unwrap_or(h).to_string();
        let now = match &self.now {
            Ok(h) => format!("sha256 {}", short(h)),
            Err(e) => format!("unreadable ({e})"),
        };
        format!(
            "{}: the file of parameter `{}` changed: {} is {now}, the playbook has {}",
            origin.display(),
            self.param,
            self.path,
            short(&self.stored_sha256)
        )
    }

    /// The exit-3 error of `--check` on a changed file (unless hashes are ignored).
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
    /// Metrics that drifted (empty: the check passed), then `[validation]` numbers (`validation.dsr`).
    pub drifts: Vec<Drift>,
    /// The gates stored in `[validation]`, judged again (on fresh numbers where the run gives them).
    pub gates: Vec<GateVerdict>,
    /// `[optimization] status` (None for a playbook no search wrote).
    pub search_status: Option<String>,
    /// Why the search is not one to gate on (it did not finish), unless that was allowed; fails the
    /// check.
    pub unfinished: Option<String>,
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
            gates: Vec::new(),
            search_status: pb.optimization.as_ref().map(|o| o.status.clone()),
            unfinished: None,
        }
    }

    /// Fails the check when `pb`'s search did not finish (`status = "interrupted"`: Ctrl-C or a
    /// scheduler's signal) unless `allowed`: its parameters, metrics and `[validation]` are those of
    /// the candidates evaluated before the stop, so a gate passing on it vouches for a search that
    /// did not run. The metrics are still compared (and reported), so the user sees both.
    pub fn with_search_status(mut self, pb: &Playbook, allowed: bool) -> CheckReport {
        self.unfinished = unfinished_search(pb).filter(|_| !allowed);
        self
    }

    /// Adds what re-checking `[validation]` found: drifted numbers and the gates judged again.
    pub fn with_validation(mut self, drifts: Vec<Drift>, gates: Vec<GateVerdict>) -> CheckReport {
        self.drifts.extend(drifts);
        self.gates = gates;
        self
    }

    /// True when nothing drifted, every stored gate still passes and the search finished (or that
    /// was allowed).
    pub fn passed(&self) -> bool {
        self.drifts.is_empty() && self.gates.iter().all(|g| g.pass) && self.unfinished.is_none()
    }

    /// `Ok` when the check passed, else the exit-3 error naming every drifted number and failed gate.
    pub fn verdict(&self) -> Result<()> {
        if self.passed() {
            return Ok(());
        }
        let mut reasons = Vec::new();
        if let Some(why) = &self.unfinished {
            reasons.push(format!(
                "{why}; re-run the optimization to the end, or pass --allow-interrupted to check it anyway"
            ));
        }
        if !self.drifts.is_empty() {
            let names: Vec<&str> = self.drifts.iter().map(|d| d.metric.as_str()).collect();
            reasons.push(format!(
                "regression: {} drifted beyond {:e} relative",
                names.join(", "),
                self.tolerance
            ));
        }
        let failed: Vec<String> = self
            .gates
            .iter()
            .filter(|g| !g.pass)
            .map(GateVerdict::describe)
            .collect();
        if !failed.is_empty() {
            reasons.push(format!("gate failed: {}", failed.join("; ")));
        }
        Err(Error::CheckFailed(format!(
            "{}: {}",
            self.playbook.display(),
            reasons.join("; ")
        )))
    }
}

/// Why `pb`'s search is unfinished — `[optimization] status` other than `complete`, with how many
/// candidates it evaluated of how many were feasible — or `None` when it finished (or no search
/// wrote it).
pub fn unfinished_search(pb: &Playbook) -> Option<String> {
    let o = pb.optimization.as_ref()?;
    (o.status != "complete").then(|| {
        format!(
            "its search did not finish (status = \"{}\" after {} of {}{} feasible candidates): its parameters are the best of a partial search",
            o.status,
            o.evaluated,
            if o.feasible_estimated { "~" } else { "" },
            o.feasible
        )
    })
}

/// Why the playbook file at `path` does not hold the values flowrex wrote — edited by hand since
/// (its `content_sha256` differs) or unsigned (none recorded) — as `{path}: {why}`; `None` when it
/// is as written. `--check` refuses such a file (a deleted gate verdict, a loosened limit or a
/// stored metric typed in would pass the gate), and `optimize merge` too (the merged playbook would
/// sign the edit).
pub fn not_as_written(path: &Path) -> Result<Option<String>> {
    let why = match super::Provenance::of_file(path)? {
        super::Provenance::AsWritten => return Ok(None),
        super::Provenance::Unsigned => {
            "has no content_sha256 (written by hand or by an older flowrex)".to_string()
        }
        super::Provenance::Edited { recorded, actual } => super::edited_since(&recorded, &actual),
    };
    Ok(Some(format!("{}: {why}", path.display())))
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
            scope: "data",
            first_change: None,
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
            gates: vec![],
            search_status: Some("complete".into()),
            unfinished: None,
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
        // A stored gate that fails now fails the check, named with its numbers.
        let gated = ok.with_validation(
            vec![],
            vec![crate::playbook::Gate::MaxPbo.judge(0.5, Some(0.75))],
        );
        assert!(!gated.passed());
        assert_eq!(
            gated.verdict().unwrap_err().to_string(),
            "p.toml: gate failed: pbo 0.7500 > --max-pbo 0.5"
        );
    }
}
