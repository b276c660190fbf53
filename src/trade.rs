//! One trade vocabulary for every part of Flowrex: [`Side`], [`ExitReason`], the engine's [`Trade`] and
//! [`OpenTrade`], and the serializable [`TradeRecord`] / [`OpenTradeRecord`] that `backtest --json`, the
//! trades CSV/Parquet export, the journal and paper fills all write. [`TRADE_COLUMNS`] is the one list of
//! a record's columns that the file exports read.

use serde::{Deserialize, Serialize};

use crate::candles::DAY_MS;
use crate::error::{Error, Result};
use crate::json::{finite_or_null, time_text};

/// Direction of a position or an order.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    strum::Display,
    strum::EnumString,
    strum::IntoStaticStr,
    strum::VariantNames,
)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase", ascii_case_insensitive)]
pub enum Side {
    /// Buy now, profit when the price rises: stop below the entry, target above.
    #[strum(to_string = "long", serialize = "buy")]
    Long,
    /// Sell now, profit when the price falls: stop above the entry, target below.
    #[strum(to_string = "short", serialize = "sell")]
    Short,
}

impl Side {
    /// +1 for long, −1 for short.
    #[inline]
    pub fn sign(self) -> f64 {
        match self {
            Side::Long => 1.0,
            Side::Short => -1.0,
        }
    }

    /// The side of a signed size: long when positive, short otherwise.
    #[inline]
    pub fn of_size(size: f64) -> Side {
        if size > 0.0 { Side::Long } else { Side::Short }
    }

    /// `long` or `short`.
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// Parses `long`/`buy` or `short`/`sell` in any case, surrounding blanks ignored; the error names
    /// `field`.
    pub fn parse_field(field: &str, text: &str) -> Result<Side> {
        text.trim().parse().map_err(|_| {
            Error::invalid(format!(
                "{field}: unknown side '{text}'; expected long or short"
            ))
        })
    }
}

/// Why a trade was closed.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    strum::Display,
    strum::EnumString,
    strum::IntoStaticStr,
    strum::VariantNames,
)]
#[serde(rename_all = "kebab-case")]
#[strum(serialize_all = "kebab-case")]
pub enum ExitReason {
    /// The strategy exited or reversed.
    Signal,
    /// The stop price was reached (or gapped through).
    Stop,
    /// The target price was reached (or gapped through).
    Target,
    /// Closed after the last bar by `close_at_end`.
    EndOfData,
    /// Equity fell to zero or below.
    OutOfMoney,
}

impl ExitReason {
    /// The kebab-case name used in JSON and files.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// A closed trade, as the engine records it (bar indices into the candles it ran over).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Trade {
    /// Signed units: positive long, negative short.
    pub size: f64,
    /// Bar index of the entry fill.
    pub entry_bar: usize,
    /// Bar index of the exit fill.
    pub exit_bar: usize,
    /// Entry price, after spread.
    pub entry_price: f64,
    /// Exit price.
    pub exit_price: f64,
    /// Stop price attached at entry.
    pub stop: Option<f64>,
    /// Target price attached at entry.
    pub target: Option<f64>,
    /// Net profit: `size·(exit − entry) − commission`.
    pub pnl: f64,
    /// Entry plus exit commission.
    pub commission: f64,
    /// Net return as a fraction: `sign·(exit/entry − 1) − commission/(|size|·entry)`.
    pub return_frac: f64,
    /// Why it closed.
    pub exit_reason: ExitReason,
    /// True when the exit bar reached both the stop and the target.
    pub ambiguous: bool,
}

impl Trade {
    /// Long or short, from the sign of the size.
    pub fn side(&self) -> Side {
        Side::of_size(self.size)
    }
}

/// A position still open after the last bar (not counted in trade statistics; its mark-to-market value
/// is in the final equity).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OpenTrade {
    /// Signed units.
    pub size: f64,
    /// Bar index of the entry fill.
    pub entry_bar: usize,
    /// Entry price, after spread.
    pub entry_price: f64,
    /// Stop price, if any.
    pub stop: Option<f64>,
    /// Target price, if any.
    pub target: Option<f64>,
    /// Commission paid at entry.
    pub entry_commission: f64,
    /// Price it is marked at (the last close).
    pub mark_price: f64,
    /// `size·(mark − entry)`, no exit commission.
    pub unrealized_pnl: f64,
}

