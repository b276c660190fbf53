//! CSCV tests: hand-worked splits, the sufficient-statistics identity, noise versus a planted edge,
//! and thread-count independence.

use rand::prelude::*;
use rand_distr::{Distribution, Normal};

use super::*;
use crate::optimize::validation::sharpe;

/// `candidates` columns of `periods` independent N(`mean`, 1 %) returns, from one seeded stream.
fn noise(candidates: usize, periods: usize, mean: f64, seed: u64) -> Vec<Vec<f64>> {
    let mut rng = StdRng::seed_from_u64(seed);
    let dist = Normal::new(mean, 0.01).unwrap();
    (0..candidates)
        .map(|_| (0..periods).map(|_| dist.sample(&mut rng)).collect())
        .collect()
}

#[test]
fn splits_are_enumerated_lexicographically() {
    // C(4, 2) = 6 choices, in the order {0,1} {0,2} {0,3} {1,2} {1,3} {2,3}.
    assert_eq!(
        in_sample_masks(4),
        [0b0011, 0b0101, 0b1001, 0b0110, 0b1010, 0b1100]
    );
    // C(16, 8) = 16!/(8!·8!) = 12,870; {0..7} first, then {0..6, 8}, and {8..15} last.
    let masks = in_sample_masks(16);
    assert_eq!(masks.len(), 12_870);
    assert_eq!(BlockLayout::new(1000, 16).unwrap().combinations(), 12_870);
    assert_eq!(
        (masks[0], masks[1], masks[12_869]),
        (0x00FF, 0x017F, 0xFF00)
    );
    assert!(masks.iter().all(|m| m.count_ones() == 8));
    assert!(masks.windows(2).all(|w| w[0] != w[1]));
    assert_eq!(in_sample_masks(2), [0b01, 0b10]);
}

#[test]
fn layout_drops_the_remainder_from_the_start() {
    // 1003 = 16·62 + 11: the first 11 periods go, then blocks 11..73, 73..135, …
    let l = BlockLayout::new(1003, 16).unwrap();
    assert_eq!((l.block_len, l.dropped), (62, 11));
    assert_eq!(l.block_range(0), 11..73);
    assert_eq!(l.block_range(15), 941..1003);
}

#[test]
fn bad_block_counts_are_usage_errors() {
    for (t, s, needle) in [
        (100, 7, "even number of blocks"),
        (100, 0, "even number of blocks"),
        (100, 1, "even number of blocks"),
        (10, 16, "needs at least 16 periods, got 10"),
        (1000, 22, "at most 20 blocks"),
    ] {
        let e = BlockLayout::new(t, s).unwrap_err();
        assert_eq!(e.exit_code(), 2, "{e}");
        assert!(e.to_string().contains(needle), "{e}");
    }
}

#[test]
fn fewer_than_two_candidates_is_a_usage_error() {
    let one = BlockStats::from_columns(&[vec![0.01, -0.01, 0.02, 0.0]], 2).unwrap_err();
    assert_eq!(one.to_string(), "PBO needs at least 2 candidates, got 1");
    let mut s = BlockStats::new(BlockLayout::new(4, 2).unwrap());
    s.push(&[0.01, -0.01, 0.02, 0.0]).unwrap();
    let e = pbo(&s).unwrap_err();
    assert_eq!(
        (e.exit_code(), e.to_string().as_str()),
        (2, "PBO needs at least 2 candidates, got 1")
    );
}

