-- The agents' decision log (`paper-trade run`): runs, one cycle per playbook and closed bar with its
-- phases and the data it saw, each stage's decisions, the stage-to-stage messages, and the trading
-- state's audited changes. Every table is append-only (triggers below) and hash-chained
-- (`src/db/chain.rs`: `prev_hash`, `hash`), so `paper-trade verify-log` finds any row changed later.

-- Trading state changes: active | reducing (only exits and cancels) | halted (nothing new). The
-- current state is the last row's (active if none).
CREATE TABLE agent_state_changes (
    id     INTEGER PRIMARY KEY,
    ts_ms  INTEGER NOT NULL,
    ts     TEXT NOT NULL,
    state  TEXT NOT NULL CHECK (state IN ('active', 'reducing', 'halted')),
    reason TEXT NOT NULL CHECK (length(trim(reason)) > 0),
    source TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash      TEXT NOT NULL
);

-- One `paper-trade run`: its clock, the playbooks it selected and the mode it ran in.
CREATE TABLE agent_runs (
    id         INTEGER PRIMARY KEY,
    started_ms INTEGER NOT NULL,
    started_ts TEXT NOT NULL,
    now_ms     INTEGER NOT NULL,
    mode       TEXT NOT NULL,
    playbooks  TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash      TEXT NOT NULL
);

