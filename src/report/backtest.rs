//! The backtest report, from plain series, the run's [`Metrics`] and its [`TradeRecord`]s (the record
//! `backtest --json` and the trade files write): headline cards and a one-paragraph verdict, every metric
//! of the field table, equity (peak, final value, maximum drawdown span, buy-and-hold), underwater curve
//! with the deepest drawdowns, price with entries and exits, per-trade returns over time, monthly
//! returns, the distribution of trade returns, the largest losses and the trade table (first and last
//! rows).
//!
//! Series of any length are drawn downsampled (min/max per pixel column), and trade markers are thinned
//! to the best and worst trade per few pixels when there are too many to see; tables keep exact values.

use super::html::{Block, Document, Table, group_thousands};
use super::scale::{
    DAY, Fmt, date_text, extremes_per_band, finite_range, month_of, month_start_ms, pad_range,
    thin_scatter, time_pattern, trim_num,
};
use super::stats::{cell, headline, metric_stats};
use super::svg::{
    self, BLUE, Chart, GREEN, GREY, INK, Marker, ORANGE, PURPLE, Shape, Swatch, VERMILLION, XKind,
    YearRow,
};
use crate::error::{Error, Result};
use crate::metrics::Metrics;
use crate::trade::{ExitReason, Side, TradeRecord};

/// Everything a backtest report shows. `ts`, `close`, `equity` (and `buy_hold`) are per bar, equally
/// long, `ts` ascending (UTC milliseconds).
#[derive(Debug, Clone, Copy)]
pub struct BacktestInput<'a> {
    /// Page title, e.g. `sma_cross on GOOG 1d`.
    pub title: &'a str,
    /// Line under the title, e.g. parameters and period.
    pub subtitle: &'a str,
    /// Every metric of the run: the headline cards, the verdict and the metrics table read it through
    /// the field table.
    pub metrics: &'a Metrics,
    /// Bar times.
    pub ts: &'a [i64],
    /// Close prices.
    pub close: &'a [f64],
    /// Account equity after each bar.
    pub equity: &'a [f64],
    /// Closed trades (times in `entry_time`/`exit_time`; bar indices are not used).
    pub trades: &'a [TradeRecord],
    /// Equity of buying and holding with the same starting cash (see [`buy_and_hold`]).
    pub buy_hold: Option<&'a [f64]>,
    /// Remarks shown under the summary, e.g. a position still open at the end or changed data.
    pub notes: &'a [String],
}

/// Layout choices.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BacktestOptions {
    /// Chart width in CSS pixels.
    pub width: f64,
    /// Trade table: rows shown from the start.
    pub table_head: usize,
    /// Trade table: rows shown from the end.
    pub table_tail: usize,
    /// Up to this many trades get markers / dots each; beyond it they are thinned.
    pub max_marked_trades: usize,
}

impl Default for BacktestOptions {
    fn default() -> BacktestOptions {
        BacktestOptions {
            width: svg::WIDTH,
            table_head: 25,
            table_tail: 25,
            max_marked_trades: 400,
        }
    }
}

/// The report as one self-contained HTML page. Mismatched lengths or unsorted times are an error
/// naming the series; empty inputs give a page with "no data" / "no trades" notices.
pub fn backtest_report(input: &BacktestInput, opts: &BacktestOptions) -> Result<String> {
    Ok(backtest_document(input, opts)?.render())
}

/// The report as a [`Document`] (sections can be inspected or extended before rendering).
pub fn backtest_document(input: &BacktestInput, opts: &BacktestOptions) -> Result<Document> {
    validate(input)?;
    let mut doc = Document::new(input.title, Some(input.subtitle.to_string()));
    summary_section(&mut doc, input.metrics, input.notes);
    if input.ts.is_empty() {
        doc.section("Equity").push(Block::Notice(
            "No data: the backtest covered no bars.".into(),
        ));
        return Ok(doc);
    }
    let (ts, equity, trades) = (input.ts, input.equity, input.trades);
    equity_section(&mut doc, ts, equity, input.buy_hold, opts.width);
    underwater_section(&mut doc, ts, equity, opts.width);
    price_section(&mut doc, input, opts);
    if trades.is_empty() {
        monthly_section(&mut doc, ts, equity, opts.width);
        doc.section("Trades").push(Block::Notice(NO_TRADES.into()));
        return Ok(doc);
    }
    scatter_section(&mut doc, ts, trades, opts);
    monthly_section(&mut doc, ts, equity, opts.width);
    distribution_section(&mut doc, trades, opts.width);
    trades_section(&mut doc, ts, trades, opts);
    Ok(doc)
}

