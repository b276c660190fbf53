//! The backtest a book of journal entries is compared with: the playbook the trades were made under
//! (named with `--playbook`, or recorded in the entries and found at `<home>/playbooks/<name>.toml` with
//! the recorded SHA-256), else the strategy, parameters and settings the entries recorded (what
//! `backtest --journal` writes). [`Reference::deployed`] is the backtest as it was run before trading
//! (the playbook's own data window); [`Reference::replay_from`] runs it on from there over later bars.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::entry::{Entry, PlaybookRef};
use crate::backtest::{DataSpec, Report, RunSpec};
use crate::candles::time::{TimeFormat, format_ts_full, parse_time};
use crate::candles::{Candles, Interval, Store, TimeRange};
use crate::engine::BacktestConfig;
use crate::error::{Error, Result};
use crate::indicators::IndicatorCache;
use crate::playbook::{BacktestSection, Playbook};
use crate::strategy::{self, Params};

/// The settings JSON of an entry: the backtest settings and the data window of the run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordedSettings {
    /// Cash, costs, fill, sizing, stop policy.
    #[serde(flatten)]
    pub backtest: BacktestSection,
    /// The run's first bar (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_start: Option<String>,
    /// The run's last bar (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_end: Option<String>,
    /// Bars in the run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bars: Option<u64>,
}

impl RecordedSettings {
    /// The settings of a run of `config` over `candles`.
    pub fn of_run(config: &BacktestConfig, candles: &Candles) -> RecordedSettings {
        RecordedSettings {
            backtest: BacktestSection::from_config(config),
            data_start: candles.ts.first().map(|&t| format_ts_full(t)),
            data_end: candles.ts.last().map(|&t| format_ts_full(t)),
            bars: Some(candles.len() as u64),
        }
    }

    /// As the JSON object an entry stores.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("settings serialize")
    }
}

/// Where the reference came from.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Origin {
    /// A playbook file.
    Playbook {
        /// Its name.
        name: String,
        /// SHA-256 of its bytes.
        sha256: String,
        /// Where it was read.
        path: PathBuf,
    },
    /// The strategy, parameters and settings the entries recorded.
    Recorded {
        /// The entry they were taken from.
        entry_id: i64,
    },
}

/// A backtest to compare a book with.
#[derive(Debug, Clone)]
pub struct Reference {
    /// Where it came from.
    pub origin: Origin,
    /// The playbook, when it came from one.
    pub playbook: Option<Playbook>,
    /// Strategy, parameters, the data it was run on, settings.
    pub spec: RunSpec,
    /// Bars of the deployed run (the playbook's `[market] bars`, or the recorded count).
    pub bars: Option<u64>,
}

impl Reference {
    /// The reference of `entries` (one book, closing order): `explicit` when given (a playbook and its
    /// reference), else the newest entry's playbook from `playbooks_dir`, else the newest entry's recorded
    /// strategy and settings. An error says what is missing and how to give it.
    pub fn for_entries(
        entries: &[Entry],
        explicit: Option<(Playbook, PlaybookRef, PathBuf)>,
        playbooks_dir: &Path,
    ) -> Result<Reference> {
        if let Some((pb, r, path)) = explicit {
            return Reference::of_playbook(pb, r, path);
        }
        let newest = entries.iter().max_by_key(|e| e.id);
        if let Some(r) = newest.and_then(|e| e.playbook.clone()) {
            let path = playbooks_dir.join(format!("{}.toml", r.name));
            let text = std::fs::read_to_string(&path).map_err(|e| {
                Error::invalid(format!(
                    "the entries were traded under playbook '{}', which is not readable at {} ({e}); pass \
                     --playbook FILE",
                    r.name,
                    path.display()
                ))
            })?;
            if PlaybookRef::of_text(&r.name, &text).sha256 != r.sha256 {
                return Err(Error::invalid(format!(
                    "{}: the playbook changed since the trades were made (its sha256 is not the recorded \
                     {}); pass --playbook FILE to compare with it anyway",
                    path.display(),
                    r.sha256
                )));
            }
            let pb = Playbook::from_toml(&text, &path.display().to_string())?;
            return Reference::of_playbook(pb, r, path);
        }
        if let Some(found) = newest.and_then(|e| run_book_playbook(e, playbooks_dir)) {
            return found;
        }
        let Some(e) = newest.filter(|e| e.model.is_some() && e.settings.is_some()) else {
            return Err(Error::invalid(
                "the entries record no playbook and no strategy settings to replay; pass --playbook FILE",
            ));
        };
        Reference::recorded(e)
    }

