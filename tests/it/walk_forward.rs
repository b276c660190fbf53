//! `optimize --walk-forward` and the overfitting statistics end to end: the stitched out-of-sample
//! equity against plain backtests of each window's parameters, the same playbook at 1 and 2 threads,
//! windows on hand-built calendar data, the returns matrix against the stored statistics, every gate's
//! exit code, `backtest --check` on `[validation]`, and every bad input with its message.

use std::path::Path;
use std::process::Output;

use arrow_array::{Array, Float64Array, TimestampMillisecondArray, UInt32Array};
use flowrex::candles::time::format_ts_full;
use flowrex::candles::{Bar, DAY_MS};
use flowrex::optimize::validation::{self, BlockStats};
use serde_json::Value;

use crate::support::{
    self, BACKTEST_SMA_GOOG, SMA_GOOG, bundled_home, command, empty_home, p, parquet_batches,
    readme_grid, seed, stderr_of,
};

/// Runs flowrex quietly on `home` (with `threads` rayon threads when given).
fn run_in(home: &Path, threads: Option<usize>, args: &[&str]) -> Output {
    let mut cmd = support::flowrex(home);
    cmd.arg("--quiet").args(args);
    if let Some(t) = threads {
        cmd.env("RAYON_NUM_THREADS", t.to_string());
    }
    cmd.output().expect("run flowrex")
}

/// The README's GOOG grid with its commission, answering in JSON.
fn grid() -> Vec<&'static str> {
    command(&readme_grid(), &["--commission", "0.002", "--json"])
}

/// The GOOG grid as a walk-forward of 500-bar train and 250-bar test windows, plus `extra`.
fn walk(home: &Path, out: &Path, threads: Option<usize>, extra: &[&str]) -> Output {
    let mut args = grid();
    args.extend([
        "--walk-forward",
        "--train",
        "500",
        "--test",
        "250",
        "--out",
        p(out),
    ]);
    args.extend(extra);
    run_in(home, threads, &args)
}

