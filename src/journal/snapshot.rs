//! Dated performance snapshots per strategy and symbol (`journal snapshot`), kept in the append-only
//! `journal_snapshots` chain so the trend of a book can be listed later (`journal snapshots`).

use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::Transaction;
use rusqlite::types::Value;
use serde::Serialize;

use super::entry::{Source, text};
use super::stats::{Outcome, TradeStats, stats_of};
use crate::db::chain::Chain;
use crate::error::Result;
use crate::risk::StrategyId;

/// `journal_snapshots`, chained over these columns in this order.
pub const SNAPSHOTS: Chain = Chain {
    table: "journal_snapshots",
    columns: &[
        "ts_ms",
        "ts",
        "strategy",
        "symbol",
        "sources",
        "trades",
        "stats",
        "window_stats",
    ],
};

/// One snapshot.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Snapshot {
    /// Row id.
    pub id: i64,
    /// When it was taken.
    pub ts: String,
    /// The strategy.
    pub strategy: String,
    /// The symbol.
    pub symbol: String,
    /// The sources it covers (comma-separated).
    pub sources: String,
    /// Every trade of the book so far.
    pub stats: serde_json::Value,
    /// The last `window` trades.
    pub window: serde_json::Value,
}

/// Stores a snapshot of a book's `trades` (closing order): the statistics of all of them and of the last
/// `window`. Returns its id.
pub fn take(
    tx: &Transaction<'_>,
    strategy: &str,
    symbol: &str,
    sources: &[Source],
    trades: &[Outcome],
    window: usize,
    now: DateTime<Utc>,
) -> Result<(i64, TradeStats, TradeStats)> {
    let all = stats_of(trades.iter().copied());
    let recent = stats_of(
        trades[trades.len().saturating_sub(window)..]
            .iter()
            .copied(),
    );
    let names: Vec<&str> = sources.iter().map(|s| s.as_str()).collect();
    let id = SNAPSHOTS.append(
        tx,
        &[
            Value::Integer(now.timestamp_millis()),
            text(&now.to_rfc3339_opts(SecondsFormat::Millis, true)),
            text(strategy),
            text(symbol),
            text(&names.join(",")),
            Value::Integer(trades.len() as i64),
            text(&serde_json::to_string(&all).expect("stats serialize")),
            text(&serde_json::to_string(&recent).expect("stats serialize")),
        ],
    )?;
    Ok((id, all, recent))
}

/// The stored snapshots, oldest first, of `strategy` and `symbol` when given.
pub fn list(
    tx: &Transaction<'_>,
    strategy: Option<&StrategyId>,
    symbol: Option<&str>,
) -> Result<Vec<Snapshot>> {
    let mut sql = String::from(
        "SELECT id, ts, strategy, symbol, sources, stats, window_stats FROM journal_snapshots WHERE 1 = 1",
    );
    let mut args: Vec<Value> = Vec::new();
    if let Some(s) = strategy {
        args.push(text(s.as_str()));
        sql.push_str(&format!(" AND strategy = ?{}", args.len()));
    }
    if let Some(s) = symbol {
        args.push(text(s));
        sql.push_str(&format!(" AND symbol = ?{}", args.len()));
    }
    sql.push_str(" ORDER BY id");
    let mut stmt = tx.prepare(&sql)?;
    let rows = stmt.query_map(rusqlite::params_from_iter(args), |r| {
        let json = |i: usize| -> rusqlite::Result<serde_json::Value> {
            let s: String = r.get(i)?;
            Ok(serde_json::from_str(&s).unwrap_or(serde_json::Value::String(s)))
        };
        Ok(Snapshot {
            id: r.get(0)?,
            ts: r.get(1)?,
            strategy: r.get(2)?,
            symbol: r.get(3)?,
            sources: r.get(4)?,
            stats: json(5)?,
            window: json(6)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}
