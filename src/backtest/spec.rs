//! What to run: a [`RunSpec`] is a strategy with its parameters, the data ([`DataSpec`]: symbol,
//! interval, time window) and the [`BacktestConfig`]. The command line builds one from its flags, a
//! playbook gives one ([`RunSpec::from_playbook`]); loading its bars and running it are the same either
//! way. An optimization shares the [`DataSpec`] and the configuration and searches the parameters.

use crate::candles::time::format_ts;
use crate::candles::{Candles, Interval, Store, TimeRange};
use crate::engine::BacktestConfig;
use crate::error::{Error, Result};
use crate::indicators::IndicatorCache;
use crate::playbook::Playbook;
use crate::strategy::{self, Params, Strategy};

use super::Report;

/// Which bars: a symbol and interval in the store, between two times.
#[derive(Debug, Clone, PartialEq)]
pub struct DataSpec {
    /// Symbol in the store.
    pub symbol: String,
    /// Bar interval.
    pub interval: Interval,
    /// The time window.
    pub range: TimeRange,
    /// `--start` as written on the command line (for messages; `None` when not given).
    pub start: Option<String>,
    /// `--end` as written on the command line.
    pub end: Option<String>,
}

impl DataSpec {
    /// The data of `symbol` `interval` between `start` and `end` as written on the command line (a date
    /// `end` includes that whole day); an unreadable time is a usage error naming it.
    pub fn new(
        symbol: &str,
        interval: Interval,
        start: Option<&str>,
        end: Option<&str>,
    ) -> Result<DataSpec> {
        Ok(DataSpec {
            symbol: symbol.to_string(),
            interval,
            range: TimeRange::parse(start, end)?,
            start: start.map(str::to_string),
            end: end.map(str::to_string),
        })
    }

    /// Loads the bars from `store`. No bar in the window is an error saying which span the store holds.
    pub fn load(&self, store: &Store) -> Result<Candles> {
        let candles = store.load(&self.symbol, self.interval, &self.range)?;
        if !candles.is_empty() {
            return Ok(candles);
        }
        let all = store.load(&self.symbol, self.interval, &TimeRange::ALL)?;
        let span = match (all.ts.first(), all.ts.last()) {
            (Some(a), Some(b)) => format!("the store holds {} to {}", format_ts(*a), format_ts(*b)),
            _ => "the store file is empty".to_string(),
        };
        Err(Error::invalid(format!(
            "no {} {} bars between --start {} and --end {}; {span}",
            self.symbol,
            self.interval,
            self.start.as_deref().unwrap_or("(first)"),
            self.end.as_deref().unwrap_or("(last)")
        )))
    }
}

/// A backtest to run: strategy, parameters, data and settings.
#[derive(Clone)]
pub struct RunSpec {
    /// The strategy.
    pub strategy: &'static dyn Strategy,
    /// Every parameter value (defaults included).
    pub params: Params,
    /// The bars.
    pub data: DataSpec,
    /// Every setting that changes the numbers.
    pub config: BacktestConfig,
}

impl std::fmt::Debug for RunSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunSpec")
            .field("strategy", &self.strategy.name())
            .field("params", &self.params)
            .field("data", &self.data)
            .field("config", &self.config)
            .finish()
    }
}

impl RunSpec {
    /// `strategy` with `overrides` (`(name, value text)`; unset parameters take their defaults) on
    /// `data` with `config`. Bad parameters and settings are errors naming them.
    pub fn new(
        strategy: &'static dyn Strategy,
        overrides: &[(String, String)],
        data: DataSpec,
        config: BacktestConfig,
    ) -> Result<RunSpec> {
        let params = strategy::resolve_params(strategy, overrides)?;
        config.validate()?;
        Ok(RunSpec {
            strategy,
            params,
            data,
            config,
        })
    }

