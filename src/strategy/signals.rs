//! `signals`: replays entries and exits computed elsewhere (a pandas notebook, another backtester, a
//! model), read from a CSV or Parquet file, so they get this engine's fills, metrics, reports and
//! playbook checks.
//!
//! # The file
//!
//! One row per signal, columns named (any case; no other columns are accepted, so a misspelt one is
//! not silently ignored):
//!
//! | column | required | what |
//! |---|---|---|
//! | `time` (or `ts`, `date`, `datetime`, `timestamp`) | yes | the open time of the bar at whose **close** the signal is decided |
//! | `action` | yes | `enter-long` (or `long`, `buy`), `enter-short` (`short`, `sell`), `exit` (`close`, `flat`) |
//! | `stop` | no | protective stop price of an entry |
//! | `target` | no | profit target price of an entry |
//! | `size` | no | units to trade (may be fractional); overrides `--size` for this entry |
//!
//! An empty cell, `NaN` or a null is "none". Times: ISO dates or datetimes (no offset = UTC) or epoch
//! numbers (unit by size) in CSV; in Parquet also timestamp columns (a zone-less timestamp is UTC) and
//! dates. A `.parquet` file is read as Parquet, anything else as CSV (`,` or `;`, detected).
//!
//! # Semantics
//!
//! A signal at time `t` is the decision at the close of the bar opening at `t`: with the default fill it
//! fills at the next bar's open, with `--fill close` at that close — exactly as a built-in strategy's
//! decision. An entry first closes any open position (also one on the same side: the file says
//! "enter", so the engine enters again), as the reference's `exclusive_orders=True` does; `exit` closes
//! the position (nothing happens when flat). Stops and targets are handled by the engine (`--stop-policy`);
//! an entry whose stop or target is on the wrong side of the deciding close (adjusted for the spread) is
//! cancelled and counted in `cancelled_orders`, as every strategy's is.
//!
//! Refused (exit 1, naming the file and line or row): a time that matches no bar inside the loaded span
//! (naming the bars around it), a signal on the first bar (decisions start at the second bar, as in
//! backtesting.py), two signals at one time, an unknown action, a level or size that is not a number
//! above 0, and an `exit` with a stop, target or size. Signals before the first or after the last loaded
//! bar (outside `--start`/`--end`) are skipped and counted in a log line.

use std::path::Path;

use super::{ParamSpec, Params, Strategy};
use crate::candles::Candles;
use crate::candles::time::{TimeFormat, format_ts_full, parse_time};
use crate::candles::validate::Problems;
use crate::engine::{Action, Entry, PositionView, Signals};
use crate::error::{Error, IoContext, Result};
use crate::indicators::IndicatorCache;

mod read;

/// The signals-file strategy (registry name `signals`).
#[derive(Debug, Clone, Copy, Default)]
pub struct SignalsFile;

const PARAMS: &[ParamSpec] = &[ParamSpec::path(
    "file",
    "the signals file (.csv or .parquet): time, action, optional stop, target, size",
)];

/// Largest signals file read: 256 MiB (millions of rows; a signal is one short line).
pub const MAX_SIGNALS_BYTES: u64 = 256 << 20;

impl Strategy for SignalsFile {
    fn name(&self) -> &'static str {
        "signals"
    }

    fn summary(&self) -> &'static str {
        "replays entries and exits from a file (--param file=PATH; CSV or Parquet: time, action, stop, target, size)"
    }

    fn params(&self) -> &'static [ParamSpec] {
        PARAMS
    }

    fn prepare<'a>(
        &self,
        candles: &'a Candles,
        params: &Params,
        _cache: &IndicatorCache,
    ) -> Result<Box<dyn Signals + 'a>> {
        let file = params.path("file");
        if file.is_empty() {
            return Err(PARAMS[0].missing());
        }
        let rows = read_signals(Path::new(file))?;
        Ok(Box::new(Replay {
            actions: place(&rows, candles, file)?,
        }))
    }
}

/// One signal as read: where it is in the file (`line 7`, `row 7`), its time and its action.
#[derive(Debug, Clone, PartialEq)]
pub struct SignalRow {
    /// `line N` (CSV, 1-based with the header as line 1) or `row N` (Parquet, 1-based).
    pub at: String,
    /// The open time of the deciding bar (ms, UTC).
    pub ts: i64,
    /// What to do at that bar's close.
    pub action: Action,
}

/// Reads every signal of a file (`.parquet`: Parquet, else CSV). Bad rows are errors naming the file
/// and their line or row; nothing is returned then.
pub fn read_signals(path: &Path) -> Result<Vec<SignalRow>> {
    let meta = std::fs::metadata(path).at(path)?;
    if meta.len() > MAX_SIGNALS_BYTES {
        return Err(Error::invalid(format!(
            "{}: {} MiB is larger than the signals-file limit of {} MiB",
            path.display(),
            meta.len() >> 20,
            MAX_SIGNALS_BYTES >> 20
        )));
    }
    let parquet = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("parquet"));
    if parquet {
        read::parquet(path)
    } else {
        read::csv(path)
    }
}

/// Column names accepted for the time.
const TIME_NAMES: [&str; 5] = ["time", "ts", "date", "datetime", "timestamp"];

/// The accepted columns, for messages.
const COLUMNS: &str = "time (or ts|date|datetime|timestamp), action, stop, target, size";