/// Two candidates, T = 4, S = 2 (blocks {0,1} and {2,3}):
/// - A = [1, 3 | −3, −1]: block 0 mean 2, std √2 → SR √2; block 1 → SR −√2.
/// - B = [0, 2 | 0, 2]: each block mean 1, std √2 → SR 1/√2.
///
/// Split 1 (IS = block 0): A wins in-sample (√2 > 1/√2); out of sample A = −√2 < B = 1/√2, so A
/// ranks 1 of 2: ω = 1/3, λ = ln(1/2). Split 2 (IS = block 1): B wins (1/√2 > −√2); out of sample
/// B = 1/√2 < A = √2: rank 1, λ = ln(1/2). PBO = 2/2 = 1. OOS loss in split 1 only: 1/2.
/// Degradation through (IS, OOS) = (√2, −√2) and (1/√2, 1/√2):
/// slope = (1/√2 + √2)/(1/√2 − √2) = (3/√2)/(−1/√2) = −3, intercept = 1/√2 + 3/√2 = 2√2.
#[test]
fn hand_worked_two_candidate_split() {
    let s = BlockStats::from_columns(&[[1.0, 3.0, -3.0, -1.0], [0.0, 2.0, 0.0, 2.0]], 2).unwrap();
    let r = pbo(&s).unwrap();
    let r2 = 2f64.sqrt();
    assert_eq!(r.combinations(), 2);
    let [s1, s2] = [r.splits[0], r.splits[1]];
    assert_eq!(
        (s1.in_sample, s1.best, s2.in_sample, s2.best),
        (0b01, 0, 0b10, 1)
    );
    assert!((s1.is_sharpe - r2).abs() < 1e-15 && (s1.oos_sharpe + r2).abs() < 1e-15);
    assert!((s2.is_sharpe - 1.0 / r2).abs() < 1e-15 && (s2.oos_sharpe - 1.0 / r2).abs() < 1e-15);
    for sp in [s1, s2] {
        assert_eq!(sp.oos_rank, 1.0);
        assert!((sp.logit - 0.5f64.ln()).abs() < 1e-15);
    }
    assert_eq!((r.pbo, r.prob_oos_loss), (1.0, 0.5));
    assert!((r.slope + 3.0).abs() < 1e-12, "slope {}", r.slope);
    assert!(
        (r.intercept - 2.0 * r2).abs() < 1e-12,
        "intercept {}",
        r.intercept
    );
}

/// Three identical candidates: every split's winner is candidate 0 (ties → lowest index), and out of
/// sample the three tie for ranks 1, 2, 3, so each gets their average 2: ω = 2/4, λ = 0 ≤ 0, PBO = 1.
#[test]
fn ties_take_the_lowest_index_and_the_average_rank() {
    let a = [0.01, 0.03, -0.01, 0.02, 0.0, 0.01];
    let s = BlockStats::from_columns(&[a, a, a], 2).unwrap();
    let r = pbo(&s).unwrap();
    for sp in &r.splits {
        assert_eq!((sp.best, sp.oos_rank, sp.logit), (0, 2.0, 0.0));
    }
    assert_eq!(r.pbo, 1.0);
}

/// A flat candidate (no Sharpe ratio, scored 0) against one that loses everywhere (each block
/// [−1, −3]: mean −2, std √2, SR −√2): the flat one wins in-sample every time and ranks 2 of 2 out of
/// sample (ω = 2/3, λ = ln 2 > 0): PBO = 0, no OOS loss, and no degradation line (every IS Sharpe is
/// 0, so the slope is undefined).
#[test]
fn an_undefined_sharpe_scores_zero() {
    let s = BlockStats::from_columns(&[[0.0; 4], [-1.0, -3.0, -1.0, -3.0]], 2).unwrap();
    let r = pbo(&s).unwrap();
    assert!(r.splits.iter().all(|sp| sp.best == 0 && sp.oos_rank == 2.0));
    assert_eq!((r.pbo, r.prob_oos_loss), (0.0, 0.0));
    assert!(r.slope.is_nan());
}

