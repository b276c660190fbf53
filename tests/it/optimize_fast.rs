//! `flowrex optimize` without `--results`: candidates are ranked on the objective alone (the fast path)
//! and only the reported ones are backtested in full. Each objective's ranking, every reported
//! candidate's objective and trade count, and every metric of the best must equal separate
//! `backtest --json` runs bit for bit, at one and two threads.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

use crate::support::{self, bundled_home, stdout_ok as ok};

const GOOG: [&str; 6] = [
    "--symbol",
    "GOOG",
    "--interval",
    "1d",
    "--commission",
    "0.002",
];

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// Every metric of `backtest --json` of sma_cross fast/slow on GOOG, by key (null as NaN).
fn backtest_metrics(home: &Path, fast: i64, slow: i64) -> BTreeMap<String, f64> {
    let (f, s) = (format!("fast={fast}"), format!("slow={slow}"));
    let mut args = vec!["--quiet", "--json", "backtest", "--strategy", "sma_cross"];
    args.extend(GOOG);
    args.extend(["--param", &f, "--param", &s]);
    let doc: Value =
        serde_json::from_str(&ok(&support::flowrex(home).args(&args).output().unwrap())).unwrap();
    doc["metrics"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_f64().unwrap_or(f64::NAN)))
        .collect()
}

/// Optimizes the 20-candidate grid for `objective` (no results file), returning the playbook.
fn optimize(home: &Path, out: &Path, objective: &str, threads: usize) -> toml::Table {
    let mut args = vec!["--quiet", "optimize", "--strategy", "sma_cross"];
    args.extend(GOOG);
    args.extend([
        "--param",
        "fast=5..20:5",
        "--param",
        "slow=10..60:10",
        "--constraint",
        "fast < slow",
        "--objective",
        objective,
        "--min-trades",
        "20",
        "--top",
        "5",
        "--out",
        p(out),
    ]);
    let mut cmd = support::flowrex(home);
    cmd.args(&args)
        .env("RAYON_NUM_THREADS", threads.to_string());
    ok(&cmd.output().unwrap());
    toml::from_str(&std::fs::read_to_string(out).unwrap()).unwrap()
}

#[test]
fn objective_only_ranking_equals_full_backtests() {
    let home = bundled_home();
    let dir = tempfile::tempdir().unwrap();
    // Independently: one backtest per feasible candidate.
    let mut runs = Vec::new();
    for fast in (5..=20).step_by(5) {
        for slow in (10..=60).step_by(10) {
            if fast < slow {
                runs.push((fast, slow, backtest_metrics(home.path(), fast, slow)));
            }
        }
    }
    // fast 5: slow 10..60 (6); fast 10: 20..60 (5); 15: 20..60 (5); 20: 30..60 (4).
    assert_eq!(runs.len(), 20);
    for (objective, key) in [
        ("sharpe", "sharpe"),
        ("return", "return_pct"),
        ("sortino", "sortino"),
        ("profit_factor", "profit_factor"),
        ("sqn", "sqn"),
        ("expectancy", "expectancy_pct"),
        ("calmar", "calmar"),
    ] {
        // The ranking: finite objective and at least 20 trades, best first, ties by grid order
        // (runs are in grid order: fast outer, slow inner).
        let mut want: Vec<(f64, usize)> = runs
            .iter()
            .enumerate()
            .filter(|(_, r)| r.2[key].is_finite() && r.2["num_trades"] >= 20.0)
            .map(|(i, r)| (r.2[key], i))
            .collect();
        want.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        let mut playbooks = Vec::new();
        for threads in [1, 2] {
            let out = dir.path().join(format!("{objective}_{threads}.toml"));
            let pb = optimize(home.path(), &out, objective, threads);
            let top = pb["top"].as_array().unwrap();
            assert_eq!(top.len(), 5.min(want.len()), "{objective}");
            for (t, &(value, i)) in top.iter().zip(&want) {
                let (fast, slow, metrics) = &runs[i];
                assert_eq!(t["params"]["fast"].as_integer(), Some(*fast), "{objective}");
                assert_eq!(t["params"]["slow"].as_integer(), Some(*slow), "{objective}");
                assert_eq!(
                    t["objective"].as_float().unwrap().to_bits(),
                    value.to_bits()
                );
                assert_eq!(t["trades"].as_integer(), Some(metrics["num_trades"] as i64));
            }
            // Every metric of the best, as `backtest --json` gives it (null metrics are left out).
            let best = &runs[want[0].1].2;
            let stored = pb["metrics"].as_table().unwrap();
            for (name, &v) in best {
                match stored.get(name) {
                    Some(s) => {
                        let s = s.as_float().or(s.as_integer().map(|i| i as f64)).unwrap();
                        assert_eq!(s.to_bits(), v.to_bits(), "{objective}: {name}");
                    }
                    None => assert!(v.is_nan(), "{objective}: {name} missing"),
                }
            }
            playbooks.push((top.clone(), stored.clone()));
        }
        assert_eq!(playbooks[0], playbooks[1], "{objective}: 1 vs 2 threads");
    }
}
