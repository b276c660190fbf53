//! Journal entries: one row per closed trade — the shared [`TradeRecord`] with its context (source, run,
//! strategy, parameters, playbook, symbol, interval, account) — appended to the `journal_entries` hash
//! chain inside a caller's transaction, and read back with filters.

use rusqlite::types::Value;
use rusqlite::{OptionalExtension, Transaction};
use serde::{Deserialize, Serialize};

use crate::candles::{DAY_MS, Interval};
use crate::db::chain::{Chain, sha256_hex};
use crate::error::{Error, Result};
use crate::risk::StrategyId;
use crate::trade::{ExitReason, Side, TradeRecord};

/// Where a trade happened.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    strum::Display,
    strum::EnumString,
    strum::IntoStaticStr,
    strum::VariantNames,
)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase", ascii_case_insensitive)]
pub enum Source {
    /// A backtest run (`backtest --journal`).
    Backtest,
    /// The paper broker.
    Paper,
    /// Real trades, imported from a broker's fills (`journal import`).
    Live,
}

impl Source {
    /// Every source.
    pub const ALL: [Source; 3] = [Source::Backtest, Source::Paper, Source::Live];
    /// The sources of real (not simulated-in-the-past) trading: paper and live.
    pub const REAL: [Source; 2] = [Source::Paper, Source::Live];

    /// `backtest`, `paper` or `live`.
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// Parses a source name; the error names `field` and the choices.
    pub fn parse_field(field: &str, text: &str) -> Result<Source> {
        text.trim().parse().map_err(|_| {
            Error::invalid(format!(
                "{field}: unknown source '{text}'; expected backtest, paper or live"
            ))
        })
    }
}

/// The id of a journal entry (its row id; increasing).
pub type EntryId = i64;

/// The playbook a trade was made under: its name and the SHA-256 of its file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlaybookRef {
    /// `[playbook] name`.
    pub name: String,
    /// SHA-256 of the playbook file's bytes (64 lowercase hex digits).
    pub sha256: String,
}

impl PlaybookRef {
    /// The reference of a playbook named `name` whose file holds `text`.
    pub fn of_text(name: &str, text: &str) -> PlaybookRef {
        PlaybookRef {
            name: name.to_string(),
            sha256: sha256_hex(text),
        }
    }
}

/// A closed trade to journal. `trade.entry_bar`/`exit_bar` index the bars of the run that made it (a
/// backtest's or a paper market's candles); a live trade has no run: its bar indices are not stored
/// (give 0) and read back as unknown.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEntry {
    /// Backtest, paper or live.
    pub source: Source,
    /// The run, paper session or import batch it belongs to.
    pub run_id: Option<String>,
    /// The name the strategy trades and keeps its risk budget under.
    pub strategy: StrategyId,
    /// The registry strategy (`sma_cross`, …) when known.
    pub model: Option<String>,
    /// Parameter values (a JSON object) when known.
    pub params: Option<serde_json::Value>,
    /// Backtest settings and data window (a JSON object) when known: what a replay needs.
    pub settings: Option<serde_json::Value>,
    /// The playbook it traded under.
    pub playbook: Option<PlaybookRef>,
    /// The instrument.
    pub symbol: String,
    /// The bar interval the strategy ran on, when known.
    pub interval: Option<Interval>,
    /// The account (`default` when `None`).
    pub account: Option<String>,
    /// The orders behind the trade (broker order ids, paper order ids); empty when none.
    pub order_ids: Vec<String>,
    /// The trade.
    pub trade: TradeRecord,
}

/// A journal entry as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Entry {
    /// Its id.
    pub id: EntryId,
    /// When it was written (ms since the epoch, UTC).
    #[serde(with = "crate::json::time_text")]
    pub recorded_at: i64,
    /// Backtest, paper or live.
    pub source: Source,
    /// The run it belongs to.
    pub run_id: Option<String>,
    /// The strategy name.
    pub strategy: String,
    /// The registry strategy.
    pub model: Option<String>,
    /// Parameter values.
    pub params: Option<serde_json::Value>,
    /// Settings and data window.
    pub settings: Option<serde_json::Value>,
    /// The playbook.
    pub playbook: Option<PlaybookRef>,
    /// The instrument.
    pub symbol: String,
    /// The bar interval.
    pub interval: Option<Interval>,
    /// The account.
    pub account: String,
    /// The orders behind it.
    pub order_ids: Vec<String>,
    /// The trade (bar indices 0 when not known: see `bars_known`).
    #[serde(serialize_with = "trade_json")]
    pub trade: TradeRecord,
    /// False for a live trade: its bar indices are unknown (null in JSON).
    #[serde(skip)]
    pub bars_known: bool,
    /// The row's hash in the chain.
    pub hash: String,
}

