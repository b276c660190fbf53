//! The paper account's equity over time, re-marked from the fill ledger and the stored bars: at the
//! close of every bar of every market the account traded (from its first fill to the market's cursor),
//! the balance after the fills up to that bar plus each open position marked at its market's last
//! close — `balance + Σ (close·units − units·entry)` by position id, the ledger's own equity expression,
//! so the last point is the account's equity bit for bit while nothing is left to process.
//!
//! Fills happen at a bar's open, so a bar's point includes the fills of that bar. Fills after the last
//! bar (the closes of a reset) give one more point at their time.

use std::collections::BTreeMap;

use super::account::Fill;
use crate::execution::ledger::{Marked, equity};

/// The bars of one market the account traded: `(symbol, interval)`, open times and closes (ascending,
/// up to the market's cursor).
#[derive(Debug, Clone, Copy)]
pub struct MarketCloses<'a> {
    /// Instrument.
    pub symbol: &'a str,
    /// Bar series.
    pub interval: &'a str,
    /// Bar open times (ms).
    pub ts: &'a [i64],
    /// Bar closes.
    pub close: &'a [f64],
}

/// The account's equity points: `(bar open time, equity at that bar's close)`, ascending; empty
/// without fills. `fills` are the epoch's fills, oldest first.
pub fn equity_curve(
    initial_balance: f64,
    fills: &[Fill],
    markets: &[MarketCloses<'_>],
) -> (Vec<i64>, Vec<f64>) {
    let Some(first) = fills.first() else {
        return (Vec::new(), Vec::new());
    };
    // Every bar from the bar of the first fill on, in time order (ties: the order given).
    let mut bars: Vec<(i64, usize, f64)> = Vec::new();
    for (m, mk) in markets.iter().enumerate() {
        let from = mk.ts.partition_point(|&t| t < first.ts_ms);
        bars.extend((from..mk.ts.len()).map(|i| (mk.ts[i], m, mk.close[i])));
    }
    bars.sort_by_key(|b| (b.0, b.1));
    let market_of = |f: &Fill| {
        markets
            .iter()
            .position(|m| m.symbol == f.symbol && m.interval == f.interval)
    };
    let mut marks: Vec<Option<f64>> = vec![None; markets.len()];
    // position id → (units, entry, market)
    let mut open: BTreeMap<i64, (f64, f64, Option<usize>)> = BTreeMap::new();
    let mut balance = initial_balance;
    let (mut ts, mut eq) = (
        Vec::with_capacity(bars.len()),
        Vec::with_capacity(bars.len()),
    );
    let mut next = 0;
    let point =
        |open: &BTreeMap<i64, (f64, f64, Option<usize>)>, marks: &[Option<f64>], balance| {
            let marked: Vec<Marked> = open
                .iter()
                .map(|(&id, &(units, entry, m))| Marked {
                    id,
                    units,
                    entry,
                    mark: m.and_then(|m| marks[m]).unwrap_or(entry),
                    leverage: 1.0,
                })
                .collect();
            equity(balance, &marked)
        };
    let apply = |f: &Fill, open: &mut BTreeMap<_, _>, balance: &mut f64| {
        *balance = f.balance;
        if f.position_units == 0.0 {
            open.remove(&f.position_id);
        } else {
            let entry = f.position_entry.unwrap_or(f.price);
            open.insert(f.position_id, (f.position_units, entry, market_of(f)));
        }
    };
    for (k, &(t, m, close)) in bars.iter().enumerate() {
        while next < fills.len() && fills[next].ts_ms <= t {
            apply(&fills[next], &mut open, &mut balance);
            next += 1;
        }
        marks[m] = Some(close);
        // One point per time: after the last market's bar at `t`.
        if bars.get(k + 1).is_none_or(|b| b.0 != t) {
            ts.push(t);
            eq.push(point(&open, &marks, balance));
        }
    }
    if next < fills.len() {
        for f in &fills[next..] {
            apply(f, &mut open, &mut balance);
        }
        ts.push(
            fills[fills.len() - 1]
                .ts_ms
                .max(ts.last().copied().unwrap_or(i64::MIN)),
        );
        eq.push(point(&open, &marks, balance));
    }
    (ts, eq)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trade::Side;

    fn fill(id: i64, ts: i64, pos: i64, units: f64, entry: Option<f64>, balance: f64) -> Fill {
        Fill {
            id,
            order_id: id,
            run_id: None,
            position_id: pos,
            symbol: "X".into(),
            interval: "1d".into(),
            strategy: String::new(),
            side: Side::Long,
            effect: if units == 0.0 { "close" } else { "open" }.into(),
            quantity: 1.0,
            requested_price: 0.0,
            price: entry.unwrap_or(0.0),
            slippage_bps: 0.0,
            commission: 0.0,
            realized: 0.0,
            balance,
            time: String::new(),
            ts_ms: ts,
            exit_reason: None,
            position_units: units,
            position_entry: entry,
        }
    }

    #[test]
    fn equity_is_the_balance_plus_the_positions_marked_at_each_close_by_hand() {
        // Bars at 10, 20, 30, 40 closing 100, 104, 98, 101. 2 units bought at the open of bar 20 at
        // 101 (commission 1: balance 999), sold at the open of bar 40 at 99 (balance 999 − 4 = 995).
        let (ts, close) = ([10, 20, 30, 40], [100.0, 104.0, 98.0, 101.0]);
        let m = [MarketCloses {
            symbol: "X",
            interval: "1d",
            ts: &ts,
            close: &close,
        }];
        let fills = [
            fill(1, 20, 1, 2.0, Some(101.0), 999.0),
            fill(2, 40, 1, 0.0, None, 995.0),
        ];
        let (t, eq) = equity_curve(1_000.0, &fills, &m);
        // From the first fill's bar: 999 + 2·(104 − 101) = 1005; 999 + 2·(98 − 101) = 993; flat 995.
        assert_eq!(t, [20, 30, 40]);
        assert_eq!(eq, [1_005.0, 993.0, 995.0]);
        // A fill after the last bar (a reset's close) adds a point at its time.
        let late = [fills[0].clone(), fill(2, 45, 1, 0.0, None, 990.0)];
        let (t, eq) = equity_curve(1_000.0, &late, &m);
        // Bar 40 still holds the position: 999 + 2·(101 − 101) = 999.
        assert_eq!(
            (t, eq),
            (vec![20, 30, 40, 45], vec![1_005.0, 993.0, 999.0, 990.0])
        );
        assert_eq!(equity_curve(1_000.0, &[], &m), (vec![], vec![]));
    }
}
