//! `--metrics-file PATH.prom` on `optimize` and `fetch`: node_exporter's textfile format (HELP and TYPE
//! once per name before its samples, gauges, `flowrex_` names, no sample timestamps), written
//! atomically, a failed run keeping the last success time; checked by `promtool check metrics` too when
//! the Debian `prometheus` package is installed (CI installs it).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::support::{
    SMA_GOOG, bundled_home, command, empty_home, optimize_small, run, skip_or_fail,
};

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// Parses a textfile as the exposition format defines it, asserting its rules on the way, into
/// `name{labels}` → value.
fn parse(text: &str) -> BTreeMap<String, f64> {
    let mut samples = BTreeMap::new();
    let mut help: Option<String> = None;
    let mut typed: Option<String> = None;
    let mut seen_names = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let name = rest.split(' ').next().unwrap().to_string();
            assert!(!seen_names.contains(&name), "HELP twice for {name}");
            seen_names.push(name.clone());
            help = Some(name);
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap();
            assert_eq!(Some(name), help.as_deref(), "TYPE without HELP: {line}");
            assert_eq!(kind, "gauge", "{line}");
            typed = Some(name.to_string());
            continue;
        }
        assert!(!line.starts_with('#'), "unexpected comment {line}");
        let (series, value) = match line.rfind('}') {
            Some(i) => (&line[..=i], line[i + 1..].trim_start()),
            None => line.split_once(' ').unwrap(),
        };
        let name = series.split('{').next().unwrap();
        assert!(name.starts_with("flowrex_"), "{line}");
        assert_eq!(
            Some(name),
            typed.as_deref(),
            "sample before its TYPE: {line}"
        );
        // One value, no timestamp after it.
        assert!(!value.contains(' '), "a sample timestamp or junk: {line}");
        let v: f64 = value.parse().unwrap_or_else(|_| panic!("value of {line}"));
        assert!(
            samples.insert(series.to_string(), v).is_none(),
            "duplicate {line}"
        );
    }
    assert!(text.ends_with('\n'));
    samples
}

/// `promtool check metrics` of `path`, when promtool is installed.
fn promtool(path: &Path) {
    let out = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::fs::File::open(path).unwrap())
        .output();
    match out {
        Ok(o) => assert!(
            o.status.success(),
            "promtool: {}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        ),
        Err(_) => skip_or_fail(
            "promtool check metrics",
            "promtool is not on PATH",
            "install the Debian package `prometheus`",
        ),
    }
}

/// Only `keep` in `dir`: no temp file left behind.
fn only_file(dir: &Path, keep: &str) {
    let names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, [keep]);
}

#[test]
fn optimize_writes_gauges_and_a_failed_run_keeps_the_last_success() {
    let home = bundled_home();
    let h = home.path();
    let prom = h.join("collector/optimize.prom");
    let out = h.join("pb.toml");
    let args = optimize_small(&out, &["--metrics-file", prom.to_str().unwrap()]);
    let before = now();
    let r = run(h, &args);
    let after = now();
    assert_eq!(r.code, 0, "{}", r.stderr);
    only_file(&h.join("collector"), "optimize.prom");
    let m = parse(&std::fs::read_to_string(&prom).unwrap());
    let l = "{playbook=\"pb\"}";
    let last = m[&format!("flowrex_optimize_last_success_timestamp_seconds{l}")];
    assert!(
        before - 1.0 <= last && last <= after + 1.0,
        "{before} {last} {after}"
    );
    // fast 5..10 × slow 20,30: 6 × 2 = 12 candidates.
    assert_eq!(m[&format!("flowrex_optimize_candidates{l}")], 12.0);
    assert_eq!(m[&format!("flowrex_optimize_last_run_success{l}")], 1.0);
    let duration = m[&format!("flowrex_optimize_duration_seconds{l}")];
    assert!(duration > 0.0 && duration <= after - before, "{duration}");
    let t: toml::Table = toml::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(
        m["flowrex_optimize_best_objective{playbook=\"pb\",objective=\"sharpe\"}"],
        t["top"][0]["objective"].as_float().unwrap()
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&prom).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o644, "the collector must be able to read it");
    }
    promtool(&prom);

    // The playbook is promoted, so the next run is refused: the file says so and keeps the last success.
    let text = std::fs::read_to_string(&out).unwrap();
    std::fs::write(
        &out,
        text.replacen("status = \"candidate\"", "status = \"active\"", 1),
    )
    .unwrap();
    let r = run(h, &args);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let m = parse(&std::fs::read_to_string(&prom).unwrap());
    assert_eq!(
        m[&format!("flowrex_optimize_last_success_timestamp_seconds{l}")],
        last
    );
    assert_eq!(m[&format!("flowrex_optimize_last_run_success{l}")], 0.0);
    assert!(!m.contains_key(&format!("flowrex_optimize_candidates{l}")));
    promtool(&prom);
}

