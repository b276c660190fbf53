-- Migration 2: the audit tables become hash chains (src/db/chain.rs) with guards the database enforces.
--
-- Each table is rebuilt STRICT with `prev_hash` and `hash`. A BEFORE INSERT guard requires a new row to
-- take an id above every existing one and to chain to the last row, so `INSERT OR REPLACE` (which deletes
-- the old row without firing DELETE triggers) cannot rewrite a row. UPDATE and DELETE stay forbidden.
-- The rows already there are copied into the chain in id order, with their ids, by the Rust step of this
-- migration (db::audit::chain_existing_rows), which then drops the `_v1` tables.

DROP TRIGGER risk_decisions_no_update;
DROP TRIGGER risk_decisions_no_delete;
DROP TRIGGER settings_audit_no_update;
DROP TRIGGER settings_audit_no_delete;
DROP INDEX risk_decisions_ts;
ALTER TABLE risk_decisions RENAME TO risk_decisions_v1;
ALTER TABLE settings_audit RENAME TO settings_audit_v1;

CREATE TABLE risk_decisions (
    id        INTEGER PRIMARY KEY,
    ts_ms     INTEGER NOT NULL,
    ts        TEXT    NOT NULL,
    kind      TEXT    NOT NULL,   -- check | emergency_trip | strategy_disabled | reset_emergency | reset_daily | enable_strategy
    symbol    TEXT,
    strategy  TEXT,
    approved  INTEGER,            -- checks only: 1 approved, 0 rejected
    reason    TEXT,
    inputs    TEXT    NOT NULL,   -- JSON
    verdicts  TEXT    NOT NULL,   -- JSON array (empty for non-checks)
    prev_hash TEXT    NOT NULL CHECK (length(prev_hash) = 64),
    hash      TEXT    NOT NULL CHECK (length(hash) = 64)
) STRICT;
CREATE INDEX risk_decisions_ts ON risk_decisions (ts_ms);
CREATE TRIGGER risk_decisions_no_update BEFORE UPDATE ON risk_decisions
BEGIN SELECT RAISE(ABORT, 'risk_decisions is append-only: UPDATE is not allowed'); END;
CREATE TRIGGER risk_decisions_no_delete BEFORE DELETE ON risk_decisions
BEGIN SELECT RAISE(ABORT, 'risk_decisions is append-only: DELETE is not allowed'); END;
CREATE TRIGGER risk_decisions_append_only BEFORE INSERT ON risk_decisions
WHEN NEW.id IS NULL
  OR NEW.id <= (SELECT coalesce(max(id), 0) FROM risk_decisions)
  OR NEW.prev_hash IS NOT coalesce((SELECT hash FROM risk_decisions ORDER BY id DESC LIMIT 1),
                                   '0000000000000000000000000000000000000000000000000000000000000000')
BEGIN SELECT RAISE(ABORT, 'risk_decisions is append-only: a new row needs a new id and must chain to the last row'); END;

CREATE TABLE settings_audit (
    id        INTEGER PRIMARY KEY,
    ts_ms     INTEGER NOT NULL,
    ts        TEXT    NOT NULL,
    setting   TEXT    NOT NULL,
    old_value TEXT,
    new_value TEXT    NOT NULL,
    reason    TEXT,
    prev_hash TEXT    NOT NULL CHECK (length(prev_hash) = 64),
    hash      TEXT    NOT NULL CHECK (length(hash) = 64)
) STRICT;
CREATE TRIGGER settings_audit_no_update BEFORE UPDATE ON settings_audit
BEGIN SELECT RAISE(ABORT, 'settings_audit is append-only: UPDATE is not allowed'); END;
CREATE TRIGGER settings_audit_no_delete BEFORE DELETE ON settings_audit
BEGIN SELECT RAISE(ABORT, 'settings_audit is append-only: DELETE is not allowed'); END;
CREATE TRIGGER settings_audit_append_only BEFORE INSERT ON settings_audit
WHEN NEW.id IS NULL
  OR NEW.id <= (SELECT coalesce(max(id), 0) FROM settings_audit)
  OR NEW.prev_hash IS NOT coalesce((SELECT hash FROM settings_audit ORDER BY id DESC LIMIT 1),
                                   '0000000000000000000000000000000000000000000000000000000000000000')
BEGIN SELECT RAISE(ABORT, 'settings_audit is append-only: a new row needs a new id and must chain to the last row'); END;