/// The notice in place of the trade sections when there is no closed trade.
pub const NO_TRADES: &str = "No trades: the strategy never entered a position in this period.";

/// Headline cards, the verdict in words, the notes, and every metric of the field table.
fn summary_section(doc: &mut Document, m: &Metrics, notes: &[String]) {
    let s = doc.section("Summary");
    s.push(Block::Cards(headline(m)))
        .push(Block::Text(verdict_text(m)));
    for n in notes {
        s.push(Block::Notice(n.clone()));
    }
    s.push(Block::Metrics(metric_stats(m)));
}

/// Does it work, in one paragraph: return against buy & hold, risk, and the trades — each number as
/// the metrics table shows it.
pub fn verdict_text(m: &Metrics) -> String {
    let c = |k: &str| cell(m, k);
    let mut s = format!(
        "From {} to {} ({}) the strategy returned {}% (CAGR {}%) where buying and holding returned {}%",
        c("start_ts"),
        c("end_ts"),
        c("duration_days"),
        c("return_pct"),
        c("cagr_pct"),
        c("buy_hold_return_pct"),
    );
    let gap = m.return_pct - m.buy_hold_return_pct;
    if gap.is_finite() {
        let side = if gap >= 0.0 { "ahead of" } else { "behind" };
        s.push_str(&format!(
            ": {:.2} percentage points {side} buy & hold",
            gap.abs()
        ));
    }
    s.push_str(&format!(
        ". Sharpe ratio {}; the deepest drawdown was {}% and the longest lasted {}. ",
        c("sharpe"),
        c("max_drawdown_pct"),
        c("max_drawdown_duration_days"),
    ));
    if m.num_trades == 0 {
        s.push_str("No trade was closed.");
    } else {
        s.push_str(&format!(
            "{} closed trades, {}% of them winners, profit factor {}, worst trade {}%.",
            c("num_trades"),
            c("win_rate_pct"),
            c("profit_factor"),
            c("worst_trade_pct"),
        ));
    }
    s
}

fn validate(input: &BacktestInput) -> Result<()> {
    let n = input.ts.len();
    let check = |name: &str, len: usize| {
        if len == n {
            Ok(())
        } else {
            Err(Error::invalid(format!(
                "report: {name} has {len} values but ts has {n}"
            )))
        }
    };
    check("close", input.close.len())?;
    check("equity", input.equity.len())?;
    if let Some(b) = input.buy_hold {
        check("buy_hold", b.len())?;
    }
    if let Some(i) = (1..n).find(|&i| input.ts[i] < input.ts[i - 1]) {
        return Err(Error::invalid(format!(
            "report: ts is not ascending at index {i} ({} after {})",
            input.ts[i],
            input.ts[i - 1]
        )));
    }
    Ok(())
}

/// Equity of holding `start_equity` in cash until bar `start` (at most the last bar), then putting it
/// into the asset at the first finite positive close from there and holding it. With `start` the
/// strategy's warm-up bar, the curve ends at `start_equity × (1 + Buy & Hold Return [%] / 100)` (the
/// metric's definition, which also clamps the warm-up bar to the last bar).
pub fn buy_and_hold(close: &[f64], start: usize, start_equity: f64) -> Vec<f64> {
    let start = start.min(close.len().saturating_sub(1));
    let first = close[start..]
        .iter()
        .copied()
        .find(|c| c.is_finite() && *c > 0.0)
        .unwrap_or(f64::NAN);
    let mut out = vec![start_equity; start];
    out.extend(close[start..].iter().map(|c| c / first * start_equity));
    out
}

