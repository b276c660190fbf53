//! Statistics that say whether the best result of a search is skill or luck: the probabilistic and
//! deflated Sharpe ratios, the minimum track record length, and the probability of backtest overfitting.
//!
//! Everything here works on **per-period returns** (one number per bar or per day, e.g. `0.004` for
//! +0.4 %), as plain slices; nothing reads files or prints.
//!
//! # The numbers
//!
//! **Sharpe ratio (SR), per period.** The mean return divided by the standard deviation of the returns,
//! both over the same periods, with the *sample* standard deviation (divide by T − 1):
//! `SR = mean / std`. It is **not annualized** here: multiply by √(periods per year) for the usual
//! figure (√252 for daily bars), and never feed an annualized Sharpe to the formulas below — they
//! would overstate the evidence by that same factor. Undefined (NaN) with fewer than two returns or a
//! constant series (a variance at or below 1e-12 of the mean square: the series is constant up to
//! rounding and |SR| would exceed 10⁶).
//!
//! **Skewness γ3 and kurtosis γ4.** Population moments of the returns: with `mₖ = (1/T)·Σ(x − mean)ᵏ`,
//! `γ3 = m3 / m2^1.5` and `γ4 = m4 / m2²`. γ4 is the **raw** kurtosis, 3 for a normal distribution.
//! Pitfall: many libraries (pandas, scipy's default) report *excess* kurtosis γ4 − 3; feeding that
//! into the formulas below understates fat tails by 3·SR²/4 in the variance term and makes the
//! results look better than they are.
//!
//! **Probabilistic Sharpe ratio, PSR(SR\*).** The probability that the true Sharpe ratio exceeds a
//! benchmark SR\*, given the observed SR over T returns and their shape (Bailey & López de Prado,
//! "The Sharpe ratio efficient frontier", 2012):
//! `PSR(SR*) = Φ( (SR − SR*)·√(T − 1) / √(1 − γ3·SR + (γ4 − 1)/4·SR²) )`.
//! Negative skew and fat tails (large γ4) widen the denominator: the same SR is less convincing.
//! PSR(0) is the probability that the strategy makes money at all. Pitfalls: it assumes the returns
//! are independent (autocorrelated returns overstate it), and T is the number of returns, not of
//! trades.
//!
//! **Deflated Sharpe ratio, DSR.** A search that tries N candidates finds a positive best SR even when
//! none has any edge. DSR is the PSR of the best candidate against the Sharpe ratio the best of N
//! skill-less candidates is expected to reach (Bailey & López de Prado, "The deflated Sharpe ratio",
//! 2014): `DSR = PSR(SR0)` with
//! `SR0 = σ_SR · ((1 − γ)·Φ⁻¹(1 − 1/N) + γ·Φ⁻¹(1 − 1/(N·e)))`, where γ = 0.5772156649… (Euler–Mascheroni),
//! N = the number of candidates with a defined Sharpe ratio, and σ_SR = the sample standard deviation
//! (ddof = 1) of their per-period Sharpe ratios. DSR above 0.95 says the best is unlikely to be a
//! fluke of the search. Pitfalls: N must count *every* candidate tried (also the ones discarded by
//! hand, in earlier searches); highly correlated candidates make N overstate the independent trials
//! (DSR errs on the strict side); σ_SR must come from per-period Sharpe ratios like SR.
//!
//! **Minimum track record length, MinTRL.** How many returns, with the observed SR, skewness and
//! kurtosis, it takes for PSR(SR\*) to reach a confidence p (95 % here, against SR\* = 0):
//! `MinTRL = 1 + (1 − γ3·SR + (γ4 − 1)/4·SR²) · (Φ⁻¹(p) / (SR − SR*))²`, in periods. None when
//! SR ≤ SR\* (no track record is long enough). If MinTRL exceeds T, the record is too short to tell.
//!
//! **Probability of backtest overfitting, PBO** (Bailey, Borwein, López de Prado & Zhu, "The probability
//! of backtest overfitting", 2017), by combinatorially symmetric cross-validation (CSCV): cut the T
//! periods into S equal contiguous blocks; for each of the C(S, S/2) ways to call half of the blocks
//! "in-sample", pick the candidate with the best in-sample Sharpe ratio and see where its Sharpe ratio
//! on the other half ranks among all N candidates. PBO is the share of splits where the in-sample
//! winner lands in the bottom half out of sample: near 0 the selection carries over, near 0.5 it is a
//! coin toss (the search found noise), above 0.5 the search picks what will do badly. See [`cscv`]
//! for the precise rule and the side numbers (degradation slope, probability of an out-of-sample
//! loss). Pitfalls: the N candidates must be the whole search, not its top; S trades the number of
//! splits against the length of each block (16 is the usual choice).
//!
//! The normal distribution functions Φ and Φ⁻¹ are in [`normal`] (Cody's and Wichura's algorithms,
//! about 1e-16 relative).

