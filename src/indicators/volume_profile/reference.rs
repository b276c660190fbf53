//! The rolling volume profile exactly as it was computed before the incremental engine (one full
//! histogram per window, O(window · bins touched)): the oracle the tests compare the fast engine with,
//! bit for bit. Test-only; do not change it.

use super::ProfileLevels;
use super::VolumeProfile;

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
