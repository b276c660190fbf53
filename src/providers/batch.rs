//! Updating several symbols from one provider: each symbol is fetched in turn ([`update_symbol`]); a
//! failure is recorded and the run goes on with the next symbol, except an error that no later request
//! can survive (a bad key, an IP ban), after which the remaining symbols are skipped, not attempted.
//! Progress goes to a [`BatchObserver`] (the command line draws bars and logs; tests record).

use std::path::PathBuf;

use super::update::{UpdateOptions, UpdateReport, update_symbol};
use super::{Progress, Provider};
use crate::candles::store::read_parquet;
use crate::candles::{Interval, Store, TimeRange};

/// What became of one symbol of a batch.
#[derive(Debug, Clone, PartialEq)]
pub enum SymbolOutcome {
    /// Fetched and merged, or already up to date.
    Updated(UpdateReport),
    /// The fetch failed; the stored file was left exactly as it was.
    Failed {
        /// The provider's one-line error.
        message: String,
        /// This error stops the run: the symbols after it are skipped.
        stopped_run: bool,
        /// Requests sent for this symbol.
        requests: usize,
        /// What the store still holds for the symbol (zero rows if nothing, or unreadable).
        stored: StoredSpan,
    },
    /// Not attempted: an earlier symbol's error stopped the run.
    Skipped {
        /// That error's message.
        reason: String,
    },
}

/// Rows and first/last bar time of a stored file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoredSpan {
    /// Bars stored.
    pub rows: usize,
    /// The first bar's open time (ms, UTC).
    pub first: Option<i64>,
    /// The last bar's open time (ms, UTC).
    pub last: Option<i64>,
}

/// One symbol's result.
#[derive(Debug, Clone, PartialEq)]
pub struct SymbolResult {
    /// The symbol as given.
    pub symbol: String,
    /// Its store file.
    pub file: PathBuf,
    /// What happened.
    pub outcome: SymbolOutcome,
}

impl SymbolResult {
    /// True unless the symbol was updated.
    pub fn is_failure(&self) -> bool {
        !matches!(self.outcome, SymbolOutcome::Updated(_))
    }
}

/// Watches a batch: the default methods do nothing.
pub trait BatchObserver {
    /// A symbol's fetch starts (skipped symbols are not started).
    fn started(&mut self, _symbol: &str) {}
    /// A page of the current symbol arrived.
    fn progress(&mut self, _symbol: &str, _progress: Progress) {}
    /// A symbol is done (updated, failed or skipped).
    fn finished(&mut self, _result: &SymbolResult) {}
}

/// An observer that watches nothing.
impl BatchObserver for () {}

/// Updates every symbol of `symbols` (in order) at `interval` from `provider` into `store`, and returns
/// one result per symbol, in the same order.
pub fn update_symbols(
    store: &Store,
    provider: &dyn Provider,
    symbols: &[String],
    interval: Interval,
    opts: &UpdateOptions,
    observer: &mut dyn BatchObserver,
) -> Vec<SymbolResult> {
    let mut results = Vec::with_capacity(symbols.len());
    let mut stopped: Option<String> = None;
    for symbol in symbols {
        // The CLI checked every symbol before the run; an unreadable legacy file fails this symbol's
        // update below with its own message.
        let file = store.path(symbol, interval).unwrap_or_default();
        let outcome = match &stopped {
            Some(reason) => SymbolOutcome::Skipped {
                reason: reason.clone(),
            },
            None => {
                observer.started(symbol);
                let before = provider.requests_sent();
                let mut on_progress = |p: Progress| observer.progress(symbol, p);
                match update_symbol(store, provider, symbol, interval, opts, &mut on_progress) {
                    Ok(report) => SymbolOutcome::Updated(report),
                    Err(e) => {
                        if e.stop_run {
                            stopped = Some(e.message.clone());
                        }
                        SymbolOutcome::Failed {
                            message: e.message,
                            stopped_run: e.stop_run,
                            requests: provider.requests_sent() - before,
                            stored: stored_span(&file),
                        }
                    }
                }
            }
        };
        let result = SymbolResult {
            symbol: symbol.clone(),
            file,
            outcome,
        };
        observer.finished(&result);
        results.push(result);
    }
    results
}

/// What a store file holds; zero rows when it is missing or unreadable.
fn stored_span(file: &std::path::Path) -> StoredSpan {
    match read_parquet(file, &TimeRange::ALL) {
        Ok((c, _)) => StoredSpan {
            rows: c.len(),
            first: c.ts.first().copied(),
            last: c.ts.last().copied(),
        },
        Err(_) => StoredSpan::default(),
    }
}

#[cfg(test)]
mod tests {
    use std::cell::{Cell, RefCell};

    use super::*;
    use crate::candles::{Bar, Candles, HOUR_MS};
    use crate::error::Result;
    use crate::providers::{CandleRequest, FetchError};

    /// 2024-01-01 00:00 UTC.
    const T0: i64 = 1_704_067_200_000;

    /// A provider scripted per symbol: `Ok(n)` returns `n` hourly bars from T0, `Err(stop)` fails (and
    /// stops the run when `stop`). Every fetch counts as one request.
    struct Scripted {
        script: Vec<(&'static str, std::result::Result<usize, bool>)>,
        requests: Cell<usize>,
        asked: RefCell<Vec<String>>,
    }

