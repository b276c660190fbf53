//! Where bars changed since a playbook was written: `[market.fingerprint]` (and `[walk_forward.fingerprint]`)
//! keep short digests of blocks of bars and of each column, so `--check` on changed data can name the
//! first changed block (one bar when the data has at most [`MAX_BLOCKS`] bars) and the changed columns.
//!
//! A whole-data sha256 only says *that* the bars differ; the old bars are gone, so *where* needs
//! something kept from them. One digest per bar would make a playbook as large as its data; one per
//! block of `block_bars` bars (at most [`MAX_BLOCKS`] blocks, 8 hex digits each: about 2 KB) narrows
//! the first change to a block — GOOG's 2148 daily bars to 9 bars, two weeks. 32 bits per block is
//! plenty to notice a change (a miss has a chance of 1 in 4 billion, and the whole-data sha256 has
//! already said that something changed).

use serde::{Deserialize, Serialize};

use crate::candles::Candles;
use crate::candles::time::format_ts;

/// The most blocks a fingerprint keeps.
pub const MAX_BLOCKS: usize = 256;

/// Hex digits kept of each digest.
const DIGITS: usize = 8;

/// The columns, in the order of [`Fingerprint::columns`].
const COLUMNS: [&str; 6] = ["ts", "open", "high", "low", "close", "volume"];

/// Short digests of blocks of bars and of each column.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fingerprint {
    /// Bars per block (the last block may hold fewer).
    pub block_bars: u64,
    /// 8 hex digits of each block's digest (its column folds, see `column_folds`), concatenated.
    pub blocks: String,
    /// 8 hex digits of each column's digest over every bar (ts, open, high, low, close, volume),
    /// concatenated.
    pub columns: String,
}

/// Where the bars first differ from the fingerprinted ones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirstChange {
    /// The bar indexes (now) of the first block that differs, half-open; empty when the bars now
    /// end before it (bars were removed at the end).
    pub bars: std::ops::Range<usize>,
    /// Time of the first and last bar of that block now (None when it is empty).
    pub times: Option<(i64, i64)>,
    /// The columns whose digest differs, in `COLUMNS` order.
    pub columns: Vec<&'static str>,
}

impl Fingerprint {
    /// The fingerprint of `candles`.
    pub fn of(candles: &Candles) -> Fingerprint {
        let block_bars = candles.len().div_ceil(MAX_BLOCKS).max(1);
        let folds = block_folds(candles, block_bars);
        Fingerprint {
            block_bars: block_bars as u64,
            blocks: block_digests(&folds).concat(),
            columns: column_digests(&folds).concat(),
        }
    }

    /// Where `now` first differs from the fingerprinted bars; None when every block and column
    /// digest matches (or the fingerprint is malformed: a hand-made one tells nothing).
    pub fn first_change(&self, now: &Candles) -> Option<FirstChange> {
        let b = usize::try_from(self.block_bars).ok().filter(|&b| b > 0)?;
        if !self.blocks.len().is_multiple_of(DIGITS) || self.columns.len() != DIGITS * COLUMNS.len()
        {
            return None;
        }
        let stored: Vec<&str> = chunks(&self.blocks);
        let folds = block_folds(now, b);
        let fresh = block_digests(&folds);
        let k = (0..stored.len().max(fresh.len()))
            .find(|&k| stored.get(k).copied() != fresh.get(k).map(String::as_str))?;
        let bars = (k * b).min(now.len())..((k + 1) * b).min(now.len());
        let times = (!bars.is_empty()).then(|| (now.ts[bars.start], now.ts[bars.end - 1]));
        let fresh_cols = column_digests(&folds);
        let columns = chunks(&self.columns)
            .into_iter()
            .zip(&fresh_cols)
            .zip(COLUMNS)
            .filter(|((a, b), _)| a != b)
            .map(|(_, name)| name)
            .collect();
        Some(FirstChange {
            bars,
            times,
            columns,
        })
    }
}

impl FirstChange {
    /// `the first change is bar 10 (2004-09-02)` or `… lies in bars 640 to 648 (2007-03-05 to
    /// 2007-03-15)`, then the changed columns (`ts` meaning bars were added, removed or moved).
    pub fn describe(&self) -> String {
        let place = match (self.times, self.bars.len()) {
            (Some((t, _)), 1) => format!(
                "the first change is bar {} ({})",
                self.bars.start,
                format_ts(t)
            ),
            (Some((a, z)), _) => format!(
                "the first change lies in bars {} to {} ({} to {})",
                self.bars.start,
                self.bars.end - 1,
                format_ts(a),
                format_ts(z)
            ),
            (None, _) => format!(
                "the first change is past the last bar now (bar {}): bars were removed at the end",
                self.bars.start
            ),
        };
        let columns = match self.columns.as_slice() {
            [] => String::new(),
            [one] if *one != "ts" => format!(", in {one}"),
            cols if cols.contains(&"ts") => {
                format!(
                    ", bars added, removed or moved (changed: {})",
                    cols.join(", ")
                )
            }
            cols => format!(", in {}", cols.join(", ")),
        };
        format!("{place}{columns}")
    }
}

