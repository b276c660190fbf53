//! Metrics for cron: Prometheus text exposition format 0.0.4 as node_exporter's textfile collector
//! reads it (`--metrics-file PATH.prom` on `optimize` and `fetch`; `paper-trade run` is meant to use
//! [`TextFile`] too). Gauges only, `flowrex_` names in base units (seconds, rows), `# HELP` and `# TYPE`
//! once per name, no sample timestamps (the collector refuses them), written atomically in the target's
//! own folder (a temp file named `.<file>.<random>.tmp`, which the collector ignores: it reads `*.prom`).
//!
//! Several cron jobs usually write several files into one collector folder, and the collector refuses
//! a name with the same labels in two files, so each job labels its samples (playbook, symbol, …).

use std::fmt::Write as _;
use std::path::Path;

use crate::error::{Error, Result};

/// The prefix of every metric name.
pub const PREFIX: &str = "flowrex_";

/// One gauge sample: name, help, labels, value.
#[derive(Debug, Clone, PartialEq)]
struct Sample {
    name: String,
    help: String,
    labels: Vec<(String, String)>,
    value: f64,
}

/// A set of gauges to write as one textfile.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TextFile {
    samples: Vec<Sample>,
}

impl TextFile {
    /// An empty file.
    pub fn new() -> TextFile {
        TextFile::default()
    }

    /// Adds gauge `name` (it must start with `flowrex_` and be a valid metric name) with `help`, the
    /// label pairs `labels` and `value`. Samples of one name share the first sample's help text.
    pub fn gauge(
        &mut self,
        name: &str,
        help: &str,
        labels: &[(&str, &str)],
        value: f64,
    ) -> Result<&mut TextFile> {
        if !name.starts_with(PREFIX) || !valid_name(name, true) {
            return Err(Error::invalid(format!(
                "metric name `{name}`: must start with {PREFIX} and use only [a-zA-Z0-9_:]"
            )));
        }
        if let Some((bad, _)) = labels
            .iter()
            .find(|(k, _)| !valid_name(k, false) || k.starts_with("__"))
        {
            return Err(Error::invalid(format!(
                "metric {name}: label name `{bad}` is not valid"
            )));
        }
        self.samples.push(Sample {
            name: name.to_string(),
            help: help.to_string(),
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            value,
        });
        Ok(self)
    }

    /// The text: per name (in first-seen order) `# HELP`, `# TYPE name gauge`, then its samples.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let mut names: Vec<&str> = Vec::new();
        for s in &self.samples {
            if !names.contains(&s.name.as_str()) {
                names.push(&s.name);
            }
        }
        for name in names {
            let mut samples = self.samples.iter().filter(|s| s.name == name).peekable();
            let help = samples.peek().map_or("", |s| s.help.as_str());
            let _ = writeln!(out, "# HELP {name} {}", escape_help(help));
            let _ = writeln!(out, "# TYPE {name} gauge");
            for s in samples {
                out.push_str(name);
                if !s.labels.is_empty() {
                    let pairs: Vec<String> = s
                        .labels
                        .iter()
                        .map(|(k, v)| format!("{k}=\"{}\"", escape_label(v)))
                        .collect();
                    let _ = write!(out, "{{{}}}", pairs.join(","));
                }
                let _ = writeln!(out, " {}", number(s.value));
            }
        }
        out
    }

    /// Adds the job's last-success gauge `name`: now when this run `succeeded`, else the value the
    /// previous file at `path` held (so `time() - name` keeps growing while runs fail); nothing when
    /// the job never succeeded.
    pub fn last_success(
        &mut self,
        name: &str,
        help: &str,
        labels: &[(&str, &str)],
        succeeded: bool,
        path: &Path,
    ) -> Result<&mut TextFile> {
        let last = if succeeded {
            Some(now_seconds())
        } else {
            previous_value(path, name)
        };
        match last {
            Some(t) => self.gauge(name, help, labels, t),
            None => Ok(self),
        }
    }

    /// Writes [`TextFile::render`] to `path` atomically (temp file in the same folder, rename).
    pub fn write(&self, path: &Path) -> Result<()> {
        crate::atomic::write_atomic(path, self.render().as_bytes())
    }
}

