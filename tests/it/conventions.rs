//! The conventions shell users expect (issue 18, items 10-13): help and default tables that fit 80
//! columns, `--wide`; colour only where it belongs (`--color`, `NO_COLOR`, terminals); timestamps,
//! `--log-file`, `-v`, JSON errors; hints that paste from any folder; completions, man pages,
//! `-j/--threads`, the LICENSE.

use std::path::Path;
use std::process::Command;

use crate::support::{
    self, BACKTEST_SMA_GOOG, BIN, Run, bundled_home, command, flowrex, run, skip_or_fail, write,
};

const ESC: char = '\u{1b}';

fn ok(home: &Path, args: &[&str]) -> Run {
    let r = run(home, args);
    assert_eq!(r.code, 0, "{args:?}: {}{}", r.stdout, r.stderr);
    r
}

/// Width in characters (the tables draw with box characters of one column each).
fn width(line: &str) -> usize {
    line.chars().count()
}

fn widest(text: &str) -> usize {
    text.lines().map(width).max().unwrap_or(0)
}

/// The lines of `text` that belong to a table (the sharp style starts each with a box character).
fn table_lines(text: &str) -> Vec<&str> {
    text.lines()
        .filter(|l| l.starts_with(['┌', '│', '├', '└']))
        .collect()
}

// ---- Item 10: help and tables at 80 columns -----------------------------------------------------

/// The subcommand names listed under "Commands:" in a help text (clap's `help` left out).
fn subcommands(help: &str) -> Vec<String> {
    help.lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .filter(|l| l.starts_with("  ") && !l.starts_with("   "))
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .filter(|c| c != "help")
        .collect()
}