/// The Sharpe ratio of a union of blocks from (count, sum, sumsq) equals the Sharpe ratio of the
/// concatenated returns, computed directly in two passes.
#[test]
fn union_of_blocks_sharpe_equals_the_direct_sharpe() {
    let cols = noise(3, 1003, 0.002, 7);
    let stats = BlockStats::from_columns(&cols, 16).unwrap();
    let l = stats.layout();
    // Raw (unshifted) sums as another process would send them.
    let raw: Vec<[f64; 3]> = cols
        .iter()
        .flat_map(|c| {
            (0..16).map(move |b| {
                let x = &c[l.block_range(b)];
                [
                    x.len() as f64,
                    x.iter().sum(),
                    x.iter().map(|v| v * v).sum(),
                ]
            })
        })
        .collect();
    let from_raw = BlockStats::from_sums(l, &raw).unwrap();
    for mask in [0x00FF, 0xF0F0, 0x8001 | 0x0660 | 0x1008, 0xFFFF, 0x0001] {
        for (c, col) in cols.iter().enumerate() {
            let joined: Vec<f64> = (0..16)
                .filter(|b| mask >> b & 1 == 1)
                .flat_map(|b| col[l.block_range(b)].iter().copied())
                .collect();
            let want = sharpe(&joined);
            for got in [stats.union_sharpe(c, mask), from_raw.union_sharpe(c, mask)] {
                let rel = ((got - want) / want).abs();
                assert!(
                    rel < 1e-12,
                    "mask {mask:#x} candidate {c}: {got} vs {want} ({rel:e})"
                );
            }
        }
    }
}

#[test]
fn rows_columns_and_streaming_build_the_same_statistics() {
    let cols = noise(5, 203, 0.0, 3);
    let rows: Vec<Vec<f64>> = (0..203)
        .map(|t| cols.iter().map(|c| c[t]).collect())
        .collect();
    let by_cols = BlockStats::from_columns(&cols, 8).unwrap();
    assert_eq!(BlockStats::from_rows(&rows, 8).unwrap(), by_cols);
    let mut out_of_order = BlockStats::with_candidates(by_cols.layout(), 5);
    for c in [3, 0, 4, 1, 2] {
        out_of_order.set(c, &cols[c]).unwrap();
    }
    assert_eq!(out_of_order, by_cols);
}

#[test]
fn bad_returns_are_rejected_and_leave_the_statistics_unchanged() {
    let mut s = BlockStats::new(BlockLayout::new(4, 2).unwrap());
    s.push(&[0.01, 0.02, -0.01, 0.0]).unwrap();
    let before = s.clone();
    let short = s.push(&[0.01, 0.02]).unwrap_err();
    assert_eq!(short.to_string(), "candidate 1 has 2 returns, expected 4");
    let nan = s.push(&[0.01, f64::NAN, 0.0, 0.0]).unwrap_err();
    assert_eq!(
        nan.to_string(),
        "candidate 1, period 1: return NaN is not a finite number"
    );
    assert_eq!(s, before);
    let rows = BlockStats::from_rows(&[vec![0.0, 1.0], vec![0.5]], 2).unwrap_err();
    assert_eq!(rows.to_string(), "row 1 has 1 returns, the first row has 2");
    let mut gaps = BlockStats::with_candidates(BlockLayout::new(4, 2).unwrap(), 3);
    gaps.set(0, &[0.01, 0.02, -0.01, 0.0]).unwrap();
    gaps.set(2, &[0.01, 0.02, -0.01, 0.0]).unwrap();
    let e = pbo(&gaps).unwrap_err();
    assert!(
        e.to_string().starts_with("candidate 1 of 3 has no returns"),
        "{e}"
    );
    assert!(gaps.set(3, &[0.0; 4]).is_err());
}

/// 200 skill-less candidates: which one wins in-sample is luck, so its out-of-sample rank is uniform
/// and it lands in the bottom half about half the time.
#[test]
fn pbo_of_pure_noise_is_near_one_half() {
    let cols = noise(200, 1000, 0.0, 42);
    let r = pbo(&BlockStats::from_columns(&cols, 16).unwrap()).unwrap();
    assert_eq!((r.combinations(), r.candidates), (12_870, 200));
    assert_eq!((r.layout.block_len, r.layout.dropped), (62, 8));
    assert!((0.3..=0.7).contains(&r.pbo), "PBO of noise = {}", r.pbo);
}

