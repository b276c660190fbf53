//! JSON conventions shared by every output: a number without a finite value is `null` (JSON cannot carry
//! NaN or infinity), and a time is an RFC 3339 string in UTC.

use serde::{Deserialize, Deserializer, Serializer};

use crate::candles::time::{TimeFormat, format_ts_full, parse_time};

/// Serializes non-finite floats as `null`.
pub fn finite_or_null<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
    if v.is_finite() {
        s.serialize_f64(*v)
    } else {
        s.serialize_none()
    }
}

/// A finite value, or `None` (for hand-built JSON documents).
pub fn finite(v: f64) -> Option<f64> {
    v.is_finite().then_some(v)
}

/// A time in milliseconds since the epoch (UTC) as an RFC 3339 string: `2004-08-19T00:00:00Z`.
pub mod time_text {
    use super::*;

    /// Writes `ms` as RFC 3339 text.
    pub fn serialize<S: Serializer>(ms: &i64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format_ts_full(*ms))
    }

    /// Reads RFC 3339 text (or an ISO date) back into milliseconds.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
        let text = String::deserialize(d)?;
        parse_time(&text, TimeFormat::Iso).map_err(serde::de::Error::custom)
    }
}
