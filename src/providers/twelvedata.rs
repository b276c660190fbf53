//! TwelveData (stocks, forex, crypto): `/time_series` candles paginated backwards by `end_date` (a page
//! holds the newest 5000 bars of its range), plus `/quote` and `/symbol_search`. The API key travels as
//! the `apikey` query parameter and is redacted from everything shown.

use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use super::http::{Failure, FetchError, Http, HttpSettings, Reply, snippet};
use super::{CandleRequest, Clock, Progress, Provider, Secret, check_base_url};
use crate::candles::time::{TimeFormat, parse_time};
use crate::candles::validate::{Problems, normalize};
use crate::candles::{Bar, Candles, Interval};
use crate::error::{Error, Result};

/// The provider's name, as used on the command line and recorded as the store file's source.
pub const NAME: &str = "twelvedata";
/// The public API.
pub const DEFAULT_BASE_URL: &str = "https://api.twelvedata.com";
/// Most rows one `/time_series` request returns.
pub const PAGE_SIZE: usize = 5000;

/// A TwelveData client.
#[derive(Debug)]
pub struct TwelveData {
    base: String,
    key: Option<Secret>,
    http: Http,
}

impl TwelveData {
    /// A client for `base` (no trailing slash needed) with `key`.
    pub fn new(
        base: &str,
        key: Option<Secret>,
        settings: HttpSettings,
        clock: Arc<dyn Clock>,
    ) -> Result<TwelveData> {
        Ok(TwelveData {
            base: check_base_url(NAME, base)?,
            key,
            http: Http::new(settings, clock)?,
        })
    }

    fn query(&self, mut q: Vec<(&'static str, String)>) -> Vec<(&'static str, String)> {
        if let Some(k) = &self.key {
            q.push(("apikey", k.expose().to_string()));
        }
        q
    }

    /// The latest quote of `symbol` (`GET /quote`).
    pub fn quote(&self, symbol: &str) -> Result<Quote, FetchError> {
        let url = format!("{}/quote", self.base);
        let q = self.query(vec![("symbol", symbol.to_string())]);
        self.http
            .get(&url, &q, 1, &format!("quote {symbol}"), |reply| {
                let v = json_or_error(reply)?;
                Quote::from_json(&v).ok_or_else(|| {
                    Failure::fatal(format!(
                        "the answer is not a quote: expected a JSON object with at least a 'symbol' and a \
                         numeric 'close'; got {}",
                        snippet(&reply.body, 80)
                    ))
                })
            })
    }

    /// Instruments whose symbol starts with `text` (`GET /symbol_search`).
    pub fn search(&self, text: &str) -> Result<Vec<SearchHit>, FetchError> {
        let url = format!("{}/symbol_search", self.base);
        let q = self.query(vec![("symbol", text.to_string())]);
        self.http
            .get(&url, &q, 1, &format!("search '{text}'"), |reply| {
                let v = json_or_error(reply)?;
                let data = v.get("data").and_then(|d| d.as_array()).ok_or_else(|| {
                    Failure::fatal(format!(
                        "the answer has no 'data' list: {}",
                        snippet(&reply.body, 160)
                    ))
                })?;
                Ok(data.iter().map(SearchHit::from_json).collect())
            })
    }
}

/// TwelveData's spelling of `interval` (every interval of ours has one).
pub fn interval_code(interval: Interval) -> &'static str {
    match interval {
        Interval::Minute1 => "1min",
        Interval::Minute5 => "5min",
        Interval::Minute15 => "15min",
        Interval::Minute30 => "30min",
        Interval::Hour1 => "1h",
        Interval::Hour4 => "4h",
        Interval::Day1 => "1day",
        Interval::Week1 => "1week",
        Interval::Month1 => "1month",
    }
}

