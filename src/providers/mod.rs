//! Market-data providers (TwelveData, Binance) behind one trait, over a shared HTTP layer that paces,
//! retries and redacts; and [`update`], which brings a store file up to date from a provider.

pub mod batch;
pub mod binance;
pub mod http;
pub mod twelvedata;
pub mod update;

use std::sync::Arc;
use std::time::Duration;

use crate::candles::{Candles, Interval};
use crate::error::{Error, Result};
pub use http::{Clock, FetchError, Secret, SystemClock};

/// The environment variable holding the TwelveData API key (it wins over `flowrex.toml`).
pub const TWELVEDATA_KEY_ENV: &str = "TWELVEDATA_API_KEY";

/// What to fetch: closed bars of `symbol` at `interval` whose open time lies in `start..=end`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CandleRequest {
    /// The provider's symbol (`AAPL`, `EUR/USD`, `BTCUSDT`).
    pub symbol: String,
    /// Bar interval.
    pub interval: Interval,
    /// First bar open time wanted (ms, UTC).
    pub start: i64,
    /// Last bar open time wanted (ms, UTC).
    pub end: i64,
    /// The current time (ms, UTC): bars that have not closed by then are not returned.
    pub now: i64,
}

/// How far a fetch has got, for progress bars.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Progress {
    /// Pages received so far.
    pub pages: usize,
    /// Bars received so far.
    pub bars: usize,
    /// Share of the requested time range covered, 0 to 1.
    pub covered: f64,
}

/// A source of candles.
pub trait Provider {
    /// The provider's name (`twelvedata`), recorded as the store file's source.
    fn name(&self) -> &'static str;

    /// The provider's spelling of `interval`, or an error naming the intervals it has.
    fn interval_code(&self, interval: Interval) -> Result<&'static str>;

    /// Fetches the closed bars of `req`, paginating until the range is covered. The result is sorted,
    /// unique and validated. `progress` is called after every page.
    fn fetch(
        &self,
        req: &CandleRequest,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<Candles, FetchError>;

    /// HTTP requests sent so far (every attempt counts).
    fn requests_sent(&self) -> usize;
}

/// Settings shared by every provider: `[providers]` in `flowrex.toml`.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProvidersConfig {
    /// Attempts per request, the first included.
    pub max_attempts: u32,
    /// First retry backoff in milliseconds (doubles per attempt, with jitter).
    pub retry_base_ms: u64,
    /// Cap on the backoff in milliseconds (a server's `Retry-After` may ask for longer).
    pub retry_max_ms: u64,
    /// Per-request timeout in milliseconds.
    pub timeout_ms: u64,
    /// TwelveData settings.
    pub twelvedata: TwelveDataConfig,
    /// Binance settings.
    pub binance: BinanceConfig,
}

impl Default for ProvidersConfig {
    fn default() -> Self {
        ProvidersConfig {
            max_attempts: 5,
            retry_base_ms: 1_000,
            retry_max_ms: 60_000,
            timeout_ms: 30_000,
            twelvedata: TwelveDataConfig::default(),
            binance: BinanceConfig::default(),
        }
    }
}

impl ProvidersConfig {
    /// Refuses settings that cannot fetch anything (they used to be accepted and bent to 1): a 0 ms
    /// timeout fails every request, 0 attempts or 0 requests a minute send none.
    pub fn check(&self) -> Result<()> {
        let zero = [
            ("timeout_ms", self.timeout_ms == 0),
            ("max_attempts", self.max_attempts == 0),
            (
                "twelvedata.requests_per_minute",
                self.twelvedata.requests_per_minute == 0,
            ),
            (
                "binance.weight_per_minute",
                self.binance.weight_per_minute == 0,
            ),
        ];
        match zero.iter().find(|(_, is_zero)| *is_zero) {
            Some((key, _)) => Err(Error::invalid(format!(
                "[providers] {key} = 0: must be at least 1"
            ))),
            None => Ok(()),
        }
    }
}

/// `[providers.twelvedata]`.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TwelveDataConfig {
    /// API key (the `TWELVEDATA_API_KEY` environment variable wins).
    pub api_key: Option<Secret>,
    /// Base URL, e.g. a proxy.
    pub base_url: String,
    /// Requests per minute the plan allows (free plan: 8).
    pub requests_per_minute: u32,
}

