//! Technical indicators: pure functions over price slices, one file per family.
//!
//! Every function takes plain slices and returns a `Vec<f64>` of the same length, with `NaN` where the
//! indicator is not yet defined (warm-up). Strategies reach them through
//! [`crate::strategy::IndicatorCache`] so that an optimizer computes each one once per data set.

pub mod sma;

pub use sma::{sma, sma_pair};
