//! Seeded synthetic candles for scale tests and benchmarks: a geometric Brownian motion with plausible
//! OHLC (high/low beyond the body) and log-normal volume. The same seed always gives the same bars.

use rand::prelude::*;
use rand_distr::{Distribution, LogNormal, StandardNormal};

use super::{Bar, Candles, DAY_MS, Interval};

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

/// Rounds to 4 decimals, like a quoted price.
fn quote(p: f64) -> f64 {
    (p * 10_000.0).round() / 10_000.0
}

/// Generates the bars. Prices are rounded to 4 decimals; every bar satisfies low ≤ open, close ≤ high.
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
}