/// A closed trade with its times: the record every output writes (`backtest --json` `trades[]`, the
/// trades CSV/Parquet, the journal, paper fills). Field order is the JSON key order and the file
/// column order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TradeRecord {
    /// Signed units (negative for short).
    pub size: f64,
    /// `long` or `short`.
    pub side: Side,
    /// Bar index of the entry.
    pub entry_bar: usize,
    /// Bar index of the exit.
    pub exit_bar: usize,
    /// Entry price after spread.
    pub entry_price: f64,
    /// Exit price.
    pub exit_price: f64,
    /// Stop price, or null.
    pub stop: Option<f64>,
    /// Target price, or null.
    pub target: Option<f64>,
    /// Net P&L after both commissions.
    pub pnl: f64,
    /// Entry + exit commission.
    pub commission: f64,
    /// Net return in percent.
    #[serde(serialize_with = "finite_or_null")]
    pub return_pct: f64,
    /// Entry bar time (RFC 3339, UTC in text; ms since the epoch in memory).
    #[serde(with = "time_text")]
    pub entry_time: i64,
    /// Exit bar time.
    #[serde(with = "time_text")]
    pub exit_time: i64,
    /// `exit_time − entry_time` in days.
    pub duration_days: f64,
    /// `signal`, `stop`, `target`, `end-of-data` or `out-of-money`.
    pub exit_reason: ExitReason,
    /// The exit bar reached both stop and target.
    pub ambiguous: bool,
}

impl TradeRecord {
    /// The record of `t`, with times from `ts` (the bar open times of the candles it ran over).
    pub fn new(t: &Trade, ts: &[i64]) -> TradeRecord {
        let times = (ts[t.entry_bar], ts[t.exit_bar]);
        TradeRecord::at(t, (t.entry_bar, t.exit_bar), times)
    }

    /// The record of `t` with the entry and exit bar numbers and times the caller gives (a paper close
    /// takes them from its fills instead of from `t`'s bars).
    pub fn at(
        t: &Trade,
        (entry_bar, exit_bar): (usize, usize),
        (entry_time, exit_time): (i64, i64),
    ) -> TradeRecord {
        TradeRecord {
            size: t.size,
            side: t.side(),
            entry_bar,
            exit_bar,
            entry_price: t.entry_price,
            exit_price: t.exit_price,
            stop: t.stop,
            target: t.target,
            pnl: t.pnl,
            commission: t.commission,
            return_pct: t.return_frac * 100.0,
            entry_time,
            exit_time,
            duration_days: (exit_time - entry_time) as f64 / DAY_MS as f64,
            exit_reason: t.exit_reason,
            ambiguous: t.ambiguous,
        }
    }

    /// The records of `trades`.
    pub fn all(trades: &[Trade], ts: &[i64]) -> Vec<TradeRecord> {
        trades.iter().map(|t| TradeRecord::new(t, ts)).collect()
    }
}

/// The position still open at the end, with its entry time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpenTradeRecord {
    /// Signed units.
    pub size: f64,
    /// `long` or `short`.
    pub side: Side,
    /// Bar index of the entry.
    pub entry_bar: usize,
    /// Entry bar time.
    #[serde(with = "time_text")]
    pub entry_time: i64,
    /// Entry price after spread.
    pub entry_price: f64,
    /// Stop price, or null.
    pub stop: Option<f64>,
    /// Target price, or null.
    pub target: Option<f64>,
    /// Commission paid at entry.
    pub entry_commission: f64,
    /// The last close, which it is valued at.
    pub mark_price: f64,
    /// `size·(mark − entry)`, before exit commission.
    pub unrealized_pnl: f64,
}

impl OpenTradeRecord {
    /// The record of `t`, with its entry time from `ts`.
    pub fn new(t: &OpenTrade, ts: &[i64]) -> OpenTradeRecord {
        OpenTradeRecord {
            size: t.size,
            side: Side::of_size(t.size),
            entry_bar: t.entry_bar,
            entry_time: ts[t.entry_bar],
            entry_price: t.entry_price,
            stop: t.stop,
            target: t.target,
            entry_commission: t.entry_commission,
            mark_price: t.mark_price,
            unrealized_pnl: t.unrealized_pnl,
        }
    }
}

