//! Tests of the report module: a strict HTML parser (well-formedness beyond what browsers forgive)
//! used to check structure, exact metrics, escaping and self-containment; the downsampler on a
//! 1,000,000-point series; size bounds; the pure helpers (ticks, bins, drawdown, monthly returns,
//! colour scale, stability verdict) against values worked out by hand.

use super::backtest::{BacktestInput, BacktestOptions, backtest_document, backtest_report};
use super::backtest::{drawdown_pct, max_drawdown, monthly_table};
use super::html::{Stat, Table, escape};
use super::optimize::{
    Candidate, HeatMode, OptimizeInput, OptimizeOptions, ParamAxis, StabilityKind, cell_labels,
    heat_values, optimize_report, verdict,
};
use super::scale::{
    BREAK, ColourScale, Fmt, Linear, Rgb, minmax_columns, tick_label, time_ticks, value_ticks,
};
use super::svg::{Chart, XKind, bin};
use super::testdata::{Synthetic, synthetic};
use super::{buy_and_hold, check_self_contained};
use crate::metrics::Metrics;
use crate::metrics::fields::{FIELDS, Text};

use super::strict::{El, parse_strict};

const DAY: i64 = 86_400_000;

#[test]
fn the_strict_parser_rejects_what_it_should() {
    for bad in [
        "<!DOCTYPE html>\n<p>a<b>c</p></b>",
        "<!DOCTYPE html>\n<p>a",
        "<!DOCTYPE html>\n<p class=x>a</p>",
        "<!DOCTYPE html>\n<p>a & b</p>",
        "<!DOCTYPE html>\n<p>a > b</p>",
        "<!DOCTYPE html>\n<p a=\"1\" a=\"2\">x</p>",
        "<!DOCTYPE html>\n<div/>",
        "<p>no doctype</p>",
    ] {
        assert!(parse_strict(bad).is_err(), "accepted: {bad}");
    }
    let ok = parse_strict(
        "<!DOCTYPE html>\n<p title=\"a &amp; b\">x &lt; y<br></p><svg><path d=\"M0 0\"/></svg>",
    )
    .unwrap();
    assert_eq!(ok.all("p")[0].attr("title"), Some("a & b"));
    assert_eq!(ok.all("p")[0].text(), "x < y");
}

// ---------------------------------------------------------------------------------------------
// Backtest report structure, metrics, escaping, self-containment.

/// The metrics of an empty run (no bars: every real is NaN, every count 0) with a few set by hand.
fn metrics() -> Metrics {
    let mut m = crate::metrics::compute(
        &crate::candles::Candles::default(),
        &crate::engine::RunResult::default(),
    );
    m.start_ts = 1_092_873_600_000; // 2004-08-19T00:00:00Z
    m.duration_days = 3116.0;
    m.return_pct = 718.1237;
    m.sharpe = 0.715_702_895_129_024;
    m.max_drawdown_pct = -32.793_661_564_918_95;
    m.equity_final = 81_812.374;
    m.num_trades = 93;
    m
}

fn input<'a>(d: &'a Synthetic, m: &'a Metrics, title: &'a str) -> BacktestInput<'a> {
    BacktestInput {
        title,
        subtitle: "fast=10, slow=20",
        metrics: m,
        ts: &d.ts,
        close: &d.close,
        equity: &d.equity,
        trades: &d.trades,
        buy_hold: None,
        notes: &[],
    }
}

/// The section with this id.
fn section<'a>(root: &'a El, id: &str) -> &'a El {
    root.all("section")
        .into_iter()
        .find(|s| s.attr("id") == Some(id))
        .unwrap_or_else(|| panic!("no section {id}"))
}

fn section_ids(root: &El) -> Vec<String> {
    root.all("section")
        .iter()
        .map(|s| s.attr("id").unwrap_or("").to_string())
        .collect()
}