/// UTC milliseconds as TwelveData's `start_date`/`end_date` (`2024-01-02 14:30:00`, read as UTC because
/// every request sends `timezone=UTC`).
pub fn format_date(ms: i64) -> String {
    chrono::DateTime::<chrono::Utc>::from_timestamp_millis(ms)
        .map(|d| d.format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_else(|| "1970-01-01 00:00:00".to_string())
}

impl Provider for TwelveData {
    fn name(&self) -> &'static str {
        NAME
    }

    fn interval_code(&self, interval: Interval) -> Result<&'static str> {
        Ok(interval_code(interval))
    }

    fn fetch(
        &self,
        req: &CandleRequest,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<Candles, FetchError> {
        if self.key.is_none() {
            return Err(FetchError {
                message: format!(
                    "{NAME}: no API key; set {} or [providers.twelvedata] api_key",
                    super::TWELVEDATA_KEY_ENV
                ),
                stop_run: true,
            });
        }
        let url = format!("{}/time_series", self.base);
        let what = format!("{} {}", req.symbol, req.interval);
        let mut pages: Vec<Candles> = Vec::new();
        let mut bars = 0;
        let mut page_end = req.end;
        loop {
            let n = pages.len() + 1;
            let q = self.query(vec![
                ("symbol", req.symbol.clone()),
                ("interval", interval_code(req.interval).to_string()),
                ("start_date", format_date(req.start)),
                ("end_date", format_date(page_end)),
                ("outputsize", PAGE_SIZE.to_string()),
                ("order", "ASC".to_string()),
                ("timezone", "UTC".to_string()),
            ]);
            let label = format!("page {n}");
            let page = self
                .http
                .get(&url, &q, 1, &what, |reply| parse_reply(reply, &label))?;
            let full = page.rows >= PAGE_SIZE;
            let first = page.candles.ts.first().copied();
            bars += page.candles.len();
            pages.push(page.candles);
            let covered = match first {
                Some(f) if full => (req.end - f) as f64 / (req.end - req.start).max(1) as f64,
                _ => 1.0,
            };
            progress(Progress {
                pages: pages.len(),
                bars,
                covered: covered.clamp(0.0, 1.0),
            });
            // A full page holds the newest rows of its range: ask again for what lies before it.
            match first {
                Some(f) if full && f > req.start && f - 1000 < page_end => page_end = f - 1000,
                _ => break,
            }
        }
        let mut all = Candles::with_capacity(bars);
        for p in pages.iter().rev() {
            for b in p.bars() {
                all.push(b);
            }
        }
        super::update::validated_closed_in_range(all, &format!("{NAME} {what}"), req)
    }

    fn requests_sent(&self) -> usize {
        self.http.requests_sent()
    }
}

/// One parsed `/time_series` page: its valid bars, sorted and unique, and how many rows it had.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    /// The page's bars.
    pub candles: Candles,
    /// Rows in the answer (before de-duplication): a page with [`PAGE_SIZE`] rows may have more behind it.
    pub rows: usize,
}

/// A number TwelveData may send as a string (`"187.15000"`) or a JSON number.
#[derive(Debug, Clone)]
enum Num {
    Ok(f64),
    Bad(String),
}

impl<'de> Deserialize<'de> for Num {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Num, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Num;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a number or a numeric string")
            }
            fn visit_str<E>(self, s: &str) -> std::result::Result<Num, E> {
                Ok(s.trim()
                    .parse::<f64>()
                    .map_or_else(|_| Num::Bad(s.to_string()), Num::Ok))
            }
            fn visit_f64<E>(self, v: f64) -> std::result::Result<Num, E> {
                Ok(Num::Ok(v))
            }
            fn visit_i64<E>(self, v: i64) -> std::result::Result<Num, E> {
                Ok(Num::Ok(v as f64))
            }
            fn visit_u64<E>(self, v: u64) -> std::result::Result<Num, E> {
                Ok(Num::Ok(v as f64))
            }
            fn visit_unit<E>(self) -> std::result::Result<Num, E> {
                Ok(Num::Bad("null".into()))
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Debug, Deserialize)]
struct Row {
    datetime: String,
    open: Num,
    high: Num,
    low: Num,
    close: Num,
    #[serde(default)]
    volume: Option<Num>,
}

#[derive(Debug, Deserialize)]
struct Body {
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    code: Option<i64>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    values: Option<Vec<Row>>,
}