fn chunks(s: &str) -> Vec<&str> {
    (0..s.len() / DIGITS)
        .map(|i| &s[i * DIGITS..(i + 1) * DIGITS])
        .collect()
}

/// FNV-1a's 64-bit prime: the digests fold 64-bit words with `h = (h ^ word) · PRIME`.
const PRIME: u64 = 0x0000_0100_0000_01b3;
/// FNV-1a's 64-bit offset basis: the digest of nothing.
const BASIS: u64 = 0xcbf2_9ce4_8422_2325;

/// Folds one word into a digest. Each step is a bijection of the digest for a given word, so two
/// sequences that differ in exactly one word always fold to different digests.
#[inline(always)]
fn fold(h: u64, word: u64) -> u64 {
    (h ^ word).wrapping_mul(PRIME)
}

/// The first [`DIGITS`] hex digits of a digest: its top bits, the ones every input bit reaches.
fn short(h: u64) -> String {
    format!("{:08x}", h >> 32)
}

/// The digest of each column over bars `range`, in [`COLUMNS`] order: six independent folds in one
/// pass (about 1 ns per bar). Not a cryptographic hash — the data's sha256 decides *whether* the bars
/// changed; these only say *where*, and one sha256 per block and per column cost ≈ 70 ms on
/// 1,000,000 bars, after the search, on one core.
fn column_folds(c: &Candles, range: std::ops::Range<usize>) -> [u64; 6] {
    let mut h = [BASIS; 6];
    for i in range {
        h[0] = fold(h[0], c.ts[i] as u64);
        h[1] = fold(h[1], c.open[i].to_bits());
        h[2] = fold(h[2], c.high[i].to_bits());
        h[3] = fold(h[3], c.low[i].to_bits());
        h[4] = fold(h[4], c.close[i].to_bits());
        h[5] = fold(h[5], c.volume[i].to_bits());
    }
    h
}

/// The six column folds of every block of `block_bars` bars, blocks computed in parallel.
fn block_folds(c: &Candles, block_bars: usize) -> Vec<[u64; 6]> {
    use rayon::prelude::*;
    let starts: Vec<usize> = (0..c.len()).step_by(block_bars).collect();
    starts
        .par_iter()
        .map(|&start| column_folds(c, start..(start + block_bars).min(c.len())))
        .collect()
}

/// One digest per block: the block's six column folds folded in order.
fn block_digests(folds: &[[u64; 6]]) -> Vec<String> {
    folds
        .iter()
        .map(|f| short(f.iter().fold(BASIS, |h, &w| fold(h, w))))
        .collect()
}

/// One digest per column over every bar, in [`COLUMNS`] order: the column's block folds folded in
/// block order.
fn column_digests(folds: &[[u64; 6]]) -> Vec<String> {
    (0..COLUMNS.len())
        .map(|k| short(folds.iter().fold(BASIS, |h, f| fold(h, f[k]))))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::candles::Bar;

    fn bars(n: usize) -> Candles {
        Candles::from_bars(
            &(0..n)
                .map(|i| Bar {
                    ts: 1_000 * i as i64,
                    open: i as f64,
                    high: i as f64 + 2.0,
                    low: i as f64 - 1.0,
                    close: i as f64 + 1.0,
                    volume: 1.0,
                })
                .collect::<Vec<_>>(),
        )
    }

    #[test]
    fn names_the_first_changed_block_and_column() {
        let c = bars(1000);
        let fp = Fingerprint::of(&c);
        assert_eq!(fp.block_bars, 4); // ceil(1000 / 256)
        assert_eq!(fp.blocks.len(), 250 * DIGITS);
        assert_eq!(fp.first_change(&c), None);
        let mut d = c.clone();
        d.close[421] += 0.5;
        d.close[900] += 0.5;
        let fc = fp.first_change(&d).unwrap();
        assert_eq!(fc.bars, 420..424);
        assert_eq!(fc.times, Some((420_000, 423_000)));
        assert_eq!(fc.columns, ["close"]);
        // Small data: one bar per block, so the bar itself.
        let small = bars(10);
        let fp = Fingerprint::of(&small);
        let mut d = small.clone();
        d.volume[3] = 2.0;
        let fc = fp.first_change(&d).unwrap();
        assert_eq!((fc.bars, fc.columns), (3..4, vec!["volume"]));
        // Bars removed at the end: past the last bar now, `ts` changed.
        let fc = fp.first_change(&small.slice(0..8)).unwrap();
        assert_eq!((fc.bars.start, fc.times), (8, None));
        assert!(
            fc.describe().contains("removed at the end"),
            "{}",
            fc.describe()
        );
    }
}
