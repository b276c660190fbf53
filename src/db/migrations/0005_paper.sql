-- Migration 3 (placeholder number; renumbered on merge): paper trading. Account epochs, the mode and its
-- audit, processing runs, orders with their append-only event log, the fill ledger, positions, closed
-- trades, and one cursor per market (symbol, interval).
-- Times: `*_ms` is UTC milliseconds (used for queries), `*_ts` the same instant as RFC 3339 (for people).
-- Ids are INTEGER PRIMARY KEY allocated as max + 1 inside the writing transaction, so the same sequence of
-- operations gives the same ids (a restart continues without gaps or duplicates).
-- Append-only tables reject UPDATE and DELETE, and an INSERT that would replace an existing row
-- (INSERT OR REPLACE deletes the old row without firing DELETE triggers), by triggers.

-- One row per account epoch: the first is opened on first use, `paper-trade reset` opens the next one.
-- Append-only (the reset audit).
CREATE TABLE paper_accounts (
    id              INTEGER PRIMARY KEY,
    initial_balance REAL    NOT NULL CHECK (initial_balance > 0),
    opened_ms       INTEGER NOT NULL,
    opened_ts       TEXT    NOT NULL,
    reason          TEXT    NOT NULL,
    previous        TEXT             -- JSON: the previous account when it was reset (null for the first)
);

CREATE TRIGGER paper_accounts_no_replace BEFORE INSERT ON paper_accounts
WHEN EXISTS (SELECT 1 FROM paper_accounts WHERE id = NEW.id)
BEGIN SELECT RAISE(ABORT, 'paper_accounts is append-only: a row is never replaced'); END;
CREATE TRIGGER paper_accounts_no_update BEFORE UPDATE ON paper_accounts
BEGIN SELECT RAISE(ABORT, 'paper_accounts is append-only: UPDATE is not allowed'); END;
CREATE TRIGGER paper_accounts_no_delete BEFORE DELETE ON paper_accounts
BEGIN SELECT RAISE(ABORT, 'paper_accounts is append-only: DELETE is not allowed'); END;

-- Mode changes (guide | autonomous), with the reason. The current mode is the last row's (guide if none).
-- Append-only (the mode audit).
CREATE TABLE paper_mode_changes (
    id       INTEGER PRIMARY KEY,
    ts_ms    INTEGER NOT NULL,
    ts       TEXT    NOT NULL,
    old_mode TEXT    NOT NULL CHECK (old_mode IN ('guide', 'autonomous')),
    new_mode TEXT    NOT NULL CHECK (new_mode IN ('guide', 'autonomous')),
    reason   TEXT    NOT NULL CHECK (length(trim(reason)) > 0)
);

CREATE TRIGGER paper_mode_changes_no_replace BEFORE INSERT ON paper_mode_changes
WHEN EXISTS (SELECT 1 FROM paper_mode_changes WHERE id = NEW.id)
BEGIN SELECT RAISE(ABORT, 'paper_mode_changes is append-only: a row is never replaced'); END;
CREATE TRIGGER paper_mode_changes_no_update BEFORE UPDATE ON paper_mode_changes
BEGIN SELECT RAISE(ABORT, 'paper_mode_changes is append-only: UPDATE is not allowed'); END;
CREATE TRIGGER paper_mode_changes_no_delete BEFORE DELETE ON paper_mode_changes
BEGIN SELECT RAISE(ABORT, 'paper_mode_changes is append-only: DELETE is not allowed'); END;

-- A processing run: the fill-model settings and seed it matched with. Written with its first change.
CREATE TABLE paper_runs (
    id         INTEGER PRIMARY KEY,
    started_ms INTEGER NOT NULL,
    started_ts TEXT    NOT NULL,
    account_id INTEGER NOT NULL REFERENCES paper_accounts (id),
    seed       INTEGER NOT NULL,
    settings   TEXT    NOT NULL      -- JSON
);

CREATE TRIGGER paper_runs_no_replace BEFORE INSERT ON paper_runs
WHEN EXISTS (SELECT 1 FROM paper_runs WHERE id = NEW.id)
BEGIN SELECT RAISE(ABORT, 'paper_runs is append-only: a row is never replaced'); END;
CREATE TRIGGER paper_runs_no_update BEFORE UPDATE ON paper_runs
BEGIN SELECT RAISE(ABORT, 'paper_runs is append-only: UPDATE is not allowed'); END;
CREATE TRIGGER paper_runs_no_delete BEFORE DELETE ON paper_runs
BEGIN SELECT RAISE(ABORT, 'paper_runs is append-only: DELETE is not allowed'); END;

