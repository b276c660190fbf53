//! Parameter spaces: one axis per strategy parameter (an integer or float range with a step, a list, or
//! a single fixed value), constraints between parameters, and a lazily enumerated grid.
//!
//! A candidate is identified by its **index** in the full grid: a mixed-radix number whose digits are
//! the positions on each axis, the first declared parameter most significant (nested loops in
//! declaration order, the last parameter varying fastest). Grid enumeration, random sampling without
//! replacement, genetic genomes and shards all work on indices; the grid itself is never materialized.
//!
//! How many candidates are feasible ([`Space::feasibility`]) is counted one by one only in a grid of at
//! most [`COUNT_LIMIT`] candidates; a bigger one is estimated from [`ESTIMATE_DRAWS`] seeded uniform
//! draws, so no search waits for a pass over the grid before its first backtest (a pass over 10^10
//! candidates took ~70 minutes).

use std::sync::OnceLock;

use rand::prelude::*;

use crate::error::{Error, Result};

/// The largest grid whose feasible candidates are counted one by one: 2^20 checks take ~0.4 s on one
/// thread (0.42 µs each, the measurement for sma_cross), so a bigger grid is sampled instead.
pub const COUNT_LIMIT: u64 = 1 << 20;

/// Uniform draws behind an estimated count. At a feasible share p the estimate's relative standard
/// error is sqrt((1 − p)/(p·2^16)): 0.4% at p = 1/2. No hit in 2^16 draws reads as an empty space
/// (a share below ~1 in 21,800, three over the draws, at 95% confidence).
pub const ESTIMATE_DRAWS: u64 = 1 << 16;

/// The estimate's own seed: the same space gives the same estimate in every run and shard.
const ESTIMATE_SEED: u64 = 0x000f_ea5b_1e5e_ed01;

/// How many candidates of a space are feasible.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feasible {
    /// Counted one by one (grids of at most [`COUNT_LIMIT`] candidates).
    Exact(u64),
    /// Estimated: `hits` of [`ESTIMATE_DRAWS`] uniform draws were feasible, scaled to the grid.
    Estimate {
        /// The estimated count (0 only when no draw was feasible).
        count: u64,
        /// Feasible draws.
        hits: u64,
    },
}

impl Feasible {
    /// The count, exact or estimated.
    pub fn count(self) -> u64 {
        match self {
            Feasible::Exact(n) | Feasible::Estimate { count: n, .. } => n,
        }
    }

    /// The count when it is exact.
    pub fn exact(self) -> Option<u64> {
        match self {
            Feasible::Exact(n) => Some(n),
            Feasible::Estimate { .. } => None,
        }
    }

    /// True when the count is an estimate.
    pub fn is_estimate(self) -> bool {
        matches!(self, Feasible::Estimate { .. })
    }
}
use crate::strategy::{ParamKind, ParamSpec, ParamValue, Params, Strategy};

/// The values one parameter takes in a search.
#[derive(Debug, Clone, PartialEq)]
pub enum Axis {
    /// `start, start + step, …` (`count` values).
    Int {
        /// First value.
        start: i64,
        /// Distance between values (> 0).
        step: i64,
        /// Number of values.
        count: u64,
    },
    /// `start + k·step` rounded to `decimals` decimal places, `k < count`.
    Float {
        /// First value.
        start: f64,
        /// Distance between values (> 0).
        step: f64,
        /// Number of values.
        count: u64,
        /// Decimal places of the written range; values are rounded to them so `0.1` steps stay exact.
        decimals: usize,
    },
    /// An explicit list of values (also a single fixed value).
    List(Vec<ParamValue>),
}

impl Axis {
    /// Number of values on the axis (≥ 1).
    pub fn len(&self) -> u64 {
        match self {
            Axis::Int { count, .. } | Axis::Float { count, .. } => *count,
            Axis::List(v) => v.len() as u64,
        }
    }

    /// Always false: an axis holds at least one value.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The `k`-th value (`k < len()`).
    pub fn value(&self, k: u64) -> ParamValue {
        match self {
            Axis::Int { start, step, .. } => ParamValue::Int(start + step * k as i64),
            Axis::Float {
                start,
                step,
                decimals,
                ..
            } => ParamValue::Float(round_to(start + step * k as f64, *decimals)),
            Axis::List(v) => v[k as usize],
        }
    }
}

