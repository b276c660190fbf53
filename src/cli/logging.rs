//! Logs on stderr (and in `--log-file`): the level (`RUST_LOG`, else `-v`/`-vv`/`--quiet`), colour
//! (`--color auto|always|never`, `NO_COLOR`), timestamps when stderr is not a terminal, the JSON form,
//! and the process's last line, the final error, in the same form as the logs.
//!
//! The rules, as the README states them:
//! - colour only with `--color always`, or `auto` (the default) when stderr is a terminal and `NO_COLOR`
//!   is unset or empty; never in `--log-file`;
//! - a timestamp (RFC 3339, UTC) on every log line when stderr is not a terminal (a cron log, a pipe)
//!   and always in `--log-file`; a terminal gets none (the reader is watching the clock). The final
//!   `error: …` line is the command's answer, not a log line, and stays as compilers print it (its
//!   copy in `--log-file` is timestamped);
//! - `--log-file FILE` appends every log line at the level `RUST_LOG`/`-v` give, also under `--quiet`
//!   (so `--quiet --log-file run.log` is the cron form: nothing on stderr but errors, all in the file);
//! - with `--log-format json` every line, the final error included, is one JSON object.

use std::fs::File;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use tracing_subscriber::EnvFilter;
use tracing_subscriber::Layer;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use super::{GlobalArgs, LogFormat};
use flowrex::error::{Error, Result};
use flowrex::home::Home;
use flowrex::outputs::OutputPlan;

/// `--color`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ColorChoice {
    /// Colour when stderr is a terminal and NO_COLOR is unset or empty.
    #[default]
    Auto,
    /// Always colour (also in pipes; wins over NO_COLOR).
    Always,
    /// Never colour.
    Never,
}

impl ColorChoice {
    /// Whether log lines on a stream that `is_terminal` get ANSI colour, with `no_color` the value of
    /// `NO_COLOR` (no-color.org: set and not empty means no colour).
    pub fn colour(self, is_terminal: bool, no_color: Option<&str>) -> bool {
        match self {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => is_terminal && no_color.is_none_or(str::is_empty),
        }
    }

    /// clap's own choice for help and usage errors.
    pub fn for_clap(self) -> clap::ColorChoice {
        match self {
            // clap's auto already checks the terminal and NO_COLOR.
            ColorChoice::Auto => clap::ColorChoice::Auto,
            ColorChoice::Always => clap::ColorChoice::Always,
            ColorChoice::Never => clap::ColorChoice::Never,
        }
    }
}

/// The log level when `RUST_LOG` is not set: `error` with `--quiet`, else `info`, `debug` (`-v`) or
/// `trace` (`-vv` and more).
pub fn default_level(quiet: bool, verbose: u8) -> &'static str {
    match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "info",
        (false, 1) => "debug",
        (false, _) => "trace",
    }
}

/// The `--log-file`, shared by the log layer and the final error.
#[derive(Clone)]
struct SharedFile(Arc<Mutex<File>>);

impl Write for SharedFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).flush()
    }
}

impl<'a> MakeWriter<'a> for SharedFile {
    type Writer = SharedFile;

    fn make_writer(&'a self) -> SharedFile {
        self.clone()
    }
}

/// What `main` needs after the logs are set up: how to write the final error.
pub struct Logs {
    format: LogFormat,
    file: Option<(PathBuf, SharedFile)>,
}

/// Sets up `tracing` on stderr (and `--log-file`) as the module documentation says. A log file that
/// cannot be opened is an error naming it (the command has not started).
pub fn init(global: &GlobalArgs) -> Result<Logs> {
    let stderr_terminal = std::io::stderr().is_terminal();
    let no_color = std::env::var("NO_COLOR").ok();
    let colour = global.color.colour(stderr_terminal, no_color.as_deref());
    let timestamps = !stderr_terminal;
    let filter = |quiet: bool| {
        EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| EnvFilter::new(default_level(quiet, global.verbose)))
    };
    let file = match &global.log_file {
        Some(path) => {
            // Log lines appended to a store file or the database would damage it.
            let home = global.home.as_deref().unwrap_or(std::path::Path::new("."));
            OutputPlan::new(&Home::layout(home)).check_appended("--log-file", path)?;
            let f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|e| Error::invalid(format!("--log-file: {}: {e}", path.display())))?;
            Some((path.clone(), SharedFile(Arc::new(Mutex::new(f)))))
        }
        None => None,
    };
    let json = global.log_format == LogFormat::Json;
    let stderr_layer =
        layer(std::io::stderr, json, colour, timestamps).with_filter(filter(global.quiet));
    let file_layer = file
        .as_ref()
        .map(|(_, w)| layer(w.clone(), json, false, true).with_filter(filter(false)));
    let _ = tracing_subscriber::registry()
        .with(stderr_layer)
        .with(file_layer)
        .try_init();
    Ok(Logs {
        format: global.log_format,
        file,
    })
}

/// One fmt layer writing to `w`: JSON or text, with or without colour and timestamps.
fn layer<S, W>(
    w: W,
    json: bool,
    colour: bool,
    timestamps: bool,
) -> Box<dyn Layer<S> + Send + Sync + 'static>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let base = tracing_subscriber::fmt::layer()
        .with_writer(w)
        .with_target(false)
        .with_ansi(colour);
    match (json, timestamps) {
        (true, _) => base.json().boxed(),
        (false, true) => base.boxed(),
        (false, false) => base.without_time().boxed(),
    }
}