impl Default for TwelveDataConfig {
    fn default() -> Self {
        TwelveDataConfig {
            api_key: None,
            base_url: twelvedata::DEFAULT_BASE_URL.to_string(),
            requests_per_minute: 8,
        }
    }
}

/// `[providers.binance]`.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BinanceConfig {
    /// Base URL, e.g. `https://api.binance.us` or a proxy.
    pub base_url: String,
    /// Request weight allowed per minute (Binance spot: 6000).
    pub weight_per_minute: u32,
}

impl Default for BinanceConfig {
    fn default() -> Self {
        BinanceConfig {
            base_url: binance::DEFAULT_BASE_URL.to_string(),
            weight_per_minute: 6_000,
        }
    }
}

/// Per-run overrides from the command line.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--base-url`.
    pub base_url: Option<String>,
    /// `--max-attempts`.
    pub max_attempts: Option<u32>,
}

impl ProvidersConfig {
    /// The retry policy these settings describe, with `max_attempts` overridden if given.
    pub fn retry_policy(&self, max_attempts: Option<u32>) -> http::RetryPolicy {
        http::RetryPolicy {
            max_attempts: max_attempts.unwrap_or(self.max_attempts).max(1),
            base_delay: Duration::from_millis(self.retry_base_ms),
            max_delay: Duration::from_millis(self.retry_max_ms.max(self.retry_base_ms)),
            ..http::RetryPolicy::default()
        }
    }

    /// The TwelveData API key: `TWELVEDATA_API_KEY`, else the config's `api_key`.
    pub fn twelvedata_key(&self) -> Option<Secret> {
        std::env::var(TWELVEDATA_KEY_ENV)
            .ok()
            .filter(|k| !k.trim().is_empty())
            .map(|k| Secret::new(k.trim()))
            .or_else(|| {
                self.twelvedata
                    .api_key
                    .clone()
                    .filter(|k| !k.expose().is_empty())
            })
    }

    /// A TwelveData client; `need_key` makes a missing key a usage error naming where to put it.
    pub fn twelvedata(
        &self,
        overrides: &Overrides,
        clock: Arc<dyn Clock>,
        need_key: bool,
    ) -> Result<twelvedata::TwelveData> {
        let key = self.twelvedata_key();
        if need_key && key.is_none() {
            return Err(Error::usage(format!(
                "twelvedata needs an API key: set {TWELVEDATA_KEY_ENV} or `api_key` under [providers.twelvedata] \
                 in flowrex.toml"
            )));
        }
        let base = overrides
            .base_url
            .clone()
            .unwrap_or_else(|| self.twelvedata.base_url.clone());
        let settings = http::HttpSettings {
            provider: twelvedata::NAME,
            timeout: Duration::from_millis(self.timeout_ms.max(1)),
            weight_per_minute: self.twelvedata.requests_per_minute,
            retry: self.retry_policy(overrides.max_attempts),
            secrets: key.iter().map(|k| k.expose().to_string()).collect(),
            max_body_bytes: http::MAX_RESPONSE_BYTES,
        };
        twelvedata::TwelveData::new(&base, key, settings, clock)
    }

    /// A Binance client.
    pub fn binance(
        &self,
        overrides: &Overrides,
        clock: Arc<dyn Clock>,
    ) -> Result<binance::Binance> {
        let base = overrides
            .base_url
            .clone()
            .unwrap_or_else(|| self.binance.base_url.clone());
        let settings = http::HttpSettings {
            provider: binance::NAME,
            timeout: Duration::from_millis(self.timeout_ms.max(1)),
            weight_per_minute: self.binance.weight_per_minute,
            retry: self.retry_policy(overrides.max_attempts),
            secrets: Vec::new(),
            max_body_bytes: http::MAX_RESPONSE_BYTES,
        };
        binance::Binance::new(&base, settings, clock)
    }
}

/// Checks a base URL: it must parse and use http or https. Returns it without a trailing slash.
pub fn check_base_url(provider: &str, base: &str) -> Result<String> {
    let url = reqwest::Url::parse(base).map_err(|e| {
        Error::usage(format!(
            "{provider}: base URL '{base}' is not a URL ({e}); e.g. https://api.example.com"
        ))
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(Error::usage(format!(
            "{provider}: base URL '{base}' must start with http:// or https://"
        )));
    }
    Ok(base.trim_end_matches('/').to_string())
}
