//! `flowrex playbooks`: list the home's playbooks (with filters; fits 80 columns), show one, and set a
//! playbook's status with a note (written into the file, audited in the state database). The logic is
//! in `flowrex::playbook::manage`.

use std::path::{Path, PathBuf};

use clap::{Subcommand, ValueEnum};
use serde::Serialize;

use super::output::{print_json, print_text};
use super::{Context, Outcome};
use flowrex::error::{Error, Result};
use flowrex::playbook::manage::{self, DataState, Listed, StatusChange, StatusEvent};
use flowrex::playbook::{Playbook, Provenance};

const AFTER_HELP: &str =
    "A NAME is a file of <home>/playbooks without `.toml` (goog_1d_sma_cross), or a
path to a playbook file (anything with a `/` or ending in `.toml`).

Columns of the list: Data is `same` when the bars of the playbook's range (and
any signals file it names) still hash as recorded, `changed` when not
(`backtest --playbook P --check` would refuse), and `missing` when the store
has no such data. Objective is the optimization's objective and the best value
(`-` for a hand-written playbook).

Statuses: candidate (what optimize writes; it may replace it), active
(paper-trade run trades it), retired. `set-status` appends `<time> <old> ->
<new>: <note>` to the file's [playbook] notes, rewrites the file atomically
and records the change in the state database (append-only, hash-chained).

Examples:
  flowrex playbooks
  flowrex playbooks list --status active --json
  flowrex playbooks show goog_1d_sma_cross
  flowrex playbooks set-status goog_1d_sma_cross active --note \"passed the gate\"";

/// Arguments of `flowrex playbooks`.
#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true, after_help = AFTER_HELP)]
pub struct PlaybooksArgs {
    /// What to do (default: list).
    #[command(subcommand)]
    pub command: Option<PlaybooksCommand>,
    /// Filters of the default list.
    #[command(flatten)]
    pub list: ListArgs,
}

/// The subcommands of `flowrex playbooks`.
#[derive(Debug, Subcommand)]
pub enum PlaybooksCommand {
    /// List the playbooks (the default).
    List(ListArgs),
    /// Show one playbook: settings, metrics, notes, whether it is as written, its status history.
    Show(ShowArgs),
    /// Set a playbook's status (candidate, active, retired) with a note.
    SetStatus(SetStatusArgs),
}

/// Filters of `playbooks list`.
#[derive(Debug, Default, clap::Args)]
pub struct ListArgs {
    /// Only playbooks with this status.
    #[arg(long, value_enum)]
    pub status: Option<Status>,
    /// Only playbooks of this strategy.
    #[arg(long)]
    pub strategy: Option<String>,
    /// Only playbooks on this symbol.
    #[arg(long)]
    pub symbol: Option<String>,
    /// Only playbooks on this interval.
    #[arg(long)]
    pub interval: Option<String>,
    /// The folder to list [default: <home>/playbooks].
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

/// Arguments of `playbooks show`.
#[derive(Debug, clap::Args)]
pub struct ShowArgs {
    /// The playbook: a name in <home>/playbooks, or a file.
    pub name: String,
}

/// Arguments of `playbooks set-status`.
#[derive(Debug, clap::Args)]
pub struct SetStatusArgs {
    /// The playbook: a name in <home>/playbooks, or a file.
    pub name: String,
    /// The new status.
    #[arg(value_enum)]
    pub status: Status,
    /// Why (recorded in the file's notes and in the database).
    #[arg(long, value_name = "TEXT")]
    pub note: String,
    /// Change a playbook that was edited by hand since flowrex wrote it.
    #[arg(long)]
    pub force: bool,
}

/// A playbook status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Status {
    /// Written by optimize; may be replaced by the next run.
    Candidate,
    /// Promoted: paper-trade run trades it.
    Active,
    /// No longer used.
    Retired,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Status::Candidate => "candidate",
            Status::Active => "active",
            Status::Retired => "retired",
        }
    }
}