fn trade_json<S: serde::Serializer>(t: &TradeRecord, s: S) -> std::result::Result<S::Ok, S::Error> {
    t.serialize(s)
}

impl Entry {
    /// The entry as JSON, with unknown bar indices as null.
    pub fn to_json(&self) -> serde_json::Value {
        let mut v = serde_json::to_value(self).expect("entries serialize");
        if !self.bars_known {
            v["trade"]["entry_bar"] = serde_json::Value::Null;
            v["trade"]["exit_bar"] = serde_json::Value::Null;
        }
        v
    }
}

/// The account of entries that name none.
pub const DEFAULT_ACCOUNT: &str = "default";

/// `journal_entries`, chained over these columns in this order.
pub const ENTRIES: Chain = Chain {
    table: "journal_entries",
    columns: &[
        "recorded_ms",
        "source",
        "run_id",
        "strategy",
        "model",
        "params",
        "settings",
        "playbook",
        "playbook_sha256",
        "symbol",
        "interval",
        "account",
        "order_ids",
        "side",
        "size",
        "entry_bar",
        "exit_bar",
        "entry_ms",
        "exit_ms",
        "entry_price",
        "exit_price",
        "stop",
        "target",
        "pnl",
        "commission",
        "return_pct",
        "exit_reason",
        "ambiguous",
    ],
};

/// A real for SQLite: -0.0 becomes 0.0 (SQLite may store an integral real as an integer and read it back
/// as +0.0, which would change the row's hash).
pub(crate) fn real(v: f64) -> Value {
    Value::Real(if v == 0.0 { 0.0 } else { v })
}

pub(crate) fn text(s: &str) -> Value {
    Value::Text(s.to_string())
}

fn opt_text(s: Option<&str>) -> Value {
    s.map_or(Value::Null, text)
}

impl NewEntry {
    /// Checks every field; the error names the first bad one.
    pub fn validate(&self) -> Result<()> {
        let bad = |field: &str, why: String| {
            Err(Error::invalid(format!("journal entry: {field}: {why}")))
        };
        if self.symbol.trim().is_empty() {
            return bad("symbol", "must not be empty".into());
        }
        for (field, v) in [("params", &self.params), ("settings", &self.settings)] {
            if v.as_ref().is_some_and(|v| !v.is_object()) {
                return bad(field, "must be a JSON object".into());
            }
        }
        if let Some(p) = &self.playbook
            && (p.sha256.len() != 64 || !p.sha256.bytes().all(|b| b.is_ascii_hexdigit()))
        {
            return bad(
                "playbook.sha256",
                format!("'{}' is not 64 hex digits", p.sha256),
            );
        }
        if self.order_ids.iter().any(|o| o.trim().is_empty()) {
            return bad("order_ids", "an order id is empty".into());
        }
        check_trade(&self.trade).or_else(|(field, why)| bad(&format!("trade.{field}"), why))
    }

    /// The chain's content values, with `recorded_ms`.
    fn values(&self, recorded_ms: i64) -> Vec<Value> {
        let t = &self.trade;
        let json = |v: &Option<serde_json::Value>| {
            v.as_ref()
                .map_or(Value::Null, |v| Value::Text(v.to_string()))
        };
        let bars = self.source != Source::Live;
        let bar = |b: usize| {
            if bars {
                Value::Integer(b as i64)
            } else {
                Value::Null
            }
        };
        let opt_real = |v: Option<f64>| v.map_or(Value::Null, real);
        vec![
            Value::Integer(recorded_ms),
            text(self.source.as_str()),
            opt_text(self.run_id.as_deref()),
            text(self.strategy.as_str()),
            opt_text(self.model.as_deref()),
            json(&self.params),
            json(&self.settings),
            opt_text(self.playbook.as_ref().map(|p| p.name.as_str())),
            opt_text(self.playbook.as_ref().map(|p| p.sha256.as_str())),
            text(self.symbol.trim()),
            opt_text(self.interval.map(Interval::as_str)),
            text(self.account.as_deref().map_or(DEFAULT_ACCOUNT, str::trim)),
            if self.order_ids.is_empty() {
                Value::Null
            } else {
                Value::Text(serde_json::to_string(&self.order_ids).expect("strings serialize"))
            },
            text(t.side.as_str()),
            real(t.size),
            bar(t.entry_bar),
            bar(t.exit_bar),
            Value::Integer(t.entry_time),
            Value::Integer(t.exit_time),
            real(t.entry_price),
            real(t.exit_price),
            opt_real(t.stop),
            opt_real(t.target),
            real(t.pnl),
            real(t.commission),
            real(t.return_pct),
            text(t.exit_reason.as_str()),
            Value::Integer(t.ambiguous as i64),
        ]
    }
}

