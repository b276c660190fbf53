//! The audit tables of the state database as hash chains ([`super::chain`]): `risk_decisions` (every
//! check, emergency trip, auto-disable, reset and re-enable) and `settings_audit` (the balance set by hand,
//! the effective limits when they change). [`verify`] recomputes both chains and checks that the guard
//! triggers the migrations installed are there, unchanged; it also covers the live state's chains and
//! seal ([`super::seal`]).

use rusqlite::{Connection, OptionalExtension, Transaction};
use serde::Serialize;

use super::chain::{Chain, ChainStatus, Fault};
use super::seal;
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
    /// One status per chain, in the order they were verified.
    pub chains: Vec<ChainStatus>,
    /// Guard triggers that are missing or differ from what the migrations installed.
    pub guards: Vec<Fault>,
    /// How the live state differs from its last seal ([`super::seal::verify_state`]; `None` when it
    /// does not, or was not compared).
    pub state: Option<Fault>,
}

impl Verification {
    /// Every chain verifies and every guard is in place.
    pub fn intact(&self) -> bool {
        self.first_fault().is_none()
    }

    /// The first broken row (in the order the chains were verified), else the live state's difference
    /// from its seal, else the first guard problem.
    pub fn first_fault(&self) -> Option<&Fault> {
        self.chains
            .iter()
            .find_map(|c| c.fault.as_ref())
            .or(self.state.as_ref())
            .or(self.guards.first())
    }
}

/// The text of a trigger as the migrations installed it (`migrations::installed_trigger_sql`), passed in
/// so that this module does not depend on the migration list that depends on it.
pub type InstalledSql = fn(&str) -> Option<&'static str>;

/// Verifies every audit chain, the chains of the live state (`risk_trades`, `state_seals`) and their
/// guard triggers against `installed`, and compares the live state with its last seal. Read-only: run
/// it in a read transaction for a consistent snapshot.
pub fn verify(conn: &Connection, installed: InstalledSql) -> Result<Verification> {
    let [a, b] = CHAINS;
    let [c, d] = seal::CHAINS;
    let mut v = verify_chains(conn, &[a, b, c, d], installed)?;
    v.state = seal::verify_state(conn)?;
    Ok(v)
}

/// Verifies `chains` (each an append-only table with the three guard triggers `<table>_no_update`,
/// `<table>_no_delete` and `<table>_append_only`) against the trigger text `installed` gives. Read-only.
pub fn verify_chains(
    conn: &Connection,
    chains: &[Chain],
    installed: InstalledSql,
) -> Result<Verification> {
    let mut out = Verification {
        chains: Vec::with_capacity(chains.len()),
        guards: Vec::new(),
        state: None,
    };
    for &chain in chains {
        out.chains.push(chain.verify(conn)?);
        for guard in GUARDS {
            let name = format!("{}_{guard}", chain.table);
            if let Some(problem) = guard_problem(conn, chain.table, &name, installed(&name))? {
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
fn guard_problem(
    conn: &Connection,
    table: &str,
    name: &str,
    expected: Option<&str>,
) -> Result<Option<String>> {
    let found: Option<(String, String)> = conn
        .query_row(
            "SELECT tbl_name, sql FROM sqlite_master WHERE type = 'trigger' AND name = ?1",
            [name],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
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

    /// The guard triggers as migrations 2 and 8 write them (read from their files, not through the
    /// migration list).
    fn installed(name: &str) -> Option<&'static str> {
        let files: [&'static str; 2] = [
            include_str!("migrations/0002_audit_chain.sql"),
            include_str!("migrations/0008_state_seal.sql"),
        ];
        files.into_iter().find_map(|sql| {
            let start = sql.find(&format!("CREATE TRIGGER {name} "))?;
            let len = sql[start..].find("END;")? + "END".len();
            Some(&sql[start..start + len])
        })
    }
    use crate::db::Db;
    use crate::db::chain::GENESIS;

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
        assert!(verify(db.conn(), installed).unwrap().intact());
    }
}
