//! Rolling volume profile: how a window's traded volume is distributed over price, with its point of
//! control (POC) and value area (VAH/VAL).
//!
//! For a window of bars, the price range from the window's lowest low to its highest high is cut into
//! `bins` equal bins. Each bar's volume is spread uniformly over its own low–high range (a bar with
//! `high == low` puts it all in the bin holding that price; the window's top price belongs to the top
//! bin). If the window traded no volume at all, every bar counts 1 (a time-price profile).
//!
//! - **POC** is the centre of the bin with the most volume (the lowest such bin on a tie).
//! - **Value area**: starting from the POC bin, repeatedly add the neighbouring bin (just above or just
//!   below the area) holding more volume — above on a tie — until the area holds at least
//!   `value_share` of the window's volume (0.7 is the usual 70%). VAH is the upper edge of its top bin,
//!   VAL the lower edge of its bottom bin.
//!
//! Cost: the levels are those of one full histogram per window (O(window · bins touched) each, kept as
//! the test oracle), but [`volume_profile`] gets them from an engine (`volume_profile/rolling.rs`) that slides the
//! histogram by one bar (subtract the leaving bar, add the new one) while the window's price range
//! stays put, rebuilds it with a cheaper (vectorized) summation when the range moves, and accepts
//! either result only when rounding cannot have changed any decision; otherwise it rebuilds the
//! window with the reference arithmetic. Outputs are bit for bit those of the per-window computation
//! (tests compare with it on the bundled GOOG and EURUSD data, 1,000,000 synthetic bars and a
//! tie-heavy series). With the `fabio` defaults (window 30, 24 bins) on 1,000,000 synthetic 1-minute
//! bars the profile takes ≈ 162 ns of CPU per bar (one thread, Intel Xeon, 2026-12-01; 255 on the
//! AMD EPYC before that day's changes to the engine) instead of 862 per window computed afresh (on
//! the AMD EPYC).
//! Outside the optimizer's workers a long series is also cut into one stretch per thread: the
//! `strategies/fabio_1m_bars_full` bench takes ≈ 130 ms on 2 threads on the Intel Xeon (155–160
//! before those changes, 393 in one stretch on the AMD EPYC). Non-finite prices or negative volumes
//! take the per-window path.

mod rolling;

#[cfg(test)]
mod reference;

pub use rolling::Stats;

/// POC, VAH and VAL of one window.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProfileLevels {
    /// Point of control: centre of the bin with the most volume.
    pub poc: f64,
    /// Value-area high: upper edge of the value area.
    pub vah: f64,
    /// Value-area low: lower edge of the value area.
    pub val: f64,
}

/// Rolling profile levels, one value per bar (`NaN` before the first full window).
#[derive(Debug, Clone, PartialEq)]
pub struct VolumeProfile {
    /// Point of control of the window ending at each bar.
    pub poc: Vec<f64>,
    /// Value-area high of the window ending at each bar.
    pub vah: Vec<f64>,
    /// Value-area low of the window ending at each bar.
    pub val: Vec<f64>,
}

/// The default value-area share: 70% of the window's volume.
pub const DEFAULT_VALUE_SHARE: f64 = 0.7;

/// The profile of the `window` bars ending at each bar (inclusive), with `bins` price bins and a value
/// area of `value_share` (0 < share ≤ 1) of the volume. `NaN` for the first `window − 1` bars and when
/// `window` or `bins` is 0.
pub fn volume_profile(
    high: &[f64],
    low: &[f64],
    volume: &[f64],
    window: usize,
    bins: usize,
    value_share: f64,
) -> VolumeProfile {
    volume_profile_with_stats(high, low, volume, window, bins, value_share).0
}

/// [`volume_profile`] plus how its windows were computed (`None`: the per-window path).
///
/// Called outside rayon's workers (a backtest, not an optimizer's candidate, whose sibling
/// candidates keep the threads busy), a long series is cut into one stretch of windows per thread of
/// the pool (at least [`MIN_STRETCH`] windows each), each slid by its own engine from a rebuild at
/// its first window. Every window's levels are those of the per-window computation whatever engine
/// produced them, so the outputs do not depend on the cut (tests compare them).
pub fn volume_profile_with_stats(
    high: &[f64],
    low: &[f64],
    volume: &[f64],
    window: usize,
    bins: usize,
    value_share: f64,
) -> (VolumeProfile, Option<Stats>) {
    let n = high.len().min(low.len()).min(volume.len());
    let parts = if rayon::current_thread_index().is_some() {
        1
    } else {
        let windows = (n + 1).saturating_sub(window);
        rayon::current_num_threads()
            .min(windows / MIN_STRETCH)
            .max(1)
    };
    profile_in_parts(high, low, volume, window, bins, value_share, parts)
}

