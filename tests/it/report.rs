//! `flowrex report` and the `--report` shortcuts end to end on the bundled data: the pages parse under
//! the strict checker, load nothing from elsewhere, and show the numbers of `backtest --json` and of
//! the optimizer's results file in the field table's formats; the shortcuts write the same pages; bad
//! inputs (data gone, a results file of another search, no trades) give a clear error or an explicit
//! notice; and every kind of page renders in headless Chromium.

use std::path::{Path, PathBuf};

use arrow_array::{Array, BooleanArray, Float64Array, Int64Array, UInt64Array};
use flowrex::metrics::fields::{FIELDS, MetricValue, Text};

use crate::report_browser::{check_in_browser, chromium_available};
use crate::support::{
    BACKTEST_SMA_GOOG, Run, SMA_GOOG, bundled_home, command, flowrex, json, p, parquet_batches,
    readme_grid, write,
};

#[path = "../../src/report/strict.rs"]
mod strict;
use strict::{El, parse_strict};

const GOOG: [&str; 14] = [
    "--strategy",
    "sma_cross",
    "--symbol",
    "GOOG",
    "--interval",
    "1d",
    "--param",
    "fast=10",
    "--param",
    "slow=20",
    "--commission",
    "0.002",
    "--size",
    "all",
];

fn run(home: &Path, args: &[&str]) -> Run {
    Run::of(flowrex(home).arg("--quiet").args(args))
}

fn ok(home: &Path, args: &[&str]) -> Run {
    let r = run(home, args);
    assert_eq!(r.code, 0, "flowrex {args:?}: {}{}", r.stdout, r.stderr);
    r
}

/// Reads a page and checks it under the strict parser and for external references: no element has
/// a `src`, `href` or `xlink:href` at all, the one style sheet has no `url(` or `@import`, and no
/// `<script>`, `<link>` or `<iframe>` exists.
fn page(path: &Path) -> (String, El) {
    let html = std::fs::read_to_string(path).unwrap();
    let root = parse_strict(&html).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut refs = Vec::new();
    root.find(
        &|e| {
            e.attrs
                .iter()
                .any(|(k, _)| ["src", "href", "xlink:href", "srcset"].contains(&k.as_str()))
        },
        &mut refs,
    );
    assert!(
        refs.is_empty(),
        "{}: {} references",
        path.display(),
        refs.len()
    );
    for tag in ["script", "link", "iframe", "object", "img"] {
        assert!(root.all(tag).is_empty(), "{}: <{tag}>", path.display());
    }
    let styles = root.all("style");
    assert_eq!(styles.len(), 1);
    let css = styles[0].text();
    assert!(!css.contains("url(") && !css.contains("@import") && !css.contains("@font-face"));
    flowrex::report::check_self_contained(&html).unwrap();
    (html, root)
}

fn section<'a>(root: &'a El, id: &str) -> &'a El {
    root.all("section")
        .into_iter()
        .find(|s| s.attr("id") == Some(id))
        .unwrap_or_else(|| panic!("no section {id}"))
}

fn section_ids(root: &El) -> Vec<String> {
    root.all("section")
        .iter()
        .map(|s| s.attr("id").unwrap().to_string())
        .collect()
}

/// The body rows of the tables of a section, as cell texts.
fn rows(root: &El, id: &str) -> Vec<Vec<String>> {
    section(root, id)
        .all("tr")
        .iter()
        .map(|r| r.all("td").iter().map(|c| c.text()).collect::<Vec<_>>())
        .filter(|r| !r.is_empty())
        .collect()
}

fn notices(root: &El) -> Vec<String> {
    root.all("p")
        .iter()
        .filter(|p| p.attr("class") == Some("notice"))
        .map(|p| p.text())
        .collect()
}