    /// [`RunSpec::from_playbook`] of the playbook read from `path`: a bad value is bad input (exit 1)
    /// naming the file, never a usage error (nothing on the command line was wrong).
    pub fn from_playbook_file(pb: &Playbook, path: &std::path::Path) -> Result<RunSpec> {
        RunSpec::from_playbook(pb).map_err(|e| Error::invalid(format!("{}: {e}", path.display())))
    }

    /// The strategy, parameters, data window and settings a playbook records.
    pub fn from_playbook(pb: &Playbook) -> Result<RunSpec> {
        let strategy = strategy::lookup(&pb.strategy.name)?;
        let params = strategy::resolve_params(strategy, &pb.strategy.params.to_overrides())?;
        let interval: Interval = pb
            .market
            .interval
            .parse()
            .map_err(|e: Error| Error::invalid(format!("playbook [market] interval: {e}")))?;
        let config = pb.backtest.to_config()?;
        Ok(RunSpec {
            strategy,
            params,
            data: DataSpec {
                symbol: pb.market.symbol.clone(),
                interval,
                range: pb.market.range()?,
                // Nothing was written on the command line.
                start: None,
                end: None,
            },
            config,
        })
    }

    /// Loads the bars of [`RunSpec::data`] from `store`.
    pub fn load(&self, store: &Store) -> Result<Candles> {
        self.data.load(store)
    }

    /// Runs the backtest over `candles` (loaded for this spec), indicators through `cache`.
    pub fn run(&self, candles: &Candles, cache: &IndicatorCache) -> Result<Report> {
        super::backtest(candles, self.strategy, &self.params, &self.config, cache)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::candles::DAY_MS;

    fn store_with_goog_days(days: i64) -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::at(dir.path().join("data"));
        // 2020-01-01 and the following days, flat prices.
        let t0 = 1_577_836_800_000;
        let mut c = Candles::default();
        for i in 0..days {
            c.ts.push(t0 + i * DAY_MS);
            c.open.push(10.0);
            c.high.push(11.0);
            c.low.push(9.0);
            c.close.push(10.0);
            c.volume.push(1.0);
        }
        store
            .merge("GOOG", Interval::Day1, &c, "test", false)
            .unwrap();
        (dir, store)
    }

    #[test]
    fn an_empty_window_says_what_the_store_holds() {
        let (_dir, store) = store_with_goog_days(3);
        let data = DataSpec::new("GOOG", Interval::Day1, Some("2021-01-01"), None).unwrap();
        let e = data.load(&store).unwrap_err().to_string();
        assert_eq!(
            e,
            "no GOOG 1d bars between --start 2021-01-01 and --end (last); \
             the store holds 2020-01-01 to 2020-01-03"
        );
        let all = DataSpec::new("GOOG", Interval::Day1, None, Some("2020-01-02")).unwrap();
        assert_eq!(all.load(&store).unwrap().len(), 2);
    }

    #[test]
    fn a_spec_runs_its_strategy_with_its_settings() {
        let (_dir, store) = store_with_goog_days(40);
        let data = DataSpec::new("GOOG", Interval::Day1, None, None).unwrap();
        let config = BacktestConfig {
            cash: 500.0,
            ..BacktestConfig::default()
        };
        let sma = strategy::lookup("sma_cross").unwrap();
        let overrides = [("fast".to_string(), "5".to_string())];
        let spec = RunSpec::new(sma, &overrides, data, config).unwrap();
        assert_eq!(spec.params.to_json()["fast"], 5);
        let candles = spec.load(&store).unwrap();
        let report = spec.run(&candles, &IndicatorCache::new()).unwrap();
        // Flat prices never cross: no trade, equity stays at the starting cash.
        assert_eq!(report.metrics.num_trades, 0);
        assert_eq!(report.metrics.equity_final, 500.0);
        let bad = RunSpec::new(
            sma,
            &[],
            DataSpec::new("GOOG", Interval::Day1, None, None).unwrap(),
            BacktestConfig {
                cash: -1.0,
                ..config
            },
        );
        assert!(bad.unwrap_err().to_string().contains("--cash -1"));
    }
}
