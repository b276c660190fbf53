//! Journaling a run's trades once: `backtest --journal` run again (a cron line, a retry) adds only the
//! trades the journal does not hold yet.
//!
//! **The key.** A trade is the same trade when these agree: source, strategy (the journal name), model,
//! parameters, playbook name, symbol, interval, account, side, size, entry and exit time, entry and exit
//! price ([`KEY`]). Left out on purpose: the run id and the time it was recorded (they differ on every
//! run), the bar indices (a store with more history before the trade shifts them), the settings (they
//! hold the data window, which grows with the data), the playbook's SHA-256 (it changes when the file is
//! re-saved) and the costs (pnl, commission): the same rule as `journal import`, whose fills are one
//! fill by order, time, side, quantity and price but not fee. A run whose trades differ in any key field
//! (other parameters, a revised bar that moved a price, new bars that closed new trades) journals those.
//!
//! **Identical trades.** As an import numbers identical fills of one order, the n-th trade of a run with
//! a given key is known when the journal holds at least n entries with that key: a run that closes two
//! identical trades journals both the first time and neither the second, and a journal that already
//! holds a duplicate (journaled twice before this rule) gets nothing more.
//!
//! **Why no unique index.** Journals written before this rule may hold the same backtest trade twice,
//! and the entries table is append-only and hash-chained: a unique index could not be created over
//! them, and an occurrence column would change what the chain covers. The key is checked inside the
//! caller's write transaction (`BEGIN IMMEDIATE`, which serializes every writer), so two concurrent runs
//! cannot both add the same trade; the lookup reads one book's entries in the run's time span through
//! the `(strategy, symbol, source)` index.

use std::collections::{BTreeMap, HashMap};

use rusqlite::Transaction;
use rusqlite::types::Value;
use serde::Serialize;

use super::entry::{ENTRIES, EntryId, NewEntry, append_all};
use crate::error::{Error, Result};

/// The columns that identify a trade in the journal (see the module documentation).
pub const KEY: [&str; 14] = [
    "source",
    "strategy",
    "model",
    "params",
    "playbook",
    "symbol",
    "interval",
    "account",
    "side",
    "size",
    "entry_ms",
    "exit_ms",
    "entry_price",
    "exit_price",
];

/// What [`append_once`] did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Appended {
    /// The new entries, in the order of the trades given.
    pub ids: Vec<EntryId>,
    /// Trades the journal held already (nothing written for them).
    pub known: usize,
}

/// One key field, comparable and hashable (reals by their bits; the writer never stores -0.0).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Part {
    Null,
    Integer(i64),
    Real(u64),
    Text(String),
}

impl Part {
    fn of(v: &Value) -> Part {
        match v {
            Value::Null | Value::Blob(_) => Part::Null,
            Value::Integer(i) => Part::Integer(*i),
            Value::Real(f) => Part::Real((f + 0.0).to_bits()),
            Value::Text(s) => Part::Text(s.clone()),
        }
    }
}

type Key = Vec<Part>;

/// Appends the trades of `entries` the journal does not hold yet (by [`KEY`], counting identical
/// trades), inside the caller's write transaction; every entry is checked first, so a bad one writes
/// nothing.
pub fn append_once(
    tx: &Transaction<'_>,
    entries: &[NewEntry],
    recorded_ms: i64,
) -> Result<Appended> {
    for (i, e) in entries.iter().enumerate() {
        e.validate()
            .map_err(|err| Error::invalid(format!("trade {}: {err}", i + 1)))?;
    }
    let at: Vec<usize> = KEY
        .iter()
        .map(|c| {
            ENTRIES
                .columns
                .iter()
                .position(|x| x == c)
                .expect("every key column is chained")
        })
        .collect();
    let keys: Vec<Key> = entries
        .iter()
        .map(|e| {
            let v = e.values(recorded_ms);
            at.iter().map(|&i| Part::of(&v[i])).collect()
        })
        .collect();
    let mut stored = stored_keys(tx, entries)?;
    let fresh: Vec<NewEntry> = entries
        .iter()
        .zip(&keys)
        .filter(|(_, k)| match stored.get_mut(*k) {
            Some(n) if *n > 0 => {
                *n -= 1;
                false
            }
            _ => true,
        })
        .map(|(e, _)| e.clone())
        .collect();
    let ids = append_all(tx, &fresh, recorded_ms)?;
    Ok(Appended {
        known: entries.len() - ids.len(),
        ids,
    })
}

