//! `flowrex paper-trade run | cycles | decisions | halt | reduce | resume`: the agents' pipeline
//! (Supervisor → Strategy → Risk → Execution), its decision log and the trading state. Arguments and
//! rendering only; the logic is in [`flowrex::agents`].

use std::cell::Cell;
use std::fs::{File, TryLockError};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::Serialize;
use tabled::Tabled;

use super::output::{print_json, print_text, table};
use super::{Context, Outcome};
use flowrex::agents::log::{self, Cycle};
use flowrex::agents::run::{self, RunReport, RunSettings};
use flowrex::agents::settings;
use flowrex::agents::state::{self, TradingState};
use flowrex::error::{Error, IoContext, Result};
use flowrex::home::Home;
use flowrex::indicators::IndicatorCache;
use flowrex::outputs::OutputPlan;

/// Arguments of `paper-trade run`.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// Playbooks to trade (a file, or a name in <home>/playbooks); default: every playbook there with
    /// status = "active".
    #[arg(long = "playbook", value_name = "P")]
    pub playbooks: Vec<String>,
    /// How long to wait for another run of this home to finish before giving up ("busy", exit 1).
    #[arg(long, default_value_t = 2000, value_name = "MS", hide = true)]
    pub wait_ms: u64,
    /// Keep going: run again every --every until Ctrl-C (or a halt: exit 3).
    #[arg(long)]
    pub follow: bool,
    /// With --follow: the pause between runs, e.g. 60s, 5m, 1h.
    #[arg(
        long,
        default_value = "60s",
        requires = "follow",
        value_name = "DURATION"
    )]
    pub every: String,
    /// Write node_exporter textfile gauges of each run here (cycles, entries, denials, fills, late
    /// bars, halted, failed, last success time), atomically; every failed run writes it too, marked
    /// failed, keeping the last success time.
    #[arg(long, value_name = "PATH.prom")]
    pub metrics_file: Option<PathBuf>,
}

/// `60s`, `5m`, `1h` or plain seconds.
fn parse_every(text: &str) -> Result<Duration> {
    let t = text.trim();
    let (num, unit) = t.split_at(t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len()));
    let n: u64 = num
        .parse()
        .map_err(|_| Error::usage(format!("--every {t}: expected e.g. 60s, 5m or 1h")))?;
    let secs = match unit {
        "" | "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        _ => return Err(Error::usage(format!("--every {t}: unit must be s, m or h"))),
    };
    if secs == 0 {
        return Err(Error::usage(format!("--every {t}: must be above 0")));
    }
    Ok(Duration::from_secs(secs))
}

static STOP: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Arguments of `paper-trade cycles`.
#[derive(Debug, clap::Args)]
pub struct CyclesArgs {
    /// The newest N cycles.
    #[arg(long, default_value_t = 20)]
    pub last: usize,
    /// Only this playbook's.
    #[arg(long)]
    pub playbook: Option<String>,
}

/// Runs `paper-trade run`: one cycle per newly closed bar of each selected playbook; with `--follow`,
/// again every `--every` until Ctrl-C. Exit 3 when the trading state is halted (the reason printed).
/// `now_ms` pins the clock (the hidden `--now`); else each run reads the time afresh.
///
/// With `--metrics-file`, once the file itself is accepted every run writes it, and so does every
/// failure (`…_failed 1`, the last success time kept): a bad `--every`, a busy home, a missing or bad
/// playbook, no data, a locked database — an unwatched cron job's failure shows in Prometheus. (Failures
/// before this, a broken flowrex.toml or a missing home, write it through [`failed_before_start`].)
pub fn run(ctx: &Context, home: &Home, a: RunArgs, now_ms: Option<i64>) -> Result<Outcome> {
    if let Some(file) = &a.metrics_file {
        check_metrics_file(home, &a.playbooks, file)?;
    }
    let started = Cell::new(Instant::now());
    let result = run_checked(ctx, home, &a, now_ms, &started);
    if let (Err(_), Some(file)) = (&result, &a.metrics_file) {
        write_failed(file, home, started.get().elapsed().as_secs_f64());
    }
    result
}

