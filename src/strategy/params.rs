//! Strategy parameters: how a strategy declares them (name, type, default, valid bounds, search range)
//! and how `--param name=value` overrides are checked against those declarations.

use serde::Serialize;

use crate::error::{Error, Result};

/// The type of a parameter, with its default, the bounds a value must lie in, and the range an
/// optimizer searches by default (`search_min..=search_max` in steps of `step`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ParamKind {
    /// A whole number.
    Int {
        /// Value used when none is given.
        default: i64,
        /// Smallest valid value.
        min: i64,
        /// Largest valid value.
        max: i64,
        /// Default search range: first value.
        search_min: i64,
        /// Default search range: last value.
        search_max: i64,
        /// Default search range: step.
        step: i64,
    },
    /// A real number.
    Float {
        /// Value used when none is given.
        default: f64,
        /// Smallest valid value.
        min: f64,
        /// Largest valid value.
        max: f64,
        /// Default search range: first value.
        search_min: f64,
        /// Default search range: last value.
        search_max: f64,
        /// Default search range: step.
        step: f64,
    },
    /// One of a fixed set of names.
    Choice {
        /// Value used when none is given (one of `options`).
        default: &'static str,
        /// Every valid value.
        options: &'static [&'static str],
    },
    /// A file the strategy reads (a signals file). It has no default: a value must be given. A relative
    /// path is taken relative to the current folder and stored absolute, so a playbook re-runs from
    /// anywhere; playbooks also record the file's sha256 (`[strategy.file_sha256]`).
    Path,
}

/// One declared parameter of a strategy.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ParamSpec {
    /// Name used in `--param name=value` and in playbooks.
    pub name: &'static str,
    /// Type, default, bounds and search range.
    pub kind: ParamKind,
    /// One line saying what it does.
    pub help: &'static str,
}

impl ParamSpec {
    /// A whole-number parameter: `default`, valid values `min..=max`, searched over
    /// `search_min..=search_max` in steps of `step`.
    pub const fn int(
        name: &'static str,
        default: i64,
        (min, max): (i64, i64),
        (search_min, search_max, step): (i64, i64, i64),
        help: &'static str,
    ) -> ParamSpec {
        ParamSpec {
            name,
            kind: ParamKind::Int {
                default,
                min,
                max,
                search_min,
                search_max,
                step,
            },
            help,
        }
    }

    /// A real parameter: `default`, valid values `min..=max`, searched over `search_min..=search_max`
    /// in steps of `step`.
    pub const fn float(
        name: &'static str,
        default: f64,
        (min, max): (f64, f64),
        (search_min, search_max, step): (f64, f64, f64),
        help: &'static str,
    ) -> ParamSpec {
        ParamSpec {
            name,
            kind: ParamKind::Float {
                default,
                min,
                max,
                search_min,
                search_max,
                step,
            },
            help,
        }
    }

    /// A file path parameter (required).
    pub const fn path(name: &'static str, help: &'static str) -> ParamSpec {
        ParamSpec {
            name,
            kind: ParamKind::Path,
            help,
        }
    }

    /// A parameter that takes one of `options`.
    pub const fn choice(
        name: &'static str,
        default: &'static str,
        options: &'static [&'static str],
        help: &'static str,
    ) -> ParamSpec {
        ParamSpec {
            name,
            kind: ParamKind::Choice { default, options },
            help,
        }
    }
}

/// A parameter value.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(untagged)]
pub enum ParamValue {
    /// A whole number.
    Int(i64),
    /// A real number.
    Float(f64),
    /// One of the declared options.
    Choice(&'static str),
    /// An absolute file path (empty: not given). Interned, so values stay `Copy`.
    Path(&'static str),
}

impl std::fmt::Display for ParamValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ParamValue::Int(v) => write!(f, "{v}"),
            ParamValue::Float(v) => write!(f, "{v}"),
            ParamValue::Choice(v) | ParamValue::Path(v) => write!(f, "{v}"),
        }
    }
}

