//! `flowrex fetch` from TwelveData and Binance, through the binary, against mock servers started inside
//! each test (mockito, plus a raw socket for a server that never answers). No test reaches the internet.
//! Covers pagination, response shapes, retries and their limits, atomicity after failures, multi-symbol
//! runs, incremental updates and that the API key never shows.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{NaiveDate, NaiveDateTime};
use flowrex::candles::{Bar, Candles, DAY_MS, HOUR_MS, Interval, MINUTE_MS};
use mockito::{Matcher, Server};

use crate::support::{self, Run, empty_home, json, load, seed, stderr_of, stdout_of, write};

const KEY: &str = "TDKEY-must-not-leak-4242";
/// 2024-01-01T00:00:00Z.
const JAN1: i64 = 1_704_067_200_000;

/// Fast retries and no pacing wait, so tests run in milliseconds.
const FAST_CONFIG: &str = "[providers]\nretry_base_ms = 1\nretry_max_ms = 20\ntimeout_ms = 2000\n\
    [providers.twelvedata]\nrequests_per_minute = 6000\n";

/// A home whose configuration makes retries fast.
fn home() -> tempfile::TempDir {
    let dir = empty_home();
    write(dir.path(), "flowrex.toml", FAST_CONFIG);
    dir
}

/// flowrex with the TwelveData key in its environment.
fn flowrex(home: &Path) -> assert_cmd::Command {
    let mut cmd = support::flowrex(home);
    cmd.env("TWELVEDATA_API_KEY", KEY);
    cmd
}

/// [`support::run`] with the key (this module's `flowrex`).
fn run(home: &Path, args: &[&str]) -> Run {
    Run::of(flowrex(home).args(args))
}

fn bar(i: i64, ts: i64) -> Bar {
    let open = 100.0 + i as f64 * 0.25;
    Bar {
        ts,
        open,
        high: open + 1.0,
        low: open - 1.0,
        close: open + 0.5,
        volume: 1000.0 + i as f64,
    }
}

fn series(n: i64, start: i64, step: i64) -> Vec<Bar> {
    (0..n).map(|i| bar(i, start + i * step)).collect()
}

/// Three stored AAPL 1h bars ending before 2024-01-01: the store that failure tests must leave untouched.
fn seed_aapl_1h(home: &Path) -> (PathBuf, Vec<u8>) {
    seed(home, "AAPL", "1h", &series(3, JAN1 - 10 * HOUR_MS, HOUR_MS))
}

fn assert_untouched(path: &Path, before: &[u8]) {
    assert_eq!(
        std::fs::read(path).unwrap(),
        before,
        "{} changed",
        path.display()
    );
    let leftovers: Vec<_> = std::fs::read_dir(path.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "temp files left: {leftovers:?}");
}

/// The decoded value of query parameter `name` in `path_and_query`.
fn param(path_and_query: &str, name: &str) -> Option<String> {
    let query = path_and_query.split_once('?')?.1;
    query.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == name).then(|| decode(v))
    })
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).unwrap()
}

fn td_date(s: &str) -> i64 {
    NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S")
        .map(|d| d.and_utc().timestamp_millis())
        .or_else(|_| {
            NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .map(|d| d.and_hms_opt(0, 0, 0).unwrap().and_utc().timestamp_millis())
        })
        .unwrap()
}

type Log = Arc<Mutex<Vec<String>>>;
type Data = Arc<Mutex<Vec<Bar>>>;

/// How the fake TwelveData writes its answers.
#[derive(Clone, Copy)]
struct TdStyle {
    newest_first: bool,
    daily: bool,
    volume: bool,
}

const TD_INTRADAY: TdStyle = TdStyle {
    newest_first: false,
    daily: false,
    volume: true,
};

/// A TwelveData `/time_series` double over `data`: it keeps bars within start_date..=end_date, returns
/// the newest `outputsize` of them (as the real API truncates from the end_date side), and logs every
/// request's path and query.
fn fake_twelvedata(server: &mut Server, data: Data, style: TdStyle, log: Log) -> mockito::Mock {
    server
        .mock("GET", "/time_series")
        .match_query(Matcher::Any)
        .with_header("content-type", "application/json")
        .with_body_from_request(move |req| {
            let pq = req.path_and_query().to_string();
            log.lock().unwrap().push(pq.clone());
            let start = td_date(&param(&pq, "start_date").unwrap());
            let end = td_date(&param(&pq, "end_date").unwrap());
            let size: usize = param(&pq, "outputsize").unwrap().parse().unwrap();
            let bars: Vec<Bar> = data
                .lock()
                .unwrap()
                .iter()
                .filter(|b| b.ts >= start && b.ts <= end)
                .copied()
                .collect();
            let mut page: Vec<Bar> = bars[bars.len().saturating_sub(size)..].to_vec();
            if style.newest_first {
                page.reverse();
            }
            td_body(&page, style).into_bytes()
        })
        .create()
}

