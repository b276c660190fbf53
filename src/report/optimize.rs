//! The optimization report, composed from plain inputs ([`OptimizeInput`]): summary metrics, a heatmap
//! of the objective over two parameters (the others fixed at the best candidate's values, or the
//! maximum over them — [`HeatMode`]), the top-N table, and the best candidate's stability: the
//! objective of its grid neighbours (±1 step in each parameter) with a plain-words [`verdict`].

use std::collections::HashMap;

use super::html::{Block, Document, Stat, Table, group_thousands};
use super::scale::{ColourScale, Fmt, trim_num};
use super::svg::{self, Grid};
use crate::error::{Error, Result};

/// One searched parameter and its grid values in order (neighbours are adjacent values).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamAxis {
    /// Parameter name.
    pub name: String,
    /// Its values as written, in grid order.
    pub values: Vec<String>,
}

impl ParamAxis {
    /// The axis of parameter `index` from the distinct values the candidates used: numeric order when
    /// every value parses as a number, else text order.
    pub fn from_candidates(name: &str, index: usize, candidates: &[Candidate]) -> ParamAxis {
        let mut values: Vec<String> = candidates
            .iter()
            .filter_map(|c| c.params.get(index).cloned())
            .collect();
        let nums: Option<Vec<f64>> = values.iter().map(|v| v.trim().parse().ok()).collect();
        match nums {
            Some(_) => values.sort_by(|a, b| {
                let (x, y): (f64, f64) = (
                    a.trim().parse().unwrap_or(0.0),
                    b.trim().parse().unwrap_or(0.0),
                );
                x.total_cmp(&y).then_with(|| a.cmp(b))
            }),
            None => values.sort(),
        }
        values.dedup();
        ParamAxis {
            name: name.to_string(),
            values,
        }
    }
}

/// One evaluated parameter set.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    /// Values in the order of the axes, written as on the axis.
    pub params: Vec<String>,
    /// The objective (higher is better); NaN when the candidate is not ranked (failed, too few trades).
    pub objective: f64,
    /// Extra cells for the top-N table, in the order of [`OptimizeInput::extra_columns`].
    pub extra: Vec<String>,
}

/// What a heatmap cell shows when more than two parameters were searched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HeatMode {
    /// The candidate whose other parameters equal the best candidate's.
    #[default]
    AtBest,
    /// The maximum over all values of the other parameters.
    Max,
}

/// Everything an optimization report shows.
#[derive(Debug, Clone, Copy)]
pub struct OptimizeInput<'a> {
    /// Page title.
    pub title: &'a str,
    /// Line under the title.
    pub subtitle: &'a str,
    /// Summary (method, candidates, time…), shown verbatim.
    pub metrics: &'a [Stat],
    /// The best candidate's metrics (through the field table, see [`super::stats`]); a section of its
    /// own when not empty.
    pub best_metrics: &'a [Stat],
    /// Remarks shown under the summary (e.g. where the candidates came from).
    pub notes: &'a [String],
    /// Objective name, e.g. `sharpe`.
    pub objective: &'a str,
    /// The searched parameters.
    pub axes: &'a [ParamAxis],
    /// Every evaluated candidate.
    pub candidates: &'a [Candidate],
    /// Headings of [`Candidate::extra`].
    pub extra_columns: &'a [String],
}

/// Layout and analysis choices.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OptimizeOptions {
    /// Heatmap columns: this axis.
    pub heat_x: usize,
    /// Heatmap rows: this axis.
    pub heat_y: usize,
    /// How the other parameters are collapsed.
    pub heat_mode: HeatMode,
    /// Rows of the top table.
    pub top_n: usize,
    /// Neighbours within this many percent of the best make a plateau.
    pub plateau_tolerance_pct: f64,
    /// Chart width in CSS pixels.
    pub width: f64,
}

impl Default for OptimizeOptions {
    fn default() -> OptimizeOptions {
        OptimizeOptions {
            heat_x: 0,
            heat_y: 1,
            heat_mode: HeatMode::AtBest,
            top_n: 20,
            plateau_tolerance_pct: 10.0,
            width: svg::WIDTH,
        }
    }
}

/// The report as one self-contained HTML page. A candidate with the wrong number of parameters or a
/// value not on its axis is an error naming it.
pub fn optimize_report(input: &OptimizeInput, opts: &OptimizeOptions) -> Result<String> {
    Ok(optimize_document(input, opts)?.render())
}