impl ParamSpec {
    /// The default value.
    pub fn default_value(&self) -> ParamValue {
        match self.kind {
            ParamKind::Int { default, .. } => ParamValue::Int(default),
            ParamKind::Float { default, .. } => ParamValue::Float(default),
            ParamKind::Choice { default, .. } => ParamValue::Choice(default),
            ParamKind::Path => ParamValue::Path(""),
        }
    }

    /// The type name shown by `--list-strategies`: `int`, `float`, `choice` or `path`.
    pub fn type_name(&self) -> &'static str {
        match self.kind {
            ParamKind::Int { .. } => "int",
            ParamKind::Float { .. } => "float",
            ParamKind::Choice { .. } => "choice",
            ParamKind::Path => "path",
        }
    }

    /// The valid values in words: `2..=500`, `0.1..=10`, `one of a|b|c`.
    pub fn valid_range(&self) -> String {
        match self.kind {
            ParamKind::Int { min, max, .. } => format!("{min}..={max}"),
            ParamKind::Float { min, max, .. } => format!("{min}..={max}"),
            ParamKind::Choice { options, .. } => format!("one of {}", options.join("|")),
            ParamKind::Path => "a file path (required)".to_string(),
        }
    }

    /// The default search range: `5..=50:5` (first..=last:step), or the options of a choice.
    pub fn search_range(&self) -> String {
        match self.kind {
            ParamKind::Int {
                search_min,
                search_max,
                step,
                ..
            } => format!("{search_min}..={search_max}:{step}"),
            ParamKind::Float {
                search_min,
                search_max,
                step,
                ..
            } => format!("{search_min}..={search_max}:{step}"),
            ParamKind::Choice { options, .. } => options.join("|"),
            ParamKind::Path => String::new(),
        }
    }

    /// Parses and range-checks `text` as a value of this parameter. The error names the parameter and
    /// its valid range.
    pub fn parse(&self, text: &str) -> Result<ParamValue> {
        let bad = |why: &str| {
            Error::usage(format!(
                "parameter `{}`: {why}; valid: {}",
                self.name,
                self.valid_range()
            ))
        };
        let t = text.trim();
        match self.kind {
            ParamKind::Int { min, max, .. } => {
                let v: i64 = match t.parse() {
                    Ok(v) => v,
                    // Accept `10.0` for an int, not `10.5`.
                    Err(_) => match t.parse::<f64>() {
                        Ok(f) if f.fract() == 0.0 && f.abs() < 9e15 => f as i64,
                        _ => return Err(bad(&format!("`{t}` is not a whole number"))),
                    },
                };
                if v < min || v > max {
                    return Err(bad(&format!("{v} is out of range")));
                }
                Ok(ParamValue::Int(v))
            }
            ParamKind::Float { min, max, .. } => {
                let v: f64 = t
                    .parse()
                    .map_err(|_| bad(&format!("`{t}` is not a number")))?;
                if !v.is_finite() || v < min || v > max {
                    return Err(bad(&format!("{v} is out of range")));
                }
                Ok(ParamValue::Float(v))
            }
            ParamKind::Choice { options, .. } => options
                .iter()
                .find(|o| o.eq_ignore_ascii_case(t))
                .map(|o| ParamValue::Choice(o))
                .ok_or_else(|| bad(&format!("`{t}` is not an option"))),
            ParamKind::Path => {
                if t.is_empty() {
                    return Err(bad("no path given"));
                }
                let abs = std::path::absolute(t)
                    .map_err(|e| bad(&format!("`{t}` is not a usable path: {e}")))?;
                let text = abs
                    .to_str()
                    .ok_or_else(|| bad(&format!("`{t}` is not valid UTF-8")))?;
                Ok(ParamValue::Path(intern(text)))
            }
        }
    }

    /// The usage error for a required parameter that was not given.
    pub fn missing(&self) -> Error {
        Error::usage(format!(
            "parameter `{}` is required: give --param {}=PATH ({})",
            self.name, self.name, self.help
        ))
    }
}