fn td_body(bars: &[Bar], style: TdStyle) -> String {
    let values: Vec<serde_json::Value> = bars
        .iter()
        .map(|b| {
            let dt = chrono::DateTime::from_timestamp_millis(b.ts).unwrap();
            let datetime = if style.daily {
                dt.format("%Y-%m-%d").to_string()
            } else {
                dt.format("%Y-%m-%d %H:%M:%S").to_string()
            };
            let mut v = serde_json::json!({
                "datetime": datetime,
                "open": format!("{:.5}", b.open),
                "high": format!("{:.5}", b.high),
                "low": format!("{:.5}", b.low),
                "close": format!("{:.5}", b.close),
            });
            if style.volume {
                v["volume"] = serde_json::json!(format!("{}", b.volume));
            }
            v
        })
        .collect();
    serde_json::json!({
        "meta": {"symbol": "X", "interval": "1h", "currency": "USD", "exchange_timezone": "America/New_York",
                 "exchange": "NASDAQ", "type": "Common Stock"},
        "values": values,
        "status": "ok",
    })
    .to_string()
}

/// A Binance `/api/v3/klines` double over `data` (1-minute bars): startTime..=endTime, oldest first, at
/// most `limit` rows; close time = open + interval - 1 ms, so a recent bar may still be open.
fn fake_binance(
    server: &mut Server,
    symbol: &str,
    data: Data,
    step: i64,
    log: Log,
) -> mockito::Mock {
    server
        .mock("GET", "/api/v3/klines")
        .match_query(Matcher::UrlEncoded("symbol".into(), symbol.into()))
        .with_header("content-type", "application/json")
        .with_body_from_request(move |req| {
            let pq = req.path_and_query().to_string();
            log.lock().unwrap().push(pq.clone());
            let start: i64 = param(&pq, "startTime").unwrap().parse().unwrap();
            let end: i64 = param(&pq, "endTime").unwrap().parse().unwrap();
            let limit: usize = param(&pq, "limit").unwrap().parse().unwrap();
            let rows: Vec<serde_json::Value> = data
                .lock()
                .unwrap()
                .iter()
                .filter(|b| b.ts >= start && b.ts <= end)
                .take(limit)
                .map(|b| {
                    serde_json::json!([
                        b.ts,
                        b.open.to_string(),
                        b.high.to_string(),
                        b.low.to_string(),
                        b.close.to_string(),
                        b.volume.to_string(),
                        b.ts + step - 1,
                        "1.0",
                        10,
                        "0.5",
                        "0.5",
                        "0"
                    ])
                })
                .collect();
            serde_json::Value::Array(rows).to_string().into_bytes()
        })
        .create()
}

fn td_args<'a>(url: &'a str, symbol: &'a str, interval: &'a str, start: &'a str) -> Vec<&'a str> {
    vec![
        "fetch",
        "--provider",
        "twelvedata",
        "--symbol",
        symbol,
        "--interval",
        interval,
        "--start",
        start,
        "--base-url",
        url,
    ]
}

// ---------------------------------------------------------------------------------------------------
// Shapes of good answers.

#[test]
fn twelvedata_multi_page_range_is_paginated_backwards_until_covered() {
    let home = home();
    let mut server = Server::new();
    let url = server.url();
    let log = Log::default();
    // 12,000 hourly bars: three pages of at most 5000.
    let bars = series(12_000, JAN1, HOUR_MS);
    let _m = fake_twelvedata(
        &mut server,
        Arc::new(Mutex::new(bars.clone())),
        TD_INTRADAY,
        log.clone(),
    );
    let mut args = td_args(&url, "AAPL", "1h", "2024-01-01");
    args.extend(["--end", "2025-12-31", "--json"]);
    let r = run(home.path(), &args);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let reqs = log.lock().unwrap().clone();
    assert_eq!(reqs.len(), 3, "{reqs:#?}");
    // Every request asks for the same start, ascending order in UTC, and an ever earlier end.
    for q in &reqs {
        assert_eq!(param(q, "start_date").unwrap(), "2024-01-01 00:00:00");
        assert_eq!(param(q, "outputsize").unwrap(), "5000");
        assert_eq!(param(q, "order").unwrap(), "ASC");
        assert_eq!(param(q, "timezone").unwrap(), "UTC");
        assert_eq!(param(q, "interval").unwrap(), "1h");
        assert_eq!(param(q, "apikey").unwrap(), KEY);
    }
    assert_eq!(param(&reqs[0], "end_date").unwrap(), "2025-12-31 23:59:59");
    assert_eq!(
        td_date(&param(&reqs[1], "end_date").unwrap()),
        bars[7000].ts - 1000
    );
    assert_eq!(
        td_date(&param(&reqs[2], "end_date").unwrap()),
        bars[2000].ts - 1000
    );
    let stored = load(home.path(), "AAPL", "1h");
    assert_eq!(stored, Candles::from_bars(&bars));
    let j = json(&r);
    assert_eq!(j["symbols"][0]["new_rows"], 12_000);
    assert_eq!(j["symbols"][0]["total_rows"], 12_000);
    assert_eq!(j["symbols"][0]["status"], "ok");
    assert_eq!(j["symbols"][0]["first"], "2024-01-01T00:00:00Z");
    assert_eq!(j["symbols"][0]["requests"], 3);
}

