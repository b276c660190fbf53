//! What the integration tests share: homes (empty, or with a copy of the bundled store), the
//! `flowrex` runner and what a finished run printed, candle builders, store and Parquet files.
//!
//! No test runs with the repository itself as its home: a run may lay out folders and files in its
//! home, and the repository must stay as checked out. A home with a copy of `data/` (372 KB, three
//! files) costs 0.5 ms to make and 20 ms to remove (mean of 50, on the shared 2-core machine).

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Output;

use arrow_array::RecordBatch;
use assert_cmd::assert::Assert;
use flowrex::candles::{Bar, Candles, DAY_MS, Interval, TimeRange};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde_json::Value;
use tempfile::TempDir;

/// The `flowrex` executable cargo built for these tests.
pub const BIN: &str = env!("CARGO_BIN_EXE_flowrex");

/// `fetch` arguments of 200,000 synthetic minute bars as `SYN`: data for [`LONG_SEARCH`].
pub const LONG_SEARCH_DATA: [&str; 11] = [
    "fetch",
    "--provider",
    "synthetic",
    "--bars",
    "200000",
    "--seed",
    "5",
    "--symbol",
    "SYN",
    "--interval",
    "1m",
];

/// `optimize` arguments of a search over `SYN` long enough to interrupt or to race (≈ 99,000 sma_cross
/// candidates); add `--out` and the rest.
pub const LONG_SEARCH: [&str; 16] = [
    "--quiet",
    "optimize",
    "--strategy",
    "sma_cross",
    "--symbol",
    "SYN",
    "--interval",
    "1m",
    "--param",
    "fast=2..200",
    "--param",
    "slow=10..1000:2",
    "--constraint",
    "fast < slow",
    "--cash",
    "1000000",
];

// ---- Places -------------------------------------------------------------------------------------

/// A path as a command-line argument.
pub fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// The repository: the bundled store (`data/`) and the fixtures, to read, never a home to run in.
pub fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A file of `tests/fixtures/`.
pub fn fixture(name: &str) -> PathBuf {
    repo().join("tests/fixtures").join(name)
}

/// A fresh, empty home.
pub fn empty_home() -> TempDir {
    tempfile::tempdir().expect("a temporary home")
}

/// A fresh home holding a copy of the bundled store (GOOG 1d, EURUSD 1h, BTCUSD 1M).
pub fn bundled_home() -> TempDir {
    let home = empty_home();
    copy_dir(&repo().join("data"), &home.path().join("data"));
    home
}

/// A [`bundled_home`] with the README's playbook (sma_cross 10/20 on GOOG 1d) copied to
/// `playbooks/goog_sma_cross.toml`, and that path.
pub fn home_with_readme_playbook() -> (TempDir, PathBuf) {
    let home = bundled_home();
    let dir = home.path().join("playbooks");
    std::fs::create_dir_all(&dir).unwrap();
    let pb = dir.join("goog_sma_cross.toml");
    std::fs::copy(repo().join("playbooks/goog_sma_cross.toml"), &pb).unwrap();
    (home, pb)
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// Signs a playbook a test edited as flowrex signs what it writes (`content_sha256` anew): it then
/// stands for a playbook written by another build or on other data, not an edit by hand (which
/// `backtest --check` and `optimize merge` refuse).
pub fn resign(path: &Path) {
    let text = std::fs::read_to_string(path).unwrap();
    flowrex::playbook::Playbook::from_toml(&text, &path.display().to_string())
        .unwrap()
        .save(path)
        .unwrap();
}

/// Edits the TOML playbook at `path` with `edit` and signs it again: what another run or build
/// would have written (see [`resign`]).
pub fn rewrite(path: &Path, edit: impl FnOnce(&mut toml::Table)) {
    let mut doc: toml::Table = std::fs::read_to_string(path).unwrap().parse().unwrap();
    edit(&mut doc);
    std::fs::write(path, toml::to_string(&doc).unwrap()).unwrap();
    resign(path);
}

/// The TOML table `key` of `doc`, to edit.
pub fn table<'a>(doc: &'a mut toml::Table, key: &str) -> &'a mut toml::Table {
    doc.get_mut(key).unwrap().as_table_mut().unwrap()
}

