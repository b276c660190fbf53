-- Migration 6: the audit trail of `flowrex playbooks set-status` — every status change of a playbook file
-- (candidate, active, retired) with its note, as a hash chain (src/db/chain.rs) with the same guards as
-- the other audit tables: no UPDATE, no DELETE, and a new row must take a new id and chain to the last.

CREATE TABLE playbook_status_events (
    id             INTEGER PRIMARY KEY,
    ts_ms          INTEGER NOT NULL,
    ts             TEXT    NOT NULL,
    name           TEXT    NOT NULL,   -- [playbook] name
    file           TEXT    NOT NULL,   -- the playbook file, absolute
    old_status     TEXT    NOT NULL,
    new_status     TEXT    NOT NULL CHECK (new_status IN ('candidate', 'active', 'retired')),
    note           TEXT    NOT NULL,
    content_sha256 TEXT    NOT NULL CHECK (length(content_sha256) = 64),  -- of the file as written
    prev_hash      TEXT    NOT NULL CHECK (length(prev_hash) = 64),
    hash           TEXT    NOT NULL CHECK (length(hash) = 64)
) STRICT;
CREATE INDEX playbook_status_events_file ON playbook_status_events (file);
CREATE TRIGGER playbook_status_events_no_update BEFORE UPDATE ON playbook_status_events
BEGIN SELECT RAISE(ABORT, 'playbook_status_events is append-only: UPDATE is not allowed'); END;
CREATE TRIGGER playbook_status_events_no_delete BEFORE DELETE ON playbook_status_events
BEGIN SELECT RAISE(ABORT, 'playbook_status_events is append-only: DELETE is not allowed'); END;
CREATE TRIGGER playbook_status_events_append_only BEFORE INSERT ON playbook_status_events
WHEN NEW.id IS NULL
  OR NEW.id <= (SELECT coalesce(max(id), 0) FROM playbook_status_events)
  OR NEW.prev_hash IS NOT coalesce((SELECT hash FROM playbook_status_events ORDER BY id DESC LIMIT 1),
                                   '0000000000000000000000000000000000000000000000000000000000000000')
BEGIN SELECT RAISE(ABORT, 'playbook_status_events is append-only: a new row needs a new id and must chain to the last row'); END;
