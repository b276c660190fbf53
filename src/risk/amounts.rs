//! The range of numbers the risk layer accepts: money (balance, equity, P&L), prices and sizes. A number
//! that is not finite, or absurdly large, is bad input — and so is an operation that would take the stored
//! state outside the range — so the balance can never become infinite (which would switch off the
//! drawdown and daily-loss rules) and an override like `--equity 1e308` cannot shrink every risk share to
//! nothing.

use crate::error::{Error, Result};

/// The largest magnitude accepted for any amount, price or size: 10^15. Larger than any real account
/// (about ten times the world's yearly output in dollars), and below 2^53 ≈ 9.007 × 10^15, where an f64
/// still holds every whole number, so sums of amounts in range stay finite and exact to the unit.
pub const MAX_AMOUNT: f64 = 1e15;

/// `v` when it is finite and |v| ≤ [`MAX_AMOUNT`]; else an error naming `field`.
pub fn amount(field: &str, v: f64) -> Result<f64> {
    if !v.is_finite() {
        return Err(Error::invalid(format!(
            "{field}: must be a finite number, got {v}"
        )));
    }
    capped(field, v)
}

/// `v` when it is finite, positive and at most [`MAX_AMOUNT`]; else an error naming `field`.
pub fn positive_amount(field: &str, v: f64) -> Result<f64> {
    if !(v.is_finite() && v > 0.0) {
        return Err(Error::invalid(format!(
            "{field}: must be a positive number, got {v}"
        )));
    }
    capped(field, v)
}

fn capped(field: &str, v: f64) -> Result<f64> {
    if v.abs() <= MAX_AMOUNT {
        Ok(v)
    } else {
        Err(Error::invalid(format!(
            "{field}: {} is more than 1e15 in size, the most flowrex accepts",
            number_text(v)
        )))
    }
}

/// A number for a message: in exponent form when it has more digits than a person reads (1e308, not
/// three hundred zeros).
pub fn number_text(v: f64) -> String {
    if v.is_finite() && v.abs() >= 1e16 {
        format!("{v:e}")
    } else {
        v.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_range_is_finite_and_capped() {
        assert_eq!(amount("pnl", -1e15).unwrap(), -1e15);
        assert_eq!(amount("pnl", 0.0).unwrap(), 0.0);
        for (bad, want) in [
            (MAX_AMOUNT + 1.0, "pnl: 1000000000000001 is more than 1e15"),
            (-2e15, "pnl: -2000000000000000 is more than 1e15"),
            (1.7e308, "pnl: 1.7e308 is more than 1e15"),
            (f64::INFINITY, "pnl: must be a finite number, got inf"),
            (f64::NAN, "pnl: must be a finite number, got NaN"),
        ] {
            let err = amount("pnl", bad).unwrap_err().to_string();
            assert!(err.starts_with("pnl: ") && err.contains(want), "{err}");
        }
        assert_eq!(positive_amount("equity", 1e15).unwrap(), 1e15);
        for (bad, want) in [
            (0.0, "equity: must be a positive number, got 0"),
            (-1.0, "equity: must be a positive number, got -1"),
            (f64::NAN, "equity: must be a positive number, got NaN"),
            (1e16, "equity: 1e16 is more than 1e15"),
        ] {
            let err = positive_amount("equity", bad).unwrap_err().to_string();
            assert!(err.starts_with(want), "{err}");
        }
        // The reason for the cap: below 2^53 every whole number is exact, so adding 1 is seen.
        assert!(MAX_AMOUNT < 2f64.powi(53));
        assert_eq!((MAX_AMOUNT + 1.0) - MAX_AMOUNT, 1.0);
    }
}