/// `text` as a `&'static str`, leaked once per distinct value (a process names a few files at most), so
/// that [`ParamValue`] stays `Copy` like the numbers and choices.
fn intern(text: &str) -> &'static str {
    use std::sync::Mutex;
    static POOL: Mutex<Vec<&'static str>> = Mutex::new(Vec::new());
    let mut pool = POOL.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(s) = pool.iter().find(|s| **s == text) {
        return s;
    }
    let s: &'static str = Box::leak(text.to_string().into_boxed_str());
    pool.push(s);
    s
}

/// A full set of parameter values for one strategy, in declaration order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Params {
    values: Vec<(&'static str, ParamValue)>,
}

impl Params {
    /// The defaults of `specs`, with `overrides` (`(name, value text)` pairs) applied. An unknown name or
    /// a bad value is a usage error naming the parameter and what is valid.
    pub fn resolve(specs: &[ParamSpec], overrides: &[(String, String)]) -> Result<Params> {
        let mut values: Vec<(&'static str, ParamValue)> =
            specs.iter().map(|s| (s.name, s.default_value())).collect();
        for (name, text) in overrides {
            let Some(idx) = specs.iter().position(|s| s.name == name.as_str()) else {
                let known: Vec<String> = specs
                    .iter()
                    .map(|s| format!("{} ({})", s.name, s.valid_range()))
                    .collect();
                return Err(Error::usage(format!(
                    "unknown parameter `{name}`; this strategy takes: {}",
                    if known.is_empty() {
                        "no parameters".to_string()
                    } else {
                        known.join(", ")
                    }
                )));
            };
            values[idx].1 = specs[idx].parse(text)?;
        }
        if let Some(spec) = specs
            .iter()
            .zip(&values)
            .find(|(_, (_, v))| *v == ParamValue::Path(""))
        {
            return Err(spec.0.missing());
        }
        Ok(Params { values })
    }

    /// Builds a parameter set from already-typed values (used by optimizers). Values are not range-checked.
    pub fn from_values(values: Vec<(&'static str, ParamValue)>) -> Params {
        Params { values }
    }

    /// Every `(name, value)` pair in declaration order.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, ParamValue)> + '_ {
        self.values.iter().copied()
    }

    /// Every file a path parameter names, as `(name, absolute path)`: the files a run reads besides
    /// the store (a signals file), which no output of the run may replace.
    pub fn files(&self) -> impl Iterator<Item = (&'static str, &'static str)> + '_ {
        self.values.iter().filter_map(|&(name, value)| match value {
            ParamValue::Path(path) if !path.is_empty() => Some((name, path)),
            _ => None,
        })
    }

