//! The HTTP layer shared by every provider: a pacing rate limiter, retries with exponential backoff and
//! jitter (honouring `Retry-After`), and redaction of secrets from everything that could be shown.
//!
//! Time is injected through [`Clock`], so tests can check pacing and backoff without waiting.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::RngExt;

/// A source of monotonic time that can also wait. The system clock sleeps for real; tests use a clock
/// whose `sleep` only advances its own time.
pub trait Clock: Send + Sync {
    /// Time elapsed since an arbitrary, fixed origin.
    fn now(&self) -> Duration;
    /// Blocks (or pretends to) for `d`.
    fn sleep(&self, d: Duration);
}

/// The real clock: `Instant` and `std::thread::sleep`.
#[derive(Debug)]
pub struct SystemClock {
    origin: Instant,
}

impl SystemClock {
    /// A clock whose origin is now.
    pub fn new() -> Self {
        SystemClock {
            origin: Instant::now(),
        }
    }
}

impl Default for SystemClock {
    fn default() -> Self {
        SystemClock::new()
    }
}

impl Clock for SystemClock {
    fn now(&self) -> Duration {
        self.origin.elapsed()
    }

    fn sleep(&self, d: Duration) {
        std::thread::sleep(d);
    }
}

/// A clock for tests: `sleep` advances virtual time instantly and records the wait.
#[derive(Debug, Default)]
pub struct ManualClock {
    state: Mutex<(Duration, Vec<Duration>)>,
}

impl ManualClock {
    /// A clock at time zero with no recorded sleeps.
    pub fn new() -> Self {
        ManualClock::default()
    }

    /// Every wait requested so far, in order.
    pub fn sleeps(&self) -> Vec<Duration> {
        self.state.lock().expect("clock lock").1.clone()
    }

    /// Moves time forward without recording a sleep (time passing between requests).
    pub fn advance(&self, d: Duration) {
        self.state.lock().expect("clock lock").0 += d;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Duration {
        self.state.lock().expect("clock lock").0
    }

    fn sleep(&self, d: Duration) {
        let mut s = self.state.lock().expect("clock lock");
        s.0 += d;
        s.1.push(d);
    }
}

/// Paces requests: at most `capacity` units of weight within any sliding `window`. TwelveData counts one
/// unit per request (8 a minute on the free plan); Binance counts request weight (6000 a minute).
#[derive(Debug)]
pub struct RateLimiter {
    capacity: u32,
    window: Duration,
    /// (time the request was sent, its weight), oldest first.
    sent: VecDeque<(Duration, u32)>,
}

impl RateLimiter {
    /// A limiter allowing `capacity` weight per `window` (a capacity of 0 is treated as 1).
    pub fn new(capacity: u32, window: Duration) -> Self {
        RateLimiter {
            capacity: capacity.max(1),
            window,
            sent: VecDeque::new(),
        }
    }

    /// Waits (on `clock`) until a request of `weight` fits in the window, then records it. Returns how
    /// long it waited.
    pub fn acquire(&mut self, weight: u32, clock: &dyn Clock) -> Duration {
        let weight = weight.clamp(1, self.capacity);
        let mut waited = Duration::ZERO;
        loop {
            let now = clock.now();
            while let Some(&(t, _)) = self.sent.front() {
                if now >= t + self.window {
                    self.sent.pop_front();
                } else {
                    break;
                }
            }
            let used: u32 = self.sent.iter().map(|&(_, w)| w).sum();
            if used + weight <= self.capacity {
                self.sent.push_back((now, weight));
                return waited;
            }
            // Wait until enough of the oldest requests leave the window.
            let mut freed = 0;
            let mut until = now;
            for &(t, w) in &self.sent {
                freed += w;
                until = t + self.window;
                if used - freed + weight <= self.capacity {
                    break;
                }
            }
            let d = until.saturating_sub(now).max(Duration::from_millis(1));
            clock.sleep(d);
            waited += d;
        }
    }
}

/// How often and how patiently a request is retried.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    /// Attempts in total, the first one included (at least 1).
    pub max_attempts: u32,
    /// Backoff before the second attempt; it doubles for every further one.
    pub base_delay: Duration,
    /// Cap on the exponential backoff (a server's `Retry-After` may ask for longer and is obeyed).
    pub max_delay: Duration,
    /// A `Retry-After` longer than this is not waited for: the request fails and says when to retry.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 5,
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(60),
            max_retry_after: Duration::from_secs(600),
        }
    }
}

