//! The indicator cache: each indicator series of one candle set is computed once and shared, so an
//! optimizer running many candidates (from many rayon threads) computes `sma(close, 20)` a single time.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use crate::candles::Candles;
use crate::indicators::{self, PivotField};

/// Which swing pivots: highs or lows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PivotKind {
    /// Fractal highs of the `high` column.
    High,
    /// Fractal lows of the `low` column.
    Low,
}

impl PivotKind {
    fn name(self) -> &'static str {
        match self {
            PivotKind::High => "high",
            PivotKind::Low => "low",
        }
    }
}

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
    groups: Mutex<HashMap<String, Arc<OnceLock<Vec<Series>>>>>,
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

    /// Several series computed together (e.g. the three levels of a volume profile), stored under one
    /// `key`, computing them with `compute` the first time. Counts as one request and at most one
    /// computation.
    pub fn get_or_compute_many(
        &self,
        key: &str,
        compute: impl FnOnce() -> Vec<Vec<f64>>,
    ) -> Vec<Series> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        let slot = {
            let mut groups = self.groups.lock().unwrap_or_else(|p| p.into_inner());
            groups
                .entry(key.to_string())
                .or_insert_with(|| Arc::new(OnceLock::new()))
                .clone()
        };
        slot.get_or_init(|| {
            self.computed.fetch_add(1, Ordering::Relaxed);
            compute().into_iter().map(Series::from).collect()
        })
        .clone()
    }

    /// `ema(values, n)` (TA-Lib seeding) of the column named `source`.
    pub fn ema(&self, source: &str, values: &[f64], n: usize) -> Series {
        self.get_or_compute(&format!("ema({source},{n})"), || indicators::ema(values, n))
    }

    /// Wilder's ATR over `n` bars of these candles.
    pub fn atr(&self, candles: &Candles, n: usize) -> Series {
        self.get_or_compute(&format!("atr({n})"), || {
            indicators::atr(&candles.high, &candles.low, &candles.close, n)
        })
    }

    /// Wilder's RSI over `n` bars of the column named `source`.
    pub fn rsi(&self, source: &str, values: &[f64], n: usize) -> Series {
        self.get_or_compute(&format!("rsi({source},{n})"), || indicators::rsi(values, n))
    }

    /// Rolling population standard deviation over `n` bars of the column named `source`.
    pub fn rolling_std(&self, source: &str, values: &[f64], n: usize) -> Series {
        self.get_or_compute(&format!("std({source},{n})"), || {
            indicators::rolling_std(values, n)
        })
    }

    /// Rolling maximum over `n` bars of the column named `source`.
    pub fn rolling_max(&self, source: &str, values: &[f64], n: usize) -> Series {
        self.get_or_compute(&format!("max({source},{n})"), || {
            indicators::rolling_max(values, n)
        })
    }

    /// Rolling minimum over `n` bars of the column named `source`.
    pub fn rolling_min(&self, source: &str, values: &[f64], n: usize) -> Series {
        self.get_or_compute(&format!("min({source},{n})"), || {
            indicators::rolling_min(values, n)
        })
    }

    /// Pivot highs (`high`) or lows (`low`) of these candles, at their confirmation bars.
    pub fn pivots(&self, candles: &Candles, kind: PivotKind, left: usize, right: usize) -> Series {
        self.get_or_compute(
            &format!("pivot_{}({left},{right})", kind.name()),
            || match kind {
                PivotKind::High => indicators::pivot_highs(&candles.high, left, right),
                PivotKind::Low => indicators::pivot_lows(&candles.low, left, right),
            },
        )
    }

    /// Price or bar of the `back`-th most recent confirmed pivot (0 = latest) at each bar.
    pub fn recent_pivot(
        &self,
        candles: &Candles,
        kind: PivotKind,
        (left, right): (usize, usize),
        back: usize,
        field: PivotField,
    ) -> Series {
        let key = format!(
            "recent_pivot_{}({left},{right},{back},{})",
            kind.name(),
            match field {
                PivotField::Price => "price",
                PivotField::Bar => "bar",
            }
        );
        self.get_or_compute(&key, || {
            let confirmed = self.pivots(candles, kind, left, right);
            indicators::recent_pivot(&confirmed, right, back, field)
        })
    }

    /// Rolling volume profile `[poc, vah, val]` of these candles (window ending at each bar).
    pub fn volume_profile(
        &self,
        candles: &Candles,
        window: usize,
        bins: usize,
        value_share: f64,
    ) -> [Series; 3] {
        let key = format!("volume_profile({window},{bins},{value_share})");
        let v = self.get_or_compute_many(&key, || {
            let vp = indicators::volume_profile(
                &candles.high,
                &candles.low,
                &candles.volume,
                window,
                bins,
                value_share,
            );
            vec![vp.poc, vp.vah, vp.val]
        });
        [v[0].clone(), v[1].clone(), v[2].clone()]
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