/// The first field of `t` that cannot be journaled, and why.
fn check_trade(t: &TradeRecord) -> std::result::Result<(), (&'static str, String)> {
    let positive = |field, v: f64| {
        if v.is_finite() && v > 0.0 {
            Ok(())
        } else {
            Err((field, format!("{v} is not a positive number")))
        }
    };
    let finite = |field, v: f64| {
        if v.is_finite() {
            Ok(())
        } else {
            Err((field, format!("{v} is not a finite number")))
        }
    };
    if !(t.size.is_finite() && t.size != 0.0) {
        return Err(("size", format!("{} is not a non-zero number", t.size)));
    }
    if Side::of_size(t.size) != t.side {
        return Err((
            "side",
            format!("{} does not match the size {}", t.side, t.size),
        ));
    }
    positive("entry_price", t.entry_price)?;
    positive("exit_price", t.exit_price)?;
    if let Some(s) = t.stop {
        positive("stop", s)?;
    }
    if let Some(s) = t.target {
        positive("target", s)?;
    }
    finite("pnl", t.pnl)?;
    finite("return_pct", t.return_pct)?;
    if !(t.commission.is_finite() && t.commission >= 0.0) {
        return Err((
            "commission",
            format!("{} is not a number ≥ 0", t.commission),
        ));
    }
    if t.exit_time < t.entry_time {
        return Err(("exit_time", "is before the entry time".into()));
    }
    if t.exit_bar < t.entry_bar {
        return Err(("exit_bar", "is before the entry bar".into()));
    }
    Ok(())
}

/// Appends `entry` to the journal inside the caller's transaction, stamped with the current time; returns
/// its id. The transaction must be a write transaction (`Db::write`, `BEGIN IMMEDIATE`), which serializes
/// it with every other writer, so concurrent appends never break the chain. A bad field is an error naming
/// it, and nothing is written.
pub fn append(tx: &Transaction<'_>, entry: &NewEntry) -> Result<EntryId> {
    append_at(tx, entry, chrono::Utc::now().timestamp_millis())
}

/// [`append`] with the time it is recorded at given (ms since the epoch).
pub fn append_at(tx: &Transaction<'_>, entry: &NewEntry, recorded_ms: i64) -> Result<EntryId> {
    entry.validate()?;
    ENTRIES.append(tx, &entry.values(recorded_ms))
}

/// Appends many entries in one go (one chain read, one prepared statement): every entry is checked
/// first, so a bad one writes nothing. Returns their ids in order.
pub fn append_all(
    tx: &Transaction<'_>,
    entries: &[NewEntry],
    recorded_ms: i64,
) -> Result<Vec<EntryId>> {
    for (i, e) in entries.iter().enumerate() {
        e.validate()
            .map_err(|err| Error::invalid(format!("trade {}: {err}", i + 1)))?;
    }
    let mut app = ENTRIES.appender(tx)?;
    entries
        .iter()
        .map(|e| app.push(&e.values(recorded_ms)))
        .collect()
}

/// Which entries to read. Unset fields do not filter.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filter {
    /// Only these sources (all when empty).
    pub sources: Vec<Source>,
    /// Only this strategy.
    pub strategy: Option<StrategyId>,
    /// Only this symbol.
    pub symbol: Option<String>,
    /// Only trades closed at or after this time (ms).
    pub since_ms: Option<i64>,
    /// Only trades closed before this time (ms).
    pub until_ms: Option<i64>,
    /// Only this side.
    pub side: Option<Side>,
    /// Only this exit reason.
    pub exit_reason: Option<ExitReason>,
    /// Only this account.
    pub account: Option<String>,
    /// Only this run.
    pub run_id: Option<String>,
}

