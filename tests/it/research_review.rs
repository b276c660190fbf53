//! The research path as a CI gate under a second adversarial review (2026-12-01): calendar
//! walk-forward windows with a purge, `report optimize` on a walk-forward results file, `--check`
//! of an interrupted search, `optimize merge` across flowrex versions, and a `--check` on changed
//! data naming where the data changed.

use std::path::{Path, PathBuf};

use serde_json::Value;

use flowrex::candles::time::format_ts;

use crate::support::{
    bundled_home, flowrex, grid, load, p, revise_goog_close, rewrite, stderr_of, stdout_json,
    table, walk_forward,
};

/// The index of the stored bar at RFC 3339 time `t` in `ts`.
fn bar_at(ts: &[i64], t: &Value) -> usize {
    let ms = chrono::DateTime::parse_from_rfc3339(t.as_str().unwrap())
        .unwrap()
        .timestamp_millis();
    ts.binary_search(&ms)
        .unwrap_or_else(|_| panic!("no bar at {t}"))
}

/// [`grid`] walked forward with `windows` into `home`/wf.toml.
fn walk(home: &Path, windows: &[&str]) -> std::process::Output {
    walk_forward(home, windows, &home.join("wf.toml"))
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

/// [`walk`] with 500-bar train and 250-bar test windows and `--results`: the playbook (`wf.toml`), the
/// results file (`wf.parquet`) and the `[walk_forward]` section as printed.
fn walk_with_results(h: &Path) -> (PathBuf, PathBuf, Value) {
    let (pb, results) = (h.join("wf.toml"), h.join("wf.parquet"));
    let out = walk(
        h,
        &["--train", "500", "--test", "250", "--results", p(&results)],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    let wf = stdout_json(&out)["playbook"]["walk_forward"].clone();
    (pb, results, wf)
}

/// `report optimize --window K` draws an earlier window's own search from the run's results file: the
/// page names the window, its train bars and the choice `[[walk_forward.window]]` records (the rows
/// are checked against it). Another walk's results are refused as another search's (exit 1). A plain
/// playbook, a window the walk does not have, or no results file is a usage error.
#[test]
fn report_optimize_draws_an_earlier_walk_forward_window() {
    let home = bundled_home();
    let h = home.path();
    let (pb, results, wf) = walk_with_results(h);
    let windows = wf["window"].as_array().unwrap();
    let report_of = |pb: &Path, extra: &[&str]| {
        flowrex(h)
            .args(["report", "optimize", "--playbook", p(pb)])
            .args(extra)
            .output()
            .unwrap()
    };
    let report = |extra: &[&str]| report_of(&pb, extra);
    for k in [0, 2] {
        let w = &windows[k];
        let page = h.join(format!("w{k}.html"));
        let out = report(&[
            "--results",
            p(&results),
            "--window",
            &k.to_string(),
            "--out",
            p(&page),
        ]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
        let html = std::fs::read_to_string(&page).unwrap();
        assert!(
            html.contains(&format!("walk-forward window {k}")),
            "window {k}"
        );
        let chose: Vec<String> = w["params"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(name, v)| format!("{name}={v}"))
            .collect();
        assert!(
            html.contains(&format!("which chose {}", chose.join(" "))),
            "window {k}: {chose:?}"
        );
        let train = format!(
            "{} → {}, {} bars",
            &w["train_start"].as_str().unwrap()[..10],
            &w["train_end"].as_str().unwrap()[..10],
            w["train_bars"]
        );
        assert!(html.contains(&train), "window {k}: {train}");
    }

    // The results of another walk over the same windows (ranked on the return instead): window 0's
    // rows are there in the same number, but not the choice the playbook records.
    let other = h.join("other.parquet");
    let out = walk_forward(
        h,
        &[
            "--train",
            "500",
            "--test",
            "250",
            "--objective",
            "return",
            "--results",
            p(&other),
        ],
        &h.join("other.toml"),
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    let out = report(&["--results", p(&other), "--window", "0"]);
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("but the playbook's window 0 chose")
            && err.contains("the results file is from another search"),
        "{err}"
    );

    let usage_of = |pb: &Path, extra: &[&str], msg: &str| {
        let out = report_of(pb, extra);
        assert_eq!(out.status.code(), Some(2), "{extra:?}: {}", stderr_of(&out));
        assert!(stderr_of(&out).contains(msg), "{msg}: {}", stderr_of(&out));
    };
    let usage = |extra: &[&str], msg: &str| usage_of(&pb, extra, msg);
    let last = windows.len() - 1;
    usage(
        &["--results", p(&results), "--window", "99"],
        &format!("has walk-forward windows 0 to {last}"),
    );
    usage(&["--window", "0"], "--window 0 needs --results FILE");
    usage_of(
        &searched(h, "plain.toml"),
        &["--window", "0"],
        "is not a walk-forward playbook",
    );
}

/// A walk-forward results file with its columns and no rows holds no window's search: refused as
/// another search's file (exit 1), naming the windows it holds (none) and those the playbook has.
#[test]
fn a_walk_forward_results_file_without_rows_is_another_search() {
    let home = bundled_home();
    let h = home.path();
    let (pb, results, wf) = walk_with_results(h);
    let last = wf["window"].as_array().unwrap().len() - 1;
    let empty = h.join("empty.parquet");
    let batches = crate::support::parquet_batches(&results);
    crate::support::write_parquet(&empty, &batches[0].slice(0, 0));
    assert!(
        crate::support::parquet_batches(&empty)
            .iter()
            .all(|b| b.num_rows() == 0)
    );
    let out = flowrex(h)
        .args(["report", "optimize", "--playbook", p(&pb)])
        .args(["--results", p(&empty), "--window", "0"])
        .output()
        .unwrap();
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let want = format!(
        "its rows belong to windows [] but the playbook's walk-forward has windows 0 to {last}"
    );
    assert!(
        err.contains(&want) && err.contains("the results file is from another search"),
        "{err}"
    );
}

/// `report optimize` refused the results file of a walk-forward run (its rows hold every window's
/// search, the playbook's `[optimization]` only the last one's). Now the page shows the last
/// window's search — the parameters the playbook records — and a table of every window; a plain
/// playbook with a walk-forward file (or the reverse) is refused naming which is which. And
/// `optimize --walk-forward --report` writes that page (it was ignored).
#[test]
fn report_optimize_reads_a_walk_forward_results_file() {
    let home = bundled_home();
    let h = home.path();
    let (pb, results, wf) = walk_with_results(h);
    let page = h.join("page.html");
    let report = |pb: &Path| {
        flowrex(h)
            .args(["report", "optimize", "--playbook", p(pb), "--results"])
            .args([p(&results), "--out", p(&page)])
            .output()
            .unwrap()
    };
    let out = report(&pb);
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    let html = std::fs::read_to_string(&page).unwrap();
    let windows = wf["window"].as_array().unwrap();
    assert!(windows.len() >= 5);
    assert!(html.contains("Walk-forward windows"), "no window table");
    assert!(html.contains(&format!(
        "A walk-forward playbook ({} windows)",
        windows.len()
    )));
    for w in windows {
        let test = format!(
            "{}…{}",
            &w["test_start"].as_str().unwrap()[..10],
            &w["test_end"].as_str().unwrap()[..10]
        );
        assert!(html.contains(&test), "window {} missing", w["index"]);
    }

    // A plain search's playbook with the walk-forward file: refused, saying which is which.
    let plain = h.join("plain.toml");
    stdout_json(
        &flowrex(h)
            .args(grid())
            .args(["--json", "--out", p(&plain)])
            .output()
            .unwrap(),
    );
    let out = report(&plain);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr_of(&out).contains("it is a walk-forward results file"),
        "{}",
        stderr_of(&out)
    );

    // The shortcut on the optimize command itself.
    let page2 = h.join("page2.html");
    let out = flowrex(h)
        .args(grid())
        .args([
            "--json",
            "--walk-forward",
            "--train",
            "500",
            "--test",
            "250",
        ])
        .args(["--out", p(&h.join("wf2.toml")), "--report", p(&page2)])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    assert_eq!(
        stdout_json(&out)["report_file"].as_str().map(Path::new),
        Some(std::path::absolute(&page2).unwrap().as_path())
    );
    assert!(
        std::fs::read_to_string(&page2)
            .unwrap()
            .contains("Walk-forward windows")
    );
}

/// A playbook whose search was stopped (what Ctrl-C leaves: `status = "interrupted"` and fewer
/// candidates; optimize's own Ctrl-C test checks that it writes this) passed `--check` like a
/// finished one. Now the check compares its metrics and fails, exit 3, saying so on stderr and in
/// `--json`; `--allow-interrupted` checks it anyway with a warning.
#[test]
fn check_of_an_interrupted_search_fails_and_says_so() {
    let home = bundled_home();
    let h = home.path();
    let pb = h.join("int.toml");
    let out = flowrex(h)
        .args(grid())
        .args(["--json", "--out", p(&pb)])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    rewrite(&pb, |doc| {
        let o = table(doc, "optimization");
        o.insert("status".into(), "interrupted".into());
        o.insert("evaluated".into(), 4.into());
    });
    let check = |extra: &[&str]| {
        flowrex(h)
            .args(["backtest", "--playbook", p(&pb), "--check"])
            .args(extra)
            .output()
            .unwrap()
    };
    let out = check(&[]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr_of(&out));
    let err = stderr_of(&out);
    assert!(
        err.contains(
            "its search did not finish (status = \"interrupted\" after 4 of 9 feasible candidates)"
        ) && err.contains("--allow-interrupted"),
        "{err}"
    );
    let out = check(&["--json"]);
    assert_eq!(out.status.code(), Some(3));
    let doc = stdout_json(&out);
    assert_eq!(doc["passed"], false);
    assert_eq!(doc["search_status"], "interrupted");
    assert!(
        doc["search_unfinished"]
            .as_str()
            .unwrap()
            .contains("partial search")
    );
    // The metrics themselves were compared, and reproduced.
    assert_eq!(doc["drifts"].as_array().unwrap().len(), 0);

    let out = check(&["--allow-interrupted"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    assert!(stderr_of(&out).contains("its search did not finish"));
    let out = flowrex(h)
        .args(["backtest", "--playbook", p(&pb), "--allow-interrupted"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr_of(&out).contains("--allow-interrupted only applies with --check"));
}

/// `optimize merge` of shards written by different flowrex versions said nothing. A release may
/// change metrics, and the merge ranks the shards' numbers as one search's: refused, naming each
/// version's files, unless `--allow-mixed-versions` (then a warning, and the merged playbook's
/// notes name the versions).
#[test]
fn merge_refuses_shards_of_different_flowrex_versions() {
    let home = bundled_home();
    let h = home.path();
    let parts: Vec<_> = (1..=2)
        .map(|k| {
            let part = h.join(format!("s-{k}.toml"));
            let out = flowrex(h)
                .args(grid())
                .args(["--quiet", "--shard", &format!("{k}/2"), "--out", p(&part)])
                .output()
                .unwrap();
            assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
            part
        })
        .collect();
    // An older flowrex wrote no [market.fingerprint]: the same market all the same.
    rewrite(&parts[1], |doc| {
        table(doc, "playbook").insert("flowrex_version".into(), "0.0.1-old".into());
        assert!(table(doc, "market").remove("fingerprint").is_some());
    });
    let merged = h.join("merged.toml");
    let merge = |extra: &[&str]| {
        flowrex(h)
            .args(["optimize", "merge", p(&parts[0]), p(&parts[1])])
            .args(["--out", p(&merged)])
            .args(extra)
            .output()
            .unwrap()
    };
    let out = merge(&[]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr_of(&out);
    let ours = format!("flowrex {}: {}", env!("CARGO_PKG_VERSION"), p(&parts[0]));
    let old = format!("flowrex 0.0.1-old: {}", p(&parts[1]));
    assert!(
        err.contains(&ours) && err.contains(&old) && err.contains("--allow-mixed-versions"),
        "{err}"
    );
    assert!(!merged.exists());

    let out = merge(&["--allow-mixed-versions"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    assert!(stderr_of(&out).contains("different flowrex versions"));
    let doc: toml::Table = std::fs::read_to_string(&merged).unwrap().parse().unwrap();
    let notes = doc["playbook"]["notes"].as_str().unwrap();
    assert!(notes.contains(&old), "{notes}");
    // Only one shard had a fingerprint: the merged playbook keeps none rather than one shard's.
    assert!(doc["market"].get("fingerprint").is_none());
}

/// `--check` on changed data said only that the sha256 differs. The playbook now keeps a
/// fingerprint of its bars (`[market.fingerprint]`: digests of at most 256 blocks and of each
/// column), so the refusal names where the first change lies and in which column.
#[test]
fn check_on_changed_data_names_the_first_changed_bars_and_column() {
    let home = bundled_home();
    let h = home.path();
    let pb = searched(h, "pb.toml");
    // Bar 1000's close moves to its open (inside the bar's range): a provider's revision.
    let k = 1000;
    let c = revise_goog_close(h, k);
    // Blocks of ceil(2148 / 256) = 9 bars: bar 1000 lies in block 111, bars 999 to 1007.
    let block = c.len().div_ceil(256);
    let (first, last) = (k / block * block, k / block * block + block - 1);
    let out = flowrex(h)
        .args(["backtest", "--playbook", p(&pb), "--check"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let err = stderr_of(&out);
    let want = format!(
        "the first change lies in bars {first} to {last} ({} to {}), in close",
        format_ts(c.ts[first]),
        format_ts(c.ts[last])
    );
    assert!(
        err.contains("the GOOG 1d data changed") && err.contains(&want),
        "{err}"
    );
    let out = flowrex(h)
        .args(["backtest", "--json", "--playbook", p(&pb), "--check"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let fc = &stdout_json(&out)["data_change"]["first_change"];
    assert_eq!(fc["first_bar"], first);
    assert_eq!(fc["last_bar"], last);
    assert_eq!(fc["columns"], serde_json::json!(["close"]));
}

/// The drift table of a failed `--check`, too wide for the screen, left out its last column,
/// `Relative` — how far each metric moved, what a failed gate must show — first. Now `Stored` (the
/// playbook file holds it) goes first, then `Fresh`.
#[test]
fn a_narrow_drift_table_keeps_the_metric_and_how_far_it_moved() {
    let home = bundled_home();
    let h = home.path();
    let pb = searched(h, "pb.toml");
    // Two stored metrics nudged by a millionth (a build that computes them differently).
    rewrite(&pb, |doc| {
        let m = table(doc, "metrics");
        for key in ["buy_hold_return_pct", "volatility_ann_pct"] {
            let v = m[key].as_float().unwrap();
            m.insert(key.into(), (v * (1.0 + 1e-6)).into());
        }
    });
    let out = flowrex(h)
        .env("COLUMNS", "60")
        .args(["backtest", "--playbook", p(&pb), "--check"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let text = String::from_utf8(out.stdout).unwrap();
    let header = text
        .lines()
        .find(|l| l.contains("Metric"))
        .unwrap_or_else(|| panic!("no table: {text}"));
    assert!(
        header.contains("Relative") && !header.contains("Stored"),
        "{text}"
    );
    assert!(
        text.contains("left out to fit 60 columns: Stored"),
        "{text}"
    );
    let table = text
        .lines()
        .filter(|l| !l.contains("check FAILED") && !l.contains("left out"));
    assert!(
        table.clone().count() > 3 && table.clone().all(|l| l.chars().count() <= 60),
        "{text}"
    );
}

/// `--help` into a pipe (no terminal, no `$COLUMNS`) was wrapped at clap's 100 columns; it now fits
/// 80, as tables do there.
#[test]
fn help_into_a_pipe_fits_80_columns() {
    let home = bundled_home();
    for args in [
        &["--help"][..],
        &["optimize", "--help"],
        &["backtest", "--help"],
        &["report", "optimize", "--help"],
    ] {
        let out = flowrex(home.path())
            .env_remove("COLUMNS")
            .args(args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0));
        let text = String::from_utf8(out.stdout).unwrap();
        let wide: Vec<&str> = text.lines().filter(|l| l.chars().count() > 80).collect();
        assert!(wide.is_empty(), "{args:?}: {wide:#?}");
    }
}

/// [`grid`] searched into the playbook `name` in `home`.
fn searched(home: &Path, name: &str) -> std::path::PathBuf {
    let pb = home.join(name);
    let out = flowrex(home)
        .args(grid())
        .args(["--quiet", "--out", p(&pb)])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    pb
}
