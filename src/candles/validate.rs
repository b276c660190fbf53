//! Validation shared by import, fetch and load: finite values, consistent OHLC, non-negative volume,
//! unique times. Problems are reported with file, row and values; several at once, not only the first.

use super::time::format_ts;
use super::{Bar, Candles};
use crate::error::{Error, Result};

/// How many problems an error message lists before summarizing the rest.
pub const MAX_LISTED: usize = 5;

/// What is wrong with one bar's values, if anything.
pub fn bar_problem(b: &Bar) -> Option<String> {
    for (name, v) in [
        ("open", b.open),
        ("high", b.high),
        ("low", b.low),
        ("close", b.close),
        ("volume", b.volume),
    ] {
        if !v.is_finite() {
            return Some(format!("{name} is {v}"));
        }
    }
    if b.high < b.open.max(b.close) {
        let (which, v) = if b.open >= b.close {
            ("open", b.open)
        } else {
            ("close", b.close)
        };
        return Some(format!("high {} < {which} {v}", b.high));
    }
    if b.low > b.open.min(b.close) {
        let (which, v) = if b.open <= b.close {
            ("open", b.open)
        } else {
            ("close", b.close)
        };
        return Some(format!("low {} > {which} {v}", b.low));
    }
    if b.volume < 0.0 {
        return Some(format!("volume {} is negative", b.volume));
    }
    None
}

/// Collects problems and turns them into one error line.
#[derive(Debug, Default)]
pub struct Problems {
    listed: Vec<String>,
    count: usize,
}

impl Problems {
    /// Records a problem at `location` (e.g. `line 17` or `row 17`).
    pub fn add(&mut self, location: impl std::fmt::Display, what: impl std::fmt::Display) {
        self.count += 1;
        if self.listed.len() < MAX_LISTED {
            self.listed.push(format!("{location}: {what}"));
        }
    }

    /// Number of problems recorded.
    pub fn count(&self) -> usize {
        self.count
    }

    /// `Ok` when nothing was recorded, else one error naming `file`, the first problems and the total.
    pub fn into_result(self, file: &str, consequence: &str) -> Result<()> {
        if self.count == 0 {
            return Ok(());
        }
        let more = if self.count > self.listed.len() {
            format!(" (and {} more)", self.count - self.listed.len())
        } else {
            String::new()
        };
        let noun = if self.count == 1 {
            "problem"
        } else {
            "problems"
        };
        Err(Error::invalid(format!(
            "{file}: {}{more} — {} {noun}; {consequence}",
            self.listed.join("; "),
            self.count
        )))
    }
}

/// Checks bars read back from the store: valid values and strictly increasing times. `first_row` is the
/// 0-based file row of the first bar, so messages name the row in the file (1-based).
pub fn check_stored(c: &Candles, file: &str, first_row: usize) -> Result<()> {
    let mut problems = Problems::default();
    let at = |i: usize| format!("row {} ({})", first_row + i + 1, format_ts(c.ts[i]));
    for i in 0..c.len() {
        if let Some(p) = bar_problem(&c.bar(i)) {
            problems.add(at(i), p);
        }
        if i > 0 && c.ts[i] <= c.ts[i - 1] {
            problems.add(
                at(i),
                format!(
                    "time is not after the previous row's {}",
                    format_ts(c.ts[i - 1])
                ),
            );
        }
    }
    problems.into_result(file, "re-import the file to repair it")
}

/// What [`normalize`] did to otherwise valid input.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct NormalizeReport {
    /// Rows that came before an earlier row's time and were sorted into place.
    pub out_of_order: usize,
    /// Rows that repeated an earlier row exactly and were dropped.
    pub duplicates_dropped: usize,
}

