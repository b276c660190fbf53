//! What the store holds and whether it is sound: [`Store::inventory`] (every file with its rows, time
//! span, missing bars and size; a damaged file is listed with its error, never skipped) and
//! [`Store::verify`] (re-read and re-validate one file, and list its gaps).

use std::path::PathBuf;

use super::gaps::{GapReport, find_gaps};
use super::store::read_parquet;
use super::{Candles, Interval, Store, Symbol, TimeRange};
use crate::error::{Error, Result};

/// One stored file of the inventory.
#[derive(Debug, Clone, PartialEq)]
pub struct InventoryEntry {
    /// The symbol as the file records it, else (an older or damaged file) its folder name.
    pub symbol: String,
    /// The bar interval.
    pub interval: Interval,
    /// The file.
    pub path: PathBuf,
    /// The file's size in bytes (0 if it cannot be read).
    pub size_bytes: u64,
    /// Its contents, or why the file could not be read (one line naming the file).
    pub contents: std::result::Result<FileSummary, String>,
}

/// The contents of a readable store file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileSummary {
    /// Bars in the file.
    pub rows: usize,
    /// The first bar's open time (ms, UTC).
    pub first: Option<i64>,
    /// The last bar's open time (ms, UTC).
    pub last: Option<i64>,
    /// Expected bars missing between the first and the last ([`find_gaps`]).
    pub missing_bars: usize,
    /// Where the bars came from (`csv:GOOG.csv`, `binance`, …).
    pub source: String,
    /// When the file was written (RFC 3339).
    pub written_at: String,
}

/// The result of re-validating one stored file.
#[derive(Debug, Clone, PartialEq)]
pub struct Verification {
    /// The symbol as asked for.
    pub symbol: String,
    /// The bar interval.
    pub interval: Interval,
    /// The file.
    pub path: PathBuf,
    /// Bars in the file.
    pub rows: usize,
    /// The first bar's open time (ms, UTC).
    pub first: Option<i64>,
    /// The last bar's open time (ms, UTC).
    pub last: Option<i64>,
    /// Every gap.
    pub gaps: GapReport,
}

impl Store {
    /// Every stored file, sorted by symbol folder then interval, each read and validated in full. A file
    /// that cannot be read is listed with its error; only a store folder that cannot be listed is an
    /// error.
    pub fn inventory(&self) -> Result<Vec<InventoryEntry>> {
        let files = self.files()?;
        let mut out = Vec::with_capacity(files.len());
        for (folder, interval, path) in files {
            let size_bytes = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
            let (symbol, contents) = match read_parquet(&path, &TimeRange::ALL) {
                Ok((_, meta)) if !owned_by(&path, &meta.symbol, &folder) => {
                    let why = foreign(&path, &meta.symbol, &folder);
                    (folder, Err(why))
                }
                Ok((c, meta)) => {
                    let symbol = if meta.symbol.is_empty() {
                        folder
                    } else {
                        meta.symbol
                    };
                    let summary = FileSummary {
                        missing_bars: find_gaps(&c, interval).missing_bars,
                        source: meta.source,
                        written_at: meta.written_at,
                        ..span(&c)
                    };
                    (symbol, Ok(summary))
                }
                Err(e) => (folder, Err(e.to_string())),
            };
            out.push(InventoryEntry {
                symbol,
                interval,
                path,
                size_bytes,
                contents,
            });
        }
        Ok(out)
    }

    /// Re-reads and re-validates the file of `symbol`/`interval` and lists its gaps. A missing file is
    /// bad input (exit 1); a damaged one, or one whose bars are spaced for a longer interval
    /// ([`super::rules::spacing_problem`]), is a failed check (exit 3) naming the file and the row.
    pub fn verify(&self, symbol: &str, interval: Interval) -> Result<Verification> {
        let path = self.path(symbol, interval)?;
        if !path.exists() {
            return Err(Error::invalid(format!(
                "{}: no such store file; see `flowrex fetch --list`",
                path.display()
            )));
        }
        let (c, meta) = read_parquet(&path, &TimeRange::ALL)
            .map_err(|e| Error::CheckFailed(format!("verification failed: {e}")))?;
        // Every load of `symbol` refuses a file that records another symbol, so the check does too.
        if !meta.symbol.is_empty() && meta.symbol != symbol {
            let why = foreign(&path, &meta.symbol, symbol);
            return Err(Error::CheckFailed(format!("verification failed: {why}")));
        }
        if let Some(why) = super::rules::spacing_problem(&c.ts, interval) {
            return Err(Error::CheckFailed(format!(
                "verification failed: {}: {why}, the file's interval",
                path.display()
            )));
        }
        let s = span(&c);
        Ok(Verification {
            symbol: symbol.to_string(),
            interval,
            path,
            rows: s.rows,
            first: s.first,
            last: s.last,
            gaps: find_gaps(&c, interval),
        })
    }
}

