//! The indicator cache: each indicator series of one candle set is computed once and shared, so an
//! optimizer running many candidates (from many rayon threads) computes `sma(close, 20)` a single time.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use crate::indicators;

/// A computed indicator series, shared read-only between candidates and threads. (An `Arc<Vec>` rather
/// than `Arc<[f64]>`: converting a `Vec` into `Arc<[f64]>` copies it, 8 MB per million bars.)
pub type Series = Arc<Vec<f64>>;

/// A thread-safe memo of indicator series for **one** candle set, keyed by a canonical description such
/// as `sma(close,20)`.
///
/// Use one cache per `Candles` value: the key does not identify the data. Concurrent requests for the
/// same key compute it once (the others wait for that result); different keys compute in parallel.
#[derive(Debug, Default)]
pub struct IndicatorCache {
    slots: Mutex<HashMap<String, Arc<OnceLock<Series>>>>,
    computed: AtomicUsize,
    requests: AtomicUsize,
}

impl IndicatorCache {
    /// An empty cache.
    pub fn new() -> IndicatorCache {
        IndicatorCache::default()
    }

    /// The series stored under `key`, computing it with `compute` the first time.
    pub fn get_or_compute(&self, key: &str, compute: impl FnOnce() -> Vec<f64>) -> Series {
        self.requests.fetch_add(1, Ordering::Relaxed);
        let slot = {
            let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
            match slots.get(key) {
                Some(s) => s.clone(),
                None => {
                    let s = Arc::new(OnceLock::new());
                    slots.insert(key.to_string(), s.clone());
                    s
                }
            }
        };
        slot.get_or_init(|| {
            self.computed.fetch_add(1, Ordering::Relaxed);
            Arc::new(compute())
        })
        .clone()
    }

    /// `sma(values, n)` where `source` names the input column (`close`, `open`, …) for the key.
    pub fn sma(&self, source: &str, values: &[f64], n: usize) -> Series {
        self.get_or_compute(&format!("sma({source},{n})"), || indicators::sma(values, n))
    }

    /// `sma(values, a)` and `sma(values, b)`; when both are missing they are computed together in one
    /// interleaved pass ([`indicators::sma_pair`]), same values bit for bit.
    pub fn sma_pair(&self, source: &str, values: &[f64], a: usize, b: usize) -> (Series, Series) {
        let (ka, kb) = (format!("sma({source},{a})"), format!("sma({source},{b})"));
        let missing = |k: &str| {
            let slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
            slots.get(k).and_then(|s| s.get()).is_none()
        };
        if a != b && missing(&ka) && missing(&kb) {
            let (va, vb) = indicators::sma_pair(values, a, b);
            // Another thread may have filled a slot meanwhile: its value is the same.
            let sa = self.get_or_compute(&ka, || va);
            let sb = self.get_or_compute(&kb, || vb);
            return (sa, sb);
        }
        (self.sma(source, values, a), self.sma(source, values, b))
    }

    /// How many series were actually computed (cache misses).
    pub fn computed(&self) -> usize {
        self.computed.load(Ordering::Relaxed)
    }

    /// How many series were requested (hits + misses).
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rayon::prelude::*;

    #[test]
    fn computes_each_key_once_across_threads() {
        let cache = IndicatorCache::new();
        let close: Vec<f64> = (0..1000).map(|i| i as f64).collect();
        let results: Vec<Series> = (0..64)
            .into_par_iter()
            .map(|k| cache.sma("close", &close, 10 + (k % 2)))
            .collect();
        assert_eq!(cache.computed(), 2);
        assert_eq!(cache.requests(), 64);
        assert!(Arc::ptr_eq(&results[0], &results[2]));
        assert_eq!(results[1][999], indicators::sma(&close, 11)[999]);
    }
}
