//! The fill arithmetic as small pure functions: the spread-adjusted entry price, commissions, unit
//! sizing, closing a position into a [`Trade`], and the bar-exit rule for stops and targets. The bar
//! loop and the paper broker both call these, so a paper fill and a backtest fill of the same order on
//! the same bar are the same numbers.
//!
//! Arithmetic follows backtesting.py 0.6.6 operation by operation (see `docs/reference-semantics.md`),
//! so results match it bit for bit; do not "simplify" an expression here without the parity tests.

use super::config::{Sizing, StopPolicy};
use crate::trade::{ExitReason, Side, Trade};

/// The reference's default relative order size, `1 − ε`: "all available cash".
pub const SIZE_ALL: f64 = 1.0 - f64::EPSILON;

/// Python's float floor division `a // b` (CPython `float_floor_div`): `fmod`, subtract, divide, then
/// snap to the nearest integer. Not the same as `(a / b).floor()` or `div_euclid` in the last bit.
///
/// For `a ≥ 0`, `b > 0` and a quotient below 2⁴⁹ (every sizing call), Python's result is the floor of
/// the exact quotient `a / b` (the fmod is exact and the snap removes the rounding of the rest). The
/// rounded quotient `q = fl(a / b)` is within half an ulp of it, so when `q` lies at least an ulp above
/// `floor(q)` (`q − floor(q) ≥ q·2⁻⁵¹`), `floor(q)` is that floor: no `fmod` needed (it costs ~25 ns, a
/// tenth of an optimizer candidate's time on 1,000,000 bars). Near-integer quotients take the exact way.
pub fn py_floordiv(a: f64, b: f64) -> f64 {
    if a >= 0.0 && b > 0.0 {
        let q = a / b;
        let f = q.floor();
        if q < (1u64 << 49) as f64 && q - f >= q * (2.0 * f64::EPSILON) {
            return f;
        }
    }
    py_floordiv_exact(a, b)
}

/// CPython's `float_floor_div`, operation by operation.
fn py_floordiv_exact(a: f64, b: f64) -> f64 {
    let mut m = a % b; // C fmod
    let mut div = (a - m) / b;
    if m != 0.0 {
        if (b < 0.0) != (m < 0.0) {
            m += b;
            div -= 1.0;
        }
    } else {
        m = 0.0f64.copysign(b);
    }
    let _ = m;
    if div != 0.0 {
        let mut floordiv = div.floor();
        if div - floordiv > 0.5 {
            floordiv += 1.0;
        }
        floordiv
    } else {
        0.0f64.copysign(a / b)
    }
}

/// The entry price after the spread: `price·(1 ± spread)`, worse in the trade's direction. Exits are
/// at the raw price.
#[inline]
pub fn entry_price(price: f64, spread: f64, side: Side) -> f64 {
    price * (1.0 + spread.copysign(side.sign()))
}

/// Commission on `units` (absolute) traded at `price`: `units·price·rate`.
#[inline]
pub fn commission(units: f64, price: f64, rate: f64) -> f64 {
    units * price * rate
}

/// The reference's `adjusted_price + commission(size, price) / |size|` for an order of relative or
/// absolute size `size`.
#[inline]
pub fn price_plus_commission(adj: f64, price: f64, size: f64, rate: f64) -> f64 {
    adj + (size * price * rate) / size
}

/// Whole units of a relative order of `fraction` of `available` cash (the reference formula).
#[inline]
pub fn relative_units(available: f64, adj: f64, price: f64, fraction: f64, rate: f64) -> f64 {
    let apc = price_plus_commission(adj, price, fraction, rate);
    let units = py_floordiv(available * 1.0 * fraction, apc);
    // `int(...)`: truncate toward zero.
    units.trunc()
}