#[test]
fn backtest_report_is_well_formed_with_every_section() {
    let d = synthetic(2148, 93, DAY, 7);
    let m = metrics();
    let bh = buy_and_hold(&d.close, 0, 10_000.0);
    let mut inp = input(&d, &m, "sma_cross on GOOG 1d");
    inp.buy_hold = Some(&bh);
    let html = backtest_report(&inp, &BacktestOptions::default()).unwrap();
    let root = parse_strict(&html).unwrap();
    assert_eq!(
        section_ids(&root),
        [
            "summary",
            "equity",
            "drawdown",
            "price-and-trades",
            "trade-returns-over-time",
            "monthly-returns",
            "distribution-of-trade-returns",
            "largest-losses",
            "trades"
        ]
    );
    // charts: equity, drawdown, price, scatter, monthly, histogram
    assert_eq!(root.all("svg").len(), 6);
    assert_eq!(root.all("style").len(), 1);
    check_self_contained(&html).unwrap();
    // every marker of the 93 trades has its hover title: 93 entries + 93 exits on the price chart
    let titles: Vec<String> = root.all("title").iter().map(|t| t.text()).collect();
    assert_eq!(titles.iter().filter(|t| t.contains(" entry ")).count(), 93);
    assert_eq!(titles.iter().filter(|t| t.contains(" exit (")).count(), 93);
    // the trade table: 25 + 25 of 93 rows and the omitted line between (93 − 50 = 43)
    let rows = section(&root, "trades").all("tr");
    assert_eq!(rows.len(), 1 + 25 + 1 + 25);
    assert_eq!(rows[26].text(), "… 43 rows omitted …");
    assert_eq!(rows[27].all("td")[0].text(), "69");
}

#[test]
fn metrics_come_from_the_field_table() {
    let d = synthetic(500, 10, DAY, 1);
    let m = metrics();
    let html = backtest_report(&input(&d, &m, "t"), &BacktestOptions::default()).unwrap();
    let root = parse_strict(&html).unwrap();
    let kv = root
        .all("table")
        .into_iter()
        .find(|t| t.attr("class") == Some("kv"))
        .unwrap();
    let rows: Vec<(String, String, String)> = kv
        .all("tr")
        .iter()
        .map(|r| {
            let key = r.attr("data-key").unwrap_or("").to_string();
            (key, r.all("th")[0].text(), r.all("td")[0].text())
        })
        .collect();
    // one row per metric the text table shows (all but periods_per_year), keyed and labelled as the
    // field table says, in its order
    let shown: Vec<(&str, &str)> = FIELDS
        .iter()
        .filter(|f| f.text != Text::Hidden)
        .map(|f| (f.key, f.label))
        .collect();
    assert_eq!(rows.len(), 36);
    let got: Vec<(&str, &str)> = rows
        .iter()
        .map(|(k, l, _)| (k.as_str(), l.as_str()))
        .collect();
    assert_eq!(got, shown);
    let value = |k: &str| rows.iter().find(|r| r.0 == k).unwrap().2.clone();
    // the values set above, in the text table's formats: 2 decimals for percent and money, 3 for the
    // Sharpe ratio, "N days", dates as YYYY-MM-DD, counts whole; an empty run's NaN beta shows "—"
    assert_eq!(value("return_pct"), "718.12");
    assert_eq!(value("sharpe"), "0.716");
    assert_eq!(value("max_drawdown_pct"), "-32.79");
    assert_eq!(value("equity_final"), "81812.37");
    assert_eq!(value("duration_days"), "3116 days");
    assert_eq!(value("start_ts"), "2004-08-19");
    assert_eq!(value("num_trades"), "93");
    assert_eq!(value("beta"), "—");
    // the headline cards: the same cells for the same keys
    let cards: Vec<(String, String)> = root
        .all("div")
        .into_iter()
        .filter(|d| d.attr("class") == Some("card"))
        .map(|c| {
            (
                c.attr("data-key").unwrap().to_string(),
                c.all("div")[1].text(),
            )
        })
        .collect();
    assert_eq!(cards.len(), 8);
    for (k, v) in &cards {
        assert_eq!(*v, value(k), "card {k}");
    }
    // the verdict sentence quotes them too
    assert!(html.contains("the strategy returned 718.12%"), "{html}");
}

#[test]
fn text_is_escaped_everywhere() {
    let d = synthetic(300, 4, DAY, 2);
    let title = "<script>alert(\"x\")</script> & 'q'";
    let m = metrics();
    let notes = ["<b>note</b> <img src=x onerror=alert(1)> a\"b'c".to_string()];
    let mut inp = input(&d, &m, title);
    inp.notes = &notes;
    let html = backtest_report(&inp, &BacktestOptions::default()).unwrap();
    assert!(!html.contains("<script"));
    assert!(!html.contains("<img"));
    assert!(!html.contains("<b>"));
    assert!(
        html.contains("&lt;b&gt;note&lt;/b&gt; &lt;img src=x onerror=alert(1)&gt; a&quot;b&#39;c")
    );
    assert!(html.contains("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;q&#39;"));
    check_self_contained(&html).unwrap();
    let root = parse_strict(&html).unwrap();
    assert_eq!(root.all("h1")[0].text(), title);
    assert_eq!(root.all("title")[0].text(), title);
    assert_eq!(escape("<>&\"'"), "&lt;&gt;&amp;&quot;&#39;");
}