pub mod cscv;
pub mod normal;

pub use cscv::{BlockLayout, BlockStats, CandidateSums, DEFAULT_BLOCKS, Pbo, Split, pbo};
pub use normal::{norm_cdf, norm_inv};

use crate::error::{Error, Result};

/// The Euler–Mascheroni constant γ.
pub const EULER_GAMMA: f64 = 0.577_215_664_901_532_9;

/// The confidence the minimum track record length is computed for.
pub const MIN_TRL_CONFIDENCE: f64 = 0.95;

/// A variance at or below this share of the mean square means a constant series (see the module docs).
pub(crate) const CONSTANT_VARIANCE: f64 = 1e-12;

/// The per-period Sharpe ratio from a mean, a sample variance and the mean of the squared returns; NaN
/// when the variance is at rounding level (the series is constant).
pub(crate) fn sharpe_from(mean: f64, sample_var: f64, mean_square: f64) -> f64 {
    if sample_var > CONSTANT_VARIANCE * mean_square {
        mean / sample_var.sqrt()
    } else {
        f64::NAN
    }
}

/// The moments of a return series that the Sharpe-ratio statistics need.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Moments {
    /// The number of returns T.
    pub n: usize,
    /// The mean return.
    pub mean: f64,
    /// The sample standard deviation (divide by T − 1).
    pub std: f64,
    /// The per-period Sharpe ratio `mean / std`; NaN for a constant series.
    pub sharpe: f64,
    /// Skewness γ3 = m3 / m2^1.5 (population moments); NaN for a constant series.
    pub skew: f64,
    /// Raw kurtosis γ4 = m4 / m2² (population moments; 3 for a normal distribution, not 0).
    pub kurt: f64,
}

impl Moments {
    /// The moments of `returns`, in two passes (mean first, then the centred powers). None with fewer
    /// than two returns or a non-finite one.
    pub fn of(returns: &[f64]) -> Option<Moments> {
        let n = returns.len();
        if n < 2 || returns.iter().any(|x| !x.is_finite()) {
            return None;
        }
        let t = n as f64;
        let mean = returns.iter().sum::<f64>() / t;
        let (mut s2, mut s3, mut s4) = (0.0, 0.0, 0.0);
        for &x in returns {
            let d = x - mean;
            let d2 = d * d;
            s2 += d2;
            s3 += d2 * d;
            s4 += d2 * d2;
        }
        let (m2, m3, m4) = (s2 / t, s3 / t, s4 / t);
        let sharpe = sharpe_from(mean, s2 / (t - 1.0), m2 + mean * mean);
        let (skew, kurt) = if sharpe.is_nan() {
            (f64::NAN, f64::NAN)
        } else {
            (m3 / m2.powf(1.5), m4 / (m2 * m2))
        };
        Some(Moments {
            n,
            mean,
            std: (s2 / (t - 1.0)).sqrt(),
            sharpe,
            skew,
            kurt,
        })
    }

