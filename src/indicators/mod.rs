//! Technical indicators: pure functions over price slices, one file per family.
//!
//! Every series function takes plain slices and returns a `Vec<f64>` of the same length, with `NaN` where
//! the indicator is not yet defined (warm-up). Conventions (seeds, population vs sample deviation) follow
//! TA-Lib, against which `tests/it/strategies.rs` checks them. Strategies reach them through
//! [`cache::IndicatorCache`] so that an optimizer computes each one once per data set.

pub mod atr;
pub mod bands;
pub mod cache;
pub mod cross;
pub mod ema;
pub mod fib;
pub mod pivots;
pub mod rolling;
pub mod rsi;
pub mod sma;
pub mod trendline;
pub mod volume_profile;

pub use atr::{atr, true_range};
pub use bands::{Bollinger, bollinger, rolling_std};
pub use cache::{IndicatorCache, PivotKind, Series};
pub use ema::ema;
pub use pivots::{PivotField, pivot_highs, pivot_lows, recent_pivot};
pub use rolling::{rolling_max, rolling_min};
pub use rsi::rsi;
pub use sma::{sma, sma_into, sma_pair, sma_pair_into};
pub use trendline::Trendline;
pub use volume_profile::{ProfileLevels, VolumeProfile, profile_levels, volume_profile};

/// `(a(), b())` for two independent computations over one data set. Outside rayon's pool (a single
/// backtest) `b` runs on a thread of its own while `a` runs on this one, so a short computation
/// shares the cores with a long one instead of waiting for it (fabio's ATR, ≈ 5 ms for 1,000,000
/// bars, beside the volume profile's stretches; the metrics' data-set series beside the bar loop);
/// on the pool's threads (an optimizer's candidates, which keep every thread busy already) one
/// after the other.
pub fn together<A, B: Send>(a: impl FnOnce() -> A, b: impl FnOnce() -> B + Send) -> (A, B) {
    if rayon::current_thread_index().is_some() {
        return (a(), b());
    }
    std::thread::scope(|scope| {
        let b = scope.spawn(b);
        let a = a();
        (a, b.join().expect("the computation beside does not panic"))
    })
}

#[cfg(test)]
mod tests {
    use super::together;

    /// Outside the pool `b` runs on a thread of its own; on the pool's threads both run on the
    /// caller's. Either way each value comes back in its place.
    #[test]
    fn together_spawns_only_outside_the_pool() {
        let here = || std::thread::current().id();
        let (a, b) = together(|| (1, here()), || (2, here()));
        assert_eq!((a.0, b.0), (1, 2));
        assert_eq!(a.1, here());
        assert_ne!(b.1, here());
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        let (a, b, worker) = pool.install(|| {
            let (a, b) = together(|| (1, here()), || (2, here()));
            (a, b, here())
        });
        assert_eq!((a, b), ((1, worker), (2, worker)));
    }
}