fn help_at(path: &[String], columns: &str) -> String {
    let out = Command::new(BIN)
        .args(path)
        .arg("--help")
        .env("COLUMNS", columns)
        .output()
        .unwrap();
    assert!(out.status.success(), "{path:?}");
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn every_help_text_fits_80_columns() {
    // Walk the whole command tree from the top-level help.
    let mut todo: Vec<Vec<String>> = vec![vec![]];
    let (mut seen, mut over_at_200) = (0, 0);
    while let Some(path) = todo.pop() {
        let help = help_at(&path, "80");
        for l in help.lines() {
            assert!(width(l) <= 80, "{path:?} --help at 80 columns: {l:?}");
        }
        // The same help unwrapped has longer lines: the wrapping is what makes it fit.
        over_at_200 += usize::from(widest(&help_at(&path, "200")) > 80);
        seen += 1;
        for sub in subcommands(&help) {
            let mut p = path.clone();
            p.push(sub);
            todo.push(p);
        }
    }
    // flowrex, 9 subcommands, their subcommands (optimize 1, report 2, risk-check 8, journal 10,
    // paper-trade 11): at least 40 help texts.
    assert!(seen >= 40, "only {seen} help texts found");
    assert!(
        over_at_200 > 10,
        "{over_at_200} help texts are wider at 200 columns"
    );
}

/// `line` split at spaces, with `{pb}` replaced by `pb` (no argument here holds a space).
fn words<'a>(line: &'a str, pb: &'a str) -> Vec<&'a str> {
    line.split_whitespace()
        .map(|w| if w == "{pb}" { pb } else { w })
        .collect()
}

/// How `busy_home` fills its home, in order (`{pb}` is its playbook).
const BUSY: [&str; 7] = [
    "-q optimize --strategy sma_cross --symbol GOOG --interval 1d --commission 0.002 --out {pb} \
     --param fast=5..50:5 --param slow=10..200:10 --constraint fast<slow",
    "-q backtest --playbook {pb} --journal",
    "-q risk-check state --balance 100000 --reason a-test",
    "-q paper-trade mode autonomous --reason a-test",
    "-q paper-trade order --symbol GOOG --interval 1d --side long --units 9 --stop-loss 560 \
     --take-profit 640 --now 2012-06-01",
    "-q paper-trade order --symbol GOOG --interval 1d --side long --units 0.5 --stop-loss 500 \
     --take-profit 1100 --now 2012-12-20",
    "-q paper-trade process --now 2012-12-31",
];

/// A home with the bundled data, a playbook, journal entries, risk state and paper orders, fills,
/// a closed trade and an open position: every default table has rows. Returns it and the playbook.
fn busy_home() -> (tempfile::TempDir, String) {
    let home = bundled_home();
    let h = home.path();
    let toml = "[instruments.GOOG]\nlot_size = 100\n[paper]\nslippage_bps = 0\n";
    write(h, "flowrex.toml", toml);
    let pb = h.join("playbooks/goog.toml").to_str().unwrap().to_string();
    for line in BUSY {
        ok(h, &words(line, &pb));
    }
    (home, pb)
}

/// Every command that prints a default table (`{pb}` is the busy home's playbook).
const TABLES: [&str; 26] = [
    "fetch --list",
    "fetch --verify GOOG/1d",
    "backtest --strategy sma_cross --symbol GOOG --interval 1d",
    "backtest --list-strategies",
    "backtest --list-strategies tori",
    "backtest --playbook {pb} --check",
    "risk-check state",
    "risk-check limits",
    "risk-check decisions",
    "risk-check verify",
    "journal list",
    "journal list --mae",
    "journal show 1",
    "journal stats --mae",
    "journal stats --by symbol",
    "journal analyze --strategy goog --symbol GOOG --source backtest",
    "journal feedback --strategy goog --symbol GOOG --source backtest",
    "journal decisions",
    "journal verify",
    "paper-trade account",
    "paper-trade positions",
    "paper-trade orders --all",
    "paper-trade events 1",
    "paper-trade fills",
    "paper-trade trades",
    "paper-trade mode",
];

#[test]
fn every_default_table_fits_80_columns_and_wide_shows_all() {
    let (home, pb) = busy_home();
    let h = home.path();
    let (mut tables, mut wider) = (0, 0);
    for line in TABLES {
        let args = words(line, &pb);
        let r = run(h, &args);
        assert!(r.code == 0 || r.code == 3, "{line}: {}", r.stderr);
        for l in table_lines(&r.stdout) {
            assert!(
                width(l) <= 80,
                "{line}: a line of {}:\n{}",
                width(l),
                r.stdout
            );
        }
        tables += usize::from(!table_lines(&r.stdout).is_empty());
        // --wide: the same command, every column; some tables are wider than 80 then.
        let mut w = vec!["--wide"];
        w.extend(&args);
        let wide = run(h, &w);
        wider += usize::from(table_lines(&wide.stdout).iter().any(|l| width(l) > 80));
        assert!(
            !wide.stdout.contains("--wide shows"),
            "{line}: {}",
            wide.stdout
        );
    }
    // Some print a list or a sentence (`--list-strategies`, `journal show`); most a table.
    assert!(tables >= 20, "only {tables} commands printed a table");
    assert!(
        wider >= 8,
        "only {wider} tables are wider than 80 with --wide"
    );
}

#[test]
fn a_table_names_the_columns_it_left_out_and_wide_shows_them() {
    let home = bundled_home();
    let h = home.path();
    // The store's table has 8 columns, 105 characters wide with short times (see table_fit).
    let narrow = ok(h, &["fetch", "--list"]).stdout;
    let note = narrow.lines().last().unwrap();
    assert_eq!(
        note,
        "(left out to fit 80 columns: size (bytes), missing bars; --wide shows them)"
    );
    let wide = ok(h, &["--wide", "fetch", "--list"]).stdout;
    let goog = wide.lines().find(|l| l.contains("GOOG")).unwrap();
    // The wide row holds every field `--json fetch --list` has for GOOG 1d (2148 bars: README, "The
    // bundled data"), the file size as the file system reports it.
    let cells: Vec<&str> = goog.split('│').map(str::trim).collect();
    let list = support::json(&ok(h, &["--json", "fetch", "--list"]));
    let g = list
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["symbol"] == "GOOG")
        .unwrap();
    let size = std::fs::metadata(h.join("data/GOOG/1d.parquet"))
        .unwrap()
        .len();
    let missing = g["missing_bars"].to_string();
    let want = [
        "GOOG",
        "1d",
        "2148",
        "2004-08-19",
        "2013-03-01",
        &missing,
        &size.to_string(),
        "ok",
    ];
    assert_eq!(cells[1..=8], want);
    // COLUMNS narrows (or widens) the fit when it is exported.
    let r = Run::of(flowrex(h).args(["fetch", "--list"]).env("COLUMNS", "60"));
    assert!(
        table_lines(&r.stdout).iter().all(|l| width(l) <= 60),
        "{}",
        r.stdout
    );
}

