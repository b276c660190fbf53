//! The optional workspace config `<home>/flowrex.toml`. Unknown keys are errors naming the key and file.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, IoContext, Result};

/// The config file name inside a home folder.
pub const CONFIG_FILE: &str = "flowrex.toml";

/// The whole config file. Every table is optional.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `[risk]`: soft risk limits, which may only tighten the hard ones.
    #[serde(default)]
    pub risk: crate::risk::SoftLimits,
}

impl Config {
    /// The config file of `home`.
    pub fn path(home: &Path) -> PathBuf {
        home.join(CONFIG_FILE)
    }

    /// Reads `<home>/flowrex.toml`; a missing file is the default config. Soft risk limits are checked
    /// here, so a limit that would loosen a hard one fails at load, naming the file.
    pub fn load(home: &Path) -> Result<Config> {
        let path = Config::path(home);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Config::default()),
            Err(e) => return Err(e).at(&path),
        };
        let config = Config::parse(&text).map_err(|e| prefix(&path, e))?;
        config.risk.effective().map_err(|e| prefix(&path, e))?;
        Ok(config)
    }

    /// Parses config text; an error is one line with the line number.
    pub fn parse(text: &str) -> Result<Config> {
        toml::from_str(text).map_err(|e: toml::de::Error| {
            let line = e
                .span()
                .map(|s| text[..s.start.min(text.len())].lines().count().max(1));
            let msg = e.message().trim().replace('\n', " ");
            Error::invalid(match line {
                Some(l) => format!("line {l}: {msg}"),
                None => msg,
            })
        })
    }
}

fn prefix(path: &Path, e: Error) -> Error {
    Error::invalid(format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_file_is_the_default() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(Config::load(dir.path()).unwrap(), Config::default());
    }

    #[test]
    fn risk_table_is_read() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(CONFIG_FILE),
            "[risk]\nmax_trades_per_hour = 3\n",
        )
        .unwrap();
        let c = Config::load(dir.path()).unwrap();
        assert_eq!(c.risk.max_trades_per_hour, Some(3));
    }

    #[test]
    fn unknown_key_names_key_and_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(CONFIG_FILE),
            "[risk]\nmax_trades_per_week = 3\n",
        )
        .unwrap();
        let err = Config::load(dir.path()).unwrap_err().to_string();
        assert!(err.contains("flowrex.toml"), "{err}");
        assert!(err.contains("max_trades_per_week"), "{err}");
        assert!(!err.contains('\n'), "{err}");
    }

    #[test]
    fn loosening_limit_fails_at_load() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(CONFIG_FILE),
            "[risk]\nrisk_per_trade_pct = 3\n",
        )
        .unwrap();
        let err = Config::load(dir.path()).unwrap_err().to_string();
        assert!(
            err.contains(
                "flowrex.toml: [risk] risk_per_trade_pct = 3 would loosen the hard limit 2"
            ),
            "{err}"
        );
    }
}
