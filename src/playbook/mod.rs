//! Playbooks: the TOML unit of result (docs/DESIGN.md §5) — what to run, on what data, with what outcome, and
//! how to reproduce it. Reading and atomic writing, and the regression check behind
//! `backtest --playbook P --check`. (Merging shard playbooks is `optimize::merge`.)
//!
//! ```toml
//! [playbook]      name, status, created_at, flowrex_version, content_sha256, notes
//! [strategy]      name, [strategy.params], [strategy.file_sha256] (files the parameters name)
//! [market]        symbol, interval, start, end, bars, data_sha256,
//!                 [market.fingerprint] block_bars, blocks, columns (see [`fingerprint`])
//! [backtest]      cash, commission, spread, fill, close_at_end, size, stop_policy
//! [optimization]  method, objective, min_trades, seed, top_k, samples | population + generations,
//!                 shard, merged_shards, constraints, space_size, feasible, feasible_estimated (only when true),
//!                 evaluated, ranked, status, elapsed_s, history, [optimization.space]
//! [metrics]       every metric of the best parameters, named as in `backtest --json`
//! [[top]]         rank, candidate, objective, trades, [top.params] — best first (rank 1 is the best)
//! [validation]    overfitting statistics and gate verdicts (see [`validation`])
//! [walk_forward]  walk-forward windows and the stitched out-of-sample record
//! ```
//!
//! Floats are written in Rust's shortest round-trip form, so every stored value reads back bit for bit.
//! A metric without a finite value (`null` in `backtest --json`) is left out of `[metrics]`.

mod check;
pub mod fingerprint;
pub mod manage;
pub mod validation;

pub use check::{
    CheckReport, DataChange, Drift, FileChange, check_tolerance, compare_metrics, compare_value,
    not_as_written, unfinished_search,
};
pub use fingerprint::{Fingerprint, FirstChange};
pub use validation::{
    Gate, GateVerdict, Gates, Validation, WINDOW_COLUMNS, WINDOW_OPTIONAL, WalkForwardSection,
    WindowColumn, WindowEntry,
};

use std::fs;
use std::path::Path;

use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::candles::TimeRange;
use crate::engine::{BacktestConfig, Fill, Sizing, StopPolicy};
use crate::error::{Error, IoContext, Result, toml_line};
use crate::metrics::Metrics;
use crate::metrics::fields::{self, MetricValue};
use crate::strategy::{ParamValue, Params};

/// An ordered TOML table (keys keep the order they were written in).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Table(pub Vec<(String, toml::Value)>);

impl Table {
    /// True when the table has no key.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The value under `key`.
    pub fn get(&self, key: &str) -> Option<&toml::Value> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// A table of parameter values (ints, floats, choices as strings).
    pub fn from_params(params: &Params) -> Table {
        Table(
            params
                .iter()
                .map(|(n, v)| {
                    let v = match v {
                        ParamValue::Int(i) => toml::Value::Integer(i),
                        ParamValue::Float(f) => toml::Value::Float(f),
                        ParamValue::Choice(s) | ParamValue::Path(s) => {
                            toml::Value::String(s.to_string())
                        }
                    };
                    (n.to_string(), v)
                })
                .collect(),
        )
    }

    /// `(name, value text)` pairs for [`crate::strategy::resolve_params`].
    pub fn to_overrides(&self) -> Vec<(String, String)> {
        self.0
            .iter()
            .map(|(k, v)| {
                let text = match v {
                    toml::Value::String(s) => s.clone(),
                    toml::Value::Float(f) => format!("{f:?}"),
                    other => other.to_string(),
                };
                (k.clone(), text)
            })
            .collect()
    }

    /// `fast=10 slow=20`.
    pub fn to_line(&self) -> String {
        self.0
            .iter()
            .map(|(k, v)| match v {
                toml::Value::String(s) => format!("{k}={s}"),
                other => format!("{k}={other}"),
            })
            .collect::<Vec<_>>()
            .join(" ")
    }
}