/// Percent below the running peak at each bar (0 at a new high, negative below it).
pub fn drawdown_pct(equity: &[f64]) -> Vec<f64> {
    let mut peak = f64::NEG_INFINITY;
    equity
        .iter()
        .map(|&e| {
            if e > peak {
                peak = e;
            }
            if e.is_finite() && peak > 0.0 {
                (e / peak - 1.0) * 100.0
            } else {
                f64::NAN
            }
        })
        .collect()
}

/// The deepest drawdown: where its peak and trough are, and when (if ever) equity regained the peak.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MaxDrawdown {
    /// Bar of the peak before the trough.
    pub peak: usize,
    /// Bar of the trough.
    pub trough: usize,
    /// First bar after the trough back at or above the peak.
    pub recovery: Option<usize>,
    /// Depth in percent (negative).
    pub depth_pct: f64,
}

/// The deepest drawdown of `equity`, or None when equity never falls below a previous high.
pub fn max_drawdown(equity: &[f64]) -> Option<MaxDrawdown> {
    let (mut peak, mut peak_i) = (f64::NEG_INFINITY, 0);
    let mut best: Option<MaxDrawdown> = None;
    for (i, &e) in equity.iter().enumerate() {
        if !e.is_finite() {
            continue;
        }
        if e > peak {
            (peak, peak_i) = (e, i);
            continue;
        }
        let dd = if peak > 0.0 {
            (e / peak - 1.0) * 100.0
        } else {
            0.0
        };
        if dd < best.map_or(0.0, |b| b.depth_pct) {
            best = Some(MaxDrawdown {
                peak: peak_i,
                trough: i,
                recovery: None,
                depth_pct: dd,
            });
        }
    }
    best.map(|mut b| {
        let target = equity[b.peak];
        b.recovery = (b.trough + 1..equity.len()).find(|&j| equity[j] >= target);
        b
    })
}

/// Monthly returns (percent, UTC calendar months) from equity at each month's last bar: the first
/// month is measured from the first equity value, a month without bars is non-finite, and each year's
/// total compounds its months (= year-end equity over the previous year-end, or the start).
pub fn monthly_table(ts: &[i64], equity: &[f64]) -> Vec<YearRow> {
    let Some(first) = (0..ts.len().min(equity.len())).find(|&i| equity[i].is_finite()) else {
        return Vec::new();
    };
    let mut rows: Vec<YearRow> = Vec::new();
    let (mut base, mut last) = (equity[first], equity[first]);
    let Some(mut month) = month_of(ts[first]) else {
        return Vec::new();
    };
    let mut next = month_start_ms(month + 1).unwrap_or(i64::MAX);
    for i in first..ts.len().min(equity.len()) {
        if ts[i] >= next {
            record(&mut rows, month, ratio_pct(last, base));
            base = last;
            month = month_of(ts[i]).unwrap_or(month + 1);
            next = month_start_ms(month + 1).unwrap_or(i64::MAX);
        }
        if equity[i].is_finite() {
            last = equity[i];
        }
    }
    record(&mut rows, month, ratio_pct(last, base));
    for r in &mut rows {
        let growth: f64 = r
            .months
            .iter()
            .filter(|m| m.is_finite())
            .map(|m| 1.0 + m / 100.0)
            .product();
        r.total = (growth - 1.0) * 100.0;
    }
    rows
}

fn ratio_pct(now: f64, base: f64) -> f64 {
    if base > 0.0 {
        (now / base - 1.0) * 100.0
    } else {
        f64::NAN
    }
}

fn record(rows: &mut Vec<YearRow>, month: i32, pct: f64) {
    let year = month.div_euclid(12);
    if rows.last().map(|r| r.year) != Some(year) {
        rows.push(YearRow {
            year,
            months: [f64::NAN; 12],
            total: f64::NAN,
        });
    }
    if let Some(r) = rows.last_mut() {
        r.months[month.rem_euclid(12) as usize] = pct;
    }
}