/// `x` with 6 decimals, trailing zeros and a trailing point removed (how tables write prices).
fn six(x: f64) -> String {
    let s = format!("{x:.6}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

#[test]
fn backtest_page_shows_the_numbers_of_backtest_json() {
    let home = bundled_home();
    let h = home.path();
    let mut args = vec!["--json", "backtest"];
    args.extend(GOOG);
    let bt = json(&ok(h, &args));
    let out = h.join("out/goog.html");
    let mut args = vec!["--json", "report", "backtest"];
    args.extend(GOOG);
    args.extend(["--out", p(&out)]);
    let written = json(&ok(h, &args));
    // the printed path is absolute and names the file written
    let printed = PathBuf::from(written["report_file"].as_str().unwrap());
    assert!(printed.is_absolute(), "{printed:?}");
    assert_eq!(printed.canonicalize().unwrap(), out.canonicalize().unwrap());
    let (html, root) = page(&out);
    assert_eq!(written["bytes"].as_u64(), Some(html.len() as u64));
    assert!(html.len() < 300_000, "GOOG report is {} bytes", html.len());
    assert_eq!(
        section_ids(&root),
        [
            "summary",
            "equity",
            "drawdown",
            "price-and-trades",
            "trade-returns-over-time",
            "monthly-returns",
            "distribution-of-trade-returns",
            "largest-losses",
            "trades"
        ]
    );

    // Every metric the text table shows, keyed by its JSON name, is the JSON value in the field
    // table's format.
    let metrics = &bt["metrics"];
    let kv: Vec<(String, String)> = root
        .all("tr")
        .into_iter()
        .filter_map(|r| Some((r.attr("data-key")?.to_string(), r.all("td")[0].text())))
        .collect();
    let shown: Vec<_> = FIELDS.iter().filter(|f| f.text != Text::Hidden).collect();
    assert_eq!(kv.len(), shown.len());
    for (f, (key, cell)) in shown.iter().zip(&kv) {
        assert_eq!(key, f.key);
        let v = &metrics[f.key];
        let value = if f.is_int() {
            MetricValue::Int(v.as_i64().unwrap())
        } else {
            MetricValue::Float(v.as_f64().unwrap_or(f64::NAN))
        };
        assert_eq!(*cell, f.format(value).unwrap(), "metric {key}");
    }
    // spot checks written out: 462.64 % return, Sharpe 0.601, 93 trades, 3116 days
    let cell = |k: &str| kv.iter().find(|(key, _)| key == k).unwrap().1.clone();
    assert_eq!(
        (cell("return_pct"), cell("sharpe"), cell("num_trades")),
        ("462.64".into(), "0.601".into(), "93".into())
    );
    assert_eq!(cell("duration_days"), "3116 days");

    // The trade table: the first and last 25 of the JSON's trades, with its prices, P&L and returns.
    let trades = bt["trades"].as_array().unwrap();
    let table = rows(&root, "trades");
    assert_eq!(table.len(), 25 + 1 + 25);
    assert_eq!(
        table[25],
        [format!("… {} rows omitted …", trades.len() - 50)]
    );
    for (row, t) in table[..25]
        .iter()
        .chain(&table[26..])
        .zip(trades[..25].iter().chain(&trades[trades.len() - 25..]))
    {
        let num = |k: &str| t[k].as_f64().unwrap();
        assert_eq!(row[1], t["side"].as_str().unwrap());
        assert_eq!(row[2], t["entry_time"].as_str().unwrap()[..10]);
        assert_eq!(row[3], t["exit_time"].as_str().unwrap()[..10]);
        assert_eq!(row[4], six(num("entry_price")));
        assert_eq!(row[5], six(num("exit_price")));
        assert_eq!(row[7], format!("{:.2}", num("pnl")));
        assert_eq!(row[8], format!("{:.2}", num("return_pct")));
        assert_eq!(row[9], t["exit_reason"].as_str().unwrap());
    }
    // The largest losses: the five most negative P&Ls of the JSON, worst first.
    let mut pnl: Vec<f64> = trades.iter().map(|t| t["pnl"].as_f64().unwrap()).collect();
    pnl.sort_by(f64::total_cmp);
    let losses: Vec<String> = rows(&root, "largest-losses")
        .iter()
        .map(|r| r[7].clone())
        .collect();
    let want: Vec<String> = pnl[..5].iter().map(|v| format!("{v:.2}")).collect();
    assert_eq!(losses, want);
    // The position still open at the end is named with its size and entry price.
    let open = &bt["open_trade"];
    let note = notices(&root).join(" ");
    let size = open["size"].as_f64().unwrap().abs();
    assert!(
        note.contains(&format!("{size} units"))
            && note.contains(&six(open["entry_price"].as_f64().unwrap())),
        "{note}"
    );
}

#[test]
fn shortcuts_and_playbooks_write_the_same_backtest_page() {
    let home = bundled_home();
    let h = home.path();
    let from_flags = h.join("a.html");
    let mut args = vec!["report", "backtest"];
    args.extend(GOOG);
    args.extend(["--out", p(&from_flags)]);
    let r = ok(h, &args);
    let abs = std::path::absolute(&from_flags).unwrap();
    assert_eq!(
        r.stdout.trim(),
        format!(
            "report written to {} ({} KB)",
            abs.display(),
            std::fs::metadata(&from_flags).unwrap().len().div_ceil(1024)
        )
    );
    // backtest --report: the same page, and the JSON says where
    let shortcut = h.join("b.html");
    let mut args = vec!["--json", "backtest"];
    args.extend(GOOG);
    args.extend(["--report", p(&shortcut)]);
    let bt = json(&ok(h, &args));
    assert_eq!(
        bt["report_file"].as_str(),
        Some(std::path::absolute(&shortcut).unwrap().to_str().unwrap())
    );
    let a = std::fs::read(&from_flags).unwrap();
    assert_eq!(a, std::fs::read(&shortcut).unwrap());
    // the playbook of an optimize whose best is fast=10 slow=20: the same run, the same page, by
    // default under <home>/reports/<playbook>-backtest.html
    let pb = h.join("playbooks/best.toml");
    ok(
        h,
        &command(
            &SMA_GOOG,
            &[
                "--param",
                "fast=10",
                "--param",
                "slow=20..30:10",
                "--commission",
                "0.002",
                "--out",
                p(&pb),
            ],
        ),
    );
    let r = ok(h, &["report", "backtest", "--playbook", p(&pb)]);
    let default = h.join("reports/best-backtest.html");
    assert!(
        r.stdout
            .contains(&std::path::absolute(&default).unwrap().display().to_string())
    );
    assert_eq!(a, std::fs::read(&default).unwrap());
    // without --json, backtest --report prints its table, then the report line
    let mut args = vec!["backtest"];
    args.extend(GOOG);
    args.extend(["--report", p(&shortcut)]);
    let text = ok(h, &args).stdout;
    assert!(
        text.trim_end().ends_with("KB)") && text.contains("Sharpe Ratio"),
        "{text}"
    );
}

/// The README's grid searched at commission 0.002 for `objective`, its playbook written to `out`,
/// then a test's own `rest`.
fn readme_grid_at_cost<'a>(objective: &'a str, out: &'a Path, rest: &[&'a str]) -> Vec<&'a str> {
    let own = [
        "--objective",
        objective,
        "--commission",
        "0.002",
        "--out",
        p(out),
    ];
    [&readme_grid()[..], &own, rest].concat()
}

