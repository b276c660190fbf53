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
//! Cost: O(window · bins touched per bar + bins) per output bar, i.e. O(n) for a fixed window and bin
//! count; the working memory is one histogram of `bins` values.

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
    let n = high.len().min(low.len()).min(volume.len());
    let mut out = VolumeProfile {
        poc: vec![f64::NAN; n],
        vah: vec![f64::NAN; n],
        val: vec![f64::NAN; n],
    };
    if window == 0 || bins == 0 || n < window {
        return out;
    }
    let mut hist = vec![0.0; bins];
    for i in window - 1..n {
        let s = i + 1 - window;
        if let Some(l) = profile_levels(
            &high[s..=i],
            &low[s..=i],
            &volume[s..=i],
            value_share,
            &mut hist,
        ) {
            out.poc[i] = l.poc;
            out.vah[i] = l.vah;
            out.val[i] = l.val;
        }
    }
    out
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
    Some(ProfileLevels {
        poc: lo + (poc as f64 + 0.5) * width,
        vah: lo + (z + 1) as f64 * width,
        val: lo + a as f64 * width,
    })
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