/// The value of the first sample of metric `name` in the textfile at `path` (whatever its labels), or
/// `None` when the file, the metric or a readable value is missing: how a failed run carries the last
/// success time over instead of dropping it.
pub fn previous_value(path: &Path, name: &str) -> Option<f64> {
    let text = std::fs::read_to_string(path).ok()?;
    text.lines().find_map(|line| {
        let rest = line.strip_prefix(name)?;
        let rest = match rest.strip_prefix('{') {
            Some(r) => &r[r.rfind('}')? + 1..],
            None => rest,
        };
        rest.strip_prefix(' ')?.trim().parse().ok()
    })
}

/// The current time in seconds since the epoch (for `…_timestamp_seconds`).
pub fn now_seconds() -> f64 {
    chrono::Utc::now().timestamp_millis() as f64 / 1000.0
}

fn valid_name(name: &str, colon: bool) -> bool {
    let ok = |c: char, first: bool| {
        c.is_ascii_alphabetic() || c == '_' || (colon && c == ':') || (!first && c.is_ascii_digit())
    };
    let mut chars = name.chars();
    chars.next().is_some_and(|c| ok(c, true)) && chars.all(|c| ok(c, false))
}

fn escape_help(s: &str) -> String {
    s.replace('\\', "\\\\").replace('\n', "\\n")
}

fn escape_label(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// A sample value as the format writes it: Go's float syntax, `NaN`, `+Inf`, `-Inf`.
fn number(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else {
        format!("{v}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_help_type_and_escaped_labels_once_per_name() {
        let mut f = TextFile::new();
        f.gauge(
            "flowrex_x_rows",
            "Rows\\added\nnow",
            &[("symbol", "A\"B")],
            3.0,
        )
        .unwrap();
        f.gauge("flowrex_x_rows", "ignored", &[("symbol", "C\\D")], 0.5)
            .unwrap();
        f.gauge("flowrex_x_seconds", "Time", &[], f64::NAN).unwrap();
        assert_eq!(
            f.render(),
            "# HELP flowrex_x_rows Rows\\\\added\\nnow\n# TYPE flowrex_x_rows gauge\n\
             flowrex_x_rows{symbol=\"A\\\"B\"} 3\nflowrex_x_rows{symbol=\"C\\\\D\"} 0.5\n\
             # HELP flowrex_x_seconds Time\n# TYPE flowrex_x_seconds gauge\nflowrex_x_seconds NaN\n"
        );
    }

    #[test]
    fn bad_names_are_refused() {
        let mut f = TextFile::new();
        assert!(f.gauge("x_rows", "", &[], 1.0).is_err());
        assert!(f.gauge("flowrex_a-b", "", &[], 1.0).is_err());
        assert!(f.gauge("flowrex_ok", "", &[("1x", "v")], 1.0).is_err());
        assert!(f.gauge("flowrex_ok", "", &[("__x", "v")], 1.0).is_err());
        assert!(f.samples.is_empty());
    }

    #[test]
    fn the_previous_value_is_read_back_whatever_the_labels() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.prom");
        let mut f = TextFile::new();
        f.gauge("flowrex_a_seconds_total_x", "", &[], 9.0).unwrap();
        f.gauge("flowrex_a_seconds", "h", &[("p", "x}y")], 1_700_000_000.5)
            .unwrap();
        f.write(&path).unwrap();
        assert_eq!(
            previous_value(&path, "flowrex_a_seconds"),
            Some(1_700_000_000.5)
        );
        assert_eq!(previous_value(&path, "flowrex_b"), None);
        assert_eq!(previous_value(&dir.path().join("none"), "flowrex_a"), None);
    }
}