    /// PSR(`sr_star`) of these returns: [`psr`] with their Sharpe ratio, T, skewness and kurtosis.
    pub fn psr(&self, sr_star: f64) -> f64 {
        psr(self.sharpe, sr_star, self.n as f64, self.skew, self.kurt)
    }

    /// The minimum track record length of these returns against `sr_star` at confidence `prob`.
    pub fn min_trl(&self, sr_star: f64, prob: f64) -> Option<f64> {
        min_trl(self.sharpe, sr_star, self.skew, self.kurt, prob)
    }
}

/// The per-period Sharpe ratio of `returns` (sample standard deviation); NaN with fewer than two
/// returns, a non-finite return or a constant series.
pub fn sharpe(returns: &[f64]) -> f64 {
    Moments::of(returns).map_or(f64::NAN, |m| m.sharpe)
}

/// Per-period simple returns of an equity curve: `equity[t] / equity[t − 1] − 1`, one fewer than the
/// equity values. After a ruin (equity 0 or below) the returns are 0: nothing is left to gain or lose.
pub fn simple_returns(equity: &[f64]) -> Vec<f64> {
    equity
        .windows(2)
        .map(|w| if w[0] > 0.0 { w[1] / w[0] - 1.0 } else { 0.0 })
        .collect()
}

/// `1 − γ3·SR + (γ4 − 1)/4·SR²`: the variance of the Sharpe-ratio estimate, times T − 1.
fn sharpe_variance_factor(sr: f64, skew: f64, kurt: f64) -> f64 {
    1.0 - skew * sr + (kurt - 1.0) / 4.0 * sr * sr
}

/// The probabilistic Sharpe ratio PSR(`sr_star`) = Φ((SR − SR\*)·√(T − 1) / √(1 − γ3·SR + (γ4 − 1)/4·SR²)).
/// `sr` and `sr_star` are per-period, `t` is the number of returns (a float so that a fractional
/// MinTRL can be checked), `kurt` is the raw kurtosis. NaN when T < 2, an input is NaN, or the
/// variance factor is not positive (impossible for real moments, which satisfy γ4 ≥ 1 + γ3²).
pub fn psr(sr: f64, sr_star: f64, t: f64, skew: f64, kurt: f64) -> f64 {
    let v = sharpe_variance_factor(sr, skew, kurt);
    if !(t >= 2.0 && v > 0.0) {
        return f64::NAN;
    }
    normal::norm_cdf((sr - sr_star) * (t - 1.0).sqrt() / v.sqrt())
}

/// SR0: the per-period Sharpe ratio the best of `trials` skill-less candidates is expected to reach
/// when their Sharpe ratios spread with standard deviation `sharpe_std`:
/// `σ_SR · ((1 − γ)·Φ⁻¹(1 − 1/N) + γ·Φ⁻¹(1 − 1/(N·e)))`. NaN for fewer than two trials.
pub fn expected_max_sharpe(trials: usize, sharpe_std: f64) -> f64 {
    if trials < 2 {
        return f64::NAN;
    }
    let n = trials as f64;
    let a = normal::norm_inv(1.0 - 1.0 / n);
    let b = normal::norm_inv(1.0 - 1.0 / (n * std::f64::consts::E));
    sharpe_std * ((1.0 - EULER_GAMMA) * a + EULER_GAMMA * b)
}

/// The minimum track record length: the smallest T (fractional, in periods) with PSR(`sr_star`) ≥
/// `prob`, i.e. `1 + (1 − γ3·SR + (γ4 − 1)/4·SR²)·(Φ⁻¹(prob)/(SR − SR*))²`. None when SR ≤ SR\* (no
/// length is enough) or an input is NaN.
pub fn min_trl(sr: f64, sr_star: f64, skew: f64, kurt: f64, prob: f64) -> Option<f64> {
    let v = sharpe_variance_factor(sr, skew, kurt);
    // `!(a > b)` rather than `a <= b`: NaN inputs give None too.
    if !(sr > sr_star && v > 0.0) {
        return None;
    }
    let z = normal::norm_inv(prob) / (sr - sr_star);
    Some(1.0 + v * z * z)
}

