//! Flags that used to be silently ignored or to give a quietly wrong answer (issue 18, items 2–6): each
//! is now a usage error naming the flag, or an explicit documented behaviour.

use std::path::{Path, PathBuf};

use crate::support::{
    BACKTEST_SMA_GOOG, Run, SMA_GOOG, bundled_home, command, optimize_small, run,
};

/// A small optimized playbook of sma_cross on GOOG 1d in `home` (6 × 2 candidates).
fn playbook(home: &Path) -> PathBuf {
    let out = home.join("playbooks/goog.toml");
    let r = optimize_into(home, &out, &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    out
}

#[test]
fn settings_flags_with_a_playbook_are_refused_by_name() {
    let home = bundled_home();
    let pb = playbook(home.path());
    let pb = pb.to_str().unwrap();
    for flag in [
        &["--commission", "0.01"][..],
        &["--cash", "5000"],
        &["--size", "fraction"],
        &["--fill", "close"],
        &["--spread", "0.001"],
        &["--stop-policy", "optimistic"],
        &["--close-at-end"],
    ] {
        for check in [&[][..], &["--check"]] {
            let mut args = vec!["backtest", "--playbook", pb];
            args.extend_from_slice(flag);
            args.extend_from_slice(check);
            let r = run(home.path(), &args);
            assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
            assert!(
                r.stderr
                    .contains(&format!("{} cannot be used with --playbook", flag[0])),
                "{args:?}: {}",
                r.stderr
            );
            assert!(r.stdout.is_empty(), "{args:?} printed a result");
        }
    }
    // The playbook alone re-runs, and its check passes.
    assert_eq!(run(home.path(), &["backtest", "--playbook", pb]).code, 0);
    assert_eq!(
        run(home.path(), &["backtest", "--playbook", pb, "--check"]).code,
        0
    );
}

#[test]
fn check_flags_without_a_playbook_are_usage_errors() {
    let home = bundled_home();
    let plain = BACKTEST_SMA_GOOG;
    for (flag, extra) in [
        ("--check", &[][..]),
        ("--tolerance", &["0.1"][..]),
        ("--ignore-data-hash", &[][..]),
    ] {
        let mut args = plain.to_vec();
        args.push(flag);
        args.extend_from_slice(extra);
        let r = run(home.path(), &args);
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
        assert!(
            r.stderr.contains(&format!("{flag} needs --playbook")),
            "{args:?}: {}",
            r.stderr
        );
    }
    // With a playbook but without --check, the check's options would do nothing: refused too.
    let pb = playbook(home.path());
    let pb = pb.to_str().unwrap();
    for flag in [&["--tolerance", "0.1"][..], &["--ignore-data-hash"]] {
        let mut args = vec!["backtest", "--playbook", pb];
        args.extend_from_slice(flag);
        let r = run(home.path(), &args);
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
        assert!(
            r.stderr
                .contains(&format!("{} only applies with --check", flag[0]))
        );
    }
    let r = run(
        home.path(),
        &[
            "backtest",
            "--playbook",
            pb,
            "--check",
            "--tolerance",
            "1e-6",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
}

/// The `[optimization.space]` of the playbook at `path`, as `name = "values"` pairs.
fn space(path: &Path) -> Vec<(String, String)> {
    let t: toml::Table = toml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    t["optimization"]["space"]
        .as_table()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or(&v.to_string()).to_string()))
        .collect()
}

#[test]
fn a_param_flag_replaces_only_its_own_entry_of_the_spec() {
    let home = bundled_home();
    let spec = crate::support::write(
        home.path(),
        "nightly.toml",
        "strategy = \"sma_cross\"\nsymbol = \"GOOG\"\ninterval = \"1d\"\n\
         params = [\"fast=5..6\", \"slow=20..30:10\"]\n",
    );
    let out = home.path().join("pb.toml");
    let r = run(
        home.path(),
        &[
            "--quiet",
            "--json",
            "optimize",
            "--spec",
            spec.to_str().unwrap(),
            "--param",
            "fast=7..9",
            "--out",
            out.to_str().unwrap(),
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let mut got = space(&out);
    got.sort();
    assert_eq!(
        got,
        [
            ("fast".to_string(), "7..9".to_string()),
            ("slow".to_string(), "20..30:10".to_string())
        ]
    );
    // 3 fast values × 2 slow values: the spec's slow range was searched, not slow's default range.
    let doc: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(doc["playbook"]["optimization"]["evaluated"], 6);
}

#[test]
fn risk_sizing_without_stops_is_refused_with_the_count() {
    let home = bundled_home();
    let base = BACKTEST_SMA_GOOG;
    // Under all-cash sizing every entry of sma_cross (it sets no stop) trades: closed + open trades.
    let all = run(home.path(), &[&["--json"][..], &base].concat());
    assert_eq!(all.code, 0, "{}", all.stderr);
    let doc: serde_json::Value = serde_json::from_str(&all.stdout).unwrap();
    let entries =
        doc["trades"].as_array().unwrap().len() + usize::from(!doc["open_trade"].is_null());
    assert!(entries > 0);
    let r = run(home.path(), &[&base[..], &["--size", "risk:1"]].concat());
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains(&format!(
            "--size risk:1: risk sizing needs a stop on every entry, but {entries} of sma_cross's entries set none"
        )),
        "{}",
        r.stderr
    );
    assert!(r.stdout.is_empty());
    // optimize refuses before searching (no playbook written).
    let out = home.path().join("pb.toml");
    let r = run(
        home.path(),
        &command(
            &SMA_GOOG,
            &[
                "--param",
                "fast=5..6",
                "--size",
                "risk:1",
                "--out",
                out.to_str().unwrap(),
            ],
        ),
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("risk sizing needs a stop"),
        "{}",
        r.stderr
    );
    assert!(!out.exists());
    // So does `report backtest`, before writing a page.
    let page = home.path().join("r.html");
    let r = run(
        home.path(),
        &[
            &["report"][..],
            &base,
            &["--size", "risk:1", "--out", page.to_str().unwrap()],
        ]
        .concat(),
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(!page.exists());
    // A strategy that brackets every entry sizes by risk and trades.
    let r = run(
        home.path(),
        &[
            "--json",
            "backtest",
            "--strategy",
            "nbb",
            "--symbol",
            "EURUSD",
            "--interval",
            "1h",
            "--size",
            "risk:1",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let doc: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert!(!doc["trades"].as_array().unwrap().is_empty());
}

/// `optimize` of the small sma_cross space (6 × 2 candidates) into `out`, with `extra` flags.
fn optimize_into(home: &Path, out: &Path, extra: &[&str]) -> Run {
    run(home, &optimize_small(out, extra))
}

#[test]
fn optimize_replaces_only_an_unedited_candidate_without_force() {
    let home = bundled_home();
    let out = playbook(home.path());
    let text = std::fs::read_to_string(&out).unwrap();
    // The file records the sha256 of its content without that line, computed here independently.
    let recorded = text
        .lines()
        .find_map(|l| l.strip_prefix("content_sha256 = \""))
        .and_then(|l| l.strip_suffix('"'))
        .expect("a content_sha256 line");
    let without: String = text
        .lines()
        .filter(|l| !l.starts_with("content_sha256 = "))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_eq!(recorded, sha256_hex(without.as_bytes()));
    // An unedited candidate is replaced.
    assert_eq!(optimize_into(home.path(), &out, &[]).code, 0);

    // Promoted: refused, file untouched; --force replaces it (as a new candidate).
    let text = std::fs::read_to_string(&out).unwrap();
    let active = text.replacen("status = \"candidate\"", "status = \"active\"", 1);
    std::fs::write(&out, &active).unwrap();
    let r = optimize_into(home.path(), &out, &[]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("status = \"active\""), "{}", r.stderr);
    assert!(r.stderr.contains("--force"), "{}", r.stderr);
    assert_eq!(std::fs::read_to_string(&out).unwrap(), active);
    assert_eq!(optimize_into(home.path(), &out, &["--force"]).code, 0);
    assert!(
        std::fs::read_to_string(&out)
            .unwrap()
            .contains("status = \"candidate\"")
    );

    // A candidate whose parameter was changed by hand: refused, untouched.
    let text = std::fs::read_to_string(&out).unwrap();
    let edited = text.replacen("\nfast = ", "\nfast = 1", 1);
    assert_ne!(edited, text);
    std::fs::write(&out, &edited).unwrap();
    let r = optimize_into(home.path(), &out, &[]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("was edited since flowrex wrote it"),
        "{}",
        r.stderr
    );
    assert_eq!(std::fs::read_to_string(&out).unwrap(), edited);
    // Not a playbook at all: refused too.
    let other = home.path().join("notes.toml");
    std::fs::write(&other, "x = 1\n").unwrap();
    let r = optimize_into(home.path(), &other, &[]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("exists and is not a playbook"),
        "{}",
        r.stderr
    );
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(unix)]
#[test]
fn the_replace_check_never_opens_a_fifo() {
    // Opening a FIFO for reading blocks until a writer comes: the check must look at the kind first.
    let home = bundled_home();
    let fifo = home.path().join("pipe.toml");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status();
    if !made.is_ok_and(|s| s.success()) {
        return crate::support::skip_or_fail("fifo check", "mkfifo failed", "install coreutils");
    }
    let started = std::time::Instant::now();
    assert!(flowrex::playbook::check_replaceable(&fifo).is_ok());
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
}