#[test]
fn no_trades_and_no_data_get_notices() {
    let d = synthetic(400, 0, DAY, 5);
    let m = metrics();
    let html = backtest_report(&input(&d, &m, "t"), &BacktestOptions::default()).unwrap();
    let root = parse_strict(&html).unwrap();
    let notices: Vec<String> = root
        .all("p")
        .iter()
        .filter(|p| p.attr("class") == Some("notice"))
        .map(|p| p.text())
        .collect();
    assert_eq!(
        notices,
        ["No trades: the strategy never entered a position in this period."]
    );
    assert!(section_ids(&root).contains(&"equity".to_string()));

    let mut empty = input(&d, &m, "t");
    (empty.ts, empty.close, empty.equity) = (&[], &[], &[]);
    let doc = backtest_document(&empty, &BacktestOptions::default()).unwrap();
    let ids: Vec<&str> = doc.sections().iter().map(|s| s.heading.as_str()).collect();
    assert_eq!(ids, ["Summary", "Equity"]);
    let html = doc.render();
    assert!(html.contains("No data: the backtest covered no bars."));
    parse_strict(&html).unwrap();
}

#[test]
fn bad_backtest_input_is_an_error_naming_the_series() {
    let d = synthetic(10, 2, DAY, 5);
    let m = metrics();
    let mut inp = input(&d, &m, "t");
    inp.equity = &d.equity[..9];
    let e = backtest_report(&inp, &BacktestOptions::default()).unwrap_err();
    assert_eq!(e.to_string(), "report: equity has 9 values but ts has 10");
    let mut ts = d.ts.clone();
    ts.swap(3, 4);
    let mut inp = input(&d, &m, "t");
    inp.ts = &ts;
    let e = backtest_report(&inp, &BacktestOptions::default()).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("report: ts is not ascending at index 4"),
        "{e}"
    );
}

#[test]
fn check_self_contained_catches_each_kind_of_reference() {
    let wrap = |body: &str| {
        format!(
            "<!DOCTYPE html>\n<html><head><style>p{{color:red}}</style></head><body>{body}</body></html>"
        )
    };
    for bad in [
        "<script>1</script>",
        "<SCRIPT src=\"a.js\"></SCRIPT>",
        "<img src=\"http://x/a.png\">",
        "<a href='https://x'>x</a>",
        "<svg><image xlink:href=\"//x/a.png\"/></svg>",
        "<img src=file:///etc/a.png>",
        "<div style=\"background:url(http://x/a.png)\">x</div>",
        "<style>p{background:url( 'https://x/a.png')}</style>",
        "<style>@import \"a.css\";</style>",
        "<style>@font-face{font-family:x}</style>",
        "<link rel=\"stylesheet\" href=\"a.css\">",
        "<iframe src=\"a.html\"></iframe>",
    ] {
        assert!(check_self_contained(&wrap(bad)).is_err(), "accepted: {bad}");
    }
    for good in [
        "<p>see url(http://x) and src=&quot;http://y&quot; and @import, &lt;script&gt;</p>",
        "<a href=\"#equity\">x</a>",
        "<svg><path fill=\"url(#g)\" d=\"M0 0\"/></svg>",
        "<img src=\"data:image/png;base64,AAAA\">",
        "<p title=\"a > b\">x</p>",
    ] {
        assert_eq!(check_self_contained(&wrap(good)), Ok(()), "{good}");
    }
}

// ---------------------------------------------------------------------------------------------
// Downsampling and size bounds.

