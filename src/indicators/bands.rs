//! Rolling (population) standard deviation and Bollinger bands, with TA-Lib's conventions
//! (`STDDEV` with `nbdev = 1`, `BBANDS` with a simple-moving-average middle band).

use super::sma;

/// Population standard deviation of the last `n` values (divide by `n`, as TA-Lib and Bollinger do);
/// `NaN` for the first `n − 1` positions and for `n = 0`.
///
/// Kept as a rolling mean and sum of squared deviations (Welford's update with add and remove), which
/// stays accurate when the deviation is small next to the level (prices far from zero).
pub fn rolling_std(values: &[f64], n: usize) -> Vec<f64> {
    let len = values.len();
    let mut out = vec![f64::NAN; len];
    if n == 0 || len < n {
        return out;
    }
    let nf = n as f64;
    let (mut mean, mut m2) = (0.0, 0.0);
    for (k, &x) in values[..n].iter().enumerate() {
        let d = x - mean;
        mean += d / (k + 1) as f64;
        m2 += d * (x - mean);
    }
    out[n - 1] = (m2.max(0.0) / nf).sqrt();
    for i in n..len {
        let (x_in, x_out) = (values[i], values[i - n]);
        let old_mean = mean;
        mean += (x_in - x_out) / nf;
        m2 += (x_in - x_out) * (x_in - mean + x_out - old_mean);
        out[i] = (m2.max(0.0) / nf).sqrt();
    }
    out
}

/// Bollinger bands of `values`: the middle band is the `n`-bar SMA, the upper and lower bands are `k`
/// population standard deviations above and below it.
#[derive(Debug, Clone, PartialEq)]
pub struct Bollinger {
    /// SMA(n).
    pub middle: Vec<f64>,
    /// middle + k·std.
    pub upper: Vec<f64>,
    /// middle − k·std.
    pub lower: Vec<f64>,
}

/// Bollinger bands over `n` bars at `k` standard deviations (`NaN` during the first `n − 1` bars).
pub fn bollinger(values: &[f64], n: usize, k: f64) -> Bollinger {
    let middle = sma(values, n);
    let mut upper = rolling_std(values, n);
    let mut lower = upper.clone();
    for ((u, l), m) in upper.iter_mut().zip(lower.iter_mut()).zip(&middle) {
        *u = m + k * *u;
        *l = m - k * *l;
    }
    Bollinger {
        middle,
        upper,
        lower,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_computed_std_and_bands() {
        // Windows of 3: [1,2,3] σ = sqrt(2/3); [2,3,7] mean 4, deviations −2,−1,3 → σ = sqrt(14/3).
        let v = [1.0, 2.0, 3.0, 7.0];
        let s = rolling_std(&v, 3);
        assert!(s[0].is_nan() && s[1].is_nan());
        assert!((s[2] - (2.0f64 / 3.0).sqrt()).abs() < 1e-14);
        assert!((s[3] - (14.0f64 / 3.0).sqrt()).abs() < 1e-14);
        let b = bollinger(&v, 3, 2.0);
        assert_eq!(b.middle[3], 4.0);
        assert!((b.upper[3] - (4.0 + 2.0 * (14.0f64 / 3.0).sqrt())).abs() < 1e-14);
        assert!((b.lower[3] - (4.0 - 2.0 * (14.0f64 / 3.0).sqrt())).abs() < 1e-14);
        assert_eq!(rolling_std(&[5.0; 4], 2)[3], 0.0);
    }
}
