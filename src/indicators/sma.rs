//! Simple moving average, computed bit for bit the way pandas computes `Series.rolling(n).mean()`.
//!
//! pandas keeps a running sum with Kahan compensation — one compensation term for adds and a separate
//! one for removes, with the remove done before the add — counts negative values to clamp a mean of the
//! wrong sign to zero, and returns the value itself when the whole window holds one repeated value
//! (GH#42064). A naive running sum differs in the last bits, and that is enough to flip exact-tie
//! crossovers on real prices, so the reference backtester's trades are only reproduced by this port
//! (`pandas/_libs/window/aggregations.pyx`: `roll_mean`, `add_mean`, `remove_mean`, `calc_mean`).

/// The state of pandas' rolling-mean accumulator.
#[derive(Debug, Default, Clone, Copy)]
struct RollMean {
    nobs: i64,
    neg_ct: i64,
    sum_x: f64,
    compensation_add: f64,
    compensation_remove: f64,
    num_consecutive_same_value: i64,
    prev_value: f64,
}

impl RollMean {
    /// `add_mean`: Kahan-compensated add of one (non-NaN) value.
    #[inline(always)]
    fn add(&mut self, val: f64) {
        if val.is_nan() {
            return;
        }
        self.nobs += 1;
        let y = val - self.compensation_add;
        let t = self.sum_x + y;
        self.compensation_add = t - self.sum_x - y;
        self.sum_x = t;
        if val.is_sign_negative() {
            self.neg_ct += 1;
        }
        if val == self.prev_value {
            self.num_consecutive_same_value += 1;
        } else {
            self.num_consecutive_same_value = 1;
        }
        self.prev_value = val;
    }

    /// `remove_mean`: Kahan-compensated removal of one (non-NaN) value, with its own compensation term.
    #[inline(always)]
    fn remove(&mut self, val: f64) {
        if val.is_nan() {
            return;
        }
        self.nobs -= 1;
        let y = -val - self.compensation_remove;
        let t = self.sum_x + y;
        self.compensation_remove = t - self.sum_x - y;
        self.sum_x = t;
        if val.is_sign_negative() {
            self.neg_ct -= 1;
        }
    }

    /// `calc_mean` with `min_periods = minp`.
    #[inline(always)]
    fn mean(&self, minp: i64) -> f64 {
        if self.nobs >= minp && self.nobs > 0 {
            let result = self.sum_x / self.nobs as f64;
            if self.num_consecutive_same_value >= self.nobs {
                self.prev_value
            } else if (self.neg_ct == 0 && result < 0.0)
                || (self.neg_ct == self.nobs && result > 0.0)
            {
                0.0
            } else {
                result
            }
        } else {
            f64::NAN
        }
    }
}

/// Simple moving average of the last `n` values: `NaN` for the first `n - 1` positions (and wherever a
/// window holds a `NaN`), identical bit for bit to pandas' `Series(values).rolling(n).mean()`.
///
/// `n = 0` yields all `NaN`, as pandas does.
pub fn sma(values: &[f64], n: usize) -> Vec<f64> {
    let mut out = Vec::new();
    sma_into(values, n, &mut out);
    out
}

/// [`sma`] written into `out` (emptied first), so that a caller holding a spare buffer reuses its
/// memory (`IndicatorCache` hands evicted series back this way); for `n < 2` the result is a new
/// vector that replaces `out`.
pub fn sma_into(values: &[f64], n: usize, out: &mut Vec<f64>) {
    let len = values.len();
    out.clear();
    if n < 2 || len == 0 {
        *out = sma_by_windows(values, n);
        return;
    }
    // pandas' loop specialised to a fixed window of n ≥ 2 (same operations in the same order): set up
    // with the first value, add until the window is full, then remove the oldest and add the newest.
    let minp = n as i64;
    out.reserve_exact(len);
    let mut st = RollMean {
        prev_value: values[0],
        ..RollMean::default()
    };
    let fill = len.min(n);
    for &v in &values[..fill] {
        st.add(v);
        out.push(st.mean(minp));
    }
    if len > n {
        for (&new, &old) in values[n..].iter().zip(&values[..len - n]) {
            st.remove(old);
            st.add(new);
            out.push(st.mean(minp));
        }
    }
}

/// Two SMAs of the same values in one pass, each identical bit for bit to [`sma`]. The two Kahan
/// chains are independent, so interleaving them roughly halves the time of two separate calls.
pub fn sma_pair(values: &[f64], a: usize, b: usize) -> (Vec<f64>, Vec<f64>) {
    let (mut out_a, mut out_b) = (Vec::new(), Vec::new());
    sma_pair_into(values, a, b, &mut out_a, &mut out_b);
    (out_a, out_b)
}

/// [`sma_pair`] written into `out_a` and `out_b` (emptied first), as [`sma_into`].
pub fn sma_pair_into(
    values: &[f64],
    a: usize,
    b: usize,
    out_a: &mut Vec<f64>,
    out_b: &mut Vec<f64>,
) {
    let len = values.len();
    if a < 2 || b < 2 || len == 0 {
        sma_into(values, a, out_a);
        sma_into(values, b, out_b);
        return;
    }
    let init = RollMean {
        prev_value: values[0],
        ..RollMean::default()
    };
    let (mut sa, mut sb) = (init, init);
    let (ma, mb) = (a as i64, b as i64);
    out_a.clear();
    out_b.clear();
    out_a.reserve_exact(len);
    out_b.reserve_exact(len);
    for (i, &v) in values.iter().enumerate() {
        if i >= a {
            sa.remove(values[i - a]);
        }
        if i >= b {
            sb.remove(values[i - b]);
        }
        sa.add(v);
        sb.add(v);
        out_a.push(sa.mean(ma));
        out_b.push(sb.mean(mb));
    }
}