    impl Provider for Scripted {
        fn name(&self) -> &'static str {
            "scripted"
        }
        fn interval_code(&self, _: Interval) -> Result<&'static str> {
            Ok("1h")
        }
        fn fetch(
            &self,
            req: &CandleRequest,
            progress: &mut dyn FnMut(Progress),
        ) -> std::result::Result<Candles, FetchError> {
            self.requests.set(self.requests.get() + 1);
            self.asked.borrow_mut().push(req.symbol.clone());
            let (_, what) = self.script.iter().find(|(s, _)| *s == req.symbol).unwrap();
            match *what {
                Ok(n) => {
                    progress(Progress {
                        pages: 1,
                        bars: n,
                        covered: 1.0,
                    });
                    let mut c = Candles::with_capacity(n);
                    for i in 0..n as i64 {
                        c.push(Bar {
                            ts: T0 + i * HOUR_MS,
                            open: 1.0,
                            high: 2.0,
                            low: 0.5,
                            close: 1.5,
                            volume: 10.0,
                        });
                    }
                    Ok(c)
                }
                Err(stop) => Err(FetchError {
                    message: format!("{}: refused", req.symbol),
                    stop_run: stop,
                }),
            }
        }
        fn requests_sent(&self) -> usize {
            self.requests.get()
        }
    }

    #[derive(Default)]
    struct Recorder(Vec<String>);

    impl BatchObserver for Recorder {
        fn started(&mut self, symbol: &str) {
            self.0.push(format!("start {symbol}"));
        }
        fn progress(&mut self, symbol: &str, p: Progress) {
            self.0.push(format!("progress {symbol} {}", p.bars));
        }
        fn finished(&mut self, r: &SymbolResult) {
            self.0
                .push(format!("done {} failed={}", r.symbol, r.is_failure()));
        }
    }

    fn opts() -> UpdateOptions {
        UpdateOptions {
            range: TimeRange {
                start: Some(T0),
                end: Some(T0 + 9 * HOUR_MS),
            },
            full: false,
            now: T0 + 100 * HOUR_MS,
        }
    }

    #[test]
    fn a_failure_continues_and_a_fatal_one_skips_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::at(dir.path().join("data"));
        let provider = Scripted {
            script: vec![
                ("A", Ok(3)),
                ("B", Err(false)),
                ("C", Ok(2)),
                ("D", Err(true)),
            ],
            requests: Cell::new(0),
            asked: RefCell::new(Vec::new()),
        };
        let symbols: Vec<String> = ["A", "B", "C", "D", "E"].map(String::from).to_vec();
        let mut rec = Recorder::default();
        let out = update_symbols(
            &store,
            &provider,
            &symbols,
            Interval::Hour1,
            &opts(),
            &mut rec,
        );
        assert_eq!(out.len(), 5);
        // E was never asked for: D's error stopped the run.
        assert_eq!(*provider.asked.borrow(), ["A", "B", "C", "D"]);
        match &out[0].outcome {
            SymbolOutcome::Updated(r) => assert_eq!((r.new_rows, r.total_rows), (3, 3)),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            out[1].outcome,
            SymbolOutcome::Failed {
                message: "B: refused".into(),
                stopped_run: false,
                requests: 1,
                stored: StoredSpan::default(),
            }
        );
        assert!(matches!(out[2].outcome, SymbolOutcome::Updated(_)));
        assert!(matches!(
            out[3].outcome,
            SymbolOutcome::Failed {
                stopped_run: true,
                ..
            }
        ));
        assert_eq!(
            out[4].outcome,
            SymbolOutcome::Skipped {
                reason: "D: refused".into()
            }
        );
        assert_eq!(out[4].file, store.path("E", Interval::Hour1).unwrap());
        assert_eq!(
            rec.0,
            [
                "start A",
                "progress A 3",
                "done A failed=false",
                "start B",
                "done B failed=true",
                "start C",
                "progress C 2",
                "done C failed=false",
                "start D",
                "done D failed=true",
                "done E failed=true",
            ]
        );
    }

    #[test]
    fn a_failed_symbol_reports_what_the_store_still_holds() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::at(dir.path().join("data"));
        let ok = Scripted {
            script: vec![("A", Ok(4))],
            requests: Cell::new(0),
            asked: RefCell::new(Vec::new()),
        };
        let symbols = vec!["A".to_string()];
        update_symbols(&store, &ok, &symbols, Interval::Hour1, &opts(), &mut ());
        let failing = Scripted {
            script: vec![("A", Err(false))],
            requests: Cell::new(0),
            asked: RefCell::new(Vec::new()),
        };
        let mut o = opts();
        o.full = true;
        let out = update_symbols(&store, &failing, &symbols, Interval::Hour1, &o, &mut ());
        match &out[0].outcome {
            SymbolOutcome::Failed { stored, .. } => assert_eq!(
                *stored,
                StoredSpan {
                    rows: 4,
                    first: Some(T0),
                    last: Some(T0 + 3 * HOUR_MS),
                }
            ),
            other => panic!("{other:?}"),
        }
    }
}