/// Classifies an error code (from the HTTP status or the error JSON) with its message.
fn error_code(code: i64, message: &str, retry_after: Option<Duration>) -> Failure {
    let lower = message.to_ascii_lowercase();
    match code {
        429 if lower.contains("for the day") || lower.contains("daily") => {
            Failure::stop_run(format!(
                "daily API credits used up (429: {message}); try again tomorrow or upgrade the plan"
            ))
        }
        429 => {
            // Per-minute credits reset at the next full minute.
            let now_ms = chrono::Utc::now().timestamp_millis();
            let until_minute =
                Duration::from_millis((60_000 - now_ms.rem_euclid(60_000)) as u64 + 500);
            Failure {
                wait_hint: Some(until_minute),
                ..Failure::retry(format!("rate limited (429: {message})"))
                    .with_retry_after(retry_after)
            }
        }
        401 => Failure::stop_run(format!(
            "API key rejected (401: {message}); check {} or [providers.twelvedata] api_key",
            super::TWELVEDATA_KEY_ENV
        )),
        403 => Failure::fatal(format!("not covered by the plan (403: {message})")),
        404 => Failure::fatal(format!(
            "symbol not found (404: {message}); try `flowrex fetch --search TEXT`"
        )),
        c if c >= 500 => {
            Failure::retry(format!("server error ({c}: {message})")).with_retry_after(retry_after)
        }
        c => Failure::fatal(format!("rejected ({c}: {message})")),
    }
}

/// The reply as JSON, or the failure its HTTP status or error body describes.
fn json_or_error(reply: &Reply) -> Result<serde_json::Value, Failure> {
    let parsed: std::result::Result<serde_json::Value, _> = serde_json::from_str(&reply.body);
    if let Ok(v) = &parsed
        && v.get("status").and_then(|s| s.as_str()) == Some("error")
    {
        let code = v
            .get("code")
            .and_then(|c| c.as_i64())
            .unwrap_or(reply.status as i64);
        let msg = v
            .get("message")
            .and_then(|m| m.as_str())
            .unwrap_or("no message");
        return Err(error_code(code, msg, reply.retry_after));
    }
    if reply.status != 200 {
        return Err(error_code(
            reply.status as i64,
            &snippet(&reply.body, 160),
            reply.retry_after,
        ));
    }
    parsed.map_err(|e| {
        Failure::fatal(format!(
            "malformed JSON ({e}); the answer starts: {}",
            snippet(&reply.body, 80)
        ))
    })
}

/// Parses a `/time_series` reply: an error body or status becomes a [`Failure`]; `values` become
/// validated, sorted, de-duplicated bars. `label` names the page in messages.
pub fn parse_reply(reply: &Reply, label: &str) -> Result<Page, Failure> {
    if reply.status != 200 {
        // Prefer the JSON error's own code and message when there is one.
        if let Ok(b) = serde_json::from_str::<Body>(&reply.body)
            && b.status.as_deref() == Some("error")
        {
            let code = b.code.unwrap_or(reply.status as i64);
            return error_page(code, b.message.as_deref(), reply.retry_after);
        }
        return Err(error_code(
            reply.status as i64,
            &snippet(&reply.body, 160),
            reply.retry_after,
        ));
    }
    parse_time_series(&reply.body, label)
}

/// An error body: "no data on these dates" is an empty page; anything else a failure.
fn error_page(
    code: i64,
    message: Option<&str>,
    retry_after: Option<Duration>,
) -> Result<Page, Failure> {
    let msg = message.unwrap_or("no message");
    if code == 400 && msg.to_ascii_lowercase().contains("no data is available") {
        return Ok(Page {
            candles: Candles::default(),
            rows: 0,
        });
    }
    Err(error_code(code, msg, retry_after))
}