/// Whether the file at `path` in the folder of `folder_symbol` belongs there: its metadata names no
/// symbol (a file pandas wrote), that symbol, or a symbol whose folder older versions named the way this
/// folder is named (`data/EUR-USD/` holding EUR/USD, listed as EUR/USD until its next write moves it).
fn owned_by(path: &std::path::Path, recorded: &str, folder_symbol: &str) -> bool {
    let folder = path.parent().and_then(std::path::Path::file_name);
    recorded.is_empty()
        || recorded == folder_symbol
        || Symbol::parse(recorded)
            .is_ok_and(|s| folder.is_some_and(|f| f.to_string_lossy() == s.legacy_file_name()))
}

/// A file that records `recorded` where `symbol` was expected, as one line naming the file.
fn foreign(path: &std::path::Path, recorded: &str, symbol: &str) -> String {
    format!(
        "{}: the file holds {recorded}, not {symbol}; two symbols are never mixed in one file",
        path.display()
    )
}

/// Rows and first/last time of `c`.
fn span(c: &Candles) -> FileSummary {
    FileSummary {
        rows: c.len(),
        first: c.ts.first().copied(),
        last: c.ts.last().copied(),
        ..FileSummary::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::candles::store::{StoreMeta, write_parquet};
    use crate::candles::{Bar, DAY_MS};

    /// 2024-01-01 00:00 UTC, a Monday.
    const T0: i64 = 1_704_067_200_000;

    /// Daily bars (a market open every day, like crypto) for days `0..21` from T0, except `skip`.
    fn daily_except(skip: &[i64]) -> Candles {
        let mut c = Candles::with_capacity(21);
        for d in (0..21).filter(|d| !skip.contains(d)) {
            c.push(Bar {
                ts: T0 + d * DAY_MS,
                open: 10.0,
                high: 11.0,
                low: 9.0,
                close: 10.5,
                volume: 100.0,
            });
        }
        c
    }

    #[test]
    fn inventory_lists_every_file_and_a_damaged_one_with_its_error() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::at(dir.path().join("data"));
        // Days 9 and 10 (a Wednesday and a Thursday; the other two weeks have bars on those weekdays,
        // so they are in session) are missing: 19 rows, 2 missing bars.
        store
            .merge(
                "EUR/USD",
                Interval::Day1,
                &daily_except(&[9, 10]),
                "test",
                false,
            )
            .unwrap();
        let bad = store.path("ZZZ", Interval::Hour1).unwrap();
        std::fs::create_dir_all(bad.parent().unwrap()).unwrap();
        std::fs::write(&bad, b"not parquet").unwrap();

        let inv = store.inventory().unwrap();
        assert_eq!(inv.len(), 2);
        let ok = &inv[0];
        assert_eq!(ok.symbol, "EUR/USD"); // from the file's metadata, not the folder EUR-USD
        assert_eq!(ok.path, store.path("EUR/USD", Interval::Day1).unwrap());
        assert_eq!(ok.size_bytes, std::fs::metadata(&ok.path).unwrap().len());
        let s = ok.contents.as_ref().unwrap();
        assert_eq!((s.rows, s.missing_bars), (19, 2));
        assert_eq!(s.first, Some(T0));
        assert_eq!(s.last, Some(T0 + 20 * DAY_MS));
        assert_eq!(s.source, "test");

        let damaged = &inv[1];
        assert_eq!(damaged.symbol, "ZZZ");
        assert_eq!(damaged.size_bytes, 11); // b"not parquet"
        let err = damaged.contents.as_ref().unwrap_err();
        assert!(err.contains(&bad.display().to_string()), "{err}");
    }

    #[test]
    fn an_empty_or_missing_store_has_an_empty_inventory() {
        let dir = tempfile::tempdir().unwrap();
        assert!(
            Store::at(dir.path().join("data"))
                .inventory()
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn verify_reports_gaps_and_refuses_missing_or_damaged_files() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::at(dir.path().join("data"));
        store
            .merge(
                "X",
                Interval::Day1,
                &daily_except(&[3, 12, 13, 14]),
                "test",
                false,
            )
            .unwrap();
        let v = store.verify("X", Interval::Day1).unwrap();
        // 21 − 4 = 17 rows; gaps: day 3 (1 bar) and days 12-14 (3 bars), each weekday in session.
        assert_eq!(v.rows, 17);
        assert_eq!(v.gaps.gaps.len(), 2);
        assert_eq!(v.gaps.missing_bars, 4);
        assert_eq!(v.gaps.gaps[1].after_ts, T0 + 11 * DAY_MS);

        let err = store.verify("Y", Interval::Hour1).unwrap_err();
        assert_eq!(err.exit_code(), 1);
        assert!(
            err.to_string()
                .ends_with("no such store file; see `flowrex fetch --list`")
        );

        // A file whose rows break the store's rules (high below low) fails verification with exit 3.
        let mut c = daily_except(&[]);
        c.high[1] = 1.0;
        let path = store.path("Z", Interval::Day1).unwrap();
        write_parquet(&path, &c, &StoreMeta::default()).unwrap();
        let err = store.verify("Z", Interval::Day1).unwrap_err();
        assert_eq!(err.exit_code(), 3);
        assert!(
            err.to_string().starts_with("verification failed: "),
            "{err}"
        );
    }
}
