//! `flowrex optimize` end to end on the bundled GOOG data: grid results against one `backtest` per
//! candidate, determinism across thread counts, shards + merge against a single run, seeded random /
//! genetic / pso / explore / tpe reproducibility, the genetic algorithm's progress, `backtest --playbook --check`,
//! Ctrl-C, `--spec`, and every bad input with its message.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Output;

use arrow_array::{
    Array, BooleanArray, Float64Array, Int64Array, TimestampMillisecondArray, UInt32Array,
    UInt64Array,
};
use serde_json::Value;

use crate::support::{
    self, LONG_SEARCH, LONG_SEARCH_DATA, bundled_home, empty_home, flowrex_std, p, parquet_batches,
    stderr_of as stderr, stdout_ok as ok,
};

/// Runs flowrex quietly on `home` with `threads` rayon threads.
fn flowrex_in(home: &Path, threads: Option<usize>, args: &[&str]) -> Output {
    let mut cmd = support::flowrex(home);
    cmd.arg("--quiet").args(args);
    if let Some(t) = threads {
        cmd.env("RAYON_NUM_THREADS", t.to_string());
    }
    cmd.output().expect("run flowrex")
}

/// Runs flowrex on a fresh copy of the bundled store.
fn flowrex(args: &[&str]) -> Output {
    flowrex_in(bundled_home().path(), None, args)
}

const GOOG: [&str; 6] = [
    "--symbol",
    "GOOG",
    "--interval",
    "1d",
    "--commission",
    "0.002",
];

/// `optimize` on GOOG with `extra` arguments, writing `out`.
fn optimize(out: &Path, extra: &[&str], threads: Option<usize>) -> Output {
    let mut args = vec!["optimize", "--strategy", "sma_cross"];
    args.extend(GOOG);
    args.extend(["--out", p(out)]);
    args.extend(extra);
    flowrex_in(bundled_home().path(), threads, &args)
}