#[test]
fn downsampling_a_million_points_keeps_extremes_and_ends() {
    const N: usize = 1_000_000;
    let xs: Vec<i64> = (0..N as i64).collect();
    let mut ys: Vec<f64> = (0..N).map(|i| (i as f64 / 5000.0).sin() * 10.0).collect();
    ys[123_457] = 50.0; // a one-point peak…
    ys[876_543] = -40.0; // …and a one-point trough, both far from any column edge
    let x = Linear::new((0.0, (N - 1) as f64), (50.0, 1050.0)); // 1000 px
    let keep = minmax_columns(&xs, &ys, &x);
    assert!(!keep.contains(&BREAK));
    for must in [0, N - 1, 123_457, 876_543] {
        assert!(
            keep.binary_search(&must).is_ok(),
            "index {must} was dropped"
        );
    }
    assert!(keep.len() <= 4 * 1001, "{} points kept", keep.len());
    // independently: per pixel column, the kept points reach the column's true min and max
    let mut col_lo = vec![f64::INFINITY; 1001];
    let mut col_hi = vec![f64::NEG_INFINITY; 1001];
    for (i, &y) in ys.iter().enumerate() {
        let c = (x.map(i as f64).floor() - 50.0) as usize;
        col_lo[c] = col_lo[c].min(y);
        col_hi[c] = col_hi[c].max(y);
    }
    let mut kept_lo = vec![f64::INFINITY; 1001];
    let mut kept_hi = vec![f64::NEG_INFINITY; 1001];
    for &i in &keep {
        let c = (x.map(i as f64).floor() - 50.0) as usize;
        kept_lo[c] = kept_lo[c].min(ys[i]);
        kept_hi[c] = kept_hi[c].max(ys[i]);
    }
    assert_eq!(kept_lo, col_lo);
    assert_eq!(kept_hi, col_hi);
    // drawn: the path's highest and lowest pixel are the peak's and the trough's
    let mut c = Chart::new(
        "t",
        (1100.0, 300.0),
        (0.0, (N - 1) as f64),
        XKind::Value(Fmt::Num),
        (-50.0, 60.0),
        Fmt::Num,
    );
    let (peak_px, trough_px) = (c.y_scale().map(50.0), c.y_scale().map(-40.0));
    c.line(&xs, &ys, "#000", 1.0, false);
    let svg = c.finish();
    assert!(svg.len() < 80_000, "{} bytes", svg.len());
    let d = svg
        .split("d=\"M")
        .last()
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    let nums: Vec<f64> = d.split_whitespace().map(|v| v.parse().unwrap()).collect();
    let pys: Vec<f64> = nums.iter().skip(1).step_by(2).copied().collect();
    let min_py = pys.iter().copied().fold(f64::INFINITY, f64::min);
    let max_py = pys.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    assert!(
        (min_py - peak_px).abs() <= 0.05 && (max_py - trough_px).abs() <= 0.05,
        "{min_py} {max_py}"
    );
}

#[test]
fn non_finite_values_break_the_line() {
    let xs = [0.0, 1.0, 2.0, 3.0, 4.0];
    let ys = [1.0, 2.0, f64::NAN, 3.0, 4.0];
    let x = Linear::new((0.0, 4.0), (0.0, 400.0));
    assert_eq!(minmax_columns(&xs, &ys, &x), [0, 1, BREAK, 3, 4]);
}

#[test]
fn report_sizes_stay_bounded() {
    // GOOG-sized: 2148 daily bars, 93 trades → under 300 KB
    let d = synthetic(2148, 93, DAY, 11);
    let m = metrics();
    let bh = buy_and_hold(&d.close, 0, 10_000.0);
    let mut inp = input(&d, &m, "goog-sized");
    inp.buy_hold = Some(&bh);
    let small = backtest_report(&inp, &BacktestOptions::default()).unwrap();
    assert!(small.len() < 300_000, "{} bytes", small.len());
    // 1,000,000 one-minute bars, 50,000 trades → under 3 MB
    let d = synthetic(1_000_000, 50_000, 60_000, 12);
    let bh = buy_and_hold(&d.close, 0, 10_000.0);
    let mut inp = input(&d, &m, "big");
    inp.buy_hold = Some(&bh);
    let big = backtest_report(&inp, &BacktestOptions::default()).unwrap();
    assert!(big.len() < 3_000_000, "{} bytes", big.len());
    let root = parse_strict(&big).unwrap();
    check_self_contained(&big).unwrap();
    // markers thinned to the best and worst per band, and the extreme trades among them
    let titles: Vec<String> = root.all("title").iter().map(|t| t.text()).collect();
    let entries = titles.iter().filter(|t| t.contains(" entry ")).count();
    assert!(entries > 100 && entries < 1000, "{entries} entry markers");
    let best = (0..d.trades.len())
        .max_by(|&a, &b| d.trades[a].pnl.total_cmp(&d.trades[b].pnl))
        .unwrap();
    let worst = (0..d.trades.len())
        .min_by(|&a, &b| d.trades[a].pnl.total_cmp(&d.trades[b].pnl))
        .unwrap();
    for i in [best, worst] {
        let side = d.trades[i].side.as_str();
        let prefix = format!("#{} {side} entry ", i + 1);
        assert!(
            titles.iter().any(|t| t.starts_with(&prefix)),
            "trade {} not marked",
            i + 1
        );
    }
    assert!(big.contains("50,000 trades are too many to mark each"));
    // the scatter keeps the best and worst return among its thinned dots
    let by_ret = |a: &usize, b: &usize| d.trades[*a].return_pct.total_cmp(&d.trades[*b].return_pct);
    let hi = (0..d.trades.len()).max_by(by_ret).unwrap();
    let lo = (0..d.trades.len()).min_by(by_ret).unwrap();
    for i in [hi, lo] {
        let side = d.trades[i].side.as_str();
        let prefix = format!("#{} {side} exit 20", i + 1);
        assert!(
            titles.iter().any(|t| t.starts_with(&prefix)),
            "trade {} not in the scatter",
            i + 1
        );
    }
    let dots = titles.iter().filter(|t| t.contains(" exit 20")).count();
    assert!(dots < 10_000, "{dots} scatter dots");
}

