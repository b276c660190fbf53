//! The run configuration: every setting that changes a backtest's (or a paper run's) numbers — cash,
//! costs, fill timing, sizing and the stop-versus-target policy. The word enums ([`Fill`],
//! [`StopPolicy`]) carry their names (strum, the same as serde's) and a one-line message per value, which
//! the command line shows as its possible values.

use crate::error::{Error, Result};

/// Starting cash when none is given (backtesting.py's default too).
pub const DEFAULT_CASH: f64 = 10_000.0;

/// The most starting cash a run accepts: the risk layer's cap on any amount (1e15). Far above it the
/// metrics lose their digits (`--cash 1e308` gave null metrics and 300-digit sizes).
pub const MAX_CASH: f64 = 1e15;

/// When market orders decided at the close of bar `i` are filled.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Default,
    serde::Serialize,
    serde::Deserialize,
    strum::Display,
    strum::EnumString,
    strum::IntoStaticStr,
    strum::VariantNames,
    strum::EnumMessage,
)]
#[serde(rename_all = "kebab-case")]
#[strum(serialize_all = "kebab-case")]
pub enum Fill {
    /// At the open of bar `i + 1` (the reference behaviour). Orders decided on the last bar never fill.
    #[default]
    #[strum(message = "At the next bar's open (the reference behaviour)")]
    NextOpen,
    /// At the close of bar `i` itself; the new position is exposed from bar `i + 1`.
    #[strum(message = "At the deciding bar's close")]
    Close,
}

/// Which exit wins when one bar reaches both the stop and the target. An open already beyond the stop
/// exits there at the open under every policy; the policies differ on bars that reach both levels
/// otherwise, and those bars are counted as ambiguous (see [`crate::engine::fills::bar_exit`] and
/// `docs/reference-semantics.md` §13).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Default,
    serde::Serialize,
    serde::Deserialize,
    strum::Display,
    strum::EnumString,
    strum::IntoStaticStr,
    strum::VariantNames,
    strum::EnumMessage,
)]
#[serde(rename_all = "kebab-case")]
#[strum(serialize_all = "kebab-case")]
pub enum StopPolicy {
    /// Assume the worst inside a bar: a bar reaching both levels exits at the stop. An open beyond the
    /// target exits there at the open (the open comes first in time), even if the bar later reaches the
    /// stop — where backtesting.py takes the stop. The default.
    #[default]
    #[strum(
        message = "Both reached inside a bar: the stop; an open beyond the target exits at the open (the open comes first)"
    )]
    Pessimistic,
    /// Assume the best inside a bar: a bar reaching both levels exits at the target.
    #[strum(
        message = "Both reached inside a bar: the target; an open beyond either level exits at the open"
    )]
    Optimistic,
    /// backtesting.py 0.6.6 exactly (also vectorbt's and freqtrade's order): the stop is checked first,
    /// so a bar that reaches the stop exits there even when it opened beyond the target.
    #[strum(
        message = "The stop is checked first, as backtesting.py, vectorbt and freqtrade do: a bar reaching the stop exits there even when it opened beyond the target"
    )]
    Reference,
}

/// How many units an entry buys or sells.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum Sizing {
    /// All available cash in whole units: `floor(cash·(1−ε) / (adj + (1−ε)·price·c/(1−ε)))`, evaluated as
    /// the reference does (ε = f64 machine epsilon, adj = fill price after spread). The default.
    #[default]
    All,
    /// All available cash in fractional units: `cash·(1−ε) / (adj + price·c)`.
    Fraction,
    /// A fixed number of units (may be fractional); cancelled when cash does not cover it.
    Units(f64),
    /// This percentage (0 < P ≤ 100) of equity in whole units, by the reference's relative-size formula.
    PctEquity(f64),
    /// Whole units such that hitting the stop loses this percentage of equity:
    /// `floor(equity·P/100 / |adj − stop|)`, capped at what all cash buys. Entries without a stop are
    /// cancelled.
    RiskPct(f64),
}