/// The fewest windows one thread of [`volume_profile_with_stats`] slides: a stretch starts with a
/// rebuild (`window` bars re-binned) and a thread costs tens of microseconds to start.
pub const MIN_STRETCH: usize = 50_000;

/// [`volume_profile_with_stats`] with the windows cut into `parts` stretches computed on as many
/// scoped threads.
fn profile_in_parts(
    high: &[f64],
    low: &[f64],
    volume: &[f64],
    window: usize,
    bins: usize,
    value_share: f64,
    parts: usize,
) -> (VolumeProfile, Option<Stats>) {
    let n = high.len().min(low.len()).min(volume.len());
    let (high, low, volume) = (&high[..n], &low[..n], &volume[..n]);
    let nan = || VolumeProfile {
        poc: vec![f64::NAN; n],
        vah: vec![f64::NAN; n],
        val: vec![f64::NAN; n],
    };
    if window == 0 || bins == 0 || n < window {
        return (nan(), None);
    }
    // Each stretch's engine checks its own bars (finite prices, finite non-negative volumes), on its
    // own thread; when one refuses, every window takes the per-window computation.
    let per_window = || {
        let mut out = nan();
        let mut hist = vec![0.0; bins];
        for i in window - 1..n {
            let s = i + 1 - window;
            let (h, l, v) = (&high[s..=i], &low[s..=i], &volume[s..=i]);
            if let Some(l) = profile_levels(h, l, v, value_share, &mut hist) {
                (out.poc[i], out.vah[i], out.val[i]) = (l.poc, l.vah, l.val);
            }
        }
        (out, None)
    };
    // Zeroed memory is mapped, not written (the pages are faulted in by the stretch that fills
    // them, on its own thread); only the bars before the first full window stay NaN.
    let mut out = VolumeProfile {
        poc: vec![0.0; n],
        vah: vec![0.0; n],
        val: vec![0.0; n],
    };
    let first = window - 1;
    for levels in [&mut out.poc, &mut out.vah, &mut out.val] {
        levels[..first].fill(f64::NAN);
    }
    let per_part = (n - first).div_ceil(parts.max(1));
    let stretch = |start: usize, poc: &mut [f64], vah: &mut [f64], val: &mut [f64]| {
        // Output bars start..start + len need input bars start − (window − 1) .. start + len.
        let s = start - first;
        let e = start + poc.len();
        let (h, l, v) = (&high[s..e], &low[s..e], &volume[s..e]);
        let mut engine = rolling::Rolling::new(h, l, v, window, bins, value_share)?;
        for i in 0..e - s {
            engine.push(i);
            if i >= first {
                let k = i - first;
                let levels = engine.levels(i);
                (poc[k], vah[k], val[k]) = (levels.poc, levels.vah, levels.val);
            }
        }
        Some(engine.stats())
    };
    let mut stretches = out.poc[first..]
        .chunks_mut(per_part)
        .zip(out.vah[first..].chunks_mut(per_part))
        .zip(out.val[first..].chunks_mut(per_part))
        .enumerate()
        .map(|(k, ((poc, vah), val))| (first + k * per_part, poc, vah, val));
    // The calling thread slides the first stretch, one scoped thread each of the others.
    let own = stretches.next();
    let stats = std::thread::scope(|scope| {
        let stretch = &stretch;
        let handles: Vec<_> = stretches
            .map(|(start, poc, vah, val)| scope.spawn(move || stretch(start, poc, vah, val)))
            .collect();
        let mut total = own.map_or(Some(Stats::default()), |(start, poc, vah, val)| {
            stretch(start, poc, vah, val)
        });
        for h in handles {
            let part = h.join().expect("a profile stretch does not panic");
            total = total.zip(part).map(|(mut t, p)| {
                t += p;
                t
            });
        }
        total
    });
    match stats {
        Some(stats) => (out, Some(stats)),
        None => per_window(),
    }
}