fn round_to(x: f64, decimals: usize) -> f64 {
    format!("{x:.decimals$}").parse().unwrap_or(x)
}

fn decimals_of(text: &str) -> usize {
    let t = text.trim();
    if t.contains(['e', 'E']) {
        return 12;
    }
    t.split_once('.').map_or(0, |(_, f)| f.len())
}

/// One searched (or fixed) parameter.
#[derive(Debug, Clone, PartialEq)]
pub struct Dim {
    /// The strategy's declaration of the parameter.
    pub spec: ParamSpec,
    /// The values, as written (`5..50:5`, `a,b,c`, `10`); for an unmentioned parameter, its default.
    pub text: String,
    /// The values.
    pub axis: Axis,
}

/// A comparison operator in a constraint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `==`
    Eq,
    /// `!=`
    Ne,
}

impl Op {
    fn holds(self, a: f64, b: f64) -> bool {
        match self {
            Op::Lt => a < b,
            Op::Le => a <= b,
            Op::Gt => a > b,
            Op::Ge => a >= b,
            Op::Eq => a == b,
            Op::Ne => a != b,
        }
    }
}

/// One side of a constraint: a parameter (by axis position) or a number.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Operand {
    /// The value of the parameter on this axis.
    Param(usize),
    /// A constant.
    Number(f64),
}

/// A relation every candidate must satisfy, such as `fast < slow` or `fast >= 10`.
#[derive(Debug, Clone, PartialEq)]
pub struct Constraint {
    /// As written.
    pub text: String,
    /// Left side.
    pub lhs: Operand,
    /// Comparison.
    pub op: Op,
    /// Right side.
    pub rhs: Operand,
}

impl Constraint {
    /// Parses `a OP b` with OP one of `< <= > >= == !=`, each side a numeric parameter of `dims` or a
    /// number.
    pub fn parse(text: &str, dims: &[Dim]) -> Result<Constraint> {
        let t = text.trim();
        let bad = |why: String| Error::usage(format!("--constraint `{t}`: {why}"));
        let ops = [
            ("<=", Op::Le),
            (">=", Op::Ge),
            ("==", Op::Eq),
            ("!=", Op::Ne),
            ("<", Op::Lt),
            (">", Op::Gt),
        ];
        let Some((pos, sym, op)) = ops
            .iter()
            .filter_map(|(s, op)| t.find(s).map(|p| (p, *s, *op)))
            .min_by_key(|(p, s, _)| (*p, std::cmp::Reverse(s.len())))
        else {
            return Err(bad(
                "expected `a OP b` with OP one of < <= > >= == !=, e.g. \"fast < slow\"".into(),
            ));
        };
        let (l, r) = (t[..pos].trim(), t[pos + sym.len()..].trim());
        let operand = |s: &str| -> Result<Operand> {
            if s.is_empty() {
                return Err(bad("a side is empty".into()));
            }
            if let Ok(v) = s.parse::<f64>() {
                return Ok(Operand::Number(v));
            }
            let Some(i) = dims.iter().position(|d| d.spec.name == s) else {
                let names: Vec<&str> = dims.iter().map(|d| d.spec.name).collect();
                return Err(bad(format!(
                    "unknown parameter `{s}`; this strategy takes: {}",
                    names.join(", ")
                )));
            };
            if matches!(
                dims[i].spec.kind,
                ParamKind::Choice { .. } | ParamKind::Path
            ) {
                return Err(bad(format!(
                    "`{s}` is not a number; constraints compare numbers"
                )));
            }
            Ok(Operand::Param(i))
        };
        Ok(Constraint {
            text: t.to_string(),
            lhs: operand(l)?,
            op,
            rhs: operand(r)?,
        })
    }

    fn holds(&self, values: &[ParamValue]) -> bool {
        let get = |o: Operand| match o {
            Operand::Number(v) => v,
            Operand::Param(i) => match values[i] {
                ParamValue::Int(v) => v as f64,
                ParamValue::Float(v) => v,
                ParamValue::Choice(_) | ParamValue::Path(_) => f64::NAN,
            },
        };
        self.op.holds(get(self.lhs), get(self.rhs))
    }
}