/// Runs `flowrex playbooks`.
pub fn run(ctx: &Context, args: PlaybooksArgs) -> Result<Outcome> {
    match args.command {
        None => list(ctx, &args.list),
        Some(PlaybooksCommand::List(l)) => list(ctx, &l),
        Some(PlaybooksCommand::Show(s)) => show(ctx, &s),
        Some(PlaybooksCommand::SetStatus(s)) => set_status(ctx, &s),
    }
}

/// The file a NAME means: a path when it has a `/` or ends in `.toml`, else `<home>/playbooks/NAME.toml`.
fn resolve(ctx: &Context, name: &str) -> Result<PathBuf> {
    let path = if name.contains('/') || name.ends_with(".toml") {
        PathBuf::from(name)
    } else {
        ctx.home()?.playbook_file(name)
    };
    if !path.is_file() {
        return Err(Error::invalid(format!(
            "{}: no such playbook (`flowrex playbooks` lists them)",
            absolute(&path)
        )));
    }
    Ok(path)
}

fn absolute(path: &Path) -> String {
    std::path::absolute(path)
        .unwrap_or_else(|_| path.to_path_buf())
        .display()
        .to_string()
}

/// One playbook as `list --json` prints it.
#[derive(Debug, Serialize)]
struct ListEntry {
    name: String,
    file: String,
    strategy: String,
    symbol: String,
    interval: String,
    status: String,
    objective: Option<String>,
    objective_value: Option<f64>,
    created_at: String,
    data: DataState,
    edited: bool,
}

impl ListEntry {
    fn new(pb: &Playbook, path: &Path, data: DataState) -> ListEntry {
        let o = pb.optimization.as_ref();
        ListEntry {
            name: pb.playbook.name.clone(),
            file: absolute(path),
            strategy: pb.strategy.name.clone(),
            symbol: pb.market.symbol.clone(),
            interval: pb.market.interval.clone(),
            status: pb.playbook.status.clone(),
            objective: o.map(|o| o.objective.clone()),
            objective_value: o.and(pb.top.first()).map(|t| t.objective),
            created_at: pb.playbook.created_at.clone(),
            data,
            edited: matches!(
                Provenance::of_file(path),
                Ok(Provenance::Edited { .. }) | Err(_)
            ),
        }
    }

    fn matches(&self, f: &ListArgs) -> bool {
        let is = |want: &Option<String>, have: &str| want.as_deref().is_none_or(|w| w == have);
        f.status.is_none_or(|s| s.as_str() == self.status)
            && is(&f.strategy, &self.strategy)
            && is(&f.symbol, &self.symbol)
            && is(&f.interval, &self.interval)
    }
}

fn list(ctx: &Context, filter: &ListArgs) -> Result<Outcome> {
    let home = ctx.home()?;
    let dir = filter.dir.clone().unwrap_or_else(|| home.playbooks_dir());
    // Absolute, so every path printed can be pasted from any folder.
    let dir = std::path::absolute(&dir).map_err(|e| Error::io(&dir, e))?;
    let store = home.store();
    let mut rows = Vec::new();
    let mut problems = Vec::new();
    for Listed { path, playbook } in manage::catalog(&dir)? {
        match playbook {
            Ok(pb) => {
                let data = manage::data_state(&pb, &store, &path);
                let entry = ListEntry::new(&pb, &path, data);
                if entry.matches(filter) {
                    rows.push(entry);
                }
            }
            Err(e) => problems.push(e),
        }
    }
    if ctx.json {
        print_json(&serde_json::json!({
            "dir": absolute(&dir),
            "playbooks": rows,
            "errors": problems,
        }))?;
    } else {
        print_text(&render_list(&rows, &dir))?;
        for p in &problems {
            print_text(&format!("error: {p}"))?;
        }
    }
    Ok(if problems.is_empty() {
        Outcome::Done
    } else {
        Outcome::PartlyFailed
    })
}