impl Serialize for Table {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

impl<'de> Deserialize<'de> for Table {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Table, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Table;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a table")
            }
            fn visit_map<A: MapAccess<'de>>(
                self,
                mut a: A,
            ) -> std::result::Result<Table, A::Error> {
                let mut out = Vec::new();
                while let Some((k, v)) = a.next_entry::<String, toml::Value>()? {
                    out.push((k, v));
                }
                Ok(Table(out))
            }
        }
        d.deserialize_map(V)
    }
}

/// `[metrics]`: every metric with a value, in the field table's order ([`fields::FIELDS`]).
pub fn metrics_table(m: &Metrics) -> Table {
    Table(
        fields::values(m)
            .filter_map(|(k, v)| {
                let v = match v {
                    MetricValue::Int(i) => toml::Value::Integer(i),
                    MetricValue::Float(f) if f.is_finite() => toml::Value::Float(f),
                    MetricValue::Float(_) => return None,
                };
                Some((k.to_string(), v))
            })
            .collect(),
    )
}

/// `[playbook]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Header {
    /// Short name (the file stem by default).
    pub name: String,
    /// `candidate`, `active` or `retired`.
    pub status: String,
    /// When it was written (RFC 3339, UTC).
    pub created_at: String,
    /// The flowrex version that wrote it.
    pub flowrex_version: String,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
}

/// `[strategy]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StrategySection {
    /// Registry name.
    pub name: String,
    /// Every parameter value (defaults included).
    pub params: Table,
    /// The sha256 of the file each path parameter names (a signals file), by parameter name, so that
    /// `--check` notices a changed file. Absent when the strategy reads no file.
    #[serde(default, skip_serializing_if = "Table::is_empty")]
    pub file_sha256: Table,
}

impl StrategySection {
    /// The section of strategy `name` with `params`, hashing every file a path parameter names.
    pub fn new(name: &str, params: &Params) -> Result<StrategySection> {
        let file_sha256 = params
            .iter()
            .filter_map(|(n, v)| match v {
                ParamValue::Path(p) => Some((n, p)),
                _ => None,
            })
            .map(|(n, p)| {
                Ok((
                    n.to_string(),
                    toml::Value::String(file_sha256(Path::new(p))?),
                ))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(StrategySection {
            name: name.to_string(),
            params: Table::from_params(params),
            file_sha256: Table(file_sha256),
        })
    }
}

/// The sha256 of a file's bytes, in lowercase hex.
pub fn file_sha256(path: &Path) -> Result<String> {
    use sha2::{Digest, Sha256};
    use std::io::Read;
    let mut f = fs::File::open(path).at(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 64 << 10];
    loop {
        let n = f.read(&mut buf).at(path)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(crate::hex::hex(&h.finalize()))
}

/// `[market]`: the data the numbers were computed on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Market {
    /// Symbol in the store.
    pub symbol: String,
    /// Bar interval.
    pub interval: String,
    /// First bar's open time (RFC 3339).
    pub start: String,
    /// Last bar's open time (RFC 3339).
    pub end: String,
    /// Number of bars.
    pub bars: u64,
    /// [`crate::candles::Candles::sha256`] of those bars.
    pub data_sha256: String,
    /// Digests of blocks of those bars and of each column: where a change lies (absent in playbooks
    /// of an older flowrex: `--check` then only says that the data changed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<Fingerprint>,
}

impl Market {
    /// The time range that reloads exactly these bars.
    pub fn range(&self) -> Result<TimeRange> {
        TimeRange::parse(Some(&self.start), Some(&self.end))
            .map_err(|e| Error::invalid(format!("playbook [market] start/end: {e}")))
    }
}

/// `[backtest]`: every setting that changes a number.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BacktestSection {
    /// Starting cash.
    pub cash: f64,
    /// Commission fraction.
    pub commission: f64,
    /// Spread fraction.
    pub spread: f64,
    /// `next-open` or `close`.
    pub fill: String,
    /// Close the open trade at the end.
    pub close_at_end: bool,
    /// Sizing as given to `--size`.
    pub size: String,
    /// `pessimistic` or `optimistic`.
    pub stop_policy: String,
}

impl BacktestSection {
    /// The section of a configuration.
    pub fn from_config(c: &BacktestConfig) -> BacktestSection {
        BacktestSection {
            cash: c.cash,
            commission: c.commission,
            spread: c.spread,
            fill: c.fill.to_string(),
            close_at_end: c.close_at_end,
            size: c.sizing.to_string(),
            stop_policy: c.stop_policy.to_string(),
        }
    }