fn time_dom(ts: &[i64]) -> (f64, f64) {
    let (a, b) = (ts[0] as f64, ts[ts.len() - 1] as f64);
    if b > a {
        (a, b)
    } else {
        (a - DAY as f64, b + DAY as f64)
    }
}

fn fmt_money(v: f64) -> String {
    let s = format!("{:.2}", v.abs());
    let (int, frac) = s.split_once('.').unwrap_or((&s, "00"));
    let int = int
        .parse::<usize>()
        .map_or(int.to_string(), group_thousands);
    format!("{}{int}.{frac}", if v < 0.0 { "-" } else { "" })
}

/// The equity chart of `eq` over `ts` (non-empty) with the buy-and-hold curve when given.
pub(super) fn equity_section(
    doc: &mut Document,
    ts: &[i64],
    eq: &[f64],
    buy_hold: Option<&[f64]>,
    width: f64,
) {
    let pattern = table_pattern(ts);
    let mut range = finite_range(eq).unwrap_or((0.0, 1.0));
    if let Some((lo, hi)) = buy_hold.and_then(finite_range) {
        range = (range.0.min(lo), range.1.max(hi));
    }
    let y_dom = pad_range(range.0, range.1, 0.06);
    let mut c = Chart::new(
        "equity curve",
        (width, 340.0),
        time_dom(ts),
        XKind::Time,
        y_dom,
        Fmt::Num,
    );
    let dd = max_drawdown(eq);
    if let Some(d) = dd {
        let end = d.recovery.unwrap_or(ts.len() - 1);
        let title = format!(
            "max drawdown {:.2}%: peak {} → trough {}, {}",
            d.depth_pct,
            date_text(ts[d.peak], pattern),
            date_text(ts[d.trough], pattern),
            match d.recovery {
                Some(r) => format!("recovered {}", date_text(ts[r], pattern)),
                None => "not recovered by the end".into(),
            }
        );
        c.vband(ts[d.peak] as f64, ts[end] as f64, ORANGE, 0.16, &title);
        c.legend(ORANGE, "max drawdown span", Swatch::Box);
    }
    if let Some(bh) = buy_hold {
        c.line(ts, bh, GREY, 1.5, false);
        c.legend(GREY, "buy & hold", Swatch::Line);
    }
    c.line(ts, eq, BLUE, 2.0, false);
    c.legend(BLUE, "strategy", Swatch::Line);
    annotate_equity(&mut c, ts, eq, dd);
    let caption = match dd {
        Some(d) => format!(
            "Account equity per bar. The shaded span runs from the peak before the deepest drawdown ({:.2}%) to its recovery{}.",
            d.depth_pct,
            if d.recovery.is_some() {
                ""
            } else {
                " (not recovered by the end)"
            }
        ),
        None => "Account equity per bar; it never fell below a previous high.".into(),
    };
    doc.section("Equity")
        .caption(caption)
        .push(Block::Svg(c.finish()));
}

fn annotate_equity(c: &mut Chart, ts: &[i64], eq: &[f64], dd: Option<MaxDrawdown>) {
    let Some(last) = (0..eq.len()).rev().find(|&i| eq[i].is_finite()) else {
        return;
    };
    let peak = (0..eq.len())
        .filter(|&i| eq[i].is_finite())
        .fold(last, |b, i| if eq[i] > eq[b] { i } else { b });
    let x = c.x_scale();
    let near = (x.map(ts[peak] as f64) - x.map(ts[last] as f64)).abs() < 160.0;
    let (peak_text, final_text) = (fmt_money(eq[peak]), fmt_money(eq[last]));
    if peak == last {
        c.annotate(
            ts[last] as f64,
            eq[last],
            BLUE,
            &format!("peak and final {final_text}"),
            true,
        );
    } else if near {
        // two labels this close would collide: one label, the peak as a dot with its own title
        c.dot(
            ts[peak] as f64,
            eq[peak],
            BLUE,
            &format!("peak {peak_text}"),
        );
        c.annotate(
            ts[last] as f64,
            eq[last],
            BLUE,
            &format!("final {final_text} (peak {peak_text})"),
            true,
        );
    } else {
        c.annotate(
            ts[peak] as f64,
            eq[peak],
            BLUE,
            &format!("peak {peak_text}"),
            true,
        );
        c.annotate(
            ts[last] as f64,
            eq[last],
            BLUE,
            &format!("final {final_text}"),
            true,
        );
    }
    if let Some(d) = dd {
        c.annotate(
            ts[d.trough] as f64,
            eq[d.trough],
            VERMILLION,
            &format!("max drawdown {:.1}%", d.depth_pct),
            false,
        );
    }
}