/// The search of the README on GOOG with its results file, in a fresh home: (home, playbook,
/// results).
fn readme_search() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let home = bundled_home();
    let (pb, res) = (
        home.path().join("pb/goog.toml"),
        home.path().join("goog.parquet"),
    );
    ok(
        home.path(),
        &readme_grid_at_cost("sharpe", &pb, &["--results", p(&res)]),
    );
    (home, pb, res)
}

/// One row of a results file, read with arrow.
struct ResultRow {
    params: (i64, i64),
    objective: f64,
    ranked: bool,
    trades: i64,
    candidate: u64,
}

/// Every row of the results file of a (fast, slow) search.
fn results(path: &Path) -> Vec<ResultRow> {
    let mut out = Vec::new();
    for b in parquet_batches(path) {
        let col = |n: &str| b.column_by_name(n).unwrap().clone();
        let (fast, slow, obj, ranked, trades, cand) = (
            col("fast"),
            col("slow"),
            col("objective"),
            col("ranked"),
            col("num_trades"),
            col("candidate"),
        );
        let i64s = |a: &dyn Array| a.as_any().downcast_ref::<Int64Array>().unwrap().clone();
        let (fast, slow, trades) = (i64s(&fast), i64s(&slow), i64s(&trades));
        let obj = obj.as_any().downcast_ref::<Float64Array>().unwrap().clone();
        let ranked = ranked
            .as_any()
            .downcast_ref::<BooleanArray>()
            .unwrap()
            .clone();
        let cand = cand.as_any().downcast_ref::<UInt64Array>().unwrap().clone();
        for r in 0..b.num_rows() {
            out.push(ResultRow {
                params: (fast.value(r), slow.value(r)),
                objective: obj.value(r),
                ranked: ranked.value(r),
                trades: trades.value(r),
                candidate: cand.value(r),
            });
        }
    }
    out
}

