//! Reading and placing signals on hand-built bars.

use super::*;
use crate::strategy::testkit::candles;

const FLAT: (f64, f64, f64, f64) = (100.0, 101.0, 99.0, 100.0);

fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> std::path::PathBuf {
    let p = dir.path().join(name);
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn a_csv_file_becomes_one_action_per_bar() {
    let dir = tempfile::tempdir().unwrap();
    // testkit bars are daily from 2020-01-06.
    let p = write(
        &dir,
        "s.csv",
        "Time,Action,Stop,Target,Size\n\
         2020-01-07,enter-long,95,110,\n\
         2020-01-09,EXIT,,,\n\
         2020-01-10T00:00:00Z,sell,105,NaN,2.5\n",
    );
    let rows = read_signals(&p).unwrap();
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[0].at, "line 2");
    let c = candles(&[FLAT; 6], &[]);
    let acts = place(&rows, &c, "s.csv").unwrap();
    assert_eq!(acts[0], Action::Hold);
    assert_eq!(
        acts[1],
        Action::Enter(Entry::long().with_stop(95.0).with_target(110.0))
    );
    assert_eq!(acts[3], Action::Exit);
    assert_eq!(
        acts[4],
        Action::Enter(Entry::short().with_stop(105.0).with_size(2.5))
    );
    assert_eq!(acts.iter().filter(|a| **a != Action::Hold).count(), 3);
}

#[test]
fn bad_rows_are_named_with_their_lines() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(
        &dir,
        "bad.csv",
        "time;action;stop\n\
         2020-01-07;hold;\n\
         2020-01-08;enter-long;-1\n\
         2020-01-09;exit;90\n\
         soon;enter-long;\n\
         2020-01-10;enter-long;x\n",
    );
    let e = read_signals(&p).unwrap_err().to_string();
    for want in [
        "line 2: action: unknown action 'hold'; expected enter-long, enter-short or exit",
        "line 3: stop: -1 is not a number above 0",
        "line 4: an exit takes no stop, target or size",
        "line 5: time: unparsable time 'soon'",
        "line 6: stop: unparsable number 'x'",
        "5 problems; no backtest was run",
    ] {
        assert!(e.contains(want), "{want}: {e}");
    }
    let p = write(&dir, "cols.csv", "time,action,stpo\n");
    let e = read_signals(&p).unwrap_err().to_string();
    assert!(
        e.contains("unknown column `stpo`; a signals file has the columns time"),
        "{e}"
    );
    let p = write(&dir, "noaction.csv", "date,stop\n");
    assert!(
        read_signals(&p)
            .unwrap_err()
            .to_string()
            .contains("no action column")
    );
}

#[test]
fn times_must_match_bars_and_the_first_bar_cannot_signal() {
    let c = candles(&[FLAT; 5], &[]); // 2020-01-06 … 2020-01-10
    let row = |at: &str, ts: &str| SignalRow {
        at: at.into(),
        ts: parse_time(ts, TimeFormat::Iso).unwrap(),
        action: Action::Exit,
    };
    let e = place(
        &[
            row("line 2", "2020-01-06"),
            row("line 3", "2020-01-07T12:00:00Z"),
            row("line 4", "2020-01-08"),
            row("line 5", "2020-01-08"),
        ],
        &c,
        "s.csv",
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("line 2: time 2020-01-06T00:00:00Z: the first bar cannot carry a signal"),
        "{e}"
    );
    assert!(
        e.contains(
            "line 3: time 2020-01-07T12:00:00Z matches no bar (the bars around it open at \
             2020-01-07T00:00:00Z and 2020-01-08T00:00:00Z)"
        ),
        "{e}"
    );
    assert!(
        e.contains("line 5: time 2020-01-08T00:00:00Z repeats line 4"),
        "{e}"
    );
    // Outside the bars' span: skipped.
    let acts = place(
        &[row("line 2", "2019-01-01"), row("line 3", "2021-01-01")],
        &c,
        "s",
    )
    .unwrap();
    assert!(acts.iter().all(|a| *a == Action::Hold));
}