impl Logs {
    /// Writes the final error `message` (exit code `code`): `error: …` on stderr, or one JSON line with
    /// `--log-format json`; also appended to `--log-file`.
    pub fn final_error(&self, message: &str, code: i32) {
        // JSON lines always carry the time, as tracing's do; the text line does not (see above).
        let json = self.format == LogFormat::Json;
        let line = self.error_line(message, code, json);
        let _ = writeln!(std::io::stderr(), "{line}");
        if let Some((_, file)) = &self.file {
            let line = self.error_line(message, code, true);
            let _ = writeln!(file.clone(), "{line}");
        }
    }

    fn error_line(&self, message: &str, code: i32, timestamp: bool) -> String {
        error_line(self.format, message, code, timestamp.then(now))
    }
}

/// The current time as the log lines write it.
pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

/// The final error's line: `error: MESSAGE` (after the time, when given), or with `json` the object
/// `{"timestamp":…,"level":"ERROR","fields":{"message":…,"exit_code":…}}` — the shape of tracing's JSON
/// log lines, so a log shipper reads it like the others.
pub fn error_line(format: LogFormat, message: &str, code: i32, time: Option<String>) -> String {
    match format {
        LogFormat::Text => match time {
            Some(t) => format!("{t} error: {message}"),
            None => format!("error: {message}"),
        },
        LogFormat::Json => {
            let mut o = serde_json::json!({
                "level": "ERROR",
                "fields": {"message": message, "exit_code": code},
            });
            if let Some(t) = time {
                o["timestamp"] = t.into();
            }
            o.to_string()
        }
    }
}

/// What the command line asks for before clap has parsed it, for clap's own output (help, usage
/// errors): `--color` and `--log-format`. Only the forms `--flag VALUE` and `--flag=VALUE` are read;
/// anything else leaves the default.
pub fn early_flags(args: &[std::ffi::OsString]) -> (ColorChoice, LogFormat) {
    let mut color = ColorChoice::Auto;
    let mut format = LogFormat::Text;
    let words: Vec<&str> = args.iter().filter_map(|a| a.to_str()).collect();
    for (i, w) in words.iter().enumerate() {
        let value = |flag: &str| {
            w.strip_prefix(flag)
                .and_then(|rest| rest.strip_prefix('='))
                .or_else(|| (*w == flag).then(|| words.get(i + 1).copied()).flatten())
        };
        if let Some(v) = value("--color") {
            color = clap::ValueEnum::from_str(v, true).unwrap_or(color);
        }
        if let Some(v) = value("--log-format") {
            format = clap::ValueEnum::from_str(v, true).unwrap_or(format);
        }
    }
    (color, format)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_follows_the_flag_the_terminal_and_no_color() {
        use ColorChoice::*;
        // (choice, terminal, NO_COLOR) → colour
        let cases = [
            (Auto, true, None, true),
            (Auto, false, None, false),
            (Auto, true, Some("1"), false),
            // no-color.org: an empty NO_COLOR does not count.
            (Auto, true, Some(""), true),
            (Always, false, Some("1"), true),
            (Never, true, None, false),
        ];
        for (choice, terminal, no_color, want) in cases {
            assert_eq!(
                choice.colour(terminal, no_color),
                want,
                "{choice:?} {terminal} {no_color:?}"
            );
        }
    }

    #[test]
    fn levels_from_quiet_and_verbose() {
        assert_eq!(default_level(false, 0), "info");
        assert_eq!(default_level(false, 1), "debug");
        assert_eq!(default_level(false, 2), "trace");
        assert_eq!(default_level(false, 5), "trace");
        assert_eq!(default_level(true, 0), "error");
    }

    #[test]
    fn the_final_error_in_text_and_json() {
        assert_eq!(error_line(LogFormat::Text, "bad", 1, None), "error: bad");
        assert_eq!(
            error_line(LogFormat::Text, "bad", 1, Some("T".into())),
            "T error: bad"
        );
        let v: serde_json::Value = serde_json::from_str(&error_line(
            LogFormat::Json,
            "a \"quoted\"\nline",
            2,
            Some("T".into()),
        ))
        .unwrap();
        assert_eq!(v["level"], "ERROR");
        assert_eq!(v["fields"]["message"], "a \"quoted\"\nline");
        assert_eq!(v["fields"]["exit_code"], 2);
        assert_eq!(v["timestamp"], "T");
    }

    #[test]
    fn early_flags_read_both_spellings() {
        let os = |v: &[&str]| v.iter().map(std::ffi::OsString::from).collect::<Vec<_>>();
        assert_eq!(
            early_flags(&os(&["flowrex", "--color=never", "backtest"])),
            (ColorChoice::Never, LogFormat::Text)
        );
        assert_eq!(
            early_flags(&os(&[
                "flowrex",
                "x",
                "--log-format",
                "json",
                "--color",
                "always"
            ])),
            (ColorChoice::Always, LogFormat::Json)
        );
        assert_eq!(
            early_flags(&os(&["flowrex", "--color"])),
            (ColorChoice::Auto, LogFormat::Text)
        );
    }
}