fn ok_json(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "flowrex failed ({:?}): {}",
        out.status.code(),
        stderr_of(out)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn load_toml(path: &Path) -> toml::Table {
    toml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// A playbook without what differs between equivalent runs (time stamps, wall times, the name).
fn comparable(path: &Path) -> toml::Table {
    let mut t = load_toml(path);
    let pb = t["playbook"].as_table_mut().unwrap();
    pb.remove("created_at");
    pb.remove("content_sha256");
    pb.remove("name");
    t["optimization"]
        .as_table_mut()
        .unwrap()
        .remove("elapsed_s");
    t
}

fn f64s(batch: &arrow_array::RecordBatch, name: &str) -> Vec<f64> {
    let a = batch
        .column_by_name(name)
        .unwrap_or_else(|| panic!("no column {name}"))
        .as_any()
        .downcast_ref::<Float64Array>()
        .unwrap();
    a.values().to_vec()
}

#[test]
fn stitched_oos_equity_equals_backtests_with_each_windows_parameters() {
    let home = bundled_home();
    let h = home.path();
    let pb_path = h.join("wf.toml");
    let eq_path = h.join("oos.parquet");
    let doc = ok_json(&walk(h, &pb_path, None, &["--oos-equity", p(&eq_path)]));
    let wf = &doc["playbook"]["walk_forward"];
    let windows = wf["window"].as_array().unwrap();
    // 2148 bars: windows of 500 + 250 stepping by 250 fit while 500 + 250·(k+1) ≤ 2148, k ≤ 5.
    assert_eq!(windows.len(), 6);
    let goog = support::load(h, "GOOG", "1d");
    let index_of = |t: &Value| {
        let t = t.as_str().unwrap();
        goog.ts
            .iter()
            .position(|&x| format_ts_full(x) == t)
            .unwrap()
    };
    let stitched: Vec<f64> = parquet_batches(&eq_path)
        .iter()
        .flat_map(|b| f64s(b, "equity"))
        .collect();
    // The independent run of window k: a plain backtest whose data start `slow` bars before the test,
    // so sma_cross's warm-up bar (slow − 1) is the bar before the test and its first decision the
    // test's first bar, with the cash the previous window ended with. A position it still holds at
    // the end is valued at the last close; the walk-forward closes it there, paying the exit
    // commission |size| · close · 0.002.
    let mut expected = Vec::new();
    let mut cash = 10_000.0f64;
    let mut trades = 0u64;
    for (k, w) in windows.iter().enumerate() {
        let (s, last) = (index_of(&w["test_start"]), index_of(&w["test_end"]));
        assert_eq!(w["test_bars"].as_u64().unwrap() as usize, last - s + 1);
        let (fast, slow) = (
            w["params"]["fast"].as_i64().unwrap(),
            w["params"]["slow"].as_i64().unwrap() as usize,
        );
        let equity = h.join(format!("w{k}.parquet"));
        let out = run_in(
            h,
            None,
            &command(
                &BACKTEST_SMA_GOOG,
                &[
                    "--param",
                    &format!("fast={fast}"),
                    "--param",
                    &format!("slow={slow}"),
                    "--commission",
                    "0.002",
                    "--cash",
                    &cash.to_string(),
                    "--start",
                    &format_ts_full(goog.ts[s - slow]),
                    "--end",
                    &format_ts_full(goog.ts[last]),
                    "--equity",
                    p(&equity),
                    "--json",
                ],
            ),
        );
        let bt = ok_json(&out);
        let mut eq: Vec<f64> = parquet_batches(&equity)
            .iter()
            .flat_map(|b| f64s(b, "equity"))
            .collect();
        assert_eq!(eq.len(), slow + last - s + 1);
        let mut eq = eq.split_off(slow);
        trades += bt["trades"].as_array().unwrap().len() as u64;
        if let Some(open) = bt["open_trade"].as_object() {
            let size = open["size"].as_f64().unwrap().abs();
            *eq.last_mut().unwrap() -= size * goog.close[last] * 0.002;
            trades += 1;
        }
        cash = *eq.last().unwrap();
        expected.extend(eq);
    }
    assert_eq!(stitched.len(), expected.len());
    for (i, (a, b)) in stitched.iter().zip(&expected).enumerate() {
        assert!(
            (a - b).abs() <= 1e-9 * b.abs(),
            "bar {i} of the stitched record: {a} vs {b}"
        );
    }
    let m = &wf["oos_metrics"];
    assert_eq!(m["num_trades"].as_u64().unwrap(), trades);
    // Its return is the chained account's: final / 10,000 − 1.
    let ret = (cash / 10_000.0 - 1.0) * 100.0;
    assert!((m["return_pct"].as_f64().unwrap() - ret).abs() < 1e-9 * ret.abs());
    // Positive windows: test-window returns above 0, each from its start cash.
    let positive = windows
        .iter()
        .filter(|w| w["oos_return_pct"].as_f64().unwrap() > 0.0)
        .count();
    assert_eq!(wf["positive_windows"].as_u64().unwrap() as usize, positive);
}

#[test]
fn the_same_walk_forward_at_one_and_two_threads() {
    let home = bundled_home();
    let h = home.path();
    let (a, b) = (h.join("a.toml"), h.join("b.toml"));
    let (ra, rb) = (h.join("a.parquet"), h.join("b.parquet"));
    ok_json(&walk(
        h,
        &a,
        Some(1),
        &["--results", p(&ra), "--step", "300"],
    ));
    ok_json(&walk(
        h,
        &b,
        Some(2),
        &["--results", p(&rb), "--step", "300"],
    ));
    assert_eq!(comparable(&a), comparable(&b));
    let rows = |path: &Path| {
        let batches = parquet_batches(path);
        let windows: Vec<u32> = batches
            .iter()
            .flat_map(|b| {
                b.column_by_name("window")
                    .unwrap()
                    .as_any()
                    .downcast_ref::<UInt32Array>()
                    .unwrap()
                    .values()
                    .to_vec()
            })
            .collect();
        let sharpe: Vec<Option<f64>> = batches
            .iter()
            .flat_map(|b| {
                let a = b
                    .column_by_name("sharpe")
                    .unwrap()
                    .as_any()
                    .downcast_ref::<Float64Array>()
                    .unwrap()
                    .clone();
                (0..a.len())
                    .map(move |i| a.is_valid(i).then(|| a.value(i)))
                    .collect::<Vec<_>>()
            })
            .collect();
        (windows, sharpe)
    };
    let (wa, sa) = rows(&ra);
    assert_eq!((wa.clone(), sa), rows(&rb));
    // Every window's 175 candidates, in window order: (2148 − 500 − 250) / 300 + 1 = 5 windows.
    assert_eq!(wa.len(), 5 * 175);
    assert!(wa.windows(2).all(|w| w[0] <= w[1]));
    assert_eq!(wa.last(), Some(&4));
}

/// Daily bars from 2020-01-01 for `n` days: a zig-zag trend with a 10-day cycle, so SMA crosses
/// happen in every month.
fn zigzag_days(n: usize) -> Vec<Bar> {
    let t0 = 1_577_836_800_000; // 2020-01-01
    (0..n)
        .map(|i| {
            let x = 100.0 + (i as f64 * 0.628).sin() * 5.0 + i as f64 * 0.01;
            Bar {
                ts: t0 + i as i64 * DAY_MS,
                open: x,
                high: x + 1.0,
                low: x - 1.0,
                close: x + 0.5,
                volume: 1.0,
            }
        })
        .collect()
}

#[test]
fn calendar_windows_with_purge_and_anchored_bar_windows_on_hand_built_days() {
    let home = empty_home();
    let h = home.path();
    seed(h, "ZZ", "1d", &zigzag_days(366));
    let base = [
        "optimize",
        "--strategy",
        "sma_cross",
        "--symbol",
        "ZZ",
        "--interval",
        "1d",
        "--param",
        "fast=2..4",
        "--param",
        "slow=5..8",
        "--json",
        "--walk-forward",
    ];
    let out = h.join("cal.toml");
    let mut args = base.to_vec();
    args.extend([
        "--train",
        "6M",
        "--test",
        "2M",
        "--purge",
        "5",
        "--out",
        p(&out),
    ]);
    let doc = ok_json(&run_in(h, None, &args));
    let w = doc["playbook"]["walk_forward"]["window"]
        .as_array()
        .unwrap();
    let span = |w: &Value| {
        ["train_start", "train_end", "test_start", "test_end"]
            .map(|k| w[k].as_str().unwrap()[..10].to_string())
    };
    // Window 0: train 6 months from 2020-01-01 (to 07-01, exclusive), 5 bars purged (07-01..07-05),
    // test 2 months from 07-06. Window 1 starts 2 months later (03-01): its train ends at
    // 01-01 + 2M + 6M = 09-01, test from 09-06 to 11-06. Window 2's test would end on 2021-01-06,
    // after the data (the last bar is 2020-12-31): two windows.
    assert_eq!(w.len(), 2);
    assert_eq!(
        span(&w[0]),
        ["2020-01-01", "2020-06-30", "2020-07-06", "2020-09-05"]
    );
    assert_eq!(
        span(&w[1]),
        ["2020-03-01", "2020-08-31", "2020-09-06", "2020-11-05"]
    );
    // 2020 is a leap year: Jan–Jun hold 31+29+31+30+31+30 = 182 days; Mar–Aug 31+30+31+30+31+31 = 184.
    assert_eq!(w[0]["train_bars"], 182);
    assert_eq!(w[1]["train_bars"], 184);
    assert_eq!(w[0]["test_bars"], 62); // 07-06..09-05: 26 + 31 + 5

    let out = h.join("anchored.toml");
    let mut args = base.to_vec();
    args.extend([
        "--train",
        "100",
        "--test",
        "60",
        "--step",
        "80",
        "--anchored",
    ]);
    args.extend(["--out", p(&out)]);
    let doc = ok_json(&run_in(h, None, &args));
    let wf = &doc["playbook"]["walk_forward"];
    let w = wf["window"].as_array().unwrap();
    // Anchored: every train starts at bar 0 and ends at 100 + 80k; tests 60 bars from there, while
    // 100 + 80k + 60 ≤ 366: k = 0, 1, 2.
    assert_eq!(w.len(), 3);
    for (k, w) in w.iter().enumerate() {
        assert_eq!(w["train_start"], "2020-01-01T00:00:00Z");
        assert_eq!(w["train_bars"].as_u64().unwrap(), 100 + 80 * k as u64);
        assert_eq!(w["test_bars"], 60);
        let day = 100 + 80 * k as i64;
        assert_eq!(
            w["test_start"].as_str().unwrap(),
            format_ts_full(1_577_836_800_000 + day * DAY_MS)
        );
    }
    assert_eq!(wf["anchored"], true);
    assert_eq!(wf["step"], "80");
    // Tests do not tile (step 80 > test 60): 3 × 60 stitched bars.
    assert_eq!(wf["oos_metrics"]["bars"], 180);
}

#[test]
fn the_returns_matrix_gives_the_stored_statistics() {
    let home = bundled_home();
    let h = home.path();
    let (pb, matrix) = (h.join("pb.toml"), h.join("m.parquet"));
    let mut args = grid();
    args.extend(["--out", p(&pb), "--returns-matrix", p(&matrix)]);
    let doc = ok_json(&run_in(h, None, &args));
    let v = &doc["playbook"]["validation"];
    let batches = parquet_batches(&matrix);
    let schema = batches[0].schema();
    // ts, then the 175 feasible candidates by grid index (fast 5..50:5 × slow 10..200:10: index =
    // 20·i_fast + i_slow, feasible when fast < slow).
    let names: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
    assert_eq!(names.len(), 176);
    assert_eq!(names[0], "ts");
    let mut want = Vec::new();
    for i in 0..10u64 {
        for j in 0..20u64 {
            if 5 * (i + 1) < 10 * (j + 1) {
                want.push((20 * i + j).to_string());
            }
        }
    }
    assert_eq!(names[1..], want[..]);
    let ts: Vec<i64> = batches
        .iter()
        .flat_map(|b| {
            b.column(0)
                .as_any()
                .downcast_ref::<TimestampMillisecondArray>()
                .unwrap()
                .values()
                .to_vec()
        })
        .collect();
    // Daily bars: one return per bar after the first, ending at that bar.
    let goog = support::load(h, "GOOG", "1d");
    assert_eq!(ts[..], goog.ts[1..]);
    let columns: Vec<Vec<f64>> = (1..names.len())
        .map(|c| batches.iter().flat_map(|b| f64s(b, &names[c])).collect())
        .collect();
    // The best candidate's column is the bar-to-bar return of its equity curve from a plain backtest
    // (daily bars: one period per bar).
    let best = want
        .iter()
        .position(|n| n == &v["candidate"].as_u64().unwrap().to_string())
        .unwrap();
    let params = &doc["playbook"]["strategy"]["params"];
    let equity = h.join("best.parquet");
    let bt = run_in(
        h,
        None,
        &command(
            &BACKTEST_SMA_GOOG,
            &[
                "--commission",
                "0.002",
                "--param",
                &format!("fast={}", params["fast"]),
                "--param",
                &format!("slow={}", params["slow"]),
                "--equity",
                p(&equity),
            ],
        ),
    );
    assert!(bt.status.success(), "{}", stderr_of(&bt));
    let eq: Vec<f64> = parquet_batches(&equity)
        .iter()
        .flat_map(|b| f64s(b, "equity"))
        .collect();
    let by_bar: Vec<f64> = eq.windows(2).map(|w| w[1] / w[0] - 1.0).collect();
    assert_eq!(columns[best], by_bar);
    // The stored statistics follow from the matrix by their definitions (the functions are checked
    // against known answers in their own tests).
    let sharpes: Vec<f64> = columns.iter().map(|c| validation::sharpe(c)).collect();
    let m = validation::Moments::of(&columns[best]).unwrap();
    let d = validation::deflate_best(best, m, &sharpes).unwrap();
    let close = |a: f64, key: &str| {
        let b = v[key].as_f64().unwrap();
        assert!(
            (a - b).abs() <= 1e-12 * b.abs().max(1e-300),
            "{key}: {a} vs {b}"
        );
    };
    close(m.sharpe, "sharpe");
    close(m.psr(0.0), "psr");
    close(d.sr0, "sr0");
    close(d.dsr, "dsr");
    assert_eq!(v["trials"].as_u64().unwrap() as usize, d.trials);
    let stats = BlockStats::from_columns(&columns, 16).unwrap();
    let pbo = validation::pbo(&stats).unwrap();
    close(pbo.pbo, "pbo");
    close(pbo.prob_oos_loss, "prob_oos_loss");
    assert_eq!(v["pbo_splits"], 12_870);
    assert_eq!(v["periods"], 2147);
    // 2147 = 16 · 134 + 3.
    assert_eq!(v["pbo_dropped"], 3);
}

/// Exit code and stderr of an optimize with `extra` on the GOOG grid (walk-forward when `wf`).
fn gated(home: &Path, wf: bool, extra: &[&str]) -> (i32, String, toml::Table) {
    let out = home.join("gated.toml");
    let _ = std::fs::remove_file(&out);
    let o = if wf {
        walk(home, &out, None, extra)
    } else {
        let mut args = grid();
        args.extend(["--out", p(&out)]);
        args.extend(extra);
        run_in(home, None, &args)
    };
    (o.status.code().unwrap(), stderr_of(&o), load_toml(&out))
}

#[test]
fn each_gate_exits_3_below_its_limit_and_0_at_it_with_the_verdicts_written() {
    let home = bundled_home();
    let h = home.path();
    let (code, _, pb) = gated(h, true, &[]);
    assert_eq!(code, 0);
    let v = pb["validation"].as_table().unwrap();
    let w = pb["walk_forward"].as_table().unwrap();
    let num = |t: &toml::Table, k: &str| t[k].as_float().unwrap();
    let (pbo, dsr, wfe, share) = (
        num(v, "pbo"),
        num(v, "dsr"),
        num(w, "wfe"),
        num(w, "positive_share"),
    );
    // Limits just on the passing side pass (exit 0); just on the failing side fail (exit 3). A share
    // of exactly 0 or 1 has no failing (or passing) limit inside [0, 1]: that side is skipped.
    let eps = 1e-6;
    let mut failed = Vec::new();
    for (flag, pass, fail) in [
        ("--max-pbo", pbo + eps, pbo - eps),
        ("--min-dsr", dsr - eps, dsr + eps),
        ("--min-wfe", wfe - eps, wfe + eps),
        ("--min-positive-windows", share - eps, share + eps),
    ] {
        let inside = |x: f64| (0.0..=1.0).contains(&x);
        if inside(pass) {
            let (code, err, pb) = gated(h, true, &[flag, &pass.to_string()]);
            assert_eq!(code, 0, "{flag} {pass}: {err}");
            assert_eq!(pb["validation"]["gates"][0]["pass"].as_bool(), Some(true));
        }
        if inside(fail) {
            let (code, err, pb) = gated(h, true, &[flag, &fail.to_string()]);
            assert_eq!(code, 3, "{flag} {fail}: {err}");
            assert!(err.contains("gate failed"), "{err}");
            let gate = &pb["validation"]["gates"][0];
            assert_eq!(gate["gate"].as_str().unwrap(), &flag[2..].replace('-', "_"));
            assert_eq!(gate["pass"].as_bool(), Some(false));
            assert_eq!(gate["limit"].as_float(), Some(fail));
            failed.push(flag);
        }
    }
    // PBO and DSR are strictly between 0 and 1 on this search, so at least their gates failed.
    assert!(failed.len() >= 2, "{failed:?}");
    // A plain optimize with two gates, one failing: exit 3, both verdicts written.
    let (code, err, pb) = gated(h, false, &["--max-pbo", "1", "--min-dsr", "1"]);
    assert_eq!(code, 3, "{err}");
    let gates = pb["validation"]["gates"].as_array().unwrap();
    assert_eq!(gates.len(), 2);
    assert_eq!(gates[0]["pass"].as_bool(), Some(true)); // any PBO ≤ 1
    assert_eq!(gates[1]["pass"].as_bool(), Some(false)); // a DSR is a probability below 1 here
}

#[test]
fn backtest_check_recomputes_validation_and_judges_the_stored_gates() {
    let home = bundled_home();
    let h = home.path();
    let pb = h.join("pb.toml");
    let mut args = grid();
    args.extend(["--out", p(&pb), "--max-pbo", "1", "--min-dsr", "0"]);
    ok_json(&run_in(h, None, &args));
    let check = |path: &Path| {
        let o = run_in(h, None, &["backtest", "--playbook", p(path), "--check"]);
        (o.status.code().unwrap(), stderr_of(&o))
    };
    assert_eq!(check(&pb).0, 0);
    let text = std::fs::read_to_string(&pb).unwrap();
    let mut t: toml::Table = toml::from_str(&text).unwrap();
    // An edited DSR no longer follows from the fresh run: it drifts.
    let dsr = t["validation"]["dsr"].as_float().unwrap();
    t["validation"]["dsr"] = toml::Value::Float(dsr * 0.9);
    let edited = h.join("edited.toml");
    std::fs::write(&edited, toml::to_string(&t).unwrap()).unwrap();
    crate::support::resign(&edited);
    let (code, err) = check(&edited);
    assert_eq!(code, 3);
    assert!(err.contains("validation.dsr"), "{err}");
    // A stored gate the fresh numbers fail: --min-dsr raised to 1 (no DSR reaches it).
    let mut t: toml::Table = toml::from_str(&text).unwrap();
    t["validation"]["gates"][1]["limit"] = toml::Value::Float(1.0);
    std::fs::write(&edited, toml::to_string(&t).unwrap()).unwrap();
    crate::support::resign(&edited);
    let (code, err) = check(&edited);
    assert_eq!(code, 3);
    assert!(err.contains("gate failed: dsr"), "{err}");
}

#[test]
fn bad_walk_forward_and_validation_inputs_are_usage_errors_that_write_nothing() {
    let home = bundled_home();
    let h = home.path();
    let out = h.join("never.toml");
    let cases: &[(&[&str], &str)] = &[
        (
            &["--walk-forward", "--train", "2000", "--test", "500"],
            "walk-forward needs 2500 bars for one window (train 2000 + test 500), the data has 2148",
        ),
        (
            &[
                "--walk-forward",
                "--train",
                "500",
                "--test",
                "250",
                "--step",
                "100",
            ],
            "test windows overlap",
        ),
        (
            &["--walk-forward", "--train", "500"],
            "--walk-forward needs --test LEN",
        ),
        (
            &["--train", "500", "--test", "250"],
            "--train needs --walk-forward",
        ),
        (
            &["--walk-forward", "--train", "5x", "--test", "250"],
            "--train 5x: bad window length",
        ),
        (
            &["--max-pbo", "1.5"],
            "--max-pbo 1.5: must be a number in [0, 1]",
        ),
        (
            &["--min-dsr=-0.1"],
            "--min-dsr -0.1: must be a number in [0, 1]",
        ),
        (&["--min-wfe", "0.5"], "--min-wfe judges a walk-forward run"),
        (
            &["--pbo-blocks", "15"],
            "--pbo-blocks 15: PBO needs an even number of blocks",
        ),
        (
            &["--pbo-blocks", "22"],
            "--pbo-blocks 22: PBO takes at most 20 blocks",
        ),
        (
            // 2013-02-08 … 2013-03-01: 15 trading days (Presidents' Day 02-18 closed), 14 returns.
            &["--pbo-blocks", "16", "--start", "2013-02-08"],
            "--pbo-blocks 16: PBO with 16 blocks needs at least 16 periods, got 14 (14 day returns in the data)",
        ),
        (
            &["--max-pbo", "0.5", "--shard", "1/2"],
            "a gate needs the whole search",
        ),
        (
            &[
                "--walk-forward",
                "--train",
                "500",
                "--test",
                "250",
                "--returns-matrix",
                "m.parquet",
            ],
            "--returns-matrix writes one search's matrix",
        ),
        (
            &["--oos-equity", "e.parquet"],
            "--oos-equity needs --walk-forward",
        ),
    ];
    for (extra, message) in cases {
        let mut args = grid();
        args.extend(["--out", p(&out)]);
        args.extend(*extra);
        let o = run_in(h, None, &args);
        let err = stderr_of(&o);
        assert_eq!(o.status.code(), Some(2), "{extra:?}: {err}");
        assert!(err.contains(message), "{extra:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(!out.exists(), "{extra:?} wrote a playbook");
    }
    // A calendar window that does not fit names the spans and the data.
    let mut args = grid();
    args.extend([
        "--out",
        p(&out),
        "--walk-forward",
        "--train",
        "8y",
        "--test",
        "1y",
    ]);
    let err = stderr_of(&run_in(h, None, &args));
    assert!(
        err.contains("walk-forward needs train 8y + test 1y for one window, the data has 2148 bars from 2004-08-19"),
        "{err}"
    );
}

/// PBO is left out (with a note) when the data are too short for the default 16 blocks, rather than
/// failing every small optimize.
#[test]
fn short_data_leave_pbo_out_with_a_note() {
    let home = bundled_home();
    let h = home.path();
    let out = h.join("short.toml");
    let args = command(
        &SMA_GOOG,
        &[
            "--param",
            "fast=2..3",
            "--param",
            "slow=4..6",
            "--start",
            "2013-02-08",
            "--json",
            "--out",
            p(&out),
        ],
    );
    let doc = ok_json(&run_in(h, None, &args));
    let v = &doc["playbook"]["validation"];
    assert!(v.get("pbo").is_none());
    // 15 trading days from 2013-02-08 to 2013-03-01 (02-18 was a holiday): 14 returns.
    assert_eq!(v["periods"], 14);
    assert!(
        v["notes"][0]
            .as_str()
            .unwrap()
            .contains("14 day returns are too few for 16 blocks"),
        "{v}"
    );
    // DSR still has its 2 × 3 = 6 candidates (fast < slow always holds here).
    assert_eq!(v["trials"], 6);
}
