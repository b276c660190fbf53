//! `journal import`: live trades from a broker's fills.
//!
//! **The CSV.** A header row, then one fill per row. Columns, in any order and any case (other columns
//! are ignored): `time` (ISO 8601 or epoch seconds/ms/µs/ns; no offset means UTC), `symbol`, `side`
//! (`buy`/`long` or `sell`/`short`), `quantity` (> 0), `price` (> 0), `fee` (≥ 0, in the account
//! currency), `order_id`. Every row is checked before anything is written: a bad row is an error naming
//! the file and line, and nothing is imported.
//!
//! **Round trips.** The fills of one book (account, strategy, symbol) are taken in time order (file order
//! on a tie). A round trip runs from flat to flat: fills on the position's side open quantity, fills on
//! the other side close the oldest open quantity first (FIFO). A fill that closes more than is open
//! flips the position: its first part closes the trip, the rest opens the next one, and its fee is split
//! between them by quantity. So a trip's size is all the quantity it opened, its entry price the
//! quantity-weighted mean of the fills that opened it, its exit price that of the fills that closed it,
//! its commission the fees of its fills, `pnl = size · (exit − entry) − commission`, and its return
//! `side · (exit / entry − 1) − commission / (|size| · entry)`, as a backtest trade's. A broker's file
//! does not say why a position was closed: the exit reason is `signal`.
//!
//! **Idempotent.** Every fill is stored (`journal_fills`) and identified by its account, symbol, order
//! id, time, side, quantity, price and occurrence (the n-th identical row of that order): importing a
//! file again adds nothing, and a later file continues the same books — a position left open by one
//! export is closed by the fills of the next. A new fill older than the newest one already imported for
//! its book is refused (it would change trades already journaled).

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use rusqlite::types::Value;
use rusqlite::{OptionalExtension, Transaction};
use serde::Serialize;

use super::entry::{self, EntryId, NewEntry, PlaybookRef, Source, real, text};
use crate::candles::csv_import::extra_fields;
use crate::candles::time::{TimeFormat, format_ts_full, parse_time};
use crate::candles::{DAY_MS, Interval};
use crate::db::chain::{Chain, sha256_hex};
use crate::error::{Error, IoContext, Result};
use crate::risk::StrategyId;
use crate::trade::{ExitReason, Side, TradeRecord};

/// `journal_fills`, chained over these columns in this order.
pub const FILLS: Chain = Chain {
    table: "journal_fills",
    columns: &[
        "recorded_ms",
        "account",
        "strategy",
        "symbol",
        "order_id",
        "ts_ms",
        "side",
        "quantity",
        "price",
        "fee",
        "occurrence",
        "file",
        "line",
    ],
};

/// One fill of the CSV.
#[derive(Debug, Clone, PartialEq)]
pub struct Fill {
    /// Line in the file (1 is the header).
    pub line: usize,
    /// Time, ms since the epoch (UTC).
    pub ts_ms: i64,
    /// Instrument.
    pub symbol: String,
    /// Buy (long) or sell (short).
    pub side: Side,
    /// Units, > 0.
    pub quantity: f64,
    /// Price, > 0.
    pub price: f64,
    /// Fee, ≥ 0.
    pub fee: f64,
    /// The broker's order id.
    pub order_id: String,
    /// 1 for the first row of this order with these values, 2 for an identical second one, …
    pub occurrence: u32,
}

const COLUMNS: [(&str, &[&str]); 7] = [
    ("time", &["time", "timestamp", "datetime", "date", "ts"]),
    ("symbol", &["symbol", "instrument", "ticker"]),
    ("side", &["side", "action", "direction"]),
    ("quantity", &["quantity", "qty", "size", "units", "amount"]),
    ("price", &["price", "fillprice"]),
    ("fee", &["fee", "fees", "commission"]),
    ("order_id", &["orderid", "order", "id"]),
];

/// Reads the fills of the CSV file `path`; every problem is an error naming the line.
pub fn read_fills(path: &Path) -> Result<Vec<Fill>> {
    let text = std::fs::read_to_string(path).at(path)?;
    parse_fills(&text, &path.display().to_string())
}

