//! The paper account report, from plain inputs ([`PaperInput`]): the account's headline numbers, its
//! equity over time (peak, final value, deepest drawdown), the underwater curve, monthly returns, the
//! open positions, every fill (first and last rows), and the closed round trips as [`TradeRecord`]s —
//! the record the backtest writes, so the trade sections are the backtest report's.
//!
//! An account that has not traded gets its summary and "no fills" / "no closed trades" notices, never
//! an empty page.

use super::backtest::{
    BacktestOptions, distribution_section, equity_section, monthly_section, scatter_section,
    trades_section, underwater_section,
};
use super::html::{Block, Document, Stat, Table, group_thousands};
use super::scale::{DAY, date_text, time_pattern, trim_num};
use crate::error::{Error, Result};
use crate::trade::{Side, TradeRecord};

/// One fill of the paper account: an entry, an exit, or a part of either.
#[derive(Debug, Clone, PartialEq)]
pub struct PaperFill {
    /// Fill time, UTC ms.
    pub ts: i64,
    /// Market, e.g. `EURUSD 1h`.
    pub market: String,
    /// The position's side.
    pub side: Side,
    /// What the fill did to the position (`open`, `close`, `reduce`, …), shown as given.
    pub effect: String,
    /// Units filled.
    pub quantity: f64,
    /// The price the order asked for (the bar's open for a market order).
    pub requested_price: f64,
    /// The price it filled at.
    pub price: f64,
    /// Slippage against the requested price in basis points, positive when it cost the account.
    pub slippage_bps: f64,
    /// Commission of this fill.
    pub commission: f64,
    /// Profit or loss realized by this fill.
    pub realized: f64,
    /// Account balance after the fill.
    pub balance: f64,
}

/// A position still open.
#[derive(Debug, Clone, PartialEq)]
pub struct PaperPosition {
    /// Market, e.g. `GOOG 1d`.
    pub market: String,
    /// Long or short.
    pub side: Side,
    /// Units held.
    pub quantity: f64,
    /// Average entry price.
    pub entry_price: f64,
    /// The latest price it is marked at.
    pub mark_price: f64,
    /// `±quantity × (mark − entry)`.
    pub unrealized_pnl: f64,
    /// When it was opened, UTC ms.
    pub opened_ts: i64,
}

/// Everything a paper account report shows. `ts` and `equity` are the account's equity points (e.g. at
/// each processed bar's close), equally long, `ts` ascending.
#[derive(Debug, Clone, Copy)]
pub struct PaperInput<'a> {
    /// Page title, e.g. `Paper account 1`.
    pub title: &'a str,
    /// Line under the title (mode, opened, markets).
    pub subtitle: &'a str,
    /// Headline cards: equity, total P&L, realized, unrealized… shown verbatim.
    pub headline: &'a [Stat],
    /// Further account numbers (balance, margin, counts…), shown as a key/value table.
    pub account: &'a [Stat],
    /// Equity point times, UTC ms.
    pub ts: &'a [i64],
    /// Account equity at each point.
    pub equity: &'a [f64],
    /// Open positions.
    pub positions: &'a [PaperPosition],
    /// Every fill, oldest first.
    pub fills: &'a [PaperFill],
    /// Closed round trips, oldest first.
    pub trades: &'a [TradeRecord],
    /// Remarks shown under the summary.
    pub notes: &'a [String],
}

/// The report as one self-contained HTML page. Mismatched or unsorted equity points are an error
/// naming the series.
pub fn paper_report(input: &PaperInput, opts: &BacktestOptions) -> Result<String> {
    Ok(paper_document(input, opts)?.render())
}

/// The notice of an account without fills.
pub const NO_FILLS: &str = "No fills: the paper account has not traded yet.";
/// The notice of an account without closed trades.
pub const NO_CLOSED: &str = "No closed trades yet: the trade statistics start with the first exit.";

