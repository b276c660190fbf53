//! Swing pivots (fractal highs and lows), indexed by the bar on which they are **confirmed**.
//!
//! A pivot high at bar `j` is a high above each of the `left` highs before it and at least as high as each
//! of the `right` highs after it (lows mirror this). Nobody can know that before bar `j + right` has closed,
//! so every series here is indexed by the confirmation bar `c = j + right`, never by `j`: a strategy that
//! reads indices `0..=i` only sees pivots confirmed by bar `i`. The pivot's own bar is always `c − right`.
//! Ties: a flat top of equal highs yields one pivot, at its first bar (strict on the left, non-strict on
//! the right).

/// The high of each pivot high, placed at its confirmation bar (`NaN` elsewhere). The pivot itself is at
/// `index − right`. O(n·(left + right)).
pub fn pivot_highs(high: &[f64], left: usize, right: usize) -> Vec<f64> {
    pivots(high, left, right, |a, b| a > b, |a, b| a >= b)
}

/// The low of each pivot low, placed at its confirmation bar (`NaN` elsewhere). The pivot itself is at
/// `index − right`. O(n·(left + right)).
pub fn pivot_lows(low: &[f64], left: usize, right: usize) -> Vec<f64> {
    pivots(low, left, right, |a, b| a < b, |a, b| a <= b)
}

fn pivots(
    x: &[f64],
    left: usize,
    right: usize,
    beats_left: impl Fn(f64, f64) -> bool,
    beats_right: impl Fn(f64, f64) -> bool,
) -> Vec<f64> {
    let n = x.len();
    let mut out = vec![f64::NAN; n];
    if n <= left + right {
        return out;
    }
    for j in left..n - right {
        let v = x[j];
        if x[j - left..j].iter().all(|&b| beats_left(v, b))
            && x[j + 1..=j + right].iter().all(|&a| beats_right(v, a))
        {
            out[j + right] = v;
        }
    }
    out
}

/// Which value of the `back`-th most recent pivot [`recent_pivot`] returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PivotField {
    /// The pivot's price.
    Price,
    /// The pivot's own bar index (confirmation bar − `right`), as `f64`.
    Bar,
}

/// For each bar `i`, the price or bar of the `back`-th most recent pivot (0 = the latest) among those in
/// `confirmed` (a [`pivot_highs`] / [`pivot_lows`] output) confirmed at or before `i`; `NaN` while there
/// are fewer than `back + 1` of them. O(n); the working memory is a ring of `back + 1` entries.
pub fn recent_pivot(confirmed: &[f64], right: usize, back: usize, field: PivotField) -> Vec<f64> {
    let mut out = vec![f64::NAN; confirmed.len()];
    let cap = back + 1;
    let mut ring = vec![f64::NAN; cap];
    let (mut seen, mut head) = (0usize, 0usize);
    for (i, &p) in confirmed.iter().enumerate() {
        if !p.is_nan() {
            ring[head] = match field {
                PivotField::Price => p,
                PivotField::Bar => (i - right) as f64,
            };
            head = (head + 1) % cap;
            seen += 1;
        }
        if seen > back {
            // The newest entry is at head − 1; the `back`-th before it at head − 1 − back.
            out[i] = ring[(head + cap - 1 - back) % cap];
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pivots_appear_at_their_confirmation_bar() {
        //            0    1    2    3    4    5    6    7
        let high = [1.0, 3.0, 2.0, 2.0, 5.0, 4.0, 4.5, 1.0];
        // left 1, right 1: bar 1 (3 > 1, 3 ≥ 2) confirmed at 2; bar 4 (5 > 2, 5 ≥ 4) at 5;
        // bar 6 (4.5 > 4, 4.5 ≥ 1) at 7. Bar 3 (2 is not > 2) is not a pivot.
        let p = pivot_highs(&high, 1, 1);
        let want = [
            f64::NAN,
            f64::NAN,
            3.0,
            f64::NAN,
            f64::NAN,
            5.0,
            f64::NAN,
            4.5,
        ];
        for (g, w) in p.iter().zip(want) {
            assert!(*g == w || (g.is_nan() && w.is_nan()), "{p:?}");
        }
        let low: Vec<f64> = high.iter().map(|h| -h).collect();
        assert_eq!(pivot_lows(&low, 1, 1)[5], -5.0);
        // A flat top counts once, at its first bar.
        let flat = pivot_highs(&[1.0, 2.0, 2.0, 1.0], 1, 2);
        assert_eq!(flat[3], 2.0);
        assert!(flat.iter().filter(|v| !v.is_nan()).count() == 1);
    }

    #[test]
    fn recent_pivot_tracks_the_latest_confirmed() {
        let confirmed = [
            f64::NAN,
            f64::NAN,
            3.0,
            f64::NAN,
            f64::NAN,
            5.0,
            f64::NAN,
            4.5,
        ];
        let last = recent_pivot(&confirmed, 1, 0, PivotField::Price);
        let bar = recent_pivot(&confirmed, 1, 0, PivotField::Bar);
        let prev = recent_pivot(&confirmed, 1, 1, PivotField::Price);
        assert!(last[1].is_nan());
        assert_eq!(&last[2..], &[3.0, 3.0, 3.0, 5.0, 5.0, 4.5]);
        assert_eq!(&bar[2..], &[1.0, 1.0, 1.0, 4.0, 4.0, 6.0]);
        assert!(prev[4].is_nan());
        assert_eq!(&prev[5..], &[3.0, 3.0, 5.0]);
    }
}