impl RetryPolicy {
    /// The backoff after failed attempt `attempt` (1-based): `base * 2^(attempt-1)`, capped, scaled by a
    /// random jitter factor in [0.5, 1] so that many clients do not retry in lockstep.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let exp = self
            .base_delay
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(20));
        let capped = exp.min(self.max_delay);
        let jitter: f64 = rand::rng().random_range(0.5..=1.0);
        capped.mul_f64(jitter)
    }
}

/// How a failed attempt should be handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// Might succeed if tried again: timeouts, connection errors, 429, 5xx.
    Retry,
    /// Cannot succeed for this request: a bad symbol, a bad parameter, an unreadable answer.
    Fatal,
    /// Cannot succeed for any request of this run: a bad key, used-up daily credits, an IP ban (418).
    StopRun,
}

/// One failed attempt, as classified by the provider.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    /// Whether and how to go on.
    pub kind: FailureKind,
    /// One line for people; never contains a secret (it passes through the [`Redactor`]).
    pub message: String,
    /// The server's `Retry-After`: the next attempt waits at least this long.
    pub retry_after: Option<Duration>,
    /// A softer hint (e.g. "credits reset at the next minute"), capped by the policy's `max_delay`.
    pub wait_hint: Option<Duration>,
}

impl Failure {
    /// A failure worth retrying.
    pub fn retry(message: impl Into<String>) -> Self {
        Failure {
            kind: FailureKind::Retry,
            message: message.into(),
            retry_after: None,
            wait_hint: None,
        }
    }

    /// A failure that retrying cannot fix.
    pub fn fatal(message: impl Into<String>) -> Self {
        Failure {
            kind: FailureKind::Fatal,
            ..Failure::retry(message)
        }
    }

    /// A failure that ends the whole run.
    pub fn stop_run(message: impl Into<String>) -> Self {
        Failure {
            kind: FailureKind::StopRun,
            ..Failure::retry(message)
        }
    }

    /// Sets the server-requested wait.
    pub fn with_retry_after(mut self, d: Option<Duration>) -> Self {
        self.retry_after = d;
        self
    }
}

/// The error a provider returns for one symbol: a redacted one-line message, and whether the rest of the
/// run must stop too.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct FetchError {
    /// What went wrong, with the symbol and what to do about it.
    pub message: String,
    /// True when no further request of this run can succeed (bad key, IP ban).
    pub stop_run: bool,
}

impl FetchError {
    /// An error for this symbol only.
    pub fn new(message: impl Into<String>) -> Self {
        FetchError {
            message: message.into(),
            stop_run: false,
        }
    }
}

/// A secret string (an API key) whose `Debug` form never shows the value.
#[derive(Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The value, for building a request. Never print it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Removes secrets from text before it is shown: every known secret (raw and URL-encoded) becomes `***`,
/// and so does the value of any `apikey=` query parameter.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    secrets: Vec<String>,
}

impl Redactor {
    /// A redactor for `secrets` (empty values are ignored).
    pub fn new<'a>(secrets: impl IntoIterator<Item = &'a str>) -> Self {
        let mut list = Vec::new();
        for s in secrets.into_iter().filter(|s| !s.is_empty()) {
            list.push(s.to_string());
            let enc = percent_encode(s);
            if enc != s {
                list.push(enc);
            }
        }
        // Longest first, so that a secret containing another is removed whole.
        list.sort_by_key(|s| std::cmp::Reverse(s.len()));
        Redactor { secrets: list }
    }

    /// `text` with every secret replaced by `***`.
    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_string();
        for s in &self.secrets {
            if out.contains(s.as_str()) {
                out = out.replace(s.as_str(), "***");
            }
        }
        if contains_ignore_case(out.as_bytes(), b"apikey=") {
            out = redact_query_param(&out, "apikey=");
        }
        out
    }
}