/// Where `--metrics-file` may go, checked before anything runs: never into the store, over a state
/// file, a special file or a playbook (a named one, or any of the home's, which a run may select by
/// status). A refused file is never written, not even to say the run failed.
fn check_metrics_file(home: &Home, names: &[String], file: &Path) -> Result<()> {
    let dir = home.playbooks_dir();
    let mut playbooks: Vec<PathBuf> = names
        .iter()
        .map(|n| settings::named_file(&dir, n))
        .collect();
    if let Ok(entries) = std::fs::read_dir(&dir) {
        let files = entries.filter_map(|e| e.ok().map(|e| e.path()));
        playbooks.extend(files.filter(|p| p.extension().is_some_and(|x| x == "toml")));
    }
    OutputPlan::new(home)
        .inputs("--playbook", &playbooks)
        .add("--metrics-file", file)?
        .open()
        .map(drop)
}

/// Writes `--metrics-file` of a run that failed before the command could start (a broken flowrex.toml,
/// a missing home, bad risk limits), when the file is acceptable and its folder exists (a missing home
/// is not created by the folder of a file inside it). A file that cannot be written is a warning: the
/// run's own error is the one to report.
pub fn failed_before_start(home_path: &Path, a: &RunArgs) {
    let Some(file) = &a.metrics_file else {
        return;
    };
    let home = Home::layout(home_path);
    let folder_exists = std::path::absolute(file)
        .ok()
        .and_then(|f| f.parent().map(Path::is_dir))
        .unwrap_or(false);
    if !folder_exists {
        tracing::warn!(
            "--metrics-file {}: its folder does not exist; not written",
            file.display()
        );
        return;
    }
    match check_metrics_file(&home, &a.playbooks, file) {
        Ok(()) => write_failed(file, &home, 0.0),
        Err(e) => tracing::warn!("--metrics-file {}: not written: {e}", file.display()),
    }
}

/// Writes the metrics of a failed run; a failure to write is a warning (the run's error wins).
fn write_failed(file: &Path, home: &Home, seconds: f64) {
    if let Err(e) = write_run_metrics(file, home, None, seconds) {
        tracing::warn!("--metrics-file {}: not written: {e}", file.display());
    }
}

