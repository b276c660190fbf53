//! The audit tables of the state database as hash chains ([`super::chain`]): `risk_decisions` (every
//! check, emergency trip, auto-disable, reset and re-enable) and `settings_audit` (the balance set by hand,
//! the effective limits when they change). [`verify`] recomputes both chains and checks that the guard
//! triggers the migrations installed are there, unchanged.

use rusqlite::{Connection, OptionalExtension, Transaction};
use serde::Serialize;

use super::chain::{Chain, ChainStatus, Fault};
use super::migrations::MIGRATIONS;
use crate::error::Result;

/// `risk_decisions`, chained over these columns in this order.
pub const RISK_DECISIONS: Chain = Chain {
    table: "risk_decisions",
    columns: &[
        "ts_ms", "ts", "kind", "symbol", "strategy", "approved", "reason", "inputs", "verdicts",
    ],
};

/// `settings_audit`, chained over these columns in this order.
pub const SETTINGS_AUDIT: Chain = Chain {
    table: "settings_audit",
    columns: &["ts_ms", "ts", "setting", "old_value", "new_value", "reason"],
};

/// Every audit chain, in the order [`verify`] reports them.
pub const CHAINS: [Chain; 2] = [RISK_DECISIONS, SETTINGS_AUDIT];

/// The guard triggers every chained table carries: no UPDATE, no DELETE, and a BEFORE INSERT guard that
/// requires a new id chained to the last row.
const GUARDS: [&str; 3] = ["no_update", "no_delete", "append_only"];

/// What [`verify`] found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verification {
    /// One status per chain, in [`CHAINS`] order.
    pub chains: Vec<ChainStatus>,
    /// Guard triggers that are missing or differ from what the migrations installed.
    pub guards: Vec<Fault>,
}

impl Verification {
    /// Every chain verifies and every guard is in place.
    pub fn intact(&self) -> bool {
        self.first_fault().is_none()
    }

    /// The first broken row (in [`CHAINS`] order), else the first guard problem.
    pub fn first_fault(&self) -> Option<&Fault> {
        self.chains
            .iter()
            .find_map(|c| c.fault.as_ref())
            .or(self.guards.first())
    }
}

/// Verifies every audit chain and its guard triggers. Read-only: run it in a read transaction for a
/// consistent snapshot.
pub fn verify(conn: &Connection) -> Result<Verification> {
    let mut out = Verification {
        chains: Vec::with_capacity(CHAINS.len()),
        guards: Vec::new(),
    };
    for chain in CHAINS {
        out.chains.push(chain.verify(conn)?);
        for guard in GUARDS {
            let name = format!("{}_{guard}", chain.table);
            if let Some(problem) = guard_problem(conn, chain.table, &name)? {
                out.guards.push(Fault {
                    table: chain.table,
                    id: None,
                    problem,
                });
            }
        }
    }
    Ok(out)
}

/// What is wrong with the trigger `name` on `table`, compared with the text of the newest migration that
/// creates it (SQLite keeps a trigger's `CREATE` text exactly as it was written).
fn guard_problem(conn: &Connection, table: &str, name: &str) -> Result<Option<String>> {
    let found: Option<(String, String)> = conn
        .query_row(
            "SELECT tbl_name, sql FROM sqlite_master WHERE type = 'trigger' AND name = ?1",
            [name],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let expected = installed_sql(name);
    Ok(match found {
        None => Some(format!(
            "guard trigger {name} is missing: the table is no longer protected by the database"
        )),
        Some((t, sql)) if t != table || Some(sql.as_str()) != expected => Some(format!(
            "guard trigger {name} differs from the one flowrex installed"
        )),
        Some(_) => None,
    })
}

/// The `CREATE TRIGGER name …` statement (without its `;`) of the newest migration that has one.
fn installed_sql(name: &str) -> Option<&'static str> {
    let head = format!("CREATE TRIGGER {name} ");
    MIGRATIONS.iter().rev().find_map(|m| {
        let start = m.sql.find(&head)?;
        let len = m.sql[start..].find("END;")? + "END".len();
        Some(&m.sql[start..start + len])
    })
}

