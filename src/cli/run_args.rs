//! The flags `backtest` and `optimize` share, declared once and flattened into both: what to run on
//! ([`TargetArgs`]: strategy, symbol, interval) and how ([`SettingsArgs`]: cash, costs, fill, sizing,
//! stop policy, time window). Also the check of an `optimize --spec` file's keys against clap's own
//! argument ids, so the list of valid keys is never written by hand.
//!
//! The settings flags show the engine's defaults in `--help` (`[default: 10000]`, taken from
//! [`BacktestConfig::default`]), yet parse to `None` unless typed on the command line: a spec file fills
//! what the flags left out, and [`SettingsArgs::config`] applies the engine's defaults last.

use std::path::Path;
use std::str::FromStr;

use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
use clap::parser::ValueSource;
use clap::{ArgMatches, Args, Command, FromArgMatches};
use serde::Deserialize;
use strum::{EnumMessage, VariantNames};

use flowrex::backtest::{DataSpec, RunSpec};
use flowrex::candles::{Interval, TimeRange};
use flowrex::engine::config::DEFAULT_CASH;
use flowrex::engine::{BacktestConfig, Fill, Sizing, StopPolicy};
use flowrex::error::{Error, Result};
use flowrex::outputs::OutputPlan;
use flowrex::strategy::{self, Params, Strategy};

/// A value parser for a word enum of the engine: its possible values are the strum names (the same as
/// serde's), each with its strum message as help. Why not `clap::ValueEnum` on the engine enums: it would
/// put clap into the library's types, which the command line left; strum already names them for serde,
/// playbooks and JSON, so the words are derived once.
fn words<E>() -> impl TypedValueParser<Value = E>
where
    E: VariantNames + FromStr + EnumMessage + Clone + Send + Sync + 'static,
    E::Err: std::error::Error + Send + Sync + 'static,
{
    PossibleValuesParser::new(E::VARIANTS.iter().map(|name| {
        let help = name.parse::<E>().ok().and_then(|v| v.get_message());
        PossibleValue::new(*name).help(help.unwrap_or_default())
    }))
    .try_map(|s| s.parse::<E>())
}

/// Strategy and data (`--strategy`, `--symbol`, `--interval`).
#[derive(Debug, Default, Clone, clap::Args, Deserialize)]
#[serde(default)]
pub struct TargetArgs {
    /// Strategy to run (see backtest --list-strategies).
    #[arg(long)]
    pub strategy: Option<String>,
    /// Symbol in the store (data/<SYMBOL>/<interval>.parquet).
    #[arg(long)]
    pub symbol: Option<String>,
    /// Bar interval: 1m 5m 15m 30m 1h 4h 1d 1w 1M.
    #[arg(long)]
    pub interval: Option<String>,
}

impl TargetArgs {
    /// Each flag not given here taken from `spec`.
    pub fn or(self, spec: TargetArgs) -> TargetArgs {
        TargetArgs {
            strategy: self.strategy.or(spec.strategy),
            symbol: self.symbol.or(spec.symbol),
            interval: self.interval.or(spec.interval),
        }
    }

    /// The strategy (a usage error when not given).
    pub fn strategy(&self) -> Result<&'static dyn Strategy> {
        strategy::lookup(required(&self.strategy, "strategy")?)
    }

    /// The symbol (a usage error when not given).
    pub fn symbol(&self) -> Result<&str> {
        required(&self.symbol, "symbol")
    }

    /// The interval (a usage error when not given or unknown).
    pub fn interval(&self) -> Result<Interval> {
        required(&self.interval, "interval")?
            .parse()
            .map_err(|e: Error| Error::usage(format!("--interval: {e}")))
    }
}

/// A flag that has no default: given on the command line (or in an optimize spec), or a usage error.
fn required<'a>(v: &'a Option<String>, flag: &str) -> Result<&'a str> {
    v.as_deref().ok_or_else(|| {
        Error::usage(format!(
            "--{flag} is required (or set `{}` in --spec FILE.toml)",
            flag.replace('-', "_")
        ))
    })
}