#[test]
fn optimize_page_shows_the_results_file() {
    let (home, pb, res) = readme_search();
    let h = home.path();
    let out = h.join("opt.html");
    ok(
        h,
        &[
            "report",
            "optimize",
            "--playbook",
            p(&pb),
            "--results",
            p(&res),
            "--out",
            p(&out),
        ],
    );
    let (_, root) = page(&out);
    assert_eq!(
        section_ids(&root),
        [
            "summary",
            "objective-heatmap",
            "top-candidates",
            "parameter-stability",
            "best-candidate"
        ]
    );
    let rows_all = results(&res);
    assert_eq!(rows_all.len(), 175);
    // the top table: ranked rows by objective, ties to the lower candidate index
    let mut ranked: Vec<&ResultRow> = rows_all.iter().filter(|r| r.ranked).collect();
    ranked.sort_by(|a, b| {
        b.objective
            .total_cmp(&a.objective)
            .then(a.candidate.cmp(&b.candidate))
    });
    let top = rows(&root, "top-candidates");
    assert_eq!(top.len(), 20);
    for (i, (row, want)) in top.iter().zip(&ranked).enumerate() {
        let (f, s) = want.params;
        assert_eq!(
            row[..5],
            [
                (i + 1).to_string(),
                f.to_string(),
                s.to_string(),
                six(want.objective),
                want.trades.to_string()
            ],
            "rank {}",
            i + 1
        );
    }
    // stability around the best (fast=10, slow=20): fast 5 and 15, slow 30; slow=10 breaks the
    // constraint, so it was never evaluated
    let obj = |f: i64, s: i64| {
        rows_all
            .iter()
            .find(|r| r.params == (f, s))
            .unwrap()
            .objective
    };
    let best = obj(10, 20);
    let stab = rows(&root, "parameter-stability");
    let want = [
        ("fast", "−1", "5", obj(5, 20)),
        ("fast", "+1", "15", obj(15, 20)),
        ("slow", "+1", "30", obj(10, 30)),
    ];
    for (name, step, value, o) in want {
        let row = stab
            .iter()
            .find(|r| r[0] == name && r[1] == step)
            .unwrap_or_else(|| panic!("{name} {step}"));
        assert_eq!(row[2], value);
        assert_eq!(row[3], six(o));
        assert_eq!(row[4], format!("{:+.1}%", (o - best) / best.abs() * 100.0));
    }
    let slow_down = stab
        .iter()
        .find(|r| r[0] == "slow" && r[1] == "−1")
        .unwrap();
    assert_eq!(slow_down[3], "not evaluated");
    // each neighbour falls more than 10 % below the best: a spike, said in the summary too
    let drops: Vec<f64> = [obj(5, 20), obj(15, 20), obj(10, 30)]
        .iter()
        .map(|o| (best - o) / best * 100.0)
        .collect();
    assert!(drops.iter().all(|d| *d > 10.0), "{drops:?}");
    let summary = section(&root, "summary").text();
    assert!(
        summary.contains("spike: 3 of 3 neighbours fall more than 10% below the best"),
        "{summary}"
    );
    assert!(
        summary.contains("Best candidate: fast=10, slow=20 with sharpe"),
        "{summary}"
    );
    // the heatmap: a cell per grid point (10 × 20), the 175 feasible ones with their value
    let titles: Vec<String> = section(&root, "objective-heatmap")
        .all("title")
        .iter()
        .map(|t| t.text())
        .collect();
    assert!(
        titles.contains(&format!("fast=10, slow=20: {}", six(best))),
        "{titles:?}"
    );
    let cells: Vec<&String> = titles.iter().filter(|t| t.starts_with("fast=")).collect();
    assert_eq!(cells.len(), 200);
    assert_eq!(
        cells.iter().filter(|t| t.ends_with(": no value")).count(),
        200 - 175
    );
    // --x/--y swap the axes; an unknown name is a usage error
    let swapped = h.join("swapped.html");
    ok(
        h,
        &[
            "report",
            "optimize",
            "--playbook",
            p(&pb),
            "--results",
            p(&res),
            "--x",
            "slow",
            "--y",
            "fast",
            "--heat",
            "max",
            "--out",
            p(&swapped),
        ],
    );
    assert!(
        page(&swapped)
            .1
            .text()
            .contains("Objective sharpe over slow × fast")
    );
    let bad = run(
        h,
        &["report", "optimize", "--playbook", p(&pb), "--x", "fsat"],
    );
    assert_eq!(bad.code, 2, "{}", bad.stderr);
    assert!(
        bad.stderr.contains("--x fsat: not a searched parameter"),
        "{}",
        bad.stderr
    );
    assert!(
        bad.stderr.contains("searched: fast, slow"),
        "{}",
        bad.stderr
    );
}