/// Whether `needle` (lowercase ASCII) occurs in `hay` in any case, without allocating.
fn contains_ignore_case(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle))
}

/// Replaces the value after every `param` (e.g. `apikey=`) up to the next `&`, `#`, quote, bracket or
/// whitespace with `***`.
fn redact_query_param(text: &str, param: &str) -> String {
    let lower = text.to_ascii_lowercase();
    let mut out = String::with_capacity(text.len());
    let mut pos = 0;
    while let Some(found) = lower[pos..].find(param) {
        let value_start = pos + found + param.len();
        out.push_str(&text[pos..value_start]);
        let value_len = text[value_start..]
            .find(|c: char| {
                c == '&' || c == '#' || c == '"' || c == '\'' || c == ')' || c.is_whitespace()
            })
            .unwrap_or(text.len() - value_start);
        if value_len > 0 {
            out.push_str("***");
        }
        pos = value_start + value_len;
    }
    out.push_str(&text[pos..]);
    out
}

/// Percent-encodes everything but RFC 3986 unreserved characters (how a query value appears in a URL).
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// What came back from one request: the status, the `Retry-After` header (seconds), and the body text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// HTTP status code.
    pub status: u16,
    /// `Retry-After`, when the server sent one in seconds.
    pub retry_after: Option<Duration>,
    /// The body as text, already redacted: every secret in it is `***` before any parser, snippet or log
    /// sees it (so a snippet cut in the middle of a key cannot show most of it).
    pub body: String,
}

/// Largest response body read: 64 MiB. A TwelveData page of 5000 bars is ~0.6 MB and a Binance page of
/// 1000 klines ~0.15 MB, so this is 100 times the largest real answer, and bounds memory for anything else
/// (a 200 MB answer used to take 422 MB of RSS).
pub const MAX_RESPONSE_BYTES: u64 = 64 << 20;

/// Settings of the HTTP layer for one provider.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// The provider's name for messages (`twelvedata`).
    pub provider: &'static str,
    /// Per-request timeout (connect, send and read the body).
    pub timeout: Duration,
    /// Weight allowed per minute.
    pub weight_per_minute: u32,
    /// Retry behaviour.
    pub retry: RetryPolicy,
    /// Secrets to keep out of every message.
    pub secrets: Vec<String>,
    /// Largest body read ([`MAX_RESPONSE_BYTES`] unless a test wants less); a larger one is a failure
    /// that is not retried.
    pub max_body_bytes: u64,
}

/// A paced, retrying HTTP client for one provider.
pub struct Http {
    client: reqwest::blocking::Client,
    limiter: Mutex<RateLimiter>,
    retry: RetryPolicy,
    clock: Arc<dyn Clock>,
    redactor: Redactor,
    provider: &'static str,
    requests: AtomicUsize,
    max_body_bytes: u64,
}

impl std::fmt::Debug for Http {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Http")
            .field("provider", &self.provider)
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

impl Http {
    /// A client with `settings`, pacing and sleeping on `clock`.
    pub fn new(settings: HttpSettings, clock: Arc<dyn Clock>) -> crate::error::Result<Http> {
        let redactor = Redactor::new(settings.secrets.iter().map(String::as_str));
        let client = reqwest::blocking::Client::builder()
            .timeout(settings.timeout)
            .connect_timeout(settings.timeout)
            .user_agent(concat!("flowrex/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| {
                crate::error::Error::invalid(format!(
                    "{}: cannot set up the HTTP client: {}",
                    settings.provider,
                    redactor.redact(&e.to_string())
                ))
            })?;
        Ok(Http {
            client,
            limiter: Mutex::new(RateLimiter::new(
                settings.weight_per_minute,
                Duration::from_secs(60),
            )),
            retry: RetryPolicy {
                max_attempts: settings.retry.max_attempts.max(1),
                ..settings.retry
            },
            clock,
            redactor,
            provider: settings.provider,
            requests: AtomicUsize::new(0),
            max_body_bytes: settings.max_body_bytes,
        })
    }

