//! Numbered schema migrations. Migration N is `MIGRATIONS[N - 1]`; each runs once, in its own
//! transaction, and is recorded in the `schema_version` table (and mirrored in `PRAGMA user_version`).
//!
//! To change the schema, add `src/db/migrations/NNNN_name.sql` and append one line to [`MIGRATIONS`].
//! Never edit or reorder a migration that has shipped.

use rusqlite::{Connection, Transaction, TransactionBehavior};

use crate::error::{Error, Result};

/// One schema change.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    /// A short name, recorded with the version.
    pub name: &'static str,
    /// The SQL to run (several statements).
    pub sql: &'static str,
    /// A step SQL cannot do (hashing rows), run after `sql` in the same transaction.
    pub after: Option<fn(&Transaction<'_>) -> Result<()>>,
}

/// Every migration in order; the version of `MIGRATIONS[i]` is `i + 1`.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        name: "risk",
        sql: include_str!("migrations/0001_risk.sql"),
        after: None,
    },
    Migration {
        name: "audit_chain",
        sql: include_str!("migrations/0002_audit_chain.sql"),
        after: Some(super::audit::chain_existing_rows),
    },
    Migration {
        name: "strategy_names",
        sql: include_str!("migrations/0003_strategy_names.sql"),
        after: None,
    },
    Migration {
        name: "journal",
        sql: include_str!("migrations/0004_journal.sql"),
        after: None,
    },
    Migration {
        name: "paper",
        sql: include_str!("migrations/0005_paper.sql"),
        after: None,
    },
    Migration {
        name: "playbook_status",
        sql: include_str!("migrations/0006_playbook_status.sql"),
        after: None,
    },
    Migration {
        name: "agents",
        sql: include_str!("migrations/0007_agents.sql"),
        after: None,
    },
    Migration {
        name: "state_seal",
        sql: include_str!("migrations/0008_state_seal.sql"),
        after: Some(super::seal::anchor_existing_state),
    },
    Migration {
        name: "trades_window",
        sql: include_str!("migrations/0009_trades_window.sql"),
        after: Some(super::seal::anchor_window),
    },
];

const VERSION_TABLE: &str = "CREATE TABLE IF NOT EXISTS schema_version (
    version    INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    applied_at TEXT NOT NULL
)";

/// The highest migration version applied to `conn` (0 for a new database).
pub fn current_version(conn: &Connection) -> Result<u32> {
    let v: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    Ok(v as u32)
}

/// Applies every migration of `migrations` that `conn` does not have yet, each in its own
/// `BEGIN IMMEDIATE` transaction (so two processes opening a new database never apply one twice).
pub fn apply(conn: &mut Connection, migrations: &[Migration]) -> Result<()> {
    let known = migrations.len() as u32;
    let current = current_version(conn)?;
    if current > known {
        return Err(Error::invalid(format!(
            "database schema version {current} is newer than this flowrex knows ({known}); upgrade flowrex"
        )));
    }
    for (i, m) in migrations.iter().enumerate().skip(current as usize) {
        let version = i as u32 + 1;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        // Another process may have applied it between our read and our lock.
        if current_version(&tx)? >= version {
            continue;
        }
        tx.execute_batch(VERSION_TABLE)?;
        let failed = |e: &dyn std::fmt::Display| {
            Error::invalid(format!("migration {version} ({}) failed: {e}", m.name))
        };
        tx.execute_batch(m.sql).map_err(|e| failed(&e))?;
        if let Some(after) = m.after {
            after(&tx).map_err(|e| failed(&e))?;
        }
        tx.execute(
            "INSERT INTO schema_version (version, name, applied_at) VALUES (?1, ?2, ?3)",
            rusqlite::params![version, m.name, chrono::Utc::now().to_rfc3339()],
        )?;
        tx.pragma_update(None, "user_version", version)?;
        tx.commit()?;
    }
    Ok(())
}

