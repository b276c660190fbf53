//! True range and Wilder's average true range, as TA-Lib computes them (`TRANGE`, `ATR`).

/// True range: `max(high − low, |high − prev close|, |low − prev close|)` from bar 1 on; `NaN` at bar 0
/// (there is no previous close), as TA-Lib's `TRANGE`.
pub fn true_range(high: &[f64], low: &[f64], close: &[f64]) -> Vec<f64> {
    let n = high.len().min(low.len()).min(close.len());
    let mut out = vec![f64::NAN; n];
    for (i, slot) in out.iter_mut().enumerate().skip(1) {
        *slot = tr_at(high, low, close, i);
    }
    out
}

#[inline(always)]
fn tr_at(high: &[f64], low: &[f64], close: &[f64], i: usize) -> f64 {
    let pc = close[i - 1];
    (high[i] - low[i])
        .max((high[i] - pc).abs())
        .max((low[i] - pc).abs())
}

/// Wilder's ATR over `n` bars: the first value, at bar `n`, is the simple mean of the true ranges of bars
/// `1..=n`; then `atr[i] = (atr[i-1]·(n−1) + tr[i]) / n`. `NaN` before bar `n` (and for `n = 0`).
/// Identical in convention to TA-Lib's `ATR` (whose output starts at index `n` too).
pub fn atr(high: &[f64], low: &[f64], close: &[f64], n: usize) -> Vec<f64> {
    let len = high.len().min(low.len()).min(close.len());
    let mut out = vec![f64::NAN; len];
    if n == 0 || len <= n {
        return out;
    }
    let mut sum = 0.0;
    for i in 1..=n {
        sum += tr_at(high, low, close, i);
    }
    let nf = n as f64;
    let mut prev = sum / nf;
    out[n] = prev;
    for (i, slot) in out.iter_mut().enumerate().skip(n + 1) {
        prev = (prev * (nf - 1.0) + tr_at(high, low, close, i)) / nf;
        *slot = prev;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_computed_wilder_atr() {
        let high = [10.0, 12.0, 11.0, 15.0];
        let low = [9.0, 10.0, 8.0, 13.0];
        let close = [9.5, 11.0, 10.0, 14.0];
        // TR: -, max(2, 2.5, 0.5) = 2.5, max(3, 0, 3) = 3, max(2, 5, 3) = 5.
        let tr = true_range(&high, &low, &close);
        assert!(tr[0].is_nan());
        assert_eq!(&tr[1..], &[2.5, 3.0, 5.0]);
        // n = 2: atr[2] = (2.5 + 3)/2 = 2.75; atr[3] = (2.75·1 + 5)/2 = 3.875.
        let a = atr(&high, &low, &close, 2);
        assert!(a[0].is_nan() && a[1].is_nan());
        assert_eq!(&a[2..], &[2.75, 3.875]);
        assert!(atr(&high, &low, &close, 4).iter().all(|v| v.is_nan()));
    }
}