/// The report as a [`Document`].
pub fn optimize_document(input: &OptimizeInput, opts: &OptimizeOptions) -> Result<Document> {
    let coords = grid_coords(input)?;
    let mut doc = Document::new(input.title, Some(input.subtitle.to_string()));
    let best = best_candidate(input.candidates);
    let stability = best.map(|b| stability(input, opts, &coords, b));
    let summary = doc.section("Summary");
    summary.push(Block::Metrics(input.metrics.to_vec()));
    if let (Some(b), Some((v, _))) = (best, &stability) {
        summary.push(Block::Text(best_text(input, b, v)));
    }
    for n in input.notes {
        summary.push(Block::Notice(n.clone()));
    }
    let (Some(best), Some((verdict, nbrs))) = (best, stability) else {
        let msg = if input.candidates.is_empty() {
            "No data: no candidate was evaluated.".to_string()
        } else {
            format!(
                "No ranked candidate: none of the {} evaluated candidates has a finite {}.",
                group_thousands(input.candidates.len()),
                input.objective
            )
        };
        doc.section("Objective heatmap").push(Block::Notice(msg));
        return Ok(doc);
    };
    heat_section(&mut doc, input, opts, &coords, best);
    top_section(&mut doc, input, opts);
    stability_section(&mut doc, input, &coords, best, &verdict, &nbrs);
    if !input.best_metrics.is_empty() {
        doc.section("Best candidate")
            .caption("Every metric of the best candidate's backtest, as the playbook records them (backtest --playbook reproduces them).")
            .push(Block::Metrics(input.best_metrics.to_vec()));
    }
    Ok(doc)
}

/// The best candidate, its objective and its stability, in one sentence.
fn best_text(input: &OptimizeInput, best: usize, v: &Verdict) -> String {
    let params: Vec<String> = input
        .axes
        .iter()
        .zip(&input.candidates[best].params)
        .map(|(a, p)| format!("{}={p}", a.name))
        .collect();
    format!(
        "Best candidate: {} with {} {}. Its grid neighbours say — {}.",
        if params.is_empty() {
            "(no searched parameter)".to_string()
        } else {
            params.join(", ")
        },
        input.objective,
        objective_text(input.candidates[best].objective),
        v.text
    )
}

/// The best candidate's grid neighbours and the verdict on them.
fn stability(
    input: &OptimizeInput,
    opts: &OptimizeOptions,
    coords: &[Vec<u32>],
    best: usize,
) -> (Verdict, Vec<Neighbour>) {
    let cands = input.candidates;
    let nbrs = neighbours(input.axes, coords, best);
    let evaluated: Vec<f64> = nbrs
        .iter()
        .filter_map(|n| n.candidate.map(|c| cands[c].objective))
        .collect();
    let v = verdict(
        cands[best].objective,
        &evaluated,
        opts.plateau_tolerance_pct,
    );
    (v, nbrs)
}

/// Each candidate's position on each axis; errors name the candidate, the parameter and the value.
fn grid_coords(input: &OptimizeInput) -> Result<Vec<Vec<u32>>> {
    let index: Vec<HashMap<&str, u32>> = input
        .axes
        .iter()
        .map(|a| {
            a.values
                .iter()
                .enumerate()
                .map(|(i, v)| (v.as_str(), i as u32))
                .collect()
        })
        .collect();
    input
        .candidates
        .iter()
        .enumerate()
        .map(|(ci, c)| {
            if c.params.len() != input.axes.len() {
                return Err(Error::invalid(format!(
                    "report: candidate {} has {} parameters but {} axes are given",
                    ci + 1,
                    c.params.len(),
                    input.axes.len()
                )));
            }
            c.params
                .iter()
                .zip(&index)
                .zip(input.axes)
                .map(|((v, ix), a)| {
                    ix.get(v.as_str()).copied().ok_or_else(|| {
                        Error::invalid(format!(
                            "report: candidate {}: {}={v} is not one of the axis values",
                            ci + 1,
                            a.name
                        ))
                    })
                })
                .collect()
        })
        .collect()
}

/// The candidate with the highest finite objective (the first one on ties).
pub fn best_candidate(cands: &[Candidate]) -> Option<usize> {
    let mut best: Option<usize> = None;
    for (i, c) in cands.iter().enumerate() {
        if c.objective.is_finite() && best.is_none_or(|b| c.objective > cands[b].objective) {
            best = Some(i);
        }
    }
    best
}

/// Most cells along one heatmap axis. An axis with more values (random or swarm search over a wide
/// range) groups neighbouring values into this many cells, each showing the best of its group.
pub const MAX_HEAT_CELLS: usize = 60;

