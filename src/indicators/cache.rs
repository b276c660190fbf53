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
/// as `sma(close,20)`, holding at most a budget of bytes.
///
/// Use one cache per `Candles` value: the key does not identify the data. Concurrent requests for the
/// same key compute it once (the others wait for that result); different keys compute in parallel.
///
/// **Budget.** When the series held exceed the budget, the least recently used ones that no caller
/// holds any more are dropped (a series in use is never dropped; the cache may exceed its budget by
/// what is in use). A dropped series asked for again is computed again — the same values, so a
/// budget changes the time a search takes, never its results. The buffers of the last two large
/// series dropped are kept, outside the budget, and the next SMAs are computed into them. An
/// optimizer that evaluates candidates sharing indicators one after another (`optimize::methods`
/// walks a grid with its longest axis slowest) keeps its working set small: a 2,000-candidate grid
/// with 210 distinct SMA windows over 1,000,000 bars peaks at 218 MiB under the default budget
/// instead of 1.7 GiB, and runs faster.
#[derive(Debug)]
pub struct IndicatorCache {
    inner: Mutex<Inner>,
    budget: usize,
    computed: AtomicUsize,
    requests: AtomicUsize,
    evicted: AtomicUsize,
    peak: AtomicUsize,
}

/// The default budget of an optimizer's cache, in MB: 16 series of 1,000,000 bars. Measured at 2
/// threads on 1,000,000 bars (2026-11-30, interleaved pairs against 256): the README grid (25 SMA
/// windows) peaks at 215–222 MiB instead of 277 for 4 series computed again, and the 2,000-candidate
/// grid (210 windows) at 218 MiB instead of 357; both took the same CPU or less (0.97× the wall) — a
/// recomputed series costs less than faulting in a new one's memory.
pub const DEFAULT_BUDGET_MB: usize = 128;

/// One memo entry: the (possibly still computing) value, its size once counted, its last use.
#[derive(Debug)]
struct Entry<T> {
    slot: Arc<OnceLock<T>>,
    bytes: usize,
    used: u64,
}

impl<T> Entry<T> {
    fn new(tick: u64) -> Entry<T> {
        Entry {
            slot: Arc::new(OnceLock::new()),
            bytes: 0,
            used: tick,
        }
    }
}

/// What a cached value costs and whether anyone outside the cache still holds it.
trait Held {
    fn bytes(&self) -> usize;
    fn in_use(&self) -> bool;
}

impl Held for Series {
    fn bytes(&self) -> usize {
        self.capacity() * size_of::<f64>()
    }
    fn in_use(&self) -> bool {
        Arc::strong_count(self) > 1
    }
}

impl Held for Vec<Series> {
    fn bytes(&self) -> usize {
        self.iter().map(Held::bytes).sum()
    }
    fn in_use(&self) -> bool {
        self.iter().any(Held::in_use)
    }
}

#[derive(Debug, Default)]
struct Inner {
    slots: HashMap<String, Entry<Series>>,
    groups: HashMap<String, Entry<Vec<Series>>>,
    /// Bytes of the values counted in.
    bytes: usize,
    tick: u64,
    /// The buffers of the last series evicted (at most [`SPARES`]), emptied, for the next computed:
    /// a series computed into one takes memory the process already has instead of faulting in new.
    spare: Vec<Vec<f64>>,
}

/// How many evicted series buffers the cache keeps for reuse (one per worker of a 2-core machine;
/// they are outside the budget, so they bound what it may exceed it by). Only buffers of at least
/// [`SPARE_MIN`] values are kept: smaller ones cost little to allocate and would hold the places.
/// Measured on the README grid over 1,000,000 bars (25 SMA windows under the default budget of 16
/// series, 2026-12-01, interleaved runs against the commit before): `cargo bench --bench optimize`
/// 1 thread 454–456 → 399–402 ms, 2 threads 251–255 → 207–209 ms; whole processes (10 rounds)
/// 1 thread median 0.630 → 0.546 s, 2 threads 0.318 → 0.282 s, user time 0.47–0.49 → 0.40–0.44 s,
/// peak RSS 8–13 MB higher.
const SPARES: usize = 2;

