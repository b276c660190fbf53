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
pub use sma::{sma, sma_pair};
pub use trendline::Trendline;
pub use volume_profile::{ProfileLevels, VolumeProfile, profile_levels, volume_profile};