#[test]
fn list_strategies_name_shows_one_strategy() {
    let home = bundled_home();
    let h = home.path();
    let all = ok(h, &["backtest", "--list-strategies"]).stdout;
    assert!(all.contains("sma_cross:") && all.contains("tori:"), "{all}");
    assert!(all.lines().all(|l| width(l) <= 80), "{all}");
    let one = ok(h, &["backtest", "--list-strategies", "sma_cross"]).stdout;
    assert!(one.starts_with("sma_cross: "), "{one}");
    assert!(!one.contains("tori"), "{one}");
    // sma_cross's two parameters, as src/strategy/sma_cross.rs declares them.
    assert!(one.contains("fast (int, default 10)") && one.contains("slow (int, default 20)"));
    assert!(
        one.contains("valid: 2..=100000; search: 10..=200:10"),
        "{one}"
    );
    let json = support::json(&ok(h, &["--json", "backtest", "--list-strategies", "nbb"]));
    assert_eq!(json["strategies"].as_array().unwrap().len(), 1);
    assert_eq!(json["strategies"][0]["name"], "nbb");
    let r = run(h, &["backtest", "--list-strategies", "nope"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("unknown strategy `nope`"), "{}", r.stderr);
}

// ---- Item 11: colour, timestamps, log file, verbosity, JSON errors ------------------------------

/// A backtest with `--start`, which logs one INFO line (the resolved time window).
fn logs() -> Vec<&'static str> {
    command(&BACKTEST_SMA_GOOG, &["--start", "2010"])
}

fn stderr_with(h: &Path, flags: &[&str], env: &[(&str, &str)]) -> String {
    let mut cmd = flowrex(h);
    cmd.args(flags).args(logs()).env_remove("NO_COLOR");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let r = Run::of(&mut cmd);
    assert_eq!(r.code, 0, "{}", r.stderr);
    r.stderr
}

#[test]
fn colour_only_when_asked_or_on_a_terminal_without_no_color() {
    let home = bundled_home();
    let h = home.path();
    // Not a terminal: no colour by default, none with never or NO_COLOR, colour with always.
    assert!(!stderr_with(h, &[], &[]).contains(ESC));
    assert!(!stderr_with(h, &["--color", "never"], &[]).contains(ESC));
    assert!(!stderr_with(h, &["--color", "auto"], &[("NO_COLOR", "1")]).contains(ESC));
    assert!(stderr_with(h, &["--color", "always"], &[]).contains(ESC));
    // clap's help and usage errors follow the flag too.
    let help = Run::of(flowrex(h).args(["--color", "always", "backtest", "--help"]));
    assert!(help.stdout.contains(ESC));
    let help = Run::of(flowrex(h).args(["--color", "never", "backtest", "--help"]));
    assert!(!help.stdout.contains(ESC));
}