/// The list as a table of at most 80 columns: each column as wide as its widest value up to a cap
/// (longer values end in `…`, and a line under the table says so), one space between columns. The caps
/// sum to 72, plus 7 spaces: 79. The name gets the room the other columns leave (it is what `show` and
/// `set-status` take, and names that share a prefix must stay apart). `--wide`: no caps.
fn render_list(rows: &[ListEntry], dir: &Path) -> String {
    const HEAD: [&str; 8] = [
        "Name",
        "Strategy",
        "Symbol",
        "Int",
        "Status",
        "Objective",
        "Created",
        "Data",
    ];
    const CAP: [usize; 8] = [15, 9, 7, 3, 9, 12, 10, 7];
    if rows.is_empty() {
        return format!("no playbooks in {}", absolute(dir));
    }
    let cells: Vec<[String; 8]> = rows.iter().map(cells).collect();
    let widest: Vec<usize> = (0..8)
        .map(|c| {
            let widest = cells.iter().map(|r| r[c].chars().count()).max();
            widest.unwrap_or(0).max(HEAD[c].len())
        })
        .collect();
    let mut width = widest.clone();
    if super::table_fit::width() != usize::MAX {
        for (w, cap) in width.iter_mut().zip(CAP) {
            *w = (*w).min(cap);
        }
        let others = width[1..].iter().sum::<usize>() + 7;
        width[0] = widest[0].min(CAP[0].max(79usize.saturating_sub(others)));
    }
    let line = |cols: &[String]| {
        let parts: Vec<String> = cols
            .iter()
            .zip(&width)
            .map(|(v, &w)| format!("{:<w$}", fit(v, w)))
            .collect();
        parts.join(" ").trim_end().to_string()
    };
    let mut out = line(&HEAD.map(String::from)) + "\n";
    for r in &cells {
        out.push_str(&line(r));
        out.push('\n');
    }
    out.push_str(&footer(rows, dir));
    if width.iter().zip(&widest).any(|(w, v)| w < v) {
        out.push_str("\n(values ending in … were cut to fit 80 columns; --wide shows them whole)");
    }
    out
}

/// `N playbooks in DIR (A active, C candidate, R retired)`, and what `*` means when one is marked.
fn footer(rows: &[ListEntry], dir: &Path) -> String {
    let count = |s: &str| rows.iter().filter(|r| r.status == s).count();
    format!(
        "{} playbooks in {} ({} active, {} candidate, {} retired){}",
        rows.len(),
        absolute(dir),
        count("active"),
        count("candidate"),
        count("retired"),
        if rows.iter().any(|r| r.edited) {
            "; * edited by hand since written"
        } else {
            ""
        }
    )
}

/// One row of the list as its eight cells.
fn cells(r: &ListEntry) -> [String; 8] {
    let objective = match (&r.objective, r.objective_value) {
        // The value first, so a long objective name is what gets cut.
        (Some(o), Some(v)) => format!("{v:.2} {o}"),
        (Some(o), None) => o.clone(),
        _ => "-".into(),
    };
    let edited = if r.edited { "*" } else { "" };
    // The file's name, which `show` and `set-status` take ([playbook] name is in --json and `show`).
    let name = Path::new(&r.file)
        .file_stem()
        .map_or_else(|| r.name.clone(), |s| s.to_string_lossy().into_owned());
    [
        format!("{name}{edited}"),
        r.strategy.clone(),
        r.symbol.clone(),
        r.interval.clone(),
        r.status.clone(),
        objective,
        r.created_at.chars().take(10).collect(),
        r.data.word().to_string(),
    ]
}

/// `v` cut to `w` characters, the last one `…` when cut.
fn fit(v: &str, w: usize) -> String {
    if v.chars().count() <= w {
        return v.to_string();
    }
    let mut s: String = v.chars().take(w.saturating_sub(1)).collect();
    s.push('…');
    s
}

