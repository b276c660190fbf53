//! Fibonacci retracement and extension levels of a swing from `start` to `end` (an up-swing when
//! `end > start`, a down-swing otherwise).

/// The level that retraces `ratio` of the swing back from its end: `end − ratio·(end − start)`.
/// 0 is the swing's end, 1 its start; 0.5 and 0.618 bound the classic "golden pocket".
#[inline]
pub fn retracement(start: f64, end: f64, ratio: f64) -> f64 {
    end - ratio * (end - start)
}

/// The level projected `ratio` swing lengths from the swing's start, past its end for `ratio > 1`:
/// `start + ratio·(end − start)` (1.272 and 1.618 are the common targets; 1 is the swing's end).
#[inline]
pub fn extension(start: f64, end: f64, ratio: f64) -> f64 {
    start + ratio * (end - start)
}

/// The classic retracement ratios.
pub const RETRACEMENTS: [f64; 5] = [0.236, 0.382, 0.5, 0.618, 0.786];

/// The classic extension ratios.
pub const EXTENSIONS: [f64; 3] = [1.272, 1.618, 2.618];

/// The retracement band between two ratios, as `(low, high)` prices whatever the swing's direction.
pub fn retracement_zone(start: f64, end: f64, ratio_a: f64, ratio_b: f64) -> (f64, f64) {
    let (a, b) = (
        retracement(start, end, ratio_a),
        retracement(start, end, ratio_b),
    );
    (a.min(b), a.max(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_of_an_up_and_a_down_swing() {
        // Up-swing 100 → 200: 50% at 150, 61.8% at 138.2, extension 1.618 at 261.8.
        assert_eq!(retracement(100.0, 200.0, 0.5), 150.0);
        assert!((retracement(100.0, 200.0, 0.618) - 138.2).abs() < 1e-12);
        assert!((extension(100.0, 200.0, 1.618) - 261.8).abs() < 1e-12);
        assert_eq!(extension(100.0, 200.0, 1.0), 200.0);
        // Down-swing 200 → 100: retracements go up, extensions below 100.
        assert_eq!(retracement(200.0, 100.0, 0.5), 150.0);
        assert!((retracement(200.0, 100.0, 0.618) - 161.8).abs() < 1e-12);
        assert!((extension(200.0, 100.0, 1.272) - 72.8).abs() < 1e-12);
        let (lo, hi) = retracement_zone(100.0, 200.0, 0.5, 0.618);
        assert!((lo - 138.2).abs() < 1e-12 && hi == 150.0);
        let (lo, hi) = retracement_zone(200.0, 100.0, 0.5, 0.618);
        assert!(lo == 150.0 && (hi - 161.8).abs() < 1e-12);
    }
}
