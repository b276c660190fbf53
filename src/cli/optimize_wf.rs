//! The validation side of `flowrex optimize`: the overfitting statistics every optimize playbook gets
//! (`[validation]`, `--pbo-blocks`, `--returns-matrix`), the gates (`--max-pbo`, `--min-dsr`,
//! `--min-wfe`, `--min-positive-windows`, exit 3 when one fails) and walk-forward runs
//! (`--walk-forward --train LEN --test LEN [--step LEN] [--purge LEN] [--anchored]`): their flags,
//! their checks before any work, and their rendering. The statistics are the library's
//! (`optimize::overfit`, `optimize::walk`).

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use serde::Deserialize;

use super::output::{print_json, print_text, progress_bar, table_of};
use super::table_fit::Cells;
use super::{Context, Outcome};
use flowrex::backtest::{DataSpec, export};
use flowrex::candles::Candles;
use flowrex::candles::time::date_part;
use flowrex::engine::BacktestConfig;
use flowrex::error::{Error, Result};
use flowrex::optimize::overfit::{self, Collector};
use flowrex::optimize::results::{ResultsWriter, search_meta, write_parts};
use flowrex::optimize::validation::{BlockLayout, DEFAULT_BLOCKS};
use flowrex::optimize::walk::{self, WalkReport};
use flowrex::optimize::walk_forward::{Len, WalkForward};
use flowrex::optimize::{self, Observer, Outcome as Evaluated, Settings, Shard};
use flowrex::playbook::{Gates, Playbook, Validation, WINDOW_OPTIONAL, WalkForwardSection};

/// Validation, gates and walk-forward flags of `flowrex optimize` (also keys of `--spec`).
#[derive(Debug, Default, Clone, clap::Args, Deserialize)]
#[serde(default)]
pub struct ValidationArgs {
    /// Walk-forward: per window, search on the train bars and trade the best on the test bars that
    /// follow; needs --train and --test.
    #[arg(long)]
    pub walk_forward: bool,
    /// Walk-forward train length: bars (2000) or a span (90m, 12h, 180d, 8w, 6M, 1y).
    #[arg(long, value_name = "LEN")]
    pub train: Option<String>,
    /// Walk-forward test length (bars or a span).
    #[arg(long, value_name = "LEN")]
    pub test: Option<String>,
    /// How far each walk-forward window moves on [default: the test length].
    #[arg(long, value_name = "LEN")]
    pub step: Option<String>,
    /// Bars or span left out between each train and test window [default: 0].
    #[arg(long, value_name = "LEN")]
    pub purge: Option<String>,
    /// Keep every train window starting at the first bar (it grows by the step).
    #[arg(long)]
    pub anchored: bool,
    /// Walk-forward: write the stitched out-of-sample equity to this Parquet file (ts, equity,
    /// drawdown_pct).
    #[arg(long, value_name = "FILE")]
    pub oos_equity: Option<PathBuf>,
    /// S, the number of blocks of PBO (even, 2..=20, at most the number of returns) [default: 16].
    #[arg(long, value_name = "S")]
    pub pbo_blocks: Option<usize>,
    /// Write the T × N matrix of per-period returns (ts + one column per candidate index) here.
    #[arg(long, value_name = "FILE")]
    pub returns_matrix: Option<PathBuf>,
    /// Gate: exit 3 when PBO is above X (0..1).
    #[arg(long, value_name = "X")]
    pub max_pbo: Option<f64>,
    /// Gate: exit 3 when the deflated Sharpe ratio is below Y (0..1).
    #[arg(long, value_name = "Y")]
    pub min_dsr: Option<f64>,
    /// Gate (walk-forward): exit 3 when the overall walk-forward efficiency is below Z (0..1).
    #[arg(long, value_name = "Z")]
    pub min_wfe: Option<f64>,
    /// Gate (walk-forward): exit 3 when the share of windows with a positive out-of-sample return is
    /// below K (0..1, e.g. 0.6).
    #[arg(long, value_name = "K")]
    pub min_positive_windows: Option<f64>,
}