    /// The configuration it describes.
    pub fn to_config(&self) -> Result<BacktestConfig> {
        fn known<T: std::str::FromStr>(what: &str, v: &str) -> Result<T> {
            v.parse().map_err(|_| {
                Error::invalid(format!(
                    "playbook [backtest] {what} = \"{v}\": not a known value"
                ))
            })
        }
        let c = BacktestConfig {
            cash: self.cash,
            commission: self.commission,
            spread: self.spread,
            fill: known::<Fill>("fill", &self.fill)?,
            close_at_end: self.close_at_end,
            sizing: Sizing::parse(&self.size)?,
            stop_policy: known::<StopPolicy>("stop_policy", &self.stop_policy)?,
        };
        c.validate()?;
        Ok(c)
    }
}

/// `[optimization]`: how the parameters were found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Optimization {
    /// `grid`, `random`, `genetic` or `pso`.
    pub method: String,
    /// The maximized objective (`sharpe`, `return`, …).
    pub objective: String,
    /// Candidates with fewer closed trades were not ranked.
    pub min_trades: u64,
    /// Random seed (random, genetic, pso; recorded for every method).
    pub seed: u64,
    /// How many candidates `[[top]]` keeps.
    pub top_k: u64,
    /// Random search: candidates drawn.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub samples: Option<u64>,
    /// Genetic: individuals per generation; pso: particles.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub population: Option<u64>,
    /// Genetic: generations; pso: iterations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generations: Option<u64>,
    /// `K/N` when this is one shard's output.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<String>,
    /// Set by `optimize merge`: how many shard outputs were combined.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merged_shards: Option<u64>,
    /// The `--results` file written with this playbook (every evaluated candidate), relative to the
    /// playbook's folder when it lies inside it; `optimize merge --results` finds the shards' files here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub results: Option<String>,
    /// Constraints, as written.
    pub constraints: Vec<String>,
    /// Candidates in the full grid (before constraints).
    pub space_size: u64,
    /// Candidates satisfying the constraints and the strategy's own checks.
    pub feasible: u64,
    /// True when `feasible` is an estimate from random draws (a grid of more than 2^20 candidates is
    /// not counted one by one); absent when it is exact.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub feasible_estimated: bool,
    /// Candidates backtested.
    pub evaluated: u64,
    /// Candidates ranked (finite objective, at least `min_trades` trades).
    pub ranked: u64,
    /// `complete` or `interrupted` (Ctrl-C: what was evaluated until then).
    pub status: String,
    /// Wall time of the search in seconds (sum over shards after a merge).
    pub elapsed_s: f64,
    /// Genetic / pso: the best objective after each generation or iteration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub history: Option<Vec<f64>>,
    /// Each parameter's searched values, as written (`5..50:5`, `a,b`, or a fixed value).
    pub space: Table,
}

/// One entry of `[[top]]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TopEntry {
    /// 1 = best.
    pub rank: u64,
    /// Index of the candidate in the space's grid (ties in objective rank by it).
    pub candidate: u64,
    /// The objective's value.
    pub objective: f64,
    /// Closed trades.
    pub trades: u64,
    /// Parameters.
    pub params: Table,
}

