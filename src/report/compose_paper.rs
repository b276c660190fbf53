//! The paper account page from the database and the store: the account's numbers as `paper-trade
//! account` shows them, its equity at every processed bar's close ([`crate::paper::history`]), the open
//! positions, every fill and the closed trades (the records `paper-trade trades` prints).

use rusqlite::Transaction;

use super::backtest::BacktestOptions;
use super::html::{Stat, Tone};
use super::paper::{PaperFill, PaperInput, PaperPosition, paper_report};
use crate::candles::{Interval, Store, TimeRange};
use crate::error::{Error, Result};
use crate::execution::Instruments;
use crate::execution::store::{self as xstore, cursor};
use crate::paper::account::{self, Account, Fill};
use crate::paper::history::{MarketCloses, equity_curve};
use crate::trade::{Side, TradeRecord};

/// What the page needs, read in one transaction; the bars come from the store afterwards.
#[derive(Debug, Clone)]
pub struct PaperAccountData {
    /// The account's numbers.
    pub account: Account,
    /// Whether it is the current account (an ended one was closed by a reset).
    pub current: bool,
    /// Its open positions.
    pub positions: Vec<account::Position>,
    /// Every fill, oldest first.
    pub fills: Vec<Fill>,
    /// Closed trades, oldest first.
    pub trades: Vec<account::PaperTrade>,
    /// The markets it traded and their cursors (last processed bar, ms).
    pub markets: Vec<(String, String, Option<i64>)>,
}

/// Reads account epoch `epoch` (default: the current one). No account yet is an error saying how to
/// open one.
pub fn read_account(
    tx: &Transaction<'_>,
    instruments: &Instruments,
    epoch: Option<i64>,
) -> Result<PaperAccountData> {
    let current = xstore::current_account(tx)?.ok_or_else(|| {
        Error::invalid(
            "no paper account yet: place an order (flowrex paper-trade order …) to open one",
        )
    })?;
    let row = match epoch {
        Some(e) => account::epoch(tx, e)?,
        None => current.clone(),
    };
    let fills = account::fills_of(tx, row.id, None)?;
    let mut markets: Vec<(String, String, Option<i64>)> = Vec::new();
    for f in &fills {
        if !markets.iter().any(|m| m.0 == f.symbol && m.1 == f.interval) {
            let c = cursor(tx, &f.symbol, &f.interval)?.map(|c| c.last_bar_ms);
            markets.push((f.symbol.clone(), f.interval.clone(), c));
        }
    }
    Ok(PaperAccountData {
        account: account::account_of(tx, &row, instruments)?,
        current: row.id == current.id,
        positions: account::positions_of(tx, &row, instruments)?,
        fills,
        trades: account::trades_of(tx, row.id)?,
        markets,
    })
}

/// The page of `data`, with the equity re-marked from the bars in `store`.
pub fn paper_page(
    data: &PaperAccountData,
    store: &Store,
    opts: &BacktestOptions,
) -> Result<String> {
    let a = &data.account;
    let last_fill = data.fills.last().map(|f| f.ts_ms);
    let mut loaded = Vec::with_capacity(data.markets.len());
    for (symbol, interval, cur) in &data.markets {
        let iv: Interval = interval.parse()?;
        // An ended account's bars stop at its last fill (its reset); the current one's at the cursor.
        let end = if data.current { *cur } else { last_fill };
        let range = TimeRange { start: None, end };
        loaded.push(store.load(symbol, iv, &range)?);
    }
    let closes: Vec<MarketCloses<'_>> = data
        .markets
        .iter()
        .zip(&loaded)
        .map(|((s, i, _), c)| MarketCloses {
            symbol: s,
            interval: i,
            ts: &c.ts,
            close: &c.close,
        })
        .collect();
    let (ts, equity) = equity_curve(a.initial_balance, &data.fills, &closes);
    let trades: Vec<TradeRecord> = data
        .trades
        .iter()
        .map(|t| record(t, &data.markets, &loaded))
        .collect();
    let positions: Vec<PaperPosition> = data
        .positions
        .iter()
        .map(|p| PaperPosition {
            market: format!("{} {}", p.symbol, p.interval),
            side: p.side,
            quantity: p.quantity,
            entry_price: p.entry_price,
            mark_price: p.current_price,
            unrealized_pnl: p.unrealized_pnl,
            opened_ts: p.opened_ms,
        })
        .collect();
    let fills: Vec<PaperFill> = data.fills.iter().map(paper_fill).collect();
    let title = format!("Paper account {}", a.account_id);
    let markets: Vec<String> = data
        .markets
        .iter()
        .map(|(s, i, _)| format!("{s} {i}"))
        .collect();
    let subtitle = format!(
        "{} mode · opened {}{} · {}",
        a.mode.as_str(),
        a.opened,
        if data.current {
            ""
        } else {
            " · ended by a reset"
        },
        if markets.is_empty() {
            "no market traded yet".to_string()
        } else {
            markets.join(", ")
        }
    );
    let notes = notes(data, &equity);
    let input = PaperInput {
        title: &title,
        subtitle: &subtitle,
        headline: &headline(a),
        account: &account_stats(a),
        ts: &ts,
        equity: &equity,
        positions: &positions,
        fills: &fills,
        trades: &trades,
        notes: &notes,
    };
    paper_report(&input, opts)
}