/// The smallest buffer kept as a spare, in values (1 MiB).
const SPARE_MIN: usize = 1 << 17;

impl Inner {
    /// The entry of `key` in `map` (created empty when missing), marked as used now.
    fn touch<T>(
        map: &mut HashMap<String, Entry<T>>,
        tick: &mut u64,
        key: &str,
    ) -> Arc<OnceLock<T>> {
        *tick += 1;
        let e = match map.get_mut(key) {
            Some(e) => e,
            None => map
                .entry(key.to_string())
                .or_insert_with(|| Entry::new(*tick)),
        };
        e.used = *tick;
        e.slot.clone()
    }

    /// Counts a freshly computed value in (if its entry is still there and not counted yet).
    fn count<T: Held>(
        map: &mut HashMap<String, Entry<T>>,
        bytes: &mut usize,
        key: &str,
        slot: &Arc<OnceLock<T>>,
    ) {
        if let Some(e) = map.get_mut(key)
            && Arc::ptr_eq(&e.slot, slot)
            && e.bytes == 0
        {
            e.bytes = slot.get().map_or(0, Held::bytes);
            *bytes += e.bytes;
        }
    }

    /// The least recently used entry of `map` that is computed and held by no caller.
    fn victim<T: Held>(map: &HashMap<String, Entry<T>>) -> Option<(u64, String)> {
        map.iter()
            .filter(|(_, e)| Arc::strong_count(&e.slot) == 1)
            .filter(|(_, e)| e.slot.get().is_some_and(|v| !v.in_use()))
            .map(|(k, e)| (e.used, k.clone()))
            .min()
    }

    /// The bytes of an evicted series entry, keeping its buffer as a spare when there is room and
    /// nobody else holds it.
    fn keep_spare(&mut self, e: Entry<Series>) -> usize {
        let bytes = e.bytes;
        if self.spare.len() < SPARES
            && e.bytes >= SPARE_MIN * size_of::<f64>()
            && let Ok(slot) = Arc::try_unwrap(e.slot)
            && let Some(series) = slot.into_inner()
            && let Ok(mut buffer) = Arc::try_unwrap(series)
        {
            buffer.clear();
            self.spare.push(buffer);
        }
        bytes
    }

    /// Drops least recently used idle values until the bytes fit `budget`; how many were dropped.
    fn evict(&mut self, budget: usize) -> usize {
        let mut dropped = 0;
        while self.bytes > budget {
            let (s, g) = (Inner::victim(&self.slots), Inner::victim(&self.groups));
            let freed = match (s, g) {
                (Some(a), Some(b)) if b.0 < a.0 => self.groups.remove(&b.1).map(|e| e.bytes),
                (Some(a), _) => self.slots.remove(&a.1).map(|e| self.keep_spare(e)),
                (None, Some(b)) => self.groups.remove(&b.1).map(|e| e.bytes),
                (None, None) => break,
            };
            self.bytes -= freed.unwrap_or(0);
            dropped += 1;
        }
        dropped
    }
}

impl Default for IndicatorCache {
    fn default() -> IndicatorCache {
        IndicatorCache::with_budget(usize::MAX)
    }
}

impl IndicatorCache {
    /// An empty cache without a budget (it keeps everything).
    pub fn new() -> IndicatorCache {
        IndicatorCache::default()
    }