/// The same noise plus one candidate with a per-period Sharpe ratio of 0.3 (mean 0.3 %, std 1 %).
/// Over 496 in-sample periods the best of 200 noise candidates reaches about √(2 ln 200)/√496 ≈ 0.15,
/// so the edge wins every split in-sample and ranks at the top out of sample: PBO ≈ 0.
#[test]
fn pbo_with_a_planted_edge_is_near_zero() {
    let mut cols = noise(200, 1000, 0.0, 42);
    cols[57] = noise(1, 1000, 0.003, 99).remove(0);
    let r = pbo(&BlockStats::from_columns(&cols, 16).unwrap()).unwrap();
    assert!(r.pbo < 0.05, "PBO with an edge = {}", r.pbo);
    assert!(r.splits.iter().filter(|s| s.best == 57).count() > 12_000);
    assert!(r.prob_oos_loss < 0.05, "P(OOS loss) = {}", r.prob_oos_loss);
}

#[test]
fn the_same_result_at_one_and_two_threads() {
    let stats = BlockStats::from_columns(&noise(60, 500, 0.0, 5), 12).unwrap();
    let run = |threads| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(|| pbo(&stats).unwrap())
    };
    let (one, two) = (run(1), run(2));
    assert_eq!(one, two);
    // Bit for bit, not just equal as floats.
    assert_eq!(one.slope.to_bits(), two.slope.to_bits());
    assert_eq!(one.intercept.to_bits(), two.intercept.to_bits());
}

/// The ranking key is SR·|SR| of the same sums (so it orders candidates exactly as the Sharpe ratio).
#[test]
fn ranking_key_is_the_signed_square_of_the_score() {
    let cols = noise(50, 203, 0.001, 11);
    let stats = BlockStats::from_columns(&cols, 8).unwrap();
    let totals = totals(&stats);
    for (c, row) in stats.sums.chunks_exact(24).enumerate() {
        for sums in [union(row, &[0, 3, 5, 6]), totals[c], union(row, &[2])] {
            let sr = score(stats.shift[c], sums);
            let key = score_key(stats.shift[c], sums);
            assert!(
                (key - sr * sr.abs()).abs() <= 1e-12 * key.abs(),
                "{key} vs {sr}"
            );
        }
    }
    assert_eq!(score_key(0.0, [6.0, 0.0, 0.0]), 0.0); // flat: scored 0
    assert_eq!(score_key(0.5, [1.0, 0.0, 0.0]), 0.0); // one return: scored 0
}

/// The memory promise of the module docs: 100,000 candidates × 700 periods in 16 blocks.
#[test]
fn a_hundred_thousand_candidates_fit_in_forty_megabytes() {
    let stats = BlockStats::with_candidates(BlockLayout::new(700, 16).unwrap(), 100_000);
    // 100,000 × (16 × 3 × 8 + 8 + 1) = 39,300,000 bytes.
    assert_eq!(stats.heap_bytes(), 39_300_000);
}

/// Sums computed apart and gathered (as the optimizer does, one candidate per evaluator thread, then
/// reordered) are the statistics `set` stores, bit for bit; bad returns are refused.
#[test]
fn candidate_sums_gathered_equal_set() {
    let cols = noise(5, 101, 0.01, 3);
    let layout = BlockLayout::new(101, 4).unwrap();
    let mut set = BlockStats::with_candidates(layout, 5);
    // Given in reverse order to `set`, in order to `from_candidates`.
    for c in (0..5).rev() {
        set.set(c, &cols[c]).unwrap();
    }
    let apart = cols.iter().map(|c| layout.candidate_sums(c).unwrap());
    let gathered = BlockStats::from_candidates(layout, apart);
    assert_eq!(gathered, set);
    assert_eq!(pbo(&gathered).unwrap(), pbo(&set).unwrap());
    let e = layout.candidate_sums(&cols[0][..100]).unwrap_err();
    assert_eq!(e.to_string(), "100 returns, expected 101");
    let mut bad = cols[0].clone();
    bad[7] = f64::NAN;
    let e = layout.candidate_sums(&bad).unwrap_err();
    assert_eq!(e.to_string(), "period 7: return NaN is not a finite number");
}