/// pandas' `roll_mean` loop as written, over explicit window bounds (used for `n < 2`).
fn sma_by_windows(values: &[f64], n: usize) -> Vec<f64> {
    let len = values.len();
    let mut out = vec![f64::NAN; len];
    if n == 0 || len == 0 {
        return out;
    }
    let minp = n as i64;
    let mut st = RollMean::default();
    // Fixed window bounds as pandas' FixedWindowIndexer: start = max(0, i + 1 - n), end = i + 1.
    let mut prev_start = 0usize;
    let mut prev_end = 0usize;
    for (i, slot) in out.iter_mut().enumerate() {
        let s = (i + 1).saturating_sub(n);
        let e = i + 1;
        if i == 0 || s >= prev_end {
            // Setup: a fresh window (the first one, or one that shares nothing with the last).
            st = RollMean {
                prev_value: values[s],
                ..RollMean::default()
            };
            for &v in &values[s..e] {
                st.add(v);
            }
        } else {
            for &v in &values[prev_start..s] {
                st.remove(v);
            }
            for &v in &values[prev_end..e] {
                st.add(v);
            }
        }
        *slot = st.mean(minp);
        prev_start = s;
        prev_end = e;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warm_up_is_nan_then_means() {
        let v = [1.0, 2.0, 3.0, 4.0, 5.0];
        let s = sma(&v, 3);
        assert!(s[0].is_nan() && s[1].is_nan());
        assert_eq!(&s[2..], &[2.0, 3.0, 4.0]);
        assert!(sma(&v, 6).iter().all(|x| x.is_nan()));
        assert!(sma(&v, 0).iter().all(|x| x.is_nan()));
        assert_eq!(sma(&v, 1), v.to_vec());
    }

    #[test]
    fn a_window_of_one_repeated_value_returns_that_value_exactly() {
        // A running sum leaves residue after 0.1 + 0.2 - 0.1 - 0.2; pandas' shortcut returns 0.3 exactly.
        let v = [0.1, 0.2, 0.3, 0.3, 0.3];
        let s = sma(&v, 3);
        assert_eq!(s[4], 0.3);
    }

    #[test]
    fn the_specialised_loop_equals_the_general_one_bit_for_bit() {
        let v: Vec<f64> = (0..500)
            .map(|i| {
                ((i * 7919) % 1000) as f64 / 7.0 - 60.0 + if i % 37 == 0 { f64::NAN } else { 0.0 }
            })
            .collect();
        for n in [2, 3, 10, 20, 499, 500, 600] {
            let a = sma(&v, n);
            let b = sma_by_windows(&v, n);
            assert!(
                a.iter().zip(&b).all(|(x, y)| x.to_bits() == y.to_bits()),
                "n={n}"
            );
        }
    }

    #[test]
    fn the_pair_equals_two_single_smas_bit_for_bit() {
        let v: Vec<f64> = (0..700)
            .map(|i| ((i * 104_729) % 977) as f64 * 0.01 + 1.0)
            .collect();
        for (a, b) in [(10, 20), (20, 10), (2, 700), (5, 800), (1, 3)] {
            let (x, y) = sma_pair(&v, a, b);
            let same =
                |p: &[f64], q: &[f64]| p.iter().zip(q).all(|(m, n)| m.to_bits() == n.to_bits());
            assert!(same(&x, &sma(&v, a)) && same(&y, &sma(&v, b)), "{a}/{b}");
        }
    }

    #[test]
    fn writing_into_a_used_buffer_gives_the_fresh_result() {
        let v: Vec<f64> = (0..300).map(|i| ((i * 31) % 17) as f64 + 0.25).collect();
        let bits = |p: &[f64]| p.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        for (a, b) in [(3, 8), (1, 5), (0, 4), (10, 400)] {
            // Longer and shorter leftovers than the result, values that are not the result's.
            let (mut x, mut y) = (vec![-7.0; 1000], vec![-7.0; 5]);
            sma_pair_into(&v, a, b, &mut x, &mut y);
            assert_eq!(bits(&x), bits(&sma(&v, a)), "{a}/{b}");
            assert_eq!(bits(&y), bits(&sma(&v, b)), "{a}/{b}");
            let mut z = vec![-7.0; 1000];
            sma_into(&v, a, &mut z);
            assert_eq!(bits(&z), bits(&sma(&v, a)), "{a}");
        }
    }

    #[test]
    fn nan_inside_a_window_makes_it_undefined() {
        let v = [1.0, f64::NAN, 3.0, 4.0, 5.0];
        let s = sma(&v, 2);
        assert!(s[1].is_nan() && s[2].is_nan());
        assert_eq!(s[3], 3.5);
        assert_eq!(s[4], 4.5);
    }
}