    /// The redactor of this client's secrets.
    pub fn redactor(&self) -> &Redactor {
        &self.redactor
    }

    /// Requests sent so far (every attempt counts).
    pub fn requests_sent(&self) -> usize {
        self.requests.load(Ordering::Relaxed)
    }

    /// GETs `url` with `query`, paced by `weight`, and hands each reply to `classify`. Retries while
    /// `classify` (or the transport) says [`FailureKind::Retry`], up to the policy's attempts, waiting
    /// `max(backoff, Retry-After)` in between. `what` names the request in messages (`AAPL 1h`).
    pub fn get<T>(
        &self,
        url: &str,
        query: &[(&str, String)],
        weight: u32,
        what: &str,
        classify: impl Fn(&Reply) -> Result<T, Failure>,
    ) -> Result<T, FetchError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let waited = self
                .limiter
                .lock()
                .expect("rate limiter lock")
                .acquire(weight, self.clock.as_ref());
            if !waited.is_zero() {
                tracing::debug!(
                    "{}: paced {what}: waited {:.1}s for the rate limit",
                    self.provider,
                    waited.as_secs_f64()
                );
            }
            let outcome = self.send(url, query).and_then(|reply| classify(&reply));
            let failure = match outcome {
                Ok(v) => return Ok(v),
                Err(f) => f,
            };
            let message = self.redactor.redact(&failure.message);
            let give_up = |message: String| FetchError {
                message: self.redactor.redact(&message),
                stop_run: failure.kind == FailureKind::StopRun,
            };
            match failure.kind {
                FailureKind::Fatal | FailureKind::StopRun => {
                    return Err(give_up(format!("{}: {what}: {message}", self.provider)));
                }
                FailureKind::Retry if attempt >= self.retry.max_attempts => {
                    return Err(give_up(format!(
                        "{}: {what}: {message} (gave up after {attempt} attempt{}; raise --max-attempts or try later)",
                        self.provider,
                        if attempt == 1 { "" } else { "s" }
                    )));
                }
                FailureKind::Retry => {}
            }
            let mut delay = self.retry.backoff(attempt);
            if let Some(hint) = failure.wait_hint {
                delay = delay.max(hint.min(self.retry.max_delay));
            }
            if let Some(ra) = failure.retry_after {
                if ra > self.retry.max_retry_after {
                    return Err(give_up(format!(
                        "{}: {what}: {message}; the server asks to wait {}s before retrying, try again later",
                        self.provider,
                        ra.as_secs()
                    )));
                }
                delay = delay.max(ra);
            }
            tracing::warn!(
                "{}: {what}: {message}; retrying in {:.1}s (attempt {} of {})",
                self.provider,
                delay.as_secs_f64(),
                attempt + 1,
                self.retry.max_attempts
            );
            self.clock.sleep(delay);
        }
    }

    /// One attempt: send, read the body. Transport problems are classified here.
    fn send(&self, url: &str, query: &[(&str, String)]) -> Result<Reply, Failure> {
        let transport = |e: reqwest::Error| {
            let kind = if e.is_timeout() {
                "timed out"
            } else if e.is_connect() {
                "cannot connect"
            } else if e.is_body() || e.is_decode() {
                "the answer broke off"
            } else {
                "request failed"
            };
            // reqwest's messages include the URL (and so the key): drop it, then redact the rest.
            let detail = self.redactor.redact(&error_chain(&e.without_url()));
            let host = reqwest::Url::parse(url)
                .ok()
                .and_then(|u| {
                    u.host_str().map(|h| match u.port() {
                        Some(p) => format!("{h}:{p}"),
                        None => h.to_string(),
                    })
                })
                .unwrap_or_default();
            Failure::retry(format!("{kind} ({host}): {detail}"))
        };
        let request = self.client.get(url).query(query).build().map_err(|e| {
            Failure::fatal(format!(
                "bad request URL: {}",
                self.redactor.redact(&error_chain(&e.without_url()))
            ))
        })?;
        tracing::debug!(
            "{}: GET {}",
            self.provider,
            self.redactor.redact(request.url().as_str())
        );
        self.requests.fetch_add(1, Ordering::Relaxed);
        let response = self.client.execute(request).map_err(transport)?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let body = self.read_body(response, url, transport)?;
        tracing::debug!("{}: HTTP {status}, {} bytes", self.provider, body.len());
        Ok(Reply {
            status,
            retry_after,
            body: self.redactor.redact(&body),
        })
    }

    /// Reads a body of at most `max_body_bytes`: an announced larger one is refused unread, a streamed one
    /// as soon as it passes the cap. Either is a failure that is not retried, naming the URL and the cap.
    fn read_body(
        &self,
        mut response: reqwest::blocking::Response,
        url: &str,
        transport: impl Fn(reqwest::Error) -> Failure,
    ) -> Result<String, Failure> {
        use std::io::Read;
        let cap = self.max_body_bytes;
        if let Some(len) = response.content_length()
            && len > cap
        {
            return Err(Failure::fatal(format!(
                "the answer from {url} announces {len} bytes, larger than {}, the cap per response; it was not read",
                mib(cap)
            )));
        }
        let mut buf = Vec::new();
        (&mut response)
            .take(cap + 1)
            .read_to_end(&mut buf)
            .map_err(|e| match e.into_inner() {
                Some(inner) => match inner.downcast::<reqwest::Error>() {
                    Ok(re) => transport(*re),
                    Err(other) => Failure::retry(format!("the answer broke off: {other}")),
                },
                None => Failure::retry("the answer broke off"),
            })?;
        if buf.len() as u64 > cap {
            return Err(Failure::fatal(format!(
                "the answer from {url} is larger than {}, the cap per response; reading stopped there",
                mib(cap)
            )));
        }
        Ok(String::from_utf8(buf)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()))
    }
}