#[test]
fn fetch_writes_rows_added_per_symbol() {
    let home = empty_home();
    let h = home.path();
    let prom = h.join("fetch.prom");
    let args = [
        "--quiet",
        "fetch",
        "--provider",
        "synthetic",
        "--bars",
        "100",
        "--symbol",
        "SYN",
        "--interval",
        "1h",
        "--metrics-file",
        prom.to_str().unwrap(),
    ];
    let r = run(h, &args);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let m = parse(&std::fs::read_to_string(&prom).unwrap());
    let s = "{provider=\"synthetic\",interval=\"1h\",symbol=\"SYN\"}";
    assert_eq!(m[&format!("flowrex_fetch_rows_added{s}")], 100.0);
    assert_eq!(m[&format!("flowrex_fetch_rows{s}")], 100.0);
    assert_eq!(
        m["flowrex_fetch_symbols_failed{provider=\"synthetic\",interval=\"1h\"}"],
        0.0
    );
    promtool(&prom);
    // The same bars again: nothing added, 100 stored.
    assert_eq!(run(h, &args).code, 0);
    let m = parse(&std::fs::read_to_string(&prom).unwrap());
    assert_eq!(m[&format!("flowrex_fetch_rows_added{s}")], 0.0);
    assert_eq!(m[&format!("flowrex_fetch_rows{s}")], 100.0);
    // Without --provider the flag has nothing to report: a usage error.
    let r = run(
        h,
        &["fetch", "--list", "--metrics-file", prom.to_str().unwrap()],
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
}

#[test]
fn a_remote_fetch_reports_each_symbol_and_a_failure_keeps_the_last_success() {
    use mockito::{Matcher, Server};
    let home = empty_home();
    let h = home.path();
    let mut server = Server::new();
    let url = server.url();
    // Three closed daily bars from 2024-01-01 (1_704_067_200_000 ms) for GOOD; BAD is refused.
    let day = 86_400_000i64;
    let jan1 = 1_704_067_200_000i64;
    let rows: Vec<serde_json::Value> = (0..3)
        .map(|i| {
            let t = jan1 + i * day;
            serde_json::json!([
                t,
                "1",
                "2",
                "0.5",
                "1.5",
                "10",
                t + day - 1,
                "1",
                1,
                "0",
                "0",
                "0"
            ])
        })
        .collect();
    let _good = server
        .mock("GET", "/api/v3/klines")
        .match_query(Matcher::UrlEncoded("symbol".into(), "GOOD".into()))
        .with_header("content-type", "application/json")
        .with_body(serde_json::Value::Array(rows).to_string())
        .create();
    let _bad = server
        .mock("GET", "/api/v3/klines")
        .match_query(Matcher::UrlEncoded("symbol".into(), "BAD".into()))
        .with_status(400)
        .with_body(r#"{"code":-1121,"msg":"Invalid symbol."}"#)
        .create();
    let prom = h.join("fetch.prom");
    let fetch = |symbols: &str| {
        run(
            h,
            &[
                "--quiet",
                "fetch",
                "--provider",
                "binance",
                "--symbol",
                symbols,
                "--interval",
                "1d",
                "--start",
                "2024-01-01",
                "--end",
                "2024-01-03",
                "--base-url",
                &url,
                "--metrics-file",
                prom.to_str().unwrap(),
            ],
        )
    };
    let before = now();
    assert_eq!(fetch("GOOD").code, 0);
    let m = parse(&std::fs::read_to_string(&prom).unwrap());
    let run_labels = "{provider=\"binance\",interval=\"1d\"}";
    let last = m[&format!("flowrex_fetch_last_success_timestamp_seconds{run_labels}")];
    assert!(last >= before - 1.0);
    promtool(&prom);

    let r = fetch("GOOD,BAD");
    assert_eq!(r.code, 1, "{}", r.stderr);
    let m = parse(&std::fs::read_to_string(&prom).unwrap());
    assert_eq!(
        m[&format!("flowrex_fetch_last_success_timestamp_seconds{run_labels}")],
        last
    );
    assert_eq!(m[&format!("flowrex_fetch_symbols{run_labels}")], 2.0);
    assert_eq!(m[&format!("flowrex_fetch_symbols_failed{run_labels}")], 1.0);
    let good = "{provider=\"binance\",interval=\"1d\",symbol=\"GOOD\"}";
    // Stored by the first run: nothing new now, 3 bars, the last one opening 2024-01-03.
    assert_eq!(m[&format!("flowrex_fetch_rows_added{good}")], 0.0);
    assert_eq!(m[&format!("flowrex_fetch_rows{good}")], 3.0);
    assert_eq!(
        m[&format!("flowrex_fetch_last_bar_timestamp_seconds{good}")],
        ((jan1 + 2 * day) / 1000) as f64
    );
    let bad = "{provider=\"binance\",interval=\"1d\",symbol=\"BAD\"}";
    assert_eq!(m[&format!("flowrex_fetch_rows_added{bad}")], 0.0);
    promtool(&prom);
}

#[test]
fn a_metrics_file_in_the_store_or_over_the_playbook_is_refused_before_any_work() {
    let home = bundled_home();
    let h = home.path();
    let goog = h.join("data/GOOG/1d.parquet");
    let before = std::fs::read(&goog).unwrap();
    let pb = h.join("pb.toml");
    let optimize = |metrics: &Path| {
        run(
            h,
            &command(
                &SMA_GOOG,
                &[
                    "--param",
                    "fast=5..10:5",
                    "--param",
                    "slow=20..30:10",
                    "--out",
                    pb.to_str().unwrap(),
                    "--metrics-file",
                    metrics.to_str().unwrap(),
                ],
            ),
        )
    };
    let r = optimize(&goog);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("--metrics-file") && r.stderr.contains("inside the candle store"),
        "{}",
        r.stderr
    );
    let r = optimize(&pb);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("--metrics-file"), "{}", r.stderr);
    assert!(!pb.exists(), "the search ran");
    let csv = crate::support::fixture("goog_smacross_10_20.trades.csv");
    let r = run(
        h,
        &[
            "fetch",
            "--provider",
            "csv",
            "--file",
            csv.to_str().unwrap(),
            "--symbol",
            "X",
            "--interval",
            "1d",
            "--metrics-file",
            goog.to_str().unwrap(),
        ],
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("inside the candle store"), "{}", r.stderr);
    assert_eq!(
        std::fs::read(&goog).unwrap(),
        before,
        "the candles were replaced"
    );
}

