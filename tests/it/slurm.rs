//! Sharded sweeps under real schedulers. A single-node Slurm cluster on localhost
//! (`examples/slurm/cluster.sh`: Debian's slurm-wlm and munge, as root) runs the docs' commands — read
//! from `examples/slurm/submit.sh`, whose blocks the docs must show verbatim: the array of shards, then
//! the merge with an `afterok` dependency. The merged playbook and results must equal one run of the
//! same spec; a failed shard must cancel the merge, and re-submitting only its index must finish the
//! sweep. The Kubernetes pod commands run locally the same way, and the manifest is checked against the
//! Kubernetes schemas.
//!
//! Without root or Slurm (or `kubernetes-validate` for the schema check) a test prints a loud SKIPPED
//! notice, or fails when `CI` is set: `.ci/run` installs them.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use arrow_array::{RecordBatch, RecordBatchReader};
use arrow_select::concat::concat_batches;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use tempfile::TempDir;

use crate::support::{BIN, bundled_home, repo, skip_or_fail, stdout_ok};

/// The sweep the cluster tests run (175 candidates on the bundled GOOG daily bars: each shard takes
/// well under a second), written over the home's copy of `examples/sweep.toml`, so the commands stay
/// exactly the docs'.
const SMALL_SPEC: &str = r#"strategy = "sma_cross"
symbol = "GOOG"
interval = "1d"
objective = "sharpe"
method = "grid"
params = ["fast=5..50:5", "slow=10..200:10"]
constraints = ["fast < slow"]
commission = 0.002
top = 20
"#;

/// How long one submission may take (4 shards + merge take ~7 s on the 2-core machine).
const JOB_TIMEOUT: Duration = Duration::from_secs(180);

// ---- Homes and what a sweep wrote ---------------------------------------------------------------