-- One cycle: a playbook's decision at the close of one bar. `data_hash` chains the bars up to this
-- one (sha256 of the previous bar's hash and this bar), so a cycle names exactly the history it saw.
-- `phases` is a JSON array of [phase, nanoseconds since the cycle started]; `wall_ms` is the wall
-- clock when it began (the stages' heartbeat, `paper-trade health`).
CREATE TABLE agent_cycles (
    id            INTEGER PRIMARY KEY,
    run_id        INTEGER NOT NULL REFERENCES agent_runs (id),
    playbook      TEXT NOT NULL,
    symbol        TEXT NOT NULL,
    interval      TEXT NOT NULL,
    bar_ms        INTEGER NOT NULL,
    bar_ts        TEXT NOT NULL,
    bar_index     INTEGER NOT NULL,
    data_hash     TEXT NOT NULL,
    mode          TEXT NOT NULL,
    trading_state TEXT NOT NULL,
    proposal      TEXT NOT NULL,
    outcome       TEXT NOT NULL,
    phases        TEXT NOT NULL,
    wall_ms       INTEGER NOT NULL,
    prev_hash     TEXT NOT NULL,
    hash          TEXT NOT NULL,
    UNIQUE (playbook, bar_ms)
);

-- Each stage's decision in a cycle: what it decided, why, and what it links to (the risk decision of
-- the audit log, the paper order).
CREATE TABLE agent_decisions (
    id               INTEGER PRIMARY KEY,
    cycle_id         INTEGER NOT NULL REFERENCES agent_cycles (id),
    stage            TEXT NOT NULL CHECK (stage IN ('supervisor', 'strategy', 'risk', 'execution')),
    decision         TEXT NOT NULL,
    reason           TEXT NOT NULL,
    detail           TEXT,
    risk_decision_id INTEGER,
    order_id         INTEGER,
    prev_hash TEXT NOT NULL,
    hash      TEXT NOT NULL
);
CREATE INDEX agent_decisions_by_cycle ON agent_decisions (cycle_id);

-- Stage-to-stage messages: kind command | request | response | event | halt, priority critical |
-- high | normal | low, a correlation id tying a response to its request. A halt is broadcast ('*').
CREATE TABLE agent_messages (
    id             INTEGER PRIMARY KEY,
    run_id         INTEGER NOT NULL REFERENCES agent_runs (id),
    cycle_id       INTEGER REFERENCES agent_cycles (id),
    ts_ms          INTEGER NOT NULL,
    sender         TEXT NOT NULL,
    recipient      TEXT NOT NULL,
    kind           TEXT NOT NULL CHECK (kind IN ('command', 'request', 'response', 'event', 'halt')),
    priority       TEXT NOT NULL CHECK (priority IN ('critical', 'high', 'normal', 'low')),
    correlation_id TEXT,
    body           TEXT NOT NULL,
    expires_ms     INTEGER,
    prev_hash TEXT NOT NULL,
    hash      TEXT NOT NULL
);

CREATE TRIGGER agent_state_changes_no_update BEFORE UPDATE ON agent_state_changes
BEGIN SELECT RAISE(ABORT, 'agent_state_changes is append-only: UPDATE is not allowed'); END;
CREATE TRIGGER agent_state_changes_no_delete BEFORE DELETE ON agent_state_changes
BEGIN SELECT RAISE(ABORT, 'agent_state_changes is append-only: DELETE is not allowed'); END;
CREATE TRIGGER agent_state_changes_append_only BEFORE INSERT ON agent_state_changes
WHEN NEW.id IS NULL
  OR NEW.id <= (SELECT coalesce(max(id), 0) FROM agent_state_changes)
  OR NEW.prev_hash IS NOT coalesce((SELECT hash FROM agent_state_changes ORDER BY id DESC LIMIT 1),
                                   '0000000000000000000000000000000000000000000000000000000000000000')
BEGIN SELECT RAISE(ABORT, 'agent_state_changes is append-only: a new row needs a new id and must chain to the last row'); END;
CREATE TRIGGER agent_runs_no_update BEFORE UPDATE ON agent_runs
BEGIN SELECT RAISE(ABORT, 'agent_runs is append-only: UPDATE is not allowed'); END;
CREATE TRIGGER agent_runs_no_delete BEFORE DELETE ON agent_runs
BEGIN SELECT RAISE(ABORT, 'agent_runs is append-only: DELETE is not allowed'); END;
CREATE TRIGGER agent_runs_append_only BEFORE INSERT ON agent_runs
WHEN NEW.id IS NULL
  OR NEW.id <= (SELECT coalesce(max(id), 0) FROM agent_runs)
  OR NEW.prev_hash IS NOT coalesce((SELECT hash FROM agent_runs ORDER BY id DESC LIMIT 1),
                                   '0000000000000000000000000000000000000000000000000000000000000000')
BEGIN SELECT RAISE(ABORT, 'agent_runs is append-only: a new row needs a new id and must chain to the last row'); END;
CREATE TRIGGER agent_cycles_no_update BEFORE UPDATE ON agent_cycles
BEGIN SELECT RAISE(ABORT, 'agent_cycles is append-only: UPDATE is not allowed'); END;
CREATE TRIGGER agent_cycles_no_delete BEFORE DELETE ON agent_cycles
BEGIN SELECT RAISE(ABORT, 'agent_cycles is append-only: DELETE is not allowed'); END;
CREATE TRIGGER agent_cycles_append_only BEFORE INSERT ON agent_cycles
WHEN NEW.id IS NULL
  OR NEW.id <= (SELECT coalesce(max(id), 0) FROM agent_cycles)
  OR NEW.prev_hash IS NOT coalesce((SELECT hash FROM agent_cycles ORDER BY id DESC LIMIT 1),
                                   '0000000000000000000000000000000000000000000000000000000000000000')
BEGIN SELECT RAISE(ABORT, 'agent_cycles is append-only: a new row needs a new id and must chain to the last row'); END;
CREATE TRIGGER agent_decisions_no_update BEFORE UPDATE ON agent_decisions
BEGIN SELECT RAISE(ABORT, 'agent_decisions is append-only: UPDATE is not allowed'); END;
CREATE TRIGGER agent_decisions_no_delete BEFORE DELETE ON agent_decisions
BEGIN SELECT RAISE(ABORT, 'agent_decisions is append-only: DELETE is not allowed'); END;
CREATE TRIGGER agent_decisions_append_only BEFORE INSERT ON agent_decisions
WHEN NEW.id IS NULL
  OR NEW.id <= (SELECT coalesce(max(id), 0) FROM agent_decisions)
  OR NEW.prev_hash IS NOT coalesce((SELECT hash FROM agent_decisions ORDER BY id DESC LIMIT 1),
                                   '0000000000000000000000000000000000000000000000000000000000000000')
BEGIN SELECT RAISE(ABORT, 'agent_decisions is append-only: a new row needs a new id and must chain to the last row'); END;
CREATE TRIGGER agent_messages_no_update BEFORE UPDATE ON agent_messages
BEGIN SELECT RAISE(ABORT, 'agent_messages is append-only: UPDATE is not allowed'); END;
CREATE TRIGGER agent_messages_no_delete BEFORE DELETE ON agent_messages
BEGIN SELECT RAISE(ABORT, 'agent_messages is append-only: DELETE is not allowed'); END;
CREATE TRIGGER agent_messages_append_only BEFORE INSERT ON agent_messages
WHEN NEW.id IS NULL
  OR NEW.id <= (SELECT coalesce(max(id), 0) FROM agent_messages)
  OR NEW.prev_hash IS NOT coalesce((SELECT hash FROM agent_messages ORDER BY id DESC LIMIT 1),
                                   '0000000000000000000000000000000000000000000000000000000000000000')
BEGIN SELECT RAISE(ABORT, 'agent_messages is append-only: a new row needs a new id and must chain to the last row'); END;
