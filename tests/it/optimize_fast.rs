//! `flowrex optimize` without `--results`: candidates are ranked on the objective alone (the fast path)
//! and only the reported ones are backtested in full. Each objective's ranking, every reported
//! candidate's objective and trade count, and every metric of the best must equal separate
//! `backtest --json` runs bit for bit, at one and two threads.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

use crate::support::{self, bundled_home, p, stdout_ok as ok};

const GOOG: [&str; 6] = [
    "--symbol",
    "GOOG",
    "--interval",
    "1d",
    "--commission",
    "0.002",
];

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

/// The playbook of `optimize` on EURUSD 1h, with or without a results file (with one, every candidate
/// gets a full backtest; without, the lean path ranks them), minus the lines that name the run.
fn playbook_text(
    home: &Path,
    out: &Path,
    args: &[&str],
    results: Option<&Path>,
    threads: &str,
) -> String {
    let mut all = vec![
        "--quiet",
        "optimize",
        "--symbol",
        "EURUSD",
        "--interval",
        "1h",
        "--commission",
        "0.0002",
        "--top",
        "4",
        "--out",
        p(out),
    ];
    all.extend(args);
    if let Some(r) = results {
        all.extend(["--results", p(r)]);
    }
    let mut cmd = support::flowrex(home);
    cmd.args(&all).env("RAYON_NUM_THREADS", threads);
    ok(&cmd.output().unwrap());
    std::fs::read_to_string(out)
        .unwrap()
        .lines()
        .filter(|l| {
            // The content hash covers the lines that differ between runs, so it differs too.
            ![
                "name = ",
                "created_at",
                "elapsed_s",
                "results = ",
                "content_sha256",
            ]
            .iter()
            .any(|k| l.starts_with(k))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn the_lean_path_equals_full_backtests_for_every_strategy() {
    // Strategies with and without an event-driven run (only sma_cross lists its decisions ahead;
    // the others are scored through the bar loop), ranking objectives that the lean path computes
    // from period-end equity (sharpe, sortino), first and last equity (return) and trades alone
    // (profit_factor, sqn). The [validation] section (per-period returns of every candidate) too.
    let home = bundled_home();
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&[&str], &str); 5] = [
        (
            &[
                "--strategy",
                "sma_cross",
                "--param",
                "fast=5..20:5",
                "--param",
                "slow=30..50:10",
            ],
            "sharpe",
        ),
        (
            &[
                "--strategy",
                "nbb",
                "--param",
                "atr_n=7..14:7",
                "--param",
                "rr=1..3:1",
            ],
            "return",
        ),
        (
            &[
                "--strategy",
                "jadecap",
                "--param",
                "ema_n=10..30:10",
                "--param",
                "htf=bars,4h",
            ],
            "sortino",
        ),
        (
            &[
                "--strategy",
                "fabio",
                "--param",
                "window=20..40:10",
                "--param",
                "bins=12..24:12",
            ],
            "profit_factor",
        ),
        (
            &[
                "--strategy",
                "tori",
                "--param",
                "pivot_left=2..4:1",
                "--param",
                "stop_atr=0..0.5:0.25",
            ],
            "sqn",
        ),
    ];
    for (k, (params, objective)) in cases.iter().enumerate() {
        let mut args = params.to_vec();
        args.extend(["--objective", objective]);
        let full_out = dir.path().join(format!("full{k}.toml"));
        let results = dir.path().join(format!("results{k}.parquet"));
        let full = playbook_text(home.path(), &full_out, &args, Some(&results), "2");
        assert!(full.contains("[validation]"), "{params:?}");
        assert!(full.contains("[[top]]"), "{params:?}");
        for threads in ["1", "2"] {
            let lean_out = dir.path().join(format!("lean{k}_{threads}.toml"));
            let lean = playbook_text(home.path(), &lean_out, &args, None, threads);
            assert_eq!(lean, full, "{params:?} {objective} on {threads} threads");
        }
    }
}