/// Cells along an axis of `n` values.
fn cells(n: usize) -> usize {
    n.clamp(1, MAX_HEAT_CELLS)
}

/// The cell of value index `i` on an axis of `n` values.
fn cell_of(i: u32, n: usize) -> usize {
    i as usize * cells(n) / n.max(1)
}

/// The label of each cell of an axis: its value, or `first–last` of a group of values.
pub fn cell_labels(values: &[String]) -> Vec<String> {
    let (n, k) = (values.len(), cells(values.len()));
    (0..k.min(n))
        .map(|c| {
            // the values in cell c are those i with ⌊i·k/n⌋ = c: from ⌈c·n/k⌉ to ⌈(c+1)·n/k⌉ − 1
            let (a, b) = ((c * n).div_ceil(k), ((c + 1) * n).div_ceil(k) - 1);
            if a >= b {
                values[a].clone()
            } else {
                format!("{}–{}", values[a], values[b])
            }
        })
        .collect()
}

/// Heatmap values over axes `axes.0` (columns) and `axes.1` (rows) holding `counts` values:
/// `values[row * nx + col]` with [`MAX_HEAT_CELLS`] at most per axis; NaN where nothing finite was
/// evaluated. `coords` are the candidates' value indices on every axis; `best` is the best candidate
/// (used by [`HeatMode::AtBest`]).
pub fn heat_values(
    cands: &[Candidate],
    coords: &[Vec<u32>],
    axes: (usize, usize),
    counts: (usize, usize),
    best: usize,
    mode: HeatMode,
) -> Vec<f64> {
    let ((x, y), (vx, vy)) = (axes, counts);
    let nx = cells(vx);
    let mut out = vec![f64::NAN; nx * cells(vy)];
    for (c, xy) in cands.iter().zip(coords) {
        if !c.objective.is_finite() {
            continue;
        }
        let others_match = (0..xy.len()).all(|d| d == x || d == y || xy[d] == coords[best][d]);
        if mode == HeatMode::AtBest && !others_match {
            continue;
        }
        let cell = &mut out[cell_of(xy[y], vy) * nx + cell_of(xy[x], vx)];
        if cell.is_nan() || c.objective > *cell {
            *cell = c.objective;
        }
    }
    out
}

/// The heatmap's (x, y) axes for `n` ≥ 1 parameters: as asked, clamped to the axes present (the
/// caption names the ones shown), y moved off x when they coincide; with one parameter both are it.
fn heat_axes(n: usize, opts: &OptimizeOptions) -> (usize, usize) {
    let (x, y) = (opts.heat_x.min(n - 1), opts.heat_y.min(n - 1));
    if n == 1 {
        (x, x)
    } else if y == x {
        (x, (x + 1) % n)
    } else {
        (x, y)
    }
}

fn heat_section(
    doc: &mut Document,
    input: &OptimizeInput,
    opts: &OptimizeOptions,
    coords: &[Vec<u32>],
    best: usize,
) {
    let axes = input.axes;
    let s = doc.section("Objective heatmap");
    if axes.is_empty() {
        s.push(Block::Notice("No parameters were searched.".into()));
        return;
    }
    let (x, y) = heat_axes(axes.len(), opts);
    let (vx, vy) = (axes[x].values.len(), axes[y].values.len());
    let values = heat_values(
        input.candidates,
        coords,
        (x, y),
        (vx, vy),
        best,
        opts.heat_mode,
    );
    let (nx, ny) = (cells(vx), cells(vy));
    let bx = cell_of(coords[best][x], vx);
    let (y_name, y_labels, rows, highlight) = if axes.len() == 1 {
        (input.objective, vec![String::new()], values, (bx, 0))
    } else {
        let mut rows: Vec<f64> = Vec::with_capacity(values.len());
        for r in (0..ny).rev() {
            rows.extend_from_slice(&values[r * nx..(r + 1) * nx]); // largest y value on top
        }
        let mut labels = cell_labels(&axes[y].values);
        labels.reverse();
        let by = ny - 1 - cell_of(coords[best][y], vy);
        (axes[y].name.as_str(), labels, rows, (bx, by))
    };
    let x_labels = cell_labels(&axes[x].values);
    let aria = format!("{} over {} and {}", input.objective, axes[x].name, y_name);
    let chart = svg::heatmap(
        &Grid {
            aria: &aria,
            x_name: &axes[x].name,
            y_name,
            x_labels: &x_labels,
            y_labels: &y_labels,
            values: &rows,
            fmt: Fmt::Num,
            scale: ColourScale::for_values(&rows, 0.0),
            highlight: Some(highlight),
        },
        opts.width,
    );
    s.caption(heat_caption(input, x, y, best, opts.heat_mode))
        .push(Block::Svg(chart));
}

