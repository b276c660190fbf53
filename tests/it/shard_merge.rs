//! `optimize merge --results` and `--allow-partial` end to end on the bundled GOOG data: the shards'
//! results files merge into the single run's file (grid and random, row for row; genetic islands one
//! after the other), a shard that did not finish is refused by name, and results files that do not
//! belong to their shard (none written, another shard's, another search's columns, the output itself)
//! are refused with nothing written.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Output;

use arrow_array::cast::AsArray;
use arrow_array::types::UInt64Type;
use arrow_array::{RecordBatch, RecordBatchReader};
use arrow_select::concat::concat_batches;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use tempfile::TempDir;

use crate::support::{bundled_home, flowrex, p, readme_grid, stderr_of, stdout_ok, write_parquet};

/// `flowrex optimize` of the README's grid ([`readme_grid`]) on `home`, quiet, with `extra`.
fn optimize(home: &Path, extra: &[&str]) -> Output {
    let mut args = readme_grid();
    args.extend(["--quiet"]);
    args.extend(extra);
    flowrex(home).args(&args).output().unwrap()
}

/// Runs the search once (`single.toml`, `single.parquet`) and as `n` shards (`parts/s-K.*`).
fn single_and_shards(extra: &[&str], n: usize) -> (TempDir, Vec<PathBuf>) {
    let home = bundled_home();
    let h = home.path();
    let (out, res) = (h.join("single.toml"), h.join("single.parquet"));
    let mut a = extra.to_vec();
    a.extend(["--out", p(&out), "--results", p(&res)]);
    stdout_ok(&optimize(h, &a));
    let mut parts = Vec::new();
    for k in 1..=n {
        let shard = format!("{k}/{n}");
        let (out, res) = (
            h.join(format!("parts/s-{k}.toml")),
            h.join(format!("parts/s-{k}.parquet")),
        );
        let mut a = extra.to_vec();
        a.extend(["--shard", &shard, "--out", p(&out), "--results", p(&res)]);
        stdout_ok(&optimize(h, &a));
        parts.push(out);
    }
    (home, parts)
}

/// `optimize merge PARTS --out merged.toml --results merged.parquet EXTRA`.
fn merge(home: &Path, parts: &[PathBuf], extra: &[&str]) -> Output {
    let mut args: Vec<&str> = vec!["optimize", "merge"];
    args.extend(parts.iter().map(|p| p.to_str().unwrap()));
    let (out, res) = (home.join("merged.toml"), home.join("merged.parquet"));
    args.extend(["--out", p(&out), "--results", p(&res)]);
    args.extend(extra);
    flowrex(home).args(&args).output().unwrap()
}

/// Every row of a Parquet file as one batch.
fn rows(path: &Path) -> RecordBatch {
    let reader = ParquetRecordBatchReaderBuilder::try_new(File::open(path).unwrap())
        .unwrap()
        .build()
        .unwrap();
    let schema = reader.schema();
    let batches: Vec<RecordBatch> = reader.map(|b| b.unwrap()).collect();
    concat_batches(&schema, &batches).unwrap()
}