/// The report as a [`Document`].
pub fn paper_document(input: &PaperInput, opts: &BacktestOptions) -> Result<Document> {
    validate(input)?;
    let mut doc = Document::new(input.title, Some(input.subtitle.to_string()));
    let s = doc.section("Account");
    s.push(Block::Cards(input.headline.to_vec()));
    for n in input.notes {
        s.push(Block::Notice(n.clone()));
    }
    s.push(Block::Metrics(input.account.to_vec()));
    let (ts, equity, trades) = (input.ts, input.equity, input.trades);
    if ts.is_empty() {
        doc.section("Equity").push(Block::Notice(
            "No equity history: the account has not processed a bar yet.".into(),
        ));
    } else {
        equity_section(&mut doc, ts, equity, None, opts.width);
        underwater_section(&mut doc, ts, equity, opts.width);
        monthly_section(&mut doc, ts, equity, opts.width);
    }
    positions_section(&mut doc, input.positions, ts);
    fills_section(&mut doc, input.fills, opts);
    if trades.is_empty() {
        doc.section("Trades").push(Block::Notice(NO_CLOSED.into()));
    } else {
        // the time axis: the equity points', else the exits (scatter_section widens it to every exit)
        let exits: Vec<i64> = trades.iter().map(|t| t.exit_time).collect();
        let axis = if ts.is_empty() { &exits } else { ts };
        scatter_section(&mut doc, axis, trades, opts);
        distribution_section(&mut doc, trades, opts.width);
        trades_section(&mut doc, axis, trades, opts);
    }
    Ok(doc)
}

fn validate(input: &PaperInput) -> Result<()> {
    let (ts, eq) = (input.ts, input.equity);
    if ts.len() != eq.len() {
        return Err(Error::invalid(format!(
            "report: equity has {} values but ts has {}",
            eq.len(),
            ts.len()
        )));
    }
    if let Some(i) = (1..ts.len()).find(|&i| ts[i] < ts[i - 1]) {
        return Err(Error::invalid(format!(
            "report: ts is not ascending at index {i} ({} after {})",
            ts[i],
            ts[i - 1]
        )));
    }
    Ok(())
}

fn pattern(ts: &[i64]) -> &'static str {
    time_pattern(ts.iter().all(|t| t.rem_euclid(DAY) == 0))
}

fn positions_section(doc: &mut Document, positions: &[PaperPosition], ts: &[i64]) {
    if positions.is_empty() {
        return;
    }
    let p = pattern(ts);
    let header = [
        "Market",
        "Side",
        "Quantity",
        "Entry price",
        "Mark",
        "Unrealized P&L",
        "Opened",
    ]
    .map(String::from)
    .to_vec();
    let mut t = Table::new(header).numeric(&[2, 3, 4, 5]);
    for pos in positions {
        t.push(vec![
            pos.market.clone(),
            pos.side.to_string(),
            trim_num(pos.quantity, 8),
            trim_num(pos.entry_price, 6),
            trim_num(pos.mark_price, 6),
            format!("{:.2}", pos.unrealized_pnl),
            date_text(pos.opened_ts, p),
        ]);
    }
    doc.section("Open positions")
        .caption("Positions still open, marked at the latest price; their P&L is in the equity but not in the trade statistics.")
        .push(Block::Table(t));
}

fn fills_section(doc: &mut Document, fills: &[PaperFill], opts: &BacktestOptions) {
    let s = doc.section("Fills");
    if fills.is_empty() {
        s.push(Block::Notice(NO_FILLS.into()));
        return;
    }
    let times: Vec<i64> = fills.iter().map(|f| f.ts).collect();
    let p = pattern(&times);
    let header = [
        "#",
        "Time",
        "Market",
        "Side",
        "Effect",
        "Quantity",
        "Requested",
        "Price",
        "Slippage bps",
        "Commission",
        "Realized",
        "Balance",
    ]
    .map(String::from)
    .to_vec();
    let table = Table::elided(header, fills.len(), opts.table_head, opts.table_tail, |i| {
        let f = &fills[i];
        vec![
            (i + 1).to_string(),
            date_text(f.ts, p),
            f.market.clone(),
            f.side.to_string(),
            f.effect.clone(),
            trim_num(f.quantity, 8),
            trim_num(f.requested_price, 6),
            trim_num(f.price, 6),
            format!("{:.2}", f.slippage_bps),
            format!("{:.2}", f.commission),
            format!("{:.2}", f.realized),
            format!("{:.2}", f.balance),
        ]
    })
    .numeric(&[0, 5, 6, 7, 8, 9, 10, 11]);
    let caption = if table.len() < fills.len() {
        format!(
            "{} fills; the first {} and the last {} are listed.",
            group_thousands(fills.len()),
            opts.table_head,
            opts.table_tail
        )
    } else {
        format!("{} fills.", group_thousands(fills.len()))
    };
    s.caption(caption).push(Block::Table(table));
}