impl Filter {
    /// ` WHERE …` (empty when nothing filters) and its arguments.
    pub(crate) fn sql(&self) -> (String, Vec<Value>) {
        let mut clauses: Vec<String> = Vec::new();
        let mut args: Vec<Value> = Vec::new();
        let mut push = |clause: &str, v: Value| {
            args.push(v);
            clauses.push(format!("{clause} ?{}", args.len()));
        };
        if let Some(s) = &self.strategy {
            push("strategy =", text(s.as_str()));
        }
        if let Some(s) = &self.symbol {
            push("symbol =", text(s.trim()));
        }
        if let Some(t) = self.since_ms {
            push("exit_ms >=", Value::Integer(t));
        }
        if let Some(t) = self.until_ms {
            push("exit_ms <", Value::Integer(t));
        }
        if let Some(s) = self.side {
            push("side =", text(s.as_str()));
        }
        if let Some(r) = self.exit_reason {
            push("exit_reason =", text(r.as_str()));
        }
        if let Some(a) = &self.account {
            push("account =", text(a.trim()));
        }
        if let Some(r) = &self.run_id {
            push("run_id =", text(r));
        }
        let mut sql = String::new();
        if !self.sources.is_empty() && self.sources.len() < Source::ALL.len() {
            let list: Vec<String> = self
                .sources
                .iter()
                .map(|s| format!("'{}'", s.as_str()))
                .collect();
            clauses.push(format!("source IN ({})", list.join(", ")));
        }
        if !clauses.is_empty() {
            sql = format!(" WHERE {}", clauses.join(" AND "));
        }
        (sql, args)
    }
}

const SELECT: &str = "SELECT id, recorded_ms, source, run_id, strategy, model, params, settings, playbook, \
     playbook_sha256, symbol, interval, account, order_ids, side, size, entry_bar, exit_bar, entry_ms, \
     exit_ms, entry_price, exit_price, stop, target, pnl, commission, return_pct, exit_reason, ambiguous, hash \
     FROM journal_entries";

/// The entries `filter` selects, in journal order (by id); with `limit`, only the newest `limit` of them.
pub fn list(tx: &Transaction<'_>, filter: &Filter, limit: Option<usize>) -> Result<Vec<Entry>> {
    let (clause, args) = filter.sql();
    let mut sql = format!("{SELECT}{clause} ORDER BY id");
    if let Some(n) = limit {
        sql = format!("SELECT * FROM ({SELECT}{clause} ORDER BY id DESC LIMIT {n}) ORDER BY id");
    }
    let mut stmt = tx.prepare(&sql)?;
    let rows = stmt.query_map(rusqlite::params_from_iter(args), entry_of_row)?;
    let mut out = Vec::new();
    for r in rows {
        out.push(r??);
    }
    Ok(out)
}

/// The entries `filter` selects in the order the trades closed (exit time, then id).
pub fn closed_in_order(tx: &Transaction<'_>, filter: &Filter) -> Result<Vec<Entry>> {
    let mut out = list(tx, filter, None)?;
    out.sort_by_key(|e| (e.trade.exit_time, e.id));
    Ok(out)
}

/// The entry `id`, if there is one.
pub fn get(tx: &Transaction<'_>, id: EntryId) -> Result<Option<Entry>> {
    let row = tx
        .query_row(&format!("{SELECT} WHERE id = ?1"), [id], entry_of_row)
        .optional()?;
    row.transpose()
}

/// One row as an entry; a stored value this flowrex cannot read is an error naming the row.
fn entry_of_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Result<Entry>> {
    let id: i64 = r.get(0)?;
    Ok(read_entry(r, id)
        .map_err(|e| Error::invalid(format!("journal_entries row {id}: cannot read it: {e}"))))
}

/// Column `i` of `r`, its error as text.
fn col<T: rusqlite::types::FromSql>(
    r: &rusqlite::Row<'_>,
    i: usize,
) -> std::result::Result<T, String> {
    r.get(i).map_err(|e| e.to_string())
}

/// A word column parsed into `T`.
fn word<T: std::str::FromStr>(
    r: &rusqlite::Row<'_>,
    i: usize,
    what: &str,
) -> std::result::Result<T, String> {
    let s: String = col(r, i)?;
    s.parse().map_err(|_| format!("{what} '{s}'"))
}

