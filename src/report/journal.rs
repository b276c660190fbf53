//! The journal report: real (paper or live) trades against a replay of their backtest over the same
//! bars, from plain inputs ([`JournalInput`]) — how many trades match one to one, the entry and exit
//! slippage of the matched ones (table and distribution), the P&L gap split into its signal, fill and
//! cost parts, the metrics side by side (through the field table, [`super::stats`]), and the trades
//! found only in reality or only in the backtest.
//!
//! A journal without trades gets its summary and a "no trades" notice, never an empty page.

use super::backtest::BacktestOptions;
use super::html::{Block, Document, Stat, Table, Tone, group_thousands};
use super::scale::{DAY, Fmt, date_text, time_pattern, trim_num};
use super::stats::{Compared, side_by_side};
use super::svg::{self, BLUE, HistStyle, VERMILLION};
use crate::error::Result;
use crate::trade::{Side, TradeRecord};

/// A real trade and the backtest trade it was matched with (same entry bar and side).
#[derive(Debug, Clone, PartialEq)]
pub struct MatchedTrade {
    /// The trade of the backtest replay.
    pub backtest: TradeRecord,
    /// The trade that happened (paper or live).
    pub real: TradeRecord,
}

/// Everything a journal report shows.
#[derive(Debug, Clone, Copy)]
pub struct JournalInput<'a> {
    /// Page title, e.g. `Journal: sma_cross on GOOG 1d (paper)`.
    pub title: &'a str,
    /// Line under the title (period, playbook).
    pub subtitle: &'a str,
    /// `paper` or `live`: how the real side is named on the page.
    pub source: &'a str,
    /// Matched pairs, in entry order.
    pub matched: &'a [MatchedTrade],
    /// Real trades without a backtest counterpart.
    pub only_real: &'a [TradeRecord],
    /// Backtest trades without a real counterpart.
    pub only_backtest: &'a [TradeRecord],
    /// Metrics of the backtest (left) and of the real trades (right).
    pub metrics: &'a [Compared],
    /// Remarks shown under the summary (e.g. the critical-deviation finding).
    pub notes: &'a [String],
}

/// Slippage of a fill at `actual` against the `expected` price, in basis points, positive when it cost
/// the trader: paying more on a buy, receiving less on a sell. A long's entry and a short's exit buy;
/// a long's exit and a short's entry sell. NaN when `expected` is not a positive number.
pub fn slippage_bps(side: Side, entry: bool, expected: f64, actual: f64) -> f64 {
    if expected.is_nan() || expected <= 0.0 {
        return f64::NAN;
    }
    let buys = (side == Side::Long) == entry;
    let worse = if buys {
        actual - expected
    } else {
        expected - actual
    };
    worse / expected * 10_000.0
}

/// The entry and exit slippage of a matched trade (real against backtest prices), in basis points.
pub fn trade_slippage(m: &MatchedTrade) -> (f64, f64) {
    let side = m.real.side;
    (
        slippage_bps(side, true, m.backtest.entry_price, m.real.entry_price),
        slippage_bps(side, false, m.backtest.exit_price, m.real.exit_price),
    )
}

/// The real P&L minus the backtest's, in three parts that add up to it exactly:
/// - `signal`: the trades only one side made (`Σ pnl(only real) − Σ pnl(only backtest)`);
/// - `fill`: matched trades' P&L before costs (prices and sizes): `Σ (real pnl + commission) −
///   (backtest pnl + commission)`;
/// - `cost`: matched trades' commissions, `−Σ (real commission − backtest commission)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PnlGap {
    /// Net P&L of every real trade.
    pub real: f64,
    /// Net P&L of every backtest trade.
    pub backtest: f64,
    /// From trades only one side made.
    pub signal: f64,
    /// From the prices and sizes of matched trades.
    pub fill: f64,
    /// From the commissions of matched trades.
    pub cost: f64,
}

/// The P&L gap of `input` and its parts.
pub fn pnl_gap(input: &JournalInput) -> PnlGap {
    let sum = |ts: &[TradeRecord]| ts.iter().map(|t| t.pnl).sum::<f64>();
    let (mut fill, mut cost, mut real, mut backtest) = (0.0, 0.0, 0.0, 0.0);
    for m in input.matched {
        fill += (m.real.pnl + m.real.commission) - (m.backtest.pnl + m.backtest.commission);
        cost -= m.real.commission - m.backtest.commission;
        real += m.real.pnl;
        backtest += m.backtest.pnl;
    }
    let (only_real, only_bt) = (sum(input.only_real), sum(input.only_backtest));
    PnlGap {
        real: real + only_real,
        backtest: backtest + only_bt,
        signal: only_real - only_bt,
        fill,
        cost,
    }
}

/// The notice of a journal without trades on either side.
pub const NO_TRADES: &str =
    "No trades: the journal holds no trade for this selection, and the backtest made none either.";

/// The report as one self-contained HTML page.
pub fn journal_report(input: &JournalInput, opts: &BacktestOptions) -> Result<String> {
    Ok(journal_document(input, opts).render())
}