/// A whole playbook.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Playbook {
    /// `[playbook]`.
    pub playbook: Header,
    /// `[strategy]`.
    pub strategy: StrategySection,
    /// `[market]`.
    pub market: Market,
    /// `[backtest]`.
    pub backtest: BacktestSection,
    /// `[optimization]`, absent in hand-written playbooks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub optimization: Option<Optimization>,
    /// `[metrics]` of the strategy's parameters on the market's data.
    pub metrics: Table,
    /// `[[top]]`, best first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub top: Vec<TopEntry>,
    /// `[validation]`: overfitting statistics of the search and the gates' verdicts (optimize only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validation: Option<Validation>,
    /// `[walk_forward]`: the windows and the stitched out-of-sample record (`optimize --walk-forward`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub walk_forward: Option<WalkForwardSection>,
}

impl Playbook {
    /// The TOML text.
    pub fn to_toml(&self) -> Result<String> {
        toml::to_string(self).map_err(|e| Error::invalid(format!("cannot encode playbook: {e}")))
    }

    /// Parses TOML text; `origin` names the source in errors.
    pub fn from_toml(text: &str, origin: &str) -> Result<Playbook> {
        toml::from_str(text).map_err(|e| {
            Error::invalid(format!(
                "{origin}: not a valid playbook: {}",
                toml_line(text, &e)
            ))
        })
    }

    /// Reads a playbook file.
    pub fn load(path: &Path) -> Result<Playbook> {
        let text = fs::read_to_string(path).at(path)?;
        Playbook::from_toml(&text, &path.display().to_string())
    }

    /// The sha256 of [`Playbook::to_toml`]'s text (lowercase hex): what `[playbook] content_sha256`
    /// records, so that a later edit by hand shows ([`Provenance`]).
    pub fn content_sha256(&self) -> Result<String> {
        Ok(sha256_hex(self.to_toml()?.as_bytes()))
    }

    /// The TOML text with `content_sha256` added to `[playbook]` (after `flowrex_version`). The struct
    /// has no such field: the hash covers the text without it, and reading ignores it.
    pub fn to_signed_toml(&self) -> Result<String> {
        let text = self.to_toml()?;
        let line = format!("{CONTENT_KEY} = \"{}\"\n", sha256_hex(text.as_bytes()));
        // `flowrex_version` is a plain one-line string, always written, so the line after it is inside
        // `[playbook]`.
        let at = text
            .find("\nflowrex_version = ")
            .and_then(|i| text[i + 1..].find('\n').map(|j| i + 1 + j + 1))
            .ok_or_else(|| Error::invalid("cannot encode playbook: no flowrex_version line"))?;
        Ok(format!("{}{line}{}", &text[..at], &text[at..]))
    }

    /// Writes the playbook atomically (temp file in the same folder, fsync, rename), creating the
    /// folder if needed, with its `content_sha256` ([`Playbook::to_signed_toml`]).
    pub fn save(&self, path: &Path) -> Result<()> {
        crate::atomic::write_atomic(path, self.to_signed_toml()?.as_bytes())
    }
}

/// The key of `[playbook]` that holds the sha256 of the rest of the file as flowrex wrote it.
pub const CONTENT_KEY: &str = "content_sha256";

/// Whether a playbook file is as flowrex wrote it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Provenance {
    /// No `content_sha256`: written by hand or by a flowrex before it recorded one.
    Unsigned,
    /// The content matches its `content_sha256` (comments and layout aside: the hash covers what the
    /// file means, re-encoded).
    AsWritten,
    /// Some value changed since flowrex wrote it: the recorded and the actual hash.
    Edited {
        /// `content_sha256` as recorded.
        recorded: String,
        /// The sha256 of the content now.
        actual: String,
    },
}