/// The one sample of metric `name` in a parsed file whose labels contain `label` (e.g.
/// `playbook="goog"`; "" for any).
fn value(m: &BTreeMap<String, f64>, name: &str, label: &str) -> f64 {
    let hits: Vec<f64> = m
        .iter()
        .filter(|(k, _)| {
            k.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with('{') && rest.contains(label))
        })
        .map(|(_, v)| *v)
        .collect();
    assert_eq!(hits.len(), 1, "{name} {label} in {m:?}");
    hits[0]
}

#[test]
fn paper_run_writes_gauges_and_only_a_clean_run_moves_the_last_success() {
    let home = bundled_home();
    let h = home.path();
    let pb = h.join("playbooks/goog.toml");
    let ok = |args: &[&str]| {
        let r = run(h, args);
        assert_eq!(r.code, 0, "{args:?}: {}", r.stderr);
        r
    };
    ok(&command(
        &SMA_GOOG,
        &[
            "--param",
            "fast=5..10:5",
            "--param",
            "slow=20..40:20",
            "--out",
            pb.to_str().unwrap(),
        ],
    ));
    ok(&[
        "playbooks",
        "set-status",
        "goog",
        "active",
        "--note",
        "paper",
    ]);
    // A protective stop, so entries are sized and submitted rather than refused with "no stop".
    let text = std::fs::read_to_string(&pb).unwrap();
    std::fs::write(&pb, format!("{text}\n[paper]\nstop_pct = 3.0\n")).unwrap();
    ok(&["paper-trade", "mode", "autonomous", "--reason", "test"]);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("paper.prom");
    let m = file.to_str().unwrap();

    let before = now();
    ok(&["paper-trade", "run", "--metrics-file", m]);
    let after = now();
    let first = parse(&std::fs::read_to_string(&file).unwrap());
    promtool(&file);
    only_file(dir.path(), "paper.prom");
    let json = |args: &[&str]| -> serde_json::Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        crate::support::json(&ok(&all))
    };
    let cycles = json(&["paper-trade", "cycles", "--last", "100000"])["cycles"]
        .as_array()
        .unwrap()
        .len();
    let fills = json(&["paper-trade", "fills", "--limit", "100000"])["fills"]
        .as_array()
        .unwrap()
        .len();
    let g = |name: &str| value(&first, name, "playbook=\"goog\"");
    assert_eq!(g("flowrex_paper_run_cycles"), cycles as f64);
    assert!(fills > 0, "the stop should let entries fill");
    assert_eq!(value(&first, "flowrex_paper_run_fills", ""), fills as f64);
    assert_eq!(
        g("flowrex_paper_run_orders_submitted") + g("flowrex_paper_run_entries_denied"),
        g("flowrex_paper_run_entries")
    );
    assert_eq!(value(&first, "flowrex_paper_run_failed", ""), 0.0);
    // Every gauge names the home (two homes, two files, no clash in the collector).
    let home_label = format!("home=\"{}\"", std::path::absolute(h).unwrap().display());
    assert!(first.keys().all(|k| k.contains(&home_label)), "{first:?}");
    assert_eq!(value(&first, "flowrex_paper_run_halted", ""), 0.0);
    let success = value(
        &first,
        "flowrex_paper_run_last_success_timestamp_seconds",
        "",
    );
    assert!(
        before - 1.0 <= success && success <= after + 1.0,
        "{before} {success} {after}"
    );

    // Nothing new: still a success, in which the playbook ran no cycle.
    ok(&["paper-trade", "run", "--metrics-file", m]);
    let idle = parse(&std::fs::read_to_string(&file).unwrap());
    assert!(
        value(
            &idle,
            "flowrex_paper_run_last_success_timestamp_seconds",
            ""
        ) >= success
    );
    assert_eq!(
        value(&idle, "flowrex_paper_run_cycles", "playbook=\"goog\""),
        0.0
    );
    assert_eq!(value(&idle, "flowrex_paper_run_fills", ""), 0.0);

    // A halted run (exit 3) and a failed one (exit 1) keep the last success time.
    let kept = value(
        &idle,
        "flowrex_paper_run_last_success_timestamp_seconds",
        "",
    );
    ok(&["paper-trade", "halt", "--reason", "test"]);
    assert_eq!(run(h, &["paper-trade", "run", "--metrics-file", m]).code, 3);
    let halted = parse(&std::fs::read_to_string(&file).unwrap());
    assert_eq!(value(&halted, "flowrex_paper_run_halted", ""), 1.0);
    assert_eq!(
        value(
            &halted,
            "flowrex_paper_run_last_success_timestamp_seconds",
            ""
        ),
        kept
    );
    let r = run(
        h,
        &[
            "paper-trade",
            "run",
            "--playbook",
            "missing",
            "--metrics-file",
            m,
        ],
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    let failed = parse(&std::fs::read_to_string(&file).unwrap());
    assert_eq!(value(&failed, "flowrex_paper_run_failed", ""), 1.0);
    assert_eq!(
        value(
            &failed,
            "flowrex_paper_run_last_success_timestamp_seconds",
            ""
        ),
        kept
    );
    promtool(&file);

    // Never into the store.
    let goog = h.join("data/GOOG/1d.parquet");
    let r = run(
        h,
        &[
            "paper-trade",
            "run",
            "--metrics-file",
            goog.to_str().unwrap(),
        ],
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("inside the candle store"), "{}", r.stderr);
}