fn show(ctx: &Context, args: &ShowArgs) -> Result<Outcome> {
    let path = resolve(ctx, &args.name)?;
    let pb = Playbook::load(&path)?;
    let home = ctx.home()?;
    let data = manage::data_state(&pb, &home.store(), &path);
    let provenance = match Provenance::of_file(&path)? {
        Provenance::Unsigned => "unsigned (no content_sha256: hand-written or older)",
        Provenance::AsWritten => "as flowrex wrote it",
        Provenance::Edited { .. } => "EDITED by hand since flowrex wrote it",
    };
    let history = if home.db_file().exists() {
        manage::history(ctx.db_read()?.conn(), &path)?
    } else {
        Vec::new()
    };
    if ctx.json {
        print_json(&serde_json::json!({
            "file": absolute(&path),
            "provenance": provenance,
            "data": data,
            "history": history,
            "playbook": pb,
        }))?;
        return Ok(Outcome::Done);
    }
    print_text(&render_show(&pb, &path, provenance, &data, &history))?;
    Ok(Outcome::Done)
}

fn render_show(
    pb: &Playbook,
    path: &Path,
    provenance: &str,
    data: &DataState,
    history: &[StatusEvent],
) -> String {
    let h = &pb.playbook;
    let m = &pb.market;
    let b = &pb.backtest;
    let mut out = format!(
        "{} ({})\nstatus:   {}, created {} by flowrex {}; {provenance}\n\
         strategy: {} {}\nmarket:   {} {} {} to {}, {} bars; data {}\n\
         settings: cash {} commission {} spread {} fill {} size {} stop-policy {}{}\n",
        h.name,
        absolute(path),
        h.status,
        h.created_at,
        h.flowrex_version,
        pb.strategy.name,
        pb.strategy.params.to_line(),
        m.symbol,
        m.interval,
        m.start,
        m.end,
        m.bars,
        data.word(),
        b.cash,
        b.commission,
        b.spread,
        b.fill,
        b.size,
        b.stop_policy,
        if b.close_at_end { " close-at-end" } else { "" },
    );
    if let DataState::Changed(why) | DataState::Missing(why) = data {
        out.push_str(&format!("          {why}\n"));
    }
    out.push_str(&render_outcome(pb, history));
    out
}

/// The search, the metrics, the notes and the status history of `show`.
fn render_outcome(pb: &Playbook, history: &[StatusEvent]) -> String {
    let mut out = String::new();
    if let Some(o) = &pb.optimization {
        out.push_str(&format!(
            "search:   {} maximizing {}: {} of {} feasible evaluated, {} ranked, best {}\n",
            o.method,
            o.objective,
            o.evaluated,
            o.feasible,
            o.ranked,
            pb.top
                .first()
                .map_or("-".to_string(), |t| format!("{:.6}", t.objective))
        ));
    }
    let metric = |k: &str| match pb.metrics.get(k) {
        Some(toml::Value::Float(f)) => format!("{f:.4}"),
        Some(v) => v.to_string(),
        None => "-".to_string(),
    };
    out.push_str(&format!(
        "metrics:  return_pct {}, sharpe {}, max_drawdown_pct {}, num_trades {}\n",
        metric("return_pct"),
        metric("sharpe"),
        metric("max_drawdown_pct"),
        metric("num_trades")
    ));
    if let Some(notes) = &pb.playbook.notes {
        out.push_str("notes:\n");
        for l in notes.lines() {
            out.push_str(&format!("  {l}\n"));
        }
    }
    if history.is_empty() {
        out.push_str("status history: none recorded");
    } else {
        out.push_str("status history (state database):");
        for e in history {
            out.push_str(&format!(
                "\n  #{} {} {} -> {}: {}",
                e.id, e.ts, e.old_status, e.new_status, e.note
            ));
        }
    }
    out
}

fn set_status(ctx: &Context, args: &SetStatusArgs) -> Result<Outcome> {
    let path = resolve(ctx, &args.name)?;
    let change = StatusChange {
        path: &path,
        status: args.status.as_str(),
        note: &args.note,
        now_ms: chrono::Utc::now().timestamp_millis(),
        force: args.force,
    };
    let event = manage::set_status(&mut *ctx.db()?, &change)?;
    if ctx.json {
        print_json(&event)?;
    } else {
        print_text(&format!(
            "{}: {} -> {} (audit event #{}); written to {}",
            event.name, event.old_status, event.new_status, event.id, event.file
        ))?;
    }
    Ok(Outcome::Done)
}
