//! Straight trendlines through swing pivots: through two pivots (the classic hand-drawn line) or the
//! least-squares line through several.

/// A line `price = intercept + slope · bar` over bar indices.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Trendline {
    /// Price change per bar.
    pub slope: f64,
    /// Price at bar 0.
    pub intercept: f64,
}

impl Trendline {
    /// The line through `(bar_a, price_a)` and `(bar_b, price_b)`; `None` when the bars coincide or a
    /// value is not finite.
    pub fn through(bar_a: f64, price_a: f64, bar_b: f64, price_b: f64) -> Option<Trendline> {
        if bar_a == bar_b
            || ![bar_a, price_a, bar_b, price_b]
                .iter()
                .all(|v| v.is_finite())
        {
            return None;
        }
        let slope = (price_b - price_a) / (bar_b - bar_a);
        Some(Trendline {
            slope,
            intercept: price_a - slope * bar_a,
        })
    }

    /// The least-squares line through `(bar, price)` points; `None` with fewer than two distinct bars.
    pub fn fit(points: &[(f64, f64)]) -> Option<Trendline> {
        let n = points.len() as f64;
        if points.len() < 2 {
            return None;
        }
        let mx = points.iter().map(|p| p.0).sum::<f64>() / n;
        let my = points.iter().map(|p| p.1).sum::<f64>() / n;
        let sxx: f64 = points.iter().map(|p| (p.0 - mx) * (p.0 - mx)).sum();
        let sxy: f64 = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
        if sxx == 0.0 || !sxx.is_finite() || !sxy.is_finite() {
            return None;
        }
        let slope = sxy / sxx;
        Some(Trendline {
            slope,
            intercept: my - slope * mx,
        })
    }

    /// The line's price at `bar`.
    #[inline]
    pub fn at(&self, bar: f64) -> f64 {
        self.intercept + self.slope * bar
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn through_two_pivots_by_hand() {
        // Lows (10, 100) and (20, 110): slope 1 per bar, so 115 at bar 25 and 100 − 10 = 90 at bar 0.
        let t = Trendline::through(10.0, 100.0, 20.0, 110.0).unwrap();
        assert_eq!(t.slope, 1.0);
        assert_eq!(t.intercept, 90.0);
        assert_eq!(t.at(25.0), 115.0);
        // Falling highs (4, 50) and (8, 42): −2 per bar, 36 at bar 11.
        let d = Trendline::through(4.0, 50.0, 8.0, 42.0).unwrap();
        assert_eq!(d.at(11.0), 36.0);
        assert!(Trendline::through(3.0, 1.0, 3.0, 2.0).is_none());
        assert!(Trendline::through(3.0, f64::NAN, 4.0, 2.0).is_none());
    }

    #[test]
    fn least_squares_by_hand() {
        // (0,1), (1,3), (2,2): means (1, 2); sxx = 2, sxy = (−1)(−1) + 0 + (1)(0) = 1 → slope 0.5,
        // intercept 2 − 0.5 = 1.5.
        let t = Trendline::fit(&[(0.0, 1.0), (1.0, 3.0), (2.0, 2.0)]).unwrap();
        assert_eq!(t.slope, 0.5);
        assert_eq!(t.intercept, 1.5);
        assert!(Trendline::fit(&[(1.0, 1.0)]).is_none());
        assert!(Trendline::fit(&[(1.0, 1.0), (1.0, 2.0)]).is_none());
    }
}