// ---------------------------------------------------------------------------------------------
// Pure helpers against hand-worked values.

#[test]
fn value_ticks_are_round_and_exact() {
    // span 97 over ~5 ticks: raw step 19.4 → nice 20
    assert_eq!(
        value_ticks(0.0, 97.0, 5, Fmt::Num),
        (20.0, vec![0.0, 20.0, 40.0, 60.0, 80.0])
    );
    // raw 0.1 → 0.1; ticks are i/10, exactly the literals (no 0.30000000000000004)
    let (step, t) = value_ticks(-0.3, 0.3, 6, Fmt::Num);
    assert_eq!(step, 0.1);
    assert_eq!(t, vec![-0.3, -0.2, -0.1, 0.0, 0.1, 0.2, 0.3]);
    // counts never get fractional ticks: raw 0.6 → 1
    assert_eq!(
        value_ticks(0.0, 3.0, 5, Fmt::Count).1,
        vec![0.0, 1.0, 2.0, 3.0]
    );
    assert_eq!(tick_label(20_000.0, 5_000.0, Fmt::Num), "20k");
    assert_eq!(tick_label(2_500_000.0, 500_000.0, Fmt::Num), "2.5M");
    assert_eq!(tick_label(-20.0, 10.0, Fmt::Pct), "-20%");
    assert_eq!(tick_label(0.25, 0.05, Fmt::Num), "0.25");
}

fn ms(y: i32, m: u32, d: u32, h: u32) -> i64 {
    chrono::NaiveDate::from_ymd_opt(y, m, d)
        .unwrap()
        .and_hms_opt(h, 0, 0)
        .unwrap()
        .and_utc()
        .timestamp_millis()
}

#[test]
fn time_ticks_pick_calendar_steps_that_fit() {
    // 8.5 years on 950 px: 1-year labels need 8.5 × (28 + 28) = 476 px (fits), 6-month ones
    // 17 × (56 + 28) = 1428 px (do not) → yearly ticks on 1 January
    let t = time_ticks(ms(2004, 8, 19, 0), ms(2013, 3, 1, 0), 950.0);
    let labels: Vec<&str> = t.iter().map(|(_, s)| s.as_str()).collect();
    assert_eq!(
        labels,
        [
            "2005", "2006", "2007", "2008", "2009", "2010", "2011", "2012", "2013"
        ]
    );
    assert_eq!(t[0].0, ms(2005, 1, 1, 0));
    // 161 days: 2-week labels need 11.5 × 98 = 1127 px (no); months 5.3 × 84 = 444 px (yes)
    let t = time_ticks(ms(2015, 1, 10, 0), ms(2015, 6, 20, 0), 950.0);
    let labels: Vec<&str> = t.iter().map(|(_, s)| s.as_str()).collect();
    assert_eq!(
        labels,
        ["Feb 2015", "Mar 2015", "Apr 2015", "May 2015", "Jun 2015"]
    );
    // one day: 2-hour labels need 12 × 105 = 1260 px (no); 3-hour ones 8 × 105 = 840 px (yes)
    let t = time_ticks(ms(2020, 1, 5, 0), ms(2020, 1, 6, 0), 950.0);
    assert_eq!(t.len(), 9);
    assert_eq!(t[1], (ms(2020, 1, 5, 3), "01-05 03:00".to_string()));
}

#[test]
fn histogram_bins_have_zero_on_an_edge() {
    // range 5.5 over ~5 bins: raw 1.1 → step 2; edges −4, −2, 0, 2, 4
    let (edges, counts) = bin(&[-2.5, -0.1, 0.0, 0.4, 3.0], 5);
    assert_eq!(edges, [-4.0, -2.0, 0.0, 2.0, 4.0]);
    assert_eq!(counts, [1, 1, 2, 1]);
    // the maximum on an edge closes the last bin instead of opening an empty one
    let (edges, counts) = bin(&[0.0, 1.0, 2.0, 4.0], 2);
    assert_eq!(edges, [0.0, 2.0, 4.0]);
    assert_eq!(counts, [2, 2]);
}

#[test]
fn drawdown_and_its_deepest_span() {
    let eq = [100.0, 120.0, 90.0, 130.0, 65.0, 70.0, 140.0];
    // 90/120 − 1 = −25 %; 65/130 − 1 = −50 %; 70/130 − 1 = −46.15…%
    let dd = drawdown_pct(&eq);
    assert_eq!(&dd[..5], &[0.0, 0.0, -25.0, 0.0, -50.0]);
    assert!((dd[5] - (70.0 / 130.0 - 1.0) * 100.0).abs() < 1e-12);
    let m = max_drawdown(&eq).unwrap();
    assert_eq!(
        (m.peak, m.trough, m.recovery, m.depth_pct),
        (3, 4, Some(6), -50.0)
    );
    assert_eq!(max_drawdown(&[1.0, 2.0, 3.0]), None);
}