impl ValidationArgs {
    /// Each flag not given here taken from `spec` (the switches when either sets them).
    pub fn or(self, spec: ValidationArgs) -> ValidationArgs {
        ValidationArgs {
            walk_forward: self.walk_forward || spec.walk_forward,
            train: self.train.or(spec.train),
            test: self.test.or(spec.test),
            step: self.step.or(spec.step),
            purge: self.purge.or(spec.purge),
            anchored: self.anchored || spec.anchored,
            oos_equity: self.oos_equity.or(spec.oos_equity),
            pbo_blocks: self.pbo_blocks.or(spec.pbo_blocks),
            returns_matrix: self.returns_matrix.or(spec.returns_matrix),
            max_pbo: self.max_pbo.or(spec.max_pbo),
            min_dsr: self.min_dsr.or(spec.min_dsr),
            min_wfe: self.min_wfe.or(spec.min_wfe),
            min_positive_windows: self.min_positive_windows.or(spec.min_positive_windows),
        }
    }

    /// The checked plan; every usage error is raised here, before any data is read.
    pub fn plan(&self, shard: Shard) -> Result<Plan> {
        let gates = Gates {
            max_pbo: self.max_pbo,
            min_dsr: self.min_dsr,
            min_wfe: self.min_wfe,
            min_positive_windows: self.min_positive_windows,
        };
        gates.check(self.walk_forward)?;
        let blocks = self.pbo_blocks.unwrap_or(DEFAULT_BLOCKS);
        if self.pbo_blocks.is_some() {
            // Odd, below 2 or above the cap, whatever the data: checked with T = S.
            BlockLayout::new(blocks, blocks)
                .map_err(|e| Error::usage(format!("--pbo-blocks {blocks}: {e}")))?;
        }
        let asked_validation = [
            (self.pbo_blocks.is_some(), "--pbo-blocks"),
            (self.returns_matrix.is_some(), "--returns-matrix"),
            (gates.asked().next().is_some(), "a gate"),
            (self.walk_forward, "--walk-forward"),
        ];
        if !shard.is_all()
            && let Some((_, what)) = asked_validation.iter().find(|(on, _)| *on)
        {
            return Err(Error::usage(format!(
                "{what} needs the whole search: the overfitting statistics and walk-forward windows use every candidate, so they do not run with --shard"
            )));
        }
        let walk = self.walk_forward()?;
        if walk.is_some() && self.returns_matrix.is_some() {
            return Err(Error::usage(
                "--returns-matrix writes one search's matrix; a walk-forward run has one search per window (run optimize on a window's --start/--end for its matrix)",
            ));
        }
        if walk.is_none() && self.oos_equity.is_some() {
            return Err(Error::usage("--oos-equity needs --walk-forward"));
        }
        Ok(Plan {
            walk,
            spec: overfit::Spec {
                blocks,
                blocks_required: self.pbo_blocks.is_some() || gates.max_pbo.is_some(),
                matrix: self.returns_matrix.clone(),
            },
            gates,
            validate: shard.is_all(),
            oos_equity: self.oos_equity.clone(),
        })
    }

    fn walk_forward(&self) -> Result<Option<WalkForward>> {
        let given = [
            ("--train", self.train.is_some()),
            ("--test", self.test.is_some()),
            ("--step", self.step.is_some()),
            ("--purge", self.purge.is_some()),
            ("--anchored", self.anchored),
        ];
        if !self.walk_forward {
            if let Some(flag) = super::first_given(&given) {
                return Err(Error::usage(format!("{flag} needs --walk-forward")));
            }
            return Ok(None);
        }
        let len = |flag: &str, v: &Option<String>| -> Result<Option<Len>> {
            v.as_deref()
                .map(|s| {
                    s.parse::<Len>()
                        .map_err(|e| Error::usage(format!("{flag} {s}: {e}")))
                })
                .transpose()
        };
        let required = |flag: &str, v: &Option<String>| -> Result<Len> {
            len(flag, v)?.ok_or_else(|| {
                Error::usage(format!(
                    "--walk-forward needs {flag} LEN (bars such as 500, or a span such as 6M)"
                ))
            })
        };
        Ok(Some(WalkForward {
            train: required("--train", &self.train)?,
            test: required("--test", &self.test)?,
            purge: len("--purge", &self.purge)?.unwrap_or(Len::ZERO),
            step: len("--step", &self.step)?,
            anchored: self.anchored,
        }))
    }
}

/// What `optimize` validates, checked.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The walk-forward windows' lengths, when asked for.
    pub walk: Option<WalkForward>,
    /// How to compute the overfitting statistics.
    pub spec: overfit::Spec,
    /// The gates asked for.
    pub gates: Gates,
    /// False for a shard (its statistics would cover a slice of the search only).
    pub validate: bool,
    /// Where to write the stitched out-of-sample equity.
    pub oos_equity: Option<PathBuf>,
}