#[test]
fn twelvedata_newest_first_daily_forex_without_volume() {
    let home = home();
    let mut server = Server::new();
    let url = server.url();
    let log = Log::default();
    let bars = series(30, JAN1, DAY_MS);
    let style = TdStyle {
        newest_first: true,
        daily: true,
        volume: false,
    };
    let _m = fake_twelvedata(
        &mut server,
        Arc::new(Mutex::new(bars.clone())),
        style,
        log.clone(),
    );
    let r = run(home.path(), &td_args(&url, "EUR/USD", "1d", "2024-01-01"));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(param(&log.lock().unwrap()[0], "symbol").unwrap(), "EUR/USD");
    assert_eq!(param(&log.lock().unwrap()[0], "interval").unwrap(), "1day");
    let stored = load(home.path(), "EUR/USD", "1d");
    assert_eq!(stored.ts, bars.iter().map(|b| b.ts).collect::<Vec<_>>());
    assert!(stored.volume.iter().all(|&v| v == 0.0));
    assert_eq!(stored.close[3], bars[3].close);
    // The folder is percent-encoded; the summary table names the symbol as given.
    assert!(home.path().join("data/EUR%2FUSD/1d.parquet").exists());
    assert!(
        r.stdout.contains("EUR/USD") && r.stdout.contains("30"),
        "{}",
        r.stdout
    );
}