/// Parses fills from CSV text; `origin` names the source in errors. Up to five problems are reported.
pub fn parse_fills(text: &str, origin: &str) -> Result<Vec<Fill>> {
    let mut rdr = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .flexible(true)
        .from_reader(text.as_bytes());
    let header = rdr
        .headers()
        .map_err(|e| Error::invalid(format!("{origin}: line 1: {e}")))?
        .clone();
    let norm = |s: &str| s.to_ascii_lowercase().replace([' ', '_', '-'], "");
    let mut at = [0usize; 7];
    for (slot, (name, aliases)) in at.iter_mut().zip(COLUMNS) {
        *slot = header.iter().position(|h| aliases.contains(&norm(h).as_str())).ok_or_else(|| {
            Error::invalid(format!(
                "{origin}: line 1: no '{name}' column; the columns are time, symbol, side, quantity, price, fee, order_id"
            ))
        })?;
    }
    let mut fills = Vec::new();
    let mut problems = Vec::new();
    for rec in rdr.records() {
        let rec = match rec {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                problems.push(format!("line {line}: {e}"));
                break;
            }
        };
        let line = rec.position().map_or(0, |p| p.line() as usize);
        let cell = |i: usize| rec.get(at[i]).unwrap_or("");
        let row = match extra_fields(&rec, header.len()) {
            Some(why) => Err(why),
            None => parse_row(line, &cell),
        };
        match row {
            Ok(f) => fills.push(f),
            Err(e) => problems.push(format!("line {line}: {e}")),
        }
        if problems.len() == 5 {
            break;
        }
    }
    if !problems.is_empty() {
        let n = problems.len();
        return Err(Error::invalid(format!(
            "{origin}: {}{}; nothing was imported",
            problems.join("; "),
            if n > 1 {
                format!(" — {n} problems")
            } else {
                String::new()
            }
        )));
    }
    if fills.is_empty() {
        return Err(Error::invalid(format!(
            "{origin}: no fills after the header; nothing was imported"
        )));
    }
    number_occurrences(&mut fills);
    Ok(fills)
}

fn parse_row<'c>(
    line: usize,
    cell: &dyn Fn(usize) -> &'c str,
) -> std::result::Result<Fill, String> {
    let number = |i: usize,
                  name: &str,
                  ok: fn(f64) -> bool,
                  want: &str|
     -> std::result::Result<f64, String> {
        let s = cell(i);
        match s.parse::<f64>() {
            Ok(v) if ok(v) => Ok(v),
            _ => Err(format!("{name} '{s}' is not {want}")),
        }
    };
    let ts_ms = parse_time(cell(0), TimeFormat::Auto).map_err(|e| format!("time: {e}"))?;
    let symbol = cell(1).to_string();
    if symbol.is_empty() {
        return Err("symbol is empty".into());
    }
    let side = Side::parse_field("side", cell(2)).map_err(|e| e.to_string())?;
    let quantity = number(
        3,
        "quantity",
        |v| v.is_finite() && v > 0.0,
        "a positive number",
    )?;
    let price = number(
        4,
        "price",
        |v| v.is_finite() && v > 0.0,
        "a positive number",
    )?;
    let fee = number(5, "fee", |v| v.is_finite() && v >= 0.0, "a number ≥ 0")?;
    let order_id = cell(6).to_string();
    if order_id.is_empty() {
        return Err("order_id is empty".into());
    }
    Ok(Fill {
        line,
        ts_ms,
        symbol,
        side,
        quantity,
        price,
        fee,
        order_id,
        occurrence: 1,
    })
}

/// Numbers identical rows of one order 1, 2, … in file order.
fn number_occurrences(fills: &mut [Fill]) {
    let mut seen: HashMap<(String, String, i64, Side, u64, u64), u32> = HashMap::new();
    for f in fills {
        let key = (
            f.symbol.clone(),
            f.order_id.clone(),
            f.ts_ms,
            f.side,
            f.quantity.to_bits(),
            f.price.to_bits(),
        );
        let n = seen.entry(key).or_insert(0);
        *n += 1;
        f.occurrence = *n;
    }
}