#[test]
fn monthly_returns_from_month_end_equity() {
    let ts = [
        ms(2020, 1, 15, 0),
        ms(2020, 1, 31, 12),
        ms(2020, 2, 10, 0),
        ms(2020, 3, 31, 0),
        ms(2021, 1, 5, 0),
    ];
    let eq = [100.0, 110.0, 99.0, 120.0, 126.0];
    let rows = monthly_table(&ts, &eq);
    assert_eq!(rows.len(), 2);
    // Jan 110/100 − 1 = 10 %, Feb 99/110 − 1 = −10 %, Mar 120/99 − 1 = 21.21 %; year 120/100 − 1 = 20 %
    assert_eq!(rows[0].year, 2020);
    assert!((rows[0].months[0] - 10.0).abs() < 1e-9);
    assert!((rows[0].months[1] + 10.0).abs() < 1e-9);
    assert!((rows[0].months[2] - (120.0 / 99.0 - 1.0) * 100.0).abs() < 1e-9);
    assert!(rows[0].months[3..].iter().all(|m| m.is_nan()));
    assert!((rows[0].total - 20.0).abs() < 1e-9);
    // 2021: Jan 126/120 − 1 = 5 %
    assert_eq!(rows[1].year, 2021);
    assert!((rows[1].months[0] - 5.0).abs() < 1e-9 && (rows[1].total - 5.0).abs() < 1e-9);
}

#[test]
fn colour_scale_is_symmetric_around_zero() {
    let s = ColourScale::for_values(&[-1.0, 3.0, f64::NAN], 0.0);
    assert_eq!(
        s,
        ColourScale::Diverging {
            lo: -3.0,
            mid: 0.0,
            hi: 3.0
        }
    );
    assert_eq!(s.colour(0.0), Rgb(0xf7, 0xf7, 0xf7));
    assert_eq!(s.colour(3.0), Rgb(0x21, 0x66, 0xac));
    assert_eq!(s.colour(-3.0), Rgb(0xb3, 0x58, 0x06));
    assert_eq!(
        ColourScale::for_values(&[1.0, 2.0], 0.0),
        ColourScale::Sequential { lo: 1.0, hi: 2.0 }
    );
}

#[test]
fn elided_tables_build_only_the_rows_shown() {
    let mut built = Vec::new();
    let t = Table::elided(vec!["i".into()], 100, 3, 2, |i| {
        built.push(i);
        vec![(i + 1).to_string()]
    });
    assert_eq!(built, [0, 1, 2, 98, 99]);
    let mut doc = super::Document::new("t", None);
    doc.section("T").push(super::Block::Table(t));
    let root = parse_strict(&doc.render()).unwrap();
    let cells: Vec<String> = root.all("td").iter().map(|c| c.text()).collect();
    assert_eq!(cells, ["1", "2", "3", "… 95 rows omitted …", "99", "100"]);
}

// ---------------------------------------------------------------------------------------------
// Optimization report.

fn cand(p: &[&str], obj: f64) -> Candidate {
    Candidate {
        params: p.iter().map(|s| s.to_string()).collect(),
        objective: obj,
        extra: vec![],
    }
}

fn axis(name: &str, v: &[&str]) -> ParamAxis {
    ParamAxis {
        name: name.into(),
        values: v.iter().map(|s| s.to_string()).collect(),
    }
}

#[test]
fn heat_values_at_best_or_max_over_the_rest() {
    // x ∈ {1,2}, y ∈ {a,b}, z ∈ {p,q}; best is (2, b, q) = 9
    let cands = [
        cand(&["1", "a", "p"], 5.0),
        cand(&["1", "a", "q"], 1.0),
        cand(&["2", "a", "p"], 2.0),
        cand(&["2", "a", "q"], 3.0),
        cand(&["1", "b", "p"], 8.0),
        cand(&["1", "b", "q"], f64::NAN),
        cand(&["2", "b", "q"], 9.0),
    ];
    let coords: Vec<Vec<u32>> = cands
        .iter()
        .map(|c| {
            vec![
                (c.params[0] == "2") as u32,
                (c.params[1] == "b") as u32,
                (c.params[2] == "q") as u32,
            ]
        })
        .collect();
    // at best (z = q): (1,a)=1, (2,a)=3, (1,b)=NaN, (2,b)=9
    let v = heat_values(&cands, &coords, (0, 1), (2, 2), 6, HeatMode::AtBest);
    assert_eq!((v[0], v[1], v[3]), (1.0, 3.0, 9.0));
    assert!(v[2].is_nan());
    // max over z: (1,a)=max(5,1)=5, (2,a)=max(2,3)=3, (1,b)=8 (NaN ignored), (2,b)=9
    assert_eq!(
        heat_values(&cands, &coords, (0, 1), (2, 2), 6, HeatMode::Max),
        [5.0, 3.0, 8.0, 9.0]
    );
}

