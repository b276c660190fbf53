//! The CI gate under an adversarial review (2026-11-30): `backtest --playbook P --check` judges a
//! walk-forward playbook on its whole walk's data, keeps its exit code when stdout's reader has
//! gone, refuses a playbook that is not as flowrex wrote it; `examples/ci-regression.sh` fails when
//! it checked nothing. Each of these passed (exit 0) before.

use std::path::Path;
use std::process::{Command, Stdio};

use crate::support::{
    BIN, bundled_home, flowrex, grid, p, repo, revise_goog_close, stderr_of, stdout_ok,
    walk_forward, write,
};

/// [`grid`] as a walk-forward search (500-bar train, 250-bar test windows) written to `out`.
fn walk_forward_playbook(home: &Path, out: &Path) {
    stdout_ok(&walk_forward(
        home,
        &["--train", "500", "--test", "250"],
        out,
    ));
}

fn check(home: &Path, pb: &Path) -> std::process::Output {
    flowrex(home)
        .args(["backtest", "--playbook", p(pb), "--check"])
        .output()
        .unwrap()
}

#[test]
fn a_bar_changed_in_an_early_walk_forward_window_fails_the_check() {
    let home = bundled_home();
    let h = home.path();
    let pb = h.join("wf.toml");
    walk_forward_playbook(h, &pb);
    assert_eq!(
        check(h, &pb).status.code(),
        Some(0),
        "{}",
        stderr_of(&check(h, &pb))
    );
    // Bar 10 of 2148 lies in the first train window; [market] holds only the last one (bars
    // 1648..2148), so its hash cannot see the change. The close moves to the bar's open (still
    // inside its range).
    let c = revise_goog_close(h, 10);
    let out = check(h, &pb);
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(
        err.contains("the GOOG 1d walk-forward data changed"),
        "{err}"
    );
    assert!(err.contains(&format!("{} bars", c.len())), "{err}");
}

#[test]
fn a_failed_check_exits_3_even_when_stdout_is_closed() {
    let home = bundled_home();
    let h = home.path();
    // A walk-forward playbook whose [market] hash is not the data's: `--json` prints the verdict to
    // stdout, then exits 3.
    let pb = h.join("wf.toml");
    walk_forward_playbook(h, &pb);
    let text = std::fs::read_to_string(&pb).unwrap();
    let mut t: toml::Table = toml::from_str(&text).unwrap();
    t["market"]["data_sha256"] = toml::Value::String("0".repeat(64));
    std::fs::write(&pb, toml::to_string(&t).unwrap()).unwrap();
    crate::support::resign(&pb);
    let mut child = Command::new(BIN)
        .args([
            "--home",
            p(h),
            "--json",
            "backtest",
            "--playbook",
            p(&pb),
            "--check",
        ])
        .env_remove("FLOWREX_HOME")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // The reader goes away before the process writes (it loads and runs first).
    drop(child.stdout.take());
    assert_eq!(child.wait().unwrap().code(), Some(3));
}

#[test]
fn check_refuses_a_playbook_without_its_content_hash() {
    let home = bundled_home();
    let h = home.path();
    let text = std::fs::read_to_string(repo().join("playbooks/goog_sma_cross.toml")).unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with("content_sha256 = "))
        .expect("the bundled playbook is signed");
    let unsigned = write(
        h,
        "unsigned.toml",
        &text.replacen(&format!("{line}\n"), "", 1),
    );
    let out = check(h, &unsigned);
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(
        err.contains("unsigned.toml: has no content_sha256"),
        "{err}"
    );
    // As written, the same playbook passes.
    let signed = write(h, "signed.toml", &text);
    assert_eq!(
        check(h, &signed).status.code(),
        Some(0),
        "{}",
        stderr_of(&check(h, &signed))
    );
}

#[test]
fn ci_regression_fails_when_there_is_nothing_to_check() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    std::fs::create_dir_all(h.join("examples")).unwrap();
    std::fs::copy(
        repo().join("examples/ci-regression.sh"),
        h.join("examples/ci-regression.sh"),
    )
    .unwrap();
    let o = Command::new("bash")
        .arg(h.join("examples/ci-regression.sh"))
        .env("FLOWREX", BIN)
        .env_remove("FLOWREX_HOME")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("nothing was checked"));
}

#[test]
fn an_empty_shard_a_non_parquet_results_name_and_an_infinite_tolerance_are_usage_errors() {
    let home = bundled_home();
    let h = home.path();
    // 3 × 3 = 9 candidates: shard 10 of 12 would have none (its failed run blocked every merge).
    let (out, res) = (h.join("s.toml"), h.join("s.parquet"));
    let o = flowrex(h)
        .args(grid())
        .args(["--shard", "10/12", "--out", p(&out), "--results", p(&res)])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr_of(&o));
    assert!(
        stderr_of(&o).contains("the search plans 9 candidate(s), so shard 10 would evaluate none")
    );
    assert!(!out.exists() && !res.exists());
    // Shard 9 of 12 has one.
    let o = flowrex(h)
        .args(grid())
        .args(["--shard", "9/12", "--out", p(&out), "--results", p(&res)])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr_of(&o));
    // --results is Parquet: a .csv name is refused before anything is written.
    let csv = h.join("r.csv");
    let o = flowrex(h)
        .args(grid())
        .args(["--results", p(&csv)])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr_of(&o));
    assert!(stderr_of(&o).contains("the results file is Parquet"));
    assert!(!csv.exists());
    // --tolerance inf would pass every real-valued metric.
    let pb = repo().join("playbooks/goog_sma_cross.toml");
    let o = flowrex(h)
        .args([
            "backtest",
            "--playbook",
            p(&pb),
            "--check",
            "--tolerance",
            "inf",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr_of(&o));
}