/// The report as a [`Document`].
pub fn journal_document(input: &JournalInput, opts: &BacktestOptions) -> Document {
    let mut doc = Document::new(input.title, Some(input.subtitle.to_string()));
    let slips: Vec<(f64, f64)> = input.matched.iter().map(trade_slippage).collect();
    let gap = pnl_gap(input);
    let s = doc.section("Summary");
    s.push(Block::Cards(cards(input, &slips, &gap)));
    for n in input.notes {
        s.push(Block::Notice(n.clone()));
    }
    let (m, r, b) = (
        input.matched.len(),
        input.only_real.len(),
        input.only_backtest.len(),
    );
    if m + r + b == 0 {
        s.push(Block::Notice(NO_TRADES.into()));
        return doc;
    }
    s.push(Block::Text(format!(
        "{} of {} {} trades matched a backtest trade one to one (same entry bar and side); {} {} only in reality, {} only in the backtest.",
        group_thousands(m),
        group_thousands(m + r),
        input.source,
        group_thousands(r),
        if r == 1 { "is" } else { "are" },
        group_thousands(b),
    )));
    if !input.metrics.is_empty() {
        doc.section("Metrics side by side")
            .caption("Every metric of the backtest replay and of the real trades, as the backtest text table shows them; the difference is real minus backtest.")
            .push(Block::Table(side_by_side(input.metrics, "Backtest", input.source)));
    }
    gap_section(&mut doc, input, &gap);
    slippage_section(&mut doc, &slips, opts.width);
    matched_section(&mut doc, input, &slips, opts);
    unmatched_section(&mut doc, "Only in reality", input.only_real, opts);
    unmatched_section(&mut doc, "Only in the backtest", input.only_backtest, opts);
    doc
}

fn mean(v: impl Iterator<Item = f64>) -> f64 {
    let (mut s, mut n) = (0.0, 0usize);
    for x in v.filter(|x| x.is_finite()) {
        s += x;
        n += 1;
    }
    if n == 0 { f64::NAN } else { s / n as f64 }
}

fn bps_text(v: f64) -> String {
    if v.is_finite() {
        format!("{v:.2}")
    } else {
        "—".into()
    }
}

fn cards(input: &JournalInput, slips: &[(f64, f64)], gap: &PnlGap) -> Vec<Stat> {
    let real = input.matched.len() + input.only_real.len();
    let rate = if real == 0 {
        "—".to_string()
    } else {
        format!("{:.1}%", input.matched.len() as f64 / real as f64 * 100.0)
    };
    let diff = gap.real - gap.backtest;
    let card = |label: &str, value: String, tone: Tone| Stat {
        label: label.into(),
        value,
        tone,
        ..Stat::default()
    };
    let bad_if_positive = |v: f64| if v > 0.0 { Tone::Down } else { Tone::Plain };
    let (entry, exit) = (
        mean(slips.iter().map(|s| s.0)),
        mean(slips.iter().map(|s| s.1)),
    );
    vec![
        card(
            "Matched trades",
            group_thousands(input.matched.len()),
            Tone::Plain,
        ),
        card("Match rate (real trades)", rate, Tone::Plain),
        card(
            "Mean entry slippage [bps]",
            bps_text(entry),
            bad_if_positive(entry),
        ),
        card(
            "Mean exit slippage [bps]",
            bps_text(exit),
            bad_if_positive(exit),
        ),
        card(
            "P&L gap (real − backtest)",
            format!("{diff:.2}"),
            if diff < 0.0 { Tone::Down } else { Tone::Plain },
        ),
    ]
}

fn gap_section(doc: &mut Document, input: &JournalInput, g: &PnlGap) {
    let header = ["Part", "P&L", "What it measures"]
        .map(String::from)
        .to_vec();
    let mut t = Table::new(header).numeric(&[1]);
    let rows = [
        ("Real P&L", g.real, format!("every {} trade", input.source)),
        ("Backtest P&L", g.backtest, "every backtest trade".into()),
        (
            "Gap",
            g.real - g.backtest,
            "real minus backtest = the three parts below".into(),
        ),
        (
            "Signal",
            g.signal,
            "trades made only in reality, minus those made only in the backtest".into(),
        ),
        (
            "Fill",
            g.fill,
            "matched trades before costs: entry and exit prices, sizes".into(),
        ),
        ("Cost", g.cost, "matched trades' commissions".into()),
    ];
    for (part, v, what) in rows {
        t.push(vec![part.to_string(), format!("{v:.2}"), what]);
    }
    doc.section("P&L gap")
        .caption("Where the real result departs from the backtest's, in account currency.")
        .push(Block::Table(t));
}

/// Slippage: positive (a cost) vermillion, zero or negative (as good or better) blue.
const SLIPPAGE: HistStyle = HistStyle {
    below: (BLUE, "as expected or better"),
    above: (VERMILLION, "worse (a cost)"),
    unit: "fills",
};

