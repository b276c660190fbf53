//! Parity with the reference backtester (backtesting.py 0.6.6): `flowrex backtest` on the bundled GOOG
//! store must reproduce the oracle in `tests/fixtures/` — every trade, every reported metric and the
//! whole equity curve within 1e-9 relative — for the default run and for `--close-at-end` (the
//! oracle's `.finalize` files).

use std::fs::File;
use std::path::Path;

use arrow_array::{Array, Float64Array};
use serde_json::Value;

use crate::support::{
    BACKTEST_SMA_GOOG, bundled_home, fixture, flowrex, load, parquet_batches, repo, stdout_ok,
};

const TOL: f64 = 1e-9;

fn close(label: &str, got: f64, want: f64) {
    let ok = if want == 0.0 {
        got.abs() <= TOL
    } else {
        ((got - want) / want).abs() <= TOL
    };
    assert!(ok, "{label}: got {got:.17}, oracle {want:.17}");
}

/// Runs the oracle's backtest and returns the JSON document and the equity curve.
fn run(extra: &[&str], dir: &Path) -> (Value, Vec<f64>) {
    let equity_file = dir.join("equity.parquet");
    let home = bundled_home();
    let out = flowrex(home.path())
        .arg("--json")
        .args(BACKTEST_SMA_GOOG)
        .args([
            "--param",
            "fast=10",
            "--param",
            "slow=20",
            "--cash",
            "10000",
            "--commission",
            "0.002",
            "--equity",
        ])
        .arg(&equity_file)
        .args(extra)
        .output()
        .expect("run flowrex");
    let doc: Value = serde_json::from_str(&stdout_ok(&out)).expect("one JSON document");
    let mut equity = Vec::new();
    for batch in parquet_batches(&equity_file) {
        let col = batch
            .column_by_name("equity")
            .unwrap()
            .as_any()
            .downcast_ref::<Float64Array>()
            .unwrap()
            .clone();
        equity.extend((0..col.len()).map(|i| col.value(i)));
    }
    (doc, equity)
}

/// Parses pandas' `"830 days 00:00:00"` into days.
fn timedelta_days(s: &str) -> f64 {
    let (d, rest) = s.split_once(" days ").expect("N days HH:MM:SS");
    let hms: Vec<f64> = rest.split(':').map(|x| x.parse().unwrap()).collect();
    d.parse::<f64>().unwrap() + (hms[0] * 3600.0 + hms[1] * 60.0 + hms[2]) / 86400.0
}

fn check_stats(doc: &Value, oracle_file: &str) {
    let oracle: Value = serde_json::from_reader(File::open(fixture(oracle_file)).unwrap()).unwrap();
    let stats = oracle["stats"].as_object().unwrap();
    let m = &doc["metrics"];
    let mut checked = 0;
    for (name, want) in stats {
        let field = match name.as_str() {
            "Start" => {
                assert_eq!(doc["start"], format!("{}Z", want.as_str().unwrap()));
                checked += 1;
                continue;
            }
            "End" => {
                assert_eq!(doc["end"], format!("{}Z", want.as_str().unwrap()));
                checked += 1;
                continue;
            }
            "Duration" => "duration_days",
            "Exposure Time [%]" => "exposure_pct",
            "Equity Final [$]" => "equity_final",
            "Equity Peak [$]" => "equity_peak",
            "Commissions [$]" => "commissions",
            "Return [%]" => "return_pct",
            "Buy & Hold Return [%]" => "buy_hold_return_pct",
            "Return (Ann.) [%]" => "return_ann_pct",
            "Volatility (Ann.) [%]" => "volatility_ann_pct",
            "CAGR [%]" => "cagr_pct",
            "Sharpe Ratio" => "sharpe",
            "Sortino Ratio" => "sortino",
            "Calmar Ratio" => "calmar",
            "Alpha [%]" => "alpha_pct",
            "Beta" => "beta",
            "Max. Drawdown [%]" => "max_drawdown_pct",
            "Avg. Drawdown [%]" => "avg_drawdown_pct",
            "Max. Drawdown Duration" => "max_drawdown_duration_days",
            "Avg. Drawdown Duration" => "avg_drawdown_duration_days",
            "# Trades" => "num_trades",
            "Win Rate [%]" => "win_rate_pct",
            "Best Trade [%]" => "best_trade_pct",
            "Worst Trade [%]" => "worst_trade_pct",
            "Avg. Trade [%]" => "avg_trade_pct",
            "Max. Trade Duration" => "max_trade_duration_days",
            "Avg. Trade Duration" => "avg_trade_duration_days",
            "Profit Factor" => "profit_factor",
            "Expectancy [%]" => "expectancy_pct",
            "SQN" => "sqn",
            "Kelly Criterion" => "kelly",
            other => panic!("oracle metric `{other}` has no flowrex counterpart"),
        };
        let want = match want {
            Value::String(s) => timedelta_days(s),
            v => v.as_f64().unwrap(),
        };
        let got = m[field]
            .as_f64()
            .unwrap_or_else(|| panic!("metrics.{field} missing or null"));
        close(&format!("{name} (metrics.{field})"), got, want);
        checked += 1;
    }
    assert_eq!(checked, stats.len());
}