/// Runs `flowrex ARGS` with stdout and stderr on a pseudo-terminal (util-linux `script`), returning
/// what the terminal showed, or None when `script` is missing.
fn on_a_terminal(h: &Path, args: &str, no_color: bool) -> Option<String> {
    let line = format!("{BIN} --home {} {args}", h.display());
    let mut cmd = Command::new("script");
    cmd.args(["-qec", &line, "/dev/null"])
        .env_remove("RUST_LOG")
        .env_remove("FLOWREX_HOME")
        .env_remove("NO_COLOR")
        .env_remove("COLUMNS");
    if no_color {
        cmd.env("NO_COLOR", "1");
    }
    let out = cmd.output().ok()?;
    assert!(
        out.status.success(),
        "{line}: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn on_a_terminal_logs_have_colour_and_no_time_unless_no_color() {
    let home = bundled_home();
    let h = home.path();
    let args = logs().join(" ");
    let Some(tty) = on_a_terminal(h, &args, false) else {
        return skip_or_fail(
            "on_a_terminal_logs_have_colour_and_no_time_unless_no_color",
            "util-linux `script` is not installed",
            "apt-get install bsdutils",
        );
    };
    let log = tty.lines().find(|l| l.contains("time window")).unwrap();
    assert!(log.contains(ESC), "{log:?}");
    // No timestamp on a terminal: the line starts with the coloured level, "ESC[32m INFO ESC[0m".
    let level = log.strip_prefix(ESC).and_then(|l| l.split_once('m'));
    assert!(
        level.is_some_and(|(_, rest)| rest.starts_with(" INFO")),
        "{log:?}"
    );
    let plain = on_a_terminal(h, &args, true).unwrap();
    assert!(!plain.contains(ESC), "{plain:?}");
}

#[test]
fn off_a_terminal_log_lines_carry_a_timestamp() {
    let home = bundled_home();
    let err = stderr_with(home.path(), &[], &[]);
    let line = err.lines().find(|l| l.contains("time window")).unwrap();
    // "2026-11-30T12:40:11.597002Z  INFO time window …"
    let (time, rest) = line.split_once(' ').unwrap();
    let t = chrono::DateTime::parse_from_rfc3339(time).unwrap_or_else(|e| panic!("{line}: {e}"));
    let age = chrono::Utc::now().signed_duration_since(t);
    assert!(age.num_seconds().abs() < 600, "{line}");
    assert!(rest.trim_start().starts_with("INFO "), "{line}");
}

#[test]
fn log_file_gets_every_line_with_time_and_no_colour_even_when_quiet() {
    let home = bundled_home();
    let h = home.path();
    let log = h.join("run.log");
    let flags = [
        "--quiet",
        "--color",
        "always",
        "--log-file",
        log.to_str().unwrap(),
    ];
    let err = stderr_with(h, &flags, &[]);
    assert!(
        !err.contains("time window"),
        "--quiet keeps stderr clear: {err}"
    );
    let text = std::fs::read_to_string(&log).unwrap();
    let line = text.lines().find(|l| l.contains("time window")).unwrap();
    assert!(!text.contains(ESC), "{text:?}");
    assert!(chrono::DateTime::parse_from_rfc3339(line.split(' ').next().unwrap()).is_ok());
    // The file is appended to; the final error lands in it too, timestamped.
    let r = run(
        h,
        &[
            "--log-file",
            log.to_str().unwrap(),
            "backtest",
            "--playbook",
            "/nope.toml",
        ],
    );
    assert_eq!(r.code, 1);
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("time window"), "{text}");
    let last = text.lines().last().unwrap();
    assert!(
        last.contains(" error: ") && last.contains("/nope.toml"),
        "{last}"
    );
    // A log file that cannot be opened is an error naming it, before anything runs.
    let r = run(
        h,
        &["--log-file", "/nonexistent-dir/x.log", "fetch", "--list"],
    );
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("--log-file: /nonexistent-dir/x.log"),
        "{}",
        r.stderr
    );
    assert!(r.stdout.is_empty());
}