fn notes(data: &PaperAccountData, equity: &[f64]) -> Vec<String> {
    let mut notes = Vec::new();
    if let Some(&last) = equity.last()
        && data.current
        && last != data.account.equity
    {
        notes.push(format!(
            "The equity curve ends at {last:.2} and the account shows {:.2}: bars arrived in the store \
             after the last `paper-trade process`, or a market's bars changed.",
            data.account.equity
        ));
    }
    notes
}

/// A paper trade as the backtest records it, bar indices in its market's loaded bars (0 when a time
/// is not among them: a reset's close).
fn record(
    t: &account::PaperTrade,
    markets: &[(String, String, Option<i64>)],
    loaded: &[crate::candles::Candles],
) -> TradeRecord {
    let ts = markets
        .iter()
        .position(|m| m.0 == t.symbol && m.1 == t.interval)
        .map_or(&[][..], |k| &loaded[k].ts[..]);
    let bar = |ms: i64| ts.binary_search(&ms).unwrap_or(0);
    let exit_bar = bar(t.exit_ms).max(bar(t.entry_ms));
    TradeRecord {
        size: t.size,
        side: Side::of_size(t.size),
        entry_bar: bar(t.entry_ms),
        exit_bar,
        entry_price: t.entry_price,
        exit_price: t.exit_price,
        stop: t.stop,
        target: t.target,
        pnl: t.pnl,
        commission: t.commission,
        return_pct: t.return_pct,
        entry_time: t.entry_ms,
        exit_time: t.exit_ms,
        duration_days: (t.exit_ms - t.entry_ms) as f64 / crate::candles::DAY_MS as f64,
        exit_reason: t.exit_reason,
        ambiguous: t.ambiguous,
    }
}

fn paper_fill(f: &Fill) -> PaperFill {
    // The fill's side is the order's (a buy or a sell); the page shows the position's side.
    let position_side = if f.effect == "open" {
        f.side
    } else {
        opposite(f.side)
    };
    PaperFill {
        ts: f.ts_ms,
        market: format!("{} {}", f.symbol, f.interval),
        side: position_side,
        effect: f.effect.clone(),
        quantity: f.quantity,
        requested_price: f.requested_price,
        price: f.price,
        slippage_bps: f.slippage_bps,
        commission: f.commission,
        realized: f.realized,
        balance: f.balance,
    }
}

fn opposite(s: Side) -> Side {
    match s {
        Side::Long => Side::Short,
        Side::Short => Side::Long,
    }
}

fn money(v: f64) -> String {
    format!("{v:.2}")
}

fn toned(label: &str, v: f64) -> Stat {
    Stat {
        tone: if v > 0.0 {
            Tone::Up
        } else if v < 0.0 {
            Tone::Down
        } else {
            Tone::Plain
        },
        ..Stat::plain(label, money(v))
    }
}

/// The cards: equity and the P&L, as `paper-trade account` shows them.
fn headline(a: &Account) -> Vec<Stat> {
    let win_rate = if a.total_trades == 0 {
        "—".to_string()
    } else {
        format!(
            "{:.1}%",
            a.winning_trades as f64 / a.total_trades as f64 * 100.0
        )
    };
    vec![
        Stat::plain("Equity", money(a.equity)),
        toned("Total P&L", a.total_pnl),
        toned("Realized P&L", a.realized_pnl),
        toned("Unrealized P&L", a.unrealized_pnl),
        Stat::plain("Closed trades", a.total_trades.to_string()),
        Stat::plain("Win rate", win_rate),
    ]
}

/// The rest of the account's numbers.
fn account_stats(a: &Account) -> Vec<Stat> {
    vec![
        Stat::plain("Account", a.account_id.to_string()),
        Stat::plain("Opened", a.opened.clone()),
        Stat::plain("Mode", a.mode.as_str()),
        Stat::plain("Initial balance", money(a.initial_balance)),
        Stat::plain("Balance", money(a.balance)),
        Stat::plain("Equity", money(a.equity)),
        Stat::plain("Commission", money(a.commission)),
        Stat::plain("Margin used", money(a.margin_used)),
        Stat::plain("Margin available", money(a.margin_available)),
        Stat::plain("Open positions", a.open_positions.to_string()),
        Stat::plain("Winning trades", a.winning_trades.to_string()),
        Stat::plain("Fills", a.fills.to_string()),
    ]
}