/// The underwater chart of `equity` over `ts` (non-empty) and its deepest drawdowns as a table.
pub(super) fn underwater_section(doc: &mut Document, ts: &[i64], equity: &[f64], width: f64) {
    let dd = drawdown_pct(equity);
    let low = finite_range(&dd).map_or(-1.0, |r| r.0).min(-1.0); // flat equity: a 0 … −1 % axis
    let mut c = Chart::new(
        "underwater chart: drawdown from the running peak",
        (width, 200.0),
        time_dom(ts),
        XKind::Time,
        (low * 1.12, 0.0),
        Fmt::Pct,
    );
    c.area(ts, &dd, 0.0, ORANGE, 0.45);
    c.line(ts, &dd, VERMILLION, 1.0, false);
    if let Some(m) = max_drawdown(equity) {
        c.annotate(
            ts[m.trough] as f64,
            dd[m.trough],
            VERMILLION,
            &format!("{:.2}%", m.depth_pct),
            false,
        );
    }
    let s = doc
        .section("Drawdown")
        .caption("How far equity is below its running peak, in percent (underwater chart), and the deepest drawdowns: where the strategy lost.")
        .push(Block::Svg(c.finish()));
    let worst = deepest_drawdowns(equity, DRAWDOWN_ROWS);
    if !worst.is_empty() {
        s.push(Block::Table(drawdown_table(ts, &worst)));
    }
}

/// Rows of the deepest-drawdowns table.
pub const DRAWDOWN_ROWS: usize = 5;

/// Every drawdown period of `equity` — from a peak to the first bar back at or above it (or the end
/// of the data) — with its trough, deepest first (earlier first on ties), at most `limit` of them.
pub fn deepest_drawdowns(equity: &[f64], limit: usize) -> Vec<MaxDrawdown> {
    let mut out = Vec::new();
    let mut current: Option<MaxDrawdown> = None;
    let (mut peak, mut peak_i) = (f64::NEG_INFINITY, 0);
    for (i, &e) in equity.iter().enumerate() {
        if !e.is_finite() {
            continue;
        }
        if e >= peak {
            if let Some(mut d) = current.take() {
                d.recovery = Some(i);
                out.push(d);
            }
            (peak, peak_i) = (e, i);
            continue;
        }
        let depth = ratio_pct(e, peak);
        match &mut current {
            Some(d) if depth < d.depth_pct => (d.trough, d.depth_pct) = (i, depth),
            Some(_) => {}
            None if depth < 0.0 => {
                current = Some(MaxDrawdown {
                    peak: peak_i,
                    trough: i,
                    recovery: None,
                    depth_pct: depth,
                });
            }
            None => {}
        }
    }
    out.extend(current);
    out.sort_by(|a, b| {
        a.depth_pct
            .total_cmp(&b.depth_pct)
            .then(a.peak.cmp(&b.peak))
    });
    out.truncate(limit);
    out
}

fn days_between(ts: &[i64], a: usize, b: usize) -> String {
    trim_num((ts[b] - ts[a]) as f64 / DAY as f64, 2)
}

fn drawdown_table(ts: &[i64], worst: &[MaxDrawdown]) -> Table {
    let pattern = table_pattern(ts);
    let header = [
        "#",
        "Peak",
        "Trough",
        "Recovered",
        "Depth %",
        "Days down",
        "Days to recover",
    ]
    .map(String::from)
    .to_vec();
    let mut t = Table::new(header).numeric(&[0, 4, 5, 6]);
    for (i, d) in worst.iter().enumerate() {
        t.push(vec![
            (i + 1).to_string(),
            date_text(ts[d.peak], pattern),
            date_text(ts[d.trough], pattern),
            d.recovery
                .map_or("not by the end".into(), |r| date_text(ts[r], pattern)),
            format!("{:.2}", d.depth_pct),
            days_between(ts, d.peak, d.trough),
            d.recovery
                .map_or(String::new(), |r| days_between(ts, d.trough, r)),
        ]);
    }
    t
}