/// Which column holds what (indices into the file's columns).
#[derive(Debug, Default)]
struct Layout {
    time: Option<usize>,
    action: Option<usize>,
    stop: Option<usize>,
    target: Option<usize>,
    size: Option<usize>,
}

impl Layout {
    /// The layout of a header; unknown or missing columns are an error naming `file`.
    fn of(names: &[String], file: &str) -> Result<Layout> {
        let mut l = Layout::default();
        for (i, raw) in names.iter().enumerate() {
            let n = raw.trim().to_ascii_lowercase();
            let slot = match n.as_str() {
                _ if TIME_NAMES.contains(&n.as_str()) => &mut l.time,
                "action" => &mut l.action,
                "stop" => &mut l.stop,
                "target" => &mut l.target,
                "size" => &mut l.size,
                _ => {
                    return Err(Error::invalid(format!(
                        "{file}: unknown column `{raw}`; a signals file has the columns {COLUMNS}"
                    )));
                }
            };
            if slot.replace(i).is_some() {
                return Err(Error::invalid(format!(
                    "{file}: column `{raw}` appears twice"
                )));
            }
        }
        for (have, what) in [(l.time, "time"), (l.action, "action")] {
            if have.is_none() {
                return Err(Error::invalid(format!(
                    "{file}: no {what} column; a signals file has the columns {COLUMNS}"
                )));
            }
        }
        Ok(l)
    }
}

/// The fields of one signal before checking: action text, and each optional number.
struct RawSignal<'a> {
    action: &'a str,
    stop: Option<f64>,
    target: Option<f64>,
    size: Option<f64>,
}

/// The action of one row, or `None` after recording what is wrong with it in `problems`.
fn action_of(raw: &RawSignal<'_>, at: &str, problems: &mut Problems) -> Option<Action> {
    let mut ok = true;
    for (name, v) in [
        ("stop", raw.stop),
        ("target", raw.target),
        ("size", raw.size),
    ] {
        if let Some(x) = v
            && !(x.is_finite() && x > 0.0)
        {
            problems.add(at, format!("{name}: {x} is not a number above 0"));
            ok = false;
        }
    }
    let entry = |e: Entry| {
        Action::Enter(Entry {
            stop: raw.stop,
            target: raw.target,
            size: raw.size,
            ..e
        })
    };
    let action = match raw.action.trim().to_ascii_lowercase().as_str() {
        "enter-long" | "long" | "buy" => entry(Entry::long()),
        "enter-short" | "short" | "sell" => entry(Entry::short()),
        "exit" | "close" | "flat" => {
            if raw.stop.is_some() || raw.target.is_some() || raw.size.is_some() {
                problems.add(at, "an exit takes no stop, target or size");
                ok = false;
            }
            Action::Exit
        }
        other => {
            problems.add(
                at,
                format!(
                    "action: unknown action '{other}'; expected enter-long, enter-short or exit"
                ),
            );
            return None;
        }
    };
    ok.then_some(action)
}

/// Places signals on the bars of `candles`: one action per bar (`Hold` where there is none). `file`
/// names the source in errors.
pub fn place(rows: &[SignalRow], candles: &Candles, file: &str) -> Result<Vec<Action>> {
    let ts = &candles.ts;
    let mut actions = vec![Action::Hold; ts.len()];
    let mut origin: Vec<Option<&str>> = vec![None; ts.len()];
    let mut problems = Problems::default();
    let (mut before, mut after) = (0usize, 0usize);
    let (Some(&first), Some(&last)) = (ts.first(), ts.last()) else {
        return Ok(actions);
    };
    for r in rows {
        if r.ts < first {
            before += 1;
            continue;
        }
        if r.ts > last {
            after += 1;
            continue;
        }
        match ts.binary_search(&r.ts) {
            Ok(0) => problems.add(
                &r.at,
                format!(
                    "time {}: the first bar cannot carry a signal (decisions start at the second bar, \
                     as in backtesting.py)",
                    format_ts_full(r.ts)
                ),
            ),
            Ok(i) => match origin[i] {
                Some(prev) => problems.add(
                    &r.at,
                    format!("time {} repeats {prev}", format_ts_full(r.ts)),
                ),
                None => {
                    actions[i] = r.action;
                    origin[i] = Some(&r.at);
                }
            },
            Err(i) => problems.add(
                &r.at,
                format!(
                    "time {} matches no bar (the bars around it open at {} and {}); a signal's time \
                     is the open time of the bar at whose close it is decided",
                    format_ts_full(r.ts),
                    format_ts_full(ts[i - 1]),
                    format_ts_full(ts[i])
                ),
            ),
        }
    }
    problems.into_result(file, "no backtest was run")?;
    if before + after > 0 {
        tracing::info!(
            "{file}: {before} signals before the first bar ({}) and {after} after the last ({}) were skipped",
            format_ts_full(first),
            format_ts_full(last)
        );
    }
    Ok(actions)
}

/// A time cell of a CSV file or a Parquet text column.
fn time_of(text: &str) -> Result<i64> {
    parse_time(text, TimeFormat::Auto)
}

/// The per-bar half of [`SignalsFile`]: one precomputed action per bar.
#[derive(Debug, Clone)]
pub struct Replay {
    actions: Vec<Action>,
}

impl Signals for Replay {
    fn warmup(&self) -> usize {
        0
    }

    #[inline]
    fn decide(&mut self, i: usize, _position: &PositionView) -> Action {
        self.actions[i]
    }
}

#[cfg(test)]
mod tests;