/// The settings flags as `--help` shows them, with the engine's defaults. Only declares the flags:
/// [`SettingsArgs`] reads them back, `None` where not typed.
#[derive(clap::Args)]
struct SettingsFlags {
    /// Starting cash.
    #[arg(long, default_value_t = DEFAULT_CASH)]
    cash: f64,
    /// Commission as a fraction of traded value, charged on entry and on exit (0.002 = 0.2%).
    #[arg(long, default_value_t = BacktestConfig::default().commission)]
    commission: f64,
    /// Spread as a fraction of price; worsens the entry price in the trade's direction.
    #[arg(long, default_value_t = BacktestConfig::default().spread)]
    spread: f64,
    /// When market orders fill.
    #[arg(long, value_parser = words::<Fill>(), default_value_t = Fill::default())]
    fill: Fill,
    /// Close a trade still open at the end (at the last bar's open; its close with --fill close) so it
    /// counts in the trade statistics.
    #[arg(long)]
    close_at_end: bool,
    /// Position size: all (all cash, whole units), fraction (all cash, fractional units), units:N,
    /// pct:P (P% of equity, whole units), risk:P (lose P% of equity at the stop).
    #[arg(long, default_value_t = Sizing::default().to_string(), value_name = "SIZE")]
    size: String,
    /// Which exit wins when one bar reaches both the stop and the target (an open beyond the stop
    /// always exits there); bars where the policies differ count as ambiguous exits.
    #[arg(long, value_parser = words::<StopPolicy>(), default_value_t = StopPolicy::default())]
    stop_policy: StopPolicy,
    /// First bar time to include: 2010, 2010-05, 2010-05-03 or 20100503 (UTC), a datetime
    /// (2010-05-03T14:00:00Z; no offset = UTC), or an epoch of at least 10 digits or with a unit
    /// suffix (1272895200, 1272895200000ms, 86400s).
    #[arg(long, value_name = "TIME")]
    start: Option<String>,
    /// Last bar time to include, in the same formats; a year, month or date includes its whole period
    /// (--end 2012 includes all of 2012).
    #[arg(long, value_name = "TIME")]
    end: Option<String>,
    /// freqtrade's START-END (20200101-20210101, 20200101-, -20210101; dates or 10-digit epochs)
    /// instead of --start/--end. As in freqtrade the end is an instant and is included.
    #[arg(long, value_name = "START-END", conflicts_with_all = ["start", "end"])]
    timerange: Option<String>,
}

/// The settings that change a run's numbers, and its time window; `None` where not given.
#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct SettingsArgs {
    /// `--cash`.
    pub cash: Option<f64>,
    /// `--commission`.
    pub commission: Option<f64>,
    /// `--spread`.
    pub spread: Option<f64>,
    /// `--fill`.
    pub fill: Option<Fill>,
    /// `--close-at-end`.
    pub close_at_end: bool,
    /// `--size`.
    pub size: Option<String>,
    /// `--stop-policy`.
    pub stop_policy: Option<StopPolicy>,
    /// `--start`.
    pub start: Option<String>,
    /// `--end`.
    pub end: Option<String>,
    /// `--timerange`.
    pub timerange: Option<String>,
}

impl FromArgMatches for SettingsArgs {
    fn from_arg_matches(m: &ArgMatches) -> std::result::Result<Self, clap::Error> {
        let flags = SettingsFlags::from_arg_matches(m)?;
        // A value clap filled in from the default was not given.
        let typed = |id: &str| m.value_source(id) == Some(ValueSource::CommandLine);
        Ok(SettingsArgs {
            cash: typed("cash").then_some(flags.cash),
            commission: typed("commission").then_some(flags.commission),
            spread: typed("spread").then_some(flags.spread),
            fill: typed("fill").then_some(flags.fill),
            close_at_end: flags.close_at_end,
            size: typed("size").then_some(flags.size),
            stop_policy: typed("stop_policy").then_some(flags.stop_policy),
            start: flags.start,
            end: flags.end,
            timerange: flags.timerange,
        })
    }

