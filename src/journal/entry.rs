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
/// backtest's or a paper market's candles) when `bars_known`; otherwise (a live trade, which has no run,
/// or a paper position closed outside the bars by a reset) they are not stored (give 0) and read back as
/// unknown. A live trade's bars are never stored.
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
    /// `trade.entry_bar`/`exit_bar` index the run's bars (false: unknown, not stored).
    pub bars_known: bool,
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
    pub trade: TradeRecord,
    /// False for a live trade: its bar indices are unknown (null in JSON).
    #[serde(skip)]
    pub bars_known: bool,
    /// The row's hash in the chain.
    pub hash: String,
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
    pub(crate) fn values(&self, recorded_ms: i64) -> Vec<Value> {
        let t = &self.trade;
        let json = |v: &Option<serde_json::Value>| {
            v.as_ref()
                .map_or(Value::Null, |v| Value::Text(v.to_string()))
        };
        let bars = self.bars_known && self.source != Source::Live;
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
/// empty: a one-line message naming what there is. Three indexed look-ups when all is well; the names
/// are listed (one scan) only for the message.
pub fn check_known(tx: &Transaction<'_>, filter: &Filter) -> Result<()> {
    let any = |sql: &str, arg: Option<&str>| -> Result<bool> {
        let hit: Option<i64> = match arg {
            Some(a) => tx.query_row(sql, [a], |r| r.get(0)).optional()?,
            None => tx.query_row(sql, [], |r| r.get(0)).optional()?,
        };
        Ok(hit.is_some())
    };
    if !any("SELECT 1 FROM journal_entries LIMIT 1", None)? {
        return Err(Error::invalid(
            "the journal is empty: journal trades with `flowrex backtest … --journal`, `flowrex journal \
             import --file FILLS.csv --strategy NAME` or paper trading",
        ));
    }
    let names = |column: &str| -> Result<String> {
        let mut stmt = tx.prepare(&format!(
            "SELECT DISTINCT {column} FROM journal_entries ORDER BY 1"
        ))?;
        let v = stmt
            .query_map([], |r| r.get::<_, String>(0))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(v.join(", "))
    };
    if let Some(s) = &filter.strategy
        && !any(
            "SELECT 1 FROM journal_entries WHERE strategy = ?1 LIMIT 1",
            Some(s.as_str()),
        )?
    {
        return Err(Error::invalid(format!(
            "strategy: no journal entries for '{s}' (the journal has: {})",
            names("strategy")?
        )));
    }
    if let Some(x) = &filter.symbol
        && !any(
            "SELECT 1 FROM journal_entries WHERE symbol = ?1 LIMIT 1",
            Some(x.trim()),
        )?
    {
        return Err(Error::invalid(format!(
            "symbol: no journal entries for '{x}' (the journal has: {})",
            names("symbol")?
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::Db;
    use crate::db::chain::GENESIS;

    /// A short trade: 3 units at 100 → 90, commission 0.6: pnl 3 × 10 − 0.6 = 29.4.
    pub(crate) fn trade() -> TradeRecord {
        TradeRecord {
            size: -3.0,
            side: Side::Short,
            entry_bar: 4,
            exit_bar: 6,
            entry_price: 100.0,
            exit_price: 90.0,
            stop: Some(105.0),
            target: None,
            pnl: 29.4,
            commission: 0.6,
            return_pct: 9.8,
            entry_time: 1_577_836_800_000,
            exit_time: 1_577_836_800_000 + 2 * DAY_MS,
            duration_days: 2.0,
            exit_reason: ExitReason::Target,
            ambiguous: false,
        }
    }

    pub(crate) fn new_entry(source: Source, trade: TradeRecord) -> NewEntry {
        NewEntry {
            source,
            run_id: Some("run-1".into()),
            strategy: StrategyId::parse("strategy", " My Strat ").unwrap(),
            model: Some("sma_cross".into()),
            params: Some(serde_json::json!({"fast": 10, "slow": 20})),
            settings: Some(serde_json::json!({"cash": 10000.0})),
            playbook: Some(PlaybookRef::of_text("pb", "text")),
            symbol: "GOOG".into(),
            interval: Some(Interval::Day1),
            account: None,
            order_ids: vec!["o-1".into(), "o-2".into()],
            trade,
            bars_known: true,
        }
    }

    #[test]
    fn an_entry_reads_back_as_written_and_the_chain_verifies() {
        let mut db = Db::open_in_memory().unwrap();
        let e = new_entry(Source::Paper, trade());
        let id = db.write(|tx| append_at(tx, &e, 1_700_000_000_000)).unwrap();
        assert_eq!(id, 1);
        let back = db.read(|tx| get(tx, id)).unwrap().unwrap();
        assert_eq!(back.trade, e.trade);
        assert!(back.bars_known);
        assert_eq!(back.strategy, "my strat");
        assert_eq!(
            (back.account.as_str(), back.source),
            (DEFAULT_ACCOUNT, Source::Paper)
        );
        assert_eq!(back.playbook, e.playbook);
        assert_eq!(back.order_ids, e.order_ids);
        assert_eq!(back.params, e.params);
        assert_eq!(back.recorded_at, 1_700_000_000_000);
        let v = db.read(|tx| super::super::verify(tx)).unwrap();
        assert!(v.intact(), "{v:?}");
        assert_eq!(v.chains[0].head, back.hash);
        assert_ne!(back.hash, GENESIS);
        // A live trade has no bar indices: stored NULL, null in JSON.
        let live = db
            .write(|tx| append_at(tx, &new_entry(Source::Live, trade()), 1))
            .unwrap();
        let back = db.read(|tx| get(tx, live)).unwrap().unwrap();
        assert!(!back.bars_known);
        assert_eq!(
            back.to_json()["trade"]["entry_bar"],
            serde_json::Value::Null
        );
        assert_eq!(back.to_json()["trade"]["exit_price"], 90.0);
    }

    #[test]
    fn a_negative_zero_is_stored_so_that_the_chain_still_verifies() {
        // SQLite reads a stored -0.0 back as 0.0; hashed as written, the row would look edited.
        let mut db = Db::open_in_memory().unwrap();
        let mut t = trade();
        t.pnl = -0.0;
        t.commission = -0.0;
        t.return_pct = -0.0;
        db.write(|tx| append_at(tx, &new_entry(Source::Backtest, t), 1))
            .unwrap();
        assert!(db.read(|tx| super::super::verify(tx)).unwrap().intact());
    }

    #[test]
    fn the_database_refuses_update_delete_and_replace() {
        let mut db = Db::open_in_memory().unwrap();
        db.write(|tx| append_at(tx, &new_entry(Source::Paper, trade()), 1))
            .unwrap();
        for sql in [
            "UPDATE journal_entries SET pnl = 1e9",
            "DELETE FROM journal_entries",
            "INSERT OR REPLACE INTO journal_entries SELECT * FROM journal_entries",
        ] {
            let err = db.conn().execute(sql, []).unwrap_err().to_string();
            assert!(
                err.contains("journal_entries is append-only"),
                "{sql}: {err}"
            );
        }
    }

    #[test]
    fn a_bad_field_is_named_and_nothing_is_written() {
        let mut db = Db::open_in_memory().unwrap();
        type Edit = fn(&mut NewEntry);
        let cases: [(Edit, &str); 6] = [
            (
                |e| e.trade.entry_price = 0.0,
                "trade.entry_price: 0 is not a positive number",
            ),
            (
                |e| e.trade.size = 3.0,
                "trade.side: short does not match the size 3",
            ),
            (
                |e| e.trade.pnl = f64::NAN,
                "trade.pnl: NaN is not a finite number",
            ),
            (
                |e| e.trade.exit_time = 0,
                "trade.exit_time: is before the entry time",
            ),
            (|e| e.symbol = " ".into(), "symbol: must not be empty"),
            (
                |e| e.params = Some(serde_json::json!([1])),
                "params: must be a JSON object",
            ),
        ];
        for (edit, want) in cases {
            let mut e = new_entry(Source::Paper, trade());
            edit(&mut e);
            let err = db.write(|tx| append(tx, &e)).unwrap_err().to_string();
            assert!(err.contains(want), "{want}: {err}");
            let mut good = new_entry(Source::Paper, trade());
            good.symbol = "OK".into();
            let err = db
                .write(|tx| append_all(tx, &[good, e.clone()], 1))
                .unwrap_err()
                .to_string();
            assert!(err.starts_with("trade 2: journal entry: "), "{err}");
        }
        let n: i64 = db
            .conn()
            .query_row("SELECT count(*) FROM journal_entries", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 0);
    }

    #[test]
    fn filters_select_and_unknown_names_are_errors_naming_what_there_is() {
        let mut db = Db::open_in_memory().unwrap();
        let err = db
            .read(|tx| check_known(tx, &Filter::default()))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("the journal is empty"), "{err}");
        let mut other = new_entry(Source::Live, trade());
        other.symbol = "EURUSD".into();
        other.trade.size = 3.0;
        other.trade.side = Side::Long;
        db.write(|tx| append_all(tx, &[new_entry(Source::Paper, trade()), other], 1))
            .unwrap();
        let mut pick = |f: Filter| db.read(|tx| list(tx, &f, None)).unwrap().len();
        let only = |sources: Vec<Source>| Filter {
            sources,
            ..Filter::default()
        };
        assert_eq!(pick(Filter::default()), 2);
        assert_eq!(pick(only(vec![Source::Live])), 1);
        assert_eq!(pick(only(vec![Source::Backtest])), 0);
        assert_eq!(
            pick(Filter {
                side: Some(Side::Short),
                ..Filter::default()
            }),
            1
        );
        let err = db
            .read(|tx| {
                check_known(
                    tx,
                    &Filter {
                        symbol: Some("AAPL".into()),
                        ..Filter::default()
                    },
                )
            })
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "symbol: no journal entries for 'AAPL' (the journal has: EURUSD, GOOG)"
        );
    }
}
