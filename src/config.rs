//! `<home>/flowrex.toml`: optional configuration, read with serde. Unknown keys are an error naming the key
//! and the file, so a typo never silently falls back to a default.

use std::path::Path;

use crate::error::{Error, IoContext, Result, toml_line};

/// The file name of the configuration inside a home folder.
pub const CONFIG_FILE: &str = "flowrex.toml";

/// Everything `flowrex.toml` may hold. Each subsystem adds its own section as it lands; a file with any
/// key not listed here is rejected.
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `[providers]`, `[providers.twelvedata]`, `[providers.binance]`: market-data clients.
    #[serde(default)]
    pub providers: crate::providers::ProvidersConfig,
    /// `[risk]`: soft risk limits, which may only tighten the hard ones.
    #[serde(default)]
    pub risk: crate::risk::SoftLimits,
    /// `[journal]`: the feedback window and thresholds, which may only tighten the defaults.
    #[serde(default)]
    pub journal: crate::journal::JournalSettings,
    /// `[instruments.SYMBOL]`: lot size, tick and pip size, leverage.
    #[serde(default)]
    pub instruments: crate::execution::Instruments,
    /// `[paper]`: the paper broker's fill model and the first account's balance.
    #[serde(default)]
    pub paper: crate::paper::PaperConfig,
}

impl Config {
    /// Reads the configuration file `path`; a missing file gives the defaults.
    pub fn load_file(path: &Path) -> Result<Config> {
        if !path.exists() {
            return Ok(Config::default());
        }
        let text = std::fs::read_to_string(path).at(path)?;
        Config::parse(&text, path)
    }

    /// Parses configuration text; errors name `path` and the line of the offending key. Soft risk limits
    /// are checked here too, so one that would loosen a hard limit fails at load, and so are provider
    /// settings that cannot fetch anything (a zero timeout or rate).
    pub fn parse(text: &str, path: &Path) -> Result<Config> {
        let config: Config = toml::from_str(text)
            .map_err(|e| Error::invalid(format!("{}: {}", path.display(), toml_line(text, &e))))?;
        let named = |e: Error| Error::invalid(format!("{}: {e}", path.display()));
        config.risk.effective().map_err(named)?;
        config.instruments.validate().map_err(named)?;
        config.paper.resolve().map_err(named)?;
        config.journal.effective().map_err(named)?;
        config.providers.check().map_err(named)?;
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_key_names_the_key_and_the_file() {
        let err = Config::parse("\n\ncolour = 'red'\n", Path::new("home/flowrex.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("home/flowrex.toml: line 3:"), "{err}");
        assert!(err.contains("colour"), "{err}");
        let err = Config::parse(
            "[risk]\nmax_trades_per_week = 3\n",
            Path::new("flowrex.toml"),
        )
        .unwrap_err()
        .to_string();
        assert!(err.starts_with("flowrex.toml: line 2:"), "{err}");
        assert!(err.contains("max_trades_per_week"), "{err}");
    }

    #[test]
    fn provider_settings_are_read_and_checked() {
        let c = Config::parse(
            "[providers]\nmax_attempts = 3\n[providers.twelvedata]\napi_key = 'k'\nrequests_per_minute = 55\n\
             [providers.binance]\nbase_url = 'http://localhost:1'\n",
            Path::new("x"),
        )
        .unwrap();
        assert_eq!(c.providers.max_attempts, 3);
        assert_eq!(c.providers.retry_base_ms, 1_000);
        assert_eq!(c.providers.twelvedata.requests_per_minute, 55);
        assert_eq!(
            c.providers.twelvedata.api_key.as_ref().unwrap().expose(),
            "k"
        );
        assert_eq!(c.providers.binance.base_url, "http://localhost:1");
        assert!(!format!("{c:?}").contains("'k'"));
        let err = Config::parse(
            "[providers.binance]\napi_key = 'x'\n",
            Path::new("h/flowrex.toml"),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("h/flowrex.toml: line 2:") && err.contains("api_key"),
            "{err}"
        );
    }

    #[test]
    fn a_zero_timeout_or_rate_is_refused_naming_the_key() {
        // A 0 ms timeout fails every request; 0 attempts or 0 requests a minute cannot fetch anything.
        for key in [
            "timeout_ms = 0",
            "max_attempts = 0",
            "[twelvedata]\nrequests_per_minute = 0",
            "[binance]\nweight_per_minute = 0",
        ] {
            let text = format!("[providers]\n{}\n", key.replace("[", "[providers."));
            let err = Config::parse(&text, Path::new("h/flowrex.toml"))
                .unwrap_err()
                .to_string();
            let name = key.rsplit('\n').next().unwrap().split(' ').next().unwrap();
            assert!(err.starts_with("h/flowrex.toml: "), "{err}");
            assert!(err.contains(name) && err.contains("at least 1"), "{err}");
        }
    }

    #[test]
    fn an_empty_or_missing_file_gives_defaults() {
        assert_eq!(
            Config::parse("", Path::new("x")).unwrap(),
            Config::default()
        );
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            Config::load_file(&dir.path().join("flowrex.toml")).unwrap(),
            Config::default()
        );
    }

    #[test]
    fn instruments_and_paper_tables_are_read_and_checked() {
        let c = Config::parse(
            "[instruments.EURUSD]\nlot_size = 100000\npip_size = 0.0001\nleverage = 30\n\
             [paper]\nslippage_bps = 0\nseed = 3\n",
            Path::new("x"),
        )
        .unwrap();
        let eur = c.instruments.get("EURUSD");
        assert_eq!(
            (eur.lot_size, eur.pip_size, eur.leverage),
            (100_000.0, Some(0.0001), 30.0)
        );
        // A symbol without a table trades 1 unit per lot, cash account.
        assert_eq!(c.instruments.get("GOOG").lot_size, 1.0);
        assert_eq!(c.paper.resolve().unwrap().seed, 3);
        for (text, want) in [
            (
                "[instruments.X]\nlots = 1\n",
                "x: line 2: unknown field `lots`",
            ),
            (
                "[instruments.X]\nlot_size = 0\n",
                "x: [instruments.X] lot_size = 0: must be",
            ),
            (
                "[paper]\nslipage_bps = 1\n",
                "x: line 2: unknown field `slipage_bps`",
            ),
            (
                "[paper]\nfill_probability = 2\n",
                "x: [paper] fill_probability = 2: must be",
            ),
        ] {
            let e = Config::parse(text, Path::new("x")).unwrap_err().to_string();
            assert!(e.starts_with(want), "{text}: {e}");
        }
    }

    #[test]
    fn the_risk_table_is_read_and_a_loosening_limit_fails_at_load() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(CONFIG_FILE);
        std::fs::write(&file, "[risk]\nmax_trades_per_hour = 3\n").unwrap();
        assert_eq!(
            Config::load_file(&dir.path().join("flowrex.toml"))
                .unwrap()
                .risk
                .max_trades_per_hour,
            Some(3)
        );
        std::fs::write(&file, "[risk]\nrisk_per_trade_pct = 3\n").unwrap();
        let err = Config::load_file(&dir.path().join("flowrex.toml"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(
                "flowrex.toml: [risk] risk_per_trade_pct = 3 would loosen the hard limit 2"
            ),
            "{err}"
        );
    }
}
