//! Exports are consistent (issue 18 item 14): every Parquet output carries key/value metadata
//! (strategy, params, symbol, interval, flowrex version), times are Parquet timestamps or RFC 3339
//! strings (the results file's start_ts/end_ts too), JSON has null rather than "", the equity curve
//! exports as CSV, `optimize merge --results` keeps the metadata, and `backtest --json --no-trades`
//! prints the metrics only.

use std::collections::HashMap;
use std::fs::File;
use std::path::Path;

use arrow_array::{Array, Float64Array, TimestampMillisecondArray};
use arrow_schema::{DataType, TimeUnit};
use parquet::file::reader::{FileReader, SerializedFileReader};

use crate::support::{
    BACKTEST_SMA_GOOG, Run, SMA_GOOG, bundled_home, command, load, parquet_batches, run,
};

fn json(r: &Run) -> serde_json::Value {
    assert_eq!(r.code, 0, "{}", r.stderr);
    serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}: {}", r.stdout))
}

/// The footer key/value metadata of a Parquet file.
fn footer(path: &Path) -> HashMap<String, String> {
    let reader = SerializedFileReader::new(File::open(path).unwrap()).unwrap();
    reader
        .metadata()
        .file_metadata()
        .key_value_metadata()
        .map(|kv| {
            kv.iter()
                .map(|e| (e.key.clone(), e.value.clone().unwrap_or_default()))
                .collect()
        })
        .unwrap_or_default()
}

/// A quiet sma_cross backtest (10/20) of GOOG 1d.
fn backtest() -> Vec<&'static str> {
    command(
        &BACKTEST_SMA_GOOG,
        &["--param", "fast=10", "--param", "slow=20", "--quiet"],
    )
}

#[test]
fn backtest_files_carry_metadata_and_equity_exports_as_csv() {
    let home = bundled_home();
    let h = home.path();
    let p = |n: &str| h.join(n).to_str().unwrap().to_string();
    let mut args = backtest();
    let (trades, eq_pq, eq_csv) = (p("t.parquet"), p("e.parquet"), p("e.csv"));
    args.extend(["--trades", &trades, "--equity", &eq_pq]);
    let full = json(&run(h, &[&["--json"][..], &args].concat()));
    let mut args = backtest();
    args.extend(["--equity", &eq_csv]);
    assert_eq!(run(h, &args).code, 0);

    for file in [&trades, &eq_pq] {
        let m = footer(Path::new(file));
        assert_eq!(m["strategy"], "sma_cross", "{file}");
        assert_eq!(m["symbol"], "GOOG");
        assert_eq!(m["interval"], "1d");
        assert_eq!(m["flowrex_version"], env!("CARGO_PKG_VERSION"));
        let params: serde_json::Value = serde_json::from_str(&m["params"]).unwrap();
        assert_eq!(params, serde_json::json!({"fast": 10, "slow": 20}));
        assert_eq!(m["start"], full["start"].as_str().unwrap());
        let settings: serde_json::Value = serde_json::from_str(&m["settings"]).unwrap();
        assert_eq!(settings["size"], "all");
    }

    // The CSV equity curve: one RFC 3339 row per bar, the same numbers as the Parquet file.
    let bars = load(h, "GOOG", "1d");
    let text = std::fs::read_to_string(&eq_csv).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "ts,equity,drawdown_pct");
    assert_eq!(lines.len(), bars.len() + 1);
    let equity: Vec<f64> = parquet_batches(Path::new(&eq_pq))
        .iter()
        .flat_map(|b| {
            let c = b.column(1).as_any().downcast_ref::<Float64Array>().unwrap();
            c.values().to_vec()
        })
        .collect();
    assert_eq!(equity.len(), bars.len());
    for (i, line) in lines[1..].iter().enumerate().step_by(97) {
        let cells: Vec<&str> = line.split(',').collect();
        let ts = chrono::DateTime::parse_from_rfc3339(cells[0]).unwrap();
        assert_eq!(ts.timestamp_millis(), bars.ts[i], "row {i}");
        assert_eq!(cells[1].parse::<f64>().unwrap(), equity[i], "row {i}");
    }
    // Any other extension is a usage error naming both.
    let mut args = backtest();
    let bad = p("e.txt");
    args.extend(["--equity", &bad]);
    let r = run(h, &args);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains(".parquet or .csv"), "{}", r.stderr);
}

#[test]
fn no_trades_prints_the_metrics_only() {
    let home = bundled_home();
    let h = home.path();
    let full = json(&run(h, &[&["--json"][..], &backtest()].concat()));
    let bare = json(&run(
        h,
        &[&["--json"][..], &backtest(), &["--no-trades"]].concat(),
    ));
    assert!(bare.get("trades").is_none());
    assert_eq!(bare["metrics"], full["metrics"]);
    let n = full["trades"].as_array().unwrap().len();
    assert_eq!(bare["metrics"]["num_trades"], n);
    let text = run(h, &[&backtest()[..], &["--no-trades"]].concat());
    assert_eq!(text.code, 0);
    assert!(!text.stdout.contains("closed trades"), "{}", text.stdout);
    assert!(
        run(h, &backtest())
            .stdout
            .contains(&format!("{n} closed trades"))
    );
}

