//! Output files (`optimize --out/--results/--report`, `optimize merge --out/--results`, `backtest
//! --trades/--equity/--report`, `report … --out`): never
//! inside the candle store, never over an input, a special file or the other output; a symlink is
//! written through to its target; an unwritable place fails before the search; two runs never mix their
//! outputs; temp files a killed run left beside an output are cleaned.

use std::path::{Path, PathBuf};
use std::process::{Child, Output};
use std::time::{Duration, Instant};

use crate::support::{
    BACKTEST_SMA_GOOG, LONG_SEARCH, LONG_SEARCH_DATA, SMA_GOOG, bundled_home, command, empty_home,
    flowrex as flowrex_cmd, flowrex_std, p, parquet_batches, stderr_of, stdout_ok,
};

/// `flowrex --quiet ARGS` on `home`.
fn run(home: &Path, args: &[&str]) -> Output {
    flowrex_cmd(home)
        .arg("--quiet")
        .args(args)
        .output()
        .expect("run flowrex")
}

/// A small sma_cross search on the bundled GOOG data (12 candidates), with `extra` arguments.
fn optimize(home: &Path, extra: &[&str]) -> Output {
    let mut args = SMA_GOOG.to_vec();
    args.extend(["--param", "fast=5..15:5", "--param", "slow=20..50:10"]);
    args.extend(extra);
    run(home, &args)
}

/// A refusal: exit 2 and one stderr line holding every piece of `want`.
fn assert_refused(out: &Output, want: &[&str]) {
    let err = stderr_of(out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    for w in want {
        assert!(err.contains(w), "expected `{w}` in: {err}");
    }
}

/// Every file name under `dir` (recursively, relative), sorted.
fn files(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let path = e.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path.strip_prefix(dir).unwrap().display().to_string());
            }
        }
    }
    out.sort();
    out
}

fn bytes(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap()
}