#[test]
fn binance_pages_forwards_and_never_stores_the_open_candle() {
    let home = home();
    let mut server = Server::new();
    let url = server.url();
    let log = Log::default();
    // 2,500 one-minute bars ending with the current, still open minute.
    let now = chrono::Utc::now().timestamp_millis();
    let current = now - now.rem_euclid(MINUTE_MS);
    let first = current - 2_499 * MINUTE_MS;
    let bars = series(2_500, first, MINUTE_MS);
    let _m = fake_binance(
        &mut server,
        "BTCUSDT",
        Arc::new(Mutex::new(bars.clone())),
        MINUTE_MS,
        log.clone(),
    );
    let start = first.to_string();
    let r = run(
        home.path(),
        &[
            "fetch",
            "--provider",
            "binance",
            "--symbol",
            "BTCUSDT",
            "--interval",
            "1m",
            "--start",
            &start,
            "--base-url",
            &url,
            "--json",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let reqs = log.lock().unwrap().clone();
    assert_eq!(reqs.len(), 3, "{reqs:#?}");
    assert_eq!(param(&reqs[0], "startTime").unwrap(), start);
    assert_eq!(
        param(&reqs[1], "startTime").unwrap(),
        (bars[999].ts + 1).to_string()
    );
    assert_eq!(
        param(&reqs[2], "startTime").unwrap(),
        (bars[1999].ts + 1).to_string()
    );
    assert_eq!(param(&reqs[0], "limit").unwrap(), "1000");
    assert_eq!(param(&reqs[0], "interval").unwrap(), "1m");
    let stored = load(home.path(), "BTCUSDT", "1m");
    assert_eq!(
        stored,
        Candles::from_bars(&bars[..2_499]),
        "the open last candle must not be stored"
    );
    assert_eq!(json(&r)["symbols"][0]["new_rows"], 2_499);
}

// ---------------------------------------------------------------------------------------------------
// Retries.

#[test]
fn a_429_with_retry_after_is_waited_out_then_the_fetch_succeeds() {
    let home = home();
    let mut server = Server::new();
    let url = server.url();
    let busy = server
        .mock("GET", "/time_series")
        .match_query(Matcher::Any)
        .with_status(429)
        .with_header("retry-after", "1")
        .with_body(r#"{"code":429,"message":"You have run out of API credits for the current minute.","status":"error"}"#)
        .expect(1)
        .create();
    let log = Log::default();
    let ok = fake_twelvedata(
        &mut server,
        Arc::new(Mutex::new(series(5, JAN1, HOUR_MS))),
        TD_INTRADAY,
        log,
    );
    let t0 = Instant::now();
    let r = run(home.path(), &td_args(&url, "AAPL", "1h", "2024-01-01"));
    assert_eq!(r.code, 0, "{}", r.stderr);
    // Retry-After: 1 is honoured although the configured backoff is at most 20 ms.
    assert!(t0.elapsed() >= Duration::from_secs(1), "{:?}", t0.elapsed());
    assert!(
        r.stderr.contains("rate limited") && r.stderr.contains("retrying"),
        "{}",
        r.stderr
    );
    busy.assert();
    ok.assert();
    assert_eq!(load(home.path(), "AAPL", "1h").len(), 5);
}

#[test]
fn a_429_without_retry_after_backs_off_then_succeeds() {
    let home = home();
    let mut server = Server::new();
    let url = server.url();
    // TwelveData style: the error comes as JSON with HTTP 200 and no header.
    let busy = server
        .mock("GET", "/time_series")
        .match_query(Matcher::Any)
        .with_body(r#"{"code":429,"message":"You have run out of API credits for the current minute. 9 API credits were used","status":"error"}"#)
        .expect(2)
        .create();
    let ok = fake_twelvedata(
        &mut server,
        Arc::new(Mutex::new(series(5, JAN1, HOUR_MS))),
        TD_INTRADAY,
        Log::default(),
    );
    let r = run(home.path(), &td_args(&url, "AAPL", "1h", "2024-01-01"));
    assert_eq!(r.code, 0, "{}", r.stderr);
    busy.assert();
    ok.assert();
    // And Binance style: HTTP 429 without Retry-After.
    let mut server = Server::new();
    let url = server.url();
    let busy = server
        .mock("GET", "/api/v3/klines")
        .match_query(Matcher::Any)
        .with_status(429)
        .expect(1)
        .create();
    let ok = fake_binance(
        &mut server,
        "ETHUSDT",
        Arc::new(Mutex::new(series(3, JAN1, HOUR_MS))),
        HOUR_MS,
        Log::default(),
    );
    let r = run(
        home.path(),
        &[
            "fetch",
            "--provider",
            "binance",
            "--symbol",
            "ETHUSDT",
            "--interval",
            "1h",
            "--start",
            "2024-01-01",
            "--end",
            "2024-01-02",
            "--base-url",
            &url,
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    busy.assert();
    ok.assert();
    assert_eq!(load(home.path(), "ETHUSDT", "1h").len(), 3);
}

#[test]
fn server_errors_are_retried_until_attempts_run_out_and_the_store_is_untouched() {
    let home = home();
    let (path, before) = seed_aapl_1h(home.path());
    let mut server = Server::new();
    let url = server.url();
    let m = server
        .mock("GET", "/time_series")
        .match_query(Matcher::Any)
        .with_status(503)
        .with_body("<html>Service Unavailable</html>")
        .expect(3)
        .create();
    let mut args = td_args(&url, "AAPL", "1h", "2024-01-01");
    args.extend(["--max-attempts", "3"]);
    let r = run(home.path(), &args);
    assert_eq!(r.code, 1, "{}", r.stderr);
    m.assert();
    assert!(r.stderr.contains("server error (503"), "{}", r.stderr);
    assert!(
        r.stderr.contains("gave up after 3 attempts"),
        "{}",
        r.stderr
    );
    assert!(r.stdout.contains("failed"), "{}", r.stdout);
    assert_untouched(&path, &before);
}

/// A server on a raw socket: it accepts and reads the first `hang` connections but never answers them;
/// later ones get `body`.
fn hanging_server(hang: usize, body: String) -> (String, Arc<Mutex<usize>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(0));
    let seen2 = seen.clone();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming() {
            let mut s = stream.unwrap();
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            let n = {
                let mut g = seen2.lock().unwrap();
                *g += 1;
                *g
            };
            if n <= hang {
                held.push(s); // never answered
            } else {
                let _ = write!(
                    s,
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{}",
                    body.len(),
                    body
                );
            }
        }
    });
    (url, seen)
}

#[test]
fn a_timeout_is_retried_and_repeated_timeouts_fail_without_writing() {
    let home = home();
    std::fs::write(
        home.path().join("flowrex.toml"),
        FAST_CONFIG.replace("timeout_ms = 2000", "timeout_ms = 300"),
    )
    .unwrap();
    // One hang, then an answer: the retry succeeds.
    let (url, seen) = hanging_server(1, td_body(&series(4, JAN1, HOUR_MS), TD_INTRADAY));
    let r = run(home.path(), &td_args(&url, "AAPL", "1h", "2024-01-01"));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("timed out"), "{}", r.stderr);
    assert_eq!(*seen.lock().unwrap(), 2);
    assert_eq!(load(home.path(), "AAPL", "1h").len(), 4);
    // Only hangs: give up after the attempts, file untouched.
    let path = flowrex::home::Home::layout(home.path())
        .store()
        .path("AAPL", Interval::Hour1)
        .unwrap();
    let before = std::fs::read(&path).unwrap();
    let (url, seen) = hanging_server(usize::MAX, String::new());
    let mut args = td_args(&url, "AAPL", "1h", "2024-01-01");
    args.extend(["--max-attempts", "2", "--full"]);
    let r = run(home.path(), &args);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("timed out") && r.stderr.contains("gave up after 2 attempts"),
        "{}",
        r.stderr
    );
    assert_eq!(*seen.lock().unwrap(), 2);
    assert_untouched(&path, &before);
}

// ---------------------------------------------------------------------------------------------------
// Answers that cannot succeed: not retried, nothing written.

fn fails_once_without_writing(status: usize, body: &str, expect_in_error: &str) {
    let home = home();
    let (path, before) = seed_aapl_1h(home.path());
    let mut server = Server::new();
    let url = server.url();
    let m = server
        .mock("GET", "/time_series")
        .match_query(Matcher::Any)
        .with_status(status)
        .with_body(body)
        .expect(1)
        .create();
    let r = run(home.path(), &td_args(&url, "AAPL", "1h", "2024-01-01"));
    assert_eq!(r.code, 1, "{}", r.stderr);
    m.assert();
    assert!(r.stderr.contains(expect_in_error), "{}", r.stderr);
    assert!(r.stderr.contains("AAPL"), "{}", r.stderr);
    assert!(!r.stderr.contains("retrying"), "{}", r.stderr);
    assert_untouched(&path, &before);
}

#[test]
fn malformed_json_fails_without_writing() {
    fails_once_without_writing(
        200,
        r#"{"meta": {"symbol": "AAPL"}, "values": [{"datetime": "2024-01"#,
        "malformed JSON",
    );
}

#[test]
fn an_error_json_with_http_200_fails_without_writing() {
    fails_once_without_writing(
        200,
        r#"{"code":404,"message":"**symbol** not found: AAPX. Please specify it correctly","status":"error"}"#,
        "symbol not found (404",
    );
}

#[test]
fn a_bad_row_is_named_and_nothing_is_written() {
    let bad = r#"{"values":[{"datetime":"2024-01-01 00:00:00","open":"1","high":"2","low":"0.5","close":"1.5","volume":"1"},
        {"datetime":"2024-01-01 01:00:00","open":"1","high":"0.9","low":"0.5","close":"1.5","volume":"1"}],"status":"ok"}"#;
    fails_once_without_writing(
        200,
        bad,
        "twelvedata: AAPL 1h: page 1: row 2: high 0.9 < close 1.5 — 1 problem; nothing was written",
    );
}