fn heat_caption(input: &OptimizeInput, x: usize, y: usize, best: usize, mode: HeatMode) -> String {
    let axes = input.axes;
    let others: Vec<String> = (0..axes.len())
        .filter(|&d| d != x && d != y)
        .map(|d| format!("{}={}", axes[d].name, input.candidates[best].params[d]))
        .collect();
    let what = if axes.len() == 1 {
        format!("{} for each value of {}", input.objective, axes[x].name)
    } else {
        format!(
            "{} over {} × {}",
            input.objective, axes[x].name, axes[y].name
        )
    };
    let collapse = match (others.is_empty(), mode) {
        (true, _) => String::new(),
        (false, HeatMode::AtBest) => format!(
            "; other parameters fixed at the best candidate's values ({})",
            others.join(", ")
        ),
        (false, HeatMode::Max) => "; each cell is the maximum over the other parameters".into(),
    };
    let grouped: Vec<&str> = [x, y]
        .iter()
        .filter(|&&d| axes[d].values.len() > MAX_HEAT_CELLS)
        .map(|&d| axes[d].name.as_str())
        .collect();
    let grouped = if grouped.is_empty() {
        String::new()
    } else {
        format!(
            " Neighbouring values of {} are grouped into {MAX_HEAT_CELLS} cells, each showing the best of its group.",
            grouped.join(" and ")
        )
    };
    format!(
        "Objective {what}{collapse}. The outlined cell is the best candidate; hatched cells were not evaluated or not ranked.{grouped}"
    )
}

fn objective_text(v: f64) -> String {
    if v.is_finite() {
        trim_num(v, 6)
    } else {
        "n/a".into()
    }
}

fn top_section(doc: &mut Document, input: &OptimizeInput, opts: &OptimizeOptions) {
    let cands = input.candidates;
    let mut order: Vec<usize> = (0..cands.len())
        .filter(|&i| cands[i].objective.is_finite())
        .collect();
    order.sort_by(|&a, &b| {
        cands[b]
            .objective
            .total_cmp(&cands[a].objective)
            .then(a.cmp(&b))
    });
    order.truncate(opts.top_n.max(1));
    let mut header = vec!["Rank".to_string()];
    header.extend(input.axes.iter().map(|a| a.name.clone()));
    header.push(input.objective.to_string());
    header.extend(input.extra_columns.iter().cloned());
    let numeric: Vec<usize> = std::iter::once(0)
        .chain(input.axes.len() + 1..header.len())
        .collect();
    let mut t = Table::new(header).numeric(&numeric);
    for (rank, &i) in order.iter().enumerate() {
        let mut row = vec![(rank + 1).to_string()];
        row.extend(cands[i].params.iter().cloned());
        row.push(objective_text(cands[i].objective));
        row.extend(cands[i].extra.iter().cloned());
        t.push(row);
    }
    let ranked = cands.iter().filter(|c| c.objective.is_finite()).count();
    doc.section("Top candidates")
        .caption(format!(
            "The best {} of {} ranked candidates by {} ({} evaluated).",
            order.len(),
            group_thousands(ranked),
            input.objective,
            group_thousands(cands.len())
        ))
        .push(Block::Table(t));
}

/// A grid neighbour of the best candidate.
#[derive(Debug, Clone, PartialEq)]
pub struct Neighbour {
    /// Axis index.
    pub param: usize,
    /// −1 or +1 step along it.
    pub step: i32,
    /// The neighbour's candidate index, if it was evaluated.
    pub candidate: Option<usize>,
}

/// The neighbours of candidate `best` one grid step away along each axis (not past the grid's edge).
pub fn neighbours(axes: &[ParamAxis], coords: &[Vec<u32>], best: usize) -> Vec<Neighbour> {
    let lookup: HashMap<&[u32], usize> = coords
        .iter()
        .enumerate()
        .rev() // the first candidate wins on duplicates
        .map(|(i, c)| (c.as_slice(), i))
        .collect();
    let mut out = Vec::new();
    for (d, axis) in axes.iter().enumerate() {
        for step in [-1i32, 1] {
            let v = coords[best][d] as i64 + step as i64;
            if v < 0 || v >= axis.values.len() as i64 {
                continue;
            }
            let mut key = coords[best].clone();
            key[d] = v as u32;
            out.push(Neighbour {
                param: d,
                step,
                candidate: lookup.get(key.as_slice()).copied(),
            });
        }
    }
    out
}