/// The search space of one strategy: an axis per declared parameter plus constraints.
#[derive(Clone)]
pub struct Space {
    strategy: &'static dyn Strategy,
    dims: Vec<Dim>,
    constraints: Vec<Constraint>,
    size: u64,
    feasible: OnceLock<Feasible>,
}

impl std::fmt::Debug for Space {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Space")
            .field("strategy", &self.strategy.name())
            .field("dims", &self.dims)
            .field("constraints", &self.constraints)
            .finish()
    }
}

impl Space {
    /// Builds the space of `strategy` from `name=values` pairs (`fast=5..50:5`, `x=0.5..2.0:0.25`,
    /// `mode=a,b,c`, `n=10`) and constraint texts. Parameters not mentioned stay at their defaults;
    /// with no pairs at all every parameter takes its declared search range. Every value is checked
    /// against the parameter's valid range. Errors are usage errors naming the parameter.
    pub fn new(
        strategy: &'static dyn Strategy,
        params: &[(String, String)],
        constraints: &[String],
    ) -> Result<Space> {
        let specs = strategy.params();
        for (name, _) in params {
            if !specs.iter().any(|s| s.name == name.as_str()) {
                let known: Vec<String> = specs
                    .iter()
                    .map(|s| format!("{} ({})", s.name, s.search_range()))
                    .collect();
                return Err(Error::usage(format!(
                    "--param {name}: unknown parameter `{name}`; {} takes: {}",
                    strategy.name(),
                    if known.is_empty() {
                        "no parameters".to_string()
                    } else {
                        known.join(", ")
                    }
                )));
            }
            if params.iter().filter(|(n, _)| n == name).count() > 1 {
                return Err(Error::usage(format!(
                    "--param {name}: given more than once; give each parameter one range"
                )));
            }
        }
        let mut dims = Vec::with_capacity(specs.len());
        for spec in specs {
            let text = match params.iter().find(|(n, _)| n == spec.name) {
                Some((_, t)) => t.trim().to_string(),
                None if params.is_empty() => spec.search_range().replace("..=", ".."),
                None => spec.default_value().to_string(),
            };
            let text = match spec.kind {
                ParamKind::Choice { .. } => text.replace('|', ","),
                _ => text,
            };
            let axis = parse_axis(spec, &text)?;
            dims.push(Dim {
                spec: *spec,
                text,
                axis,
            });
        }
        let constraints = constraints
            .iter()
            .map(|c| Constraint::parse(c, &dims))
            .collect::<Result<Vec<_>>>()?;
        let mut size: u64 = 1;
        for d in &dims {
            size = size.checked_mul(d.axis.len()).ok_or_else(|| {
                Error::usage("the parameter space has more than 2^64 candidates; narrow the ranges")
            })?;
        }
        Ok(Space {
            strategy,
            dims,
            constraints,
            size,
            feasible: OnceLock::new(),
        })
    }