/// How many units (absolute) an entry at `price` (spread-adjusted `adj`) buys under `sizing` with
/// `available` cash, or `None` when the order must be cancelled (no stop for risk sizing, no cash for
/// one unit, or more than the cash covers).
#[inline]
pub fn size_units(
    sizing: Sizing,
    available: f64,
    adj: f64,
    price: f64,
    stop: Option<f64>,
    rate: f64,
) -> Option<f64> {
    let (units, apc) = match sizing {
        Sizing::All => (
            relative_units(available, adj, price, SIZE_ALL, rate),
            price_plus_commission(adj, price, SIZE_ALL, rate),
        ),
        Sizing::PctEquity(p) => {
            let f = (p / 100.0).min(SIZE_ALL);
            (
                relative_units(available, adj, price, f, rate),
                price_plus_commission(adj, price, f, rate),
            )
        }
        Sizing::Fraction => {
            let apc = adj + price * rate;
            (available * SIZE_ALL / apc, apc)
        }
        Sizing::Units(u) => (u, price_plus_commission(adj, price, u, rate)),
        Sizing::RiskPct(p) => {
            let stop = stop?;
            let per_unit = (adj - stop).abs();
            let max_units = relative_units(available, adj, price, SIZE_ALL, rate);
            let units = if per_unit > 0.0 {
                (available * (p / 100.0) / per_unit).floor().min(max_units)
            } else {
                0.0
            };
            (units, price_plus_commission(adj, price, SIZE_ALL, rate))
        }
    };
    if !(units > 0.0 && units.is_finite()) || units * apc > available {
        return None;
    }
    Some(units)
}

/// An open position as the matcher sees it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Position {
    /// Signed units: positive long, negative short.
    pub units: f64,
    /// Entry price after spread.
    pub entry: f64,
    /// Bar index of the entry fill.
    pub entry_bar: usize,
    /// Protective stop price.
    pub stop: Option<f64>,
    /// Profit target price.
    pub target: Option<f64>,
}

/// Closes `p` at `price` on `bar`: the trade record and the cash it returns (gross P&L minus the exit
/// commission; the entry commission was paid at entry).
#[inline]
pub fn close_position(
    p: &Position,
    price: f64,
    bar: usize,
    reason: ExitReason,
    ambiguous: bool,
    rate: f64,
) -> (Trade, f64) {
    let abs_units = p.units.abs();
    let gross = p.units * (price - p.entry);
    let exit_commission = commission(abs_units, price, rate);
    let entry_commission = commission(abs_units, p.entry, rate);
    let total = exit_commission + entry_commission;
    let sign = if p.units > 0.0 { 1.0 } else { -1.0 };
    let trade = Trade {
        size: p.units,
        entry_bar: p.entry_bar,
        exit_bar: bar,
        entry_price: p.entry,
        exit_price: price,
        stop: p.stop,
        target: p.target,
        pnl: gross - total,
        commission: total,
        return_frac: sign * (price / p.entry - 1.0) - total / (abs_units * p.entry),
        exit_reason: reason,
        ambiguous,
    };
    (trade, gross - exit_commission)
}

/// Where and why a bar closes a position through its stop or target.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BarExit {
    /// The fill price: the level, or the open when the bar opened beyond it.
    pub price: f64,
    /// [`ExitReason::Stop`] or [`ExitReason::Target`].
    pub reason: ExitReason,
    /// The stop policies disagree on this bar: it reached both levels (an open beyond a level counts as
    /// reaching it) and did not open beyond the stop.
    pub ambiguous: bool,
}