-- Orders. The definition columns never change (a trigger refuses it); state, filled quantity, average
-- fill price, reason and the position link follow the event log in the same transaction.
CREATE TABLE paper_orders (
    id               INTEGER PRIMARY KEY,
    account_id       INTEGER NOT NULL REFERENCES paper_accounts (id),
    client_id        TEXT,
    symbol           TEXT    NOT NULL,
    interval         TEXT    NOT NULL,
    strategy         TEXT    NOT NULL DEFAULT '',
    role             TEXT    NOT NULL CHECK (role IN ('entry', 'exit', 'stop_loss', 'take_profit')),
    side             TEXT    NOT NULL CHECK (side IN ('long', 'short')),
    kind             TEXT    NOT NULL CHECK (kind IN ('market', 'limit', 'stop', 'stop_limit')),
    tif              TEXT    NOT NULL CHECK (tif IN ('gtc', 'ioc', 'day')),
    quantity         REAL    NOT NULL CHECK (quantity > 0),
    limit_price      REAL,
    stop_price       REAL,
    stop_loss        REAL,
    take_profit      REAL,
    reference_price  REAL,
    parent_id        INTEGER REFERENCES paper_orders (id),
    risk_decision_id INTEGER UNIQUE,
    submitted_ms     INTEGER NOT NULL,
    submitted_ts     TEXT    NOT NULL,
    active_from_ms   INTEGER NOT NULL,
    expires_ms       INTEGER,
    state            TEXT    NOT NULL CHECK (state IN ('new', 'denied', 'previewed', 'submitted', 'triggered',
                                  'partially_filled', 'filled', 'cancelled', 'expired', 'rejected')),
    filled_quantity  REAL    NOT NULL DEFAULT 0 CHECK (filled_quantity >= 0),
    avg_fill_price   REAL,
    position_id      INTEGER,
    reason           TEXT,
    updated_ms       INTEGER NOT NULL,
    UNIQUE (account_id, client_id)
);
CREATE INDEX paper_orders_working ON paper_orders (account_id, id)
    WHERE state IN ('submitted', 'triggered', 'partially_filled');
CREATE INDEX paper_orders_account ON paper_orders (account_id, id);
CREATE INDEX paper_orders_position ON paper_orders (position_id);
CREATE TRIGGER paper_orders_no_replace BEFORE INSERT ON paper_orders
WHEN EXISTS (SELECT 1 FROM paper_orders WHERE id = NEW.id)
  OR (NEW.client_id IS NOT NULL AND EXISTS (SELECT 1 FROM paper_orders
        WHERE account_id = NEW.account_id AND client_id = NEW.client_id))
BEGIN SELECT RAISE(ABORT, 'paper_orders: an order is never replaced'); END;
CREATE TRIGGER paper_orders_no_delete BEFORE DELETE ON paper_orders
BEGIN SELECT RAISE(ABORT, 'paper_orders: DELETE is not allowed'); END;
CREATE TRIGGER paper_orders_definition_fixed BEFORE UPDATE OF
    id, account_id, client_id, symbol, interval, strategy, role, side, kind, tif, quantity, limit_price,
    stop_price, stop_loss, take_profit, reference_price, parent_id, risk_decision_id, submitted_ms,
    submitted_ts, active_from_ms, expires_ms ON paper_orders
BEGIN SELECT RAISE(ABORT, 'paper_orders: an order''s definition never changes'); END;
CREATE TRIGGER paper_orders_final_states BEFORE UPDATE OF state ON paper_orders
WHEN OLD.state IN ('denied', 'previewed', 'filled', 'cancelled', 'expired', 'rejected')
BEGIN SELECT RAISE(ABORT, 'paper_orders: an order in a final state never changes'); END;

