//! Rolling maximum and minimum over a fixed window with a monotonic deque: O(n) whatever the window.

/// Highest value of the last `n` (`NaN` for the first `n − 1` positions and for `n = 0`). The input
/// must be free of `NaN`.
pub fn rolling_max(values: &[f64], n: usize) -> Vec<f64> {
    rolling_extreme(values, n, |a, b| a >= b)
}

/// Lowest value of the last `n` (`NaN` for the first `n − 1` positions and for `n = 0`). The input
/// must be free of `NaN`.
pub fn rolling_min(values: &[f64], n: usize) -> Vec<f64> {
    rolling_extreme(values, n, |a, b| a <= b)
}

/// The deque holds indices whose values are strictly "worse than" nothing after them: each new value
/// pops from the back every index it dominates (`dominates(new, old)`), the front is the extreme, and it
/// leaves once it falls out of the window. Its working memory is a ring of `n + 1` indices.
fn rolling_extreme(values: &[f64], n: usize, dominates: impl Fn(f64, f64) -> bool) -> Vec<f64> {
    let len = values.len();
    let mut out = vec![f64::NAN; len];
    if n == 0 || len < n {
        return out;
    }
    let cap = n + 1;
    let mut ring = vec![0usize; cap];
    let (mut head, mut size) = (0usize, 0usize);
    for (i, &x) in values.iter().enumerate() {
        while size > 0 {
            let back = ring[(head + size - 1) % cap];
            if dominates(x, values[back]) {
                size -= 1;
            } else {
                break;
            }
        }
        ring[(head + size) % cap] = i;
        size += 1;
        if ring[head] + n <= i {
            head = (head + 1) % cap;
            size -= 1;
        }
        if i + 1 >= n {
            out[i] = values[ring[head]];
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn brute(values: &[f64], n: usize, max: bool) -> Vec<f64> {
        (0..values.len())
            .map(|i| {
                if i + 1 < n {
                    return f64::NAN;
                }
                let w = &values[i + 1 - n..=i];
                if max {
                    w.iter().cloned().fold(f64::MIN, f64::max)
                } else {
                    w.iter().cloned().fold(f64::MAX, f64::min)
                }
            })
            .collect()
    }

    #[test]
    fn matches_brute_force() {
        let v: Vec<f64> = (0..200)
            .map(|i| ((i * 37 % 23) as f64) - (i % 7) as f64)
            .collect();
        for n in [1, 2, 3, 5, 17, 200] {
            let (mx, mn) = (rolling_max(&v, n), rolling_min(&v, n));
            let (bx, bn) = (brute(&v, n, true), brute(&v, n, false));
            for i in 0..v.len() {
                assert!(
                    mx[i] == bx[i] || (mx[i].is_nan() && bx[i].is_nan()),
                    "max n={n} i={i}"
                );
                assert!(
                    mn[i] == bn[i] || (mn[i].is_nan() && bn[i].is_nan()),
                    "min n={n} i={i}"
                );
            }
        }
        assert!(rolling_max(&v, 0).iter().all(|x| x.is_nan()));
        assert_eq!(rolling_min(&[3.0, 1.0, 2.0], 2)[1..], [1.0, 1.0]);
    }
}
