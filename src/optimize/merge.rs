//! `optimize merge`: the playbooks of all N shards of one search become the playbook one run would have
//! written.

use super::objective::rank_cmp;
use super::shard::Shard;
use crate::error::{Error, Result};
use crate::playbook::{Header, Optimization, Playbook, TopEntry};

/// Combines the playbooks of all N shards of one search into the playbook one run would have
/// written: the union of their top lists re-ranked (objective, then candidate index), the best's
/// metrics, and summed counts. Every part must come from the same search (same strategy, market,
/// backtest settings, method, objective, space, seed) and each shard 1..N must appear once.
pub fn merge(parts: &[Playbook], name: &str, created_at: &str) -> Result<Playbook> {
    let first = parts
        .first()
        .ok_or_else(|| Error::usage("optimize merge: give the shard playbooks to merge"))?;
    let o0 = optimization_of(first)?;
    let n = shard_of(&first.playbook.name, &o0)?.1;
    // A set, not a vector of n flags: n comes from a file and may be absurd.
    let mut seen = std::collections::BTreeSet::new();
    let mut sum = Totals::default();
    for p in parts {
        let o = optimization_of(p)?;
        let k = check_same_search(p, &o, first, &o0, n)?;
        if !seen.insert(k) {
            return Err(Error::invalid(format!(
                "optimize merge: shard {k}/{n} is given twice"
            )));
        }
        sum.add(p, &o);
    }
    if seen.len() as u64 != n {
        return Err(missing_shards(&seen, n));
    }
    let best = sum.best.ok_or_else(|| {
        Error::invalid("optimize merge: no shard ranked any candidate; nothing to merge")
    })?;
    let mut top = sum.top;
    top.sort_by(|a, b| rank_cmp((a.objective, a.candidate), (b.objective, b.candidate)));
    top.truncate(o0.top_k as usize);
    for (i, t) in top.iter_mut().enumerate() {
        t.rank = i as u64 + 1;
    }
    let island = matches!(o0.method.as_str(), "genetic" | "pso" | "explore" | "tpe");
    Ok(Playbook {
        playbook: Header {
            name: name.to_string(),
            status: best.playbook.status.clone(),
            created_at: created_at.to_string(),
            flowrex_version: env!("CARGO_PKG_VERSION").to_string(),
            notes: island.then(|| format!("best of {n} independent {} islands", o0.method)),
        },
        strategy: best.strategy.clone(),
        market: crate::playbook::Market {
            fingerprint: parts
                .iter()
                .all(|p| p.market.fingerprint == first.market.fingerprint)
                .then(|| first.market.fingerprint.clone())
                .flatten(),
            ..first.market.clone()
        },
        backtest: first.backtest.clone(),
        optimization: Some(Optimization {
            shard: None,
            merged_shards: Some(n),
            results: None,
            evaluated: sum.evaluated,
            ranked: sum.ranked,
            elapsed_s: (sum.elapsed * 1000.0).round() / 1000.0,
            status: if sum.interrupted {
                "interrupted"
            } else {
                "complete"
            }
            .to_string(),
            history: None,
            ..o0
        }),
        metrics: best.metrics.clone(),
        top,
        // Shard runs have no [validation] (its statistics need every candidate of the search).
        validation: None,
        walk_forward: None,
    })
}

/// A part's `[optimization]`, which only optimize outputs have.
fn optimization_of(p: &Playbook) -> Result<Optimization> {
    p.optimization.clone().ok_or_else(|| {
        Error::invalid(format!(
            "playbook `{}` has no [optimization]: only optimize outputs can be merged",
            p.playbook.name
        ))
    })
}

/// Part `p` (optimization `o`) against the first part: same shard count `n`, strategy, market,
/// backtest and search; its shard number.
fn check_same_search(
    p: &Playbook,
    o: &Optimization,
    first: &Playbook,
    o0: &Optimization,
    n: u64,
) -> Result<u64> {
    let (k, pn) = shard_of(&p.playbook.name, o)?;
    let differs = |what: &str| {
        Error::invalid(format!(
            "optimize merge: `{}` differs from `{}` in [{what}]; merge only shards of one search",
            p.playbook.name, first.playbook.name
        ))
    };
    // What a shard's run adds to the search's settings.
    let strip = |o: &Optimization| Optimization {
        shard: None,
        results: None,
        evaluated: 0,
        ranked: 0,
        elapsed_s: 0.0,
        status: String::new(),
        history: None,
        ..o.clone()
    };
    if pn != n {
        return Err(differs("optimization] shard count"));
    }
    if p.strategy.name != first.strategy.name {
        return Err(differs("strategy"));
    }
    // The fingerprint only says where data changed; a shard of a flowrex without one is the same
    // market (the merge keeps a fingerprint only when every shard has the same).
    let bars = |m: &crate::playbook::Market| crate::playbook::Market {
        fingerprint: None,
        ..m.clone()
    };
    if bars(&p.market) != bars(&first.market) {
        return Err(differs("market"));
    }
    if p.backtest != first.backtest {
        return Err(differs("backtest"));
    }
    if strip(o) != strip(o0) {
        return Err(differs("optimization"));
    }
    Ok(k)
}

/// What the parts add up to: counts, the union of their top lists, the part with the best candidate.
#[derive(Default)]
struct Totals<'a> {
    evaluated: u64,
    ranked: u64,
    elapsed: f64,
    interrupted: bool,
    best: Option<&'a Playbook>,
    top: Vec<TopEntry>,
}

impl<'a> Totals<'a> {
    fn add(&mut self, p: &'a Playbook, o: &Optimization) {
        self.evaluated += o.evaluated;
        self.ranked += o.ranked;
        self.elapsed += o.elapsed_s;
        self.interrupted |= o.status != "complete";
        if let Some(t) = p.top.first() {
            let better = match self.best.and_then(|b| b.top.first()) {
                None => true,
                Some(bt) => {
                    rank_cmp((t.objective, t.candidate), (bt.objective, bt.candidate)).is_lt()
                }
            };
            if better {
                self.best = Some(p);
            }
        }
        for t in &p.top {
            if !self.top.iter().any(|x| x.candidate == t.candidate) {
                self.top.push(t.clone());
            }
        }
    }
}

/// The error naming the first few shards of 1..=n not in `seen`.
fn missing_shards(seen: &std::collections::BTreeSet<u64>, n: u64) -> Error {
    let missing: Vec<String> = (1..=n)
        .filter(|k| !seen.contains(k))
        .take(8)
        .map(|k| format!("{k}/{n}"))
        .collect();
    let more = n - seen.len() as u64 - missing.len() as u64;
    Error::invalid(format!(
        "optimize merge: shard{} {}{} {} missing; give all {n} shard playbooks (re-run only the missing shards)",
        if missing.len() > 1 { "s" } else { "" },
        missing.join(", "),
        if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        },
        if missing.len() > 1 { "are" } else { "is" },
    ))
}

fn shard_of(name: &str, o: &Optimization) -> Result<(u64, u64)> {
    let s = o.shard.as_deref().ok_or_else(|| {
        Error::invalid(format!(
            "playbook `{name}` is not a shard output (no [optimization] shard); run optimize with --shard K/N"
        ))
    })?;
    let shard = Shard::parse(s)
        .map_err(|_| Error::invalid(format!("playbook `{name}`: bad shard `{s}`")))?;
    Ok((shard.k, shard.n))
}