-- Every state change of every order. Append-only.
CREATE TABLE paper_order_events (
    id         INTEGER PRIMARY KEY,
    order_id   INTEGER NOT NULL REFERENCES paper_orders (id),
    ts_ms      INTEGER NOT NULL,
    ts         TEXT    NOT NULL,
    event      TEXT    NOT NULL,
    from_state TEXT,
    to_state   TEXT    NOT NULL,
    reason     TEXT,
    price      REAL,
    quantity   REAL,
    detail     TEXT              -- JSON: a denial's verdicts, a fill's id, …
);
CREATE INDEX paper_order_events_order ON paper_order_events (order_id, id);
CREATE TRIGGER paper_order_events_no_replace BEFORE INSERT ON paper_order_events
WHEN EXISTS (SELECT 1 FROM paper_order_events WHERE id = NEW.id)
BEGIN SELECT RAISE(ABORT, 'paper_order_events is append-only: a row is never replaced'); END;
CREATE TRIGGER paper_order_events_no_update BEFORE UPDATE ON paper_order_events
BEGIN SELECT RAISE(ABORT, 'paper_order_events is append-only: UPDATE is not allowed'); END;
CREATE TRIGGER paper_order_events_no_delete BEFORE DELETE ON paper_order_events
BEGIN SELECT RAISE(ABORT, 'paper_order_events is append-only: DELETE is not allowed'); END;

-- The fill ledger. Each row also carries the position after it and the account after it (the fold of
-- the ledger up to this row: balance, realized P&L, commissions, trades, wins, fills), written once and never
-- updated; `paper-trade account --verify` re-folds the whole ledger and compares. Append-only.
CREATE TABLE paper_fills (
    id               INTEGER PRIMARY KEY,
    account_id       INTEGER NOT NULL REFERENCES paper_accounts (id),
    order_id         INTEGER NOT NULL REFERENCES paper_orders (id),
    run_id           INTEGER REFERENCES paper_runs (id),
    position_id      INTEGER NOT NULL,
    symbol           TEXT    NOT NULL,
    interval         TEXT    NOT NULL,
    strategy         TEXT    NOT NULL,
    side             TEXT    NOT NULL CHECK (side IN ('long', 'short')),   -- long = a buy, short = a sell
    effect           TEXT    NOT NULL CHECK (effect IN ('open', 'close')),
    quantity         REAL    NOT NULL CHECK (quantity > 0),
    requested_price  REAL    NOT NULL,
    price            REAL    NOT NULL,
    slippage_bps     REAL    NOT NULL,
    commission       REAL    NOT NULL,
    realized         REAL    NOT NULL,  -- gross P&L of a closing fill, 0 for an opening one
    cash             REAL    NOT NULL,  -- the change to the balance
    ts_ms            INTEGER NOT NULL,
    ts               TEXT    NOT NULL,
    exit_reason      TEXT,
    ambiguous        INTEGER NOT NULL DEFAULT 0 CHECK (ambiguous IN (0, 1)),
    position_units   REAL    NOT NULL,  -- signed units of the position after this fill
    position_entry   REAL,              -- its average entry price after this fill (null once flat)
    balance          REAL    NOT NULL,
    realized_total   REAL    NOT NULL,
    commission_total REAL    NOT NULL,
    trades           INTEGER NOT NULL,
    wins             INTEGER NOT NULL,
    fills            INTEGER NOT NULL   -- fills of the account up to and including this one
);
CREATE INDEX paper_fills_account ON paper_fills (account_id, id);
CREATE INDEX paper_fills_position ON paper_fills (position_id, id);
CREATE TRIGGER paper_fills_no_replace BEFORE INSERT ON paper_fills
WHEN EXISTS (SELECT 1 FROM paper_fills WHERE id = NEW.id)
BEGIN SELECT RAISE(ABORT, 'paper_fills is append-only: a row is never replaced'); END;
CREATE TRIGGER paper_fills_no_update BEFORE UPDATE ON paper_fills
BEGIN SELECT RAISE(ABORT, 'paper_fills is append-only: UPDATE is not allowed'); END;
CREATE TRIGGER paper_fills_no_delete BEFORE DELETE ON paper_fills
BEGIN SELECT RAISE(ABORT, 'paper_fills is append-only: DELETE is not allowed'); END;