/// The Rust step of migration 2: copies the rows of `risk_decisions_v1` and `settings_audit_v1` (the
/// tables as they were before) into the new chained tables, in id order and keeping their ids, then drops
/// the old tables. Rows written before migration 2 are therefore sealed as they were found when this
/// version of flowrex first opened the database. Part of a shipped migration: never change what it does.
pub(crate) fn chain_existing_rows(tx: &Transaction<'_>) -> Result<()> {
    for chain in CHAINS {
        let old = format!("{}_v1", chain.table);
        chain.copy_from(tx, &old)?;
        tx.execute_batch(&format!("DROP TABLE {old};"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::Db;
    use crate::db::chain::GENESIS;
    use crate::db::migrations;

    #[test]
    fn every_guard_has_its_installed_text() {
        let db = Db::open_in_memory().unwrap();
        let v = verify(db.conn()).unwrap();
        assert!(v.intact(), "{v:?}");
        assert!(v.guards.is_empty());
        for chain in CHAINS {
            for guard in GUARDS {
                assert!(installed_sql(&format!("{}_{guard}", chain.table)).is_some());
            }
        }
        assert_eq!(
            v.chains
                .iter()
                .map(|c| (c.rows, c.head.as_str()))
                .collect::<Vec<_>>(),
            [(0, GENESIS), (0, GENESIS)]
        );
    }

    #[test]
    fn rows_written_before_the_chain_existed_are_chained_by_the_migration() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrations::apply(&mut conn, &MIGRATIONS[..1]).unwrap();
        // Rows as flowrex wrote them before migration 2, with one odd id gap it must keep.
        conn.execute_batch(
            "INSERT INTO risk_decisions (id, ts_ms, ts, kind, symbol, approved, inputs, verdicts)
                 VALUES (1, 10, 't1', 'check', 'X', 1, '{}', '[]'),
                        (2, 20, 't2', 'check', 'X', 0, '{\"a\":1}', '[1]'),
                        (5, 30, 't3', 'reset_daily', NULL, NULL, '{}', '[]');
             INSERT INTO settings_audit (ts_ms, ts, setting, new_value) VALUES (5, 't0', 'risk.balance', '1000');",
        )
        .unwrap();
        migrations::apply(&mut conn, MIGRATIONS).unwrap();
        let v = verify(&conn).unwrap();
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

    #[test]
    fn the_insert_guard_refuses_a_reused_id_and_a_broken_link() {
        let mut db = Db::open_in_memory().unwrap();
        let values = |n: i64| -> Vec<rusqlite::types::Value> {
            vec![
                n.into(),
                "t".to_string().into(),
                "risk.balance".to_string().into(),
                rusqlite::types::Value::Null,
                n.to_string().into(),
                rusqlite::types::Value::Null,
            ]
        };
        db.write(|tx| SETTINGS_AUDIT.append(tx, &values(1)).map(drop))
            .unwrap();
        let head: String = db
            .conn()
            .query_row("SELECT hash FROM settings_audit", [], |r| r.get(0))
            .unwrap();
        for (id, prev) in [(1, GENESIS), (2, GENESIS), (2, "x")] {
            let err = db
                .conn()
                .execute(
                    "INSERT OR REPLACE INTO settings_audit (id, ts_ms, ts, setting, new_value, prev_hash, hash)
                     VALUES (?1, 1, 't', 's', 'v', ?2, ?3)",
                    rusqlite::params![id, prev, head],
                )
                .unwrap_err()
                .to_string();
            assert!(err.contains("append-only"), "{id} {prev}: {err}");
        }
        assert!(verify(db.conn()).unwrap().intact());
    }
}