/// A JSON text column.
fn json_col(
    r: &rusqlite::Row<'_>,
    i: usize,
) -> std::result::Result<Option<serde_json::Value>, String> {
    col::<Option<String>>(r, i)?
        .map(|s| serde_json::from_str(&s).map_err(|e| e.to_string()))
        .transpose()
}

fn read_entry(r: &rusqlite::Row<'_>, id: i64) -> std::result::Result<Entry, String> {
    let entry_bar: Option<i64> = col(r, 16)?;
    let exit_bar: Option<i64> = col(r, 17)?;
    let (entry_time, exit_time): (i64, i64) = (col(r, 18)?, col(r, 19)?);
    let trade = TradeRecord {
        size: col(r, 15)?,
        side: word(r, 14, "side")?,
        entry_bar: entry_bar.unwrap_or(0) as usize,
        exit_bar: exit_bar.unwrap_or(0) as usize,
        entry_price: col(r, 20)?,
        exit_price: col(r, 21)?,
        stop: col(r, 22)?,
        target: col(r, 23)?,
        pnl: col(r, 24)?,
        commission: col(r, 25)?,
        return_pct: col(r, 26)?,
        entry_time,
        exit_time,
        duration_days: (exit_time - entry_time) as f64 / DAY_MS as f64,
        exit_reason: word(r, 27, "exit_reason")?,
        ambiguous: col(r, 28)?,
    };
    let playbook = match (col::<Option<String>>(r, 8)?, col::<Option<String>>(r, 9)?) {
        (Some(name), Some(sha256)) => Some(PlaybookRef { name, sha256 }),
        _ => None,
    };
    let order_ids = match json_col(r, 13)? {
        Some(v) => serde_json::from_value(v).map_err(|e| e.to_string())?,
        None => Vec::new(),
    };
    let interval = col::<Option<String>>(r, 11)?
        .map(|s| s.parse::<Interval>().map_err(|e| e.to_string()))
        .transpose()?;
    Ok(Entry {
        id,
        recorded_at: col(r, 1)?,
        source: word(r, 2, "source")?,
        run_id: col(r, 3)?,
        strategy: col(r, 4)?,
        model: col(r, 5)?,
        params: json_col(r, 6)?,
        settings: json_col(r, 7)?,
        playbook,
        symbol: col(r, 10)?,
        interval,
        account: col(r, 12)?,
        order_ids,
        trade,
        bars_known: entry_bar.is_some(),
        hash: col(r, 29)?,
    })
}

/// Every (strategy, symbol) with entries among `sources` (all when empty), with its entry count, sorted.
pub fn books(tx: &Transaction<'_>, sources: &[Source]) -> Result<Vec<(String, String, u64)>> {
    let filter = Filter {
        sources: sources.to_vec(),
        ..Filter::default()
    };
    let (clause, args) = filter.sql();
    let mut stmt = tx.prepare(&format!(
        "SELECT strategy, symbol, count(*) FROM journal_entries{clause} GROUP BY strategy, symbol ORDER BY strategy, symbol"
    ))?;
    let rows = stmt.query_map(rusqlite::params_from_iter(args), |r| {
        Ok((r.get(0)?, r.get(1)?, r.get::<_, i64>(2)? as u64))
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// An error when `filter` names a strategy or symbol the journal has no entry for, or the journal is
/// empty: a one-line message naming what there is.
pub fn check_known(tx: &Transaction<'_>, filter: &Filter) -> Result<()> {
    let all = books(tx, &[])?;
    if all.is_empty() {
        return Err(Error::invalid(
            "the journal is empty: journal trades with `flowrex backtest … --journal`, `flowrex journal \
             import --file FILLS.csv --strategy NAME` or paper trading",
        ));
    }
    let names = |pick: fn(&(String, String, u64)) -> &String| {
        let mut v: Vec<&str> = all.iter().map(|b| pick(b).as_str()).collect();
        v.sort_unstable();
        v.dedup();
        v.join(", ")
    };
    if let Some(s) = &filter.strategy
        && !all.iter().any(|b| b.0 == s.as_str())
    {
        return Err(Error::invalid(format!(
            "strategy: no journal entries for '{s}' (the journal has: {})",
            names(|b| &b.0)
        )));
    }
    if let Some(x) = &filter.symbol
        && !all.iter().any(|b| b.1 == x.trim())
    {
        return Err(Error::invalid(format!(
            "symbol: no journal entries for '{x}' (the journal has: {})",
            names(|b| &b.1)
        )));
    }
    Ok(())
}