fn load_toml(path: &Path) -> toml::Table {
    toml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// A playbook without the fields that may differ between equivalent runs (`created_at`,
/// `elapsed_s`, the results file it names, and the name, which follows the file name).
fn comparable(path: &Path) -> toml::Table {
    let mut t = load_toml(path);
    let pb = t["playbook"].as_table_mut().unwrap();
    pb.remove("created_at");
    pb.remove("content_sha256");
    pb.remove("name");
    let o = t["optimization"].as_table_mut().unwrap();
    o.remove("elapsed_s");
    o.remove("results");
    t
}

/// One results row: column name → value (numbers as f64, null as None, strings skipped).
type Row = BTreeMap<String, Option<f64>>;

fn read_results(path: &Path) -> Vec<Row> {
    let mut rows = Vec::new();
    for batch in parquet_batches(path) {
        let schema = batch.schema();
        for r in 0..batch.num_rows() {
            let mut row = Row::new();
            for (c, field) in schema.fields().iter().enumerate() {
                let col = batch.column(c).as_any();
                let v = if batch.column(c).is_null(r) {
                    None
                } else if let Some(a) = col.downcast_ref::<Float64Array>() {
                    Some(a.value(r))
                } else if let Some(a) = col.downcast_ref::<Int64Array>() {
                    Some(a.value(r) as f64)
                } else if let Some(a) = col.downcast_ref::<UInt64Array>() {
                    Some(a.value(r) as f64)
                } else if let Some(a) = col.downcast_ref::<TimestampMillisecondArray>() {
                    Some(a.value(r) as f64)
                } else if let Some(a) = col.downcast_ref::<UInt32Array>() {
                    Some(a.value(r) as f64)
                } else if let Some(a) = col.downcast_ref::<BooleanArray>() {
                    Some(if a.value(r) { 1.0 } else { 0.0 })
                } else {
                    continue;
                };
                row.insert(field.name().clone(), v);
            }
            rows.push(row);
        }
    }
    rows
}

/// `backtest --json` of sma_cross with these parameters on GOOG.
fn backtest_json(fast: i64, slow: i64) -> Value {
    let (f, s) = (format!("fast={fast}"), format!("slow={slow}"));
    let mut args = vec!["--json", "backtest", "--strategy", "sma_cross"];
    args.extend(GOOG);
    args.extend(["--param", &f, "--param", &s]);
    serde_json::from_str(&ok(&flowrex(&args))).unwrap()
}

#[test]
fn grid_results_equal_one_backtest_per_candidate() {
    let dir = tempfile::tempdir().unwrap();
    let (out, results) = (dir.path().join("pb.toml"), dir.path().join("r.parquet"));
    ok(&optimize(
        &out,
        &[
            "--param",
            "fast=5..20:5",
            "--param",
            "slow=10..60:10",
            "--constraint",
            "fast < slow",
            "--objective",
            "sharpe",
            "--top",
            "5",
            "--results",
            p(&results),
        ],
        None,
    ));
    let rows = read_results(&results);
    // Independently: every (fast, slow) with fast < slow on the two axes.
    let mut want = BTreeSet::new();
    for fast in (5..=20).step_by(5) {
        for slow in (10..=60).step_by(10) {
            if fast < slow {
                want.insert((fast, slow));
            }
        }
    }
    let got: BTreeSet<(i64, i64)> = rows
        .iter()
        .map(|r| (r["fast"].unwrap() as i64, r["slow"].unwrap() as i64))
        .collect();
    assert_eq!(got, want);
    assert_eq!(rows.len(), want.len(), "each candidate once");

    // Every metric of every row equals a separate `backtest` run, bit for bit.
    let mut ranking = Vec::new();
    for row in &rows {
        let (fast, slow) = (row["fast"].unwrap() as i64, row["slow"].unwrap() as i64);
        let doc = backtest_json(fast, slow);
        let metrics = doc["metrics"].as_object().unwrap();
        for (name, v) in metrics {
            assert_eq!(
                row.get(name).copied().flatten(),
                v.as_f64(),
                "{name} of fast={fast} slow={slow}"
            );
        }
        let sharpe = metrics["sharpe"].as_f64().unwrap();
        assert_eq!(row["objective"], Some(sharpe));
        ranking.push((sharpe, row["candidate"].unwrap() as u64, fast, slow));
    }
    // The playbook's top 5 and best metrics follow from the per-candidate backtests.
    ranking.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    let pb = load_toml(&out);
    let top = pb["top"].as_array().unwrap();
    assert_eq!(top.len(), 5);
    for (t, want) in top.iter().zip(&ranking) {
        assert_eq!(t["objective"].as_float().unwrap(), want.0);
        assert_eq!(t["params"]["fast"].as_integer().unwrap(), want.2);
        assert_eq!(t["params"]["slow"].as_integer().unwrap(), want.3);
    }
    let best = backtest_json(ranking[0].2, ranking[0].3);
    for (name, v) in best["metrics"].as_object().unwrap() {
        match v.as_f64() {
            Some(x) => {
                let stored = &pb["metrics"][name.as_str()];
                let s = stored
                    .as_float()
                    .or(stored.as_integer().map(|i| i as f64))
                    .unwrap();
                assert_eq!(s, x, "{name}");
            }
            None => assert!(pb["metrics"].get(name.as_str()).is_none(), "{name}"),
        }
    }
    assert_eq!(
        pb["strategy"]["params"]["fast"].as_integer(),
        Some(ranking[0].2)
    );
    let o = &pb["optimization"];
    assert_eq!(o["evaluated"].as_integer(), Some(want.len() as i64));
    assert_eq!(o["feasible"].as_integer(), Some(want.len() as i64));
    assert_eq!(o["space_size"].as_integer(), Some(24));
    assert_eq!(o["status"].as_str(), Some("complete"));
}

#[test]
fn same_playbook_at_one_and_two_threads() {
    let dir = tempfile::tempdir().unwrap();
    for method in [
        &["--method", "grid"][..],
        &[
            "--method",
            "genetic",
            "--population",
            "12",
            "--generations",
            "5",
        ][..],
        &["--method", "pso", "--population", "8", "--generations", "4"][..],
        &[
            "--method",
            "explore",
            "--samples",
            "30",
            "--population",
            "7",
        ][..],
        &["--method", "tpe", "--samples", "30", "--population", "4"][..],
    ] {
        let mut files = Vec::new();
        for threads in [1, 2] {
            let out = dir.path().join(format!("pb{threads}.toml"));
            let res = dir.path().join(format!("r{threads}.parquet"));
            let mut args = vec![
                "--param",
                "fast=2..40:2",
                "--param",
                "slow=10..120:10",
                "--constraint",
                "fast < slow",
                "--results",
                p(&res),
            ];
            args.extend(method);
            ok(&optimize(&out, &args, Some(threads)));
            files.push((out, res));
        }
        assert_eq!(
            comparable(&files[0].0),
            comparable(&files[1].0),
            "{method:?}"
        );
        assert_eq!(
            read_results(&files[0].1),
            read_results(&files[1].1),
            "{method:?}: results rows in the same order"
        );
    }
}

#[test]
fn shards_merged_equal_the_single_run() {
    let dir = tempfile::tempdir().unwrap();
    for method in [
        &["--method", "grid"][..],
        &["--method", "random", "--samples", "40"][..],
    ] {
        let space = [
            "--param",
            "fast=2..40:2",
            "--param",
            "slow=10..120:10",
            "--constraint",
            "fast < slow",
            "--top",
            "7",
        ];
        let single = dir.path().join("single.toml");
        let mut args: Vec<&str> = space.to_vec();
        args.extend(method);
        ok(&optimize(&single, &args, None));
        let mut parts = Vec::new();
        let mut evaluated = 0;
        for k in ["1/2", "2/2"] {
            let part = dir.path().join(format!("part{}.toml", &k[..1]));
            let mut a = args.clone();
            a.extend(["--shard", k]);
            ok(&optimize(&part, &a, None));
            evaluated += load_toml(&part)["optimization"]["evaluated"]
                .as_integer()
                .unwrap();
            parts.push(part);
        }
        let merged = dir.path().join("merged.toml");
        ok(&flowrex(&[
            "optimize",
            "merge",
            p(&parts[1]),
            p(&parts[0]),
            "--out",
            p(&merged),
        ]));
        let (mut m, mut s) = (comparable(&merged), comparable(&single));
        // Shards have no [validation] (its statistics need every candidate): the single run's is
        // the only difference.
        assert!(m.get("validation").is_none());
        assert!(s.remove("validation").is_some());
        assert_eq!(
            m["optimization"]
                .as_table_mut()
                .unwrap()
                .remove("merged_shards")
                .and_then(|v| v.as_integer()),
            Some(2)
        );
        assert_eq!(m, s, "{method:?}");
        assert_eq!(
            evaluated,
            s["optimization"]["evaluated"].as_integer().unwrap(),
            "the shards split the work"
        );
        // The merged playbook passes the regression check like the single one.
        ok(&flowrex(&["backtest", "--playbook", p(&merged), "--check"]));
    }
    // A missing shard is an error.
    let dir2 = tempfile::tempdir().unwrap();
    let part = dir2.path().join("p1.toml");
    ok(&optimize(
        &part,
        &["--param", "fast=5..10:5", "--shard", "1/2"],
        None,
    ));
    let out = flowrex(&[
        "optimize",
        "merge",
        p(&part),
        "--out",
        p(&dir2.path().join("m.toml")),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("shard 2/2 is missing"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn random_and_genetic_are_reproducible_from_the_seed() {
    let dir = tempfile::tempdir().unwrap();
    let space = [
        "--param",
        "fast=2..60",
        "--param",
        "slow=5..250:5",
        "--constraint",
        "fast < slow",
    ];
    for (method, size) in [
        (&["--method", "random", "--samples", "30"][..], 30),
        (
            &[
                "--method",
                "genetic",
                "--population",
                "10",
                "--generations",
                "4",
            ][..],
            0,
        ),
        (
            &["--method", "pso", "--population", "6", "--generations", "3"][..],
            0,
        ),
        (
            &[
                "--method",
                "explore",
                "--samples",
                "30",
                "--population",
                "6",
            ][..],
            30,
        ),
        (
            &["--method", "tpe", "--samples", "30", "--population", "4"][..],
            30,
        ),
    ] {
        let run = |seed: &str, name: &str| {
            let out = dir.path().join(format!("{name}.toml"));
            let res = dir.path().join(format!("{name}.parquet"));
            let mut args: Vec<&str> = space.to_vec();
            args.extend(method);
            args.extend(["--seed", seed, "--results", p(&res)]);
            ok(&optimize(&out, &args, None));
            (out, read_results(&res))
        };
        let (a, ra) = run("7", "a");
        let (b, rb) = run("7", "b");
        let (c, rc) = run("8", "c");
        assert_eq!(comparable(&a), comparable(&b), "{method:?}");
        assert_eq!(ra, rb);
        let set = |r: &[Row]| -> BTreeSet<u64> {
            r.iter().map(|x| x["candidate"].unwrap() as u64).collect()
        };
        assert_ne!(
            set(&ra),
            set(&rc),
            "{method:?}: another seed explores elsewhere"
        );
        assert_eq!(set(&ra).len(), ra.len(), "{method:?}: no candidate twice");
        if size > 0 {
            assert_eq!(ra.len(), size);
        }
        let _ = c;
    }
}

#[test]
fn genetic_improves_on_its_first_generation() {
    let dir = tempfile::tempdir().unwrap();
    let (out, res) = (dir.path().join("g.toml"), dir.path().join("g.parquet"));
    ok(&optimize(
        &out,
        &[
            "--param",
            "fast=2..60",
            "--param",
            "slow=5..250:5",
            "--constraint",
            "fast < slow",
            "--method",
            "genetic",
            "--population",
            "8",
            "--generations",
            "8",
            "--seed",
            "5",
            "--results",
            p(&res),
        ],
        None,
    ));
    let rows = read_results(&res);
    let best_of = |pred: &dyn Fn(&Row) -> bool| {
        rows.iter()
            .filter(|r| pred(r) && r["ranked"] == Some(1.0))
            .filter_map(|r| r["objective"])
            .fold(f64::NEG_INFINITY, f64::max)
    };
    let first = best_of(&|r| r["batch"] == Some(0.0));
    let overall = best_of(&|_| true);
    assert!(
        overall > first,
        "later generations should beat the first: {overall} vs {first}"
    );
    let pb = load_toml(&out);
    assert_eq!(pb["top"][0]["objective"].as_float(), Some(overall));
    let history = pb["optimization"]["history"].as_array().unwrap();
    assert_eq!(history[0].as_float(), Some(first));
    assert_eq!(history.last().unwrap().as_float(), Some(overall));
    // The best is what a plain backtest of its parameters gives.
    let fast = pb["strategy"]["params"]["fast"].as_integer().unwrap();
    let slow = pb["strategy"]["params"]["slow"].as_integer().unwrap();
    assert_eq!(
        backtest_json(fast, slow)["metrics"]["sharpe"].as_f64(),
        Some(overall)
    );
}

#[test]
fn explore_and_tpe_improve_on_their_random_start_and_record_their_settings() {
    let dir = tempfile::tempdir().unwrap();
    // explore: batch 0 is all uniform draws; tpe with batches of 4: batches 0–2 are the random start
    // (fewer than 10 observations when each was proposed).
    for (method, batch, random_batches) in [("explore", "6", 1.0), ("tpe", "4", 3.0)] {
        let (out, res) = (
            dir.path().join(format!("{method}.toml")),
            dir.path().join(format!("{method}.parquet")),
        );
        ok(&optimize(
            &out,
            &[
                "--param",
                "fast=2..60",
                "--param",
                "slow=5..250:5",
                "--constraint",
                "fast < slow",
                "--method",
                method,
                "--samples",
                "48",
                "--population",
                batch,
                "--seed",
                "5",
                "--results",
                p(&res),
            ],
            None,
        ));
        let rows = read_results(&res);
        assert_eq!(rows.len(), 48, "{method}: the budget is spent exactly");
        let best_of = |pred: &dyn Fn(&Row) -> bool| {
            rows.iter()
                .filter(|r| pred(r) && r["ranked"] == Some(1.0))
                .filter_map(|r| r["objective"])
                .fold(f64::NEG_INFINITY, f64::max)
        };
        let start = best_of(&|r| r["batch"].unwrap() < random_batches);
        let overall = best_of(&|_| true);
        assert!(
            overall > start,
            "{method}: the adaptive batches should beat the random start: {overall} vs {start}"
        );
        let pb = load_toml(&out);
        let o = &pb["optimization"];
        assert_eq!(o["method"].as_str(), Some(method));
        assert_eq!(o["samples"].as_integer(), Some(48));
        assert_eq!(o["population"].as_integer(), Some(batch.parse().unwrap()));
        assert!(o.get("generations").is_none());
        assert_eq!(pb["top"][0]["objective"].as_float(), Some(overall));
    }
}

#[test]
fn explore_and_tpe_shards_are_independent_islands() {
    let dir = tempfile::tempdir().unwrap();
    for method in ["explore", "tpe"] {
        let mut sets = Vec::new();
        let mut parts = Vec::new();
        for k in ["1/2", "2/2"] {
            let part = dir.path().join(format!("{method}{}.toml", &k[..1]));
            let res = dir.path().join(format!("{method}{}.parquet", &k[..1]));
            ok(&optimize(
                &part,
                &[
                    "--param",
                    "fast=2..60",
                    "--param",
                    "slow=5..250:5",
                    "--method",
                    method,
                    "--samples",
                    "20",
                    "--shard",
                    k,
                    "--results",
                    p(&res),
                ],
                None,
            ));
            let rows = read_results(&res);
            assert_eq!(
                rows.len(),
                20,
                "{method} {k}: each island spends the whole budget"
            );
            sets.push(
                rows.iter()
                    .map(|r| r["candidate"].unwrap() as u64)
                    .collect::<BTreeSet<u64>>(),
            );
            parts.push(part);
        }
        assert_ne!(sets[0], sets[1], "{method}: islands are seeded differently");
        let merged = dir.path().join(format!("{method}-merged.toml"));
        ok(&flowrex(&[
            "optimize",
            "merge",
            p(&parts[0]),
            p(&parts[1]),
            "--out",
            p(&merged),
        ]));
        let best = |f: &Path| load_toml(f)["top"][0]["objective"].as_float().unwrap();
        assert_eq!(best(&merged), best(&parts[0]).max(best(&parts[1])));
    }
}

#[test]
fn check_passes_fresh_and_fails_on_edits_and_changed_data() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("pb.toml");
    ok(&optimize(
        &out,
        &["--param", "fast=5..15:5", "--param", "slow=20..40:10"],
        None,
    ));
    let text = ok(&flowrex(&["backtest", "--playbook", p(&out), "--check"]));
    assert!(text.contains("check passed"), "{text}");

    // Edited metric: exit 3 naming it.
    let mut t = load_toml(&out);
    let sharpe = t["metrics"]["sharpe"].as_float().unwrap();
    t["metrics"]["sharpe"] = toml::Value::Float(sharpe * (1.0 + 1e-6));
    let edited = dir.path().join("edited.toml");
    std::fs::write(&edited, toml::to_string(&t).unwrap()).unwrap();
    // Edited by hand: refused as such (a typed-in metric is not a search's).
    let res = flowrex(&["backtest", "--playbook", p(&edited), "--check"]);
    assert_eq!(res.status.code(), Some(3));
    assert!(
        stderr(&res).contains("edited.toml: was edited since flowrex wrote it"),
        "{}",
        stderr(&res)
    );
    // Signed (as a build computing another Sharpe would write it): the metric drifts.
    crate::support::resign(&edited);
    let res = flowrex(&["backtest", "--playbook", p(&edited), "--check"]);
    assert_eq!(res.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&res.stdout).contains("sharpe"));
    assert!(
        stderr(&res).contains("regression: sharpe"),
        "{}",
        stderr(&res)
    );
    // ... which a looser tolerance accepts.
    ok(&flowrex(&[
        "backtest",
        "--playbook",
        p(&edited),
        "--check",
        "--tolerance",
        "1e-5",
    ]));

    // A different data hash is refused unless ignored.
    let mut t = load_toml(&out);
    t["market"]["data_sha256"] = toml::Value::String("0".repeat(64));
    let moved = dir.path().join("moved.toml");
    std::fs::write(&moved, toml::to_string(&t).unwrap()).unwrap();
    crate::support::resign(&moved);
    let res = flowrex(&["backtest", "--playbook", p(&moved), "--check"]);
    assert_eq!(res.status.code(), Some(3));
    assert!(stderr(&res).contains("data changed"), "{}", stderr(&res));
    ok(&flowrex(&[
        "backtest",
        "--playbook",
        p(&moved),
        "--check",
        "--ignore-data-hash",
    ]));

    // Without --check the playbook just re-runs, like backtest.
    let doc: Value = serde_json::from_str(&ok(&flowrex(&[
        "--json",
        "backtest",
        "--playbook",
        p(&out),
    ])))
    .unwrap();
    assert_eq!(doc["metrics"]["sharpe"].as_f64(), Some(sharpe));
}

#[test]
fn spec_file_gives_the_same_playbook_as_flags() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a.toml"), dir.path().join("b.toml"));
    ok(&optimize(
        &a,
        &[
            "--param",
            "fast=5..20:5",
            "--param",
            "slow=20..60:20",
            "--constraint",
            "fast < slow",
            "--objective",
            "return",
        ],
        None,
    ));
    let spec = dir.path().join("spec.toml");
    std::fs::write(
        &spec,
        format!(
            "strategy = \"sma_cross\"\nsymbol = \"GOOG\"\ninterval = \"1d\"\ncommission = 0.002\n\
             objective = \"return\"\nparams = [\"fast=5..20:5\", \"slow=20..60:20\"]\n\
             constraints = [\"fast < slow\"]\nout = \"{}\"\n",
            p(&b)
        ),
    )
    .unwrap();
    ok(&flowrex(&["optimize", "--spec", p(&spec)]));
    assert_eq!(comparable(&a), comparable(&b));
    std::fs::write(&spec, "strategy = \"sma_cross\"\nbogus = 1\n").unwrap();
    let out = flowrex(&["optimize", "--spec", p(&spec)]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("bogus"), "{}", stderr(&out));
}

#[test]
fn bad_inputs_are_clear_errors_and_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("never.toml");
    let cases: &[(&[&str], i32, &str)] = &[
        (
            &["--param", "fast=50..5"],
            2,
            "--param fast=50..5: empty range: start 50 is above end 5; write fast=5..50",
        ),
        (
            &["--param", "speed=1..5"],
            2,
            "unknown parameter `speed`; sma_cross takes: fast (5..=50:5), slow (10..=200:10)",
        ),
        (
            &["--param", "fast=5..50:5", "--constraint", "fast < sloww"],
            2,
            "--constraint `fast < sloww`: unknown parameter `sloww`",
        ),
        (
            &[
                "--param",
                "fast=50..60",
                "--param",
                "slow=10..40",
                "--constraint",
                "fast < slow",
            ],
            2,
            "the parameter space is empty: none of its 341 candidates satisfies the constraints (fast < slow)",
        ),
        (
            &["--param", "fast=5..10:5", "--objective", "alpha"],
            2,
            "--objective alpha: unknown objective; use one of return, sharpe, sortino, calmar, profit_factor, sqn, expectancy",
        ),
        (
            &["--param", "fast=5..10:5", "--min-trades", "100000"],
            1,
            "no candidate meets --min-trades 100000 with a finite sharpe (the most trades any of the 2 evaluated made: 113)",
        ),
        (
            &["--param", "fast=5..10:5", "--method", "annealing"],
            2,
            "--method annealing: unknown method; use grid, random, genetic, pso, explore or tpe",
        ),
        (
            &["--param", "fast=5..10:5", "--shard", "3/2"],
            2,
            "--shard 3/2: expected K/N with 1 <= K <= N",
        ),
    ];
    for (args, code, msg) in cases {
        let res = optimize(&out, args, None);
        assert_eq!(res.status.code(), Some(*code), "{args:?}: {}", stderr(&res));
        assert!(
            stderr(&res).contains(msg),
            "{args:?}: expected `{msg}` in: {}",
            stderr(&res)
        );
        assert_eq!(
            stderr(&res).trim().lines().count(),
            1,
            "one line: {}",
            stderr(&res)
        );
        assert!(!out.exists(), "{args:?} wrote a playbook");
    }
    // Candidate counts in the messages, worked out by hand: fast 50..60 (11) × slow 10..40 (31) = 341;
    // sma_cross with fast 5 / slow 20 makes 113 trades on GOOG at commission 0.002.
    let doc = backtest_json(5, 20);
    assert_eq!(doc["metrics"]["num_trades"].as_u64(), Some(113));
}

#[cfg(unix)]
#[test]
fn ctrl_c_writes_what_was_evaluated_and_exits_130() {
    let home = empty_home();
    ok(&flowrex_in(home.path(), None, &LONG_SEARCH_DATA));
    let out = home.path().join("int.toml");
    let child = flowrex_std(home.path())
        .args(LONG_SEARCH)
        .args(["--out", p(&out)])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(2500));
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let res = child.wait_with_output().unwrap();
    assert_eq!(res.status.code(), Some(130), "{}", stderr(&res));
    let pb = load_toml(&out);
    let o = &pb["optimization"];
    assert_eq!(o["status"].as_str(), Some("interrupted"));
    let evaluated = o["evaluated"].as_integer().unwrap();
    assert!(evaluated > 0 && evaluated < o["feasible"].as_integer().unwrap());
}