/// Parses the body of a successful `/time_series` answer (see [`parse_reply`]).
pub fn parse_time_series(body: &str, label: &str) -> Result<Page, Failure> {
    let b: Body = serde_json::from_str(body).map_err(|e| {
        Failure::fatal(format!(
            "{label}: malformed JSON ({e}); the answer starts: {}",
            snippet(body, 80)
        ))
    })?;
    if b.status.as_deref() == Some("error") {
        return error_page(b.code.unwrap_or(0), b.message.as_deref(), None);
    }
    let values = b.values.ok_or_else(|| {
        Failure::fatal(format!(
            "{label}: the answer has no 'values' (status {:?}): {}",
            b.status.as_deref().unwrap_or("missing"),
            snippet(body, 120)
        ))
    })?;
    let rows = values.len();
    let mut c = Candles::with_capacity(rows);
    let mut problems = Problems::default();
    for (i, r) in values.iter().enumerate() {
        let at = format!("row {}", i + 1);
        let ts = match parse_time(&r.datetime, TimeFormat::Iso) {
            Ok(t) => t,
            Err(_) => {
                problems.add(
                    &at,
                    format!("datetime '{}' is not a date or datetime", r.datetime),
                );
                continue;
            }
        };
        let mut field = |name: &str, n: Option<&Num>| -> f64 {
            match n {
                None => 0.0,
                Some(Num::Ok(v)) => *v,
                Some(Num::Bad(s)) => {
                    problems.add(&at, format!("field '{name}' is '{s}', not a number"));
                    f64::NAN
                }
            }
        };
        let bar = Bar {
            ts,
            open: field("open", Some(&r.open)),
            high: field("high", Some(&r.high)),
            low: field("low", Some(&r.low)),
            close: field("close", Some(&r.close)),
            volume: field("volume", r.volume.as_ref()),
        };
        c.push(bar);
    }
    let fail = |e: Error| Failure::fatal(e.to_string());
    problems
        .into_result(label, "nothing was written")
        .map_err(fail)?;
    let lines: Vec<u64> = (1..=c.len() as u64).collect();
    normalize(&mut c, &lines, label, "row", None).map_err(fail)?;
    Ok(Page { candles: c, rows })
}

/// The latest quote of a symbol, as shown by `fetch --quote`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Quote {
    /// Symbol.
    pub symbol: String,
    /// Instrument name.
    pub name: String,
    /// Exchange.
    pub exchange: String,
    /// Quote currency.
    pub currency: String,
    /// Time of the quote as TwelveData wrote it.
    pub datetime: String,
    /// Session open.
    pub open: Option<f64>,
    /// Session high.
    pub high: Option<f64>,
    /// Session low.
    pub low: Option<f64>,
    /// Latest price.
    pub close: Option<f64>,
    /// Session volume.
    pub volume: Option<f64>,
    /// Previous session's close.
    pub previous_close: Option<f64>,
    /// Change from the previous close.
    pub change: Option<f64>,
    /// Change in percent.
    pub percent_change: Option<f64>,
    /// Whether the market is open now.
    pub is_market_open: Option<bool>,
}