/// Which trades to mark: all when few, else the best and worst (by `key`) per `band_px` of `x_of`.
fn pick_trades(
    trades: &[TradeRecord],
    limit: usize,
    band_px: f64,
    x_px: impl Fn(&TradeRecord) -> f64,
    key: impl Fn(&TradeRecord) -> f64,
) -> Vec<usize> {
    if trades.len() <= limit {
        return (0..trades.len()).collect();
    }
    let px: Vec<f64> = trades.iter().map(&x_px).collect();
    let ys: Vec<f64> = trades.iter().map(&key).collect();
    extremes_per_band(&px, &ys, band_px)
}

fn exit_colour(reason: ExitReason) -> &'static str {
    match reason {
        ExitReason::Signal => GREY,
        ExitReason::Stop => VERMILLION,
        ExitReason::Target => GREEN,
        ExitReason::EndOfData => PURPLE,
        ExitReason::OutOfMoney => INK,
    }
}

fn side(t: &TradeRecord) -> &'static str {
    t.side.as_str()
}

fn is_long(t: &TradeRecord) -> bool {
    t.side == Side::Long
}

fn price_section(doc: &mut Document, input: &BacktestInput, opts: &BacktestOptions) {
    let (ts, trades) = (input.ts, input.trades);
    let pattern = table_pattern(ts);
    let mut range = finite_range(input.close).unwrap_or((0.0, 1.0));
    for t in trades {
        for p in [t.entry_price, t.exit_price]
            .into_iter()
            .filter(|p| p.is_finite())
        {
            range = (range.0.min(p), range.1.max(p));
        }
    }
    let mut c = Chart::new(
        "close price with trade entries and exits",
        (opts.width, 360.0),
        time_dom(ts),
        XKind::Time,
        pad_range(range.0, range.1, 0.05),
        Fmt::Num,
    );
    c.line(ts, input.close, INK, 1.2, false);
    let x = c.x_scale();
    let picked = pick_trades(
        trades,
        opts.max_marked_trades,
        4.0,
        |t| x.map(t.exit_time as f64),
        |t| t.pnl,
    );
    c.markers(&trade_marks(trades, &picked, pattern));
    trade_legend(&mut c, trades, &picked);
    let mut caption = "Close price; triangles mark entries (up = long, down = short), dots mark exits coloured by exit reason. Hover a marker for its trade.".to_string();
    if picked.len() < trades.len() {
        caption.push_str(&format!(
            " {} trades are too many to mark each: shown are the {} with the largest gain or loss in each 4-pixel band.",
            group_thousands(trades.len()),
            group_thousands(picked.len())
        ));
    }
    doc.section("Price and trades")
        .caption(caption)
        .push(Block::Svg(c.finish()));
}

/// An entry triangle and an exit dot for each picked trade, titled with its numbers.
fn trade_marks(trades: &[TradeRecord], picked: &[usize], pattern: &str) -> Vec<Marker> {
    let mut marks = Vec::with_capacity(picked.len() * 2);
    for &i in picked {
        let t = &trades[i];
        let (shape, fill) = if is_long(t) {
            (Shape::Up, BLUE)
        } else {
            (Shape::Down, ORANGE)
        };
        let (entry, exit) = (
            date_text(t.entry_time, pattern),
            date_text(t.exit_time, pattern),
        );
        marks.push(Marker {
            x: t.entry_time as f64,
            y: t.entry_price,
            shape,
            fill,
            title: format!(
                "#{} {} entry {entry} at {}",
                i + 1,
                side(t),
                price(t.entry_price)
            ),
        });
        marks.push(Marker {
            x: t.exit_time as f64,
            y: t.exit_price,
            shape: Shape::Dot,
            fill: exit_colour(t.exit_reason),
            title: format!(
                "#{} {} exit ({}) {exit} at {}: P&L {} ({:+.2}%)",
                i + 1,
                side(t),
                t.exit_reason,
                price(t.exit_price),
                fmt_money(t.pnl),
                t.return_pct
            ),
        });
    }
    marks
}

