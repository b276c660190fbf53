//! Bounded work and refused nonsense: sampling searches start at once on a huge space, a particle swarm
//! stops on Ctrl-C and keeps one history entry per evaluated batch, and settings that cannot mean
//! anything (`--cash 1e308`, a negative or NaN `--tolerance`, pso with no iteration, a float step that
//! makes more values than can be counted) are usage errors. `backtest --json --check` on changed data
//! prints its verdict document.

use std::path::{Path, PathBuf};
use std::process::{Child, Output};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{
    BACKTEST_SMA_GOOG, SMA_GOOG, bundled_home, command, flowrex as flowrex_cmd, flowrex_std, p,
    stderr_of, stdout_ok,
};

fn run(home: &Path, args: &[&str]) -> Output {
    flowrex_cmd(home)
        .arg("--quiet")
        .args(args)
        .output()
        .expect("run flowrex")
}

/// Waits for `child` at most `limit`; kills it and fails the test when it is still running.
fn finish_within(mut child: Child, limit: Duration, what: &str) -> Output {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    panic!(
        "{what}: still running after {limit:?}; stderr: {}",
        stderr_of(&out)
    );
}

fn spawn(home: &Path, args: &[&str]) -> Child {
    flowrex_std(home)
        .arg("--quiet")
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

fn load_toml(path: &Path) -> toml::Table {
    toml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn sampling_searches_start_at_once_on_a_ten_billion_candidate_space() {
    let home = bundled_home();
    let dir = tempfile::tempdir().unwrap();
    // fast 1..100000 (100,000 values) × slow 2..100000 (99,999) = 9,999,900,000 candidates; fast < slow
    // keeps, for each fast f, the slows f+1..100000: Σ_{f=1}^{99999} (100000 − f) = 99999·50000
    // = 4,999,950,000 — exactly half. Counting them one by one took ~70 minutes before the first
    // backtest; now the count is estimated from random draws.
    let truth = 4_999_950_000.0;
    let methods: [&[&str]; 5] = [
        &["--method", "random", "--samples", "10"],
        &[
            "--method",
            "genetic",
            "--population",
            "4",
            "--generations",
            "2",
        ],
        &["--method", "pso", "--population", "4", "--generations", "2"],
        &[
            "--method",
            "explore",
            "--samples",
            "10",
            "--population",
            "5",
        ],
        &["--method", "tpe", "--samples", "10", "--population", "5"],
    ];
    for m in methods {
        let out = dir.path().join(format!("{}.toml", m[1]));
        let mut args = SMA_GOOG.to_vec();
        args.extend([
            "--param",
            "fast=1..100000",
            "--param",
            "slow=2..100000",
            "--constraint",
            "fast < slow",
            // Every candidate is ranked: a return exists even without trades.
            "--objective",
            "return",
            "--min-trades",
            "0",
            "--out",
            p(&out),
        ]);
        args.extend(m);
        let res = finish_within(spawn(home.path(), &args), Duration::from_secs(60), m[1]);
        assert!(res.status.success(), "{}: {}", m[1], stderr_of(&res));
        let o = load_toml(&out)["optimization"].clone();
        assert_eq!(o["space_size"].as_integer(), Some(9_999_900_000));
        assert_eq!(o["feasible_estimated"].as_bool(), Some(true), "{}", m[1]);
        let estimate = o["feasible"].as_integer().unwrap() as f64;
        // 65,536 draws at p = 1/2: relative standard error sqrt((1 − p)/(p·65536)) = 1/256 ≈ 0.39%;
        // 2% is five of them.
        assert!(
            (estimate / truth - 1.0).abs() < 0.02,
            "{}: {estimate}",
            m[1]
        );
        assert!(o["evaluated"].as_integer().unwrap() >= 1);
    }
}

#[cfg(unix)]
#[test]
fn pso_stops_on_ctrl_c_and_writes_what_it_evaluated() {
    let home = bundled_home();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("pso.toml");
    // 100 million iterations: only a stop ends this run in time.
    let mut args = SMA_GOOG.to_vec();
    args.extend([
        "--param",
        "fast=1..2000",
        "--param",
        "slow=2..2000",
        "--constraint",
        "fast < slow",
        "--method",
        "pso",
        "--population",
        "16",
        "--generations",
        "100000000",
        "--out",
        p(&out),
    ]);
    let child = spawn(home.path(), &args);
    std::thread::sleep(Duration::from_millis(4000));
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    // A hang guard, not a timing check: after the stop the run still computes the [validation]
    // statistics of what it evaluated (PBO over 12,870 splits: ~5 s in a debug build on a loaded machine).
    let res = finish_within(child, Duration::from_secs(120), "pso after Ctrl-C");
    assert_eq!(res.status.code(), Some(130), "{}", stderr_of(&res));
    let o = load_toml(&out)["optimization"].clone();
    assert_eq!(o["status"].as_str(), Some("interrupted"));
    let evaluated = o["evaluated"].as_integer().unwrap();
    let history = o["history"].as_array().unwrap().len() as i64;
    assert!(
        evaluated >= 1 && history <= evaluated,
        "{history} entries for {evaluated}"
    );
}

/// pso over fast 5..50:5 (10 values) × slow 10..45:5 (8 values) with fast < slow: for slow = 10, 15,
/// …, 45 the fasts below it number 1, 2, …, 8, so 1 + 2 + … + 8 = 36 candidates. Returns the command
/// line and where the playbook goes.
fn pso_over_36(dir: &Path, population: &str, generations: &str) -> (Vec<String>, PathBuf) {
    let out = dir.join("pso.toml");
    let mut args: Vec<String> = SMA_GOOG.iter().map(|a| a.to_string()).collect();
    args.extend(
        [
            "--param",
            "fast=5..50:5",
            "--param",
            "slow=10..45:5",
            "--constraint",
            "fast < slow",
            "--method",
            "pso",
            "--population",
            population,
            "--generations",
            generations,
            "--out",
            p(&out),
        ]
        .map(String::from),
    );
    (args, out)
}

#[test]
fn pso_history_has_one_entry_per_batch_that_evaluated_something() {
    let home = bundled_home();
    let dir = tempfile::tempdir().unwrap();
    // 36 candidates, far fewer than the 4 × 2001 positions the swarm visits.
    let (args, out) = pso_over_36(dir.path(), "4", "2000");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    stdout_ok(&run(home.path(), &args));
    let o = load_toml(&out)["optimization"].clone();
    assert_eq!(o["feasible"].as_integer(), Some(36));
    let evaluated = o["evaluated"].as_integer().unwrap();
    let history = o["history"].as_array().unwrap().len() as i64;
    assert!(evaluated <= 36);
    assert!(
        history >= 1 && history <= evaluated,
        "{history} entries for {evaluated}"
    );
}

#[test]
fn pso_never_has_more_particles_than_candidates() {
    let home = bundled_home();
    let dir = tempfile::tempdir().unwrap();
    // The 36-candidate space with two million particles: they are cut to 36. Before, the swarm placed
    // and priced all two million (over 120 s and ~500 MB in a debug build; 0.7 s and 28 MB now).
    let (args, out) = pso_over_36(dir.path(), "2000000", "1");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let res = finish_within(spawn(home.path(), &args), Duration::from_secs(30), "pso");
    assert!(res.status.success(), "{}", stderr_of(&res));
    let o = load_toml(&out)["optimization"].clone();
    assert!(o["evaluated"].as_integer().unwrap() <= 36);
}

#[test]
fn meaningless_settings_are_usage_errors() {
    let home = bundled_home();
    let h = home.path();
    let dir = tempfile::tempdir().unwrap();
    let pb = dir.path().join("pb.toml");
    let mut args = SMA_GOOG.to_vec();
    args.extend(["--param", "fast=5..15:5", "--out", p(&pb)]);
    stdout_ok(&run(h, &args));

    let pb_s: &'static str = Box::leak(p(&pb).to_string().into_boxed_str());
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            command(&BACKTEST_SMA_GOOG, &["--cash", "1e308"]),
            "--cash 1e308: must be at most 1e15",
        ),
        (
            command(
                &["backtest", "--playbook", pb_s, "--check"],
                &["--tolerance=-1"],
            ),
            "--tolerance -1: must be a finite number of at least 0",
        ),
        (
            command(
                &["backtest", "--playbook", pb_s, "--check"],
                &["--tolerance", "NaN"],
            ),
            "--tolerance NaN: must be a finite number of at least 0",
        ),
        (
            command(
                &SMA_GOOG,
                &[
                    "--param",
                    "fast=5..15:5",
                    "--method",
                    "pso",
                    "--generations",
                    "0",
                ],
            ),
            "--generations (pso iterations) must be at least 1",
        ),
        (
            command(
                &[
                    "optimize",
                    "--strategy",
                    "nbb",
                    "--symbol",
                    "GOOG",
                    "--interval",
                    "1d",
                ],
                &["--param", "base_atr=0.1..1:1e-300"],
            ),
            "--param base_atr=0.1..1:1e-300: step 1e-300 makes more than",
        ),
    ];
    for (args, want) in cases {
        let out = run(h, &args);
        let err = stderr_of(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(want), "{args:?}: expected `{want}` in: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
    }
}

#[test]
fn json_check_on_changed_data_prints_the_verdict_document() {
    let home = bundled_home();
    let h = home.path();
    let dir = tempfile::tempdir().unwrap();
    let pb = dir.path().join("pb.toml");
    let mut args = SMA_GOOG.to_vec();
    args.extend(["--param", "fast=5..15:5", "--out", p(&pb)]);
    stdout_ok(&run(h, &args));
    let mut t = load_toml(&pb);
    t["market"]["data_sha256"] = toml::Value::String("0".repeat(64));
    let moved = dir.path().join("moved.toml");
    std::fs::write(&moved, toml::to_string(&t).unwrap()).unwrap();
    crate::support::resign(&moved);

    let out = run(
        h,
        &["--json", "backtest", "--playbook", p(&moved), "--check"],
    );
    assert_eq!(out.status.code(), Some(3), "{}", stderr_of(&out));
    let doc: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: stdout {:?}", String::from_utf8_lossy(&out.stdout)));
    assert_eq!(doc["passed"], Value::Bool(false));
    assert_eq!(doc["data_sha256_matches"], Value::Bool(false));
    assert_eq!(doc["playbook"].as_str(), Some(p(&moved)));
    assert_eq!(doc["drifts"], Value::Array(vec![]));
    assert_eq!(
        doc["data_change"]["stored_sha256"].as_str(),
        Some("0".repeat(64).as_str())
    );
    // The bundled GOOG 1d file holds 2,148 bars (docs/data.md), all loaded by the playbook's range.
    assert_eq!(doc["data_change"]["bars"].as_u64(), Some(2148));
    assert!(stderr_of(&out).contains("data changed"));
}