/// The levels of one window of bars, using `hist` (its length is the bin count) as scratch space.
/// `None` for an empty window, an empty `hist`, or non-finite prices.
pub fn profile_levels(
    high: &[f64],
    low: &[f64],
    volume: &[f64],
    value_share: f64,
    hist: &mut [f64],
) -> Option<ProfileLevels> {
    let bins = hist.len();
    let m = high.len().min(low.len()).min(volume.len());
    if m == 0 || bins == 0 {
        return None;
    }
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    let mut total_volume = 0.0;
    for k in 0..m {
        lo = lo.min(low[k]);
        hi = hi.max(high[k]);
        total_volume += volume[k];
    }
    if !(lo.is_finite() && hi.is_finite()) {
        return None;
    }
    if hi <= lo {
        return Some(ProfileLevels {
            poc: lo,
            vah: lo,
            val: lo,
        });
    }
    let count_bars = total_volume.partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater);
    hist.fill(0.0);
    let width = (hi - lo) / bins as f64;
    let bin_of = |p: f64| (((p - lo) / width) as usize).min(bins - 1);
    for k in 0..m {
        let v = if count_bars { 1.0 } else { volume[k] };
        let (l, h) = (low[k], high[k]);
        if h <= l {
            hist[bin_of(l)] += v;
            continue;
        }
        let (first, last) = (bin_of(l), bin_of(h));
        if first == last {
            hist[first] += v;
            continue;
        }
        let per_price = v / (h - l);
        for (b, slot) in hist.iter_mut().enumerate().take(last + 1).skip(first) {
            let edge_lo = if b == first { l } else { lo + b as f64 * width };
            let edge_hi = if b == last {
                h
            } else {
                lo + (b + 1) as f64 * width
            };
            *slot += per_price * (edge_hi - edge_lo);
        }
    }
    let (poc, a, z) = value_area(hist, value_share);
    Some(ProfileLevels {
        poc: lo + (poc as f64 + 0.5) * width,
        vah: lo + (z + 1) as f64 * width,
        val: lo + a as f64 * width,
    })
}

