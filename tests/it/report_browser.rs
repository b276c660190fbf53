//! Real-browser check of the HTML reports: headless Chromium renders each report to a PNG; a report
//! passes when the page logged nothing to the browser console and the picture is not blank (luma
//! variance and share of non-white pixels above thresholds). The PNGs stay in
//! `target/report-browser/` for a person to look at.
//!
//! Without `/usr/bin/chromium` the tests print a loud skip notice, or fail when `CI` is set (CI must
//! install it: `apt-get install -y chromium`).

use std::fs;
use std::io::{BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use flowrex::metrics::Metrics;
use flowrex::report::{
    BacktestInput, BacktestOptions, Candidate, OptimizeInput, OptimizeOptions, ParamAxis, Stat,
    backtest_report, buy_and_hold, check_self_contained, optimize_report,
};
use flowrex::trade::{ExitReason, Side, TradeRecord};

const CHROMIUM: &str = "/usr/bin/chromium";

/// True when Chromium is installed; without it, a loud skip notice (or a failure when `CI` is set).
pub fn chromium_available(test: &str) -> bool {
    if Path::new(CHROMIUM).exists() {
        return true;
    }
    if std::env::var_os("CI").is_some() {
        panic!(
            "{test}: {CHROMIUM} not found and CI is set; the report browser check needs it (apt-get install -y chromium)"
        );
    }
    // written to the stderr handle, not with eprintln!, so the test harness does not swallow it
    let _ = writeln!(
        std::io::stderr(),
        "\n**********************************************************************\n\
         SKIPPED {test}: {CHROMIUM} not found, reports were not checked in a browser.\n\
         Install it (apt-get install -y chromium) or set CI=1 to make this a failure.\n\
         **********************************************************************\n"
    );
    false
}

/// Where the rendered files go (kept for inspection).
fn out_dir() -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join("report-browser");
    fs::create_dir_all(&d).unwrap();
    d
}