fn load_toml(path: &Path) -> toml::Table {
    toml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn an_output_inside_the_candle_store_is_refused_and_the_bars_stay() {
    let home = bundled_home();
    let h = home.path();
    let data = h.join("data");
    let goog = data.join("GOOG").join("1d.parquet");
    let before = bytes(&goog);
    let listing = files(&data);
    // The store file itself, a new file beside it, and the same place spelled through `..`.
    let through_dots = h.join("playbooks").join("..").join("data/GOOG/1d.parquet");
    for (args, flag) in [
        (vec!["--out", p(&goog)], "--out"),
        (vec!["--out", p(&through_dots)], "--out"),
        (
            vec![
                "--out",
                p(&h.join("pb.toml")),
                "--results",
                p(&data.join("GOOG/results.parquet")),
            ],
            "--results",
        ),
    ] {
        let out = optimize(h, &args);
        assert_refused(&out, &[flag, "inside the candle store"]);
    }
    let report = optimize(h, &["--out", p(&h.join("pb.toml")), "--report", p(&goog)]);
    assert_refused(&report, &["--report", "inside the candle store"]);
    let page = run(
        h,
        &[&["report"][..], &BACKTEST_SMA_GOOG, &["--out", p(&goog)]].concat(),
    );
    assert_refused(&page, &["--out", "inside the candle store"]);
    for flag in ["--trades", "--equity", "--report"] {
        let target = data.join("GOOG").join("x.parquet");
        let out = run(h, &command(&BACKTEST_SMA_GOOG, &[flag, p(&target)]));
        assert_refused(&out, &[flag, "inside the candle store"]);
    }
    assert_eq!(bytes(&goog), before, "the candles were replaced");
    assert_eq!(files(&data), listing, "files appeared in the store");
    assert!(!h.join("pb.toml").exists());
}

#[test]
fn an_output_never_replaces_an_input() {
    let home = bundled_home();
    let h = home.path();
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a.toml"), dir.path().join("b.toml"));
    stdout_ok(&optimize(h, &["--shard", "1/2", "--out", p(&a)]));
    stdout_ok(&optimize(h, &["--shard", "2/2", "--out", p(&b)]));
    let (a0, b0) = (bytes(&a), bytes(&b));

    // merge writing over one of its parts.
    let out = run(h, &["optimize", "merge", p(&a), p(&b), "--out", p(&b)]);
    assert_refused(&out, &["--out", "b.toml", "is also an input"]);
    // backtest writing its trades over the playbook it re-runs.
    let out = run(h, &["backtest", "--playbook", p(&a), "--trades", p(&a)]);
    assert_refused(&out, &["--trades", "is also an input"]);
    // optimize writing its playbook over its own spec file.
    let spec = dir.path().join("spec.toml");
    let spec_text = format!(
        "strategy = \"sma_cross\"\nsymbol = \"GOOG\"\ninterval = \"1d\"\nparams = [\"fast=5..15:5\"]\n\
         out = \"{}\"\n",
        p(&spec)
    );
    std::fs::write(&spec, &spec_text).unwrap();
    let out = run(h, &["optimize", "--spec", p(&spec)]);
    assert_refused(&out, &["--out", "is also an input"]);

    assert_eq!((bytes(&a), bytes(&b)), (a0, b0));
    assert_eq!(std::fs::read_to_string(&spec).unwrap(), spec_text);
}

#[test]
fn two_outputs_with_one_path_are_refused() {
    let home = bundled_home();
    let h = home.path();
    let dir = tempfile::tempdir().unwrap();
    let x = dir.path().join("x.parquet");
    let out = optimize(h, &["--out", p(&x), "--results", p(&x)]);
    assert_refused(&out, &["--results", "--out", "same file"]);
    // Spelled differently, the same file.
    let spelled = dir.path().join(".").join("x.parquet");
    let out = run(
        h,
        &command(
            &BACKTEST_SMA_GOOG,
            &["--trades", p(&x), "--equity", p(&spelled)],
        ),
    );
    assert_refused(&out, &["--equity", "--trades", "same file"]);
    assert!(files(dir.path()).is_empty(), "{:?}", files(dir.path()));
}

#[cfg(unix)]
#[test]
fn a_special_file_or_folder_is_refused_not_replaced() {
    use std::os::unix::fs::FileTypeExt;
    let home = bundled_home();
    let h = home.path();
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("pipe.toml");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let out = optimize(h, &["--out", p(&fifo)]);
    assert_refused(&out, &["--out", "not a regular file"]);
    assert!(
        std::fs::symlink_metadata(&fifo)
            .unwrap()
            .file_type()
            .is_fifo()
    );

    let folder = dir.path().join("folder.parquet");
    std::fs::create_dir(&folder).unwrap();
    let out = optimize(
        h,
        &[
            "--out",
            p(&dir.path().join("pb.toml")),
            "--results",
            p(&folder),
        ],
    );
    assert_refused(&out, &["--results", "not a regular file"]);
    assert!(folder.is_dir());
    assert!(!dir.path().join("pb.toml").exists());
}

#[cfg(unix)]
#[test]
fn a_symlink_is_written_through_and_one_into_the_store_is_refused() {
    use std::os::unix::fs::symlink;
    let home = bundled_home();
    let h = home.path();
    let dir = tempfile::tempdir().unwrap();
    // latest.toml -> runs/real.toml: the link stays, its target gets the playbook.
    std::fs::create_dir(dir.path().join("runs")).unwrap();
    let real = dir.path().join("runs/real.toml");
    std::fs::write(&real, "old").unwrap();
    let link = dir.path().join("latest.toml");
    symlink("runs/real.toml", &link).unwrap();
    // "old" is not a playbook, which optimize replaces only with --force (issue 18 item 6).
    stdout_ok(&optimize(h, &["--out", p(&link), "--force"]));
    assert!(
        std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(
        std::fs::read_link(&link).unwrap(),
        Path::new("runs/real.toml")
    );
    let pb = load_toml(&real);
    assert_eq!(pb["strategy"]["name"].as_str(), Some("sma_cross"));

    // A dangling link: its target is created.
    let dangling = dir.path().join("next.toml");
    symlink("runs/next-real.toml", &dangling).unwrap();
    stdout_ok(&optimize(h, &["--out", p(&dangling)]));
    assert!(
        std::fs::symlink_metadata(&dangling)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert!(load_toml(&dir.path().join("runs/next-real.toml")).contains_key("strategy"));

    // A link into the store: refused, the candles untouched, the link untouched.
    let goog = h.join("data/GOOG/1d.parquet");
    let before = bytes(&goog);
    let sneaky = dir.path().join("sneaky.toml");
    symlink(&goog, &sneaky).unwrap();
    let out = optimize(h, &["--out", p(&sneaky)]);
    assert_refused(&out, &["--out", "inside the candle store"]);
    assert_eq!(bytes(&goog), before);
    assert_eq!(std::fs::read_link(&sneaky).unwrap(), goog);
}

#[test]
fn an_unwritable_output_fails_before_the_search_and_writes_nothing() {
    let home = bundled_home();
    let h = home.path();
    let dir = tempfile::tempdir().unwrap();
    // A folder that cannot be made: its parent is a file (root may write anywhere else).
    let blocker = dir.path().join("blocker");
    std::fs::write(&blocker, "a file").unwrap();
    let results = dir.path().join("results.parquet");
    let started = Instant::now();
    let out = optimize(
        h,
        &[
            "--results",
            p(&results),
            "--out",
            p(&blocker.join("pb.toml")),
        ],
    );
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("--out") && err.contains("blocker"), "{err}");
    // Nothing was searched, so nothing was written: before this rule the results file appeared and
    // only the playbook failed, after the search.
    assert_eq!(files(dir.path()), vec!["blocker".to_string()]);
    assert!(started.elapsed() < Duration::from_secs(30));
}

#[test]
fn temp_files_a_killed_run_left_beside_the_outputs_are_removed() {
    let home = bundled_home();
    let h = home.path();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for name in [
        ".pb.toml.a1B2c3.tmp",
        ".results.parquet.Zz9.tmp",
        ".results.parquet.second.tmp",
        // Another file's temp and a file of the user: kept.
        ".other.toml.a1B2c3.tmp",
        "notes.tmp",
    ] {
        std::fs::write(d.join(name), "left over").unwrap();
    }
    stdout_ok(&optimize(
        h,
        &[
            "--out",
            p(&d.join("pb.toml")),
            "--results",
            p(&d.join("results.parquet")),
        ],
    ));
    let left: Vec<String> = files(d)
        .into_iter()
        .filter(|f| f.ends_with(".tmp"))
        .collect();
    assert_eq!(left, vec![".other.toml.a1B2c3.tmp", "notes.tmp"]);
}

/// A long search on 200,000 synthetic minute bars writing `out` and `results`, started in the background.
fn long_search(home: &Path, out: &Path, results: &Path) -> Child {
    flowrex_std(home)
        .args(LONG_SEARCH)
        .args(["--out", p(out), "--results", p(results)])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

/// Waits until a temp file of `target` exists beside it (the run is searching), at most 60 s.
fn wait_for_temp(target: &Path) {
    let dir = target.parent().unwrap();
    let prefix = format!(".{}.", target.file_name().unwrap().to_string_lossy());
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        let found = std::fs::read_dir(dir).unwrap().flatten().any(|e| {
            let n = e.file_name().to_string_lossy().into_owned();
            n.starts_with(&prefix) && n.ends_with(".tmp")
        });
        if found {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("no temp file of {} appeared", target.display());
}

#[cfg(unix)]
#[test]
fn a_second_run_on_the_same_outputs_is_refused_while_the_first_writes() {
    let home = empty_home();
    let h = home.path();
    stdout_ok(&run(h, &LONG_SEARCH_DATA));
    let dir = tempfile::tempdir().unwrap();
    let (out, results): (PathBuf, PathBuf) = (
        dir.path().join("pb.toml"),
        dir.path().join("results.parquet"),
    );
    let first = long_search(h, &out, &results);
    wait_for_temp(&results);

    // A quick search on the same pair while the first is busy: refused at once, naming the file.
    let second = run(
        h,
        &[
            "optimize",
            "--strategy",
            "sma_cross",
            "--symbol",
            "SYN",
            "--interval",
            "1m",
            "--param",
            "fast=5",
            "--param",
            "slow=20",
            "--out",
            p(&out),
            "--results",
            p(&results),
        ],
    );
    let err = stderr_of(&second);
    assert_eq!(second.status.code(), Some(1), "{err}");
    assert!(err.contains("another flowrex process"), "{err}");
    assert!(!out.exists(), "the second run wrote a playbook");

    // The first run, stopped once it has ranked some candidates, writes a matching pair: the results
    // hold exactly the candidates its playbook says it evaluated.
    std::thread::sleep(Duration::from_millis(2500));
    let status = std::process::Command::new("kill")
        .args(["-INT", &first.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let res = first.wait_with_output().unwrap();
    assert_eq!(res.status.code(), Some(130), "{}", stderr_of(&res));
    let pb = load_toml(&out);
    let evaluated = pb["optimization"]["evaluated"].as_integer().unwrap();
    assert!(evaluated > 1, "{evaluated}");
    let rows: usize = parquet_batches(&results).iter().map(|b| b.num_rows()).sum();
    assert_eq!(rows as i64, evaluated);
}