impl Provenance {
    /// Of the playbook text `text` (`origin` names it in errors).
    pub fn of_text(text: &str, origin: &str) -> Result<Provenance> {
        let pb = Playbook::from_toml(text, origin)?;
        let table: toml::Table = toml::from_str(text).map_err(|e| {
            Error::invalid(format!(
                "{origin}: not a valid playbook: {}",
                toml_line(text, &e)
            ))
        })?;
        let recorded = table
            .get("playbook")
            .and_then(|h| h.get(CONTENT_KEY))
            .and_then(|v| v.as_str());
        let Some(recorded) = recorded else {
            return Ok(Provenance::Unsigned);
        };
        let actual = pb.content_sha256()?;
        Ok(if actual == recorded {
            Provenance::AsWritten
        } else {
            Provenance::Edited {
                recorded: recorded.to_string(),
                actual,
            }
        })
    }

    /// Of the playbook file at `path`.
    pub fn of_file(path: &Path) -> Result<Provenance> {
        let text = fs::read_to_string(path).at(path)?;
        Provenance::of_text(&text, &path.display().to_string())
    }
}

/// Refuses to replace the file at `path` with a new playbook unless it is absent, or a playbook with
/// `status = "candidate"` that was not edited since flowrex wrote it (or predates `content_sha256`).
/// A promoted (`active`, `retired`) or hand-edited playbook holds a decision a re-run must not erase
/// silently; the error names the file, the reason and `--force`.
pub fn check_replaceable(path: &Path) -> Result<()> {
    // Only a regular file is read: opening a FIFO would block, and what may be replaced at all (no
    // folder, FIFO or device) is the output rules' to say.
    match fs::metadata(path) {
        Ok(m) if m.is_file() => {}
        Ok(_) => return Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io(path, e)),
    }
    let text = fs::read_to_string(path).at(path)?;
    let origin = path.display().to_string();
    let refuse = |why: String| {
        Err(Error::invalid(format!(
            "{origin}: {why}; refusing to replace it (pass --force to replace it anyway, or write \
             elsewhere with --out)"
        )))
    };
    let pb = match Playbook::from_toml(&text, &origin) {
        Ok(pb) => pb,
        Err(_) => return refuse("exists and is not a playbook".into()),
    };
    if pb.playbook.status != "candidate" {
        return refuse(format!(
            "is a playbook with status = \"{}\" (only a \"candidate\" is replaced)",
            pb.playbook.status
        ));
    }
    match Provenance::of_text(&text, &origin)? {
        Provenance::Edited { recorded, actual } => refuse(edited_since(&recorded, &actual)),
        Provenance::Unsigned | Provenance::AsWritten => Ok(()),
    }
}

/// "was edited since flowrex wrote it (content sha256 … recorded, … now)", hashes cut to 12 digits:
/// how every refusal of an edited playbook says it.
fn edited_since(recorded: &str, actual: &str) -> String {
    format!(
        "was edited since flowrex wrote it (content sha256 {} recorded, {} now)",
        recorded.get(..12).unwrap_or(recorded),
        actual.get(..12).unwrap_or(actual)
    )
}

/// The sha256 of `bytes` in lowercase hex.
fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    crate::hex::hex(&Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_round_trip_bit_for_bit() {
        let values = [
            0.1 + 0.2,
            1e-300,
            5e-324,
            f64::MAX,
            -0.0,
            123_456_789.123_456_79,
            2.0f64.sqrt(),
            1e21,
            -7.5e-5,
        ];
        let t = Table(
            values
                .iter()
                .enumerate()
                .map(|(i, v)| (format!("v{i}"), toml::Value::Float(*v)))
                .collect(),
        );
        #[derive(Serialize, Deserialize)]
        struct W {
            t: Table,
        }
        let text = toml::to_string(&W { t: t.clone() }).unwrap();
        let back: W = toml::from_str(&text).unwrap();
        for ((_, a), (_, b)) in t.0.iter().zip(&back.t.0) {
            let (toml::Value::Float(a), toml::Value::Float(b)) = (a, b) else {
                panic!("not floats: {text}")
            };
            assert_eq!(a.to_bits(), b.to_bits(), "{text}");
        }
        // Order is kept.
        assert_eq!(back.t.0[3].0, "v3");
    }
}