/// How the objective behaves around the best candidate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StabilityKind {
    /// Every evaluated neighbour is within the tolerance of the best.
    Plateau,
    /// At least one neighbour falls further (or is not ranked).
    Spike,
    /// No neighbour was evaluated.
    Unknown,
}

/// A one-line judgement of the best candidate's neighbourhood.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    /// Plateau, spike or unknown.
    pub kind: StabilityKind,
    /// The largest fall below the best among the neighbours, percent of |best| (infinite when a
    /// neighbour is not ranked).
    pub worst_drop_pct: f64,
    /// The sentence shown in the report.
    pub text: String,
}

/// Judges `neighbours` (objective values; NaN = evaluated but not ranked) against `best`: the drop of
/// each is `(best − n) / |best|` in percent; a plateau when every drop is at most `tolerance_pct`.
pub fn verdict(best: f64, neighbours: &[f64], tolerance_pct: f64) -> Verdict {
    if neighbours.is_empty() {
        return Verdict {
            kind: StabilityKind::Unknown,
            worst_drop_pct: f64::NAN,
            text: "unknown: no grid neighbour of the best candidate was evaluated".into(),
        };
    }
    let scale = best.abs().max(1e-12);
    let drops: Vec<f64> = neighbours
        .iter()
        .map(|&n| {
            if n.is_finite() {
                (best - n) / scale * 100.0
            } else {
                f64::INFINITY
            }
        })
        .collect();
    let worst = drops.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let k = neighbours.len();
    let worst_text = if worst.is_finite() {
        format!("worst {:.1}% below", worst.max(0.0))
    } else {
        "a neighbour is not ranked".into()
    };
    if worst <= tolerance_pct {
        Verdict {
            kind: StabilityKind::Plateau,
            worst_drop_pct: worst,
            text: format!(
                "plateau: all {k} neighbour{} within {tolerance_pct}% of the best ({worst_text})",
                if k == 1 { "" } else { "s" }
            ),
        }
    } else {
        let m = drops.iter().filter(|&&d| d > tolerance_pct).count();
        Verdict {
            kind: StabilityKind::Spike,
            worst_drop_pct: worst,
            text: format!(
                "spike: {m} of {k} neighbours fall more than {tolerance_pct}% below the best ({worst_text}); the result may not survive small parameter changes"
            ),
        }
    }
}

fn stability_section(
    doc: &mut Document,
    input: &OptimizeInput,
    coords: &[Vec<u32>],
    best: usize,
    v: &Verdict,
    nbrs: &[Neighbour],
) {
    let (axes, cands) = (input.axes, input.candidates);
    let b = cands[best].objective;
    let header = ["Parameter", "Step", "Value", input.objective, "vs best"]
        .map(String::from)
        .to_vec();
    let mut t = Table::new(header).numeric(&[1, 3, 4]);
    let best_params: Vec<String> = axes
        .iter()
        .zip(&cands[best].params)
        .map(|(a, p)| format!("{}={p}", a.name))
        .collect();
    t.push(vec![
        "best".into(),
        "0".into(),
        best_params.join(", "),
        objective_text(b),
        String::new(),
    ]);
    for n in nbrs {
        let value =
            axes[n.param].values[(coords[best][n.param] as i64 + n.step as i64) as usize].clone();
        let (obj, diff) = match n.candidate.map(|c| cands[c].objective) {
            None => ("not evaluated".to_string(), String::new()),
            Some(o) if !o.is_finite() => ("not ranked".to_string(), String::new()),
            Some(o) => (
                objective_text(o),
                format!("{:+.1}%", (o - b) / b.abs().max(1e-12) * 100.0),
            ),
        };
        let step = if n.step < 0 { "−1" } else { "+1" };
        t.push(vec![
            axes[n.param].name.clone(),
            step.into(),
            value,
            obj,
            diff,
        ]);
    }
    doc.section("Parameter stability")
        .caption("The best candidate's grid neighbours: one step down and up in each parameter, the others unchanged. A neighbour outside the constraints, or not drawn by a random or evolutionary search, was not evaluated.")
        .push(Block::Text(format!("Verdict — {}.", v.text)))
        .push(Block::Table(t));
}