    /// The strategy this space belongs to.
    pub fn strategy(&self) -> &'static dyn Strategy {
        self.strategy
    }

    /// The axes, in the strategy's declaration order.
    pub fn dims(&self) -> &[Dim] {
        &self.dims
    }

    /// The constraints.
    pub fn constraints(&self) -> &[Constraint] {
        &self.constraints
    }

    /// Candidates in the full grid, feasible or not (the product of the axis lengths).
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The position on each axis of candidate `index`.
    pub fn coords(&self, index: u64) -> Vec<u64> {
        let mut c = vec![0; self.dims.len()];
        let mut rest = index;
        for (k, d) in self.dims.iter().enumerate().rev() {
            let n = d.axis.len();
            c[k] = rest % n;
            rest /= n;
        }
        c
    }

    /// The index of the candidate at `coords` (each below its axis length).
    pub fn index(&self, coords: &[u64]) -> u64 {
        self.dims
            .iter()
            .zip(coords)
            .fold(0, |acc, (d, &c)| acc * d.axis.len() + c)
    }

    fn values(&self, index: u64) -> Vec<ParamValue> {
        self.coords(index)
            .iter()
            .zip(&self.dims)
            .map(|(&k, d)| d.axis.value(k))
            .collect()
    }

    /// The parameters of candidate `index`, whether or not it is feasible.
    pub fn params(&self, index: u64) -> Params {
        Params::from_values(
            self.dims
                .iter()
                .map(|d| d.spec.name)
                .zip(self.values(index))
                .collect(),
        )
    }

    /// The parameters of candidate `index` when it satisfies every constraint and the strategy's own
    /// check, else `None`.
    pub fn candidate(&self, index: u64) -> Option<Params> {
        let values = self.values(index);
        if !self.constraints.iter().all(|c| c.holds(&values)) {
            return None;
        }
        let params =
            Params::from_values(self.dims.iter().map(|d| d.spec.name).zip(values).collect());
        self.strategy.check(&params).ok()?;
        Some(params)
    }

    /// Every feasible candidate in index order, computed as it is consumed.
    pub fn feasible(&self) -> impl Iterator<Item = (u64, Params)> + Send + '_ {
        (0..self.size).filter_map(move |i| self.candidate(i).map(|p| (i, p)))
    }

    /// How many candidates are feasible (a pass over every index; nothing is stored). Searches ask
    /// [`Space::feasibility`], which never passes over a grid of more than [`COUNT_LIMIT`].
    pub fn count_feasible(&self) -> u64 {
        (0..self.size)
            .filter(|&i| self.candidate(i).is_some())
            .count() as u64
    }

    /// How many candidates are feasible: counted when the grid holds at most [`COUNT_LIMIT`], else
    /// estimated from [`ESTIMATE_DRAWS`] seeded draws. Worked out once per space, then remembered.
    pub fn feasibility(&self) -> Feasible {
        *self.feasible.get_or_init(|| {
            if self.size <= COUNT_LIMIT {
                return Feasible::Exact(self.count_feasible());
            }
            let mut rng = StdRng::seed_from_u64(ESTIMATE_SEED);
            let hits = (0..ESTIMATE_DRAWS)
                .filter(|_| self.candidate(rng.random_range(0..self.size)).is_some())
                .count() as u64;
            let share = hits as f64 / ESTIMATE_DRAWS as f64;
            Feasible::Estimate {
                count: ((self.size as f64 * share).round() as u64).max(hits),
                hits,
            }
        })
    }

    /// `(name, values as written)` of every axis, for provenance.
    pub fn describe(&self) -> Vec<(String, String)> {
        self.dims
            .iter()
            .map(|d| (d.spec.name.to_string(), d.text.clone()))
            .collect()
    }
}

/// The most values one float axis may hold: 2^53, below which `start + k·step` is distinct for every k.
const MAX_AXIS_VALUES: u64 = 1 << 53;

