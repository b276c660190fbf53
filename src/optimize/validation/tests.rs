//! Tests of the Sharpe-ratio statistics against hand-worked figures and the published DSR example.

use super::*;

fn assert_close(got: f64, want: f64, tol: f64, what: &str) {
    assert!(
        (got - want).abs() <= tol,
        "{what}: got {got}, want {want} ± {tol}"
    );
}

/// The hand-built series A = [−1, 0, 0, 1, 2, 4] %, worked out by hand:
/// - mean = 6/6 = 1 %; deviations d = [−2, −1, −1, 0, 1, 3] %;
/// - Σd² = 4+1+1+0+1+9 = 16, Σd³ = −8−1−1+0+1+27 = 18, Σd⁴ = 16+1+1+0+1+81 = 100 (in %ᵏ);
/// - sample variance = 16/5 = 3.2 (%²), std = √3.2 = 1.788854 %, SR = 1/√3.2 = √5/4 = 0.5590170;
/// - m2 = 16/6 = 8/3, m3 = 18/6 = 3, m4 = 100/6 = 50/3;
/// - γ3 = 3/(8/3)^1.5 = 9√6/32 = 0.6889190, γ4 = (50/3)/(64/9) = 450/192 = 2.34375.
const A: [f64; 6] = [-0.01, 0.0, 0.0, 0.01, 0.02, 0.04];
const SR_A: f64 = 0.559_016_994_374_947_4; // √5/4
/// 1 − γ3·SR + (γ4 − 1)/4·SR² = 1 − 9√30/128 + (1.34375/4)·(5/16) = 1 − 0.3851174 + 0.1049805.
const V_A: f64 = 0.719_863_045_504_18;

#[test]
fn moments_of_a_hand_built_series() {
    let m = Moments::of(&A).unwrap();
    assert_eq!(m.n, 6);
    assert_close(m.mean, 0.01, 1e-17, "mean");
    assert_close(m.std, 0.032f64.sqrt() / 10.0, 1e-16, "std"); // √3.2 % = √0.00032
    assert_close(m.sharpe, SR_A, 1e-14, "sharpe");
    assert_close(m.skew, 9.0 * 6f64.sqrt() / 32.0, 1e-13, "skew");
    assert_close(m.kurt, 2.34375, 1e-13, "raw kurtosis");
    assert_close(sharpe(&A), SR_A, 1e-14, "sharpe()");
}

#[test]
fn constant_or_short_series_have_no_sharpe() {
    assert!(sharpe(&[0.0; 10]).is_nan());
    // 0.001 summed ten times is not exactly 0.01, so the two-pass deviations are rounding noise,
    // not a variance: still a constant series.
    assert!(sharpe(&[0.001; 10]).is_nan());
    assert!(sharpe(&[0.01]).is_nan());
    assert!(sharpe(&[]).is_nan());
    assert!(sharpe(&[0.01, f64::NAN, 0.02]).is_nan());
    assert!(Moments::of(&[0.01, f64::INFINITY]).is_none());
}

/// PSR(0) of A with T = 6: z = SR·√5/√V = (5/4)/√0.7198630 = 1.25/0.8484474 = 1.4732793;
/// Φ(1.4732793) = 0.9296621 (mpmath's `ncdf`; a normal table interpolated between Φ(1.47) = 0.92922
/// and Φ(1.48) = 0.93056 gives 0.92966).
#[test]
fn psr_of_a_hand_built_series() {
    let m = Moments::of(&A).unwrap();
    assert_close(m.psr(0.0), 0.929_662_1, 1e-6, "PSR(0)");
    // Against its own Sharpe ratio the probability is exactly one half.
    assert_close(psr(SR_A, SR_A, 6.0, m.skew, m.kurt), 0.5, 1e-15, "PSR(SR)");
    // A zero-mean series: SR = 0, so PSR(0) = Φ(0) = 1/2 whatever its shape.
    let centred: Vec<f64> = A.iter().map(|x| x - 0.01).collect();
    assert_close(
        Moments::of(&centred).unwrap().psr(0.0),
        0.5,
        1e-12,
        "PSR of SR 0",
    );
    // Negative skew makes the same Sharpe ratio less convincing than positive skew.
    assert!(psr(0.1, 0.0, 250.0, -1.0, 5.0) < psr(0.1, 0.0, 250.0, 1.0, 5.0));
    assert!(psr(0.1, 0.0, 1.0, 0.0, 3.0).is_nan());
}