#[test]
fn empty_values_store_nothing_and_succeed() {
    let home = home();
    let (path, before) = seed_aapl_1h(home.path());
    let mut server = Server::new();
    let url = server.url();
    let m = server
        .mock("GET", "/time_series")
        .match_query(Matcher::Any)
        .with_body(r#"{"meta":{"symbol":"AAPL"},"values":[],"status":"ok"}"#)
        .expect(1)
        .create();
    let mut args = td_args(&url, "AAPL", "1h", "2024-01-01");
    args.extend(["--full", "--json"]);
    let r = run(home.path(), &args);
    assert_eq!(r.code, 0, "{}", r.stderr);
    m.assert();
    let j = json(&r);
    assert_eq!(j["symbols"][0]["status"], "ok (no new bars)");
    assert_eq!(j["symbols"][0]["total_rows"], 3);
    assert_untouched(&path, &before);
    // With nothing stored, nothing is created either.
    let other = self::home();
    let r = run(other.path(), &td_args(&url, "MSFT", "1h", "2024-01-01"));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        !flowrex::home::Home::layout(other.path())
            .store()
            .path("MSFT", Interval::Hour1)
            .unwrap()
            .exists()
    );
}

#[test]
fn binance_invalid_symbol_is_not_retried() {
    let home = home();
    let mut server = Server::new();
    let url = server.url();
    let m = server
        .mock("GET", "/api/v3/klines")
        .match_query(Matcher::Any)
        .with_status(400)
        .with_body(r#"{"code":-1121,"msg":"Invalid symbol."}"#)
        .expect(1)
        .create();
    let r = run(
        home.path(),
        &[
            "fetch",
            "--provider",
            "binance",
            "--symbol",
            "BTCUSDX",
            "--interval",
            "1h",
            "--start",
            "2024-01-01",
            "--base-url",
            &url,
        ],
    );
    assert_eq!(r.code, 1);
    m.assert();
    assert!(
        r.stderr
            .contains("binance: BTCUSDX 1h: rejected (HTTP 400): Invalid symbol. (code -1121)"),
        "{}",
        r.stderr
    );
}

#[test]
fn binance_418_stops_the_run_and_skips_the_remaining_symbols() {
    let home = home();
    let (path, before) = seed(
        home.path(),
        "BTCUSDT",
        "1h",
        &series(3, JAN1 - 10 * HOUR_MS, HOUR_MS),
    );
    let mut server = Server::new();
    let url = server.url();
    let banned = server
        .mock("GET", "/api/v3/klines")
        .match_query(Matcher::UrlEncoded("symbol".into(), "BTCUSDT".into()))
        .with_status(418)
        .with_header("retry-after", "120")
        .expect(1)
        .create();
    let log = Log::default();
    let other = fake_binance(
        &mut server,
        "ETHUSDT",
        Arc::new(Mutex::new(series(3, JAN1, HOUR_MS))),
        HOUR_MS,
        log.clone(),
    );
    let r = run(
        home.path(),
        &[
            "fetch",
            "--provider",
            "binance",
            "--symbol",
            "BTCUSDT,ETHUSDT",
            "--interval",
            "1h",
            "--start",
            "2024-01-01",
            "--base-url",
            &url,
            "--json",
            "--max-attempts",
            "5",
        ],
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    banned.assert();
    other.expect(0).assert();
    assert!(log.lock().unwrap().is_empty());
    let j = json(&r);
    assert_eq!(j["symbols"][0]["status"], "failed");
    assert!(
        j["symbols"][0]["error"]
            .as_str()
            .unwrap()
            .contains("HTTP 418"),
        "{j}"
    );
    assert_eq!(j["symbols"][1]["status"], "skipped");
    assert_eq!(j["failed"], 2);
    assert_untouched(&path, &before);
    assert!(
        !flowrex::home::Home::layout(home.path())
            .store()
            .path("ETHUSDT", Interval::Hour1)
            .unwrap()
            .exists()
    );
}

// ---------------------------------------------------------------------------------------------------
// Several symbols, incremental runs, secrets.

#[test]
fn a_partial_multi_symbol_failure_saves_the_good_symbols_and_exits_1() {
    let home = home();
    let (bad_path, bad_before) = seed(
        home.path(),
        "BAD",
        "1h",
        &series(2, JAN1 - 10 * HOUR_MS, HOUR_MS),
    );
    let mut server = Server::new();
    let url = server.url();
    let _good1 = fake_binance(
        &mut server,
        "GOOD1",
        Arc::new(Mutex::new(series(4, JAN1, HOUR_MS))),
        HOUR_MS,
        Log::default(),
    );
    let bad = server
        .mock("GET", "/api/v3/klines")
        .match_query(Matcher::UrlEncoded("symbol".into(), "BAD".into()))
        .with_status(500)
        .expect(2)
        .create();
    let _good2 = fake_binance(
        &mut server,
        "GOOD2",
        Arc::new(Mutex::new(series(6, JAN1, HOUR_MS))),
        HOUR_MS,
        Log::default(),
    );
    let list = home.path().join("symbols.txt");
    std::fs::write(
        &list,
        "# crypto for the nightly job\nGOOD1\n\nBAD   # flaky\nGOOD2\n",
    )
    .unwrap();
    let r = run(
        home.path(),
        &[
            "fetch",
            "--provider",
            "binance",
            "--symbols-file",
            list.to_str().unwrap(),
            "--interval",
            "1h",
            "--start",
            "2024-01-01",
            "--end",
            "2024-01-02",
            "--base-url",
            &url,
            "--max-attempts",
            "2",
        ],
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    bad.assert();
    assert_eq!(load(home.path(), "GOOD1", "1h").len(), 4);
    assert_eq!(load(home.path(), "GOOD2", "1h").len(), 6);
    assert_untouched(&bad_path, &bad_before);
    // The summary table has every symbol, in order, with its status.
    let lines: Vec<&str> = r
        .stdout
        .lines()
        .filter(|l| l.contains("GOOD") || l.contains("BAD"))
        .collect();
    assert_eq!(lines.len(), 3, "{}", r.stdout);
    assert!(
        lines[0].contains("GOOD1") && lines[0].contains(" ok "),
        "{}",
        r.stdout
    );
    assert!(
        lines[1].contains("BAD") && lines[1].contains("failed"),
        "{}",
        r.stdout
    );
    assert!(
        lines[2].contains("GOOD2") && lines[2].contains(" ok "),
        "{}",
        r.stdout
    );
    for h in [
        "new rows",
        "revised rows",
        "total rows",
        "first",
        "last",
        "status",
    ] {
        assert!(r.stdout.contains(h), "missing column {h}: {}", r.stdout);
    }
    assert!(
        r.stderr
            .contains("binance: BAD 1h: server error (HTTP 500)"),
        "{}",
        r.stderr
    );
}

#[test]
fn an_incremental_run_asks_only_for_new_bars_and_counts_a_revised_one() {
    let home = home();
    let mut server = Server::new();
    let url = server.url();
    let log = Log::default();
    let data: Data = Arc::new(Mutex::new(series(100, JAN1, HOUR_MS)));
    let _m = fake_twelvedata(&mut server, data.clone(), TD_INTRADAY, log.clone());
    let r = run(home.path(), &td_args(&url, "AAPL", "1h", "2024-01-01"));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(load(home.path(), "AAPL", "1h").len(), 100);
    let last_stored = JAN1 + 99 * HOUR_MS;
    // The provider revises the last bar and publishes 10 more.
    {
        let mut d = data.lock().unwrap();
        d[99].close += 0.125;
        d[99].high += 0.125;
        d.extend(series(110, JAN1, HOUR_MS).into_iter().skip(100));
    }
    log.lock().unwrap().clear();
    let mut args = td_args(&url, "AAPL", "1h", "2024-01-01");
    args.push("--json");
    let r = run(home.path(), &args);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let reqs = log.lock().unwrap().clone();
    assert_eq!(reqs.len(), 1, "{reqs:#?}");
    // It starts at the last stored bar (one bar of overlap), not at --start.
    assert_eq!(
        td_date(&param(&reqs[0], "start_date").unwrap()),
        last_stored
    );
    let j = json(&r);
    assert_eq!(j["symbols"][0]["new_rows"], 10);
    assert_eq!(j["symbols"][0]["revised_rows"], 1);
    assert_eq!(j["symbols"][0]["total_rows"], 110);
    let stored = load(home.path(), "AAPL", "1h");
    assert_eq!(stored, Candles::from_bars(&data.lock().unwrap()));
    // --full asks for the whole range again.
    log.lock().unwrap().clear();
    let mut args = td_args(&url, "AAPL", "1h", "2024-01-01");
    args.push("--full");
    assert_eq!(run(home.path(), &args).code, 0);
    assert_eq!(
        param(&log.lock().unwrap()[0], "start_date").unwrap(),
        "2024-01-01 00:00:00"
    );
}

#[test]
fn the_api_key_never_appears_in_stdout_stderr_or_logs_even_on_failures() {
    let home = home();
    let mut server = Server::new();
    // A proxy-like error page that echoes the request URL, key included.
    let _echo = server
        .mock("GET", "/time_series")
        .match_query(Matcher::UrlEncoded("symbol".into(), "ECHO".into()))
        .with_status(502)
        .with_body_from_request(|req| {
            format!("bad gateway for {}", req.path_and_query()).into_bytes()
        })
        .create();
    let _bad_key = server
        .mock("GET", "/time_series")
        .match_query(Matcher::UrlEncoded("symbol".into(), "AUTH".into()))
        .with_body(format!(r#"{{"code":401,"message":"**apikey** parameter is incorrect: {KEY}","status":"error"}}"#))
        .create();
    let _quote = server
        .mock("GET", "/quote")
        .match_query(Matcher::Any)
        .with_status(500)
        .with_body_from_request(|req| req.path_and_query().as_bytes().to_vec())
        .create();
    let refused = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    let url = server.url();
    let cases: Vec<Vec<&str>> = vec![
        td_args(&url, "ECHO", "1h", "2024-01-01"),
        td_args(&url, "AUTH", "1h", "2024-01-01"),
        td_args(&refused, "AAPL", "1h", "2024-01-01"),
        vec!["fetch", "--quote", "AAPL", "--base-url", &url],
    ];
    for args in cases {
        for (fmt, level) in [("text", "trace"), ("json", "debug")] {
            let out = flowrex(home.path())
                .env("RUST_LOG", level)
                .args(&args)
                .args(["--log-format", fmt, "--max-attempts", "2"])
                .output()
                .unwrap();
            let (stdout, stderr) = (stdout_of(&out), stderr_of(&out));
            assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
            assert!(
                !stdout.contains(KEY) && !stderr.contains(KEY),
                "{args:?} leaked the key:\n{stdout}\n{stderr}"
            );
            assert!(!stderr.contains("TDKEY"), "{stderr}");
            if args.contains(&"ECHO") {
                // The echoed URL is still useful, minus the key.
                assert!(stderr.contains("apikey=***"), "{stderr}");
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------------
// Quotes, search, configuration and usage.

#[test]
fn quote_and_search_print_tables_or_json() {
    let home = home();
    let mut server = Server::new();
    let _q = server
        .mock("GET", "/quote")
        .match_query(Matcher::AllOf(vec![
            Matcher::UrlEncoded("symbol".into(), "AAPL".into()),
            Matcher::UrlEncoded("apikey".into(), KEY.into()),
        ]))
        .with_body(r#"{"symbol":"AAPL","name":"Apple Inc","exchange":"NASDAQ","currency":"USD","datetime":"2024-01-02",
            "open":"187.15","high":"188.44","low":"183.885","close":"185.64","volume":"82488700","previous_close":"192.53",
            "change":"-6.89","percent_change":"-3.58","is_market_open":false}"#)
        .create();
    let _s = server
        .mock("GET", "/symbol_search")
        .match_query(Matcher::UrlEncoded("symbol".into(), "APP".into()))
        .with_body(r#"{"data":[{"symbol":"AAPL","instrument_name":"Apple Inc","exchange":"NASDAQ","mic_code":"XNGS",
            "exchange_timezone":"America/New_York","instrument_type":"Common Stock","country":"United States","currency":"USD"},
            {"symbol":"APP","instrument_name":"AppLovin Corp","exchange":"NASDAQ","instrument_type":"Common Stock",
            "country":"United States","currency":"USD"}],"status":"ok"}"#)
        .create();
    let url = server.url();
    let r = run(
        home.path(),
        &["fetch", "--quote", "AAPL", "--base-url", &url],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.contains("Apple Inc") && r.stdout.contains("185.64"),
        "{}",
        r.stdout
    );
    let r = run(
        home.path(),
        &["fetch", "--quote", "AAPL", "--base-url", &url, "--json"],
    );
    let j = json(&r);
    assert_eq!(j["close"], 185.64);
    assert_eq!(j["is_market_open"], false);
    let r = run(
        home.path(),
        &["fetch", "--search", "APP", "--base-url", &url],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.contains("AppLovin Corp") && r.stdout.contains("Common Stock"),
        "{}",
        r.stdout
    );
    let j = json(&run(
        home.path(),
        &["fetch", "--search", "APP", "--base-url", &url, "--json"],
    ));
    assert_eq!(j[1]["symbol"], "APP");
    assert_eq!(j[0]["type"], "Common Stock");
}

#[test]
fn base_url_and_key_come_from_the_config_file_too() {
    let home = empty_home();
    let mut server = Server::new();
    let url = server.url();
    let m = server
        .mock("GET", "/time_series")
        .match_query(Matcher::UrlEncoded(
            "apikey".into(),
            "cfg-key-123456".into(),
        ))
        .with_body(td_body(&series(2, JAN1, HOUR_MS), TD_INTRADAY))
        .create();
    std::fs::write(
        home.path().join("flowrex.toml"),
        format!(
            "{FAST_CONFIG}api_key = 'cfg-key-123456'\nbase_url = '{}'\n",
            url
        ),
    )
    .unwrap();
    let out = support::flowrex(home.path())
        .env_remove("TWELVEDATA_API_KEY")
        .args([
            "fetch",
            "--provider",
            "twelvedata",
            "--symbol",
            "AAPL",
            "--interval",
            "1h",
            "--start",
            "2024-01-01",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    m.assert();
}

#[test]
fn usage_errors_exit_2() {
    let home = home();
    // No key anywhere.
    let out = support::flowrex(home.path())
        .env_remove("TWELVEDATA_API_KEY")
        .args([
            "fetch",
            "--provider",
            "twelvedata",
            "--symbol",
            "AAPL",
            "--interval",
            "1h",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr_of(&out).contains("TWELVEDATA_API_KEY"));
    // Symbol lists are for remote providers.
    let r = run(
        home.path(),
        &[
            "fetch",
            "--provider",
            "synthetic",
            "--symbol",
            "A,B",
            "--interval",
            "1h",
        ],
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
    // An empty symbols file.
    let f = home.path().join("empty.txt");
    std::fs::write(&f, "# nothing yet\n\n").unwrap();
    let r = run(
        home.path(),
        &[
            "fetch",
            "--provider",
            "binance",
            "--symbols-file",
            f.to_str().unwrap(),
            "--interval",
            "1h",
        ],
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("empty.txt: no symbols"), "{}", r.stderr);
    // A bad base URL.
    let r = run(
        home.path(),
        &[
            "fetch",
            "--provider",
            "binance",
            "--symbol",
            "X",
            "--interval",
            "1h",
            "--base-url",
            "ftp://x",
        ],
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
}

// ---------------------------------------------------------------------------------------------------
// Hardening: implausible answers, oversized answers, secrets cut by a snippet.

#[test]
fn a_negative_price_from_the_provider_does_not_replace_a_stored_bar() {
    let home = home();
    let (path, before) = seed_aapl_1h(home.path());
    let mut server = Server::new();
    let url = server.url();
    // The provider "revises" the last stored bar to a negative open (OHLC still consistent).
    let mut revised = series(3, JAN1 - 10 * HOUR_MS, HOUR_MS)[2];
    revised.open = -1.0;
    revised.low = -2.0;
    let m = server
        .mock("GET", "/time_series")
        .match_query(Matcher::Any)
        .with_body(td_body(&[revised], TD_INTRADAY))
        .expect(1)
        .create();
    let r = run(home.path(), &td_args(&url, "AAPL", "1h", "2023-12-01"));
    assert_eq!(r.code, 1, "{}", r.stderr);
    m.assert();
    assert!(
        r.stderr.contains("row 1: open -1 is not positive"),
        "{}",
        r.stderr
    );
    assert_untouched(&path, &before);
}

#[test]
fn a_key_cut_off_by_an_error_snippet_is_still_redacted() {
    let home = home();
    let mut server = Server::new();
    let url = server.url();
    // The snippet keeps 160 characters: the key starts at 146, so a cut-first snippet shows 14 of its
    // 24 characters ("TDKEY-must-not"), which no longer match the whole key.
    let body = format!("{}{KEY}{}", "x".repeat(146), "y".repeat(40));
    let _m = server
        .mock("GET", "/time_series")
        .match_query(Matcher::Any)
        .with_status(403)
        .with_body(body)
        .create();
    let r = run(home.path(), &td_args(&url, "AAPL", "1h", "2024-01-01"));
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("403"), "{}", r.stderr);
    for cut in 6..=KEY.len() {
        assert!(
            !r.stderr.contains(&KEY[..cut]) && !r.stdout.contains(&KEY[..cut]),
            "{} characters of the key leaked: {}",
            cut,
            r.stderr
        );
    }
}

#[test]
fn an_answer_over_64_mib_is_refused_without_reading_it_all() {
    let home = home();
    let (path, before) = seed_aapl_1h(home.path());
    // Streamed (no Content-Length): 65 MiB of a JSON list that never ends.
    let mut server = Server::new();
    let url = server.url();
    let _m = server
        .mock("GET", "/time_series")
        .match_query(Matcher::Any)
        .with_chunked_body(|w| {
            w.write_all(b"{\"values\":[")?;
            let chunk = vec![b' '; 1 << 20];
            for _ in 0..65 {
                w.write_all(&chunk)?;
            }
            Ok(())
        })
        .create();
    let r = run(home.path(), &td_args(&url, "AAPL", "1h", "2024-01-01"));
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("larger than 64 MiB") && r.stderr.contains("127.0.0.1"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("retrying"), "{}", r.stderr);
    assert_untouched(&path, &before);
    // Announced by Content-Length: refused before the body is read.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let raw = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let mut s = stream.unwrap();
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            let _ = write!(
                s,
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 200000000\r\n\r\n[[1,"
            );
            std::thread::sleep(Duration::from_secs(5));
        }
    });
    let t0 = Instant::now();
    let r = run(home.path(), &td_args(&raw, "AAPL", "1h", "2024-01-01"));
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("200000000 bytes") && r.stderr.contains("larger than 64 MiB"),
        "{}",
        r.stderr
    );
    assert!(t0.elapsed() < Duration::from_secs(4), "{:?}", t0.elapsed());
    assert_untouched(&path, &before);
}

#[test]
fn a_quote_answer_that_is_not_a_quote_is_an_error() {
    let home = home();
    let mut server = Server::new();
    let _q = server
        .mock("GET", "/quote")
        .match_query(Matcher::Any)
        .with_body("[1,2,3]")
        .create();
    let r = run(
        home.path(),
        &["fetch", "--quote", "AAPL", "--base-url", &server.url()],
    );
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(
        r.stderr.contains("quote AAPL") && r.stderr.contains("expected a JSON object"),
        "{}",
        r.stderr
    );
    assert!(r.stdout.is_empty(), "{}", r.stdout);
}