/// Legend of the price chart: the sides present and the exit reasons of the marked trades.
fn trade_legend(c: &mut Chart, trades: &[TradeRecord], picked: &[usize]) {
    c.legend(INK, "close", Swatch::Line);
    if trades.iter().any(is_long) {
        c.legend(BLUE, "long entry", Swatch::Up);
    }
    if trades.iter().any(|t| !is_long(t)) {
        c.legend(ORANGE, "short entry", Swatch::Down);
    }
    let mut reasons: Vec<ExitReason> = picked.iter().map(|&i| trades[i].exit_reason).collect();
    reasons.sort_unstable_by_key(|r| r.as_str());
    reasons.dedup();
    for r in reasons {
        c.legend(exit_colour(r), &format!("exit: {r}"), Swatch::Dot);
    }
}

fn price(p: f64) -> String {
    trim_num(p, 6)
}

/// Each trade's return at its exit time.
pub(super) fn scatter_section(
    doc: &mut Document,
    ts: &[i64],
    trades: &[TradeRecord],
    opts: &BacktestOptions,
) {
    let pattern = table_pattern(ts);
    let rets: Vec<f64> = trades.iter().map(|t| t.return_pct).collect();
    let (lo, hi) = finite_range(&rets).unwrap_or((-1.0, 1.0));
    let y_dom = pad_range(lo.min(0.0), hi.max(0.0), 0.08);
    let (mut x0, mut x1) = time_dom(ts);
    for t in trades {
        x0 = x0.min(t.exit_time as f64);
        x1 = x1.max(t.exit_time as f64);
    }
    let mut c = Chart::new(
        "return of each trade at its exit time",
        (opts.width, 260.0),
        (x0, x1),
        XKind::Time,
        y_dom,
        Fmt::Pct,
    );
    c.hline(0.0, INK, false);
    let (x, y) = (c.x_scale(), c.y_scale());
    let picked = if trades.len() <= opts.max_marked_trades.max(1) * 3 {
        (0..trades.len()).collect()
    } else {
        let px: Vec<f64> = trades.iter().map(|t| x.map(t.exit_time as f64)).collect();
        let py: Vec<f64> = trades.iter().map(|t| y.map(t.return_pct)).collect();
        thin_scatter(&px, &py, 6.0)
    };
    c.markers(&scatter_marks(trades, &picked, pattern));
    c.legend(BLUE, "long", Swatch::Dot);
    c.legend(ORANGE, "short", Swatch::Dot);
    let mut caption = "Net return of each trade (percent) at its exit time.".to_string();
    if picked.len() < trades.len() {
        caption.push_str(&format!(
            " Showing {} of {} trades: one per 6-pixel cell (the rest would be hidden under it), and the best and worst in each 6-pixel band.",
            group_thousands(picked.len()),
            group_thousands(trades.len())
        ));
    }
    doc.section("Trade returns over time")
        .caption(caption)
        .push(Block::Svg(c.finish()));
}

/// A dot per picked trade at (exit time, return), blue for long and orange for short.
fn scatter_marks(trades: &[TradeRecord], picked: &[usize], pattern: &str) -> Vec<Marker> {
    picked
        .iter()
        .filter(|&&i| trades[i].return_pct.is_finite())
        .map(|&i| {
            let t = &trades[i];
            Marker {
                x: t.exit_time as f64,
                y: t.return_pct,
                shape: Shape::Dot,
                fill: if is_long(t) { BLUE } else { ORANGE },
                title: format!(
                    "#{} {} exit {}: {:+.2}% (P&L {})",
                    i + 1,
                    side(t),
                    date_text(t.exit_time, pattern),
                    t.return_pct,
                    fmt_money(t.pnl)
                ),
            }
        })
        .collect()
}