/// One cell of a trade record, typed for the file writers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Cell {
    /// A real number.
    Real(f64),
    /// A real number or null.
    MaybeReal(Option<f64>),
    /// A count or index.
    Count(u64),
    /// A time, ms since the epoch (UTC).
    Time(i64),
    /// A fixed word.
    Word(&'static str),
    /// Yes or no.
    Flag(bool),
}

/// A column of [`TradeRecord`]: its name and how to read it.
pub type TradeColumn = (&'static str, fn(&TradeRecord) -> Cell);

/// Every column of a [`TradeRecord`], in its serde order. The CSV and Parquet exports read this list;
/// a test checks it against the record's JSON keys, so the two cannot drift apart.
pub const TRADE_COLUMNS: [TradeColumn; 16] = [
    ("size", |t| Cell::Real(t.size)),
    ("side", |t| Cell::Word(t.side.as_str())),
    ("entry_bar", |t| Cell::Count(t.entry_bar as u64)),
    ("exit_bar", |t| Cell::Count(t.exit_bar as u64)),
    ("entry_price", |t| Cell::Real(t.entry_price)),
    ("exit_price", |t| Cell::Real(t.exit_price)),
    ("stop", |t| Cell::MaybeReal(t.stop)),
    ("target", |t| Cell::MaybeReal(t.target)),
    ("pnl", |t| Cell::Real(t.pnl)),
    ("commission", |t| Cell::Real(t.commission)),
    ("return_pct", |t| Cell::Real(t.return_pct)),
    ("entry_time", |t| Cell::Time(t.entry_time)),
    ("exit_time", |t| Cell::Time(t.exit_time)),
    ("duration_days", |t| Cell::Real(t.duration_days)),
    ("exit_reason", |t| Cell::Word(t.exit_reason.as_str())),
    ("ambiguous", |t| Cell::Flag(t.ambiguous)),
];

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> TradeRecord {
        let t = Trade {
            size: -3.0,
            entry_bar: 1,
            exit_bar: 3,
            entry_price: 100.0,
            exit_price: 90.0,
            stop: Some(105.0),
            target: None,
            pnl: 30.0,
            commission: 0.0,
            return_frac: 0.1,
            exit_reason: ExitReason::Target,
            ambiguous: false,
        };
        // Bars a day apart from 2020-01-01: entry on day 1, exit on day 3 → 2 days.
        let ts: Vec<i64> = (0..4).map(|i| 1_577_836_800_000 + i * DAY_MS).collect();
        TradeRecord::new(&t, &ts)
    }

    #[test]
    fn columns_follow_the_record_keys() {
        let text = serde_json::to_string(&sample()).unwrap();
        let json: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(json.as_object().unwrap().len(), TRADE_COLUMNS.len());
        // Every column appears as a key, in the record's serde order.
        let at: Vec<usize> = TRADE_COLUMNS
            .iter()
            .map(|(n, _)| {
                text.find(&format!("\"{n}\":"))
                    .unwrap_or_else(|| panic!("{n}"))
            })
            .collect();
        assert!(at.windows(2).all(|w| w[0] < w[1]), "{text}");
    }

    #[test]
    fn record_derives_side_times_and_duration() {
        let r = sample();
        assert_eq!(r.side, Side::Short);
        assert_eq!(r.duration_days, 2.0);
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["entry_time"], "2020-01-02T00:00:00Z");
        assert_eq!(json["exit_reason"], "target");
        assert_eq!(json["target"], serde_json::Value::Null);
        let back: TradeRecord = serde_json::from_value(json).unwrap();
        assert_eq!(back, r);
    }

    #[test]
    fn sides_parse_in_any_case_with_aliases() {
        assert_eq!(Side::parse_field("side", " BUY ").unwrap(), Side::Long);
        assert_eq!(Side::parse_field("side", "Short").unwrap(), Side::Short);
        assert_eq!(Side::Long.to_string(), "long");
        let e = Side::parse_field("side", "up").unwrap_err().to_string();
        assert!(e.contains("unknown side 'up'"), "{e}");
        assert_eq!(ExitReason::EndOfData.as_str(), "end-of-data");
        assert_eq!(
            "out-of-money".parse::<ExitReason>().unwrap(),
            ExitReason::OutOfMoney
        );
    }
}