#[test]
fn optimize_page_without_results_and_the_optimize_shortcut() {
    let (home, pb, _) = readme_search();
    let h = home.path();
    // without --results: the playbook's top 10 and a notice saying what is missing
    let r = ok(h, &["report", "optimize", "--playbook", p(&pb)]);
    let default = h.join("reports/goog-optimize.html");
    assert!(
        r.stdout
            .contains(&std::path::absolute(&default).unwrap().display().to_string())
    );
    let (_, root) = page(&default);
    assert_eq!(rows(&root, "top-candidates").len(), 10);
    assert!(
        notices(&root)[0].contains("pass --results FILE"),
        "{:?}",
        notices(&root)
    );
    // optimize --report without --results: the page of every candidate, no temporary file left
    let dir = h.join("pages");
    let out = dir.join("sweep.html");
    let again = h.join("pb/again.toml");
    let r = json(&ok(
        h,
        &command(
            &["--json"],
            &readme_grid_at_cost("sharpe", &again, &["--report", p(&out)]),
        ),
    ));
    assert_eq!(
        r["report_file"].as_str(),
        Some(std::path::absolute(&out).unwrap().to_str().unwrap())
    );
    let left: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(left, ["sweep.html"]);
    let (_, full) = page(&out);
    assert_eq!(rows(&full, "top-candidates").len(), 20);
    assert!(notices(&full).is_empty());
}