/// A home as the docs assume it: the bundled data, the repository's `examples/`, the small spec.
fn sweep_home() -> TempDir {
    let home = bundled_home();
    let examples = home.path().join("examples");
    copy_tree(&repo().join("examples"), &examples);
    std::fs::write(examples.join("sweep.toml"), SMALL_SPEC).unwrap();
    home
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &to.join(e.file_name()));
        } else {
            // fs::copy keeps the mode, so the scripts stay executable
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

/// `bash -euo pipefail -c script` in `home` with the built `flowrex` first on PATH, as a user's shell
/// would run the docs' commands.
fn shell(home: &Path, script: &str, env: &[(&str, &str)]) -> Output {
    run_in(home, &["bash", "-euo", "pipefail", "-c", script], env)
}

/// `argv` in `home` with the built `flowrex` first on PATH, `FLOWREX_HOME` set to `home`, and none of
/// the caller's settings that the scripts read.
fn run_in(home: &Path, argv: &[&str], env: &[(&str, &str)]) -> Output {
    let bin_dir = Path::new(BIN).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut cmd = Command::new(argv[0]);
    cmd.args(&argv[1..])
        .current_dir(home)
        .env("PATH", path)
        .env("FLOWREX_HOME", home)
        .env_remove("RUST_LOG")
        .env_remove("SPEC")
        .env_remove("FLOWREX");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run bash")
}

/// One run of the spec on this machine: the playbook and the results rows to compare with.
fn single_run(home: &Path) -> (toml::Table, RecordBatch) {
    stdout_ok(&shell(
        home,
        "flowrex --quiet optimize --spec examples/sweep.toml --out single/sweep.toml --results single/sweep.parquet",
        &[],
    ));
    (
        load_toml(&home.join("single/sweep.toml")),
        rows(&home.join("single/sweep.parquet")),
    )
}

fn load_toml(path: &Path) -> toml::Table {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    toml::from_str(&text).unwrap()
}

/// Every row of a Parquet file, as one batch.
fn rows(path: &Path) -> RecordBatch {
    let reader = ParquetRecordBatchReaderBuilder::try_new(File::open(path).unwrap())
        .unwrap()
        .build()
        .unwrap();
    let schema = reader.schema();
    let batches: Vec<RecordBatch> = reader.map(|b| b.unwrap()).collect();
    concat_batches(&schema, &batches).unwrap()
}

/// A playbook without what differs between runs or records how it was made: `created_at`, the name
/// (it follows the file name), `elapsed_s`, the results file's name and the shard bookkeeping — and
/// `[validation]`, which only a single run has (its statistics need every candidate's returns, which no
/// shard sees).
fn comparable(mut t: toml::Table) -> toml::Table {
    t.remove("validation");
    let pb = t["playbook"].as_table_mut().unwrap();
    pb.remove("created_at");
    pb.remove("content_sha256");
    pb.remove("name");
    let o = t["optimization"].as_table_mut().unwrap();
    for k in ["elapsed_s", "results", "merged_shards", "shard"] {
        o.remove(k);
    }
    t
}

/// The merged outputs of an N-shard sweep in `home` equal the single run, and each shard's rows sit
/// where the single run has them: row i of shard K is the run's row (K−1) + i·N (shard K evaluates
/// the run's candidates K−1, K−1+N, …).
fn assert_merged_equals_single(home: &Path, n: usize, single: &(toml::Table, RecordBatch)) {
    let merged = load_toml(&home.join("playbooks/sweep.toml"));
    assert_eq!(
        merged["optimization"]["merged_shards"].as_integer(),
        Some(n as i64)
    );
    let entry = merged["optimization"]["results"]
        .as_str()
        .unwrap_or_default();
    assert!(
        entry.starts_with('/') && entry.ends_with("/results/sweep.parquet"),
        "the merged playbook names its results file (outside playbooks/, so absolute): {entry}"
    );
    assert_eq!(comparable(merged), comparable(single.0.clone()));
    let all = rows(&home.join("results/sweep.parquet"));
    assert_eq!(all.schema().fields(), single.1.schema().fields());
    assert_eq!(
        all.columns(),
        single.1.columns(),
        "merged rows = single run's"
    );
    let mut total = 0;
    for k in 1..=n {
        let part = rows(&home.join(format!("parts/sweep-{k}.parquet")));
        for i in 0..part.num_rows() {
            assert_eq!(
                all.slice((k - 1) + i * n, 1),
                part.slice(i, 1),
                "row {i} of shard {k}"
            );
        }
        total += part.num_rows();
    }
    assert_eq!(total, all.num_rows(), "every shard's rows and nothing else");
}

/// Names, sizes and modification times of every file under `dir`: the shards must leave `data/` as
/// they found it (it may be mounted read-only).
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, (u64, std::time::SystemTime)> {
    let mut out = BTreeMap::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let m = e.metadata().unwrap();
        if m.is_dir() {
            out.extend(snapshot(&e.path()));
        } else {
            out.insert(e.path(), (m.len(), m.modified().unwrap()));
        }
    }
    out
}

// ---- The docs' commands -------------------------------------------------------------------------

/// The lines between `# >>> name` and `# <<< name` of `script`.
fn block(script: &Path, name: &str) -> String {
    let text = std::fs::read_to_string(script).unwrap();
    let start = format!("# >>> {name}\n");
    let from = text.find(&start).expect("block start") + start.len();
    let to = from
        + text[from..]
            .find(&format!("# <<< {name}"))
            .expect("block end");
    text[from..to].to_string()
}

/// The README, whose "Running on a cluster" section shows the commands this test runs.
fn cluster_docs() -> String {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    assert!(
        readme.contains("## Running on a cluster"),
        "README lost its cluster section"
    );
    readme
}

#[test]
fn the_docs_show_the_slurm_commands_the_test_runs() {
    let docs = cluster_docs();
    let submit = repo().join("examples/slurm/submit.sh");
    for name in ["submit", "resubmit"] {
        let b = block(&submit, name);
        assert!(b.contains("sbatch"), "{name}: {b}");
        assert!(
            docs.contains(&b),
            "the docs do not show the `{name}` block of examples/slurm/submit.sh verbatim:\n{b}"
        );
    }
    // Slurm's merge job and Kubernetes' merge Job run the same command.
    let sbatch = std::fs::read_to_string(repo().join("examples/slurm/merge.sbatch")).unwrap();
    assert!(sbatch.contains("exec examples/merge.sh \"$1\""), "{sbatch}");
    let k8s = manifest_commands();
    assert_eq!(k8s["merge"], "examples/merge.sh 8");
}

// ---- A real Slurm cluster -----------------------------------------------------------------------