impl Plan {
    /// The collector of a plain search over `candles` (None for a shard). Usage error when the blocks
    /// asked for do not fit the data.
    pub fn collector(&self, candles: &Candles) -> Result<Option<Collector>> {
        if !self.validate {
            return Ok(None);
        }
        Collector::new(candles, &self.spec).map(Some)
    }

    /// Puts `[validation]` (from `collector`, whose search found `report`) with the gates' verdicts
    /// into `pb`.
    pub fn validate(
        &self,
        pb: &mut Playbook,
        collector: Option<Collector>,
        report: &optimize::Report,
    ) -> Result<()> {
        let (Some(c), Some(best)) = (collector, report.result.top.first()) else {
            return Ok(());
        };
        let mut v = c.finish(best.index)?.section();
        if report.interrupted {
            v.notes.push(
                "interrupted: the statistics cover the candidates evaluated before Ctrl-C".into(),
            );
        }
        self.judge(&mut v, None);
        pb.validation = Some(v);
        Ok(())
    }

    /// Adds the gates' verdicts to `v`.
    pub fn judge(&self, v: &mut Validation, wf: Option<&WalkForwardSection>) {
        v.gates = self.gates.judge(v, wf);
    }
}

/// `Err(CheckFailed)` (exit 3) naming every failed gate of `pb`'s `[validation]`.
pub fn gate_verdict(pb: &Playbook, out: &Path) -> Result<()> {
    let failed: Vec<String> = pb
        .validation
        .iter()
        .flat_map(|v| &v.gates)
        .filter(|g| !g.pass)
        .map(|g| g.describe())
        .collect();
    if failed.is_empty() {
        return Ok(());
    }
    Err(Error::CheckFailed(format!(
        "gate failed: {} (verdicts written to {})",
        failed.join("; "),
        out.display()
    )))
}

/// Four significant decimals, or `—` for no value.
fn num(v: Option<f64>) -> String {
    v.map_or_else(|| "—".to_string(), |x| format!("{x:.4}"))
}

/// The text block of `[validation]` (what each number is is in the README and in
/// `optimize::validation`).
pub fn render_validation(v: &Validation) -> String {
    let per = &v.period;
    let mut s = format!(
        "validation ({} {per} returns per candidate; Sharpe ratios per {per}, not annualized):\n",
        v.periods
    );
    s.push_str(&format!(
        "  best (candidate {}): sharpe {}, skew {}, kurtosis {}; PSR {}; MinTRL {} {per}s\n",
        v.candidate,
        num(v.sharpe),
        num(v.skew),
        num(v.kurtosis),
        num(v.psr),
        v.min_trl.map_or("—".into(), |x| format!("{x:.0}"))
    ));
    if v.dsr.is_some() || v.sr0.is_some() {
        s.push_str(&format!(
            "  deflated: N {} candidates, σ_SR {}, SR0 {} → DSR {}\n",
            v.trials,
            num(v.sharpe_std),
            num(v.sr0),
            num(v.dsr)
        ));
    }
    if let Some(pbo) = v.pbo {
        s.push_str(&format!(
            "  PBO {pbo:.4} over {} splits of {} blocks ({} candidates, {} returns dropped): slope {}, P(OOS loss) {}\n",
            v.pbo_splits.unwrap_or(0),
            v.pbo_blocks.unwrap_or(0),
            v.pbo_candidates.unwrap_or(0),
            v.pbo_dropped.unwrap_or(0),
            num(v.pbo_slope),
            num(v.prob_oos_loss)
        ));
    }
    for note in &v.notes {
        s.push_str(&format!("  note: {note}\n"));
    }
    if !v.gates.is_empty() {
        let list: Vec<String> = v
            .gates
            .iter()
            .map(|g| {
                format!(
                    "{} {} ({})",
                    g.gate,
                    if g.pass { "pass" } else { "FAIL" },
                    g.describe()
                )
            })
            .collect();
        s.push_str(&format!("gates: {}\n", list.join("; ")));
    }
    s
}

