//! Seeded synthetic candles for scale tests and benchmarks: a geometric Brownian motion with plausible
//! OHLC (high/low beyond the body) and log-normal volume. The same seed always gives the same bars.

use rand::prelude::*;
use rand_distr::{Distribution, LogNormal, StandardNormal};

use super::interval::{add_months, month_index};
use super::rules::{PRICE_MAX, TIME_END_MS, time_ok};
use super::time::format_ts;
use super::{Bar, Candles, DAY_MS, Interval};
use crate::error::{Error, Result};

/// Most bars one synthetic series may have: 10 million, ~480 MB of columns (and as much again while the
/// store merges and writes them).
pub const MAX_BARS: usize = 10_000_000;

/// Settings of the random walk.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SyntheticSpec {
    /// Number of bars.
    pub bars: usize,
    /// RNG seed.
    pub seed: u64,
    /// Bar interval (sets the spacing and scales the volatility).
    pub interval: Interval,
    /// Open time of the first bar (ms, UTC).
    pub start_ms: i64,
    /// First open price.
    pub start_price: f64,
    /// Annual drift of log prices.
    pub annual_drift: f64,
    /// Annual volatility of log prices.
    pub annual_volatility: f64,
}

impl SyntheticSpec {
    /// Defaults: 2020-01-01 start, price 100, drift 5 %/yr, volatility 30 %/yr.
    pub fn new(bars: usize, seed: u64, interval: Interval) -> Self {
        SyntheticSpec {
            bars,
            seed,
            interval,
            start_ms: 1_577_836_800_000,
            start_price: 100.0,
            annual_drift: 0.05,
            annual_volatility: 0.30,
        }
    }
}

impl SyntheticSpec {
    /// Checks the spec before anything is generated: 1 to [`MAX_BARS`] bars, a plausible start price and
    /// volatility, and every open time inside the store's window (1900-01-01 to 2199-12-31), computed
    /// arithmetically from the first and the count. Problems are usage errors naming the flag.
    pub fn check(&self) -> Result<()> {
        if self.bars == 0 || self.bars > MAX_BARS {
            return Err(Error::usage(format!(
                "--bars {} is outside 1 to {MAX_BARS} synthetic bars",
                self.bars
            )));
        }
        let plausible = self.start_price > 0.0
            && self.start_price <= PRICE_MAX
            && self.annual_drift.is_finite()
            && self.annual_volatility.is_finite()
            && self.annual_volatility >= 0.0;
        if !plausible {
            return Err(Error::usage(format!(
                "synthetic start price {}, drift {} and volatility {} must be finite, the price in (0, {PRICE_MAX:e}]",
                self.start_price, self.annual_drift, self.annual_volatility
            )));
        }
        let last = self.last_open();
        if !time_ok(self.start_ms) || !last.is_some_and(time_ok) {
            return Err(Error::usage(format!(
                "--bars {} at {} from {} would open its last bar after 2200-01-01, the end of the store's \
                 window (1900-01-01 to 2199-12-31); at most {} bars fit",
                self.bars,
                self.interval,
                format_ts(self.start_ms),
                self.bars_that_fit()
            )));
        }
        Ok(())
    }

    /// Open time of the last bar, or `None` when it lies beyond i64 or chrono's calendar.
    fn last_open(&self) -> Option<i64> {
        let k = i64::try_from(self.bars.checked_sub(1)?).ok()?;
        match self.interval {
            Interval::Month1 => {
                let t = add_months(self.start_ms, i32::try_from(k).ok()?);
                (t != i64::MAX).then_some(t)
            }
            i => self.start_ms.checked_add(k.checked_mul(i.nominal_ms())?),
        }
    }

    /// How many bars from `start_ms` open before the end of the window.
    fn bars_that_fit(&self) -> i64 {
        if !time_ok(self.start_ms) {
            return 0;
        }
        match self.interval {
            Interval::Month1 => month_index(TIME_END_MS - 1) - month_index(self.start_ms) + 1,
            i => (TIME_END_MS - 1 - self.start_ms) / i.nominal_ms() + 1,
        }
    }
}