#[test]
fn bad_inputs_are_clear_errors_or_notices() {
    let (home, pb, res) = readme_search();
    let h = home.path();
    let reports = h.join("reports");
    // a results file of another search: other ranges (fewer candidates) …
    let other = h.join("other.parquet");
    ok(
        h,
        &command(
            &SMA_GOOG,
            &[
                "--param",
                "fast=5..20:5",
                "--param",
                "slow=30..60:10",
                "--commission",
                "0.002",
                "--out",
                p(&h.join("pb/other.toml")),
                "--results",
                p(&other),
            ],
        ),
    );
    let r = run(
        h,
        &[
            "report",
            "optimize",
            "--playbook",
            p(&pb),
            "--results",
            p(&other),
        ],
    );
    assert_eq!(r.code, 1);
    assert!(
        r.stderr
            .contains("it holds 16 candidates but the playbook's search evaluated 175")
            && r.stderr.contains("the results file is from another search"),
        "{}",
        r.stderr
    );
    // … the same grid over other bars …
    let later = h.join("later.parquet");
    ok(
        h,
        &command(
            &readme_grid(),
            &[
                "--commission",
                "0.002",
                "--start",
                "2006-01-01",
                "--out",
                p(&h.join("pb/later.toml")),
                "--results",
                p(&later),
            ],
        ),
    );
    let r = run(
        h,
        &[
            "report",
            "optimize",
            "--playbook",
            p(&pb),
            "--results",
            p(&later),
        ],
    );
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("its backtests have bars = "),
        "{}",
        r.stderr
    );
    // … another objective (same candidates, other values) …
    let (sortino, sortino_pb) = (h.join("sortino.parquet"), h.join("pb/sortino.toml"));
    ok(
        h,
        &readme_grid_at_cost("sortino", &sortino_pb, &["--results", p(&sortino)]),
    );
    let r = run(
        h,
        &[
            "report",
            "optimize",
            "--playbook",
            p(&pb),
            "--results",
            p(&sortino),
        ],
    );
    assert_eq!(r.code, 1);
    assert!(
        r.stderr
            .contains("its candidate 21 is fast=10 slow=20 with sharpe"),
        "{}",
        r.stderr
    );
    // … or not a results file at all
    let trades = h.join("trades.parquet");
    let mut args = vec!["backtest"];
    args.extend(GOOG);
    args.extend(["--trades", p(&trades)]);
    ok(h, &args);
    let r = run(
        h,
        &[
            "report",
            "optimize",
            "--playbook",
            p(&pb),
            "--results",
            p(&trades),
        ],
    );
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("not a flowrex optimize results file"),
        "{}",
        r.stderr
    );
    let r = run(
        h,
        &[
            "report",
            "optimize",
            "--playbook",
            p(&pb),
            "--results",
            p(&pb),
        ],
    );
    assert!(
        r.stderr.contains("not a flowrex optimize results file"),
        "{}",
        r.stderr
    );
    // a playbook without [optimization] cannot make an optimization page
    let text = std::fs::read_to_string(&pb).unwrap();
    let cut = text.find("[optimization]").unwrap();
    let end = text.find("[metrics]").unwrap();
    let plain = write(
        h,
        "plain.toml",
        &format!("{}{}", &text[..cut], &text[end..]),
    );
    let r = run(
        h,
        &[
            "report",
            "optimize",
            "--playbook",
            p(&plain),
            "--results",
            p(&res),
        ],
    );
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("has no [optimization] section"),
        "{}",
        r.stderr
    );
    // --out naming a folder
    let r = run(
        h,
        &["report", "optimize", "--playbook", p(&pb), "--out", p(h)],
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(!reports.exists(), "nothing written under reports/");
    // a playbook whose data is gone: an error naming the playbook and the missing file, no page
    std::fs::remove_dir_all(h.join("data/GOOG")).unwrap();
    let r = run(h, &["report", "backtest", "--playbook", p(&pb)]);
    assert_eq!(r.code, 1);
    let line = r.stderr.trim();
    assert!(!line.contains('\n'), "{line}");
    assert!(
        line.contains(&format!(
            "{}: the playbook's data cannot be loaded",
            pb.display()
        )) && line.contains("no candles stored for GOOG 1d"),
        "{line}"
    );
    assert!(!reports.exists(), "nothing written under reports/");
}

/// A GOOG window too short for slow=50: no trade, the page says so.
fn no_trades_page(h: &Path) -> PathBuf {
    let out = h.join("none.html");
    ok(
        h,
        &[
            &["report"][..],
            &BACKTEST_SMA_GOOG,
            &[
                "--param",
                "slow=50",
                "--start",
                "2013-01-01",
                "--out",
                p(&out),
            ],
        ]
        .concat(),
    );
    out
}

