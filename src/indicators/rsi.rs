//! Wilder's relative strength index, as TA-Lib's `RSI` computes it.

/// RSI over `n` bars. The first value, at bar `n`, uses the simple means of the gains and losses of the
/// changes at bars `1..=n`; later values smooth them the Wilder way (`avg = (avg·(n−1) + x) / n`).
/// `RSI = 100·gain / (gain + loss)`, and 0 when both are 0 (TA-Lib's convention for a flat window).
/// `NaN` before bar `n` and for `n = 0`.
pub fn rsi(values: &[f64], n: usize) -> Vec<f64> {
    let len = values.len();
    let mut out = vec![f64::NAN; len];
    if n == 0 || len <= n {
        return out;
    }
    let nf = n as f64;
    let (mut gain, mut loss) = (0.0, 0.0);
    for i in 1..=n {
        let d = values[i] - values[i - 1];
        if d > 0.0 {
            gain += d;
        } else {
            loss -= d;
        }
    }
    gain /= nf;
    loss /= nf;
    out[n] = ratio(gain, loss);
    for i in n + 1..len {
        let d = values[i] - values[i - 1];
        let (g, l) = if d > 0.0 { (d, 0.0) } else { (0.0, -d) };
        gain = (gain * (nf - 1.0) + g) / nf;
        loss = (loss * (nf - 1.0) + l) / nf;
        out[i] = ratio(gain, loss);
    }
    out
}

#[inline(always)]
fn ratio(gain: f64, loss: f64) -> f64 {
    let total = gain + loss;
    if total == 0.0 {
        0.0
    } else {
        100.0 * gain / total
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_computed() {
        // Changes: +2, −1, +1. n = 2: gain (2+0)/2 = 1, loss (0+1)/2 = 0.5 → 100·1/1.5.
        // Next: gain (1·1 + 1)/2 = 1, loss (0.5·1 + 0)/2 = 0.25 → 100·1/1.25 = 80.
        let r = rsi(&[10.0, 12.0, 11.0, 12.0], 2);
        assert!(r[0].is_nan() && r[1].is_nan());
        assert!((r[2] - 100.0 / 1.5).abs() < 1e-12);
        assert!((r[3] - 80.0).abs() < 1e-12);
        assert_eq!(rsi(&[1.0, 1.0, 1.0], 2)[2], 0.0);
    }
}