fn load_toml(path: &Path) -> toml::Table {
    toml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Rewrites `key = …` under `[optimization]` of a playbook (the first line starting with `key = `).
fn edit(path: &Path, key: &str, value: &str) {
    let text = std::fs::read_to_string(path).unwrap();
    let prefix = format!("{key} = ");
    let line = text
        .lines()
        .find(|l| l.starts_with(&prefix))
        .unwrap_or_else(|| panic!("no {key} in {}", path.display()));
    std::fs::write(path, text.replacen(line, &format!("{prefix}{value}"), 1)).unwrap();
    crate::support::resign(path);
}

/// Neither merged output exists.
fn nothing_written(home: &Path) {
    assert!(!home.join("merged.toml").exists());
    assert!(!home.join("merged.parquet").exists());
}

#[test]
fn grid_and_random_shard_results_merge_into_the_single_runs_file() {
    for method in [
        &["--method", "grid"][..],
        &["--method", "random", "--samples", "50", "--seed", "3"][..],
    ] {
        // 3 shards: 175 = 59 + 58 + 58 grid rows, 50 = 17 + 17 + 16 random draws.
        let (home, parts) = single_and_shards(method, 3);
        let h = home.path();
        assert_eq!(
            load_toml(&parts[1])["optimization"]["results"].as_str(),
            Some("s-2.parquet"),
            "a shard playbook names its results file relative to its folder"
        );
        let out = merge(h, &parts, &[]);
        assert!(stdout_ok(&out).contains("results rows written"));
        let (merged, single) = (
            rows(&h.join("merged.parquet")),
            rows(&h.join("single.parquet")),
        );
        assert_eq!(merged.schema().fields(), single.schema().fields());
        assert_eq!(merged.columns(), single.columns(), "{method:?}");
        let evaluated = load_toml(&h.join("merged.toml"))["optimization"]["evaluated"]
            .as_integer()
            .unwrap();
        assert_eq!(merged.num_rows() as i64, evaluated);
        assert_eq!(
            load_toml(&h.join("merged.toml"))["optimization"]["results"].as_str(),
            Some("merged.parquet")
        );
    }
}

#[test]
fn genetic_islands_results_follow_one_another() {
    let ga = [
        "--method",
        "genetic",
        "--population",
        "8",
        "--generations",
        "3",
    ];
    let (home, parts) = single_and_shards(&ga, 2);
    let h = home.path();
    stdout_ok(&merge(h, &parts, &[]));
    let (a, b) = (
        rows(&h.join("parts/s-1.parquet")),
        rows(&h.join("parts/s-2.parquet")),
    );
    let want = concat_batches(&a.schema(), [&a, &b]).unwrap();
    assert_eq!(rows(&h.join("merged.parquet")), want);
}

#[test]
fn an_interrupted_shard_is_refused_by_name_unless_partial_merges_are_allowed() {
    let (home, parts) = single_and_shards(&[], 3);
    let h = home.path();
    // Shard 2 stopped after 5 of its 58 candidates: its playbook says so, its file holds its first 5
    // rows (what a Ctrl-C'd shard leaves; optimize's own Ctrl-C test checks the status it writes).
    let s2 = h.join("parts/s-2.parquet");
    let all = rows(&s2);
    write_parquet(&s2, &all.slice(0, 5));
    let first5 = all.slice(0, 5);
    let kept = first5
        .column_by_name("candidate")
        .unwrap()
        .as_primitive::<UInt64Type>()
        .values()
        .to_vec();
    let mut pb = load_toml(&parts[1]);
    let o = pb["optimization"].as_table_mut().unwrap();
    o.insert("status".into(), "interrupted".into());
    o.insert("evaluated".into(), 5.into());
    pb["top"]
        .as_array_mut()
        .unwrap()
        .retain(|t| kept.contains(&(t["candidate"].as_integer().unwrap() as u64)));
    std::fs::write(&parts[1], toml::to_string(&pb).unwrap()).unwrap();
    // Edited by hand, the shard is refused as such, whatever it says.
    let out = merge(h, &parts, &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr_of(&out).contains("s-2.toml: was edited since flowrex wrote it"),
        "{}",
        stderr_of(&out)
    );
    crate::support::resign(&parts[1]);
    let out = merge(h, &parts, &[]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr_of(&out);
    assert!(
        err.contains("shard 2/3 (") && err.contains("s-2.toml: status = \"interrupted\" after 5"),
        "{err}"
    );
    assert!(err.contains("--allow-partial"), "{err}");
    nothing_written(h);

    stdout_ok(&merge(h, &parts, &["--allow-partial"]));
    let pb = load_toml(&h.join("merged.toml"));
    assert_eq!(pb["optimization"]["status"].as_str(), Some("interrupted"));
    // Expected: the single run's rows (ordinal j is row j / 3 of shard j % 3 + 1) without shard 2's
    // rows from its 6th on, i.e. without ordinals j ≡ 1 (mod 3) with j / 3 >= 5.
    let single = rows(&h.join("single.parquet"));
    let kept: Vec<RecordBatch> = (0..single.num_rows())
        .filter(|j| !(j % 3 == 1 && j / 3 >= 5))
        .map(|j| single.slice(j, 1))
        .collect();
    let want = concat_batches(&single.schema(), &kept).unwrap();
    assert_eq!(want.num_rows(), 175 - 53);
    assert_eq!(rows(&h.join("merged.parquet")), want);
    assert_eq!(
        pb["optimization"]["evaluated"].as_integer(),
        Some(want.num_rows() as i64)
    );
}

#[test]
fn results_files_that_are_not_the_shards_own_are_refused() {
    let (home, parts) = single_and_shards(&[], 2);
    let h = home.path();
    let fails = |parts: &[PathBuf], extra: &[&str], msg: &str| {
        let out = merge(h, parts, extra);
        let err = stderr_of(&out);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(err.contains(msg), "{msg}: {err}");
        nothing_written(h);
    };
    // A shard run without --results: the playbook names no file.
    let bare = h.join("bare-1.toml");
    stdout_ok(&optimize(h, &["--shard", "1/2", "--out", p(&bare)]));
    fails(
        &[bare.clone(), parts[1].clone()],
        &[],
        "bare-1.toml: shard 1/2 names no results file",
    );
    // Shard 2's playbook pointing at shard 1's file: 88 rows where it evaluated 87.
    let text = std::fs::read_to_string(&parts[1]).unwrap();
    edit(&parts[1], "results", "\"s-1.parquet\"");
    fails(&parts, &[], "s-1.parquet: 88 rows, but its playbook");
    // A file of this shard's size from a search on other terms (commission 0.01): its rows do not
    // hold the shard's [[top]].
    let other = h.join("other.parquet");
    stdout_ok(&optimize(
        h,
        &[
            "--shard",
            "2/2",
            "--commission",
            "0.01",
            "--out",
            p(&h.join("other.toml")),
            "--results",
            p(&other),
        ],
    ));
    edit(&parts[1], "results", &format!("\"{}\"", p(&other)));
    fails(&parts, &[], "other.parquet: no row of candidate");
    // Shard 2's own rows without their last column (as from a flowrex writing other columns).
    let own = rows(&h.join("parts/s-2.parquet"));
    let cut = own
        .project(&(0..own.num_columns() - 1).collect::<Vec<_>>())
        .unwrap();
    let narrow = h.join("narrow.parquet");
    write_parquet(&narrow, &cut);
    edit(&parts[1], "results", &format!("\"{}\"", p(&narrow)));
    fails(&parts, &[], "narrow.parquet has other columns than");
    std::fs::write(&parts[1], &text).unwrap();
    // The merged file may not replace a shard's own.
    let mut args: Vec<&str> = vec!["optimize", "merge", p(&parts[0]), p(&parts[1])];
    let (s1, merged) = (h.join("parts/s-1.parquet"), h.join("merged.toml"));
    args.extend(["--out", p(&merged), "--results", p(&s1)]);
    let out = flowrex(h).args(&args).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr_of(&out));
    assert!(stderr_of(&out).contains("that is shard 1/2's own results file"));
    assert!(!h.join("merged.toml").exists());
    // And all is well again with the right files.
    stdout_ok(&merge(h, &parts, &[]));
}