/// The deflated Sharpe ratio of the best candidate of a search, with what it was computed from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Deflated {
    /// The index of the best candidate (highest per-period Sharpe; ties go to the lowest index).
    pub best: usize,
    /// The moments of the best candidate's returns (its `sharpe` is the SR deflated here).
    pub moments: Moments,
    /// N: the number of candidates with a defined Sharpe ratio.
    pub trials: usize,
    /// σ_SR: the sample standard deviation of those candidates' per-period Sharpe ratios.
    pub sharpe_std: f64,
    /// SR0: the best Sharpe ratio expected from N skill-less candidates ([`expected_max_sharpe`]).
    pub sr0: f64,
    /// PSR(0) of the best: the probability that its true Sharpe ratio is positive, ignoring the search.
    pub psr: f64,
    /// DSR = PSR(SR0) of the best: the same probability, accounting for the N trials.
    pub dsr: f64,
    /// The minimum track record length of the best against SR\* = 0 at 95 % (None when SR ≤ 0).
    pub min_trl: Option<f64>,
}

/// The deflated Sharpe ratio of the best of `candidates` (each one candidate's per-period returns).
/// Candidates without a defined Sharpe ratio (constant, too short, non-finite returns) are left out of
/// N and σ_SR. Usage error when fewer than two candidates have one.
pub fn deflate<R: AsRef<[f64]>>(candidates: &[R]) -> Result<Deflated> {
    let sharpes: Vec<f64> = candidates.iter().map(|r| sharpe(r.as_ref())).collect();
    let best = best_index(&sharpes).ok_or_else(|| too_few_trials(0))?;
    let moments = Moments::of(candidates[best].as_ref()).ok_or_else(|| too_few_trials(0))?;
    deflate_best(best, moments, &sharpes)
}

/// The deflated Sharpe ratio of candidate `best` with returns `moments`, among trials whose per-period
/// Sharpe ratios are `trial_sharpes` (the best's included; NaN entries are not counted). For callers
/// that keep every candidate's Sharpe ratio but only the best's returns. Usage error when fewer than
/// two Sharpe ratios are finite.
pub fn deflate_best(best: usize, moments: Moments, trial_sharpes: &[f64]) -> Result<Deflated> {
    let finite: Vec<f64> = trial_sharpes
        .iter()
        .copied()
        .filter(|s| s.is_finite())
        .collect();
    if finite.len() < 2 {
        return Err(too_few_trials(finite.len()));
    }
    let sharpe_std = sample_std(&finite);
    let sr0 = expected_max_sharpe(finite.len(), sharpe_std);
    Ok(Deflated {
        best,
        moments,
        trials: finite.len(),
        sharpe_std,
        sr0,
        psr: moments.psr(0.0),
        dsr: moments.psr(sr0),
        min_trl: moments.min_trl(0.0, MIN_TRL_CONFIDENCE),
    })
}

fn too_few_trials(n: usize) -> Error {
    Error::usage(format!(
        "the deflated Sharpe ratio needs at least 2 candidates with a defined Sharpe ratio, got {n}"
    ))
}

/// The index of the largest finite value; ties go to the lowest index. None when none is finite.
fn best_index(values: &[f64]) -> Option<usize> {
    let mut best: Option<usize> = None;
    for (i, &v) in values.iter().enumerate() {
        if v.is_finite() && best.is_none_or(|b| v > values[b]) {
            best = Some(i);
        }
    }
    best
}

/// The sample standard deviation (ddof = 1) of at least two values.
fn sample_std(values: &[f64]) -> f64 {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let ss: f64 = values.iter().map(|v| (v - mean) * (v - mean)).sum();
    (ss / (n - 1.0)).sqrt()
}

#[cfg(test)]
mod tests;