/// A byte count as `64 MiB` (whole MiB) or `N bytes`.
fn mib(bytes: u64) -> String {
    if bytes >= 1 << 20 && bytes.is_multiple_of(1 << 20) {
        format!("{} MiB", bytes >> 20)
    } else {
        format!("{bytes} bytes")
    }
}

/// An error and its sources on one line.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut parts = vec![e.to_string()];
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = s.source();
    }
    parts.join(": ")
}

/// The first `max` characters of `body` on one line, for error messages.
pub fn snippet(body: &str, max: usize) -> String {
    let one_line: String = body
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let trimmed = one_line.trim();
    if trimmed.chars().count() > max {
        format!("{}…", trimmed.chars().take(max).collect::<String>())
    } else {
        trimmed.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: fn(u64) -> Duration = Duration::from_secs;

    #[test]
    fn the_limiter_lets_a_burst_through_then_waits_for_the_window() {
        let clock = ManualClock::new();
        let mut lim = RateLimiter::new(8, S(60));
        for _ in 0..8 {
            assert_eq!(lim.acquire(1, &clock), Duration::ZERO);
        }
        // The 9th request waits until the first leaves the 60 s window.
        assert_eq!(lim.acquire(1, &clock), S(60));
        assert_eq!(clock.now(), S(60));
        // Requests spread over time need no wait.
        let clock = ManualClock::new();
        let mut lim = RateLimiter::new(8, S(60));
        for _ in 0..20 {
            assert_eq!(lim.acquire(1, &clock), Duration::ZERO);
            clock.advance(Duration::from_millis(7_500));
        }
    }

    #[test]
    fn sixteen_requests_at_eight_a_minute_take_a_minute_and_never_exceed_the_rate() {
        let clock = ManualClock::new();
        let mut lim = RateLimiter::new(8, S(60));
        let mut sent = Vec::new();
        for _ in 0..17 {
            lim.acquire(1, &clock);
            sent.push(clock.now());
        }
        for (i, t) in sent.iter().enumerate() {
            let in_window = sent.iter().filter(|&&u| u <= *t && *t < u + S(60)).count();
            assert!(
                in_window <= 8,
                "request {i} at {t:?} has {in_window} in its window"
            );
        }
        assert_eq!(sent[16], S(120));
    }

    #[test]
    fn the_limiter_counts_weight() {
        let clock = ManualClock::new();
        let mut lim = RateLimiter::new(10, S(60));
        assert_eq!(lim.acquire(4, &clock), Duration::ZERO);
        clock.advance(S(10));
        assert_eq!(lim.acquire(4, &clock), Duration::ZERO);
        // 8 used; a weight-4 request must wait for the first (sent at 0) to expire at 60.
        assert_eq!(lim.acquire(4, &clock), S(50));
        // A weight above the capacity is clamped instead of waiting forever.
        let mut lim = RateLimiter::new(2, S(60));
        assert_eq!(lim.acquire(5, &clock), Duration::ZERO);
    }

    #[test]
    fn backoff_doubles_with_jitter_and_is_capped() {
        let p = RetryPolicy {
            max_attempts: 10,
            base_delay: S(1),
            max_delay: S(8),
            max_retry_after: S(600),
        };
        for _ in 0..50 {
            for (attempt, full) in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (5, 8.0), (9, 8.0)] {
                let d = p.backoff(attempt).as_secs_f64();
                assert!(d >= full * 0.5 && d <= full, "attempt {attempt}: {d}");
            }
        }
    }

    #[test]
    fn redaction_removes_keys_raw_encoded_and_in_any_apikey_parameter() {
        let r = Redactor::new(["s3cr/t+key"]);
        assert_eq!(r.redact("key s3cr/t+key here"), "key *** here");
        assert_eq!(
            r.redact("http://h/time_series?symbol=A&apikey=s3cr%2Ft%2Bkey&x=1"),
            "http://h/time_series?symbol=A&apikey=***&x=1"
        );
        let none = Redactor::new([""]);
        assert_eq!(
            none.redact("url (http://h/q?apikey=other)"),
            "url (http://h/q?apikey=***)"
        );
        assert_eq!(none.redact("APIKEY=abc def"), "APIKEY=*** def");
        assert_eq!(none.redact("no secrets"), "no secrets");
        assert_eq!(format!("{:?}", Secret::new("abc")), "Secret(***)");
    }

    #[test]
    fn snippets_are_one_short_line() {
        assert_eq!(snippet("a\nb", 10), "a b");
        assert_eq!(snippet("abcdef", 3), "abc…");
    }

    /// A client with tiny timeouts on a manual clock, so retries cost no real time.
    fn client(max_attempts: u32, per_minute: u32, secret: &str) -> (Http, Arc<ManualClock>) {
        let clock = Arc::new(ManualClock::new());
        let http = Http::new(
            HttpSettings {
                provider: "test",
                timeout: Duration::from_secs(5),
                weight_per_minute: per_minute,
                retry: RetryPolicy {
                    max_attempts,
                    base_delay: S(1),
                    max_delay: S(30),
                    max_retry_after: S(600),
                },
                secrets: vec![secret.to_string()],
                max_body_bytes: MAX_RESPONSE_BYTES,
            },
            clock.clone(),
        )
        .unwrap();
        (http, clock)
    }

    /// Retries 429 and 5xx, accepts 200; anything else is fatal.
    fn classify(r: &Reply) -> Result<String, Failure> {
        match r.status {
            200 => Ok(r.body.clone()),
            429 => Err(Failure::retry("429").with_retry_after(r.retry_after)),
            s if s >= 500 => Err(Failure::retry(format!("HTTP {s}"))),
            s => Err(Failure::fatal(format!("HTTP {s}"))),
        }
    }

    #[test]
    fn retry_after_is_honoured_then_the_answer_is_returned() {
        let mut server = mockito::Server::new();
        let busy = server
            .mock("GET", "/x")
            .with_status(429)
            .with_header("retry-after", "7")
            .expect(1)
            .create();
        let ok = server
            .mock("GET", "/x")
            .with_body("fine")
            .expect(1)
            .create();
        let (http, clock) = client(3, 100, "test-key-0000");
        let got = http
            .get(&format!("{}/x", server.url()), &[], 1, "X", classify)
            .unwrap();
        assert_eq!(got, "fine");
        busy.assert();
        ok.assert();
        // The wait is at least the 7 s asked for (the backoff alone would be at most 1 s).
        assert_eq!(clock.sleeps().len(), 1);
        assert!(clock.sleeps()[0] >= S(7), "{:?}", clock.sleeps());
        assert_eq!(http.requests_sent(), 2);
    }

    #[test]
    fn server_errors_are_retried_with_growing_backoff_until_attempts_run_out() {
        let mut server = mockito::Server::new();
        let m = server.mock("GET", "/x").with_status(503).expect(4).create();
        let (http, clock) = client(4, 100, "test-key-0000");
        let err = http
            .get(&format!("{}/x", server.url()), &[], 1, "X 1h", classify)
            .unwrap_err();
        m.assert();
        assert!(!err.stop_run);
        assert_eq!(
            err.message,
            "test: X 1h: HTTP 503 (gave up after 4 attempts; raise --max-attempts or try later)"
        );
        let sleeps = clock.sleeps();
        assert_eq!(sleeps.len(), 3);
        for (i, d) in sleeps.iter().enumerate() {
            let full = S(1 << i);
            assert!(*d >= full / 2 && *d <= full, "sleep {i}: {d:?}");
        }
    }

    #[test]
    fn errors_that_cannot_succeed_are_not_retried() {
        let mut server = mockito::Server::new();
        let m = server.mock("GET", "/x").with_status(404).expect(1).create();
        let (http, clock) = client(5, 100, "test-key-0000");
        let err = http
            .get(&format!("{}/x", server.url()), &[], 1, "X", classify)
            .unwrap_err();
        m.assert();
        assert!(clock.sleeps().is_empty());
        assert_eq!(err.message, "test: X: HTTP 404");
        // A Retry-After beyond the limit is not waited for either.
        let m = server
            .mock("GET", "/y")
            .with_status(429)
            .with_header("retry-after", "3600")
            .expect(1)
            .create();
        let err = http
            .get(&format!("{}/y", server.url()), &[], 1, "Y", classify)
            .unwrap_err();
        m.assert();
        assert!(
            err.message.contains("asks to wait 3600s"),
            "{}",
            err.message
        );
        assert!(clock.sleeps().is_empty());
    }

    #[test]
    fn every_attempt_is_paced_by_the_rate_limit() {
        let mut server = mockito::Server::new();
        let _fail = server.mock("GET", "/x").with_status(500).expect(2).create();
        let _ok = server.mock("GET", "/x").with_body("ok").create();
        // Two requests a minute: the third attempt waits for the first to leave the window.
        let (http, clock) = client(3, 2, "test-key-0000");
        http.get(&format!("{}/x", server.url()), &[], 1, "X", classify)
            .unwrap();
        assert!(clock.now() >= S(60), "{:?}", clock.now());
    }

    #[test]
    fn transport_errors_are_retried_and_never_show_the_key() {
        // A port nobody listens on: connection refused.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let (http, clock) = client(2, 100, "sekrit-key-123");
        let err = http
            .get(
                &format!("http://127.0.0.1:{port}/x"),
                &[("apikey", "sekrit-key-123".into())],
                1,
                "X",
                classify,
            )
            .unwrap_err();
        assert_eq!(clock.sleeps().len(), 1);
        assert!(
            err.message.contains("cannot connect (127.0.0.1:"),
            "{}",
            err.message
        );
        assert!(!err.message.contains("sekrit"), "{}", err.message);
    }
}
