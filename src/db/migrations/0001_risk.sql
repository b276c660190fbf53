-- Migration 1: risk state, fills, strategy budgets, and the append-only audit tables.
-- Times: `ts_ms` is UTC milliseconds (used for queries), `ts` the same instant as RFC 3339 (for people).

-- One row (id = 1): the account as the risk layer sees it.
CREATE TABLE risk_state (
    id                INTEGER PRIMARY KEY CHECK (id = 1),
    balance           REAL    NOT NULL DEFAULT 0,
    equity_peak       REAL    NOT NULL DEFAULT 0,
    day               TEXT    NOT NULL DEFAULT '',   -- UTC date (YYYY-MM-DD) the daily figures belong to
    day_started_ms    INTEGER NOT NULL DEFAULT 0,    -- trades at or after this count as "today"
    day_start_balance REAL    NOT NULL DEFAULT 0,
    daily_pnl         REAL    NOT NULL DEFAULT 0,
    open_positions    INTEGER NOT NULL DEFAULT 0 CHECK (open_positions >= 0),
    emergency         INTEGER NOT NULL DEFAULT 0 CHECK (emergency IN (0, 1)),
    emergency_reason  TEXT,
    emergency_ts      TEXT,
    updated_ts        TEXT
);
INSERT INTO risk_state (id) VALUES (1);

-- Fills (a trade opened) and closes (a trade closed with its P&L).
CREATE TABLE risk_trades (
    id       INTEGER PRIMARY KEY,
    ts_ms    INTEGER NOT NULL,
    ts       TEXT    NOT NULL,
    kind     TEXT    NOT NULL CHECK (kind IN ('fill', 'close')),
    symbol   TEXT,
    strategy TEXT,
    pnl      REAL
);
CREATE INDEX risk_trades_kind_ts ON risk_trades (kind, ts_ms);

-- Per-strategy risk budget.
CREATE TABLE strategy_budgets (
    strategy           TEXT    PRIMARY KEY,
    enabled            INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    consecutive_losses INTEGER NOT NULL DEFAULT 0,
    disabled_reason    TEXT,
    disabled_ts        TEXT,
    updated_ts         TEXT
);

-- Audit: every validation, emergency trip, auto-disable, reset and re-enable. Append-only.
CREATE TABLE risk_decisions (
    id       INTEGER PRIMARY KEY,
    ts_ms    INTEGER NOT NULL,
    ts       TEXT    NOT NULL,
    kind     TEXT    NOT NULL,   -- check | emergency_trip | strategy_disabled | reset_emergency | reset_daily | enable_strategy
    symbol   TEXT,
    strategy TEXT,
    approved INTEGER,            -- checks only: 1 approved, 0 rejected
    reason   TEXT,
    inputs   TEXT    NOT NULL,   -- JSON
    verdicts TEXT    NOT NULL    -- JSON array (empty for non-checks)
);
CREATE INDEX risk_decisions_ts ON risk_decisions (ts_ms);
CREATE TRIGGER risk_decisions_no_update BEFORE UPDATE ON risk_decisions
BEGIN SELECT RAISE(ABORT, 'risk_decisions is append-only: UPDATE is not allowed'); END;
CREATE TRIGGER risk_decisions_no_delete BEFORE DELETE ON risk_decisions
BEGIN SELECT RAISE(ABORT, 'risk_decisions is append-only: DELETE is not allowed'); END;

-- Audit of settings: the balance set by hand, the effective soft limits when they change. Append-only.
CREATE TABLE settings_audit (
    id        INTEGER PRIMARY KEY,
    ts_ms     INTEGER NOT NULL,
    ts        TEXT    NOT NULL,
    setting   TEXT    NOT NULL,
    old_value TEXT,
    new_value TEXT    NOT NULL,
    reason    TEXT
);
CREATE TRIGGER settings_audit_no_update BEFORE UPDATE ON settings_audit
BEGIN SELECT RAISE(ABORT, 'settings_audit is append-only: UPDATE is not allowed'); END;
CREATE TRIGGER settings_audit_no_delete BEFORE DELETE ON settings_audit
BEGIN SELECT RAISE(ABORT, 'settings_audit is append-only: DELETE is not allowed'); END;