/// A fill of one book, as the round trips read it.
#[derive(Debug, Clone, PartialEq)]
pub struct BookFill {
    /// Time, ms.
    pub ts_ms: i64,
    /// Buy or sell.
    pub side: Side,
    /// Units.
    pub quantity: f64,
    /// Price.
    pub price: f64,
    /// Fee.
    pub fee: f64,
    /// Order id.
    pub order_id: String,
}

/// A position from flat to flat.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RoundTrip {
    /// The side of the position.
    pub side: Side,
    /// All the quantity it opened.
    pub quantity: f64,
    /// Quantity-weighted mean price of the opening fills.
    pub entry_price: f64,
    /// Quantity-weighted mean price of the closing fills.
    pub exit_price: f64,
    /// Fees of its fills (a flipping fill's split by quantity).
    pub fees: f64,
    /// The first opening fill's time.
    pub entry_ms: i64,
    /// The time of the fill that made it flat.
    pub exit_ms: i64,
    /// The orders of its fills, first appearance first.
    pub order_ids: Vec<String>,
}

impl RoundTrip {
    /// As the shared trade record (no bar indices: both 0).
    pub fn to_record(&self) -> TradeRecord {
        let sign = self.side.sign();
        let size = sign * self.quantity;
        TradeRecord {
            size,
            side: self.side,
            entry_bar: 0,
            exit_bar: 0,
            entry_price: self.entry_price,
            exit_price: self.exit_price,
            stop: None,
            target: None,
            pnl: size * (self.exit_price - self.entry_price) - self.fees,
            commission: self.fees,
            return_pct: (sign * (self.exit_price / self.entry_price - 1.0)
                - self.fees / (self.quantity * self.entry_price))
                * 100.0,
            entry_time: self.entry_ms,
            exit_time: self.exit_ms,
            duration_days: (self.exit_ms - self.entry_ms) as f64 / DAY_MS as f64,
            exit_reason: ExitReason::Signal,
            ambiguous: false,
        }
    }
}

/// A round trip being built.
#[derive(Debug, Default)]
struct Open {
    side: Option<Side>,
    /// Signed open quantity.
    position: f64,
    opened: f64,
    open_value: f64,
    closed: f64,
    close_value: f64,
    fees: f64,
    entry_ms: i64,
    order_ids: Vec<String>,
}

impl Open {
    fn note(&mut self, order_id: &str) {
        if !self.order_ids.iter().any(|o| o == order_id) {
            self.order_ids.push(order_id.to_string());
        }
    }

    fn open(&mut self, f: &BookFill, quantity: f64, fee: f64) {
        if self.side.is_none() {
            self.side = Some(f.side);
            self.entry_ms = f.ts_ms;
        }
        self.position += f.side.sign() * quantity;
        self.opened += quantity;
        self.open_value += quantity * f.price;
        self.fees += fee;
        self.note(&f.order_id);
    }
}

/// The round trips of one book's fills (time order) and the position still open after them (signed).
pub fn round_trips(fills: &[BookFill]) -> (Vec<RoundTrip>, f64) {
    let mut trips = Vec::new();
    let mut cur = Open::default();
    for f in fills {
        let same = cur.side.is_none_or(|s| s == f.side);
        if same {
            cur.open(f, f.quantity, f.fee);
            continue;
        }
        let open = cur.position.abs();
        // Quantities that differ by less than a billionth are equal: 0.1 + 0.2 closes 0.3.
        let closing = if (f.quantity - open).abs() <= 1e-9 * open.max(f.quantity) {
            open
        } else {
            f.quantity.min(open)
        };
        let close_fee = f.fee * closing / f.quantity;
        cur.closed += closing;
        cur.close_value += closing * f.price;
        cur.fees += close_fee;
        cur.position += f.side.sign() * closing;
        cur.note(&f.order_id);
        if closing < open {
            continue;
        }
        trips.push(RoundTrip {
            side: cur.side.expect("an open trip has a side"),
            quantity: cur.opened,
            entry_price: cur.open_value / cur.opened,
            exit_price: cur.close_value / cur.closed,
            fees: cur.fees,
            entry_ms: cur.entry_ms,
            exit_ms: f.ts_ms,
            order_ids: std::mem::take(&mut cur.order_ids),
        });
        cur = Open::default();
        let rest = f.quantity - closing;
        if rest > 1e-9 * f.quantity {
            cur.open(f, rest, f.fee - close_fee);
        }
    }
    (trips, cur.position)
}

