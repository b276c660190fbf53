//! Shards: `--shard K/N` splits a search across N processes or machines. Grid and random searches give
//! shard K every N-th candidate of the run's deterministic order (ordinals K−1, K−1+N, …), so the N
//! shards together evaluate exactly what one run would. Genetic and particle-swarm searches run one
//! independent *island* per shard, seeded from the base seed and K.

use crate::error::{Error, Result};

/// Shard `k` of `n` (1 ≤ k ≤ n).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// This shard, 1-based.
    pub k: u64,
    /// Number of shards.
    pub n: u64,
}

impl Shard {
    /// The whole search as one shard.
    pub const ALL: Shard = Shard { k: 1, n: 1 };

    /// Parses `K/N`.
    pub fn parse(text: &str) -> Result<Shard> {
        let t = text.trim();
        let bad = || {
            Error::usage(format!(
                "--shard {t}: expected K/N with 1 <= K <= N, e.g. --shard 2/8"
            ))
        };
        let (k, n) = t.split_once('/').ok_or_else(bad)?;
        let k: u64 = k.trim().parse().map_err(|_| bad())?;
        let n: u64 = n.trim().parse().map_err(|_| bad())?;
        if k == 0 || n == 0 || k > n {
            return Err(bad());
        }
        Ok(Shard { k, n })
    }

    /// True when the run's `ordinal`-th candidate (0-based) belongs to this shard.
    pub fn owns(&self, ordinal: u64) -> bool {
        ordinal % self.n == self.k - 1
    }

    /// True for the whole search (`1/1`).
    pub fn is_all(&self) -> bool {
        self.n == 1
    }

    /// The seed of this shard's island: the base seed itself for `1/1`, else a SplitMix64 mix of both.
    pub fn island_seed(&self, seed: u64) -> u64 {
        if self.is_all() {
            return seed;
        }
        let mut z = seed ^ self.k.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.k, self.n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_ownership() {
        let s = Shard::parse("2/3").unwrap();
        assert_eq!((s.k, s.n), (2, 3));
        assert!(s.owns(1) && s.owns(4) && !s.owns(0) && !s.owns(2));
        for bad in ["0/2", "3/2", "1", "a/b", "1/0"] {
            assert!(
                Shard::parse(bad).unwrap_err().to_string().contains("K/N"),
                "{bad}"
            );
        }
        assert_eq!(Shard::ALL.island_seed(7), 7);
        assert_ne!(
            s.island_seed(7),
            Shard::parse("1/3").unwrap().island_seed(7)
        );
    }
}