/// A running single-node cluster (examples/slurm/cluster.sh), stopped when dropped — also when a
/// test fails, since a panic unwinds through the drop.
struct Cluster {
    dir: TempDir,
}

impl Cluster {
    /// Starts the cluster, or returns `None` after [`skip_or_fail`] when this machine cannot run one.
    fn start(test: &str) -> Option<Cluster> {
        let uid = Command::new("id").arg("-u").output().map(|o| stdout_ok(&o));
        if uid.ok().as_deref().map(str::trim) != Some("0") {
            skip_or_fail(
                test,
                "not root, so no Slurm cluster can start here (slurmd runs jobs as their users)",
                "Run the tests as root (CI does)",
            );
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let (ctld, slurmd) = (free_port(), free_port());
        let started = Instant::now();
        let out = Command::new(repo().join("examples/slurm/cluster.sh"))
            .arg("start")
            .arg(dir.path())
            .env("SLURM_LOCAL_CTLD_PORT", ctld.to_string())
            .env("SLURM_LOCAL_SLURMD_PORT", slurmd.to_string())
            .output()
            .expect("run examples/slurm/cluster.sh");
        if !out.status.success() {
            skip_or_fail(
                test,
                &format!(
                    "the local Slurm cluster did not start: {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                ),
                "apt-get install -y --no-install-recommends slurm-wlm munge (.ci/run does)",
            );
            return None;
        }
        eprintln!(
            "slurm: cluster up in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        Some(Cluster { dir })
    }

    fn conf(&self) -> String {
        self.dir.path().join("slurm.conf").display().to_string()
    }

    /// Runs `script` in `home` as a user would, with SLURM_CONF pointing at this cluster.
    fn sh(&self, home: &Path, script: &str) -> String {
        stdout_ok(&shell(home, script, &[("SLURM_CONF", &self.conf())]))
    }

    /// `(array task or "", JobState)` of each line `scontrol show job` prints for `job`.
    fn states(&self, job: &str) -> Vec<(String, String)> {
        let out = Command::new("scontrol")
            .args(["show", "job", "-o", job])
            .env("SLURM_CONF", self.conf())
            .output()
            .unwrap();
        let field = |line: &str, key: &str| {
            line.split_whitespace()
                .find_map(|w| w.strip_prefix(key))
                .unwrap_or("")
                .to_string()
        };
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| (field(l, "ArrayTaskId="), field(l, "JobState=")))
            .collect()
    }

    /// Waits until every job of `jobs` ended; returns their states by job.
    fn wait(&self, jobs: &[&str], home: &Path) -> Vec<Vec<(String, String)>> {
        let done = |s: &str| {
            [
                "COMPLETED",
                "FAILED",
                "CANCELLED",
                "TIMEOUT",
                "NODE_FAIL",
                "OUT_OF_MEMORY",
                "BOOT_FAIL",
                "DEADLINE",
                "PREEMPTED",
            ]
            .contains(&s)
        };
        let started = Instant::now();
        loop {
            let states: Vec<_> = jobs.iter().map(|j| self.states(j)).collect();
            if states
                .iter()
                .all(|s| !s.is_empty() && s.iter().all(|(_, st)| done(st)))
            {
                eprintln!(
                    "slurm: jobs {jobs:?} ended after {:.1} s",
                    started.elapsed().as_secs_f64()
                );
                return states;
            }
            if started.elapsed() > JOB_TIMEOUT {
                panic!(
                    "jobs {jobs:?} still not done after {JOB_TIMEOUT:?}: {states:?}\n{}",
                    self.diagnostics(home)
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The job logs and the daemons' last lines, for a failure message.
    fn diagnostics(&self, home: &Path) -> String {
        let mut s = String::new();
        let tail = |p: &Path| {
            let t = std::fs::read_to_string(p).unwrap_or_default();
            let lines: Vec<&str> = t.lines().collect();
            lines[lines.len().saturating_sub(15)..].join("\n")
        };
        let mut files: Vec<PathBuf> = std::fs::read_dir(home.join("logs"))
            .into_iter()
            .flatten()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        files.push(self.dir.path().join("log/slurmctld.log"));
        files.push(self.dir.path().join("log/slurmd.log"));
        for f in files {
            s.push_str(&format!("== {}\n{}\n", f.display(), tail(&f)));
        }
        s
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = Command::new(repo().join("examples/slurm/cluster.sh"))
            .arg("stop")
            .arg(self.dir.path())
            .status();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Submits a docs block and returns the job ids it submitted: the array (`$array`, printed after the
/// block) and the merge (the block's last line prints it: `sbatch --parsable`).
fn submit(cluster: &Cluster, home: &Path, script: &str) -> (String, String) {
    let out = cluster.sh(home, &format!("{script}echo \"array=$array\"\n"));
    let lines: Vec<&str> = out.lines().collect();
    let array = lines
        .last()
        .and_then(|l| l.strip_prefix("array="))
        .unwrap_or_else(|| panic!("no array id in {out}"))
        .to_string();
    let merge = lines[lines.len() - 2].trim().to_string();
    assert!(
        merge.chars().all(|c| c.is_ascii_digit()),
        "merge job id: {out}"
    );
    (array, merge)
}

#[test]
fn slurm_array_then_afterok_merge_equals_one_run_and_a_failed_shard_is_resubmitted_alone() {
    let test = "slurm::slurm_array_then_afterok_merge_equals_one_run_and_a_failed_shard_is_resubmitted_alone";
    let Some(cluster) = Cluster::start(test) else {
        return;
    };
    let submit_sh = repo().join("examples/slurm/submit.sh");
    let (submit_block, resubmit_block) =
        (block(&submit_sh, "submit"), block(&submit_sh, "resubmit"));
    assert!(submit_block.contains("shards=4\n") && resubmit_block.contains("shards=4\n"));

    // 1. The docs' submission, as is: 4 shards, then the merge once all succeeded.
    let home = sweep_home();
    let h = home.path();
    let single = single_run(h);
    let data = snapshot(&h.join("data"));
    let (array, merge) = submit(&cluster, h, &submit_block);
    let states = cluster.wait(&[&array, &merge], h);
    let tasks: BTreeMap<String, String> = states[0].iter().cloned().collect();
    let want: BTreeMap<String, String> = (1..=4)
        .map(|k| (k.to_string(), "COMPLETED".to_string()))
        .collect();
    assert_eq!(tasks, want, "{}", cluster.diagnostics(h));
    assert_eq!(
        states[1],
        [(String::new(), "COMPLETED".to_string())],
        "{}",
        cluster.diagnostics(h)
    );
    assert_merged_equals_single(h, 4, &single);
    let log = std::fs::read_to_string(h.join(format!("logs/merge-{merge}.out"))).unwrap();
    assert!(log.contains("check passed"), "{log}");
    assert_eq!(snapshot(&h.join("data")), data, "the shards changed data/");

    // 2. Shard 3 fails (its playbook path is a folder, as if its node could not write): it is
    // visible as the failed index, and the merge never runs (afterok; --kill-on-invalid-dep).
    let home = sweep_home();
    let h = home.path();
    std::fs::create_dir_all(h.join("parts/sweep-3.toml")).unwrap();
    let (array, merge) = submit(&cluster, h, &submit_block);
    let states = cluster.wait(&[&array, &merge], h);
    let tasks: BTreeMap<String, String> = states[0].iter().cloned().collect();
    assert_eq!(tasks["3"], "FAILED", "{states:?}");
    for k in ["1", "2", "4"] {
        assert_eq!(tasks[k], "COMPLETED", "{states:?}");
    }
    assert_eq!(states[1][0].1, "CANCELLED", "{states:?}");
    assert!(!h.join(format!("logs/merge-{merge}.out")).exists());
    assert!(!h.join("playbooks/sweep.toml").exists());
    // The merge command, run by hand now, exits non-zero naming the missing shard.
    let out = shell(h, "examples/merge.sh 4", &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("shard(s) 3 of 4"), "{err}");
    assert!(err.contains("shard 3/4 is missing"), "{err}");
    // The node is fixed; the docs' re-submission runs index 3 alone, then the merge.
    std::fs::remove_dir(h.join("parts/sweep-3.toml")).unwrap();
    let (array, merge) = submit(&cluster, h, &format!("failed=3\n{resubmit_block}"));
    let states = cluster.wait(&[&array, &merge], h);
    assert_eq!(
        states[0],
        [("3".to_string(), "COMPLETED".to_string())],
        "only index 3 ran: {}",
        cluster.diagnostics(h)
    );
    assert_eq!(states[1][0].1, "COMPLETED", "{}", cluster.diagnostics(h));
    assert_merged_equals_single(h, 4, &single);
}

// ---- Kubernetes ---------------------------------------------------------------------------------

/// The shell command of each Job of the manifest (`args: ['…']` under the container), by `step`
/// label, and the sweep's `completions`.
fn manifest_commands() -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(repo().join("examples/k8s-indexed-job.yaml")).unwrap();
    let mut out = BTreeMap::new();
    let mut step = String::new();
    for line in text.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("labels: {app: flowrex, step: ") {
            step = rest.trim_end_matches('}').to_string();
        } else if let Some(rest) = line.strip_prefix("args: [") {
            let cmd = rest.trim_end_matches(']');
            out.insert(step.clone(), cmd[1..cmd.len() - 1].to_string());
        } else if let Some(n) = line.strip_prefix("completions: ") {
            out.insert("completions".into(), n.to_string());
        }
    }
    out
}

/// A container's `command: ["/bin/sh", "-c"]` with `args: [cmd]`, run here.
fn pod(home: &Path, cmd: &str, env: &[(&str, &str)]) -> Output {
    run_in(home, &["/bin/sh", "-c", cmd], env)
}

#[test]
fn the_kubernetes_pod_commands_run_locally_shard_and_merge_like_one_run() {
    let cmds = manifest_commands();
    let n: usize = cmds["completions"].parse().unwrap();
    assert_eq!(n, 8);
    let home = sweep_home();
    let h = home.path();
    let single = single_run(h);
    // Each pod of the Indexed Job gets JOB_COMPLETION_INDEX 0..n-1.
    for i in 0..n {
        let idx = i.to_string();
        stdout_ok(&pod(h, &cmds["sweep"], &[("JOB_COMPLETION_INDEX", &idx)]));
    }
    stdout_ok(&pod(h, &cmds["merge"], &[]));
    assert_merged_equals_single(h, n, &single);
    // The retry Job re-runs one shard (SHARD, 1-based) into the same files.
    let before = rows(&h.join("parts/sweep-3.parquet"));
    std::fs::remove_file(h.join("parts/sweep-3.toml")).unwrap();
    std::fs::remove_file(h.join("parts/sweep-3.parquet")).unwrap();
    let out = pod(h, &cmds["merge"], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("shard 3/8 is missing"));
    stdout_ok(&pod(h, &cmds["retry"], &[("SHARD", "3")]));
    assert_eq!(rows(&h.join("parts/sweep-3.parquet")), before);
    stdout_ok(&pod(h, &cmds["merge"], &[]));
    assert_merged_equals_single(h, n, &single);
}

#[test]
fn the_kubernetes_manifest_is_schema_valid() {
    let test = "slurm::the_kubernetes_manifest_is_schema_valid";
    let tool = "kubernetes-validate";
    if Command::new(tool).arg("--version").output().is_err() {
        skip_or_fail(
            test,
            "kubernetes-validate (PyPI) is not on PATH, so the manifest was not checked against the Kubernetes schemas",
            "pip install kubernetes-validate==1.37.0 (.ci/run does, in a virtualenv)",
        );
        return;
    }
    let manifest = repo().join("examples/k8s-indexed-job.yaml");
    for version in ["1.29.0", "1.37.0"] {
        let out = Command::new(tool)
            .args(["--strict", "--kubernetes-version", version])
            .arg(&manifest)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "Kubernetes {version}: {text}");
        assert_eq!(
            text.matches("passed for resource job/").count(),
            3,
            "{text}"
        );
    }
    // The validator does reject a manifest that is not valid (a misspelt field, a string count).
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yaml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(
        &bad,
        text.replacen("completions: 8", "completions: eight", 1)
            .replacen("backoffLimit: 0", "backofLimit: 0", 1),
    )
    .unwrap();
    let out = Command::new(tool)
        .arg("--strict")
        .arg(&bad)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains("'eight' is not of type") && text.contains("'backofLimit' was unexpected"),
        "{text}"
    );
}