/// How imported trades are attributed.
#[derive(Debug, Clone)]
pub struct Attribution {
    /// The strategy they belong to.
    pub strategy: StrategyId,
    /// The account.
    pub account: String,
    /// The interval the strategy runs on.
    pub interval: Option<Interval>,
    /// The playbook they were traded under, with its model, parameters and settings.
    pub playbook: Option<(PlaybookRef, String, serde_json::Value, serde_json::Value)>,
}

/// What an import did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ImportReport {
    /// The batch id the new entries carry as their run id.
    pub run_id: String,
    /// Fills in the file.
    pub fills_read: usize,
    /// Fills stored now.
    pub fills_new: usize,
    /// Fills already imported before.
    pub fills_known: usize,
    /// The new journal entries.
    pub entries: Vec<EntryId>,
    /// Per symbol of the file, the position still open (signed units; 0 when flat).
    pub open: BTreeMap<String, f64>,
}

/// Imports `fills` (from `file`) inside the caller's write transaction: stores the new fills and
/// journals every round trip they complete. All or nothing.
pub fn import(
    tx: &Transaction<'_>,
    fills: &[Fill],
    file: &str,
    who: &Attribution,
    recorded_ms: i64,
) -> Result<ImportReport> {
    let account = who.account.trim();
    if account.is_empty() {
        return Err(Error::invalid("account: must not be empty"));
    }
    let mut ordered: Vec<&Fill> = fills.iter().collect();
    ordered.sort_by_key(|f| (f.ts_ms, f.line));
    let mut new = Vec::new();
    for f in &ordered {
        if !known(tx, account, f)? {
            new.push(*f);
        }
    }
    check_order(tx, &new, file, account, &who.strategy)?;
    let mut app = FILLS.appender(tx)?;
    for f in &new {
        app.push(&fill_values(
            f,
            account,
            who.strategy.as_str(),
            file,
            recorded_ms,
        ))?;
    }
    drop(app);
    let run_id = format!(
        "import-{}-{}",
        chrono::DateTime::from_timestamp_millis(recorded_ms)
            .unwrap_or_default()
            .format("%Y%m%dT%H%M%S%.3fZ"),
        &sha256_hex(&format!(
            "{file}|{account}|{}|{}",
            who.strategy,
            fills.len()
        ))[..8]
    );
    let mut entries = Vec::new();
    let mut open = BTreeMap::new();
    let symbols: std::collections::BTreeSet<&str> =
        ordered.iter().map(|f| f.symbol.as_str()).collect();
    for symbol in symbols {
        let book = book_fills(tx, account, who.strategy.as_str(), symbol)?;
        let (trips, position) = round_trips(&book);
        open.insert(symbol.to_string(), position);
        let done = imported_trips(tx, account, who.strategy.as_str(), symbol)?;
        let fresh: Vec<NewEntry> = trips
            .iter()
            .skip(done)
            .map(|t| entry_of(t, symbol, &run_id, account, who))
            .collect();
        entries.extend(entry::append_all(tx, &fresh, recorded_ms)?);
    }
    Ok(ImportReport {
        run_id,
        fills_read: fills.len(),
        fills_new: new.len(),
        fills_known: fills.len() - new.len(),
        entries,
        open,
    })
}

fn entry_of(
    t: &RoundTrip,
    symbol: &str,
    run_id: &str,
    account: &str,
    who: &Attribution,
) -> NewEntry {
    let pb = who.playbook.as_ref();
    NewEntry {
        source: Source::Live,
        run_id: Some(run_id.to_string()),
        strategy: who.strategy.clone(),
        model: pb.map(|p| p.1.clone()),
        params: pb.map(|p| p.2.clone()),
        settings: pb.map(|p| p.3.clone()),
        playbook: pb.map(|p| p.0.clone()),
        symbol: symbol.to_string(),
        interval: who.interval,
        account: Some(account.to_string()),
        order_ids: t.order_ids.clone(),
        trade: t.to_record(),
        bars_known: false,
    }
}