    /// An empty cache holding at most about `bytes` of idle series, plus up to two buffers of
    /// dropped ones (see the type's docs).
    pub fn with_budget(bytes: usize) -> IndicatorCache {
        IndicatorCache {
            inner: Mutex::new(Inner::default()),
            budget: bytes,
            computed: AtomicUsize::new(0),
            requests: AtomicUsize::new(0),
            evicted: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Counts a fresh value in and evicts down to the budget.
    fn settle(&self, count: impl FnOnce(&mut Inner)) {
        let mut inner = self.lock();
        count(&mut inner);
        self.peak.fetch_max(inner.bytes, Ordering::Relaxed);
        let dropped = inner.evict(self.budget);
        self.evicted.fetch_add(dropped, Ordering::Relaxed);
    }

    /// The series stored under `key`, computing it with `compute` the first time.
    pub fn get_or_compute(&self, key: &str, compute: impl FnOnce() -> Vec<f64>) -> Series {
        self.requests.fetch_add(1, Ordering::Relaxed);
        let slot = {
            let inner = &mut *self.lock();
            Inner::touch(&mut inner.slots, &mut inner.tick, key)
        };
        let mut fresh = false;
        let v = slot
            .get_or_init(|| {
                self.computed.fetch_add(1, Ordering::Relaxed);
                fresh = true;
                Arc::new(compute())
            })
            .clone();
        if fresh {
            self.settle(|i| Inner::count(&mut i.slots, &mut i.bytes, key, &slot));
        }
        v
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
            let inner = &mut *self.lock();
            Inner::touch(&mut inner.groups, &mut inner.tick, key)
        };
        let mut fresh = false;
        let v = slot
            .get_or_init(|| {
                self.computed.fetch_add(1, Ordering::Relaxed);
                fresh = true;
                compute().into_iter().map(Series::from).collect()
            })
            .clone();
        if fresh {
            self.settle(|i| Inner::count(&mut i.groups, &mut i.bytes, key, &slot));
        }
        v
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

    /// An empty buffer for a new series of `len` values: a spare that holds them when there is one,
    /// else new.
    fn buffer(&self, len: usize) -> Vec<f64> {
        let spare = &mut self.lock().spare;
        match spare.iter().rposition(|b| b.capacity() >= len) {
            Some(k) => spare.swap_remove(k),
            None => Vec::new(),
        }
    }

    /// `sma(values, n)` where `source` names the input column (`close`, `open`, …) for the key.
    pub fn sma(&self, source: &str, values: &[f64], n: usize) -> Series {
        self.get_or_compute(&format!("sma({source},{n})"), || {
            let mut out = self.buffer(values.len());
            indicators::sma_into(values, n, &mut out);
            out
        })
    }

    /// `sma(values, a)` and `sma(values, b)`; when both are missing they are computed together in one
    /// interleaved pass ([`indicators::sma_pair`]), same values bit for bit.
    pub fn sma_pair(&self, source: &str, values: &[f64], a: usize, b: usize) -> (Series, Series) {
        let (ka, kb) = (format!("sma({source},{a})"), format!("sma({source},{b})"));
        let missing = |k: &str| {
            let inner = self.lock();
            inner.slots.get(k).and_then(|e| e.slot.get()).is_none()
        };
        if a != b && missing(&ka) && missing(&kb) {
            let len = values.len();
            let (mut va, mut vb) = (self.buffer(len), self.buffer(len));
            indicators::sma_pair_into(values, a, b, &mut va, &mut vb);
            // Another thread may have filled a slot meanwhile: its value is the same.
            let sa = self.get_or_compute(&ka, || va);
            let sb = self.get_or_compute(&kb, || vb);
            return (sa, sb);
        }
        (self.sma(source, values, a), self.sma(source, values, b))
    }

    /// How many series were actually computed (cache misses; a series dropped by the budget and asked
    /// for again counts again).
    pub fn computed(&self) -> usize {
        self.computed.load(Ordering::Relaxed)
    }

    /// How many series were requested (hits + misses).
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::Relaxed)
    }

    /// How many idle series were dropped to keep within the budget.
    pub fn evicted(&self) -> usize {
        self.evicted.load(Ordering::Relaxed)
    }

