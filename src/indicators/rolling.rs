//! Rolling maximum and minimum over a fixed window by van Herk and Gil-Werman's blocks: O(n)
//! whatever the window, three comparisons per value and no branch on the data. `Sliding` is the
//! streaming form (the volume profile's engine keeps its window's lowest low and highest high with
//! it); [`rolling_max`] and [`rolling_min`] write the whole series.

/// Highest value of the last `n` (`NaN` for the first `n − 1` positions and for `n = 0`). The input
/// must be free of `NaN`.
pub fn rolling_max(values: &[f64], n: usize) -> Vec<f64> {
    rolling::<true>(values, n)
}

/// Lowest value of the last `n` (`NaN` for the first `n − 1` positions and for `n = 0`). The input
/// must be free of `NaN`.
pub fn rolling_min(values: &[f64], n: usize) -> Vec<f64> {
    rolling::<false>(values, n)
}

fn rolling<const MAX: bool>(values: &[f64], n: usize) -> Vec<f64> {
    let mut out = vec![f64::NAN; values.len()];
    if n == 0 || values.len() < n {
        return out;
    }
    let mut window = Sliding::<MAX>::new(n);
    for (i, slot) in out.iter_mut().enumerate() {
        window.push(i, values);
        if i + 1 >= n {
            *slot = window.get();
        }
    }
    out
}

/// The lowest (`MAX = false`) or highest (`MAX = true`) of the last `window` values, streamed: the
/// values are cut into blocks of `window`, so a window is the end of the previous block (its suffix
/// extreme, computed once when the block closes) and the start of the current one (a running
/// extreme). Of equal values the newest is kept (as a monotonic queue keeps it, which this replaced:
/// the same bits, `-0.0` and `0.0` included). Measured: the volume profile's queues spent 10% of its
/// time popping, and its bench went 216 → 183 ms with this and one other change.
#[derive(Debug, Clone)]
pub(crate) struct Sliding<const MAX: bool> {
    window: usize,
    /// The newest value's position in its block (`0..window`).
    phase: usize,
    /// From each value of the previous block to its end, the extreme; slot `window` keeps the
    /// identity (`∓∞`) for a window that is exactly the current block.
    suffix: Vec<f64>,
    /// The extreme of the current block so far.
    prefix: f64,
}

impl<const MAX: bool> Sliding<MAX> {
    /// The extreme of nothing.
    const NONE: f64 = if MAX {
        f64::NEG_INFINITY
    } else {
        f64::INFINITY
    };

    /// A window of `window ≥ 1` values.
    pub(crate) fn new(window: usize) -> Sliding<MAX> {
        Sliding {
            window,
            phase: window - 1,
            suffix: vec![Self::NONE; window + 1],
            prefix: Self::NONE,
        }
    }

    /// The extreme of an older and a newer value, the newer on a tie.
    #[inline(always)]
    fn pick(older: f64, newer: f64) -> f64 {
        let older_wins = if MAX { older > newer } else { older < newer };
        if older_wins { older } else { newer }
    }

    /// Adds `values[i]` (called for `i = 0, 1, 2, …`).
    #[inline(always)]
    pub(crate) fn push(&mut self, i: usize, values: &[f64]) {
        self.phase += 1;
        if self.phase == self.window {
            self.phase = 0;
            if i >= self.window {
                let block = &values[i - self.window..i];
                let mut acc = Self::NONE;
                for (slot, &v) in self.suffix[..self.window].iter_mut().zip(block).rev() {
                    acc = Self::pick(v, acc);
                    *slot = acc;
                }
            }
            self.prefix = values[i];
        } else {
            self.prefix = Self::pick(self.prefix, values[i]);
        }
    }

    /// The extreme of the window ending at the newest value (once it holds `window` values): it
    /// starts `phase + 1` values into the previous block.
    #[inline(always)]
    pub(crate) fn get(&self) -> f64 {
        Self::pick(self.suffix[self.phase + 1], self.prefix)
    }
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
        // Of equal values the newest: 0.0 then -0.0 gives -0.0 while both are in the window.
        let zeros = rolling_max(&[0.0, -0.0, -1.0, -1.0], 2);
        assert_eq!(zeros[1].to_bits(), (-0.0f64).to_bits());
        assert_eq!(zeros[2].to_bits(), (-0.0f64).to_bits());
        assert_eq!(
            rolling_min(&[-0.0, 0.0, 1.0], 3)[2].to_bits(),
            0.0f64.to_bits()
        );
        assert_eq!(rolling_min(&[3.0, 1.0, 2.0], 2)[1..], [1.0, 1.0]);
    }
}