    fn update_from_arg_matches(&mut self, m: &ArgMatches) -> std::result::Result<(), clap::Error> {
        *self = SettingsArgs::from_arg_matches(m)?;
        Ok(())
    }
}

impl Args for SettingsArgs {
    fn augment_args(cmd: Command) -> Command {
        SettingsFlags::augment_args(cmd)
    }

    fn augment_args_for_update(cmd: Command) -> Command {
        SettingsFlags::augment_args_for_update(cmd)
    }
}

impl SettingsArgs {
    /// Each setting not given here taken from `spec` (`--close-at-end` when either sets it). The time
    /// window is one setting: any of `--start`, `--end`, `--timerange` given here replaces the spec's.
    pub fn or(self, spec: SettingsArgs) -> SettingsArgs {
        let window = if self.start.is_some() || self.end.is_some() || self.timerange.is_some() {
            (self.start, self.end, self.timerange)
        } else {
            (spec.start, spec.end, spec.timerange)
        };
        SettingsArgs {
            cash: self.cash.or(spec.cash),
            commission: self.commission.or(spec.commission),
            spread: self.spread.or(spec.spread),
            fill: self.fill.or(spec.fill),
            close_at_end: self.close_at_end || spec.close_at_end,
            size: self.size.or(spec.size),
            stop_policy: self.stop_policy.or(spec.stop_policy),
            start: window.0,
            end: window.1,
            timerange: window.2,
        }
    }

    /// The backtest configuration: what was given, the engine's defaults for the rest; checked.
    pub fn config(&self) -> Result<BacktestConfig> {
        let d = BacktestConfig::default();
        let config = BacktestConfig {
            cash: self.cash.unwrap_or(d.cash),
            commission: self.commission.unwrap_or(d.commission),
            spread: self.spread.unwrap_or(d.spread),
            fill: self.fill.unwrap_or(d.fill),
            close_at_end: self.close_at_end,
            sizing: match &self.size {
                Some(s) => Sizing::parse(s)?,
                None => d.sizing,
            },
            stop_policy: self.stop_policy.unwrap_or(d.stop_policy),
        };
        config.validate()?;
        Ok(config)
    }

    /// The bars of `symbol` `interval` in the `--start`/`--end` (or `--timerange`) window. A window that
    /// was given is said on stderr as resolved (`--start 2010` is 2010-01-01T00:00:00Z), so a time read
    /// other than meant shows before any result.
    pub fn data(&self, symbol: &str, interval: Interval) -> Result<DataSpec> {
        let data = match &self.timerange {
            Some(text) => {
                if self.start.is_some() || self.end.is_some() {
                    return Err(Error::usage(
                        "--timerange replaces --start/--end; give one or the other",
                    ));
                }
                let range = TimeRange::parse_timerange(text)?;
                let (start, end) = text.split_once('-').unwrap_or((text, ""));
                let given = |s: &str| (!s.is_empty()).then(|| s.to_string());
                DataSpec {
                    symbol: symbol.to_string(),
                    interval,
                    range,
                    start: given(start),
                    end: given(end),
                }
            }
            None => DataSpec::new(symbol, interval, self.start.as_deref(), self.end.as_deref())?,
        };
        if let Some(given) = self.window_text() {
            tracing::info!("time window {} ({given})", data.range.describe());
        }
        Ok(data)
    }

    /// The time flags as typed (`--start 2010 --end 2012`), or `None` when none was given.
    fn window_text(&self) -> Option<String> {
        let parts: Vec<String> = [
            ("start", &self.start),
            ("end", &self.end),
            ("timerange", &self.timerange),
        ]
        .iter()
        .filter_map(|(flag, v)| v.as_ref().map(|v| format!("--{flag} {v}")))
        .collect();
        (!parts.is_empty()).then(|| parts.join(" "))
    }
}