/// Parses one parameter's values: `a..b[:step]`, `v1,v2,…` or a single value.
pub fn parse_axis(spec: &ParamSpec, text: &str) -> Result<Axis> {
    let name = spec.name;
    let t = text.trim();
    if spec.kind == ParamKind::Path {
        // One file, never a range or a list (a path may hold `..` and `,`).
        return match t {
            "" => Err(spec.missing()),
            _ => Ok(Axis::List(vec![spec.parse(t)?])),
        };
    }
    let bad = |why: String| Error::usage(format!("--param {name}={t}: {why}"));
    if t.is_empty() {
        return Err(bad("no values; write e.g. 5..50:5, 1,2,3 or 10".into()));
    }
    if let Some((range, step)) = t
        .split_once("..")
        .map(|(a, rest)| match rest.split_once(':') {
            Some((b, s)) => ((a, b.trim_start_matches('=')), Some(s)),
            None => ((a, rest.trim_start_matches('=')), None),
        })
    {
        let (a, b) = (range.0.trim(), range.1.trim());
        let start = spec.parse(a)?;
        let end = spec.parse(b)?;
        match (start, end) {
            (ParamValue::Int(s), ParamValue::Int(e)) => {
                let step: i64 = match step {
                    None => 1,
                    Some(st) => st
                        .trim()
                        .parse()
                        .map_err(|_| bad(format!("step `{st}` is not a whole number above 0")))?,
                };
                if step <= 0 {
                    return Err(bad(format!("step {step} must be above 0")));
                }
                if e < s {
                    return Err(bad(format!(
                        "empty range: start {s} is above end {e}; write {name}={e}..{s}"
                    )));
                }
                Ok(Axis::Int {
                    start: s,
                    step,
                    count: ((e - s) / step) as u64 + 1,
                })
            }
            (ParamValue::Float(s), ParamValue::Float(e)) => {
                let Some(st) = step else {
                    return Err(bad(format!(
                        "a float range needs a step, e.g. {name}={a}..{b}:0.25"
                    )));
                };
                let stepv: f64 = st
                    .trim()
                    .parse()
                    .ok()
                    .filter(|v: &f64| v.is_finite() && *v > 0.0)
                    .ok_or_else(|| bad(format!("step `{st}` is not a number above 0")))?;
                if e < s {
                    return Err(bad(format!(
                        "empty range: start {s} is above end {e}; write {name}={b}..{a}:{st}"
                    )));
                }
                let decimals = decimals_of(a).max(decimals_of(b)).max(decimals_of(st));
                // Above 2^53 values, k·step no longer tells neighbours apart (and `as u64` saturated,
                // so the count wrapped to 0 candidates). `steps` is finite or +inf, never NaN: e ≥ s
                // and the step is finite and above 0.
                let steps = ((e - s) / stepv + 1e-9).floor();
                if steps >= MAX_AXIS_VALUES as f64 {
                    return Err(bad(format!(
                        "step {st} makes more than {MAX_AXIS_VALUES} values; use a larger step"
                    )));
                }
                let count = steps as u64 + 1;
                Ok(Axis::Float {
                    start: s,
                    step: stepv,
                    count,
                    decimals,
                })
            }
            _ => Err(bad(format!(
                "`{name}` is a choice; list its values instead: {name}=a,b"
            ))),
        }
    } else {
        let mut values = Vec::new();
        for part in t.split(',') {
            let v = spec.parse(part)?;
            if values.contains(&v) {
                return Err(bad(format!("lists {v} twice")));
            }
            values.push(v);
        }
        Ok(Axis::List(values))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::strategy;

    fn sma() -> &'static dyn Strategy {
        strategy::lookup("sma_cross").unwrap()
    }

    fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn grid_is_mixed_radix_last_fastest() {
        let s = Space::new(
            sma(),
            &pairs(&[("fast", "5..50:5"), ("slow", "10..200:10")]),
            &["fast < slow".into()],
        )
        .unwrap();
        assert_eq!(s.size(), 200);
        assert_eq!(s.params(0).to_string(), "fast=5 slow=10");
        assert_eq!(s.params(1).to_string(), "fast=5 slow=20");
        assert_eq!(s.params(20).to_string(), "fast=10 slow=10");
        assert_eq!(s.coords(21), vec![1, 1]);
        assert_eq!(s.index(&[1, 1]), 21);
        // fast < slow: for fast = 5k (k = 1..10), slow = 10j > 5k; counted independently.
        let want: u64 = (1..=10)
            .map(|k| (1..=20).filter(|j| 10 * j > 5 * k).count() as u64)
            .sum();
        assert_eq!(want, 175);
        assert_eq!(s.count_feasible(), want);
        assert!(s.candidate(20).is_none()); // fast=10 slow=10
    }

    #[test]
    fn floats_lists_and_defaults() {
        let spec = ParamSpec {
            name: "x",
            kind: ParamKind::Float {
                default: 1.0,
                min: 0.0,
                max: 10.0,
                search_min: 0.5,
                search_max: 2.0,
                step: 0.25,
            },
            help: "",
        };
        let a = parse_axis(&spec, "0.1..0.7:0.1").unwrap();
        assert_eq!(a.len(), 7);
        assert_eq!(a.value(2), ParamValue::Float(0.3));
        assert_eq!(a.value(6), ParamValue::Float(0.7));
        assert_eq!(parse_axis(&spec, "0.5,1.5").unwrap().len(), 2);
        assert!(
            parse_axis(&spec, "0.5..2")
                .unwrap_err()
                .to_string()
                .contains("needs a step")
        );
        let s = Space::new(sma(), &pairs(&[("fast", "5,10")]), &[]).unwrap();
        assert_eq!(s.dims()[1].text, "20");
        assert_eq!(s.size(), 2);
        // No --param at all: the declared search ranges.
        let s = Space::new(sma(), &[], &[]).unwrap();
        assert_eq!(s.dims()[0].text, "5..50:5");
        assert_eq!(s.size(), 200);
    }

    #[test]
    fn bad_inputs_name_the_problem() {
        let e = |p: &[(&str, &str)], c: &[&str]| {
            Space::new(
                sma(),
                &pairs(p),
                &c.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
            )
            .unwrap_err()
            .to_string()
        };
        assert!(e(&[("fast", "50..5")], &[]).contains("empty range: start 50 is above end 5"));
        assert!(e(&[("fast", "5..50:0")], &[]).contains("step 0 must be above 0"));
        assert!(e(&[("nope", "1..2")], &[]).contains("unknown parameter `nope`"));
        assert!(e(&[("fast", "5..50")], &["fast < nope"]).contains("unknown parameter `nope`"));
        assert!(e(&[("fast", "5..50")], &["fast ~ slow"]).contains("expected `a OP b`"));
        assert!(e(&[("fast", "0..5")], &[]).contains("out of range"));
        assert!(e(&[("fast", "5,5")], &[]).contains("twice"));
    }

    #[test]
    fn a_big_grid_is_estimated_the_same_way_every_time_and_a_small_one_counted() {
        let small = Space::new(
            sma(),
            &pairs(&[("fast", "5..50:5"), ("slow", "10..200:10")]),
            &["fast < slow".into()],
        )
        .unwrap();
        // 175 worked out by hand in `grid_is_mixed_radix_last_fastest`.
        assert_eq!(small.feasibility(), Feasible::Exact(175));
        let big = || {
            Space::new(
                sma(),
                &pairs(&[("fast", "1..100000"), ("slow", "2..100000")]),
                &["fast < slow".into()],
            )
            .unwrap()
        };
        let f = big().feasibility();
        assert!(f.is_estimate() && f.exact().is_none());
        assert_eq!(
            f,
            big().feasibility(),
            "seeded: the same estimate each time"
        );
        // Σ_{f=1}^{99999} (100000 − f) = 99999·50000 feasible of 100000·99999: exactly half. The
        // estimate's relative standard error at p = 1/2 is sqrt((1 − p)/(p·2^16)) = 1/256 ≈ 0.39%;
        // allow five of them.
        let truth = 99_999.0 * 50_000.0;
        assert!((f.count() as f64 / truth - 1.0).abs() < 0.02, "{f:?}");
        // No draw feasible: an estimated empty space.
        let none = Space::new(
            sma(),
            &pairs(&[("fast", "1..100000"), ("slow", "2..100000")]),
            &["fast > 100000".into()],
        )
        .unwrap();
        assert_eq!(none.feasibility(), Feasible::Estimate { count: 0, hits: 0 });
    }

    #[test]
    fn a_float_step_too_small_to_count_is_refused() {
        let spec = *strategy::lookup("nbb")
            .unwrap()
            .params()
            .iter()
            .find(|p| p.name == "base_atr")
            .unwrap();
        let e = parse_axis(&spec, "0.1..1:1e-300").unwrap_err().to_string();
        assert!(
            e.starts_with("--param base_atr=0.1..1:1e-300: step 1e-300 makes more than"),
            "{e}"
        );
        // 0.9 / 1e-12 = 9e11 steps: below 2^53 ≈ 9.007e15, so counted (9e11 + 1 values).
        assert_eq!(
            parse_axis(&spec, "0.1..1:1e-12").unwrap().len(),
            900_000_000_001
        );
    }

    #[test]
    fn constraints_with_numbers() {
        let s = Space::new(
            sma(),
            &pairs(&[("fast", "5..50:5"), ("slow", "10..200:10")]),
            &[
                "fast < slow".into(),
                "slow <= 100".into(),
                "fast >= 20".into(),
            ],
        )
        .unwrap();
        for (_, p) in s.feasible() {
            assert!(p.int("fast") < p.int("slow") && p.int("slow") <= 100 && p.int("fast") >= 20);
        }
        let want = (4..=10)
            .map(|k| (1..=10).filter(|j| 10 * j > 5 * k).count() as u64)
            .sum::<u64>();
        assert_eq!(s.count_feasible(), want);
    }
}
