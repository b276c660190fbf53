//! The example scripts run as documented: `examples/ci-regression.sh` with `FLOWREX` set to a command
//! name on PATH (as `nightly.sh` takes it) or to a path, in a copy of the layout it expects (the script
//! `cd`s to its folder's parent, which must be a home, never the repository).

use std::path::Path;
use std::process::Command;

use crate::support::{BIN, bundled_home, flowrex, repo};

/// Runs the copied script with `FLOWREX=flowrex_var` and the binary's folder first on PATH.
fn ci_regression(home: &Path, flowrex_var: &str) -> std::process::Output {
    let bin_dir = Path::new(BIN).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    Command::new("bash")
        .arg(home.join("examples/ci-regression.sh"))
        .env("FLOWREX", flowrex_var)
        .env("PATH", path)
        .env_remove("FLOWREX_HOME")
        .env_remove("RUST_LOG")
        .output()
        .unwrap()
}

#[test]
fn ci_regression_takes_a_command_name_or_a_path() {
    let home = bundled_home();
    let h = home.path();
    std::fs::create_dir_all(h.join("examples")).unwrap();
    std::fs::copy(
        repo().join("examples/ci-regression.sh"),
        h.join("examples/ci-regression.sh"),
    )
    .unwrap();
    let out = h.join("playbooks/goog.toml");
    let ok = flowrex(h)
        .args([
            "--quiet",
            "optimize",
            "--strategy",
            "sma_cross",
            "--symbol",
            "GOOG",
        ])
        .args(["--interval", "1d", "--param", "fast=5..6", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );

    // No Cargo.toml here: a fallback to `cargo run` would fail, so success means FLOWREX was used.
    for var in ["flowrex", BIN] {
        let o = ci_regression(h, var);
        assert!(
            o.status.success(),
            "FLOWREX={var}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(!String::from_utf8_lossy(&o.stdout).contains("::error"));
    }

    // A drifted metric fails the gate and names the playbook.
    let text = std::fs::read_to_string(&out).unwrap();
    let drifted = text.replacen("\nnum_trades = ", "\nnum_trades = 1", 1);
    assert_ne!(drifted, text);
    std::fs::write(&out, drifted).unwrap();
    crate::support::resign(&out);
    // The script exits with the check's code: 3, a drift.
    let o = ci_regression(h, "flowrex");
    assert_eq!(o.status.code(), Some(3));
    assert!(
        String::from_utf8_lossy(&o.stdout)
            .contains("::error file=playbooks/goog.toml::regression check failed (exit 3)"),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );

    // A FLOWREX that names nothing: a clear error, not a silent fallback.
    let o = ci_regression(h, "no-such-flowrex");
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("FLOWREX=no-such-flowrex"));
}