    fn of_playbook(pb: Playbook, r: PlaybookRef, path: PathBuf) -> Result<Reference> {
        let spec = RunSpec::from_playbook_file(&pb, &path)?;
        Ok(Reference {
            origin: Origin::Playbook {
                name: r.name,
                sha256: r.sha256,
                path,
            },
            bars: Some(pb.market.bars),
            playbook: Some(pb),
            spec,
        })
    }

    /// The reference an entry's recorded model, parameters, settings and data window give.
    fn recorded(e: &Entry) -> Result<Reference> {
        let bad = |what: String| Error::invalid(format!("journal entry {}: {what}", e.id));
        let model = e.model.as_deref().unwrap_or_default();
        let strategy = strategy::lookup(model).map_err(|err| bad(format!("model: {err}")))?;
        let overrides = overrides(e.params.as_ref());
        let params: Params = strategy::resolve_params(strategy, &overrides)
            .map_err(|err| bad(format!("params: {err}")))?;
        let settings: RecordedSettings =
            serde_json::from_value(e.settings.clone().unwrap_or_default())
                .map_err(|err| bad(format!("settings: {err}")))?;
        let config = settings.backtest.to_config()?;
        let interval = e
            .interval
            .ok_or_else(|| bad("no interval recorded; pass --playbook FILE".into()))?;
        let time = |s: &Option<String>| -> Result<Option<i64>> {
            s.as_deref()
                .map(|t| {
                    parse_time(t, TimeFormat::Iso).map_err(|err| bad(format!("settings: {err}")))
                })
                .transpose()
        };
        let range = TimeRange {
            start: time(&settings.data_start)?,
            end: time(&settings.data_end)?,
        };
        Ok(Reference {
            origin: Origin::Recorded { entry_id: e.id },
            playbook: None,
            bars: settings.bars,
            spec: RunSpec {
                strategy,
                params,
                data: DataSpec {
                    symbol: e.symbol.clone(),
                    interval,
                    range,
                    start: None,
                    end: None,
                },
                config,
            },
        })
    }

    /// The symbol and interval it runs on.
    pub fn market(&self) -> (&str, Interval) {
        (&self.spec.data.symbol, self.spec.data.interval)
    }

    /// The backtest as deployed: over its own data window. Its trades are the reference sample.
    pub fn deployed(&self, store: &Store) -> Result<(Candles, Report)> {
        let candles = self.spec.load(store)?;
        let report = self.spec.run(&candles, &IndicatorCache::new())?;
        Ok((candles, report))
    }

    /// The same strategy run from its own first bar (or from `not_after`, when that is earlier) through the
    /// last stored bar.
    pub fn replay_from(&self, store: &Store, not_after: i64) -> Result<(Candles, Report)> {
        let mut spec = self.spec.clone();
        let start = spec.data.range.start.filter(|&s| s <= not_after);
        spec.data.range = TimeRange { start, end: None };
        let candles = spec.load(store)?;
        let report = spec.run(&candles, &IndicatorCache::new())?;
        Ok((candles, report))
    }
}

/// The playbook of a `paper-trade run` book: such an entry records no playbook, but its book (the
/// journal's strategy) is the `[playbook] name` of the playbook it traded, so the playbook of that name
/// in `playbooks_dir` (`<book>.toml` first, then any `*.toml` there, in name order) is the reference
/// when there is one — its current text: a playbook edited since the trades is compared as it is now.
/// `None` for other entries, or when no playbook has that name.
fn run_book_playbook(e: &Entry, playbooks_dir: &Path) -> Option<Result<Reference>> {
    if e.source != super::entry::Source::Paper || e.model.is_some() {
        return None;
    }
    let book = e.strategy.as_str();
    let mut files = vec![playbooks_dir.join(format!("{book}.toml"))];
    if let Ok(dir) = std::fs::read_dir(playbooks_dir) {
        let mut more: Vec<PathBuf> = dir
            .filter_map(|d| d.ok().map(|d| d.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .collect();
        more.sort();
        files.extend(more);
    }
    files.into_iter().find_map(|path| {
        let text = std::fs::read_to_string(&path).ok()?;
        let pb = Playbook::from_toml(&text, &path.display().to_string()).ok()?;
        let named = crate::risk::StrategyId::parse("name", &pb.playbook.name).ok()?;
        (named.as_str() == book).then(|| {
            let r = PlaybookRef::of_text(&pb.playbook.name, &text);
            Reference::of_playbook(pb, r, path)
        })
    })
}

/// `(name, value text)` overrides of a params JSON object.
pub fn overrides(params: Option<&serde_json::Value>) -> Vec<(String, String)> {
    let Some(serde_json::Value::Object(m)) = params else {
        return Vec::new();
    };
    m.iter()
        .map(|(k, v)| {
            let text = match v {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            (k.clone(), text)
        })
        .collect()
}