#[test]
fn verbose_flags_raise_the_level_and_rust_log_wins() {
    let home = bundled_home();
    let h = home.path();
    let debug = |flags: &[&str], rust_log: Option<&str>| {
        let mut cmd = flowrex(h);
        cmd.args(flags).args(["fetch", "--list"]);
        if let Some(v) = rust_log {
            cmd.env("RUST_LOG", v);
        }
        let r = Run::of(&mut cmd);
        assert_eq!(r.code, 0, "{}", r.stderr);
        r.stderr.contains("DEBUG")
    };
    assert!(!debug(&[], None));
    assert!(debug(&["-v"], None));
    assert!(debug(&["-vv"], None));
    assert!(!debug(&["-v"], Some("warn")), "RUST_LOG wins over -v");
    assert!(debug(&[], Some("debug")));
    assert_eq!(run(h, &["-q", "-v", "fetch", "--list"]).code, 2);
}

/// Every stderr line of `r` as JSON (a line that is not JSON fails the test).
fn json_lines(r: &Run) -> Vec<serde_json::Value> {
    r.stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l:?}")))
        .collect()
}

fn message(line: &serde_json::Value) -> &str {
    line["fields"]["message"].as_str().unwrap()
}

#[test]
fn with_log_format_json_every_line_and_the_final_error_are_json() {
    let home = bundled_home();
    let h = home.path();
    // A log line, then a runtime error (exit 1): both JSON; the error is the last line.
    // (--trades under a regular file cannot be written: an I/O error, after the data was loaded.)
    write(h, "blocker", "");
    let blocked = h.join("blocker/t.csv");
    let mut args = vec!["--log-format", "json"];
    args.extend(logs());
    args.extend(["--trades", blocked.to_str().unwrap()]);
    let r = run(h, &args);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let v = json_lines(&r);
    assert!(v.iter().any(|l| message(l).contains("time window")));
    let last = v.last().unwrap();
    assert_eq!(
        (&last["level"], &last["fields"]["exit_code"]),
        (&"ERROR".into(), &1.into())
    );
    assert!(message(last).contains("blocker/t.csv"), "{last}");
    assert!(chrono::DateTime::parse_from_rfc3339(last["timestamp"].as_str().unwrap()).is_ok());
    // A missing playbook: exit 1, the message names the file.
    let r = run(
        h,
        &words("--log-format json backtest --playbook /nope.toml", ""),
    );
    assert_eq!(r.code, 1);
    let last = json_lines(&r).pop().unwrap();
    assert_eq!(last["fields"]["exit_code"], 1);
    assert!(message(&last).contains("/nope.toml"));
    // A usage error found by clap (exit 2) is one JSON line as well.
    let r = run(h, &["--log-format=json", "fetch", "--bogus"]);
    assert_eq!(r.code, 2);
    let v = json_lines(&r);
    assert_eq!(v.len(), 1, "{}", r.stderr);
    assert!(message(&v[0]).contains("--bogus"));
}

// ---- Item 12: relative paths and hints ----------------------------------------------------------

/// A small optimize writing the playbook `out` (relative to the current folder).
const SMALL: &str = "-q optimize --strategy sma_cross --symbol GOOG --interval 1d \
    --param fast=5..10:5 --param slow=20..30:10 --out {pb}";

/// The last stdout line of `SMALL` run in `cwd` with `--home home`, writing `out`.
fn small_optimize(home: &Path, cwd: &Path, out: &str) -> String {
    let mut cmd = support::flowrex_std(home);
    let r = cmd
        .current_dir(cwd)
        .args(words(SMALL, out))
        .output()
        .unwrap();
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let stdout = String::from_utf8(r.stdout).unwrap();
    stdout.lines().last().unwrap().to_string()
}