/// Whether this fill was imported before (under any strategy).
fn known(tx: &Transaction<'_>, account: &str, f: &Fill) -> Result<bool> {
    let hit: Option<i64> = tx
        .query_row(
            "SELECT id FROM journal_fills WHERE account = ?1 AND symbol = ?2 AND order_id = ?3 AND ts_ms = ?4
             AND side = ?5 AND quantity = ?6 AND price = ?7 AND occurrence = ?8",
            rusqlite::params![account, f.symbol, f.order_id, f.ts_ms, f.side.as_str(), f.quantity, f.price, f.occurrence],
            |r| r.get(0),
        )
        .optional()?;
    Ok(hit.is_some())
}

/// Refuses a new fill older than the newest fill already imported for its book.
fn check_order(
    tx: &Transaction<'_>,
    new: &[&Fill],
    file: &str,
    account: &str,
    strategy: &StrategyId,
) -> Result<()> {
    let mut newest: HashMap<&str, Option<i64>> = HashMap::new();
    for f in new {
        let last = match newest.get(f.symbol.as_str()) {
            Some(v) => *v,
            None => {
                let v: Option<i64> = tx.query_row(
                    "SELECT max(ts_ms) FROM journal_fills WHERE account = ?1 AND strategy = ?2 AND symbol = ?3",
                    rusqlite::params![account, strategy.as_str(), f.symbol],
                    |r| r.get(0),
                )?;
                newest.insert(&f.symbol, v);
                v
            }
        };
        if let Some(last) = last
            && f.ts_ms < last
        {
            return Err(Error::invalid(format!(
                "{file}: line {}: the fill at {} is older than the newest fill already imported for {} \
                 (strategy '{strategy}', account '{account}') at {}; it would change trades already \
                 journaled. Import exports in time order; nothing was imported",
                f.line,
                format_ts_full(f.ts_ms),
                f.symbol,
                format_ts_full(last)
            )));
        }
    }
    Ok(())
}

fn fill_values(
    f: &Fill,
    account: &str,
    strategy: &str,
    file: &str,
    recorded_ms: i64,
) -> Vec<Value> {
    vec![
        Value::Integer(recorded_ms),
        text(account),
        text(strategy),
        text(&f.symbol),
        text(&f.order_id),
        Value::Integer(f.ts_ms),
        text(f.side.as_str()),
        real(f.quantity),
        real(f.price),
        real(f.fee),
        Value::Integer(f.occurrence as i64),
        text(file),
        Value::Integer(f.line as i64),
    ]
}