impl Sizing {
    /// Parses `all`, `fraction`, `units:N`, `pct:P` or `risk:P`.
    pub fn parse(text: &str) -> Result<Sizing> {
        let t = text.trim();
        let num = |v: &str, what: &str| -> Result<f64> {
            v.trim()
                .parse::<f64>()
                .ok()
                .filter(|x| x.is_finite())
                .ok_or_else(|| Error::usage(format!("--size {t}: `{v}` is not a number ({what})")))
        };
        let s = match t.split_once(':') {
            None if t == "all" => Sizing::All,
            None if t == "fraction" => Sizing::Fraction,
            Some(("units", v)) => Sizing::Units(num(v, "units")?),
            Some(("pct", v)) => Sizing::PctEquity(num(v, "percent of equity")?),
            Some(("risk", v)) => Sizing::RiskPct(num(v, "percent of equity at risk")?),
            _ => {
                return Err(Error::usage(format!(
                    "--size {t}: expected all, fraction, units:N, pct:P or risk:P"
                )));
            }
        };
        s.check()?;
        Ok(s)
    }

    pub(crate) fn check(&self) -> Result<()> {
        match *self {
            Sizing::Units(u) if u <= 0.0 => Err(Error::usage(format!(
                "--size units:{u}: units must be above 0"
            ))),
            Sizing::PctEquity(p) if !(p > 0.0 && p <= 100.0) => Err(Error::usage(format!(
                "--size pct:{p}: percent must be in (0, 100]"
            ))),
            Sizing::RiskPct(p) if !(p > 0.0 && p <= 100.0) => Err(Error::usage(format!(
                "--size risk:{p}: percent must be in (0, 100]"
            ))),
            _ => Ok(()),
        }
    }
}

impl std::fmt::Display for Sizing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Sizing::All => write!(f, "all"),
            Sizing::Fraction => write!(f, "fraction"),
            Sizing::Units(u) => write!(f, "units:{u}"),
            Sizing::PctEquity(p) => write!(f, "pct:{p}"),
            Sizing::RiskPct(p) => write!(f, "risk:{p}"),
        }
    }
}

/// Every setting that changes a backtest's numbers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BacktestConfig {
    /// Starting cash.
    pub cash: f64,
    /// Commission as a fraction of traded value, charged on entry and on exit.
    pub commission: f64,
    /// Spread as a fraction of price: the entry price is worsened by `price·spread` in the trade's
    /// direction (the exit is at the raw price).
    pub spread: f64,
    /// When market orders fill.
    pub fill: Fill,
    /// Close a position still open after the last bar (at the last bar's open with `NextOpen`, at its
    /// close with `Close`) so that it counts in the trade statistics.
    pub close_at_end: bool,
    /// Position sizing.
    pub sizing: Sizing,
    /// Stop-versus-target rule for bars that reach both.
    pub stop_policy: StopPolicy,
}

impl Default for BacktestConfig {
    fn default() -> Self {
        BacktestConfig {
            cash: DEFAULT_CASH,
            commission: 0.0,
            spread: 0.0,
            fill: Fill::NextOpen,
            close_at_end: false,
            sizing: Sizing::All,
            stop_policy: StopPolicy::Pessimistic,
        }
    }
}

/// A value for a message: plain below 1e16, else in exponent form (`--spread 1e308`, not 309 digits).
fn shown(v: f64) -> String {
    if v.abs() >= 1e16 {
        format!("{v:e}")
    } else {
        format!("{v}")
    }
}

impl BacktestConfig {
    /// Checks the settings; each error names the flag and what is valid.
    pub fn validate(&self) -> Result<()> {
        if !(self.cash.is_finite() && self.cash > 0.0) {
            return Err(Error::usage(format!(
                "--cash {}: must be a number above 0",
                shown(self.cash)
            )));
        }
        if self.cash > MAX_CASH {
            return Err(Error::usage(format!(
                "--cash {:e}: must be at most 1e15",
                self.cash
            )));
        }
        if !(0.0..0.1).contains(&self.commission) {
            return Err(Error::usage(format!(
                "--commission {}: must be a fraction in [0, 0.1), e.g. 0.002 for 0.2%",
                shown(self.commission)
            )));
        }
        if !(0.0..0.1).contains(&self.spread) {
            return Err(Error::usage(format!(
                "--spread {}: must be a fraction in [0, 0.1), e.g. 0.0002",
                shown(self.spread)
            )));
        }
        self.sizing.check()
    }
}
