//! `flowrex playbooks`: list (filters, 80 columns, whether the data still matches), show, and
//! set-status (written into the file atomically, audited in the state database).

use std::path::{Path, PathBuf};

use crate::support::{Run, SMA_GOOG, bundled_home, command, run};
use flowrex::playbook::Provenance;
use flowrex::playbook::manage::STATUS_EVENTS;

/// An sma_cross playbook on `symbol` `interval` in `<home>/playbooks/<name>.toml`.
fn optimized(home: &Path, symbol: &str, interval: &str, name: &str) -> PathBuf {
    let out = home.join("playbooks").join(format!("{name}.toml"));
    let r = run(
        home,
        &[
            "--quiet",
            "optimize",
            "--strategy",
            "sma_cross",
            "--symbol",
            symbol,
            "--interval",
            interval,
            "--param",
            "fast=5..7",
            "--param",
            "slow=20..30:10",
            "--out",
            out.to_str().unwrap(),
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    out
}

fn json(r: &Run) -> serde_json::Value {
    serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}: {}", r.stdout))
}

#[test]
fn list_fits_80_columns_filters_and_tells_changed_data() {
    let home = bundled_home();
    let h = home.path();
    let goog = optimized(
        h,
        "GOOG",
        "1d",
        "goog_daily_with_a_long_name_for_truncation",
    );
    optimized(h, "EURUSD", "1h", "eurusd");
    std::fs::write(h.join("playbooks/broken.toml"), "not = [toml").unwrap();

    let r = run(h, &["playbooks"]);
    // One file is not a playbook: listed as an error after the table, exit 1, the others shown.
    assert_eq!(r.code, 1, "{}", r.stderr);
    for line in r.stdout.lines() {
        if !line.starts_with("error: ") {
            assert!(
                line.chars().count() <= 80,
                "{} columns: {line}",
                line.chars().count()
            );
        }
    }
    assert!(r.stdout.contains("broken.toml"), "{}", r.stdout);
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert!(lines[0].starts_with("Name "), "{}", r.stdout);
    // Sorted by file name: eurusd, then goog… (cut with an ellipsis, said under the table).
    assert!(lines[1].starts_with("eurusd "), "{}", r.stdout);
    let cut = lines[2].split(' ').next().unwrap();
    assert!(
        cut.starts_with("goog_daily_wit") && cut.ends_with('…'),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("(values ending in … were cut to fit 80 columns; --wide shows them whole)"),
        "{}",
        r.stdout
    );
    assert!(lines[1].trim_end().ends_with("same") && lines[2].trim_end().ends_with("same"));

    // JSON with a filter; the objective value is the best [[top]] entry's.
    let r = run(h, &["--json", "playbooks", "list", "--symbol", "GOOG"]);
    let doc = json(&r);
    let list = doc["playbooks"].as_array().unwrap();
    assert_eq!(list.len(), 1);
    let t: toml::Table = toml::from_str(&std::fs::read_to_string(&goog).unwrap()).unwrap();
    assert_eq!(
        list[0]["objective_value"].as_f64(),
        t["top"][0]["objective"].as_float()
    );
    assert_eq!(list[0]["data"]["state"], "same");

    // A different recorded data hash: `changed` (and the file is marked edited); no data: `missing`.
    let text = std::fs::read_to_string(&goog).unwrap();
    let sha = t["market"]["data_sha256"].as_str().unwrap();
    std::fs::write(&goog, text.replace(sha, &"0".repeat(64))).unwrap();
    std::fs::remove_dir_all(h.join("data/EURUSD")).unwrap();
    let doc = json(&run(h, &["--json", "playbooks"]));
    let by_symbol = |s: &str| {
        doc["playbooks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["symbol"] == s)
            .unwrap()
            .clone()
    };
    assert_eq!(by_symbol("GOOG")["data"]["state"], "changed");
    assert_eq!(by_symbol("GOOG")["edited"], true);
    assert_eq!(by_symbol("EURUSD")["data"]["state"], "missing");
    assert_eq!(by_symbol("EURUSD")["edited"], false);
}

#[test]
fn set_status_writes_the_file_and_audits_it() {
    let home = bundled_home();
    let h = home.path();
    let pb = optimized(h, "GOOG", "1d", "goog");

    let r = run(
        h,
        &[
            "playbooks",
            "set-status",
            "goog",
            "active",
            "--note",
            "passed the gate",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let loaded = flowrex::playbook::Playbook::load(&pb).unwrap();
    assert_eq!(loaded.playbook.status, "active");
    let notes = loaded.playbook.notes.unwrap();
    assert!(
        notes.ends_with("candidate -> active: passed the gate"),
        "{notes}"
    );
    // Re-signed: optimize and `playbooks` see it as flowrex wrote it.
    assert_eq!(Provenance::of_file(&pb).unwrap(), Provenance::AsWritten);

    // The database holds the event, chained and verifiable.
    let mut db = flowrex::home::Home::layout(h).open_db().unwrap();
    let status = STATUS_EVENTS.verify(db.conn()).unwrap();
    assert_eq!((status.rows, status.fault), (1, None));
    let events = flowrex::playbook::manage::history(db.conn(), &pb).unwrap();
    assert_eq!(events.len(), 1);
    let e = &events[0];
    assert_eq!(
        (
            e.old_status.as_str(),
            e.new_status.as_str(),
            e.note.as_str()
        ),
        ("candidate", "active", "passed the gate")
    );
    assert_eq!(e.content_sha256, loaded_sha(&pb));
    let err = db
        .write(|tx| Ok(tx.execute("DELETE FROM playbook_status_events", [])?))
        .unwrap_err();
    assert!(err.to_string().contains("append-only"), "{err}");
    drop(db);

    // Shown with its history; listed under --status active.
    let doc = json(&run(h, &["--json", "playbooks", "show", "goog"]));
    assert_eq!(doc["history"][0]["note"], "passed the gate");
    assert_eq!(doc["playbook"]["playbook"]["status"], "active");
    let doc = json(&run(h, &["--json", "playbooks", "--status", "active"]));
    assert_eq!(doc["playbooks"].as_array().unwrap().len(), 1);
    let doc = json(&run(h, &["--json", "playbooks", "--status", "candidate"]));
    assert_eq!(doc["playbooks"].as_array().unwrap().len(), 0);

    // optimize now refuses to replace it.
    let r = run(
        h,
        &command(
            &SMA_GOOG,
            &["--param", "fast=5..6", "--out", pb.to_str().unwrap()],
        ),
    );
    assert_eq!(r.code, 1, "{}", r.stderr);

    // Bad status or no note: usage errors, nothing changed.
    let before = std::fs::read(&pb).unwrap();
    assert_eq!(
        run(
            h,
            &["playbooks", "set-status", "goog", "live", "--note", "x"]
        )
        .code,
        2
    );
    assert_eq!(
        run(h, &["playbooks", "set-status", "goog", "retired"]).code,
        2
    );
    assert_eq!(
        run(
            h,
            &["playbooks", "set-status", "goog", "retired", "--note", " "]
        )
        .code,
        2
    );
    assert_eq!(
        run(
            h,
            &["playbooks", "set-status", "nope", "retired", "--note", "x"]
        )
        .code,
        1
    );
    // Edited by hand: refused unless --force.
    let edited = String::from_utf8(before.clone()).unwrap().replacen(
        "commission = 0.0",
        "commission = 0.5",
        1,
    );
    assert_ne!(edited.as_bytes(), before.as_slice());
    std::fs::write(&pb, &edited).unwrap();
    let r = run(
        h,
        &["playbooks", "set-status", "goog", "retired", "--note", "x"],
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("was edited since flowrex wrote it"),
        "{}",
        r.stderr
    );
    assert_eq!(std::fs::read_to_string(&pb).unwrap(), edited);
    let r = run(
        h,
        &[
            "playbooks",
            "set-status",
            "goog",
            "retired",
            "--note",
            "done",
            "--force",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let db = flowrex::home::Home::layout(h).open_db().unwrap();
    let events = flowrex::playbook::manage::history(db.conn(), &pb).unwrap();
    assert_eq!(events.len(), 2);
    assert_eq!(events[1].old_status, "active");
}

/// The sha256 of the playbook's content without its content_sha256 line, computed here.
fn loaded_sha(path: &Path) -> String {
    use sha2::{Digest, Sha256};
    let text: String = std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with("content_sha256 = "))
        .map(|l| format!("{l}\n"))
        .collect();
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
