//! Seeded randomness without state: a uniform number from (seed, order id, bar time, purpose), mixed
//! with SplitMix64's finalizer. The same order on the same bar gets the same draw in any run, so a
//! restart after a crash, or processing in several runs instead of one, gives the same fills.

/// Purpose of a draw: does a touched limit or stop fill on this bar?
pub const TOUCH: u64 = 1;
/// Purpose of a draw: the random part of slippage.
pub const SLIPPAGE: u64 = 2;

/// SplitMix64's output function.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A uniform number in [0, 1) for `(seed, order, bar_ts, purpose)`.
pub fn unit(seed: u64, order: i64, bar_ts: i64, purpose: u64) -> f64 {
    const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut x = mix(seed.wrapping_add(GOLDEN.wrapping_mul(purpose)));
    x = mix(x ^ (order as u64).wrapping_mul(GOLDEN));
    x = mix(x ^ bar_ts as u64);
    // The top 53 bits as a fraction: every value is exactly representable and below 1.
    (x >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_are_uniform_reproducible_and_depend_on_every_input() {
        assert_eq!(unit(1, 2, 3, TOUCH), unit(1, 2, 3, TOUCH));
        let base = unit(1, 2, 3, TOUCH);
        for other in [
            unit(2, 2, 3, TOUCH),
            unit(1, 3, 3, TOUCH),
            unit(1, 2, 4, TOUCH),
            unit(1, 2, 3, SLIPPAGE),
        ] {
            assert_ne!(base, other);
        }
        // 100 000 draws over consecutive bars: the mean of U[0, 1) is 1/2 with standard error
        // sqrt(1/12 / 100000) ≈ 0.00091; allow 5 of them. Each decile holds 10% ± 5·0.00095.
        let n = 100_000;
        let draws: Vec<f64> = (0..n).map(|i| unit(42, 7, i * 60_000, TOUCH)).collect();
        assert!(draws.iter().all(|&u| (0.0..1.0).contains(&u)));
        let mean = draws.iter().sum::<f64>() / n as f64;
        assert!((mean - 0.5).abs() < 5.0 * 0.00091, "{mean}");
        for d in 0..10 {
            let lo = d as f64 / 10.0;
            let share =
                draws.iter().filter(|&&u| u >= lo && u < lo + 0.1).count() as f64 / n as f64;
            assert!((share - 0.1).abs() < 5.0 * 0.00095, "decile {d}: {share}");
        }
    }
}