/// [`run`] after the metrics file was accepted; `started` is when the current run began (a failure's
/// duration).
fn run_checked(
    ctx: &Context,
    home: &Home,
    a: &RunArgs,
    now_ms: Option<i64>,
    started: &Cell<Instant>,
) -> Result<Outcome> {
    let every = if a.follow {
        Some(parse_every(&a.every)?)
    } else {
        None
    };
    let _lock = lock(home, Duration::from_millis(a.wait_ms))?;
    let once = |idle_note: bool| {
        let now = now_ms.unwrap_or_else(|| chrono::Utc::now().timestamp_millis());
        started.set(Instant::now());
        let (out, report) = run_once(ctx, home, &a.playbooks, now, idle_note)?;
        if let Some(file) = &a.metrics_file {
            let seconds = started.get().elapsed().as_secs_f64();
            write_run_metrics(file, home, Some(&report), seconds)?;
        }
        Ok::<_, Error>(out)
    };
    let Some(every) = every else {
        return once(true);
    };
    let _ = ctrlc::set_handler(|| {
        if STOP.swap(true, std::sync::atomic::Ordering::SeqCst) {
            std::process::exit(super::EXIT_INTERRUPTED);
        }
    });
    loop {
        let out = once(false)?;
        if out != Outcome::Done {
            return Ok(out);
        }
        // `--follow | head`: once the reader has gone, following has no one to tell.
        if super::output::stdout_closed() {
            return Ok(out);
        }
        let until = Instant::now() + every;
        while Instant::now() < until {
            if STOP.load(std::sync::atomic::Ordering::SeqCst) {
                return Ok(Outcome::Interrupted);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// One run; `idle_note`: say so when there was nothing to do (not every minute under --follow).
fn run_once(
    ctx: &Context,
    home: &Home,
    playbooks: &[String],
    now_ms: i64,
    idle_note: bool,
) -> Result<(Outcome, RunReport)> {
    let selected = settings::select(&home.playbooks_dir(), playbooks)?;
    if selected.is_empty() {
        return Err(Error::invalid(format!(
            "playbook: none selected; name one with --playbook or set status = \"active\" in a playbook of {}",
            home.playbooks_dir().display()
        )));
    }
    let bars = run::load_bars(&home.store(), &selected, now_ms)?;
    let caches: Vec<IndicatorCache> = bars.iter().map(|_| IndicatorCache::new()).collect();
    let settings = RunSettings {
        limits: ctx.config.risk.effective()?,
        instruments: &ctx.config.instruments,
        model: ctx.config.paper.resolve()?,
        now_ms,
        halt_request: Some(halt_file(home)),
    };
    let report = run::run(&mut *ctx.db()?, &selected, &bars, &caches, &settings)?;
    for (p, sel) in report.playbooks.iter().zip(&selected) {
        if p.late_bars > 0 {
            tracing::warn!(
                "playbook {}: {} {} {} bar{} stored behind the last bar it decided, after that bar was \
                 decided (a late write into the store): never decided — a run only goes forward",
                p.playbook,
                p.late_bars,
                sel.symbol(),
                sel.interval,
                if p.late_bars == 1 { "" } else { "s" }
            );
        }
    }
    if report.cycles > 0 || report.halted.is_some() || idle_note {
        show_run(ctx, &report)?;
    }
    let outcome = match report.halted {
        Some(_) => Outcome::Refused,
        None => Outcome::Done,
    };
    Ok((outcome, report))
}

/// Writes `--metrics-file` of one run: per playbook its cycles, entries, orders, recommendations,
/// denials, exits and late bars; the run's fills, duration and whether it was halted. Only a run that ended
/// without error and without a halt moves `…_last_success_timestamp_seconds`; the others keep the
/// previous file's (`report` is `None` for a run that failed). Every gauge is labelled with the home's
/// absolute path (node_exporter refuses one series in two files: two homes, two files).
fn write_run_metrics(
    file: &Path,
    home: &Home,
    report: Option<&RunReport>,
    seconds: f64,
) -> Result<()> {
    use flowrex::prom::{TextFile, now_seconds};
    let ok = report.is_some_and(|r| r.halted.is_none());
    let root = std::path::absolute(home.root()).unwrap_or_else(|_| home.root().to_path_buf());
    let root = root.display().to_string();
    let h = [("home", root.as_str())];
    let mut f = TextFile::new();
    f.last_success(
        "flowrex_paper_run_last_success_timestamp_seconds",
        "When a paper-trade run last ended without error or halt (Unix time).",
        &h,
        ok,
        file,
    )?;
    let run_gauges = [
        (
            "flowrex_paper_run_last_run_timestamp_seconds",
            "When the last paper-trade run ended (Unix time).",
            now_seconds(),
        ),
        (
            "flowrex_paper_run_duration_seconds",
            "Wall time of the last paper-trade run.",
            seconds,
        ),
        (
            "flowrex_paper_run_failed",
            "1 when the last paper-trade run ended with an error.",
            f64::from(u8::from(report.is_none())),
        ),
        (
            "flowrex_paper_run_halted",
            "1 when the trading state stopped the last run (halted).",
            f64::from(u8::from(report.is_some_and(|r| r.halted.is_some()))),
        ),
    ];
    for (name, help, value) in run_gauges {
        f.gauge(name, help, &h, value)?;
    }
    let Some(r) = report else {
        return f.write(file);
    };
    f.gauge(
        "flowrex_paper_run_fills",
        "Fills the paper broker made in the last run.",
        &h,
        r.fills as f64,
    )?;
    for p in &r.playbooks {
        playbook_gauges(&mut f, h[0], p)?;
    }
    f.write(file)
}

/// The gauges of one playbook's part of a run, labelled with the home and the playbook.
fn playbook_gauges(
    f: &mut flowrex::prom::TextFile,
    home: (&str, &str),
    p: &flowrex::agents::run::PlaybookRun,
) -> Result<()> {
    let l = [home, ("playbook", p.playbook.as_str())];
    let per = [
        (
            "flowrex_paper_run_cycles",
            "Cycles (newly closed bars decided) in the last run.",
            p.cycles,
        ),
        (
            "flowrex_paper_run_entries",
            "Entry proposals in the last run.",
            p.entries,
        ),
        (
            "flowrex_paper_run_orders_submitted",
            "Orders submitted (autonomous mode) in the last run.",
            p.submitted,
        ),
        (
            "flowrex_paper_run_recommendations",
            "Recommendations recorded (guide mode) in the last run.",
            p.recommended,
        ),
        (
            "flowrex_paper_run_entries_denied",
            "Entries refused or denied by risk, or blocked by the state, in the last run.",
            p.denied,
        ),
        (
            "flowrex_paper_run_exits",
            "Exit orders in the last run.",
            p.exits,
        ),
        (
            "flowrex_paper_run_late_bars",
            "Bars found stored behind the last decided bar after it was decided (never decided).",
            p.late_bars,
        ),
    ];
    for (name, help, value) in per {
        f.gauge(name, help, &l, value as f64)?;
    }
    Ok(())
}

/// One run per home at a time: an OS lock on `<home>/agents.lock`, waited for up to `wait`.
fn lock(home: &Home, wait: Duration) -> Result<File> {
    let path = home.root().join("agents.lock");
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .at(&path)?;
    let start = Instant::now();
    loop {
        match f.try_lock() {
            Ok(()) => return Ok(f),
            Err(TryLockError::WouldBlock) if start.elapsed() < wait => {
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(TryLockError::WouldBlock) => {
                return Err(Error::invalid(format!(
                    "busy: another `paper-trade run` holds {} (waited {} ms); nothing was done",
                    path.display(),
                    wait.as_millis()
                )));
            }
            Err(TryLockError::Error(e)) => return Err(Error::io(&path, e)),
        }
    }
}

fn show_run(ctx: &Context, r: &RunReport) -> Result<()> {
    if ctx.json {
        return print_json(r).map(drop);
    }
    if let Some(why) = &r.halted {
        print_text(&format!("halted: {why}"))?;
        if r.cycles == 0 {
            return Ok(());
        }
    }
    if r.cycles == 0 {
        if !ctx.quiet {
            print_text("no new closed bars: nothing to do")?;
        }
        return Ok(());
    }
    if ctx.quiet {
        return Ok(());
    }
    #[derive(Tabled)]
    struct Line<'a> {
        playbook: &'a str,
        cycles: usize,
        entries: usize,
        submitted: usize,
        recommended: usize,
        denied: usize,
        exits: usize,
    }
    print_text(&table(r.playbooks.iter().map(|p| Line {
        playbook: &p.playbook,
        cycles: p.cycles,
        entries: p.entries,
        submitted: p.submitted,
        recommended: p.recommended,
        denied: p.denied,
        exits: p.exits,
    })))?;
    print_text(&format!(
        "run {}: {} cycle(s), {} fill(s)",
        r.run_id.unwrap_or_default(),
        r.cycles,
        r.fills
    ))?;
    Ok(())
}

/// `paper-trade cycles`.
pub fn cycles(ctx: &Context, a: CyclesArgs) -> Result<Outcome> {
    let rows = ctx
        .db()?
        .read(|tx| log::cycles(tx, a.last, a.playbook.as_deref()))?;
    if ctx.json {
        #[derive(Serialize)]
        struct Out<'a> {
            cycles: &'a [Cycle],
        }
        print_json(&Out { cycles: &rows })?;
    } else if rows.is_empty() {
        print_text("no cycles yet")?;
    } else {
        #[derive(Tabled)]
        struct Line {
            id: i64,
            playbook: String,
            bar: String,
            state: String,
            mode: String,
            proposal: String,
            outcome: String,
        }
        print_text(&table(rows.iter().map(|c| Line {
            id: c.id,
            playbook: c.playbook.clone(),
            bar: c.bar.clone(),
            state: c.trading_state.clone(),
            mode: c.mode.clone(),
            proposal: proposal_text(&c.proposal),
            outcome: c.outcome.clone(),
        })))?;
    }
    Ok(Outcome::Done)
}

fn proposal_text(p: &serde_json::Value) -> String {
    match p["kind"].as_str() {
        Some("enter") => format!(
            "enter {} @ {}",
            p["side"].as_str().unwrap_or("?"),
            p["reference"]
        ),
        Some(k) => k.to_string(),
        None => p.to_string(),
    }
}

/// `paper-trade decisions --cycle ID`.
pub fn decisions(ctx: &Context, id: i64) -> Result<Outcome> {
    let (cycle, decisions, messages) = ctx
        .db()?
        .read(|tx| log::cycle_detail(tx, id))?
        .ok_or_else(|| Error::invalid(format!("cycle: no cycle {id}")))?;
    if ctx.json {
        #[derive(Serialize)]
        struct Out<'a> {
            cycle: &'a Cycle,
            decisions: &'a [log::Decision],
            messages: &'a [log::Message],
        }
        return print_json(&Out {
            cycle: &cycle,
            decisions: &decisions,
            messages: &messages,
        })
        .map(|_| Outcome::Done);
    }
    print_text(&format!(
        "cycle {} — {} {} {} bar {} (index {}), {} / {}: {}\ndata {}\nphases {}",
        cycle.id,
        cycle.playbook,
        cycle.symbol,
        cycle.interval,
        cycle.bar,
        cycle.bar_index,
        cycle.mode,
        cycle.trading_state,
        cycle.outcome,
        cycle.data_hash,
        cycle.phases
    ))?;
    if decisions.is_empty() {
        print_text("strategy: hold (no proposal, nothing for the other stages)")?;
    }
    for d in &decisions {
        let links = [
            d.risk_decision_id.map(|r| format!("risk decision {r}")),
            d.order_id.map(|o| format!("order {o}")),
        ];
        let links: Vec<String> = links.into_iter().flatten().collect();
        let links = if links.is_empty() {
            String::new()
        } else {
            format!(" [{}]", links.join(", "))
        };
        print_text(&format!(
            "{}: {} — {}{links}",
            d.stage, d.decision, d.reason
        ))?;
    }
    Ok(Outcome::Done)
}

/// The file through which `halt` asks a running run to stop.
fn halt_file(home: &Home) -> std::path::PathBuf {
    home.root().join("agents.halt")
}

/// `paper-trade halt | reduce | resume --reason`. A halt first writes its reason to
/// `<home>/agents.halt`, which a running run checks before each group of cycles (the database may be
/// held by that run), then records the state and removes the file; resume removes a leftover one.
pub fn set_state(
    ctx: &Context,
    home: &Home,
    to: TradingState,
    reason: &str,
    now_ms: i64,
) -> Result<Outcome> {
    if reason.trim().is_empty() {
        return Err(Error::invalid("reason: must not be empty"));
    }
    let flag = halt_file(home);
    if to == TradingState::Halted {
        flowrex::atomic::write_atomic(&flag, reason.trim().as_bytes())?;
    }
    let (before, change) = ctx.db()?.write(|tx| {
        let (before, _) = state::current(tx)?;
        Ok((before, state::set(tx, to, reason, "command", now_ms)?))
    })?;
    if flag.exists() {
        std::fs::remove_file(&flag).at(&flag)?;
    }
    if ctx.json {
        print_json(&change)?;
    } else {
        print_text(&format!(
            "trading state {before} → {} ({})",
            change.state, change.reason
        ))?;
    }
    Ok(Outcome::Done)
}

/// `paper-trade health`: each stage's runs, errors, last heartbeat and status over the last cycles.
pub fn health(ctx: &Context) -> Result<Outcome> {
    let rows = ctx.db()?.read(flowrex::agents::health::health)?;
    if ctx.json {
        #[derive(Serialize)]
        struct Out<'a> {
            window: usize,
            stages: &'a [flowrex::agents::health::StageHealth],
        }
        print_json(&Out {
            window: flowrex::agents::health::WINDOW,
            stages: &rows,
        })?;
    } else {
        #[derive(Tabled)]
        struct Line {
            stage: &'static str,
            status: &'static str,
            cycles: usize,
            errors: usize,
            slowest_ms: String,
            last_heartbeat: String,
        }
        print_text(&table(rows.iter().map(|h| Line {
            stage: h.stage,
            status: h.status,
            cycles: h.cycles,
            errors: h.errors,
            slowest_ms: format!("{:.3}", h.slowest_ms),
            last_heartbeat: h.last_heartbeat.clone().unwrap_or_default(),
        })))?;
        print_text(&format!(
            "over the last {} cycles; unhealthy: failed in more than half of the cycles it ran in",
            flowrex::agents::health::WINDOW
        ))?;
    }
    Ok(Outcome::Done)
}

/// `paper-trade verify-log`: recomputes every chain of the decision log; exit 3 naming the first row
/// changed after it was written (or a guard trigger that is missing or altered).
pub fn verify_log(ctx: &Context) -> Result<Outcome> {
    let v = ctx.db()?.read(|tx| log::verify(tx))?;
    if ctx.json {
        print_json(&v)?;
    } else {
        #[derive(Tabled)]
        struct Line {
            table: &'static str,
            rows: u64,
            head: String,
        }
        print_text(&table(v.chains.iter().map(|c| Line {
            table: c.table,
            rows: c.rows,
            head: c.head.clone(),
        })))?;
        match v.first_fault() {
            None => print_text("the decision log verifies: every row is as written")?,
            Some(f) => print_text(&format!(
                "{}{}: {}",
                f.table,
                f.id.map(|i| format!(" row {i}")).unwrap_or_default(),
                f.problem
            ))?,
        }
    }
    Ok(if v.intact() {
        Outcome::Done
    } else {
        Outcome::Refused
    })
}