/// How many stored entries hold each key, over the books (source, strategy, symbol) of `entries`
/// and the span of their entry times.
fn stored_keys(tx: &Transaction<'_>, entries: &[NewEntry]) -> Result<HashMap<Key, usize>> {
    let mut books: BTreeMap<(&str, &str, &str), (i64, i64)> = BTreeMap::new();
    for e in entries {
        let t = e.trade.entry_time;
        let span = books
            .entry((e.source.as_str(), e.strategy.as_str(), e.symbol.trim()))
            .or_insert((t, t));
        *span = (span.0.min(t), span.1.max(t));
    }
    let sql = format!(
        "SELECT {} FROM journal_entries WHERE source = ?1 AND strategy = ?2 AND symbol = ?3
         AND entry_ms BETWEEN ?4 AND ?5",
        KEY.join(", ")
    );
    let mut stmt = tx.prepare(&sql)?;
    let mut out: HashMap<Key, usize> = HashMap::new();
    for ((source, strategy, symbol), (from, to)) in books {
        let mut rows = stmt.query(rusqlite::params![source, strategy, symbol, from, to])?;
        while let Some(r) = rows.next()? {
            let key = (0..KEY.len())
                .map(|i| r.get::<_, Value>(i).map(|v| Part::of(&v)))
                .collect::<rusqlite::Result<Key>>()?;
            *out.entry(key).or_insert(0) += 1;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::candles::{DAY_MS, Interval};
    use crate::db::Db;
    use crate::journal::{PlaybookRef, Source};
    use crate::risk::StrategyId;
    use crate::trade::{ExitReason, Side, TradeRecord};

    /// A long backtest trade: 2 units entered at `day` at 100, out two days later at 110.
    fn entry(day: i64, run: &str) -> NewEntry {
        let entry_time = 1_577_836_800_000 + day * DAY_MS;
        NewEntry {
            source: Source::Backtest,
            run_id: Some(run.into()),
            strategy: StrategyId::parse("strategy", "pb").unwrap(),
            model: Some("sma_cross".into()),
            params: Some(serde_json::json!({"fast": 10, "slow": 20})),
            settings: Some(serde_json::json!({"end": entry_time})),
            playbook: Some(PlaybookRef::of_text("pb", run)),
            symbol: "GOOG".into(),
            interval: Some(Interval::Day1),
            account: None,
            order_ids: Vec::new(),
            trade: TradeRecord {
                size: 2.0,
                side: Side::Long,
                entry_bar: day as usize,
                exit_bar: day as usize + 2,
                entry_price: 100.0,
                exit_price: 110.0,
                stop: None,
                target: None,
                pnl: 20.0,
                commission: 0.0,
                return_pct: 10.0,
                entry_time,
                exit_time: entry_time + 2 * DAY_MS,
                duration_days: 2.0,
                exit_reason: ExitReason::Signal,
                ambiguous: false,
            },
            bars_known: true,
        }
    }

    fn count(db: &Db) -> i64 {
        db.conn()
            .query_row("SELECT count(*) FROM journal_entries", [], |r| r.get(0))
            .unwrap()
    }

    #[test]
    fn a_second_identical_run_adds_nothing_and_new_trades_are_added() {
        let mut db = Db::open_in_memory().unwrap();
        let first = [entry(0, "r1"), entry(5, "r1")];
        let a = db.write(|tx| append_once(tx, &first, 1)).unwrap();
        assert_eq!((a.ids, a.known), (vec![1, 2], 0));
        // Run again later: another run id, another playbook hash, another data window, shifted bar
        // indices (more history in the store) — the same two trades.
        let mut again = [entry(0, "r2"), entry(5, "r2")];
        for e in &mut again {
            e.trade.entry_bar += 100;
            e.trade.exit_bar += 100;
        }
        let a = db.write(|tx| append_once(tx, &again, 2)).unwrap();
        assert_eq!((a.ids.len(), a.known), (0, 2));
        // More data: the two trades and a new one; and one whose exit price a revised bar moved.
        let mut moved = entry(5, "r3");
        moved.trade.exit_price = 111.0;
        let a = db
            .write(|tx| append_once(tx, &[entry(0, "r3"), moved, entry(9, "r3")], 3))
            .unwrap();
        assert_eq!((a.ids, a.known), (vec![3, 4], 1));
        // Other parameters, another name or another source: other trades.
        let mut other = entry(0, "r4");
        other.params = Some(serde_json::json!({"fast": 5, "slow": 20}));
        let mut named = entry(0, "r4");
        named.strategy = StrategyId::parse("strategy", "other").unwrap();
        let mut paper = entry(0, "r4");
        paper.source = Source::Paper;
        let a = db
            .write(|tx| append_once(tx, &[other, named, paper], 4))
            .unwrap();
        assert_eq!((a.ids.len(), a.known), (3, 0));
        assert_eq!(count(&db), 7);
        assert!(db.read(|tx| super::super::verify(tx)).unwrap().intact());
    }

    #[test]
    fn identical_trades_of_one_run_are_counted_and_old_duplicates_add_nothing() {
        let mut db = Db::open_in_memory().unwrap();
        // Two identical trades in one run (two entries closed together): both, then neither.
        let twins = [entry(0, "r1"), entry(0, "r1")];
        assert_eq!(db.write(|tx| append_once(tx, &twins, 1)).unwrap().known, 0);
        assert_eq!(db.write(|tx| append_once(tx, &twins, 2)).unwrap().known, 2);
        // A journal that holds a trade twice (journaled before this rule): a run with it once adds
        // nothing; a run with it three times adds the third.
        let mut db = Db::open_in_memory().unwrap();
        db.write(|tx| crate::journal::append_all(tx, &twins, 1))
            .unwrap();
        assert_eq!(
            db.write(|tx| append_once(tx, &[entry(0, "r2")], 2))
                .unwrap()
                .known,
            1
        );
        let three = [entry(0, "r3"), entry(0, "r3"), entry(0, "r3")];
        let a = db.write(|tx| append_once(tx, &three, 3)).unwrap();
        assert_eq!((a.ids, a.known), (vec![3], 2));
    }

    #[test]
    fn a_bad_trade_is_named_and_nothing_is_written() {
        let mut db = Db::open_in_memory().unwrap();
        let mut bad = entry(5, "r1");
        bad.trade.entry_price = -1.0;
        let err = db
            .write(|tx| append_once(tx, &[entry(0, "r1"), bad], 1))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("trade 2: journal entry: trade.entry_price"),
            "{err}"
        );
        assert_eq!(count(&db), 0);
    }
}