-- Positions: id = the fill that opened it. Only `closed_ms`/`closed_ts` change, once, when it closes.
CREATE TABLE paper_positions (
    id             INTEGER PRIMARY KEY,
    account_id     INTEGER NOT NULL REFERENCES paper_accounts (id),
    symbol         TEXT    NOT NULL,
    interval       TEXT    NOT NULL,
    strategy       TEXT    NOT NULL,
    side           TEXT    NOT NULL CHECK (side IN ('long', 'short')),
    entry_order_id INTEGER NOT NULL REFERENCES paper_orders (id),
    stop_loss      REAL,
    take_profit    REAL,
    opened_ms      INTEGER NOT NULL,
    opened_ts      TEXT    NOT NULL,
    closed_ms      INTEGER,
    closed_ts      TEXT
);
CREATE INDEX paper_positions_open ON paper_positions (account_id, symbol, interval) WHERE closed_ms IS NULL;
CREATE TRIGGER paper_positions_no_replace BEFORE INSERT ON paper_positions
WHEN EXISTS (SELECT 1 FROM paper_positions WHERE id = NEW.id)
BEGIN SELECT RAISE(ABORT, 'paper_positions: a position is never replaced'); END;
CREATE TRIGGER paper_positions_no_delete BEFORE DELETE ON paper_positions
BEGIN SELECT RAISE(ABORT, 'paper_positions: DELETE is not allowed'); END;
CREATE TRIGGER paper_positions_close_once BEFORE UPDATE ON paper_positions
WHEN OLD.closed_ms IS NOT NULL
  OR NEW.id IS NOT OLD.id OR NEW.account_id IS NOT OLD.account_id OR NEW.symbol IS NOT OLD.symbol
  OR NEW.interval IS NOT OLD.interval OR NEW.strategy IS NOT OLD.strategy OR NEW.side IS NOT OLD.side
  OR NEW.entry_order_id IS NOT OLD.entry_order_id OR NEW.stop_loss IS NOT OLD.stop_loss
  OR NEW.take_profit IS NOT OLD.take_profit OR NEW.opened_ms IS NOT OLD.opened_ms
BEGIN SELECT RAISE(ABORT, 'paper_positions: only an open position''s close time may be set, once'); END;

-- Closed trades: one per closing fill (id = that fill), as the backtest's trade record. Append-only.
CREATE TABLE paper_trades (
    id          INTEGER PRIMARY KEY,
    account_id  INTEGER NOT NULL REFERENCES paper_accounts (id),
    position_id INTEGER NOT NULL REFERENCES paper_positions (id),
    symbol      TEXT    NOT NULL,
    interval    TEXT    NOT NULL,
    strategy    TEXT    NOT NULL,
    size        REAL    NOT NULL,   -- signed units closed
    entry_price REAL    NOT NULL,
    exit_price  REAL    NOT NULL,
    stop        REAL,
    target      REAL,
    pnl         REAL    NOT NULL,
    commission  REAL    NOT NULL,
    return_pct  REAL    NOT NULL,
    entry_ms    INTEGER NOT NULL,
    exit_ms     INTEGER NOT NULL,
    exit_reason TEXT    NOT NULL,
    ambiguous   INTEGER NOT NULL CHECK (ambiguous IN (0, 1))
);
CREATE INDEX paper_trades_account ON paper_trades (account_id, id);
CREATE INDEX paper_trades_position ON paper_trades (position_id);
CREATE TRIGGER paper_trades_no_replace BEFORE INSERT ON paper_trades
WHEN EXISTS (SELECT 1 FROM paper_trades WHERE id = NEW.id)
BEGIN SELECT RAISE(ABORT, 'paper_trades is append-only: a row is never replaced'); END;
CREATE TRIGGER paper_trades_no_update BEFORE UPDATE ON paper_trades
BEGIN SELECT RAISE(ABORT, 'paper_trades is append-only: UPDATE is not allowed'); END;
CREATE TRIGGER paper_trades_no_delete BEFORE DELETE ON paper_trades
BEGIN SELECT RAISE(ABORT, 'paper_trades is append-only: DELETE is not allowed'); END;

-- How far the broker has processed each market, and the close it marks positions to.
CREATE TABLE paper_cursors (
    symbol      TEXT    NOT NULL,
    interval    TEXT    NOT NULL,
    last_bar_ms INTEGER NOT NULL,
    last_close  REAL    NOT NULL,
    updated_ms  INTEGER NOT NULL,
    PRIMARY KEY (symbol, interval)
);