    /// The most bytes of series the cache held at once (the spare buffers not counted).
    pub fn peak_bytes(&self) -> usize {
        self.peak.load(Ordering::Relaxed)
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

    #[test]
    fn a_budget_drops_the_least_recently_used_idle_series() {
        let close: Vec<f64> = (0..1000).map(|i| (i % 17) as f64).collect();
        // 1000 values = 8000 bytes a series: room for two.
        let cache = IndicatorCache::with_budget(16_000);
        let a = cache.sma("close", &close, 2);
        drop(cache.sma("close", &close, 3));
        drop(cache.sma("close", &close, 4));
        // Three series, 24,000 bytes: sma 3 is the least recently used idle one (sma 2 is held).
        assert_eq!((cache.evicted(), cache.peak_bytes()), (1, 24_000));
        drop(cache.sma("close", &close, 4));
        assert_eq!(cache.computed(), 3, "sma 4 is still there");
        let again = cache.sma("close", &close, 3);
        assert_eq!((cache.computed(), cache.evicted()), (4, 2));
        // Recomputed: the same values.
        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert!(bits(&again) == bits(&indicators::sma(&close, 3)));
        // sma 2 was held all along: never dropped, never recomputed.
        assert!(Arc::ptr_eq(&a, &cache.sma("close", &close, 2)));
        assert_eq!(cache.computed(), 4);
        // Without a budget nothing is dropped.
        let all = IndicatorCache::new();
        for n in 2..10 {
            drop(all.sma("close", &close, n));
        }
        assert_eq!((all.evicted(), all.peak_bytes()), (0, 8 * 8000));
    }

    /// An evicted series' buffer is reused for the next series computed (memory the process already
    /// has), with the values of a fresh computation; a series still held is never reused; a small
    /// series' buffer is not kept.
    #[test]
    fn evicted_buffers_hold_the_next_series() {
        let close: Vec<f64> = (0..SPARE_MIN)
            .map(|i| ((i * 7) % 23) as f64 + 0.5)
            .collect();
        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        // Room for one series.
        let cache = IndicatorCache::with_budget(SPARE_MIN * 8);
        let first = cache.sma("close", &close, 3);
        let first_at = first.as_ptr();
        drop(first);
        // sma 4 is computed into new memory, then sma 3 is evicted and its buffer kept.
        let second = cache.sma("close", &close, 4);
        let second_at = second.as_ptr();
        assert_eq!(cache.evicted(), 1);
        drop(second);
        // Were sma 3's memory given back, the allocator could hand it to the next block of its size:
        // this one, held while sma 5 is computed.
        let other = vec![1.0f64; close.len()];
        // sma 5 takes sma 3's buffer (and sma 4 is evicted); its values are sma's.
        let third = cache.sma("close", &close, 5);
        assert_eq!(third.as_ptr(), first_at);
        assert_ne!(other.as_ptr(), first_at);
        assert!(bits(&third) == bits(&indicators::sma(&close, 5)));
        assert_eq!(
            third.capacity(),
            close.len(),
            "the budget counts the capacity"
        );
        drop(third);
        // A pair computed together takes a spare too (sma 4's), and equals `sma` for both windows;
        // computing it evicts sma 5, whose buffer (sma 3's) holds the next series.
        let (a, b) = cache.sma_pair("close", &close, 6, 9);
        assert_eq!(a.as_ptr(), second_at);
        assert!(bits(&a) == bits(&indicators::sma(&close, 6)));
        assert!(bits(&b) == bits(&indicators::sma(&close, 9)));
        let c = cache.sma("close", &close, 7);
        assert_eq!(c.as_ptr(), first_at);
        assert!(bits(&c) == bits(&indicators::sma(&close, 7)));

        // A short series' buffer is dropped, not kept.
        let short = &close[..1000];
        let small = IndicatorCache::with_budget(8000);
        drop(small.sma("close", short, 3));
        drop(small.sma("close", short, 4));
        assert_eq!(small.evicted(), 1);
        assert!(small.lock().spare.is_empty());
    }
}