#[test]
fn no_trades_is_an_explicit_section() {
    let home = bundled_home();
    let (_, root) = page(&no_trades_page(home.path()));
    assert_eq!(
        notices(&root),
        ["No trades: the strategy never entered a position in this period."]
    );
    assert!(section_ids(&root).contains(&"equity".to_string()));
    let summary = section(&root, "summary").text();
    assert!(summary.contains("No trade was closed."), "{summary}");
}

#[test]
fn every_cli_page_renders_in_chromium() {
    if !chromium_available("every_cli_page_renders_in_chromium") {
        return;
    }
    let (home, pb, res) = readme_search();
    let h = home.path();
    let goog = h.join("goog.html");
    let mut args = vec!["report", "backtest"];
    args.extend(GOOG);
    args.extend(["--out", p(&goog)]);
    ok(h, &args);
    let opt = h.join("opt.html");
    ok(
        h,
        &[
            "report",
            "optimize",
            "--playbook",
            p(&pb),
            "--results",
            p(&res),
            "--out",
            p(&opt),
        ],
    );
    let top = h.join("top.html");
    ok(
        h,
        &["report", "optimize", "--playbook", p(&pb), "--out", p(&top)],
    );
    let none = no_trades_page(h);
    for (name, path, height) in [
        ("cli-backtest-goog", &goog, 5200),
        ("cli-backtest-no-trades", &none, 2600),
        ("cli-optimize", &opt, 3000),
        ("cli-optimize-top-only", &top, 2400),
    ] {
        check_in_browser(name, &std::fs::read_to_string(path).unwrap(), height);
    }
}

// ---- Paper account and journal pages --------------------------------------------------------------

/// The headline cards of section `id`: (label, value).
fn cards(root: &El, id: &str) -> Vec<(String, String)> {
    let mut found = Vec::new();
    section(root, id).find(&|e| e.attr("class") == Some("card"), &mut found);
    found
        .iter()
        .map(|c| {
            let parts = c.all("div");
            (parts[0].text(), parts[1].text())
        })
        .collect()
}

fn card(root: &El, id: &str, label: &str) -> String {
    cards(root, id)
        .into_iter()
        .find(|c| c.0 == label)
        .unwrap_or_else(|| panic!("no card {label}"))
        .1
}

/// A bundled home whose paper account traded the GOOG playbook's closed backtest trades (93, the last
/// one closed by an exit order: the account ends flat), with the playbook in `<home>/playbooks/`; and
/// the playbook's path.
fn paper_home() -> (tempfile::TempDir, PathBuf) {
    use crate::paper_journal::{autonomous, backtest_of, drive, home_with_playbook, model};
    let (home, pb) = home_with_playbook();
    let (candles, bt) = backtest_of(home.path(), &pb);
    let mut db = autonomous(home.path());
    drive(&mut db, &model(0.0), &candles, &bt, None);
    (home, pb)
}

fn paper_pages(h: &Path, pb: &Path) -> (PathBuf, PathBuf) {
    let (paper, journal) = (h.join("paper.html"), h.join("journal.html"));
    ok(h, &["report", "paper", "--out", p(&paper)]);
    ok(
        h,
        &[
            "report",
            "journal",
            "--strategy",
            "manual",
            "--symbol",
            "GOOG",
            "--source",
            "paper",
            "--playbook",
            p(pb),
            "--max-lag",
            "0",
            "--out",
            p(&journal),
        ],
    );
    (paper, journal)
}