/// Renders `html` to `png` in headless Chromium at 1280×`height`, with a fresh profile and every
/// host name unresolvable (so a stray external reference cannot load). Returns the console lines the
/// page produced (Chromium logs them to stderr as `…:CONSOLE…] "message", source: …`).
fn screenshot(html: &Path, png: &Path, height: u32) -> Vec<String> {
    let profile = tempfile::tempdir().unwrap();
    let _ = fs::remove_file(png);
    let mut child = Command::new(CHROMIUM)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--host-resolver-rules=MAP * ~NOTFOUND",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("--screenshot={}", png.display()))
        .arg(format!("--window-size=1280,{height}"))
        .arg(format!("file://{}", html.display()))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start chromium");
    let stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || std::io::read_to_string(stderr).unwrap_or_default());
    let started = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if started.elapsed() > Duration::from_secs(120) {
            let _ = child.kill(); // our own child, by handle
            panic!(
                "chromium did not finish rendering {} within 120 s",
                html.display()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let log = reader.join().unwrap();
    assert!(
        png.exists(),
        "chromium wrote no screenshot for {}:\n{log}",
        html.display()
    );
    log.lines()
        .filter(|l| l.contains(":CONSOLE") || l.contains("Uncaught"))
        .map(String::from)
        .collect()
}

/// (luma variance, share of pixels that are not near-white) of a PNG.
fn pixel_stats(png: &Path) -> (f64, f64) {
    let file = BufReader::new(fs::File::open(png).unwrap());
    let mut reader = png::Decoder::new(file).read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    let channels = info.color_type.samples();
    assert_eq!(info.bit_depth, png::BitDepth::Eight, "{}", png.display());
    let lumas: Vec<f64> = buf[..info.buffer_size()]
        .chunks_exact(channels)
        .map(|p| {
            if channels >= 3 {
                0.2126 * f64::from(p[0]) + 0.7152 * f64::from(p[1]) + 0.0722 * f64::from(p[2])
            } else {
                f64::from(p[0])
            }
        })
        .collect();
    let n = lumas.len() as f64;
    let mean = lumas.iter().sum::<f64>() / n;
    let var = lumas.iter().map(|l| (l - mean).powi(2)).sum::<f64>() / n;
    let inked = lumas.iter().filter(|&&l| l < 235.0).count() as f64 / n;
    (var, inked)
}

/// Writes `html` to `name.html`, renders it, and asserts the page is self-contained, quiet in the
/// console and visibly drawn. Returns the PNG path.
pub fn check_in_browser(name: &str, html: &str, height: u32) -> PathBuf {
    check_self_contained(html).unwrap_or_else(|e| panic!("{name}: {e}"));
    let dir = out_dir();
    let page = dir.join(format!("{name}.html"));
    let png = dir.join(format!("{name}.png"));
    fs::write(&page, html).unwrap();
    let console = screenshot(&page, &png, height);
    assert!(
        console.is_empty(),
        "{name}: browser console:\n{}",
        console.join("\n")
    );
    let (var, inked) = pixel_stats(&png);
    // A white page has variance 0 and nothing inked (the first test shows it); the report pages here
    // measured luma variance 330–1000 and 2.1–10 % inked (text, lines, filled areas): thresholds 3×
    // below the least of them.
    assert!(
        var > 100.0 && inked > 0.007,
        "{name}: the page looks blank: luma variance {var:.1}, {:.2}% inked ({})",
        inked * 100.0,
        png.display()
    );
    eprintln!(
        "{name}: {} (luma variance {var:.0}, {:.1}% inked)",
        png.display(),
        inked * 100.0
    );
    png
}

#[path = "../../src/report/testdata.rs"]
mod testdata;

const DAY: i64 = 86_400_000;

/// Metrics of an empty run with the headline ones set by hand.
fn metrics(trades: usize) -> Metrics {
    let mut m = flowrex::metrics::compute(
        &flowrex::candles::Candles::default(),
        &flowrex::engine::RunResult::default(),
    );
    (m.return_pct, m.buy_hold_return_pct, m.sharpe) = (18.42, 7.03, 0.7157);
    (m.max_drawdown_pct, m.win_rate_pct, m.num_trades) = (-21.35, 51.6, trades);
    m
}

#[test]
fn blank_page_and_script_errors_are_caught() {
    if !chromium_available("blank_page_and_script_errors_are_caught") {
        return;
    }
    // The two checks every report must pass, shown to fail on pages made to fail them.
    let dir = out_dir();
    let blank = dir.join("blank.html");
    fs::write(&blank, "<!DOCTYPE html><html><body></body></html>").unwrap();
    let png = dir.join("blank.png");
    assert!(screenshot(&blank, &png, 400).is_empty());
    let (var, inked) = pixel_stats(&png);
    assert!(
        var < 1.0 && inked == 0.0,
        "white page: variance {var}, inked {inked}"
    );
    let broken = dir.join("broken.html");
    fs::write(
        &broken,
        "<!DOCTYPE html><html><body><p>x</p><script>undefinedFunction()</script></body></html>",
    )
    .unwrap();
    let console = screenshot(&broken, &dir.join("broken.png"), 400);
    assert!(
        console
            .iter()
            .any(|l| l.contains("Uncaught ReferenceError")),
        "{console:?}"
    );
}

#[test]
fn backtest_report_renders_in_chromium() {
    if !chromium_available("backtest_report_renders_in_chromium") {
        return;
    }
    let testdata::Synthetic {
        ts,
        close,
        equity,
        trades,
    } = testdata::synthetic(2148, 93, DAY, 7);
    let bh = buy_and_hold(&close, 0, 10_000.0);
    let m = metrics(trades.len());
    let input = BacktestInput {
        title: "sma_cross on SYNTH 1d <demo & test>",
        subtitle: "fast=10, slow=20 · 2010-01-01 → 2015-11-18 · synthetic data",
        metrics: &m,
        ts: &ts,
        close: &close,
        equity: &equity,
        trades: &trades,
        buy_hold: Some(&bh),
        notes: &[],
    };
    let html = backtest_report(&input, &BacktestOptions::default()).unwrap();
    check_in_browser("backtest", &html, 2000);
    check_in_browser("backtest-full", &html, 4200);
}

#[test]
fn empty_backtest_reports_render_in_chromium() {
    if !chromium_available("empty_backtest_reports_render_in_chromium") {
        return;
    }
    let testdata::Synthetic {
        ts, close, equity, ..
    } = testdata::synthetic(300, 0, DAY, 3);
    let m = metrics(0);
    let mut input = BacktestInput {
        title: "no trades",
        subtitle: "",
        metrics: &m,
        ts: &ts,
        close: &close,
        equity: &equity,
        trades: &[],
        buy_hold: None,
        notes: &[],
    };
    let html = backtest_report(&input, &BacktestOptions::default()).unwrap();
    assert!(html.contains("No trades"));
    check_in_browser("backtest-no-trades", &html, 2000);
    input.ts = &[];
    input.close = &[];
    input.equity = &[];
    let html = backtest_report(&input, &BacktestOptions::default()).unwrap();
    assert!(html.contains("No data"));
    // Only the header, the metrics and a notice: less ink than a chart page, still drawn.
    let png = out_dir().join("backtest-no-data.png");
    let page = out_dir().join("backtest-no-data.html");
    fs::write(&page, &html).unwrap();
    assert!(screenshot(&page, &png, 600).is_empty());
    assert!(pixel_stats(&png).0 > 50.0);
}

#[test]
fn optimize_report_renders_in_chromium() {
    if !chromium_available("optimize_report_renders_in_chromium") {
        return;
    }
    let fast: Vec<String> = (1..=10).map(|i| (i * 5).to_string()).collect();
    let slow: Vec<String> = (1..=12).map(|i| (i * 10 + 20).to_string()).collect();
    let stop: Vec<String> = ["1", "1.5", "2"].map(String::from).to_vec();
    let mut cands = Vec::new();
    for f in &fast {
        for s in &slow {
            for st in &stop {
                let (x, y, z): (f64, f64, f64) =
                    (f.parse().unwrap(), s.parse().unwrap(), st.parse().unwrap());
                // a smooth hill around fast=20, slow=70, with a ridge of failures where fast ≥ slow/2
                let obj = if x * 2.0 >= y {
                    f64::NAN
                } else {
                    1.2 - ((x - 20.0) / 25.0).powi(2)
                        - ((y - 70.0) / 60.0).powi(2)
                        - (z - 1.5).abs() * 0.1
                };
                cands.push(Candidate {
                    params: vec![f.clone(), s.clone(), st.clone()],
                    objective: obj,
                    extra: vec![format!("{}", (x + y) as i64), format!("{:.1}%", obj * 10.0)],
                });
            }
        }
    }
    let axes = vec![
        ParamAxis {
            name: "fast".into(),
            values: fast,
        },
        ParamAxis {
            name: "slow".into(),
            values: slow,
        },
        ParamAxis {
            name: "stop_atr".into(),
            values: stop,
        },
    ];
    let m = vec![
        Stat::plain("Method", "grid"),
        Stat::plain("Candidates", cands.len().to_string()),
    ];
    let extra = vec!["Trades".to_string(), "Return".to_string()];
    let input = OptimizeInput {
        title: "Optimization: sma_cross on SYNTH 1d",
        subtitle: "objective sharpe, grid search",
        metrics: &m,
        best_metrics: &[],
        notes: &[],
        objective: "sharpe",
        axes: &axes,
        candidates: &cands,
        extra_columns: &extra,
    };
    let html = optimize_report(&input, &OptimizeOptions::default()).unwrap();
    check_in_browser("optimize", &html, 2000);
}

#[test]
fn paper_and_journal_reports_render_in_chromium() {
    use flowrex::report::journal::MatchedTrade;
    use flowrex::report::paper::PaperFill;
    use flowrex::report::stats::compare;
    use flowrex::report::{JournalInput, PaperInput, journal_report, paper_report};
    if !chromium_available("paper_and_journal_reports_render_in_chromium") {
        return;
    }
    let d = testdata::synthetic(400, 20, DAY, 9);
    // the paper account: two fills per trade, 2 bps of slippage on each
    let fills: Vec<PaperFill> = d
        .trades
        .iter()
        .flat_map(|t| {
            [
                (t.entry_time, "open", t.entry_price, 0.0),
                (t.exit_time, "close", t.exit_price, t.pnl),
            ]
            .map(|(ts, effect, price, realized)| PaperFill {
                ts,
                market: "SYNTH 1d".into(),
                side: t.side,
                effect: effect.into(),
                quantity: t.size.abs(),
                requested_price: price,
                price: price * 1.0002,
                slippage_bps: 2.0,
                commission: 0.0,
                realized,
                balance: 10_000.0 + realized,
            })
        })
        .collect();
    let headline = [
        Stat::plain("Equity", "10,412.00"),
        Stat::plain("Total P&L", "+412.00"),
    ];
    let paper = PaperInput {
        title: "Paper account 1",
        subtitle: "autonomous · SYNTH 1d",
        headline: &headline,
        account: &[Stat::plain("Balance", "10,412.00")],
        ts: &d.ts,
        equity: &d.equity,
        positions: &[],
        fills: &fills,
        trades: &d.trades,
        notes: &[],
    };
    let html = paper_report(&paper, &BacktestOptions::default()).unwrap();
    check_in_browser("paper", &html, 3600);
    // the journal: every other backtest trade matched with a real one filled 3 bps worse
    let matched: Vec<MatchedTrade> = d
        .trades
        .iter()
        .step_by(2)
        .map(|t| {
            let mut real = t.clone();
            real.entry_price *= if t.side == Side::Long { 1.0003 } else { 0.9997 };
            real.pnl -= 3.0;
            MatchedTrade {
                backtest: t.clone(),
                real,
            }
        })
        .collect();
    let only_bt: Vec<TradeRecord> = d.trades.iter().skip(1).step_by(2).cloned().collect();
    let (a, mut b) = (metrics(20), metrics(10));
    b.win_rate_pct = 40.0;
    let rows = compare(&a, &b);
    let journal = JournalInput {
        title: "Journal: sma_cross on SYNTH 1d (paper)",
        subtitle: "real trades against their backtest replay",
        source: "paper",
        matched: &matched,
        only_real: &[],
        only_backtest: &only_bt,
        metrics: &rows,
        notes: &[],
    };
    let html = journal_report(&journal, &BacktestOptions::default()).unwrap();
    check_in_browser("journal", &html, 3600);
}