fn check_trades(doc: &Value, oracle_file: &str) {
    let mut rdr = csv::Reader::from_path(fixture(oracle_file)).unwrap();
    let headers = rdr.headers().unwrap().clone();
    let col = |name: &str| headers.iter().position(|h| h == name).unwrap();
    let trades = doc["trades"].as_array().unwrap();
    let mut n = 0;
    for (i, rec) in rdr.records().enumerate() {
        let rec = rec.unwrap();
        let f = |name: &str| rec[col(name)].parse::<f64>().unwrap();
        let t = &trades[i];
        let label = |what: &str| format!("trade {i} {what}");
        assert_eq!(t["size"].as_f64().unwrap(), f("Size"), "{}", label("size"));
        assert_eq!(
            t["entry_bar"].as_u64().unwrap() as f64,
            f("EntryBar"),
            "{}",
            label("entry_bar")
        );
        assert_eq!(
            t["exit_bar"].as_u64().unwrap() as f64,
            f("ExitBar"),
            "{}",
            label("exit_bar")
        );
        close(
            &label("entry_price"),
            t["entry_price"].as_f64().unwrap(),
            f("EntryPrice"),
        );
        close(
            &label("exit_price"),
            t["exit_price"].as_f64().unwrap(),
            f("ExitPrice"),
        );
        close(&label("pnl"), t["pnl"].as_f64().unwrap(), f("PnL"));
        close(
            &label("commission"),
            t["commission"].as_f64().unwrap(),
            f("Commission"),
        );
        close(
            &label("return_pct"),
            t["return_pct"].as_f64().unwrap(),
            f("ReturnPct") * 100.0,
        );
        assert!(
            t["entry_time"]
                .as_str()
                .unwrap()
                .starts_with(&rec[col("EntryTime")])
        );
        assert!(
            t["exit_time"]
                .as_str()
                .unwrap()
                .starts_with(&rec[col("ExitTime")])
        );
        n += 1;
    }
    assert_eq!(trades.len(), n, "number of closed trades");
}

fn check_equity(equity: &[f64], oracle_file: &str) {
    let mut rdr = csv::Reader::from_path(fixture(oracle_file)).unwrap();
    let want: Vec<f64> = rdr
        .records()
        .map(|r| r.unwrap()[1].parse::<f64>().unwrap())
        .collect();
    assert_eq!(equity.len(), want.len(), "equity curve length");
    for (i, (g, w)) in equity.iter().zip(&want).enumerate() {
        close(&format!("equity[{i}]"), *g, *w);
    }
}

#[test]
fn default_run_matches_the_oracle() {
    let dir = tempfile::tempdir().unwrap();
    let (doc, equity) = run(&[], dir.path());
    check_trades(&doc, "goog_smacross_10_20.trades.csv");
    check_stats(&doc, "goog_smacross_10_20.stats.json");
    check_equity(&equity, "goog_smacross_10_20.equity.csv");
    // The trade still open at the end is reported apart, not as a closed trade.
    let open = &doc["open_trade"];
    assert_eq!(open["size"].as_f64(), Some(69.0));
    assert_eq!(open["entry_bar"].as_u64(), Some(2087));
}

#[test]
fn close_at_end_matches_the_finalize_oracle() {
    let dir = tempfile::tempdir().unwrap();
    let (doc, equity) = run(&["--close-at-end"], dir.path());
    check_trades(&doc, "goog_smacross_10_20.finalize.trades.csv");
    check_stats(&doc, "goog_smacross_10_20.finalize.stats.json");
    assert!(doc["open_trade"].is_null());
    // The finalize oracle's equity curve equals the default one except at the last bar, which holds
    // the cash after the final close.
    let mut rdr = csv::Reader::from_path(fixture("goog_smacross_10_20.equity.csv")).unwrap();
    let want: Vec<f64> = rdr
        .records()
        .map(|r| r.unwrap()[1].parse::<f64>().unwrap())
        .collect();
    let n = want.len();
    for i in 0..n - 1 {
        close(&format!("equity[{i}]"), equity[i], want[i]);
    }
    let stats: Value = serde_json::from_reader(
        File::open(fixture("goog_smacross_10_20.finalize.stats.json")).unwrap(),
    )
    .unwrap();
    close(
        "equity[last]",
        equity[n - 1],
        stats["stats"]["Equity Final [$]"].as_f64().unwrap(),
    );
}

#[test]
fn sma_is_bit_identical_to_pandas_rolling_mean() {
    // The oracle's trade log carries pandas' SMA values at each entry and exit bar (17 digits, which
    // round-trip exactly), so the port must reproduce them bit for bit.
    let candles = load(repo(), "GOOG", "1d");
    let sma10 = flowrex::indicators::sma(&candles.close, 10);
    let sma20 = flowrex::indicators::sma(&candles.close, 20);
    let mut rdr = csv::Reader::from_path(fixture("goog_smacross_10_20.trades.csv")).unwrap();
    let headers = rdr.headers().unwrap().clone();
    let col = |name: &str| headers.iter().position(|h| h == name).unwrap();
    let mut compared = 0;
    for rec in rdr.records() {
        let rec = rec.unwrap();
        let bar = |name: &str| rec[col(name)].parse::<usize>().unwrap();
        let val = |name: &str| rec[col(name)].parse::<f64>().unwrap();
        for (series, bar_col, val_col) in [
            (&sma10, "EntryBar", "Entry_SMA(C,10)"),
            (&sma10, "ExitBar", "Exit_SMA(C,10)"),
            (&sma20, "EntryBar", "Entry_SMA(C,20)"),
            (&sma20, "ExitBar", "Exit_SMA(C,20)"),
        ] {
            let (got, want) = (series[bar(bar_col)], val(val_col));
            assert_eq!(
                got.to_bits(),
                want.to_bits(),
                "{val_col} at bar {}: {got:?} vs {want:?}",
                bar(bar_col)
            );
            compared += 1;
        }
    }
    assert_eq!(compared, 93 * 4);
}
