//! Deterministic synthetic backtest inputs for the report's tests and benchmark (the bench and the
//! browser test include this file with `#[path]`; `super::{ExitReason, Side, TradeRecord}` must be in
//! scope there).

use super::{ExitReason, Side, TradeRecord};

/// Per-bar series and trades of a made-up backtest.
pub struct Synthetic {
    /// Bar times, UTC ms.
    pub ts: Vec<i64>,
    /// Close prices: a driftless random walk from 100.
    pub close: Vec<f64>,
    /// Equity: 10,000, marked to market while a trade is open.
    pub equity: Vec<f64>,
    /// Alternating long/short trades, each over an equal stretch of bars.
    pub trades: Vec<TradeRecord>,
}

/// `bars` bars `bar_ms` apart from 2010-01-01 and `n_trades` trades back to back (each exit is the next
/// entry, like a reversal strategy); exit reasons cycle through the engine's names. Same seed, same data.
pub fn synthetic(bars: usize, n_trades: usize, bar_ms: i64, seed: u64) -> Synthetic {
    if bars == 0 {
        return Synthetic {
            ts: Vec::new(),
            close: Vec::new(),
            equity: Vec::new(),
            trades: Vec::new(),
        };
    }
    let mut state = seed.max(1);
    let mut uniform = move || {
        // xorshift64*
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        (state.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64
    };
    let ts: Vec<i64> = (0..bars as i64)
        .map(|i| 1_262_304_000_000 + i * bar_ms)
        .collect();
    let mut close = Vec::with_capacity(bars);
    // ±3 % a day at most, scaled by √(bar length) so a year of minutes moves like a year of days
    let swing = 0.06 * (bar_ms as f64 / 86_400_000.0).sqrt();
    let mut p = 100.0;
    for _ in 0..bars {
        p *= 1.0 + (uniform() - 0.5) * swing;
        close.push(p);
    }
    let reasons = [
        ExitReason::Signal,
        ExitReason::Stop,
        ExitReason::Target,
        ExitReason::Signal,
        ExitReason::EndOfData,
    ];
    let mut equity = vec![10_000.0; bars];
    let mut trades = Vec::with_capacity(n_trades);
    let span = if n_trades == 0 {
        bars
    } else {
        (bars / (n_trades + 1)).max(1)
    };
    let mut cash: f64 = 10_000.0;
    for k in 0..n_trades {
        let (a, b) = (
            (k * span + 1).min(bars - 1),
            ((k + 1) * span + 1).min(bars - 1),
        );
        let long = k % 2 == 0;
        let sign = if long { 1.0 } else { -1.0 };
        let size = (cash.max(100.0) / close[a]).floor().max(1.0);
        for i in a..=b {
            equity[i] = cash + sign * size * (close[i] - close[a]);
        }
        let pnl = sign * size * (close[b] - close[a]);
        cash += pnl;
        trades.push(TradeRecord {
            size: sign * size,
            side: if long { Side::Long } else { Side::Short },
            entry_bar: a,
            exit_bar: b,
            entry_price: close[a],
            exit_price: close[b],
            stop: None,
            target: None,
            pnl,
            commission: 0.0,
            return_pct: sign * (close[b] / close[a] - 1.0) * 100.0,
            entry_time: ts[a],
            exit_time: ts[b],
            duration_days: (ts[b] - ts[a]) as f64 / 86_400_000.0,
            exit_reason: reasons[k % reasons.len()],
            ambiguous: false,
        });
    }
    let last_exit = trades.last().map_or(0, |t| t.exit_bar + 1);
    for e in equity.iter_mut().skip(last_exit) {
        *e = cash;
    }
    Synthetic {
        ts,
        close,
        equity,
        trades,
    }
}