#[test]
fn results_have_timestamps_and_metadata_and_merging_keeps_them() {
    let home = bundled_home();
    let h = home.path();
    let p = |n: &str| h.join(n).to_str().unwrap().to_string();
    let base = [
        &["--quiet"][..],
        &SMA_GOOG,
        &["--param", "fast=5..8", "--param", "slow=20..30:10"],
    ]
    .concat();
    let (res, matrix) = (p("r.parquet"), p("m.parquet"));
    let single_out = p("single.toml");
    let single = [
        &base[..],
        &[
            "--out",
            &single_out,
            "--results",
            &res,
            "--returns-matrix",
            &matrix,
        ],
    ]
    .concat();
    assert_eq!(run(h, &single).code, 0);

    let bars = load(h, "GOOG", "1d");
    let batches = parquet_batches(Path::new(&res));
    let schema = batches[0].schema();
    let utc = DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()));
    for (key, want) in [
        ("start_ts", bars.ts[0]),
        ("end_ts", *bars.ts.last().unwrap()),
    ] {
        assert_eq!(schema.field_with_name(key).unwrap().data_type(), &utc);
        let i = schema.index_of(key).unwrap();
        for b in &batches {
            let col = b
                .column(i)
                .as_any()
                .downcast_ref::<TimestampMillisecondArray>()
                .unwrap();
            assert!(col.iter().all(|v| v == Some(want)), "{key}");
        }
    }
    let m = footer(Path::new(&res));
    assert_eq!(
        (
            m["strategy"].as_str(),
            m["symbol"].as_str(),
            m["interval"].as_str()
        ),
        ("sma_cross", "GOOG", "1d")
    );
    assert_eq!(m["objective"], "sharpe");
    let space: serde_json::Value = serde_json::from_str(&m["params"]).unwrap();
    assert_eq!(
        space,
        serde_json::json!({"fast": "5..8", "slow": "20..30:10"})
    );
    assert_eq!(m["flowrex_version"], env!("CARGO_PKG_VERSION"));
    let mm = footer(Path::new(&matrix));
    assert_eq!(
        (mm["strategy"].as_str(), mm["kind"].as_str()),
        ("sma_cross", "returns_matrix")
    );

    // Two shards with their results, merged: the merged file keeps the metadata.
    for k in 1..=2 {
        let shard = format!("{k}/2");
        let (out, results) = (p(&format!("s{k}.toml")), p(&format!("s{k}.parquet")));
        let args = [
            &base[..],
            &["--shard", &shard, "--out", &out, "--results", &results],
        ]
        .concat();
        assert_eq!(run(h, &args).code, 0);
    }
    let merged = p("merged.parquet");
    let r = run(
        h,
        &[
            "optimize",
            "merge",
            &p("s1.toml"),
            &p("s2.toml"),
            "--out",
            &p("merged.toml"),
            "--results",
            &merged,
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let mm = footer(Path::new(&merged));
    assert_eq!(mm["strategy"], "sma_cross");
    assert_eq!(mm["params"], m["params"]);
    assert_eq!(mm["merged_shards"], "2");
    let rows: usize = parquet_batches(Path::new(&merged))
        .iter()
        .map(|b| b.num_rows())
        .sum();
    assert_eq!(rows, 4 * 2);
}

#[test]
fn fetch_list_json_has_full_times_and_null_not_empty_strings() {
    let home = bundled_home();
    let h = home.path();
    std::fs::create_dir_all(h.join("data/BAD")).unwrap();
    std::fs::write(h.join("data/BAD/1d.parquet"), b"not parquet").unwrap();
    let r = run(h, &["--json", "fetch", "--list"]);
    assert_eq!(r.code, 1, "the damaged file makes it exit 1: {}", r.stderr);
    let doc: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let rows = doc.as_array().unwrap();
    let goog = rows.iter().find(|r| r["symbol"] == "GOOG").unwrap();
    let bars = load(h, "GOOG", "1d");
    let first = chrono::DateTime::parse_from_rfc3339(goog["first"].as_str().unwrap()).unwrap();
    assert_eq!(first.timestamp_millis(), bars.ts[0]);
    let bad = rows.iter().find(|r| r["symbol"] == "BAD").unwrap();
    for key in ["first", "last", "source", "written_at"] {
        assert!(bad[key].is_null(), "{key}: {}", bad[key]);
    }
    assert!(
        !r.stdout.contains("\"\""),
        "an empty string in {}",
        r.stdout
    );
}
