//! Strategy names as the risk layer keys them. A budget is found by name, so every spelling of one
//! strategy must be one key: `SMA`, `sma `, ` sma` and `sma` are the same strategy, and a disabled one
//! cannot be traded under another spelling.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The longest strategy name accepted, in bytes.
pub const MAX_LEN: usize = 64;

/// A normalized strategy name: surrounding ASCII whitespace (space, tab, LF, FF, CR) trimmed, ASCII letters
/// lowercased. Only printable ASCII is accepted (letters, digits, punctuation, and spaces inside the name),
/// so no two names that look alike — a full-width letter, a non-breaking space — can be different keys.
/// Migration 3 normalized the names already stored the same way (`src/db/migrations/0003_strategy_names.sql`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct StrategyId(String);

impl StrategyId {
    /// Normalizes `text`; an error names `field` when it is empty, too long or not printable ASCII.
    pub fn parse(field: &str, text: &str) -> Result<StrategyId> {
        let t = text.trim_matches(|c: char| c.is_ascii_whitespace());
        if t.is_empty() {
            return Err(Error::invalid(format!("{field}: must not be empty")));
        }
        if t.len() > MAX_LEN {
            return Err(Error::invalid(format!(
                "{field}: '{t}' is longer than {MAX_LEN} characters"
            )));
        }
        if let Some(c) = t.chars().find(|c| !(c.is_ascii_graphic() || *c == ' ')) {
            return Err(Error::invalid(format!(
                "{field}: '{}' has the character {c:?}; strategy names are printable ASCII (letters, \
                 digits, punctuation, spaces), matched without regard to case",
                t.escape_debug()
            )));
        }
        Ok(StrategyId(t.to_ascii_lowercase()))
    }

    /// The normalized name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for StrategyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for StrategyId {
    type Error = Error;

    fn try_from(s: String) -> Result<StrategyId> {
        StrategyId::parse("strategy", &s)
    }
}

impl From<StrategyId> for String {
    fn from(id: StrategyId) -> String {
        id.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spelling_of_a_name_is_one_id() {
        for s in ["sma", "SMA", "sma ", " sma", "\tSma\r\n", "\x0csMa"] {
            assert_eq!(
                StrategyId::parse("strategy", s).unwrap().as_str(),
                "sma",
                "{s:?}"
            );
        }
        assert_eq!(
            StrategyId::parse("strategy", " SMA Cross 2 ")
                .unwrap()
                .as_str(),
            "sma cross 2"
        );
        assert_eq!(
            serde_json::to_string(&StrategyId::parse("s", "NBB").unwrap()).unwrap(),
            "\"nbb\""
        );
        let back: StrategyId = serde_json::from_str("\" Tori\"").unwrap();
        assert_eq!(back.as_str(), "tori");
    }

    #[test]
    fn empty_long_and_look_alike_names_are_refused_naming_the_field() {
        for (s, want) in [
            ("", "strategy: must not be empty"),
            (" \t ", "strategy: must not be empty"),
            ("\u{a0}sma", "has the character '\\u{a0}'"),
            ("ｓｍａ", "has the character 'ｓ'"),
            ("sm\ta", "has the character '\\t'"),
            ("smä", "has the character 'ä'"),
        ] {
            let err = StrategyId::parse("strategy", s).unwrap_err();
            assert_eq!(err.exit_code(), 1);
            let err = err.to_string();
            assert!(err.starts_with("strategy: "), "{s:?}: {err}");
            assert!(err.contains(want), "{s:?}: {err}");
        }
        let long = "x".repeat(MAX_LEN + 1);
        assert!(StrategyId::parse("strategy", &long).is_err());
        assert!(StrategyId::parse("strategy", &long[1..]).is_ok());
        assert!(serde_json::from_str::<StrategyId>("\"\"").is_err());
    }
}