#[test]
fn wide_axes_are_grouped_into_at_most_60_cells() {
    // 100 values into 60 cells: value i goes to ⌊i·60/100⌋, so 0,1 → 0; 2,3 → 1; 4 → 2; 5,6 → 3
    let values: Vec<String> = (0..100).map(|i| i.to_string()).collect();
    let labels = cell_labels(&values);
    assert_eq!(labels.len(), 60);
    assert_eq!(&labels[..4], ["0–1", "2–3", "4", "5–6"]);
    // ⌊97·0.6⌋ = ⌊98·0.6⌋ = 58, ⌊99·0.6⌋ = 59
    assert_eq!(&labels[58..], ["97–98", "99"]);
    // a 100 × 1 grid: cells hold the best of their group
    let cands: Vec<Candidate> = (0..100)
        .map(|i| cand(&[&i.to_string(), "a"], i as f64))
        .collect();
    let coords: Vec<Vec<u32>> = (0..100).map(|i| vec![i, 0]).collect();
    let v = heat_values(&cands, &coords, (0, 1), (100, 1), 99, HeatMode::AtBest);
    assert_eq!(v.len(), 60);
    assert_eq!(&v[..4], [1.0, 3.0, 4.0, 6.0]);
    // only small grids stay one value per cell
    assert_eq!(cell_labels(&values[..3]), ["0", "1", "2"]);
    let axes = [
        ParamAxis {
            name: "risk".into(),
            values,
        },
        axis("rr", &["a"]),
    ];
    let m = vec![];
    let html =
        optimize_report(&grid_input(&axes, &cands, &m), &OptimizeOptions::default()).unwrap();
    assert!(html.contains("Neighbouring values of risk are grouped into 60 cells"));
    let root = parse_strict(&html).unwrap();
    let cells = root
        .all("title")
        .iter()
        .filter(|t| t.text().starts_with("risk="))
        .count();
    assert_eq!(cells, 60);
}

#[test]
fn stability_verdicts() {
    // drops (2 − 1.9)/2 = 5 %, (2 − 1.85)/2 = 7.5 % → plateau within 10 %
    let v = verdict(2.0, &[1.9, 1.85], 10.0);
    assert_eq!(v.kind, StabilityKind::Plateau);
    assert!((v.worst_drop_pct - 7.5).abs() < 1e-9);
    assert_eq!(
        v.text,
        "plateau: all 2 neighbours within 10% of the best (worst 7.5% below)"
    );
    // (2 − 1)/2 = 50 % → spike
    let v = verdict(2.0, &[1.9, 1.0], 10.0);
    assert_eq!(v.kind, StabilityKind::Spike);
    assert!(v.text.starts_with(
        "spike: 1 of 2 neighbours fall more than 10% below the best (worst 50.0% below)"
    ));
    // a negative best: −1 → −1.05 is 5 % worse relative to |−1|
    assert_eq!(verdict(-1.0, &[-1.05], 10.0).kind, StabilityKind::Plateau);
    assert_eq!(verdict(2.0, &[f64::NAN], 10.0).kind, StabilityKind::Spike);
    assert_eq!(verdict(2.0, &[], 10.0).kind, StabilityKind::Unknown);
}

fn grid_input<'a>(
    axes: &'a [ParamAxis],
    cands: &'a [Candidate],
    m: &'a [Stat],
) -> OptimizeInput<'a> {
    OptimizeInput {
        title: "opt <1>",
        subtitle: "grid",
        metrics: m,
        best_metrics: &[],
        notes: &[],
        objective: "sharpe",
        axes,
        candidates: cands,
        extra_columns: &[],
    }
}