fn slippage_section(doc: &mut Document, slips: &[(f64, f64)], width: f64) {
    if slips.is_empty() {
        return;
    }
    let s = doc.section("Slippage").caption(
        "Slippage of each matched trade's entry and exit against the backtest's price, in basis points; positive cost the trader (paid more on a buy, received less on a sell).",
    );
    let size = (width.min(760.0), 220.0);
    for (what, pick) in [("entries", 0), ("exits", 1)] {
        // to 1/1000 bp: prices that differ only in their last bits do not make a spread of bins
        let v: Vec<f64> = slips
            .iter()
            .map(|s| if pick == 0 { s.0 } else { s.1 })
            .map(|x| (x * 1000.0).round() / 1000.0)
            .collect();
        let finite: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
        match finite.first() {
            Some(&first) if finite.iter().any(|&x| x != first) => {
                s.push(Block::Text(format!("Slippage of the {what}:")))
                    .push(Block::Svg(svg::histogram_styled(
                        &v,
                        Fmt::Num,
                        &format!("histogram of the slippage of the {what} in basis points"),
                        size,
                        SLIPPAGE,
                    )));
            }
            Some(&first) => {
                s.push(Block::Text(format!(
                    "Slippage of the {what}: {} bps on all {} of them.",
                    bps_text(first),
                    group_thousands(finite.len())
                )));
            }
            None => {
                s.push(Block::Text(format!(
                    "Slippage of the {what}: no backtest price to compare with."
                )));
            }
        }
    }
}

fn pattern(trades: impl Iterator<Item = i64>) -> &'static str {
    time_pattern(trades.into_iter().all(|t| t.rem_euclid(DAY) == 0))
}

fn matched_section(
    doc: &mut Document,
    input: &JournalInput,
    slips: &[(f64, f64)],
    opts: &BacktestOptions,
) {
    let matched = input.matched;
    if matched.is_empty() {
        return;
    }
    let p = pattern(
        matched
            .iter()
            .flat_map(|m| [m.real.entry_time, m.real.exit_time]),
    );
    let header = [
        "#",
        "Side",
        "Entry time",
        "Entry (backtest)",
        "Entry (real)",
        "Entry slip bps",
        "Exit time (real)",
        "Exit (backtest)",
        "Exit (real)",
        "Exit slip bps",
        "P&L (backtest)",
        "P&L (real)",
        "Gap",
    ]
    .map(String::from)
    .to_vec();
    let table = Table::elided(
        header,
        matched.len(),
        opts.table_head,
        opts.table_tail,
        |i| {
            let (b, r) = (&matched[i].backtest, &matched[i].real);
            vec![
                (i + 1).to_string(),
                r.side.to_string(),
                date_text(r.entry_time, p),
                trim_num(b.entry_price, 6),
                trim_num(r.entry_price, 6),
                bps_text(slips[i].0),
                date_text(r.exit_time, p),
                trim_num(b.exit_price, 6),
                trim_num(r.exit_price, 6),
                bps_text(slips[i].1),
                format!("{:.2}", b.pnl),
                format!("{:.2}", r.pnl),
                format!("{:+.2}", r.pnl - b.pnl),
            ]
        },
    )
    .numeric(&[0, 3, 4, 5, 7, 8, 9, 10, 11, 12]);
    let caption = if table.len() < matched.len() {
        format!(
            "{} matched trades; the first {} and the last {} are listed.",
            group_thousands(matched.len()),
            opts.table_head,
            opts.table_tail
        )
    } else {
        format!("{} matched trades.", group_thousands(matched.len()))
    };
    doc.section("Matched trades")
        .caption(caption)
        .push(Block::Table(table));
}

fn unmatched_section(
    doc: &mut Document,
    heading: &str,
    trades: &[TradeRecord],
    opts: &BacktestOptions,
) {
    if trades.is_empty() {
        return;
    }
    let p = pattern(trades.iter().flat_map(|t| [t.entry_time, t.exit_time]));
    let header = [
        "#",
        "Side",
        "Entry time",
        "Exit time",
        "Entry price",
        "Exit price",
        "Size",
        "P&L",
        "Exit reason",
    ]
    .map(String::from)
    .to_vec();
    let table = Table::elided(
        header,
        trades.len(),
        opts.table_head,
        opts.table_tail,
        |i| {
            let t = &trades[i];
            vec![
                (i + 1).to_string(),
                t.side.to_string(),
                date_text(t.entry_time, p),
                date_text(t.exit_time, p),
                trim_num(t.entry_price, 6),
                trim_num(t.exit_price, 6),
                trim_num(t.size, 8),
                format!("{:.2}", t.pnl),
                t.exit_reason.to_string(),
            ]
        },
    )
    .numeric(&[0, 4, 5, 6, 7]);
    doc.section(heading)
        .caption(format!(
            "{} trades without a counterpart (the signal part of the gap).",
            group_thousands(trades.len())
        ))
        .push(Block::Table(table));
}