/// The bar-exit rule: does a bar `(open, high, low)` close a position of sign `long` with these levels?
///
/// A level is reached when the open is beyond it or the bar's range touches it (`low ≤ stop` for a long;
/// comparisons are inclusive, as the reference's). A stop exit fills at the stop, or at the open when the
/// bar opened beyond it; a target exit likewise. An open beyond the stop exits there under every policy.
/// Otherwise, when both levels are reached, `policy` decides and the bar is ambiguous:
/// - [`StopPolicy::Pessimistic`]: an open beyond the target exits at the open as a target (the open came
///   first); else the stop.
/// - [`StopPolicy::Optimistic`]: the target (at the open when the bar opened beyond it).
/// - [`StopPolicy::Reference`]: the stop, as backtesting.py 0.6.6 (its stop orders are processed first),
///   vectorbt and freqtrade do — also when the bar opened beyond the target.
#[inline]
pub fn bar_exit(
    long: bool,
    stop: Option<f64>,
    target: Option<f64>,
    (open, high, low): (f64, f64, f64),
    policy: StopPolicy,
) -> Option<BarExit> {
    let beyond = |level: f64, below: bool| if below { open <= level } else { open >= level };
    let touched = |level: f64, below: bool| if below { low <= level } else { high >= level };
    // A long's stop is below (reached downwards), its target above; a short's the other way round.
    let stop_beyond = stop.is_some_and(|s| beyond(s, long));
    let target_beyond = target.is_some_and(|t| beyond(t, !long));
    let stop_exit = stop
        .filter(|&s| stop_beyond || touched(s, long))
        .map(|s| if stop_beyond { open } else { s });
    let target_exit = target
        .filter(|&t| target_beyond || touched(t, !long))
        .map(|t| if target_beyond { open } else { t });
    let ambiguous = stop_exit.is_some() && target_exit.is_some() && !stop_beyond;
    let stop_first = match policy {
        _ if stop_beyond => true,
        StopPolicy::Pessimistic => !target_beyond,
        StopPolicy::Optimistic => false,
        StopPolicy::Reference => true,
    };
    let (first, second) = if stop_first {
        (
            stop_exit.map(|p| (p, ExitReason::Stop)),
            target_exit.map(|p| (p, ExitReason::Target)),
        )
    } else {
        (
            target_exit.map(|p| (p, ExitReason::Target)),
            stop_exit.map(|p| (p, ExitReason::Stop)),
        )
    };
    first.or(second).map(|(price, reason)| BarExit {
        price,
        reason,
        ambiguous,
    })
}