/// Every stored fill of a book, in time order (import order on a tie).
fn book_fills(
    tx: &Transaction<'_>,
    account: &str,
    strategy: &str,
    symbol: &str,
) -> Result<Vec<BookFill>> {
    let mut stmt = tx.prepare(
        "SELECT ts_ms, side, quantity, price, fee, order_id FROM journal_fills
         WHERE account = ?1 AND strategy = ?2 AND symbol = ?3 ORDER BY ts_ms, id",
    )?;
    let rows = stmt.query_map(rusqlite::params![account, strategy, symbol], |r| {
        let side: String = r.get(1)?;
        Ok(BookFill {
            ts_ms: r.get(0)?,
            side: if side == "long" {
                Side::Long
            } else {
                Side::Short
            },
            quantity: r.get(2)?,
            price: r.get(3)?,
            fee: r.get(4)?,
            order_id: r.get(5)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// How many round trips of a book were journaled by imports already.
fn imported_trips(
    tx: &Transaction<'_>,
    account: &str,
    strategy: &str,
    symbol: &str,
) -> Result<usize> {
    let n: i64 = tx.query_row(
        "SELECT count(*) FROM journal_entries WHERE source = 'live' AND account = ?1 AND strategy = ?2
         AND symbol = ?3 AND run_id LIKE 'import-%'",
        rusqlite::params![account, strategy, symbol],
        |r| r.get(0),
    )?;
    Ok(n as usize)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::Db;

    const HEADER: &str = "time,symbol,side,quantity,price,fee,order_id\n";

    /// Partial fills and a flip (worked by hand in `partial_fills_and_a_flip_make_two_round_trips`).
    const FILLS: &str = "2024-01-02T10:00:00Z,ACME,buy,60,100,0.6,A
2024-01-02T10:00:05Z,ACME,buy,40,101,0.4,A
2024-01-02T11:00:00Z,ACME,sell,30,105,0.3,B
2024-01-02T12:00:00Z,ACME,sell,120,110,1.2,C
2024-01-02T13:00:00Z,ACME,buy,50,108,0.5,D
";

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-9 * b.abs().max(1.0)
    }

    fn book(text: &str) -> Vec<BookFill> {
        parse_fills(&format!("{HEADER}{text}"), "t.csv")
            .unwrap()
            .into_iter()
            .map(|f| BookFill {
                ts_ms: f.ts_ms,
                side: f.side,
                quantity: f.quantity,
                price: f.price,
                fee: f.fee,
                order_id: f.order_id,
            })
            .collect()
    }

    #[test]
    fn partial_fills_and_a_flip_make_two_round_trips() {
        let (trips, open) = round_trips(&book(FILLS));
        assert_eq!(trips.len(), 2);
        assert_eq!(open, 0.0);
        // Trip 1, long: opened 60 @ 100 and 40 @ 101 (order A, two partial fills) → 100 units at
        // (6000 + 4040) / 100 = 100.4. Closed 30 @ 105 (B), then C sells 120: 70 close the position,
        // 50 open a short. Exit (30·105 + 70·110) / 100 = 108.5. Fees 0.6 + 0.4 + 0.3 + 1.2·70/120 = 2.0.
        // pnl = 100 · (108.5 − 100.4) − 2.0 = 808.
        let t = &trips[0];
        assert_eq!((t.side, t.quantity), (Side::Long, 100.0));
        assert!(
            close(t.entry_price, 100.4) && close(t.exit_price, 108.5),
            "{t:?}"
        );
        assert!(close(t.fees, 2.0), "{t:?}");
        assert_eq!(t.order_ids, ["A", "B", "C"]);
        let r = t.to_record();
        assert!(close(r.pnl, 808.0), "{r:?}");
        // return = 108.5 / 100.4 − 1 − 2 / (100 · 100.4), in percent.
        assert!(close(
            r.return_pct,
            (108.5 / 100.4 - 1.0 - 2.0 / 10_040.0) * 100.0
        ));
        assert_eq!(r.exit_time - r.entry_time, 2 * 3_600_000);
        // Trip 2, short: the 50 left of C at 110, fee 1.2·50/120 = 0.5; closed by D 50 @ 108, fee 0.5.
        // pnl = −50 · (108 − 110) − 1.0 = 99.
        let t = &trips[1];
        assert_eq!(
            (t.side, t.quantity, t.entry_price, t.exit_price),
            (Side::Short, 50.0, 110.0, 108.0)
        );
        assert!(close(t.fees, 1.0));
        assert_eq!(t.order_ids, ["C", "D"]);
        assert!(close(t.to_record().pnl, 99.0));
        assert_eq!(t.to_record().size, -50.0);
    }

    #[test]
    fn an_open_position_stays_open_and_decimal_quantities_close_it() {
        // 0.1 + 0.2 bought, 0.3 sold: flat despite binary fractions.
        let (trips, open) = round_trips(&book(
            "2024-01-02,X,buy,0.1,10,0,a\n2024-01-03,X,buy,0.2,10,0,b\n2024-01-04,X,sell,0.3,11,0,c\n2024-01-05,X,sell,1,12,0,d\n",
        ));
        assert_eq!(trips.len(), 1);
        assert_eq!(open, -1.0);
    }

    #[test]
    fn a_broken_row_is_named_and_nothing_is_read() {
        for (rows, want) in [
            (
                "2024-01-02,X,buy,-5,10,0,a\n",
                "t.csv: line 2: quantity '-5' is not a positive number; nothing was imported",
            ),
            (
                "2024-01-02,X,buy,5,10,0,a\n2024-01-02,X,hold,5,10,0,b\n",
                "t.csv: line 3: side: unknown side 'hold'; expected long or short",
            ),
            (
                "2024-01-02,X,buy,5,0,0,a\n",
                "line 2: price '0' is not a positive number",
            ),
            (
                "2024-01-02,X,buy,5,10,-1,a\n",
                "line 2: fee '-1' is not a number ≥ 0",
            ),
            (
                "someday,X,buy,5,10,0,a\n",
                "line 2: time: unparsable time 'someday'",
            ),
            ("2024-01-02,X,buy,5,10,0,\n", "line 2: order_id is empty"),
            ("", "t.csv: no fills after the header"),
        ] {
            let err = parse_fills(&format!("{HEADER}{rows}"), "t.csv")
                .unwrap_err()
                .to_string();
            assert!(err.contains(want), "{want}: {err}");
        }
        let err = parse_fills("time,symbol,side,quantity,fee,order_id\n", "t.csv")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("t.csv: line 1: no 'price' column"), "{err}");
        // Other columns and another order are fine; names in any case.
        let f = parse_fills(
            "Order ID,Price,QTY,Side,Symbol,Time,Fee,Note\nz,2,3,SELL,Y,1704153600,0,hi\n",
            "t.csv",
        )
        .unwrap();
        assert_eq!(
            (f[0].side, f[0].quantity, f[0].price, f[0].ts_ms),
            (Side::Short, 3.0, 2.0, 1_704_153_600_000)
        );
    }

    fn who() -> Attribution {
        Attribution {
            strategy: StrategyId::parse("s", "breakout").unwrap(),
            account: "acct".into(),
            interval: None,
            playbook: None,
        }
    }

    fn count(db: &Db, table: &str) -> i64 {
        db.conn()
            .query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
            .unwrap()
    }

    #[test]
    fn importing_twice_adds_nothing_and_a_later_file_closes_an_open_position() {
        let mut db = Db::open_in_memory().unwrap();
        let fills = parse_fills(&format!("{HEADER}{FILLS}"), "f.csv").unwrap();
        let first = &fills[..3];
        // The first export stops with 70 units still open: no round trip yet.
        let r = db
            .write(|tx| import(tx, first, "a.csv", &who(), 1))
            .unwrap();
        assert_eq!((r.fills_new, r.entries.len(), r.open["ACME"]), (3, 0, 70.0));
        // The next export repeats those three fills and adds the rest: two round trips.
        let r = db
            .write(|tx| import(tx, &fills, "b.csv", &who(), 2))
            .unwrap();
        assert_eq!((r.fills_new, r.fills_known, r.entries.len()), (2, 3, 2));
        // Again: nothing new.
        let r = db
            .write(|tx| import(tx, &fills, "b.csv", &who(), 3))
            .unwrap();
        assert_eq!((r.fills_new, r.entries.len()), (0, 0));
        assert_eq!(
            (count(&db, "journal_fills"), count(&db, "journal_entries")),
            (5, 2)
        );
        let e = db
            .read(|tx| entry::list(tx, &entry::Filter::default(), None))
            .unwrap();
        assert!(close(e[0].trade.pnl, 808.0) && close(e[1].trade.pnl, 99.0));
        assert_eq!(
            (e[0].source, e[0].account.as_str(), e[0].strategy.as_str()),
            (Source::Live, "acct", "breakout")
        );
        assert!(db.read(|tx| super::super::verify(tx)).unwrap().intact());
    }

    #[test]
    fn a_new_fill_older_than_the_imported_ones_is_refused_and_nothing_is_written() {
        let mut db = Db::open_in_memory().unwrap();
        let fills = parse_fills(&format!("{HEADER}{FILLS}"), "f.csv").unwrap();
        db.write(|tx| import(tx, &fills[2..], "late.csv", &who(), 1))
            .unwrap();
        let err = db
            .write(|tx| import(tx, &fills[..2], "early.csv", &who(), 2))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(
                "early.csv: line 2: the fill at 2024-01-02T10:00:00Z is older than the newest"
            ),
            "{err}"
        );
        assert_eq!(count(&db, "journal_fills"), 3);
    }
}