/// Edits `home`'s database behind flowrex's back: drops `table`'s guard triggers, runs `sql`, puts
/// the triggers back (what someone with `sqlite3` can do). Returns how many triggers were dropped and
/// how many rows `sql` changed.
pub fn tamper(home: &Path, table: &str, sql: &str) -> (usize, usize) {
    let c = rusqlite::Connection::open(home.join("flowrex.db")).unwrap();
    let triggers: Vec<(String, String)> = c
        .prepare("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ?1")
        .unwrap()
        .query_map([table], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap();
    for (name, _) in &triggers {
        c.execute(&format!("DROP TRIGGER \"{name}\""), []).unwrap();
    }
    let changed = c.execute(sql, []).unwrap();
    for (_, create) in &triggers {
        c.execute(create, []).unwrap();
    }
    (triggers.len(), changed)
}

/// The README's paper order: long 0.25 GOOG 1d (stop 350, target 1800), placed on 2012-07-03.
pub const PAPER_GOOG_ORDER: [&str; 16] = [
    "paper-trade",
    "order",
    "--symbol",
    "GOOG",
    "--interval",
    "1d",
    "--side",
    "long",
    "--units",
    "0.25",
    "--stop-loss",
    "350",
    "--take-profit",
    "1800",
    "--now",
    "2012-07-03",
];

/// Writes `text` to `dir/name` and returns the path.
pub fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

// ---- Running flowrex ----------------------------------------------------------------------------

/// `flowrex --home HOME` as a plain process (to spawn, kill or feed it), without the caller's
/// `FLOWREX_HOME` and `RUST_LOG`: the developer's environment must not change what it prints.
pub fn flowrex_std(home: &Path) -> std::process::Command {
    let mut cmd = std::process::Command::new(BIN);
    cmd.arg("--home")
        .arg(home)
        .env_remove("FLOWREX_HOME")
        .env_remove("RUST_LOG");
    cmd
}

/// `flowrex --home HOME`, as [`flowrex_std`], to `.output()` or `.assert()`.
pub fn flowrex(home: &Path) -> assert_cmd::Command {
    assert_cmd::Command::from_std(flowrex_std(home))
}

/// A finished run: a `std::process::Output` or an `assert_cmd` `Assert`.
pub trait Finished {
    fn output(&self) -> &Output;
}

impl Finished for Output {
    fn output(&self) -> &Output {
        self
    }
}

impl Finished for Assert {
    fn output(&self) -> &Output {
        self.get_output()
    }
}

/// What a finished command printed on stdout.
pub fn stdout_of(out: &impl Finished) -> String {
    String::from_utf8_lossy(&out.output().stdout).into_owned()
}

/// What a finished command printed on stderr.
pub fn stderr_of(out: &impl Finished) -> String {
    String::from_utf8_lossy(&out.output().stderr).into_owned()
}

/// Stdout as one JSON document.
pub fn stdout_json(out: &impl Finished) -> Value {
    serde_json::from_slice(&out.output().stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not one JSON document ({e}): {}\nstderr: {}",
            stdout_of(out),
            stderr_of(out)
        )
    })
}

/// Stdout of a command that must have succeeded (else the assertion shows exit code and stderr).
pub fn stdout_ok(out: &impl Finished) -> String {
    let o = out.output();
    assert!(
        o.status.success(),
        "flowrex failed ({:?}): {}",
        o.status.code(),
        stderr_of(out)
    );
    stdout_of(out)
}

/// A finished run as text: exit code (-1 when a signal ended it), stdout and stderr.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Runs `cmd` to the end.
    pub fn of(cmd: &mut assert_cmd::Command) -> Run {
        let out = cmd.output().expect("run flowrex");
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: stdout_of(&out),
            stderr: stderr_of(&out),
        }
    }
}

/// `flowrex ARGS` in `home`, run to the end.
pub fn run(home: &Path, args: &[&str]) -> Run {
    Run::of(flowrex(home).args(args))
}

/// The run's stdout as one JSON document.
pub fn json(run: &Run) -> Value {
    serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{e}: {}", run.stdout))
}

// ---- Candles, the store and Parquet files -------------------------------------------------------

/// Bars `(open, high, low, close)` one day apart from 2020-01-06 (a Monday), volume 1.
pub fn candles(bars: &[(f64, f64, f64, f64)]) -> Candles {
    let t0 = 1_578_268_800_000; // 2020-01-06
    Candles::from_bars(
        &bars
            .iter()
            .enumerate()
            .map(|(i, &(open, high, low, close))| Bar {
                ts: t0 + i as i64 * DAY_MS,
                open,
                high,
                low,
                close,
                volume: 1.0,
            })
            .collect::<Vec<_>>(),
    )
}

/// Stores `bars` for `symbol` in `home` and returns the file and its bytes, for byte-identity
/// checks after failures.
pub fn seed(home: &Path, symbol: &str, interval: &str, bars: &[Bar]) -> (PathBuf, Vec<u8>) {
    let store = flowrex::home::Home::layout(home).store();
    let interval: Interval = interval.parse().unwrap();
    store
        .merge(symbol, interval, &Candles::from_bars(bars), "seed", false)
        .unwrap();
    let path = store.path(symbol, interval).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    (path, bytes)
}

/// Every stored bar of `symbol` at `interval` in `home`.
pub fn load(home: &Path, symbol: &str, interval: &str) -> Candles {
    flowrex::home::Home::layout(home)
        .store()
        .load(
            symbol,
            interval.parse::<Interval>().unwrap(),
            &TimeRange::ALL,
        )
        .unwrap()
}