#[test]
fn optimize_report_sections_caption_and_neighbours() {
    let axes = [
        axis("fast", &["5", "10", "15"]),
        axis("slow", &["20", "30"]),
        axis("stop", &["1", "2"]),
    ];
    let mut cands = Vec::new();
    for (i, f) in ["5", "10", "15"].iter().enumerate() {
        for (j, s) in ["20", "30"].iter().enumerate() {
            for (k, st) in ["1", "2"].iter().enumerate() {
                cands.push(cand(
                    &[f, s, st],
                    1.0 + i as f64 + j as f64 * 0.1 + k as f64 * 0.01,
                ));
            }
        }
    }
    // best: fast=15, slow=30, stop=2 → 1 + 2 + 0.1 + 0.01 = 3.11
    let m = vec![Stat::plain("Method", "grid")];
    let inp = grid_input(&axes, &cands, &m);
    let html = optimize_report(&inp, &OptimizeOptions::default()).unwrap();
    check_self_contained(&html).unwrap();
    let root = parse_strict(&html).unwrap();
    assert_eq!(
        section_ids(&root),
        [
            "summary",
            "objective-heatmap",
            "top-candidates",
            "parameter-stability"
        ]
    );
    assert!(html.contains("other parameters fixed at the best candidate&#39;s values (stop=2)"));
    let max = optimize_report(
        &inp,
        &OptimizeOptions {
            heat_mode: HeatMode::Max,
            ..OptimizeOptions::default()
        },
    )
    .unwrap();
    assert!(max.contains("each cell is the maximum over the other parameters"));
    // heatmap: 3 × 2 cells, each titled; the best cell's title
    let titles: Vec<String> = root.all("title").iter().map(|t| t.text()).collect();
    assert!(
        titles.contains(&"fast=15, slow=30: 3.11".to_string()),
        "{titles:?}"
    );
    assert_eq!(titles.iter().filter(|t| t.starts_with("fast=")).count(), 6);
    // stability: neighbours fast=10 (2.11), slow=20 (3.01), stop=1 (3.1); the grid ends at 15/30/2
    let tables = root.all("table");
    let stab = tables.last().unwrap();
    let rows: Vec<Vec<String>> = stab.all("tr")[1..]
        .iter()
        .map(|r| r.all("td").iter().map(|c| c.text()).collect())
        .collect();
    assert_eq!(rows.len(), 4);
    assert_eq!(rows[1], ["fast", "−1", "10", "2.11", "-32.2%"]); // (2.11 − 3.11)/3.11 = −32.15 %
    assert!(html.contains("Verdict — spike: 1 of 3 neighbours"));
    // top table: first row is the best
    let top = &tables[1].all("tr")[1];
    assert_eq!(
        top.all("td").iter().map(|c| c.text()).collect::<Vec<_>>(),
        ["1", "15", "30", "2", "3.11"]
    );
}

#[test]
fn optimize_input_errors_and_empty_cases() {
    let axes = [axis("fast", &["5", "10"]), axis("slow", &["20"])];
    let m = vec![];
    let bad = [cand(&["5", "20"], 1.0), cand(&["7", "20"], 2.0)];
    let e = optimize_report(&grid_input(&axes, &bad, &m), &OptimizeOptions::default()).unwrap_err();
    assert_eq!(
        e.to_string(),
        "report: candidate 2: fast=7 is not one of the axis values"
    );
    let short = [cand(&["5"], 1.0)];
    let e =
        optimize_report(&grid_input(&axes, &short, &m), &OptimizeOptions::default()).unwrap_err();
    assert_eq!(
        e.to_string(),
        "report: candidate 1 has 1 parameters but 2 axes are given"
    );
    let unranked = [cand(&["5", "20"], f64::NAN)];
    let html = optimize_report(
        &grid_input(&axes, &unranked, &m),
        &OptimizeOptions::default(),
    )
    .unwrap();
    assert!(
        html.contains(
            "No ranked candidate: none of the 1 evaluated candidates has a finite sharpe."
        )
    );
    let html = optimize_report(&grid_input(&axes, &[], &m), &OptimizeOptions::default()).unwrap();
    assert!(html.contains("No data: no candidate was evaluated."));
    // one searched parameter: a one-row heatmap
    let one = [axis("fast", &["5", "10"])];
    let c1 = [cand(&["5"], 1.0), cand(&["10"], 2.0)];
    let html = optimize_report(&grid_input(&one, &c1, &m), &OptimizeOptions::default()).unwrap();
    parse_strict(&html).unwrap();
    assert!(html.contains("Objective sharpe for each value of fast"));
}

#[test]
fn axes_from_candidates_sort_numbers_numerically() {
    let c = [
        cand(&["10", "b"], 1.0),
        cand(&["5", "a"], 1.0),
        cand(&["10", "c"], 1.0),
        cand(&["7.5", "a"], 1.0),
    ];
    assert_eq!(
        ParamAxis::from_candidates("f", 0, &c).values,
        ["5", "7.5", "10"]
    );
    assert_eq!(
        ParamAxis::from_candidates("g", 1, &c).values,
        ["a", "b", "c"]
    );
}
