//! Binance spot klines (`/api/v3/klines`, no key): pages of up to 1000 bars, oldest first, paginated
//! forwards by `startTime`. The still-open last candle is dropped; HTTP 418 (an IP ban) stops the run.

use std::sync::Arc;

use super::http::{Failure, FetchError, Http, HttpSettings, Reply, snippet};
use super::{CandleRequest, Clock, Progress, Provider, check_base_url};
use crate::candles::validate::{Problems, normalize};
use crate::candles::{Bar, Candles, Interval};
use crate::error::{Error, Result};

/// The provider's name, as used on the command line and recorded as the store file's source.
pub const NAME: &str = "binance";
/// The public spot API.
pub const DEFAULT_BASE_URL: &str = "https://api.binance.com";
/// Most klines one request returns.
pub const PAGE_SIZE: usize = 1000;
/// Request weight of one `klines` request with `limit=1000`.
pub const KLINES_WEIGHT: u32 = 2;

/// A Binance spot market-data client.
#[derive(Debug)]
pub struct Binance {
    base: String,
    http: Http,
}

impl Binance {
    /// A client for `base`.
    pub fn new(base: &str, settings: HttpSettings, clock: Arc<dyn Clock>) -> Result<Binance> {
        Ok(Binance {
            base: check_base_url(NAME, base)?,
            http: Http::new(settings, clock)?,
        })
    }
}

/// Binance's spelling of `interval` (every interval of ours has one).
pub fn interval_code(interval: Interval) -> &'static str {
    match interval {
        Interval::Minute1 => "1m",
        Interval::Minute5 => "5m",
        Interval::Minute15 => "15m",
        Interval::Minute30 => "30m",
        Interval::Hour1 => "1h",
        Interval::Hour4 => "4h",
        Interval::Day1 => "1d",
        Interval::Week1 => "1w",
        Interval::Month1 => "1M",
    }
}

impl Provider for Binance {
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
        let url = format!("{}/api/v3/klines", self.base);
        let what = format!("{} {}", req.symbol, req.interval);
        let mut all = Candles::default();
        let mut pages = 0;
        let mut cursor = req.start.max(0);
        loop {
            pages += 1;
            let q = vec![
                ("symbol", req.symbol.clone()),
                ("interval", interval_code(req.interval).to_string()),
                ("startTime", cursor.to_string()),
                ("endTime", req.end.to_string()),
                ("limit", PAGE_SIZE.to_string()),
            ];
            let label = format!("page {pages}");
            let page = self.http.get(&url, &q, KLINES_WEIGHT, &what, |reply| {
                parse_reply(reply, &label, req.now)
            })?;
            for b in page.candles.bars() {
                all.push(b);
            }
            let covered = page.last_open.map_or(1.0, |l| {
                (l - req.start) as f64 / (req.end - req.start).max(1) as f64
            });
            progress(Progress {
                pages,
                bars: all.len(),
                covered: if page.rows < PAGE_SIZE {
                    1.0
                } else {
                    covered.clamp(0.0, 1.0)
                },
            });
            match page.last_open {
                Some(last) if page.rows >= PAGE_SIZE && last < req.end && last + 1 > cursor => {
                    cursor = last + 1;
                }
                _ => break,
            }
        }
        super::update::validated_closed_in_range(all, &format!("{NAME} {what}"), req)
    }

    fn requests_sent(&self) -> usize {
        self.http.requests_sent()
    }
}

/// One parsed klines page.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    /// Closed bars of the page, sorted and unique.
    pub candles: Candles,
    /// Rows in the answer, the open candle included.
    pub rows: usize,
    /// Open time of the page's last row (open or not), where the next page starts after.
    pub last_open: Option<i64>,
    /// Rows dropped because the candle had not closed at `now`.
    pub still_open: usize,
}

/// Classifies a klines reply and parses its rows; candles whose close time is not before `now` are
/// still open and dropped.
pub fn parse_reply(reply: &Reply, label: &str, now: i64) -> Result<Page, Failure> {
    match reply.status {
        200 => parse_klines(&reply.body, label, now),
        418 => Err(Failure::stop_run(format!(
            "Binance banned this IP for ignoring rate limits (HTTP 418{}); stopping the run: wait before retrying",
            reply
                .retry_after
                .map(|d| format!(", Retry-After {}s", d.as_secs()))
                .unwrap_or_default()
        ))),
        429 => Err(Failure::retry(format!(
            "request weight limit reached (HTTP 429): {}",
            api_message(&reply.body)
        ))
        .with_retry_after(reply.retry_after)),
        s if s >= 500 => Err(Failure::retry(format!(
            "server error (HTTP {s}): {}",
            api_message(&reply.body)
        ))
        .with_retry_after(reply.retry_after)),
        s => {
            let msg = api_message(&reply.body);
            let hint = if msg.contains("-1121") {
                "; check the symbol (Binance spells pairs like BTCUSDT)"
            } else {
                ""
            };
            Err(Failure::fatal(format!("rejected (HTTP {s}): {msg}{hint}")))
        }
    }
}