#[test]
fn relative_paths_are_from_the_current_folder_and_hints_paste_anywhere() {
    let home = bundled_home();
    let (elsewhere, third) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let h = home.path();
    // Run from `elsewhere` with --home: the relative --out lands in the current folder, not the home.
    let last = small_optimize(h, elsewhere.path(), "pb/g.toml");
    assert!(elsewhere.path().join("pb/g.toml").is_file());
    assert!(!h.join("pb").exists());
    let home_abs = std::fs::canonicalize(h).unwrap();
    let pb = std::path::absolute(elsewhere.path().join("pb/g.toml")).unwrap();
    let hint = format!(
        "flowrex --home {} backtest --playbook {} --check",
        home_abs.display(),
        pb.display()
    );
    assert!(last.ends_with(&format!("re-check with: {hint}")), "{last}");
    // The hint works as printed from a third folder (the temp paths hold no spaces).
    let out = Command::new(BIN)
        .args(hint.split(' ').skip(1))
        .current_dir(third.path())
        .env_remove("FLOWREX_HOME")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Run in the home itself (`--home .`): no --home in the hint.
    let last = small_optimize(Path::new("."), h, "g2.toml");
    let pb = home_abs.join("g2.toml");
    let want = format!(
        "re-check with: flowrex backtest --playbook {} --check",
        pb.display()
    );
    assert!(last.ends_with(&want), "{last}");
}

#[test]
fn commands_suggested_in_errors_carry_the_home() {
    let home = bundled_home();
    let h = home.path();
    let elsewhere = tempfile::tempdir().unwrap();
    let args = [
        "backtest",
        "--strategy",
        "sma_cross",
        "--symbol",
        "NOPE",
        "--interval",
        "1d",
    ];
    // From another folder: the library's hint gets `--home <the home, absolute>`.
    let r = Run::of(flowrex(h).current_dir(elsewhere.path()).args(args));
    assert_eq!(r.code, 1);
    let home_abs = std::fs::canonicalize(h).unwrap();
    let want = format!(
        "`flowrex --home {} fetch --provider csv",
        home_abs.display()
    );
    assert!(r.stderr.contains(&want), "{}", r.stderr);
    // From the home itself: the hint as the library wrote it.
    let mut cmd = support::flowrex_std(Path::new("."));
    let out = cmd.current_dir(h).args(args).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("`flowrex fetch --provider csv"), "{err}");
}

// ---- Item 13: completions, man pages, threads, install, license ---------------------------------

#[test]
fn completion_scripts_for_every_shell() {
    let dir = tempfile::tempdir().unwrap();
    for (shell, marker) in [
        ("bash", "complete -F _flowrex"),
        ("zsh", "#compdef flowrex"),
        ("fish", "complete -c flowrex"),
        ("powershell", "Register-ArgumentCompleter"),
        ("elvish", "edit:completion:arg-completer[flowrex]"),
    ] {
        // No home needed, and none is created: completions run while installing.
        let missing = dir.path().join("no-home");
        let r = Run::of(flowrex(&missing).args(["completions", shell]));
        assert_eq!(r.code, 0, "{shell}: {}", r.stderr);
        assert!(r.stdout.contains(marker), "{shell}");
        // Every subcommand and a nested one are offered.
        for word in ["paper-trade", "risk-check", "reset-emergency", "log-format"] {
            assert!(r.stdout.contains(word), "{shell} lacks {word}");
        }
        assert!(!missing.exists());
    }
    let bash = Run::of(flowrex(dir.path()).args(["completions", "bash"]));
    let script = write(dir.path(), "flowrex.bash", &bash.stdout);
    let check = Command::new("bash")
        .arg("-n")
        .arg(&script)
        .status()
        .unwrap();
    assert!(check.success(), "bash -n refuses the script");
    assert_eq!(run(dir.path(), &["completions", "tcsh"]).code, 2);
}