/// Whether an entry's levels are sound, checked as the reference's `new_order` does when the order is
/// placed: against the deciding `price` adjusted for the spread in the entry's direction (`adj`), a long
/// needs `stop < adj < target` and a short `target < adj < stop`, strictly. A level that is not a finite
/// number above 0 is refused too (the reference reads a stop of 0 as "no stop" and refuses a negative
/// one). An entry that fails is cancelled by the engine and counted with the unsizable ones.
#[inline]
pub fn bracket_ok(
    side: crate::trade::Side,
    price: f64,
    spread: f64,
    stop: Option<f64>,
    target: Option<f64>,
) -> bool {
    let adj = entry_price(price, spread, side);
    let s = side.sign();
    let level_ok = |v: f64| v.is_finite() && v > 0.0;
    stop.is_none_or(|st| level_ok(st) && s * (adj - st) > 0.0)
        && target.is_none_or(|t| level_ok(t) && s * (t - adj) > 0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn py_floordiv_matches_python() {
        // Values checked by hand against Python semantics.
        assert_eq!(py_floordiv(7.0, 2.0), 3.0);
        assert_eq!(py_floordiv(-7.0, 2.0), -4.0);
        assert_eq!(py_floordiv(6.0, 3.0), 2.0);
        assert_eq!(py_floordiv(0.0, 3.0), 0.0);
        // 1 // 0.1 is 9.0 in Python (0.1 is slightly above 1/10), while 1 / 0.1 rounds to 10.0.
        assert_eq!(py_floordiv(1.0, 0.1), 9.0);
        assert_eq!(1.0f64 / 0.1, 10.0);
    }

    #[test]
    fn the_fast_floor_division_equals_cpythons_steps() {
        // Random operands of every magnitude sizing meets, and quotients at, just below and just
        // above whole numbers (where `(a / b).floor()` alone goes wrong).
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 11) as f64 / (1u64 << 53) as f64
        };
        let mut near = 0;
        for _ in 0..200_000 {
            let b = 10f64.powf(next() * 8.0 - 3.0) * (1.0 + next());
            let k = (10f64.powf(next() * 9.0)).floor();
            let a = match (next() * 4.0) as u32 {
                0 => k * b,
                1 => (k * b).next_down(),
                2 => (k * b).next_up(),
                _ => 10f64.powf(next() * 12.0 - 2.0),
            };
            let (fast, exact) = (py_floordiv(a, b), py_floordiv_exact(a, b));
            assert_eq!(fast.to_bits(), exact.to_bits(), "{a} // {b}");
            near += usize::from((a / b).floor() != exact);
        }
        // The near-integer cases were really exercised: plain floor differs from Python there.
        assert!(near > 1000, "{near}");
        assert_eq!(py_floordiv(0.0, 3.0).to_bits(), 0.0f64.to_bits());
        assert_eq!(py_floordiv(-7.0, 2.0), -4.0);
    }

    #[test]
    fn bar_exit_rules() {
        let bar = |o, h, l| (o, h, l);
        let p = StopPolicy::Pessimistic;
        // Long, stop 95, target 110: a bar 100/111/94 reaches both → the stop, ambiguous.
        let e = bar_exit(true, Some(95.0), Some(110.0), bar(100.0, 111.0, 94.0), p).unwrap();
        assert_eq!(
            (e.price, e.reason, e.ambiguous),
            (95.0, ExitReason::Stop, true)
        );
        let o = StopPolicy::Optimistic;
        let e = bar_exit(true, Some(95.0), Some(110.0), bar(100.0, 111.0, 94.0), o).unwrap();
        assert_eq!((e.price, e.reason), (110.0, ExitReason::Target));
        // A gap down through the stop fills at the open.
        let e = bar_exit(true, Some(95.0), None, bar(90.0, 92.0, 89.0), p).unwrap();
        assert_eq!(
            (e.price, e.reason, e.ambiguous),
            (90.0, ExitReason::Stop, false)
        );
        // Short: stop above, target below.
        let e = bar_exit(false, Some(105.0), Some(90.0), bar(100.0, 101.0, 89.0), p).unwrap();
        assert_eq!((e.price, e.reason), (90.0, ExitReason::Target));
        assert_eq!(
            bar_exit(true, Some(95.0), Some(110.0), bar(100.0, 105.0, 96.0), p),
            None
        );
    }

    #[test]
    fn an_open_beyond_the_target_then_the_stop_splits_the_policies() {
        // The minimal case: long, stop 98, target 102; the bar opens at 103 (beyond the target)
        // and its low 97 reaches the stop. The open comes first in time, so pessimistic and optimistic
        // exit there as a target; the reference checks its stop order first and exits at 98.
        let bar = (103.0, 104.0, 97.0);
        let run = |p| bar_exit(true, Some(98.0), Some(102.0), bar, p).unwrap();
        let e = run(StopPolicy::Pessimistic);
        assert_eq!(
            (e.price, e.reason, e.ambiguous),
            (103.0, ExitReason::Target, true)
        );
        let e = run(StopPolicy::Optimistic);
        assert_eq!(
            (e.price, e.reason, e.ambiguous),
            (103.0, ExitReason::Target, true)
        );
        let e = run(StopPolicy::Reference);
        assert_eq!(
            (e.price, e.reason, e.ambiguous),
            (98.0, ExitReason::Stop, true)
        );
        // The mirror image for a short: stop 102, target 98, open 97 (beyond the target), high 103.
        let e = bar_exit(
            false,
            Some(102.0),
            Some(98.0),
            (97.0, 103.0, 96.0),
            StopPolicy::Reference,
        );
        assert_eq!(
            e.map(|e| (e.price, e.reason)),
            Some((102.0, ExitReason::Stop))
        );
        let e = bar_exit(
            false,
            Some(102.0),
            Some(98.0),
            (97.0, 103.0, 96.0),
            StopPolicy::Pessimistic,
        );
        assert_eq!(
            e.map(|e| (e.price, e.reason)),
            Some((97.0, ExitReason::Target))
        );
    }

    #[test]
    fn every_policy_agrees_where_the_bar_is_not_ambiguous() {
        let all = [
            StopPolicy::Pessimistic,
            StopPolicy::Optimistic,
            StopPolicy::Reference,
        ];
        // (bar, expected exit): long, stop 95, target 110.
        let cases = [
            // A gap through the stop fills at the open, even though the high then reaches the target.
            ((90.0, 111.0, 89.0), Some((90.0, ExitReason::Stop))),
            // A gap beyond the target that never comes back to the stop fills at the open.
            ((112.0, 113.0, 100.0), Some((112.0, ExitReason::Target))),
            // A touch counts: low exactly at the stop, high exactly at the target (one at a time).
            ((100.0, 105.0, 95.0), Some((95.0, ExitReason::Stop))),
            ((100.0, 110.0, 96.0), Some((110.0, ExitReason::Target))),
            ((100.0, 109.0, 96.0), None),
        ];
        for (bar, want) in cases {
            for p in all {
                let e = bar_exit(true, Some(95.0), Some(110.0), bar, p);
                assert_eq!(e.map(|e| (e.price, e.reason)), want, "{bar:?} {p}");
                assert!(!e.is_some_and(|e| e.ambiguous), "{bar:?} {p}");
            }
        }
        // Both reached inside the bar: the stop, except under the optimistic policy.
        for (p, want) in [
            (StopPolicy::Pessimistic, 95.0),
            (StopPolicy::Optimistic, 110.0),
            (StopPolicy::Reference, 95.0),
        ] {
            let e = bar_exit(true, Some(95.0), Some(110.0), (100.0, 111.0, 94.0), p).unwrap();
            assert_eq!((e.price, e.ambiguous), (want, true), "{p}");
        }
    }

    #[test]
    fn brackets_are_checked_against_the_spread_adjusted_price() {
        // Long decided at a close of 100 with a 1% spread: the entry would be 101, so a target of
        // 100.5 (above the close, below the adjusted price) is refused, as the reference refuses it.
        assert!(bracket_ok(Side::Long, 100.0, 0.0, Some(95.0), Some(100.5)));
        assert!(!bracket_ok(
            Side::Long,
            100.0,
            0.01,
            Some(95.0),
            Some(100.5)
        ));
        // Short at 100 with 1%: entry 99; a stop of 99.5 is above it (fine), a target of 99.5 is not below.
        assert!(bracket_ok(Side::Short, 100.0, 0.01, Some(99.5), Some(90.0)));
        assert!(!bracket_ok(
            Side::Short,
            100.0,
            0.01,
            Some(105.0),
            Some(99.5)
        ));
        // Levels must be finite and above zero; no levels at all is fine.
        assert!(!bracket_ok(Side::Long, 100.0, 0.0, Some(0.0), None));
        assert!(!bracket_ok(Side::Long, 100.0, 0.0, Some(-5.0), None));
        assert!(!bracket_ok(Side::Short, 100.0, 0.0, None, Some(0.0)));
        assert!(!bracket_ok(Side::Long, 100.0, 0.0, Some(f64::NAN), None));
        assert!(bracket_ok(Side::Short, 100.0, 0.0, None, None));
        // Equal to the adjusted price is not strictly on its side.
        assert!(!bracket_ok(Side::Long, 100.0, 0.0, Some(100.0), None));
    }

    #[test]
    fn sizing_all_cash_whole_units() {
        // 10,000 cash at 100 with no costs: floor(10000·(1−ε) / 100) = 99 whole units (ε makes 100 miss).
        assert_eq!(
            size_units(Sizing::All, 10_000.0, 100.0, 100.0, None, 0.0),
            Some(99.0)
        );
        // Risk 1% with a stop 2 below: floor(100 / 2) = 50 units.
        assert_eq!(
            size_units(
                Sizing::RiskPct(1.0),
                10_000.0,
                100.0,
                100.0,
                Some(98.0),
                0.0
            ),
            Some(50.0)
        );
        // Risk sizing without a stop cancels.
        assert_eq!(
            size_units(Sizing::RiskPct(1.0), 10_000.0, 100.0, 100.0, None, 0.0),
            None
        );
        // The spread worsens a long's entry upwards and a short's downwards.
        assert_eq!(entry_price(100.0, 0.01, Side::Long), 101.0);
        assert_eq!(entry_price(100.0, 0.01, Side::Short), 99.0);
    }
}