/// Every record batch of a Parquet file (an equity curve, a results table).
pub fn parquet_batches(path: &Path) -> Vec<RecordBatch> {
    ParquetRecordBatchReaderBuilder::try_new(File::open(path).unwrap())
        .unwrap()
        .build()
        .unwrap()
        .map(|batch| batch.unwrap())
        .collect()
}

/// Writes `batch` to `path` as a Parquet file (arrow's writer, default properties).
pub fn write_parquet(path: &Path, batch: &RecordBatch) {
    let file = File::create(path).unwrap();
    let mut w = parquet::arrow::ArrowWriter::try_new(file, batch.schema(), None).unwrap();
    w.write(batch).unwrap();
    w.close().unwrap();
}

// ---- Tools the machine may lack -----------------------------------------------------------------

/// A test that cannot run here because `what` is missing: fails when `CI` is set (CI installs every
/// tool the tests need, see `.ci/run`), else prints a loud SKIPPED notice that the harness's output
/// capture does not swallow (it goes to the stderr handle, not through `eprintln!`).
pub fn skip_or_fail(test: &str, what: &str, fix: &str) {
    use std::io::Write as _;
    if std::env::var_os("CI").is_some() {
        panic!("{test}: {what}, and CI is set: {fix}");
    }
    let _ = writeln!(
        std::io::stderr(),
        "\n**********************************************************************\n\
         SKIPPED {test}: {what}.\n{fix}, or set CI=1 to make this a failure.\n\
         **********************************************************************\n"
    );
}

/// `backtest` of sma_cross on the bundled GOOG 1d: what a test's own flags follow.
pub const BACKTEST_SMA_GOOG: [&str; 7] = [
    "backtest",
    "--strategy",
    "sma_cross",
    "--symbol",
    "GOOG",
    "--interval",
    "1d",
];

/// A command line: `head` (a shared prefix such as [`SMA_GOOG`]) then a test's own `rest`.
pub fn command<'a>(head: &[&'a str], rest: &[&'a str]) -> Vec<&'a str> {
    [head, rest].concat()
}

/// `optimize` of sma_cross on the bundled GOOG 1d: what a test's own `--param`s follow.
pub const SMA_GOOG: [&str; 7] = [
    "optimize",
    "--strategy",
    "sma_cross",
    "--symbol",
    "GOOG",
    "--interval",
    "1d",
];

/// The README's 175-candidate grid: sma_cross on GOOG 1d, fast 5..50:5 × slow 10..200:10, fast < slow.
pub fn readme_grid() -> Vec<&'static str> {
    command(
        &SMA_GOOG,
        &[
            "--param",
            "fast=5..50:5",
            "--param",
            "slow=10..200:10",
            "--constraint",
            "fast < slow",
        ],
    )
}

/// A quiet `optimize` of the small sma_cross space on GOOG 1d (fast 5..10 × slow 20..30:10: 6 × 2
/// candidates) with its playbook written to `out`, then a test's own `rest`.
pub fn optimize_small<'a>(out: &'a Path, rest: &[&'a str]) -> Vec<&'a str> {
    let space = [
        "--param",
        "fast=5..10",
        "--param",
        "slow=20..30:10",
        "--out",
        out.to_str().expect("a UTF-8 path"),
    ];
    [&["--quiet"][..], &SMA_GOOG, &space, rest].concat()
}

/// The sma_cross grid on GOOG 1d the tests search: 3 × 3 = 9 candidates ([`SMA_GOOG`] and two
/// `--param`s).
pub fn grid() -> Vec<&'static str> {
    command(
        &SMA_GOOG,
        &["--param", "fast=5..15:5", "--param", "slow=20..40:10"],
    )
}

/// [`grid`] as a walk-forward search with `windows` (`--train …`, `--test …`), `--json`, its playbook
/// written to `out`.
pub fn walk_forward(home: &Path, windows: &[&str], out: &Path) -> Output {
    flowrex(home)
        .args(grid())
        .args(["--json", "--walk-forward"])
        .args(windows)
        .arg("--out")
        .arg(out)
        .output()
        .unwrap()
}

/// A provider's revision of bar `k` of `home`'s GOOG 1d: its close moves to its open (inside the bar's
/// range), imported with `fetch --replace`. Returns the bars as they were.
pub fn revise_goog_close(home: &Path, k: usize) -> flowrex::candles::Candles {
    let c = load(home, "GOOG", "1d");
    assert_ne!(c.close[k], c.open[k]);
    let day = chrono::DateTime::from_timestamp_millis(c.ts[k])
        .unwrap()
        .format("%Y-%m-%d");
    let csv = format!(
        "date,open,high,low,close,volume\n{day},{},{},{},{},{}\n",
        c.open[k], c.high[k], c.low[k], c.open[k], c.volume[k]
    );
    let file = write(home, "one.csv", &csv);
    stdout_ok(
        &flowrex(home)
            .args(["--quiet", "fetch", "--provider", "csv", "--symbol", "GOOG"])
            .args(["--interval", "1d", "--replace", "--file", p(&file)])
            .output()
            .unwrap(),
    );
    c
}