/// Monthly returns of `equity` over `ts` (years × months, yearly totals).
pub(super) fn monthly_section(doc: &mut Document, ts: &[i64], equity: &[f64], width: f64) {
    let rows = monthly_table(ts, equity);
    let s = doc.section("Monthly returns");
    if rows.is_empty() {
        s.push(Block::Notice("No data: equity has no finite value.".into()));
        return;
    }
    s.caption("Return of each calendar month (UTC) in percent, from equity at the month's last bar; the first month starts from the first bar. Year compounds its months.")
        .push(Block::Svg(svg::monthly_returns(&rows, width.min(900.0))));
}

/// The histogram of trade returns.
pub(super) fn distribution_section(doc: &mut Document, trades: &[TradeRecord], width: f64) {
    let rets: Vec<f64> = trades.iter().map(|t| t.return_pct).collect();
    let chart = svg::histogram(
        &rets,
        Fmt::Pct,
        "histogram of trade returns",
        (width.min(760.0), 240.0),
    );
    doc.section("Distribution of trade returns")
        .caption("Number of trades per band of net return (percent).")
        .push(Block::Svg(chart));
}

fn table_pattern(ts: &[i64]) -> &'static str {
    time_pattern(ts.iter().all(|t| t.rem_euclid(DAY) == 0))
}

/// Columns of the trade tables.
const TRADE_HEADER: [&str; 10] = [
    "#",
    "Side",
    "Entry time",
    "Exit time",
    "Entry price",
    "Exit price",
    "Size",
    "P&L",
    "Return %",
    "Exit reason",
];

/// Rows of the largest-losses table.
pub const LOSS_ROWS: usize = 5;

fn trade_row(i: usize, t: &TradeRecord, pattern: &str) -> Vec<String> {
    vec![
        (i + 1).to_string(),
        side(t).to_string(),
        date_text(t.entry_time, pattern),
        date_text(t.exit_time, pattern),
        price(t.entry_price),
        price(t.exit_price),
        trim_num(t.size, 8),
        format!("{:.2}", t.pnl),
        format!("{:.2}", t.return_pct),
        t.exit_reason.to_string(),
    ]
}

/// The largest losses (when a trade lost) and the trade table (first and last rows).
pub(super) fn trades_section(
    doc: &mut Document,
    ts: &[i64],
    trades: &[TradeRecord],
    opts: &BacktestOptions,
) {
    let pattern = table_pattern(ts);
    let header = || TRADE_HEADER.map(String::from).to_vec();
    let numeric = [0, 4, 5, 6, 7, 8];
    let losses = largest_losses(trades, LOSS_ROWS);
    if !losses.is_empty() {
        let mut t = Table::new(header()).numeric(&numeric);
        for &i in &losses {
            t.push(trade_row(i, &trades[i], pattern));
        }
        doc.section("Largest losses")
            .caption("The losing trades with the largest net loss, worst first; # is the trade's number in the table below.")
            .push(Block::Table(t));
    }
    let table = Table::elided(
        header(),
        trades.len(),
        opts.table_head,
        opts.table_tail,
        |i| trade_row(i, &trades[i], pattern),
    )
    .numeric(&numeric);
    let caption = if table.len() < trades.len() {
        format!(
            "{} closed trades; the first {} and the last {} are listed.",
            group_thousands(trades.len()),
            opts.table_head,
            opts.table_tail
        )
    } else {
        format!("{} closed trades.", group_thousands(trades.len()))
    };
    doc.section("Trades")
        .caption(caption)
        .push(Block::Table(table));
}

/// Indices of the trades with a negative P&L, largest loss first (earlier first on ties), at most
/// `limit`.
pub fn largest_losses(trades: &[TradeRecord], limit: usize) -> Vec<usize> {
    let mut losers: Vec<usize> = (0..trades.len()).filter(|&i| trades[i].pnl < 0.0).collect();
    losers.sort_by(|&a, &b| trades[a].pnl.total_cmp(&trades[b].pnl).then(a.cmp(&b)));
    losers.truncate(limit);
    losers
}
