//! Exponential moving average, seeded the way TA-Lib seeds it: the first value is the simple mean of the
//! first `n` inputs, then `ema[i] = ema[i-1] + α·(x[i] − ema[i-1])` with `α = 2 / (n + 1)`.

/// EMA of `values` over `n` bars: `NaN` until `n` values have been seen (counted from the first non-NaN
/// input, so an EMA of another indicator's output works), then the TA-Lib recursion. `n = 0` gives all
/// `NaN`. A `NaN` after the seed propagates (the input is expected to be gap-free once defined).
pub fn ema(values: &[f64], n: usize) -> Vec<f64> {
    let mut out = vec![f64::NAN; values.len()];
    if n == 0 {
        return out;
    }
    let Some(first) = values.iter().position(|v| !v.is_nan()) else {
        return out;
    };
    let seed_end = first + n - 1;
    if seed_end >= values.len() {
        return out;
    }
    let seed = values[first..=seed_end].iter().sum::<f64>() / n as f64;
    out[seed_end] = seed;
    let alpha = 2.0 / (n as f64 + 1.0);
    let mut prev = seed;
    for i in seed_end + 1..values.len() {
        prev += alpha * (values[i] - prev);
        out[i] = prev;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_is_the_mean_then_the_recursion() {
        // n = 3, α = 0.5: seed (1+2+3)/3 = 2; then 2 + 0.5·(6−2) = 4; 4 + 0.5·(0−4) = 2.
        let e = ema(&[1.0, 2.0, 3.0, 6.0, 0.0], 3);
        assert!(e[0].is_nan() && e[1].is_nan());
        assert_eq!(&e[2..], &[2.0, 4.0, 2.0]);
        assert!(ema(&[1.0, 2.0], 3).iter().all(|v| v.is_nan()));
        assert!(ema(&[1.0, 2.0], 0).iter().all(|v| v.is_nan()));
    }

    #[test]
    fn leading_nans_are_skipped() {
        let e = ema(&[f64::NAN, 1.0, 3.0, 5.0], 2);
        assert!(e[0].is_nan() && e[1].is_nan());
        // seed (1+3)/2 = 2, α = 2/3: 2 + 2/3·(5−2) = 4.
        assert_eq!(e[2], 2.0);
        assert!((e[3] - 4.0).abs() < 1e-15);
    }
}