#[test]
fn paper_and_journal_pages_show_the_account_and_the_analysis() {
    let (home, pb) = paper_home();
    let h = home.path();
    let (paper, journal) = paper_pages(h, &pb);

    // The paper page: the numbers of `paper-trade account --json`, every fill and trade.
    let acct = json(&ok(h, &["--json", "paper-trade", "account"]))["account"].clone();
    let (_, root) = page(&paper);
    assert_eq!(
        section_ids(&root)[..3],
        ["account", "equity", "drawdown"].map(String::from)
    );
    let money = |k: &str| format!("{:.2}", acct[k].as_f64().unwrap());
    assert_eq!(card(&root, "account", "Equity"), money("equity"));
    assert_eq!(
        card(&root, "account", "Realized P&L"),
        money("realized_pnl")
    );
    assert_eq!(
        card(&root, "account", "Closed trades"),
        acct["total_trades"].to_string()
    );
    // The equity curve, re-marked from the ledger and the bars, ends at the account's equity (else
    // the page says where they part).
    assert!(
        !notices(&root)
            .iter()
            .any(|n| n.contains("equity curve ends")),
        "{:?}",
        notices(&root)
    );
    let fills = acct["fills"].as_i64().unwrap();
    // 93 round trips: 93 opening and 93 closing fills.
    assert_eq!(fills, 2 * 93);
    assert!(
        section(&root, "fills")
            .text()
            .contains(&format!("{fills} fills;")),
        "{}",
        section(&root, "fills").text()
    );
    // 25 first and 25 last fills; no open position, so no such section.
    let table = rows(&root, "fills");
    assert_eq!(table.len(), 25 + 1 + 25);
    assert_eq!(table[25], [format!("… {} rows omitted …", fills - 50)]);
    assert!(!section_ids(&root).contains(&"open-positions".to_string()));

    // The journal page: the numbers of `journal analyze --json`.
    let a = json(&ok(
        h,
        &[
            "--json",
            "journal",
            "analyze",
            "--strategy",
            "manual",
            "--symbol",
            "GOOG",
            "--source",
            "paper",
            "--playbook",
            p(&pb),
            "--max-lag",
            "0",
        ],
    ));
    let (_, root) = page(&journal);
    let matched = a["matched"].as_u64().unwrap();
    assert_eq!(matched, 93);
    assert_eq!(card(&root, "summary", "Matched trades"), "93");
    assert_eq!(card(&root, "summary", "Match rate (real trades)"), "100.0%");
    assert_eq!(card(&root, "summary", "Mean entry slippage [bps]"), "0.00");
    // The P&L gap table: real and backtest (scaled to the real size) as the analysis has them.
    let gap = rows(&root, "p-l-gap");
    let row = |part: &str| gap.iter().find(|r| r[0] == part).unwrap()[1].clone();
    assert_eq!(
        row("Real P&L"),
        format!("{:.2}", a["pnl_gap"]["real_pnl"].as_f64().unwrap())
    );
    assert_eq!(
        row("Backtest P&L"),
        format!("{:.2}", a["pnl_gap"]["backtest_pnl"].as_f64().unwrap())
    );
    assert_eq!(row("Signal"), "0.00");
    let win = rows(&root, "metrics-side-by-side");
    let win = win.iter().find(|r| r[0] == "Win Rate [%]").unwrap();
    assert_eq!(win[1], win[2]);
    // 25 first and 25 last matched trades.
    let table = rows(&root, "matched-trades");
    assert_eq!(table.len(), 25 + 1 + 25);
    assert_eq!(table[25], [format!("… {} rows omitted …", matched - 50)]);
}

#[test]
fn paper_and_journal_pages_refuse_what_they_cannot_show() {
    let home = bundled_home();
    let h = home.path();
    let r = run(h, &["report", "paper"]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.starts_with("error: no paper account yet"),
        "{}",
        r.stderr
    );
    let r = run(
        h,
        &[
            "report",
            "journal",
            "--strategy",
            "nobody",
            "--symbol",
            "GOOG",
        ],
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
    assert!(
        !h.join("reports").exists(),
        "nothing written under reports/"
    );
}

#[test]
fn paper_and_journal_cli_pages_render_in_chromium() {
    if !chromium_available("paper_and_journal_cli_pages_render_in_chromium") {
        return;
    }
    let (home, pb) = paper_home();
    let (paper, journal) = paper_pages(home.path(), &pb);
    for (name, path, height) in [("cli-paper", &paper, 5200), ("cli-journal", &journal, 3000)] {
        check_in_browser(name, &std::fs::read_to_string(path).unwrap(), height);
    }
}