/// The per-window table and the summary of a walk-forward run.
pub fn render_walk(pb: &Playbook, wf: &WalkForwardSection, report: &WalkReport) -> String {
    let objective = pb
        .optimization
        .as_ref()
        .map_or("objective", |o| o.objective.as_str());
    let mut s = format!(
        "{} on {} {} walk-forward: {} windows (train {}, test {}, step {}, purge {}, {}), maximizing {objective}:\n",
        pb.strategy.name,
        pb.market.symbol,
        pb.market.interval,
        wf.windows,
        wf.train,
        wf.test,
        wf.step,
        wf.purge,
        if wf.anchored { "anchored" } else { "rolling" },
    );
    s.push_str(&window_table(wf));
    s.push('\n');
    s.push_str(&walk_summary(pb, wf, report));
    s
}

/// One row per window ([`flowrex::playbook::WINDOW_COLUMNS`]), fitted to the screen.
fn window_table(wf: &WalkForwardSection) -> String {
    let (header, rows) = wf.window_cells();
    table_of(Cells {
        header,
        rows,
        optional: WINDOW_OPTIONAL.map(String::from).to_vec(),
    })
}

/// The stitched record, efficiency, stability and the out-of-sample PSR, in words.
fn walk_summary(pb: &Playbook, wf: &WalkForwardSection, report: &WalkReport) -> String {
    let mut s = String::new();
    let m = &report.stitched.metrics;
    let pct = |v: f64| {
        if v.is_finite() {
            format!("{v:.2}%")
        } else {
            "—".into()
        }
    };
    s.push_str(&format!(
        "out of sample, stitched ({} bars, {} to {}): return {}, sharpe {}, max drawdown {}, {} trades; buy & hold over the same windows {}\n",
        m.bars,
        wf.window.first().map_or("", |w| date_part(&w.test_start)),
        wf.window.last().map_or("", |w| date_part(&w.test_end)),
        pct(m.return_pct),
        num(Some(m.sharpe).filter(|x| x.is_finite())),
        pct(m.max_drawdown_pct),
        m.num_trades,
        pct(wf.buy_hold_return_pct)
    ));
    let stability: Vec<String> = wf
        .stability
        .0
        .iter()
        .map(|(k, v)| format!("{k} {}", num(v.as_float())))
        .collect();
    s.push_str(&format!(
        "walk-forward efficiency {} (OOS {} a year vs IS {}); {} of {} windows positive; parameter stability {}{}\n",
        num(wf.wfe),
        wf.oos_return_ann_pct.map_or("—".into(), pct),
        wf.is_return_ann_pct.map_or("—".into(), pct),
        wf.positive_windows,
        wf.windows,
        num(wf.param_stability),
        if stability.is_empty() {
            String::new()
        } else {
            format!(" ({})", stability.join(", "))
        }
    ));
    s.push_str(&format!(
        "out-of-sample per-period sharpe {} over {} returns: PSR {}, MinTRL {}\n",
        num(wf.oos_sharpe),
        wf.oos_periods,
        num(wf.oos_psr),
        wf.oos_min_trl.map_or("—".into(), |x| format!("{x:.0}"))
    ));
    s.push_str(&format!(
        "the playbook carries window {}'s choice: {} (validation below is of that window's search)\n",
        wf.windows.saturating_sub(1),
        pb.strategy.params.to_line()
    ));
    s
}

/// Progress ticks and one window's part of the results file.
struct WindowObserver<'a> {
    results: Option<ResultsWriter>,
    bar: Option<&'a indicatif::ProgressBar>,
}

impl Observer for WindowObserver<'_> {
    fn evaluated(&self, seq: u64, outcome: &Evaluated) {
        if let Some(r) = &self.results {
            r.send(seq, outcome);
        }
        if let Some(bar) = self.bar {
            bar.inc(1);
        }
    }
}

/// What a walk-forward run needs besides the plan.
pub struct WalkJob<'a> {
    /// The search of every window.
    pub settings: &'a Settings,
    /// The data as asked for.
    pub data: &'a DataSpec,
    /// All its bars.
    pub candles: &'a Candles,
    /// The backtest settings.
    pub config: &'a BacktestConfig,
    /// The playbook to write, and its name.
    pub out: &'a Path,
    /// The playbook's name.
    pub name: &'a str,
    /// `--results`.
    pub results: Option<&'a Path>,
    /// `--report`: the page of the last window's search with every window's results.
    pub report: Option<&'a Path>,
    /// Ctrl-C.
    pub stop: &'a AtomicBool,
    /// Candidates each window's search plans to evaluate (for the progress bar).
    pub planned: u64,
}