/// `{"code": -1121, "msg": "Invalid symbol."}` as `Invalid symbol. (code -1121)`, else a snippet.
fn api_message(body: &str) -> String {
    match serde_json::from_str::<serde_json::Value>(body) {
        Ok(v) if v.get("msg").is_some() => format!(
            "{} (code {})",
            v.get("msg").and_then(|m| m.as_str()).unwrap_or(""),
            v.get("code")
                .map_or_else(|| "?".to_string(), |c| c.to_string())
        ),
        _ => snippet(body, 160),
    }
}

/// Parses the body of a successful klines answer (see [`parse_reply`]).
pub fn parse_klines(body: &str, label: &str, now: i64) -> Result<Page, Failure> {
    let rows: Vec<Vec<serde_json::Value>> = serde_json::from_str(body).map_err(|e| {
        Failure::fatal(format!(
            "{label}: malformed JSON, expected a list of klines ({e}); the answer starts: {}",
            snippet(body, 80)
        ))
    })?;
    let mut c = Candles::with_capacity(rows.len());
    let mut problems = Problems::default();
    let mut still_open = 0;
    let mut last_open = None;
    for (i, r) in rows.iter().enumerate() {
        let at = format!("row {}", i + 1);
        let int = |k: usize| r.get(k).and_then(|v| v.as_i64());
        let (Some(open_time), Some(close_time)) = (int(0), int(6)) else {
            problems.add(&at, "open or close time missing or not an integer");
            continue;
        };
        last_open = Some(open_time);
        let mut num = |k: usize, name: &str| -> f64 {
            let v = r.get(k);
            let parsed = match v {
                Some(serde_json::Value::String(s)) => s.trim().parse::<f64>().ok(),
                Some(serde_json::Value::Number(n)) => n.as_f64(),
                _ => None,
            };
            parsed.unwrap_or_else(|| {
                problems.add(
                    &at,
                    format!(
                        "field '{name}' is {}, not a number",
                        v.map_or("missing".to_string(), |v| v.to_string())
                    ),
                );
                f64::NAN
            })
        };
        let bar = Bar {
            ts: open_time,
            open: num(1, "open"),
            high: num(2, "high"),
            low: num(3, "low"),
            close: num(4, "close"),
            volume: num(5, "volume"),
        };
        if close_time >= now {
            still_open += 1;
            continue;
        }
        c.push(bar);
    }
    let fail = |e: Error| Failure::fatal(e.to_string());
    problems
        .into_result(label, "nothing was written")
        .map_err(fail)?;
    let lines: Vec<u64> = (1..=c.len() as u64).collect();
    normalize(&mut c, &lines, label, "row", None).map_err(fail)?;
    Ok(Page {
        candles: c,
        rows: rows.len(),
        last_open,
        still_open,
    })
}

#[cfg(test)]
mod tests {
    use super::super::http::FailureKind;
    use super::*;

    fn reply(status: u16, body: &str) -> Reply {
        Reply {
            status,
            retry_after: None,
            body: body.to_string(),
        }
    }

    #[test]
    fn drops_the_open_candle_and_classifies_errors() {
        let body = r#"[[1704067200000,"42283.58","42554.57","42261.02","42475.23","1271.68",1704070799999,"5.3e7",43213,"642.75","2.7e7","0"],
                      [1704070800000,"42475.23","42600","42400","42500","10",1704074399999,"1",1,"1","1","0"]]"#;
        let p = parse_reply(&reply(200, body), "b", 1_704_072_000_000).unwrap();
        assert_eq!(p.rows, 2);
        assert_eq!(p.still_open, 1);
        assert_eq!(p.last_open, Some(1_704_070_800_000));
        assert_eq!(p.candles.ts, vec![1_704_067_200_000]);
        assert_eq!(p.candles.volume, vec![1271.68]);

        let kind =
            |status: u16, body: &str| parse_reply(&reply(status, body), "b", 0).unwrap_err().kind;
        assert_eq!(kind(418, ""), FailureKind::StopRun);
        assert_eq!(kind(429, ""), FailureKind::Retry);
        assert_eq!(kind(502, "bad gateway"), FailureKind::Retry);
        assert_eq!(
            kind(400, r#"{"code":-1121,"msg":"Invalid symbol."}"#),
            FailureKind::Fatal
        );
        assert_eq!(kind(200, r#"{"code":-1,"msg":"x"}"#), FailureKind::Fatal);
        let msg = parse_reply(
            &reply(400, r#"{"code":-1121,"msg":"Invalid symbol."}"#),
            "b",
            0,
        )
        .unwrap_err()
        .message;
        assert!(
            msg.contains("Invalid symbol. (code -1121); check the symbol"),
            "{msg}"
        );
        let msg = parse_reply(
            &reply(200, r#"[[1,"a","1","1","1","1",2]]"#),
            "binance X 1m page 1",
            10,
        )
        .unwrap_err()
        .message;
        assert!(
            msg.contains("binance X 1m page 1: row 1: field 'open' is \"a\", not a number"),
            "{msg}"
        );
    }
}