/// [`SyntheticSpec::check`], then [`generate`]. The store validates the bars again before writing them.
pub fn try_generate(spec: &SyntheticSpec) -> Result<Candles> {
    spec.check()?;
    Ok(generate(spec))
}

/// Rounds to 4 decimals, like a quoted price.
fn quote(p: f64) -> f64 {
    (p * 10_000.0).round() / 10_000.0
}

/// Generates the bars. Prices are rounded to 4 decimals; every bar satisfies low ≤ open, close ≤ high.
/// Nothing is checked here: use [`try_generate`] for specs that come from a user.
pub fn generate(spec: &SyntheticSpec) -> Candles {
    let mut rng = StdRng::seed_from_u64(spec.seed);
    let years_per_bar = spec.interval.nominal_ms() as f64 / (365.0 * DAY_MS as f64);
    let sigma = spec.annual_volatility * years_per_bar.sqrt();
    let mu = (spec.annual_drift - 0.5 * spec.annual_volatility.powi(2)) * years_per_bar;
    let volume_dist = LogNormal::new(7.0, 0.5).expect("valid log-normal parameters");
    let mut c = Candles::with_capacity(spec.bars);
    let mut price = spec.start_price;
    let mut ts = spec.start_ms;
    for _ in 0..spec.bars {
        let z: f64 = StandardNormal.sample(&mut rng);
        let wick_up: f64 = StandardNormal.sample(&mut rng);
        let wick_down: f64 = StandardNormal.sample(&mut rng);
        let open = quote(price);
        price *= (mu + sigma * z).exp();
        let close = quote(price);
        let high =
            quote(open.max(close) * (0.5 * sigma * wick_up.abs()).exp()).max(open.max(close));
        let low =
            quote(open.min(close) * (-0.5 * sigma * wick_down.abs()).exp()).min(open.min(close));
        let volume = (volume_dist.sample(&mut rng) * (1.0 + 5.0 * z.abs())).round();
        c.push(Bar {
            ts,
            open,
            high,
            low,
            close,
            volume,
        });
        ts = spec.interval.next_open(ts);
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::candles::validate::bar_problem;

    #[test]
    fn same_seed_same_bars_and_every_bar_is_valid() {
        let spec = SyntheticSpec::new(5_000, 7, Interval::Minute1);
        let a = generate(&spec);
        assert_eq!(a, generate(&spec));
        assert_ne!(a, generate(&SyntheticSpec { seed: 8, ..spec }));
        assert!(a.bars().all(|b| bar_problem(&b).is_none()));
        assert!(a.ts.windows(2).all(|w| w[1] - w[0] == 60_000));
        assert!(a.close.iter().all(|&p| p > 0.0));
    }

    #[test]
    fn specs_beyond_the_caps_or_the_calendar_are_refused_before_generating() {
        let spec = |bars: usize, interval: Interval| SyntheticSpec::new(bars, 1, interval);
        assert!(spec(MAX_BARS, Interval::Minute1).check().is_ok());
        for bars in [0, MAX_BARS + 1, usize::MAX] {
            let e = spec(bars, Interval::Minute1).check().unwrap_err();
            assert_eq!(e.exit_code(), 2);
            assert!(e.to_string().contains("--bars"), "{e}");
        }
        // From 2020-01 to 2199-12 there are 180 × 12 = 2160 monthly bars.
        assert!(spec(2160, Interval::Month1).check().is_ok());
        let e = spec(2161, Interval::Month1)
            .check()
            .unwrap_err()
            .to_string();
        assert!(e.contains("at most 2160 bars fit"), "{e}");
        assert!(spec(3_200_000, Interval::Month1).check().is_err());
        // 2020-01-01 to 2200-01-01 is 65,744 days: that many daily bars fit.
        assert!(spec(65_744, Interval::Day1).check().is_ok());
        assert!(spec(65_745, Interval::Day1).check().is_err());
        let mut bad = spec(10, Interval::Day1);
        bad.start_price = f64::INFINITY;
        assert!(bad.check().is_err());
    }
}