/// Validates freshly parsed bars, sorts them by time and drops exact duplicates. `lines[i]` names where
/// bar `i` came from (a CSV line number, or a response row) for the messages. Nothing is returned unless
/// every row is valid; a time that repeats with different values is an error.
pub fn normalize(
    c: &mut Candles,
    lines: &[u64],
    file: &str,
    unit: &str,
) -> Result<NormalizeReport> {
    let mut problems = Problems::default();
    for (i, line) in lines.iter().enumerate().take(c.len()) {
        if let Some(p) = bar_problem(&c.bar(i)) {
            problems.add(format!("{unit} {line}"), p);
        }
    }
    problems.into_result(file, "nothing was written")?;

    let mut order: Vec<usize> = (0..c.len()).collect();
    let out_of_order = c.ts.windows(2).filter(|w| w[1] < w[0]).count();
    if out_of_order > 0 {
        order.sort_by_key(|&i| c.ts[i]); // stable: equal times keep file order
    }
    let mut out = Candles::with_capacity(c.len());
    let mut last: Option<usize> = None;
    let mut duplicates_dropped = 0;
    let mut problems = Problems::default();
    for &i in &order {
        if let Some(prev) = last
            && c.ts[prev] == c.ts[i]
        {
            if c.bar(prev).same_bits(&c.bar(i)) {
                duplicates_dropped += 1;
            } else {
                problems.add(
                    format!("{unit} {}", lines[i]),
                    format!(
                        "time {} repeats {unit} {} with different values",
                        format_ts(c.ts[i]),
                        lines[prev]
                    ),
                );
            }
            continue;
        }
        out.push(c.bar(i));
        last = Some(i);
    }
    problems.into_result(file, "nothing was written")?;
    *c = out;
    Ok(NormalizeReport {
        out_of_order,
        duplicates_dropped,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bar(ts: i64, o: f64, h: f64, l: f64, c: f64, v: f64) -> Bar {
        Bar {
            ts,
            open: o,
            high: h,
            low: l,
            close: c,
            volume: v,
        }
    }

    #[test]
    fn each_problem_has_its_own_message() {
        assert_eq!(bar_problem(&bar(0, 1.0, 2.0, 0.5, 1.5, 10.0)), None);
        assert_eq!(
            bar_problem(&bar(0, f64::NAN, 2.0, 0.5, 1.5, 1.0)).unwrap(),
            "open is NaN"
        );
        assert_eq!(
            bar_problem(&bar(0, 1.0, f64::INFINITY, 0.5, 1.5, 1.0)).unwrap(),
            "high is inf"
        );
        assert_eq!(
            bar_problem(&bar(0, 1.0, 1.2, 0.5, 1.5, 1.0)).unwrap(),
            "high 1.2 < close 1.5"
        );
        assert_eq!(
            bar_problem(&bar(0, 1.0, 2.0, 1.1, 1.5, 1.0)).unwrap(),
            "low 1.1 > open 1"
        );
        assert_eq!(
            bar_problem(&bar(0, 1.0, 2.0, 0.5, 1.5, -3.0)).unwrap(),
            "volume -3 is negative"
        );
    }

    #[test]
    fn normalize_sorts_drops_exact_repeats_and_rejects_conflicts() {
        let mut c = Candles::from_bars(&[
            bar(2, 1.0, 1.0, 1.0, 1.0, 0.0),
            bar(1, 1.0, 1.0, 1.0, 1.0, 0.0),
            bar(2, 1.0, 1.0, 1.0, 1.0, 0.0),
        ]);
        let r = normalize(&mut c, &[2, 3, 4], "x.csv", "line").unwrap();
        assert_eq!(
            r,
            NormalizeReport {
                out_of_order: 1,
                duplicates_dropped: 1
            }
        );
        assert_eq!(c.ts, vec![1, 2]);

        let mut c = Candles::from_bars(&[
            bar(1, 1.0, 1.0, 1.0, 1.0, 0.0),
            bar(1, 1.0, 1.0, 1.0, 1.0, 5.0),
        ]);
        let err = normalize(&mut c, &[2, 3], "x.csv", "line")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("x.csv: line 3: time 1970-01-01T00:00:00.001Z repeats line 2"),
            "{err}"
        );
    }

    #[test]
    fn several_problems_are_listed_with_a_total() {
        let bars: Vec<Bar> = (0..8).map(|i| bar(i, 1.0, 0.5, 0.4, 1.0, 0.0)).collect();
        let mut c = Candles::from_bars(&bars);
        let lines: Vec<u64> = (2..10).collect();
        let err = normalize(&mut c, &lines, "f.csv", "line")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("f.csv: line 2: high 0.5 < open 1; line 3:"),
            "{err}"
        );
        assert!(
            err.contains("(and 3 more) — 8 problems; nothing was written"),
            "{err}"
        );
    }
}
