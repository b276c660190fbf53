//! Sizing an entry by the risk it takes, and its protective bracket: the arithmetic the agents' Risk
//! stage and `backtest --risk-gate` share, so a paper run and a gated backtest size every entry alike.
//!
//! - The bracket: the strategy's own stop and target when it gives them; else the playbook's protective
//!   levels (`[paper] stop_pct`, `target_pct`, percentages of the deciding bar's close); else the entry
//!   is refused with reason `no stop` (no stop, no risk to measure — the validator could not check it).
//!   A stop without a target gets a target at twice the stop's distance (reward:risk 2, above the hard
//!   minimum 1.5).
//! - The size: `floor(equity · risk_pct/100 / |entry − stop| / step) · step` units, capped at the
//!   largest position the limits allow (`max_position_lots · lot_size`, 1.0 lot under the hard limits),
//!   also in whole steps. A size below one step is refused (`size below one step`).

use serde::Serialize;

use crate::trade::Side;

/// How an entry is sized and protected (a playbook's `[paper]` section, resolved).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct SizingRule {
    /// Percentage of equity lost when the stop is hit (0 < P ≤ 100).
    pub risk_pct: f64,
    /// Protective stop distance, percent of the deciding close, for entries without a stop.
    pub stop_pct: Option<f64>,
    /// Protective target distance, percent of the deciding close (default: twice the stop's).
    pub target_pct: Option<f64>,
    /// Sizes are whole multiples of this many units (1: whole shares or units).
    pub unit_step: f64,
}

impl Default for SizingRule {
    fn default() -> Self {
        SizingRule {
            risk_pct: 1.0,
            stop_pct: None,
            target_pct: None,
            unit_step: 1.0,
        }
    }
}

/// Why an entry could not be sized; [`Refusal::code`] is the recorded reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Refusal {
    /// Neither the strategy nor the playbook gives a stop.
    NoStop,
    /// The stop or target is not on its side of the entry (or not a positive price).
    BadLevels,
    /// The size rounds to less than one step (or the equity is not positive).
    TooSmall,
}

impl Refusal {
    /// The reason code.
    pub fn code(self) -> &'static str {
        match self {
            Refusal::NoStop => "no stop",
            Refusal::BadLevels => "stop or target on the wrong side",
            Refusal::TooSmall => "size below one step",
        }
    }
}

/// A sized entry: units, stop and target.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct SizedEntry {
    /// Units to trade.
    pub units: f64,
    /// Stop-loss price.
    pub stop: f64,
    /// Take-profit price.
    pub target: f64,
}

/// The stop and target of an entry on `side` decided at a close of `reference`: the strategy's
/// (`stop`, `target`) or the rule's protective levels, checked to lie on their sides.
pub fn bracket(
    side: Side,
    reference: f64,
    stop: Option<f64>,
    target: Option<f64>,
    rule: &SizingRule,
) -> Result<(f64, f64), Refusal> {
    let s = side.sign();
    let stop = match (stop, rule.stop_pct) {
        (Some(p), _) => p,
        (None, Some(pct)) => reference * (1.0 - s * pct / 100.0),
        (None, None) => return Err(Refusal::NoStop),
    };
    let target = match (target, rule.target_pct) {
        (Some(p), _) => p,
        (None, Some(pct)) => reference * (1.0 + s * pct / 100.0),
        (None, None) => reference + 2.0 * (reference - stop),
    };
    let sound = stop > 0.0
        && target > 0.0
        && s * (reference - stop) > 0.0
        && s * (target - reference) > 0.0
        && stop.is_finite()
        && target.is_finite();
    if sound {
        Ok((stop, target))
    } else {
        Err(Refusal::BadLevels)
    }
}

/// Units such that the stop loses `rule.risk_pct` % of `equity`, capped at `max_lots` lots of
/// `lot_size` units, in whole `rule.unit_step`s.
pub fn units(
    equity: f64,
    entry: f64,
    stop: f64,
    rule: &SizingRule,
    lot_size: f64,
    max_lots: f64,
) -> Result<f64, Refusal> {
    let step = rule.unit_step;
    let raw = equity * rule.risk_pct / 100.0 / (entry - stop).abs();
    let cap = (max_lots * lot_size / step).floor() * step;
    let units = ((raw / step).floor() * step).min(cap);
    if units.is_finite() && units >= step {
        Ok(units)
    } else {
        Err(Refusal::TooSmall)
    }
}

/// [`bracket`] then [`units`]: the entry the validator is asked about.
pub fn size_entry(
    side: Side,
    reference: f64,
    levels: (Option<f64>, Option<f64>),
    equity: f64,
    rule: &SizingRule,
    (lot_size, max_lots): (f64, f64),
) -> Result<SizedEntry, Refusal> {
    let (stop, target) = bracket(side, reference, levels.0, levels.1, rule)?;
    let units = units(equity, reference, stop, rule, lot_size, max_lots)?;
    Ok(SizedEntry {
        units,
        stop,
        target,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(stop_pct: Option<f64>) -> SizingRule {
        SizingRule {
            stop_pct,
            ..SizingRule::default()
        }
    }

    #[test]
    fn risk_is_a_share_of_equity_between_entry_and_stop() {
        // 1% of 10 000 = 100 at risk; a stop 2 below 100 → 50 units (lot 100 000: cap far away).
        let e = size_entry(
            Side::Long,
            100.0,
            (Some(98.0), Some(104.0)),
            10_000.0,
            &rule(None),
            (100_000.0, 1.0),
        )
        .unwrap();
        assert_eq!((e.units, e.stop, e.target), (50.0, 98.0, 104.0));
        // A 3% protective stop on a short at 200: stop 206, risk 6 per unit → floor(100/6) = 16;
        // target twice the distance by default: 200 − 12 = 188.
        let e = size_entry(
            Side::Short,
            200.0,
            (None, None),
            10_000.0,
            &rule(Some(3.0)),
            (1.0, 100.0),
        )
        .unwrap();
        assert_eq!((e.units, e.stop, e.target), (16.0, 206.0, 188.0));
    }

    #[test]
    fn the_lot_cap_and_the_refusals() {
        // EURUSD: 1% of 10 000 with a 10-pip stop is 100 / 0.001 = 100 000 units; 0.5 lots of
        // 100 000 caps it at 50 000.
        let u = units(10_000.0, 1.1, 1.099, &rule(None), 100_000.0, 0.5).unwrap();
        assert_eq!(u, 50_000.0);
        let none = bracket(Side::Long, 1.0, None, None, &rule(None));
        assert_eq!(none, Err(Refusal::NoStop));
        assert_eq!(Refusal::NoStop.code(), "no stop");
        let wrong = bracket(Side::Long, 1.0, Some(1.1), Some(1.2), &rule(None));
        assert_eq!(wrong, Err(Refusal::BadLevels));
        // 1% of 100 with a stop 50 away: 0.02 units, below one whole unit.
        let small = units(100.0, 100.0, 50.0, &rule(None), 1.0, 1.0);
        assert_eq!(small, Err(Refusal::TooSmall));
    }
}
