//! The research path as a CI gate under a second adversarial review (2026-12-01): calendar
//! walk-forward windows with a purge, `report optimize` on a walk-forward results file, `--check`
//! of an interrupted search, `optimize merge` across flowrex versions, and a `--check` on changed
//! data naming where the data changed.

use std::path::Path;

use serde_json::Value;

use crate::support::{bundled_home, flowrex, load, p, stderr_of, stdout_json};

/// The sma_cross grid on GOOG 1d the tests search: 3 × 3 = 9 candidates.
const GRID: [&str; 11] = [
    "optimize",
    "--strategy",
    "sma_cross",
    "--symbol",
    "GOOG",
    "--interval",
    "1d",
    "--param",
    "fast=5..15:5",
    "--param",
    "slow=20..40:10",
];

/// The index of the stored bar at RFC 3339 time `t` in `ts`.
fn bar_at(ts: &[i64], t: &Value) -> usize {
    let ms = chrono::DateTime::parse_from_rfc3339(t.as_str().unwrap())
        .unwrap()
        .timestamp_millis();
    ts.binary_search(&ms)
        .unwrap_or_else(|_| panic!("no bar at {t}"))
}

fn walk(home: &Path, windows: &[&str]) -> std::process::Output {
    flowrex(home)
        .args(GRID)
        .args(["--json", "--walk-forward"])
        .args(windows)
        .arg("--out")
        .arg(home.join("wf.toml"))
        .output()
        .unwrap()
}

/// GOOG holds weekday bars only, so 5 bars after a train end span 5 to 9 days: laid out as
/// train, purge, test, each `6M` test ended a different number of days after the next window's
/// test began, and every such run failed with "test windows overlap". Now the tests tile (window
/// k + 1's test starts on the bar after window k's last) and each starts 5 bars after its train.
#[test]
fn calendar_test_windows_with_a_purge_in_bars_tile() {
    let home = bundled_home();
    let h = home.path();
    let out = walk(h, &["--train", "2y", "--test", "6M", "--purge", "5"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    let doc = stdout_json(&out);
    let w = doc["playbook"]["walk_forward"]["window"]
        .as_array()
        .unwrap();
    assert!(w.len() >= 10, "{} windows", w.len());
    let ts = load(h, "GOOG", "1d").ts;
    for (k, w) in w.iter().enumerate() {
        let (train_end, test_start) = (bar_at(&ts, &w["train_end"]), bar_at(&ts, &w["test_start"]));
        assert_eq!(test_start, train_end + 6, "window {k}: 5 bars purged");
        let test_end = bar_at(&ts, &w["test_end"]);
        assert_eq!(
            w["test_bars"].as_u64().unwrap() as usize,
            test_end - test_start + 1
        );
        // A 6-month test of weekday bars: 26 weeks of 5 bars less holidays (123 to 128 here).
        assert!(
            (118..=136).contains(&(test_end - test_start + 1)),
            "window {k}: {}",
            test_end - test_start + 1
        );
    }
    for pair in w.windows(2) {
        assert_eq!(
            bar_at(&ts, &pair[1]["test_start"]),
            bar_at(&ts, &pair[0]["test_end"]) + 1,
            "the tests tile"
        );
    }
    assert_eq!(doc["playbook"]["walk_forward"]["purge"], "5");

    // A step in bars with a calendar test can still fall short of a test: the error says why.
    let out = walk(h, &["--train", "500", "--test", "6M", "--step", "100"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr_of(&out);
    assert!(
        err.contains("test windows overlap")
            && err.contains("--step 100 and the test length 6M are measured differently"),
        "{err}"
    );
}