/// The POC bin (the first largest) and the value area's bottom and top bins `(poc, a, z)` of a
/// histogram: from the POC, add the larger neighbour (above on a tie) until the area holds at least
/// `value_share` of the total.
fn value_area(hist: &[f64], value_share: f64) -> (usize, usize, usize) {
    let bins = hist.len();
    let total: f64 = hist.iter().sum();
    let mut poc = 0;
    for b in 1..bins {
        if hist[b] > hist[poc] {
            poc = b;
        }
    }
    let target = value_share * total;
    let (mut a, mut z, mut acc) = (poc, poc, hist[poc]);
    while acc < target && (a > 0 || z + 1 < bins) {
        let above = if z + 1 < bins { hist[z + 1] } else { -1.0 };
        let below = if a > 0 { hist[a - 1] } else { -1.0 };
        if above >= below {
            z += 1;
            acc += above;
        } else {
            a -= 1;
            acc += below;
        }
    }
    (poc, a, z)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_window_by_hand() {
        // Range 100..110 in 5 bins of 2: [100,102) [102,104) [104,106) [106,108) [108,110].
        // Bar A 100–110, volume 10: 2 per bin. Bar B 104–106, volume 30: all in bin 2.
        // Bar C 106–110, volume 8: 4 each in bins 3 and 4. Histogram: 2, 2, 32, 6, 6 (total 48).
        // POC bin 2 → 105. Value area 70% = 33.6: start 32; above 6 vs below 2 → add bin 3 (38).
        // VAH = 108, VAL = 104.
        let mut hist = [0.0; 5];
        let l = profile_levels(
            &[110.0, 106.0, 110.0],
            &[100.0, 104.0, 106.0],
            &[10.0, 30.0, 8.0],
            0.7,
            &mut hist,
        )
        .unwrap();
        assert_eq!(hist, [2.0, 2.0, 32.0, 6.0, 6.0]);
        assert_eq!(
            l,
            ProfileLevels {
                poc: 105.0,
                vah: 108.0,
                val: 104.0
            }
        );
        // At 90% (43.2): 38 → tie 6 (above) vs 2 → bin 4 (44). VAH 110, VAL 104.
        let l = profile_levels(
            &[110.0, 106.0, 110.0],
            &[100.0, 104.0, 106.0],
            &[10.0, 30.0, 8.0],
            0.9,
            &mut hist,
        )
        .unwrap();
        assert_eq!((l.vah, l.val), (110.0, 104.0));
    }

    #[test]
    fn zero_volume_counts_bars_and_flat_windows_collapse() {
        // Range 0..4 in 2 bins; bars 0–1 and 0–1 and 3–4 with no volume: counts 2 and 1.
        // POC bin 0 → 1.0; 70% of 3 = 2.1 > 2 → add bin 1: VAH 4, VAL 0.
        let mut hist = [0.0; 2];
        let l = profile_levels(
            &[1.0, 1.0, 4.0],
            &[0.0, 0.0, 3.0],
            &[0.0; 3],
            0.7,
            &mut hist,
        )
        .unwrap();
        assert_eq!(
            l,
            ProfileLevels {
                poc: 1.0,
                vah: 4.0,
                val: 0.0
            }
        );
        let l = profile_levels(&[5.0, 5.0], &[5.0, 5.0], &[1.0, 2.0], 0.7, &mut hist).unwrap();
        assert_eq!(
            l,
            ProfileLevels {
                poc: 5.0,
                vah: 5.0,
                val: 5.0
            }
        );
    }

    /// Every output of the fast engine equals the per-window reference bit for bit; returns how the
    /// engine computed its windows.
    fn same_as_reference(
        c: &crate::candles::Candles,
        window: usize,
        bins: usize,
        share: f64,
    ) -> Option<Stats> {
        let (fast, stats) =
            volume_profile_with_stats(&c.high, &c.low, &c.volume, window, bins, share);
        let slow = reference::volume_profile(&c.high, &c.low, &c.volume, window, bins, share);
        for (name, a, b) in [
            ("poc", &fast.poc, &slow.poc),
            ("vah", &fast.vah, &slow.vah),
            ("val", &fast.val, &slow.val),
        ] {
            assert_eq!(a.len(), b.len());
            if let Some(i) = (0..a.len()).find(|&i| a[i].to_bits() != b[i].to_bits()) {
                panic!(
                    "{name} differs at bar {i} (window {window}, bins {bins}, share {share}): {} vs {}",
                    a[i], b[i]
                );
            }
        }
        stats
    }

    fn bundled(symbol: &str, interval: crate::candles::Interval) -> crate::candles::Candles {
        crate::candles::Store::at(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("data"))
            .load(symbol, interval, &crate::candles::TimeRange::ALL)
            .expect("bundled data loads")
    }

    /// Every dense-spread kernel this processor runs (the baseline and AVX2 on x86-64) gives the
    /// reference's levels bit for bit, whichever the engine would pick.
    #[test]
    fn every_kernel_gives_the_reference_levels() {
        use crate::candles::Interval;
        use crate::candles::synthetic::{SyntheticSpec, generate};
        let synthetic = generate(&SyntheticSpec::new(100_000, 7, Interval::Minute1));
        let sets = [
            bundled("GOOG", Interval::Day1),
            bundled("EURUSD", Interval::Hour1),
            synthetic,
        ];
        for kernel in rolling::Kernel::available() {
            for c in &sets {
                // 50 bins: 56 lanes, the spread's generic path, the sentinel in a padding lane.
                for (window, bins, share) in [
                    (30, 24, 0.7),
                    (10, 12, 0.6),
                    (100, 48, 0.8),
                    (20, 7, 0.95),
                    (30, 50, 0.7),
                ] {
                    let (h, l, v) = (&c.high[..], &c.low[..], &c.volume[..]);
                    let want = reference::volume_profile(h, l, v, window, bins, share);
                    let mut engine = rolling::Rolling::new(h, l, v, window, bins, share)
                        .expect("sound bars")
                        .with_kernel(kernel);
                    for i in 0..c.len() {
                        engine.push(i);
                        if i + 1 >= window {
                            let got = engine.levels(i);
                            let same = [
                                (got.poc, want.poc[i]),
                                (got.vah, want.vah[i]),
                                (got.val, want.val[i]),
                            ]
                            .iter()
                            .all(|(a, b)| a.to_bits() == b.to_bits());
                            assert!(same, "{kernel:?}, bar {i}, window {window}, bins {bins}");
                        }
                    }
                    assert!(engine.stats().slid > 0, "{kernel:?}: no window slid");
                }
            }
        }
    }

    #[test]
    fn fast_engine_equals_the_reference_on_goog_and_eurusd() {
        use crate::candles::Interval;
        for c in [
            bundled("GOOG", Interval::Day1),
            bundled("EURUSD", Interval::Hour1),
        ] {
            let mut slid = 0;
            for (window, bins, share) in [
                (30, 24, 0.7),
                (10, 12, 0.6),
                (100, 48, 0.8),
                (50, 36, 0.65),
                (20, 7, 0.95),
                (2, 2, 0.7),
                (3, 1, 0.7),
                (1, 5, 0.7),
                (40, 24, 1.0),
            ] {
                let stats = same_as_reference(&c, window, bins, share).expect("fast path");
                slid += stats.slid;
            }
            assert!(slid > 0, "the slide path was never used");
        }
    }

    #[test]
    fn stretches_on_several_threads_give_the_levels_of_one() {
        use crate::candles::Interval;
        for c in [
            bundled("GOOG", Interval::Day1),
            bundled("EURUSD", Interval::Hour1),
        ] {
            let (h, l, v) = (&c.high, &c.low, &c.volume);
            let slow = reference::volume_profile(h, l, v, 30, 24, 0.7);
            for parts in [1, 2, 3, 7] {
                let (cut, stats) = profile_in_parts(h, l, v, 30, 24, 0.7, parts);
                let stats = stats.expect("fast path");
                // Every window once, whatever the cut; each stretch starts with a rebuild.
                assert_eq!(stats.rebuilt + stats.slid, (c.len() - 29) as u64);
                assert!(stats.rebuilt >= parts as u64);
                for (a, b) in [
                    (&cut.poc, &slow.poc),
                    (&cut.vah, &slow.vah),
                    (&cut.val, &slow.val),
                ] {
                    let same = a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits());
                    assert!(same, "{parts} stretches differ from the reference");
                }
            }
            // One unsound bar in the last stretch only (each stretch checks its own bars): every
            // window takes the per-window path, the windows of the sound stretches included.
            let mut bad = c.clone();
            let last = bad.len() - 5;
            bad.volume[last] = -1.0;
            let (h, l, v) = (&bad.high, &bad.low, &bad.volume);
            let slow = reference::volume_profile(h, l, v, 30, 24, 0.7);
            for parts in [1, 2, 7] {
                let (cut, stats) = profile_in_parts(h, l, v, 30, 24, 0.7, parts);
                assert!(stats.is_none(), "{parts} stretches took the fast path");
                let same = cut
                    .vah
                    .iter()
                    .zip(&slow.vah)
                    .all(|(x, y)| x.to_bits() == y.to_bits());
                assert!(same, "{parts} stretches with an unsound bar differ");
            }
        }
        // Too short to cut: fewer windows than stretches.
        let c = bundled("GOOG", Interval::Day1).slice(0..40);
        let (few, _) = profile_in_parts(&c.high, &c.low, &c.volume, 30, 24, 0.7, 16);
        let one = reference::volume_profile(&c.high, &c.low, &c.volume, 30, 24, 0.7);
        assert_eq!(few.poc.iter().filter(|x| x.is_finite()).count(), 11);
        assert!(
            few.poc
                .iter()
                .zip(&one.poc)
                .all(|(x, y)| x.to_bits() == y.to_bits())
        );
    }

    #[test]
    fn fast_engine_equals_the_reference_on_a_million_synthetic_bars() {
        use crate::candles::Interval;
        use crate::candles::synthetic::{SyntheticSpec, generate};
        // The data of `fetch --provider synthetic --bars 1000000 --seed 7 --interval 1m`.
        let c = generate(&SyntheticSpec::new(1_000_000, 7, Interval::Minute1));
        let stats = same_as_reference(&c, 30, 24, 0.7).expect("fast path");
        assert_eq!(stats.rebuilt + stats.slid, 1_000_000 - 29);
        // Most windows keep their range and are slid, and rounding never blocks a certificate here.
        assert!(stats.slid > stats.rebuilt, "{stats:?}");
        let part = c.slice(0..200_000);
        for (window, bins, share) in [(100, 48, 0.8), (10, 12, 0.6)] {
            same_as_reference(&part, window, bins, share).expect("fast path");
        }
    }

    /// Prices on a coarse tick grid with integer volumes, runs of identical bars, flat bars, bars with
    /// no volume and stretches where the whole window has none: exact ties between bins, prices on bin
    /// edges, and the zero-volume fallback. The certificate must refuse every tie.
    #[test]
    fn fast_engine_equals_the_reference_on_ties_and_edges() {
        use crate::candles::{Bar, Candles};
        let mut bars = Vec::new();
        let mut x: u64 = 12345;
        let mut next = |m: u64| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (x >> 33) % m
        };
        for i in 0..6000 {
            let base = 100.0 + (next(9) as f64 - 4.0) * 0.5;
            let low = base - next(3) as f64 * 0.5;
            let high = base + next(3) as f64 * 0.5;
            let volume = match i % 1000 {
                0..=99 => 0.0,
                _ if next(5) == 0 => 0.0,
                _ => (1 + next(4)) as f64,
            };
            let repeat = if next(4) == 0 { 3 } else { 1 };
            for _ in 0..repeat {
                bars.push(Bar {
                    ts: bars.len() as i64,
                    open: low,
                    high,
                    low,
                    close: high,
                    volume,
                });
            }
        }
        let c = Candles::from_bars(&bars);
        let (mut uncertain, mut exact) = (0, 0);
        for (window, bins, share) in [(30, 24, 0.7), (10, 4, 0.5), (20, 8, 0.75), (5, 3, 0.7)] {
            let stats = same_as_reference(&c, window, bins, share).expect("fast path");
            uncertain += stats.uncertain;
            exact += stats.exact;
        }
        assert!(
            uncertain > 0 && exact > 0,
            "ties should have blocked some certificates of both kinds"
        );
        // Non-finite prices and negative volumes take the per-window path, with the same results.
        let mut bad = c.slice(0..500);
        bad.high[40] = f64::NAN;
        bad.volume[7] = -1.0;
        assert!(same_as_reference(&bad, 10, 6, 0.7).is_none());
    }

    /// Magnitudes far from a price's: ranges that overflow (`hi − lo = ∞`), negative prices, ranges of
    /// a few ulps, tiny and huge volumes. The engine may refuse to certify, never differ.
    #[test]
    fn fast_engine_equals_the_reference_at_extreme_magnitudes() {
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        let mut unit = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 11) as f64 / (1u64 << 53) as f64
        };
        for (centre, spread, volume) in [
            (1e300, 5e299, 1.0),   // the window's range can overflow to infinity
            (-50.0, 10.0, 1e-300), // negative prices, tiny volumes
            (1.0, 1e-14, 1e300),   // ranges of a few ulps, huge volumes
            (0.0, 1e-310, 3.0),    // subnormal prices
        ] {
            let n = 400;
            let (mut high, mut low, mut vol) = (vec![0.0; n], vec![0.0; n], vec![0.0; n]);
            for i in 0..n {
                let a = centre + spread * (2.0 * unit() - 1.0);
                let b = centre + spread * (2.0 * unit() - 1.0);
                (high[i], low[i]) = (a.max(b), a.min(b));
                vol[i] = if unit() < 0.1 { 0.0 } else { volume * unit() };
            }
            for (window, bins) in [(30, 24), (7, 5)] {
                let want = reference::volume_profile(&high, &low, &vol, window, bins, 0.7);
                let (got, _) = volume_profile_with_stats(&high, &low, &vol, window, bins, 0.7);
                for (a, b) in [
                    (&got.poc, &want.poc),
                    (&got.vah, &want.vah),
                    (&got.val, &want.val),
                ] {
                    let same = a
                        .iter()
                        .zip(b.iter())
                        .all(|(p, q)| p.to_bits() == q.to_bits());
                    assert!(same, "centre {centre}, window {window}, bins {bins}");
                }
            }
        }
    }

    #[test]
    fn rolling_windows_match_single_windows() {
        let high = [11.0, 12.0, 13.0, 12.5, 14.0, 13.0];
        let low = [10.0, 10.5, 11.0, 11.5, 12.0, 12.0];
        let vol = [5.0, 1.0, 7.0, 3.0, 2.0, 9.0];
        let vp = volume_profile(&high, &low, &vol, 3, 4, 0.7);
        assert!(vp.poc[1].is_nan());
        let mut hist = [0.0; 4];
        for i in 2..6 {
            let l = profile_levels(
                &high[i - 2..=i],
                &low[i - 2..=i],
                &vol[i - 2..=i],
                0.7,
                &mut hist,
            )
            .unwrap();
            assert_eq!((vp.poc[i], vp.vah[i], vp.val[i]), (l.poc, l.vah, l.val));
        }
    }
}