/// The numerical example of Bailey & López de Prado, "The deflated Sharpe ratio" (2014): N = 100
/// trials whose annualized Sharpe ratios vary with variance 0.5, T = 1250 daily returns, annualized
/// SR 2.5, skewness −3, raw kurtosis 10. Per period (250 days a year):
/// σ_SR = √(0.5/250) = 0.04472136, SR = 2.5/√250 = 0.1581139.
/// SR0 = 0.04472136 · (0.4227843·Φ⁻¹(0.99) + 0.5772157·Φ⁻¹(1 − 1/(100e)))
///     = 0.04472136 · (0.4227843·2.3263479 + 0.5772157·2.6802104) = 0.04472136 · 2.5306 = 0.113172.
/// V = 1 + 3·0.1581139 + (9/4)·0.025 = 1.5305916; z = (0.1581139 − 0.113172)·√1249/√1.5305916
///   = 0.0449419·35.341194/1.2371708 = 1.283816; DSR = Φ(1.283816) = 0.90040 (paper: 0.9004).
#[test]
fn dsr_known_answer_from_the_paper() {
    let sr0 = expected_max_sharpe(100, (0.5f64 / 250.0).sqrt());
    assert_close(sr0, 0.113_17, 5e-5, "SR0");
    let sr = 2.5 / 250f64.sqrt();
    let dsr = psr(sr, sr0, 1250.0, -3.0, 10.0);
    assert_close(dsr, 0.900_40, 5e-5, "DSR");
}

/// Candidates A, A − 1 % (centred, SR 0), −A (SR −√5/4) and a flat series (no Sharpe ratio, left
/// out): N = 3, σ_SR = √(((√5/4)² + 0 + (√5/4)²)/2) = √5/4 = 0.5590170, best = A (index 0).
/// SR0 = 0.5590170·(0.4227843·Φ⁻¹(2/3) + 0.5772157·Φ⁻¹(1 − 1/(3e)))
///     = 0.5590170·(0.4227843·0.4307273 + 0.5772157·1.1619569) = 0.5590170·0.8528 = 0.476732;
/// DSR = Φ((0.5590170 − 0.476732)·√5/0.8484474) = Φ(0.216860) = 0.585841.
/// MinTRL(95 %) = 1 + 0.7198630·(1.6448536/0.5590170)² = 1 + 0.7198630·8.657739 = 7.232386.
#[test]
fn dsr_of_a_hand_built_search() {
    let centred: Vec<f64> = A.iter().map(|x| x - 0.01).collect();
    let negated: Vec<f64> = A.iter().map(|x| -x).collect();
    let flat = vec![0.0; 6];
    let d = deflate(&[A.to_vec(), centred, negated, flat]).unwrap();
    assert_eq!((d.best, d.trials), (0, 3));
    assert_close(d.sharpe_std, SR_A, 1e-14, "σ_SR");
    assert_close(d.sr0, 0.476_732_2, 1e-6, "SR0");
    assert_close(d.psr, 0.929_662_1, 1e-6, "PSR(0)");
    assert_close(d.dsr, 0.585_841_3, 1e-6, "DSR");
    assert_close(d.min_trl.unwrap(), 7.232_386, 1e-5, "MinTRL");
}

/// MinTRL is where PSR crosses the confidence: PSR(0) at T = MinTRL is exactly 95 %.
#[test]
fn min_trl_is_where_psr_reaches_the_confidence() {
    let m = Moments::of(&A).unwrap();
    let t = m.min_trl(0.0, 0.95).unwrap();
    assert_close(
        1.0 + V_A * (1.644_853_626_951_472_7 / SR_A).powi(2),
        t,
        1e-12,
        "formula",
    );
    assert_close(
        psr(SR_A, 0.0, t, m.skew, m.kurt),
        0.95,
        1e-12,
        "PSR at MinTRL",
    );
    assert_eq!(min_trl(0.1, 0.1, 0.0, 3.0, 0.95), None);
    assert_eq!(min_trl(-0.1, 0.0, 0.0, 3.0, 0.95), None);
    assert_eq!(min_trl(f64::NAN, 0.0, 0.0, 3.0, 0.95), None);
}

#[test]
fn deflate_needs_two_defined_sharpe_ratios() {
    let one = deflate(&[A.to_vec()]).unwrap_err();
    assert_eq!(one.exit_code(), 2);
    assert!(one.to_string().contains("at least 2 candidates"), "{one}");
    assert!(deflate(&[A.to_vec(), vec![0.0; 6]]).is_err());
    assert!(deflate::<Vec<f64>>(&[]).is_err());
    // Ties go to the lowest index.
    let d = deflate(&[
        vec![0.0; 6],
        A.to_vec(),
        A.to_vec(),
        A.iter().map(|x| -x).collect(),
    ]);
    assert_eq!(d.unwrap().best, 1);
}

/// 100 → 110 (+10 %) → 99 (−10 %) → 0 (−100 %) → 0 (ruined: 0).
#[test]
fn simple_returns_of_an_equity_curve() {
    let r = simple_returns(&[100.0, 110.0, 99.0, 0.0, 0.0]);
    assert_eq!(r.len(), 4);
    assert!((r[0] - 0.1).abs() < 1e-15 && (r[1] + 0.1).abs() < 1e-15);
    assert_eq!((r[2], r[3]), (-1.0, 0.0));
    assert!(simple_returns(&[100.0]).is_empty());
}
