//! Instruments: `[instruments.SYMBOL]` in `flowrex.toml` — units per lot, tick and pip size, leverage.
//! A symbol without a table trades with the defaults: 1 unit per lot, no tick or pip size, leverage 1
//! (a cash account). The risk layer's position-size cap (1.0 lots) is measured in these lots.
//!
//! ```toml
//! [instruments.EURUSD]
//! lot_size = 100000      # units per lot (a standard forex lot)
//! pip_size = 0.0001      # what `slippage_pips` counts in
//! tick_size = 0.00001    # the smallest price step (informational)
//! leverage = 30          # buying power per unit of margin
//! ```

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// One instrument's trading terms.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Instrument {
    /// Units per lot (1 for shares or coins, 100 000 for a standard forex lot).
    pub lot_size: f64,
    /// The smallest price step, if known.
    pub tick_size: Option<f64>,
    /// One pip, if the instrument quotes in pips (needed for slippage in pips).
    pub pip_size: Option<f64>,
    /// Buying power per unit of margin: 1 is a cash account.
    pub leverage: f64,
}

impl Default for Instrument {
    fn default() -> Self {
        Instrument {
            lot_size: 1.0,
            tick_size: None,
            pip_size: None,
            leverage: 1.0,
        }
    }
}

impl Instrument {
    /// Checks every field; the error names `[instruments.SYMBOL] field`.
    pub fn validate(&self, symbol: &str) -> Result<()> {
        let bad = |field: &str, v: f64, what: &str| {
            Error::invalid(format!(
                "[instruments.{symbol}] {field} = {v}: must be {what}"
            ))
        };
        if !(self.lot_size.is_finite() && self.lot_size > 0.0) {
            return Err(bad("lot_size", self.lot_size, "a number above 0"));
        }
        for (field, v) in [("tick_size", self.tick_size), ("pip_size", self.pip_size)] {
            if let Some(v) = v
                && !(v.is_finite() && v > 0.0)
            {
                return Err(bad(field, v, "a number above 0"));
            }
        }
        if !(self.leverage.is_finite() && (1.0..=1000.0).contains(&self.leverage)) {
            return Err(bad("leverage", self.leverage, "between 1 and 1000"));
        }
        Ok(())
    }
}

/// Every configured instrument, by symbol.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Instruments(pub BTreeMap<String, Instrument>);

impl Instruments {
    /// The terms of `symbol` (the defaults when it has no table).
    pub fn get(&self, symbol: &str) -> Instrument {
        self.0.get(symbol).copied().unwrap_or_default()
    }

    /// Checks every table.
    pub fn validate(&self) -> Result<()> {
        self.0.iter().try_for_each(|(s, i)| i.validate(s))
    }
}