/// `plan` with the files `params` name (a signals file) as inputs under `--param NAME`, so that no
/// output (`--trades`, `--results`, a report) can replace the file the run reads.
pub fn param_inputs(plan: OutputPlan, params: &Params) -> OutputPlan {
    params.files().fold(plan, |plan, (name, path)| {
        plan.inputs(&format!("--param {name}"), [path])
    })
}

/// The run the shared flags describe: `target`'s strategy on its symbol and interval with the `--param
/// NAME=VALUE` overrides `params` (unset parameters take their defaults) and `settings`. Bad values are
/// errors naming the flag.
pub fn run_spec(
    target: &TargetArgs,
    params: &[String],
    settings: &SettingsArgs,
) -> Result<RunSpec> {
    let interval = target.interval()?;
    let strategy = target.strategy()?;
    let overrides = params
        .iter()
        .map(|p| strategy::params::split_assignment(p))
        .collect::<Result<Vec<_>>>()?;
    let params = strategy::resolve_params(strategy, &overrides)?;
    let config = settings.config()?;
    let data = settings.data(target.symbol()?, interval)?;
    Ok(RunSpec {
        strategy,
        params,
        data,
        config,
    })
}

/// Checks that every key of the spec file `origin` names one of `A`'s flags (by clap argument id, which
/// is also the field's serde name: `params` for `--param`), except those in `not_in_spec`. The key list
/// comes from clap's own description of `A`, so a new flag is a valid key at once.
///
/// Why not `#[serde(deny_unknown_fields)]`: serde does not support it on a struct with
/// `#[serde(flatten)]` fields, and the shared flags are flattened.
pub fn check_spec_keys<A: Args>(
    spec: &toml::Table,
    origin: &Path,
    not_in_spec: &[&str],
) -> Result<()> {
    let cmd = A::augment_args(Command::new("spec"));
    let keys: Vec<&str> = cmd
        .get_arguments()
        .map(|a| a.get_id().as_str())
        .filter(|id| !not_in_spec.contains(id))
        .collect();
    match spec.keys().find(|k| !keys.contains(&k.as_str())) {
        None => Ok(()),
        Some(unknown) => Err(Error::usage(format!(
            "--spec {}: unknown key `{unknown}`; the keys are: {}",
            origin.display(),
            keys.join(", ")
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{CommandFactory, Parser};

    #[derive(Debug, Parser)]
    struct Both {
        #[command(flatten)]
        target: TargetArgs,
        #[command(flatten)]
        settings: SettingsArgs,
    }

    fn parse(args: &[&str]) -> Both {
        Both::try_parse_from(std::iter::once("x").chain(args.iter().copied())).unwrap()
    }

    #[test]
    fn settings_are_none_unless_typed() {
        let b = parse(&[]);
        assert_eq!(b.settings, SettingsArgs::default());
        assert_eq!(b.settings.config().unwrap(), BacktestConfig::default());
        // Typing a default value still counts as given (a spec file cannot override it).
        let b = parse(&[
            "--cash",
            "10000",
            "--commission",
            "0.002",
            "--spread",
            "0.001",
            "--fill",
            "close",
            "--close-at-end",
            "--size",
            "fraction",
            "--stop-policy",
            "optimistic",
            "--start",
            "2020-01-01",
            "--end",
            "2020-12-31",
        ]);
        let s = &b.settings;
        assert_eq!(
            (s.cash, s.commission, s.spread),
            (Some(10_000.0), Some(0.002), Some(0.001))
        );
        assert_eq!(
            (s.fill, s.stop_policy, s.size.as_deref()),
            (
                Some(Fill::Close),
                Some(StopPolicy::Optimistic),
                Some("fraction")
            )
        );
        assert!(s.close_at_end);
        assert_eq!(
            (s.start.as_deref(), s.end.as_deref()),
            (Some("2020-01-01"), Some("2020-12-31"))
        );
        let c = s.config().unwrap();
        assert_eq!((c.fill, c.sizing), (Fill::Close, Sizing::Fraction));
    }

    #[test]
    fn flags_win_over_the_spec() {
        let flags = parse(&["--cash", "500", "--symbol", "GOOG"]);
        let spec: Both = Both {
            target: toml::from_str("symbol = \"EURUSD\"\ninterval = \"1h\"").unwrap(),
            settings: toml::from_str("cash = 7\ncommission = 0.001\nfill = \"close\"").unwrap(),
        };
        let t = flags.target.or(spec.target);
        let s = flags.settings.or(spec.settings);
        assert_eq!(
            (t.symbol.as_deref(), t.interval.as_deref()),
            (Some("GOOG"), Some("1h"))
        );
        assert_eq!(
            (s.cash, s.commission, s.fill),
            (Some(500.0), Some(0.001), Some(Fill::Close))
        );
    }

    #[test]
    fn the_time_window_is_taken_whole_from_the_flags_or_the_spec() {
        let spec: SettingsArgs = toml::from_str("timerange = \"20200101-20210101\"").unwrap();
        let s = parse(&["--start", "2019"]).settings.or(spec.clone());
        assert_eq!((s.start.as_deref(), s.timerange), (Some("2019"), None));
        let s = parse(&[]).settings.or(spec);
        assert_eq!(s.timerange.as_deref(), Some("20200101-20210101"));
        let r = s.data("GOOG", Interval::Day1).unwrap().range;
        // 1577836800000 ms = 2020-01-01T00:00:00Z; 1609459200000 = 2021-01-01T00:00:00Z (included).
        assert_eq!(
            (r.start, r.end),
            (Some(1_577_836_800_000), Some(1_609_459_200_000))
        );
        let e = Both::try_parse_from(["x", "--timerange", "2020-", "--end", "2021"]).unwrap_err();
        assert_eq!(e.kind(), clap::error::ErrorKind::ArgumentConflict);
    }

    #[test]
    fn word_flags_list_their_values_and_refuse_others() {
        let e = Both::try_parse_from(["x", "--fill", "bogus"]).unwrap_err();
        assert_eq!(e.kind(), clap::error::ErrorKind::InvalidValue);
        let text = e.to_string();
        assert!(
            text.contains("[possible values: next-open, close]"),
            "{text}"
        );
        let help = Both::command().render_long_help().to_string();
        assert!(
            help.contains("next-open: At the next bar's open (the reference behaviour)"),
            "{help}"
        );
        assert!(help.contains("[default: 10000]"), "{help}");
        assert!(help.contains("[default: pessimistic]"), "{help}");
    }

    #[test]
    fn spec_keys_are_the_flag_ids() {
        let origin = Path::new("nightly.toml");
        let ok: toml::Table =
            toml::from_str("strategy = \"sma_cross\"\ncash = 1\nstop_policy = \"optimistic\"")
                .unwrap();
        check_spec_keys::<Both>(&ok, origin, &[]).unwrap();
        let bad: toml::Table = toml::from_str("symbol = \"GOOG\"\nstop-policy = 1").unwrap();
        let e = check_spec_keys::<Both>(&bad, origin, &[]).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        let msg = e.to_string();
        assert!(
            msg.starts_with("--spec nightly.toml: unknown key `stop-policy`; the keys are: "),
            "{msg}"
        );
        assert!(
            msg.contains("close_at_end") && msg.contains("strategy"),
            "{msg}"
        );
        let skipped: toml::Table = toml::from_str("end = \"2020-01-01\"").unwrap();
        let e = check_spec_keys::<Both>(&skipped, origin, &["end"]).unwrap_err();
        assert!(e.to_string().contains("unknown key `end`"), "{e}");
    }
}