#[test]
fn man_pages_for_the_command_and_every_subcommand() {
    let dir = tempfile::tempdir().unwrap();
    let r = ok(dir.path(), &["man"]);
    assert!(r.stdout.contains(".TH flowrex 1"), "{}", &r.stdout[..200]);
    assert!(r.stdout.contains("paper\\-trade"));
    let out = dir.path().join("man1");
    let r = ok(dir.path(), &["man", "--out", out.to_str().unwrap()]);
    let listed: Vec<&str> = r.stdout.lines().collect();
    for page in [
        "flowrex.1",
        "flowrex-backtest.1",
        "flowrex-risk-check-verify.1",
    ] {
        assert!(out.join(page).is_file(), "{page}");
        assert!(listed.contains(&out.join(page).to_str().unwrap()), "{page}");
    }
    // One page per command, each listed once.
    assert_eq!(std::fs::read_dir(&out).unwrap().count(), listed.len());
    let page = std::fs::read_to_string(out.join("flowrex-backtest.1")).unwrap();
    assert!(page.contains(".TH flowrex-backtest 1") && page.contains("list\\-strategies"));
    // groff renders it without warnings, when installed.
    if let Ok(o) = Command::new("groff")
        .args(["-man", "-Tutf8", "-ww", "-z"])
        .arg(out.join("flowrex.1"))
        .output()
    {
        assert!(
            o.status.success() && o.stderr.is_empty(),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
}

/// A playbook without what differs between two runs of one search (time, name, duration, where
/// the results file went, and the content hash that covers them).
fn comparable(path: &Path) -> toml::Table {
    let mut pb: toml::Table = toml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let meta = pb["playbook"].as_table_mut().unwrap();
    meta.remove("created_at");
    meta.remove("name");
    meta.remove("content_sha256");
    let o = pb["optimization"].as_table_mut().unwrap();
    o.remove("elapsed_s");
    o.remove("results");
    pb
}

#[test]
fn threads_flag_gives_the_same_results_at_any_count() {
    let home = bundled_home();
    let h = home.path();
    let run_with = |j: &str| {
        let out = h.join(format!("j{j}.toml"));
        let line = format!(
            "-q --json -j {j} optimize --strategy sma_cross --symbol GOOG --interval 1d \
             --param fast=5..50:5 --param slow=10..200:10 --constraint fast<slow --out {{pb}}"
        );
        let r = ok(h, &words(&line, out.to_str().unwrap()));
        (
            support::json(&r)["playbook"]["top"].clone(),
            comparable(&out),
        )
    };
    let (top1, pb1) = run_with("1");
    let (top2, pb2) = run_with("2");
    assert_eq!(top1, top2);
    assert_eq!(pb1, pb2);
    // The top list has the 10 best of the 175 feasible candidates.
    assert_eq!(top1.as_array().map(Vec::len), Some(10), "{top1}");
    // The flag reaches the pool, and wins over RAYON_NUM_THREADS.
    let mut cmd = flowrex(h);
    let args = ["-v", "--threads", "3", "fetch", "--list"];
    let r = Run::of(cmd.args(args).env("RAYON_NUM_THREADS", "1"));
    assert!(r.stderr.contains("3 worker threads"), "{}", r.stderr);
    assert_eq!(run(h, &["-j", "0", "fetch", "--list"]).code, 2);
}

#[test]
fn the_license_file_matches_cargo_toml_and_the_readme_installs_locked() {
    let manifest: toml::Table =
        toml::from_str(&std::fs::read_to_string(support::repo().join("Cargo.toml")).unwrap())
            .unwrap();
    assert_eq!(manifest["package"]["license"].as_str(), Some("MIT"));
    let license = std::fs::read_to_string(support::repo().join("LICENSE")).unwrap();
    assert!(license.starts_with("MIT License\n"));
    assert!(license.contains("THE SOFTWARE IS PROVIDED \"AS IS\", WITHOUT WARRANTY OF ANY KIND"));
    let readme = std::fs::read_to_string(support::repo().join("README.md")).unwrap();
    assert!(readme.contains("cargo install --path . --locked"));
    for section in [
        "## Install",
        "### Shell completions and man pages",
        "### Colour and logs",
        "### Relative paths",
    ] {
        assert!(readme.contains(section), "README lacks {section}");
    }
}