/// Runs `optimize --walk-forward` and reports it.
pub fn run_walk(ctx: &Context, plan: &Plan, wf: &WalkForward, job: WalkJob) -> Result<Outcome> {
    let windows = walk::plan(wf, job.candles, &plan.spec)?;
    tracing::info!(
        "walk-forward: {} windows of train {} + test {} over {} bars",
        windows.len(),
        wf.train,
        wf.test,
        job.candles.len()
    );
    let bar = progress_bar(ctx.show_progress(), job.planned * windows.len() as u64);
    // --report reads the candidates back from the results: a temporary file without --results.
    let (results, _scratch) = super::report::results_for_report(job.report, job.results)?;
    let observers = windows
        .iter()
        .map(|w| {
            let results = results
                .as_deref()
                .map(|p| ResultsWriter::create_part(p, &job.settings.space, w.index as u32))
                .transpose()?;
            Ok(WindowObserver {
                results,
                bar: bar.as_ref(),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let refs: Vec<&dyn Observer> = observers.iter().map(|o| o as &dyn Observer).collect();
    let report = walk::run(
        job.settings,
        &windows,
        job.candles,
        job.config,
        job.stop,
        &refs,
        &plan.spec,
    );
    drop(refs);
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    let parts = observers
        .into_iter()
        .filter_map(|o| o.results.map(ResultsWriter::finish_part))
        .collect::<Result<Vec<_>>>();
    let Some(report) = report? else {
        eprintln!("error: interrupted: a walk-forward run needs every window; no playbook written");
        return Ok(Outcome::Interrupted);
    };
    let rows = match &results {
        Some(p) => Some(write_parts(p, parts?, &search_meta_of(&job))?),
        None => None,
    };
    let mut pb = report.to_playbook(
        job.name,
        job.settings,
        wf,
        job.data,
        job.candles,
        job.config,
    )?;
    if let (Some(v), Some(w)) = (pb.validation.as_mut(), pb.walk_forward.as_ref()) {
        plan.judge(v, Some(w));
    }
    pb.save(job.out)?;
    if let Some(path) = &plan.oos_equity {
        // Each window traded its own best parameters: the footer names the search, not one set.
        let meta = search_meta_of(&job).with("kind", "walk_forward_out_of_sample_equity");
        export::write_equity(
            path,
            &report.stitched.candles.ts,
            &report.stitched.run.equity,
            &meta,
        )?;
    }
    let written = match (job.report, &results) {
        (Some(file), Some(r)) => Some(super::report::optimize_shortcut(file, &pb, job.out, r)?),
        _ => None,
    };
    print_walk(ctx, plan, &job, &pb, &report, rows, written.as_ref())?;
    gate_verdict(&pb, job.out).map(|()| Outcome::Done)
}

/// Prints a finished walk-forward: the JSON document, or the table, the summary and `[validation]`.
fn print_walk(
    ctx: &Context,
    plan: &Plan,
    job: &WalkJob,
    pb: &Playbook,
    report: &WalkReport,
    rows: Option<u64>,
    written: Option<&super::report::Written>,
) -> Result<()> {
    if ctx.json {
        let mut doc = serde_json::json!({
            "playbook_file": job.out.display().to_string(),
            "results_file": job.results.map(|p| p.display().to_string()),
            "results_rows": job.results.and(rows),
            "oos_equity_file": plan.oos_equity.as_ref().map(|p| p.display().to_string()),
            "elapsed_s": report.elapsed_s,
            "playbook": pb,
        });
        if let Some(w) = written {
            doc["report_file"] = w.path.display().to_string().into();
        }
        print_json(&doc)?;
    } else {
        let mut s = match &pb.walk_forward {
            Some(w) => render_walk(pb, w, report),
            None => String::new(),
        };
        if let Some(v) = &pb.validation {
            s.push_str(&render_validation(v));
        }
        s.push_str(&format!(
            "{} candidates evaluated over {} windows in {:.3} s; {}",
            report.evaluated,
            report.windows.len(),
            report.elapsed_s,
            super::playbook_written(ctx, job.out)
        ));
        if let Some(w) = written {
            s.push_str(&format!("\n{w}"));
        }
        print_text(&s)?;
    }
    Ok(())
}

/// The footer metadata of a walk-forward's Parquet outputs ([`search_meta`]).
fn search_meta_of(job: &WalkJob) -> export::FileMeta {
    let s = job.settings;
    search_meta(&s.space, s.objective.name(), s.method.name(), job.data)
        .with("walk_forward", "true")
}