fn text(v: &serde_json::Value, key: &str) -> String {
    match v.get(key) {
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(serde_json::Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

fn number(v: &serde_json::Value, key: &str) -> Option<f64> {
    match v.get(key)? {
        serde_json::Value::String(s) => s.trim().parse().ok(),
        serde_json::Value::Number(n) => n.as_f64(),
        _ => None,
    }
}

impl Quote {
    /// The quote in `v`, or `None` unless `v` is an object with a non-empty `symbol` and a numeric
    /// `close` (anything else — a list, an empty object — is not a quote, however it parses).
    fn from_json(v: &serde_json::Value) -> Option<Quote> {
        if !v.is_object() || text(v, "symbol").is_empty() || number(v, "close").is_none() {
            return None;
        }
        Some(Quote {
            symbol: text(v, "symbol"),
            name: text(v, "name"),
            exchange: text(v, "exchange"),
            currency: text(v, "currency"),
            datetime: text(v, "datetime"),
            open: number(v, "open"),
            high: number(v, "high"),
            low: number(v, "low"),
            close: number(v, "close"),
            volume: number(v, "volume"),
            previous_close: number(v, "previous_close"),
            change: number(v, "change"),
            percent_change: number(v, "percent_change"),
            is_market_open: v.get("is_market_open").and_then(|b| b.as_bool()),
        })
    }
}

/// One instrument found by `fetch --search`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, tabled::Tabled)]
pub struct SearchHit {
    /// Symbol to pass to `--symbol`.
    pub symbol: String,
    /// Instrument name.
    pub name: String,
    /// Instrument type (`Common Stock`, `Physical Currency`, …).
    #[tabled(rename = "type")]
    #[serde(rename = "type")]
    pub kind: String,
    /// Exchange.
    pub exchange: String,
    /// Country.
    pub country: String,
    /// Currency.
    pub currency: String,
}

impl SearchHit {
    fn from_json(v: &serde_json::Value) -> SearchHit {
        SearchHit {
            symbol: text(v, "symbol"),
            name: text(v, "instrument_name"),
            kind: text(v, "instrument_type"),
            exchange: text(v, "exchange"),
            country: text(v, "country"),
            currency: text(v, "currency"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(status: u16, body: &str) -> Reply {
        Reply {
            status,
            retry_after: None,
            body: body.to_string(),
        }
    }

    #[test]
    fn parses_string_numbers_dates_and_missing_volume_in_either_order() {
        let body = r#"{"meta":{"symbol":"EUR/USD","interval":"1day"},"values":[
            {"datetime":"2024-01-03","open":"1.09","high":"1.1","low":"1.08","close":"1.095"},
            {"datetime":"2024-01-02","open":1.1,"high":1.11,"low":1.09,"close":1.09}],"status":"ok"}"#;
        let p = parse_reply(&reply(200, body), "t").unwrap();
        assert_eq!(p.rows, 2);
        assert_eq!(p.candles.ts, vec![1_704_153_600_000, 1_704_240_000_000]);
        assert_eq!(p.candles.volume, vec![0.0, 0.0]);
        assert_eq!(p.candles.close[1], 1.095);
    }

    #[test]
    fn bad_rows_are_named_and_error_bodies_are_classified() {
        let body = r#"{"values":[{"datetime":"2024-01-02 14:30:00","open":"x","high":"2","low":"1","close":"1.5"},
            {"datetime":"later","open":"1","high":"2","low":"1","close":"1.5"}],"status":"ok"}"#;
        let f = parse_reply(&reply(200, body), "twelvedata AAPL 1h page 1").unwrap_err();
        assert_eq!(f.kind, super::super::http::FailureKind::Fatal);
        assert!(
            f.message
                .contains("twelvedata AAPL 1h page 1: row 1: field 'open' is 'x', not a number"),
            "{}",
            f.message
        );
        assert!(
            f.message.contains("row 2: datetime 'later'"),
            "{}",
            f.message
        );

        use super::super::http::FailureKind::*;
        let err = |code: i64, msg: &str| {
            format!(r#"{{"code":{code},"message":"{msg}","status":"error"}}"#)
        };
        let kind = |status: u16, body: &str| {
            parse_reply(&reply(status, body), "t")
                .map(|_| ())
                .unwrap_err()
                .kind
        };
        assert_eq!(
            kind(
                200,
                &err(
                    429,
                    "You have run out of API credits for the current minute."
                )
            ),
            Retry
        );
        assert_eq!(
            kind(
                200,
                &err(429, "You have run out of API credits for the day.")
            ),
            StopRun
        );
        assert_eq!(
            kind(200, &err(401, "**apikey** parameter is incorrect")),
            StopRun
        );
        assert_eq!(kind(200, &err(404, "symbol not found")), Fatal);
        assert_eq!(kind(200, &err(500, "oops")), Retry);
        assert_eq!(kind(503, "<html>busy</html>"), Retry);
        assert_eq!(kind(404, &err(404, "symbol not found")), Fatal);
        assert_eq!(kind(200, "{not json"), Fatal);
        assert_eq!(kind(200, r#"{"status":"ok"}"#), Fatal);
        let empty = parse_reply(
            &reply(
                200,
                &err(400, "No data is available on the specified dates."),
            ),
            "t",
        )
        .unwrap();
        assert!(empty.candles.is_empty());
    }
}