    /// The value of `name`, if set.
    pub fn get(&self, name: &str) -> Option<ParamValue> {
        self.values
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| *v)
    }

    /// The integer value of `name`.
    ///
    /// # Panics
    /// If the strategy did not declare `name` as an int (a programming error, not bad input).
    pub fn int(&self, name: &str) -> i64 {
        match self.get(name) {
            Some(ParamValue::Int(v)) => v,
            other => panic!("parameter `{name}` is not an int: {other:?}"),
        }
    }

    /// The real value of `name` (ints convert).
    ///
    /// # Panics
    /// If the strategy did not declare `name` as a number.
    pub fn float(&self, name: &str) -> f64 {
        match self.get(name) {
            Some(ParamValue::Float(v)) => v,
            Some(ParamValue::Int(v)) => v as f64,
            other => panic!("parameter `{name}` is not a number: {other:?}"),
        }
    }

    /// The file path of `name` (absolute; empty when not given).
    ///
    /// # Panics
    /// If the strategy did not declare `name` as a path.
    pub fn path(&self, name: &str) -> &'static str {
        match self.get(name) {
            Some(ParamValue::Path(v)) => v,
            other => panic!("parameter `{name}` is not a path: {other:?}"),
        }
    }

    /// The chosen option of `name`.
    ///
    /// # Panics
    /// If the strategy did not declare `name` as a choice.
    pub fn choice(&self, name: &str) -> &'static str {
        match self.get(name) {
            Some(ParamValue::Choice(v)) => v,
            other => panic!("parameter `{name}` is not a choice: {other:?}"),
        }
    }

    /// The cross-parameter rule "`lower` must be below `upper`" (e.g. `fast` below `slow`), as a usage
    /// error naming both parameters and their values.
    ///
    /// # Panics
    /// If either is not a declared number.
    pub fn require_below(&self, lower: &str, upper: &str) -> Result<()> {
        let (a, b) = (self.float(lower), self.float(upper));
        if a < b {
            return Ok(());
        }
        let (a, b) = (
            self.get(lower).expect("declared"),
            self.get(upper).expect("declared"),
        );
        Err(Error::usage(format!(
            "parameters `{lower}` ({a}) and `{upper}` ({b}): {lower} must be below {upper}"
        )))
    }

    /// The values as a JSON object (`{"fast": 10, "slow": 20}`).
    pub fn to_json(&self) -> serde_json::Value {
        let map: serde_json::Map<String, serde_json::Value> = self
            .values
            .iter()
            .map(|(n, v)| {
                (
                    n.to_string(),
                    serde_json::to_value(v).unwrap_or(serde_json::Value::Null),
                )
            })
            .collect();
        serde_json::Value::Object(map)
    }
}

impl std::fmt::Display for Params {
    /// `fast=10 slow=20`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = self
            .values
            .iter()
            .map(|(n, v)| format!("{n}={v}"))
            .collect();
        write!(f, "{}", parts.join(" "))
    }
}

/// Splits `name=value` (as given to `--param`).
pub fn split_assignment(text: &str) -> Result<(String, String)> {
    match text.split_once('=') {
        Some((n, v)) if !n.trim().is_empty() && !v.trim().is_empty() => {
            Ok((n.trim().to_string(), v.trim().to_string()))
        }
        _ => Err(Error::usage(format!(
            "--param `{text}`: expected name=value, e.g. --param fast=10"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPECS: &[ParamSpec] = &[
        ParamSpec {
            name: "n",
            kind: ParamKind::Int {
                default: 10,
                min: 2,
                max: 100,
                search_min: 5,
                search_max: 50,
                step: 5,
            },
            help: "",
        },
        ParamSpec {
            name: "mode",
            kind: ParamKind::Choice {
                default: "a",
                options: &["a", "b"],
            },
            help: "",
        },
    ];

    #[test]
    fn defaults_overrides_and_errors() {
        let p = Params::resolve(SPECS, &[]).unwrap();
        assert_eq!(p.int("n"), 10);
        assert_eq!(p.choice("mode"), "a");
        let p = Params::resolve(
            SPECS,
            &[("n".into(), "20".into()), ("mode".into(), "B".into())],
        )
        .unwrap();
        assert_eq!(p.int("n"), 20);
        assert_eq!(p.choice("mode"), "b");
        assert_eq!(p.to_string(), "n=20 mode=b");
        let e = Params::resolve(SPECS, &[("x".into(), "1".into())]).unwrap_err();
        assert!(
            e.to_string().contains("unknown parameter `x`")
                && e.to_string().contains("n (2..=100)")
        );
        let e = Params::resolve(SPECS, &[("n".into(), "1".into())]).unwrap_err();
        assert!(
            e.to_string().contains("`n`") && e.to_string().contains("2..=100"),
            "{e}"
        );
        assert!(Params::resolve(SPECS, &[("n".into(), "2.5".into())]).is_err());
        assert!(Params::resolve(SPECS, &[("mode".into(), "c".into())]).is_err());
        assert!(split_assignment("fast").is_err());
        assert_eq!(
            split_assignment("fast=3").unwrap(),
            ("fast".into(), "3".into())
        );
    }
}