/// The `CREATE TRIGGER name …` statement (without its `;`) of the newest migration that has one — what
/// `audit::verify` compares the database's guard triggers with.
pub fn installed_trigger_sql(name: &str) -> Option<&'static str> {
    trigger_in(MIGRATIONS, name)
}

/// The `CREATE TRIGGER name …` statement of the newest of `migrations` that has one.
fn trigger_in(migrations: &[Migration], name: &str) -> Option<&'static str> {
    let head = format!("CREATE TRIGGER {name} ");
    migrations.iter().rev().find_map(|m| {
        let sql: &'static str = m.sql;
        let start = sql.find(&head)?;
        let len = sql[start..].find("END;")? + "END".len();
        Some(&sql[start..start + len])
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::Db;
    use crate::db::audit::{CHAINS, verify};
    use crate::db::chain::GENESIS;

    const EXTRA: &[Migration] = &[
        Migration {
            name: "a",
            sql: "CREATE TABLE a (x INTEGER);",
            after: None,
        },
        Migration {
            name: "b",
            sql: "CREATE TABLE b (y INTEGER); INSERT INTO a VALUES (1);",
            after: None,
        },
    ];

    #[test]
    fn migrations_apply_once_in_order_and_are_recorded() {
        let mut conn = Connection::open_in_memory().unwrap();
        apply(&mut conn, &EXTRA[..1]).unwrap();
        assert_eq!(current_version(&conn).unwrap(), 1);
        apply(&mut conn, EXTRA).unwrap();
        apply(&mut conn, EXTRA).unwrap();
        assert_eq!(current_version(&conn).unwrap(), 2);
        let rows: i64 = conn
            .query_row("SELECT count(*) FROM a", [], |r| r.get(0))
            .unwrap();
        assert_eq!(rows, 1);
        let names: Vec<String> = conn
            .prepare("SELECT name FROM schema_version ORDER BY version")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        assert_eq!(names, ["a", "b"]);
    }

    #[test]
    fn a_failing_migration_leaves_nothing_behind() {
        let mut conn = Connection::open_in_memory().unwrap();
        let bad = [
            EXTRA[0],
            Migration {
                name: "bad",
                sql: "CREATE TABLE c (z INTEGER); SELEC nonsense;",
                after: None,
            },
        ];
        let err = apply(&mut conn, &bad).unwrap_err().to_string();
        assert!(err.contains("migration 2 (bad)"), "{err}");
        assert_eq!(current_version(&conn).unwrap(), 1);
        let c: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE name = 'c'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(c, 0);
    }

    #[test]
    fn old_strategy_names_are_normalized_and_merged_failing_closed() {
        let mut conn = Connection::open_in_memory().unwrap();
        apply(&mut conn, &MIGRATIONS[..2]).unwrap();
        // Budgets as an older flowrex kept them: one per spelling. 'SMA' was disabled after five losses,
        // while 'sma ' (another spelling of it) was still trading.
        conn.execute_batch(
            "INSERT INTO strategy_budgets (strategy, enabled, consecutive_losses, disabled_reason, disabled_ts, updated_ts)
             VALUES ('SMA', 0, 5, '5 consecutive losses, limit 5', '2026-03-01T10:00:00.000Z', '2026-03-01T10:00:00.000Z'),
                    ('sma ', 1, 1, NULL, NULL, '2026-03-02T09:00:00.000Z'),
                    ('	Nbb', 1, 2, NULL, NULL, '2026-03-02T08:00:00.000Z');",
        )
        .unwrap();
        apply(&mut conn, MIGRATIONS).unwrap();
        type Budget = (String, bool, i64, Option<String>, Option<String>, String);
        let rows: Vec<Budget> = conn
            .prepare(
                "SELECT strategy, enabled, consecutive_losses, disabled_reason, disabled_ts, updated_ts
                 FROM strategy_budgets ORDER BY strategy",
            )
            .unwrap()
            .query_map([], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?))
            })
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        assert_eq!(
            rows,
            [
                (
                    "nbb".to_string(),
                    true,
                    2,
                    None,
                    None,
                    "2026-03-02T08:00:00.000Z".to_string()
                ),
                (
                    "sma".to_string(),
                    false,
                    5,
                    Some("5 consecutive losses, limit 5".to_string()),
                    Some("2026-03-01T10:00:00.000Z".to_string()),
                    "2026-03-02T09:00:00.000Z".to_string()
                ),
            ]
        );
        // The table only takes normalized names from now on.
        let err = conn
            .execute(
                "INSERT INTO strategy_budgets (strategy) VALUES ('Tori')",
                [],
            )
            .unwrap_err()
            .to_string();
        assert!(err.contains("CHECK constraint failed"), "{err}");
    }

    #[test]
    fn a_newer_database_is_refused() {
        let mut conn = Connection::open_in_memory().unwrap();
        apply(&mut conn, EXTRA).unwrap();
        let err = apply(&mut conn, &EXTRA[..1]).unwrap_err().to_string();
        assert!(err.contains("newer than this flowrex"), "{err}");
    }

    #[test]
    fn every_guard_has_its_installed_text() {
        let db = Db::open_in_memory().unwrap();
        let v = verify(db.conn(), installed_trigger_sql).unwrap();
        assert!(v.intact(), "{v:?}");
        assert!(v.guards.is_empty());
        for chain in CHAINS.into_iter().chain(crate::db::seal::CHAINS) {
            for guard in ["no_update", "no_delete", "append_only"] {
                assert!(installed_trigger_sql(&format!("{}_{guard}", chain.table)).is_some());
            }
        }
        // risk_decisions, settings_audit, risk_trades empty; state_seals holds the migrations' anchors
        // (the state row, the counting window).
        assert_eq!(
            v.chains
                .iter()
                .map(|c| (c.table, c.rows, c.head == GENESIS))
                .collect::<Vec<_>>(),
            [
                ("risk_decisions", 0, true),
                ("settings_audit", 0, true),
                ("risk_trades", 0, true),
                ("state_seals", 2, false)
            ]
        );
    }

    #[test]
    fn rows_written_before_the_chain_existed_are_chained_by_the_migration() {
        let mut conn = Connection::open_in_memory().unwrap();
        apply(&mut conn, &MIGRATIONS[..1]).unwrap();
        // Rows as flowrex wrote them before migration 2, with one odd id gap it must keep.
        conn.execute_batch(
            "INSERT INTO risk_decisions (id, ts_ms, ts, kind, symbol, approved, inputs, verdicts)
                 VALUES (1, 10, 't1', 'check', 'X', 1, '{}', '[]'),
                        (2, 20, 't2', 'check', 'X', 0, '{\"a\":1}', '[1]'),
                        (5, 30, 't3', 'reset_daily', NULL, NULL, '{}', '[]');
             INSERT INTO settings_audit (ts_ms, ts, setting, new_value) VALUES (5, 't0', 'risk.balance', '1000');",
        )
        .unwrap();
        apply(&mut conn, MIGRATIONS).unwrap();
        let v = verify(&conn, installed_trigger_sql).unwrap();
        assert!(v.intact(), "{v:?}");
        assert_eq!(v.chains[0].rows, 3);
        assert_eq!(v.chains[1].rows, 1);
        let rows: Vec<(i64, String, Option<bool>, String)> = conn
            .prepare("SELECT id, kind, approved, inputs FROM risk_decisions ORDER BY id")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        assert_eq!(
            rows,
            [
                (1, "check".to_string(), Some(true), "{}".to_string()),
                (2, "check".to_string(), Some(false), "{\"a\":1}".to_string()),
                (5, "reset_daily".to_string(), None, "{}".to_string()),
            ]
        );
        let old: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE name LIKE '%_v1'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(old, 0);
    }
}
