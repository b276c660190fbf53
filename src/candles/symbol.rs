//! Instrument symbols and their store folder names: an injective, reversible encoding, so that no symbol
//! escapes the store (`..`) and no two symbols share a folder (`ÄBC`/`ÖBC`, `A/B`/`A-B`).
//!
//! The folder name of a symbol is the symbol with every byte outside `[A-Za-z0-9._-]`, and a leading `.`,
//! written as `%XX` (uppercase hex of the UTF-8 byte): `EUR/USD` → `EUR%2FUSD`, `ÄBC` → `%C3%84BC`,
//! `.X` → `%2EX`. `%` itself is encoded, so decoding is unambiguous. Earlier versions replaced every such
//! character by `-` ([`Symbol::legacy_file_name`]); the store still reads those folders (see
//! [`super::store`]).

use std::fmt;
use std::str::FromStr;

use crate::error::{Error, Result};

/// Longest symbol accepted, in bytes: 64 bytes encode to at most 192, below the 255-byte limit on file
/// names of common file systems.
pub const MAX_SYMBOL_BYTES: usize = 64;

/// A validated instrument symbol as the user spells it (`AAPL`, `EUR/USD`, `BTCUSDT`): not empty, not
/// `.` or `..`, no control characters, no leading or trailing whitespace, at most
/// [`MAX_SYMBOL_BYTES`] bytes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Symbol(String);

fn keeps(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-')
}

impl Symbol {
    /// Checks `s` and wraps it. Errors are usage errors naming the symbol and the rule.
    pub fn parse(s: &str) -> Result<Symbol> {
        let bad = |why: &str| Error::usage(format!("symbol {s:?} is not allowed: {why}"));
        if s.is_empty() {
            return Err(bad("it is empty"));
        }
        if s == "." || s == ".." {
            return Err(bad("it would name a folder outside the store"));
        }
        if s.chars().any(char::is_control) {
            return Err(bad("it contains a control character"));
        }
        if s.trim() != s {
            return Err(bad("it starts or ends with whitespace"));
        }
        if s.len() > MAX_SYMBOL_BYTES {
            return Err(bad(&format!(
                "it is {} bytes long; the limit is {MAX_SYMBOL_BYTES}",
                s.len()
            )));
        }
        Ok(Symbol(s.to_string()))
    }

    /// The symbol as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The store folder name (see the module documentation): injective, reversible, never `.`/`..`.
    pub fn file_name(&self) -> String {
        let mut out = String::with_capacity(self.0.len());
        for (i, b) in self.0.bytes().enumerate() {
            if keeps(b) && !(i == 0 && b == b'.') {
                out.push(b as char);
            } else {
                out.push_str(&format!("%{b:02X}"));
            }
        }
        out
    }

    /// The symbol whose [`Symbol::file_name`] is `name`, if `name` is exactly such an encoding.
    pub fn from_file_name(name: &str) -> Option<Symbol> {
        let bytes = name.as_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'%' {
                let hex = name.get(i + 1..i + 3)?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            } else {
                out.push(bytes[i]);
                i += 1;
            }
        }
        let symbol = Symbol::parse(&String::from_utf8(out).ok()?).ok()?;
        (symbol.file_name() == name).then_some(symbol)
    }

    /// The folder name earlier versions used: every character outside `[A-Za-z0-9._-]` replaced by `-`.
    /// Not injective (`A/B` and `A-B` share it), so the store only reads such a folder for a symbol its
    /// file's metadata names.
    pub fn legacy_file_name(&self) -> String {
        self.0
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                    c
                } else {
                    '-'
                }
            })
            .collect()
    }
}

impl fmt::Display for Symbol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for Symbol {
    type Err = Error;
    fn from_str(s: &str) -> Result<Symbol> {
        Symbol::parse(s)
    }
}

impl AsRef<str> for Symbol {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folder_names_are_safe_distinct_and_reversible() {
        let cases = [
            ("AAPL", "AAPL"),
            ("BRK.B", "BRK.B"),
            ("EUR/USD", "EUR%2FUSD"),
            ("EUR-USD", "EUR-USD"),
            ("ÄBC", "%C3%84BC"),
            ("ÖBC", "%C3%96BC"),
            ("a b", "a%20b"),
            ("50%", "50%25"),
            (".x", "%2Ex"),
            ("...", "%2E.."),
            ("x.", "x."),
        ];
        for (symbol, folder) in cases {
            let s = Symbol::parse(symbol).unwrap();
            assert_eq!(s.file_name(), folder, "{symbol}");
            assert_eq!(Symbol::from_file_name(folder), Some(s), "{folder}");
        }
        // Not canonical encodings (lowercase hex, an encoded safe byte, a raw leading dot) or not
        // encodings at all decode to nothing.
        for name in ["EUR%2fUSD", "%41", ".x", "50%", "%zz", "..", ""] {
            assert_eq!(Symbol::from_file_name(name), None, "{name}");
        }
    }

    #[test]
    fn bad_symbols_are_usage_errors_naming_the_rule() {
        for (s, why) in [
            ("", "empty"),
            (".", "outside the store"),
            ("..", "outside the store"),
            ("a\nb", "control character"),
            (" AAPL", "whitespace"),
            ("AAPL\t", "control character"),
        ] {
            let e = Symbol::parse(s).unwrap_err();
            assert_eq!(e.exit_code(), 2);
            assert!(e.to_string().contains(why), "{s:?}: {e}");
        }
        assert!(Symbol::parse(&"X".repeat(64)).is_ok());
        assert!(Symbol::parse(&"X".repeat(65)).is_err());
    }

    #[test]
    fn the_legacy_name_folds_like_before() {
        let legacy = |s: &str| Symbol::parse(s).unwrap().legacy_file_name();
        assert_eq!(legacy("EUR/USD"), "EUR-USD");
        assert_eq!(legacy("ÄBC"), "-BC");
        assert_eq!(legacy("a b"), "a-b");
    }
}
