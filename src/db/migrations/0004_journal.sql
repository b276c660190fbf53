-- Migration 4: the trade journal (src/journal/). Four append-only, hash-chained tables (src/db/chain.rs),
-- guarded like the audit tables of migration 2: UPDATE and DELETE are refused, and a BEFORE INSERT guard
-- requires a new row to take an id above every existing one and to chain to the last row, so
-- `INSERT OR REPLACE` cannot rewrite a row. `journal verify` recomputes the chains and checks the guards.
--
-- Times: `*_ms` columns are UTC milliseconds. Reals are stored as given and hashed in their shortest
-- round-trip form; the writer never stores -0.0 (SQLite may read it back as 0.0) or a non-finite value.

-- One row per closed trade: the shared trade record (src/trade.rs TradeRecord) and its context.
CREATE TABLE journal_entries (
    id              INTEGER PRIMARY KEY,
    recorded_ms     INTEGER NOT NULL,                 -- when the row was written
    source          TEXT    NOT NULL CHECK (source IN ('backtest', 'paper', 'live')),
    run_id          TEXT,                             -- the backtest run, paper run or import batch
    strategy        TEXT    NOT NULL                  -- the name trades and risk budgets go by (StrategyId)
                            CHECK (strategy <> '' AND strategy = lower(trim(strategy, char(32, 9, 10, 12, 13)))),
    model           TEXT,                             -- the registry strategy (sma_cross, …), when known
    params          TEXT,                             -- JSON object of parameter values
    settings        TEXT,                             -- JSON object: backtest settings and data window
    playbook        TEXT,                             -- playbook name
    playbook_sha256 TEXT    CHECK (playbook_sha256 IS NULL OR length(playbook_sha256) = 64),
    symbol          TEXT    NOT NULL CHECK (symbol <> ''),
    interval        TEXT,
    account         TEXT    NOT NULL,
    order_ids       TEXT,                             -- JSON array of the orders behind the trade
    side            TEXT    NOT NULL CHECK (side IN ('long', 'short')),
    size            REAL    NOT NULL,                 -- signed units
    entry_bar       INTEGER,                          -- bar indices of the run (NULL for live trades)
    exit_bar        INTEGER,
    entry_ms        INTEGER NOT NULL,
    exit_ms         INTEGER NOT NULL CHECK (exit_ms >= entry_ms),
    entry_price     REAL    NOT NULL CHECK (entry_price > 0),
    exit_price      REAL    NOT NULL CHECK (exit_price > 0),
    stop            REAL,
    target          REAL,
    pnl             REAL    NOT NULL,
    commission      REAL    NOT NULL CHECK (commission >= 0),
    return_pct      REAL    NOT NULL,
    exit_reason     TEXT    NOT NULL,
    ambiguous       INTEGER NOT NULL CHECK (ambiguous IN (0, 1)),
    prev_hash       TEXT    NOT NULL CHECK (length(prev_hash) = 64),
    hash            TEXT    NOT NULL CHECK (length(hash) = 64)
) STRICT;
CREATE INDEX journal_entries_book ON journal_entries (strategy, symbol, source);
CREATE TRIGGER journal_entries_no_update BEFORE UPDATE ON journal_entries
BEGIN SELECT RAISE(ABORT, 'journal_entries is append-only: UPDATE is not allowed'); END;
CREATE TRIGGER journal_entries_no_delete BEFORE DELETE ON journal_entries
BEGIN SELECT RAISE(ABORT, 'journal_entries is append-only: DELETE is not allowed'); END;
CREATE TRIGGER journal_entries_append_only BEFORE INSERT ON journal_entries
WHEN NEW.id IS NULL
  OR NEW.id <= (SELECT coalesce(max(id), 0) FROM journal_entries)
  OR NEW.prev_hash IS NOT coalesce((SELECT hash FROM journal_entries ORDER BY id DESC LIMIT 1),
                                   '0000000000000000000000000000000000000000000000000000000000000000')
BEGIN SELECT RAISE(ABORT, 'journal_entries is append-only: a new row needs a new id and must chain to the last row'); END;

-- Every fill `journal import` read, as read: the round trips of live entries are assembled from them, so
-- a position still open at the end of one file is closed by the fills of the next one.
CREATE TABLE journal_fills (
    id          INTEGER PRIMARY KEY,
    recorded_ms INTEGER NOT NULL,
    account     TEXT    NOT NULL,
    strategy    TEXT    NOT NULL,
    symbol      TEXT    NOT NULL,
    order_id    TEXT    NOT NULL,
    ts_ms       INTEGER NOT NULL,
    side        TEXT    NOT NULL CHECK (side IN ('long', 'short')),
    quantity    REAL    NOT NULL CHECK (quantity > 0),
    price       REAL    NOT NULL CHECK (price > 0),
    fee         REAL    NOT NULL CHECK (fee >= 0),
    occurrence  INTEGER NOT NULL,                     -- 1 for the first such fill of the order, 2 for an identical second …
    file        TEXT    NOT NULL,
    line        INTEGER NOT NULL,
    prev_hash   TEXT    NOT NULL CHECK (length(prev_hash) = 64),
    hash        TEXT    NOT NULL CHECK (length(hash) = 64)
) STRICT;
-- A fill is imported once: the same order's fill at the same time, side, quantity and price.
CREATE UNIQUE INDEX journal_fills_once ON journal_fills (account, symbol, order_id, ts_ms, side, quantity, price, occurrence);
CREATE INDEX journal_fills_book ON journal_fills (account, strategy, symbol, ts_ms);
CREATE TRIGGER journal_fills_no_update BEFORE UPDATE ON journal_fills
BEGIN SELECT RAISE(ABORT, 'journal_fills is append-only: UPDATE is not allowed'); END;
CREATE TRIGGER journal_fills_no_delete BEFORE DELETE ON journal_fills
BEGIN SELECT RAISE(ABORT, 'journal_fills is append-only: DELETE is not allowed'); END;
CREATE TRIGGER journal_fills_append_only BEFORE INSERT ON journal_fills
WHEN NEW.id IS NULL
  OR NEW.id <= (SELECT coalesce(max(id), 0) FROM journal_fills)
  OR NEW.prev_hash IS NOT coalesce((SELECT hash FROM journal_fills ORDER BY id DESC LIMIT 1),
                                   '0000000000000000000000000000000000000000000000000000000000000000')
BEGIN SELECT RAISE(ABORT, 'journal_fills is append-only: a new row needs a new id and must chain to the last row'); END;

-- Every decision of `journal feedback`, with the criteria values and thresholds it was made on.
CREATE TABLE journal_feedback (
    id         INTEGER PRIMARY KEY,
    ts_ms      INTEGER NOT NULL,
    ts         TEXT    NOT NULL,
    strategy   TEXT    NOT NULL,
    symbol     TEXT    NOT NULL,
    sources    TEXT    NOT NULL,                      -- the entry sources evaluated, comma-separated
    decision   TEXT    NOT NULL CHECK (decision IN ('no_action', 'monitor_closely', 'trigger_optimization', 'disable_strategy')),
    trades     INTEGER NOT NULL,                      -- trades in the window
    criteria   TEXT    NOT NULL,                      -- JSON: each criterion's value, threshold, met
    sequential TEXT    NOT NULL,                      -- JSON: the CUSUM test
    action     TEXT    NOT NULL,                      -- JSON: what was done (risk audit id, queued spec)
    prev_hash  TEXT    NOT NULL CHECK (length(prev_hash) = 64),
    hash       TEXT    NOT NULL CHECK (length(hash) = 64)
) STRICT;
CREATE TRIGGER journal_feedback_no_update BEFORE UPDATE ON journal_feedback
BEGIN SELECT RAISE(ABORT, 'journal_feedback is append-only: UPDATE is not allowed'); END;
CREATE TRIGGER journal_feedback_no_delete BEFORE DELETE ON journal_feedback
BEGIN SELECT RAISE(ABORT, 'journal_feedback is append-only: DELETE is not allowed'); END;
CREATE TRIGGER journal_feedback_append_only BEFORE INSERT ON journal_feedback
WHEN NEW.id IS NULL
  OR NEW.id <= (SELECT coalesce(max(id), 0) FROM journal_feedback)
  OR NEW.prev_hash IS NOT coalesce((SELECT hash FROM journal_feedback ORDER BY id DESC LIMIT 1),
                                   '0000000000000000000000000000000000000000000000000000000000000000')
BEGIN SELECT RAISE(ABORT, 'journal_feedback is append-only: a new row needs a new id and must chain to the last row'); END;

-- Dated performance snapshots per strategy and symbol (`journal snapshot`), for trends.
CREATE TABLE journal_snapshots (
    id        INTEGER PRIMARY KEY,
    ts_ms     INTEGER NOT NULL,
    ts        TEXT    NOT NULL,
    strategy  TEXT    NOT NULL,
    symbol    TEXT    NOT NULL,
    sources   TEXT    NOT NULL,
    trades    INTEGER NOT NULL,
    stats     TEXT    NOT NULL,                       -- JSON: every figure of `journal stats`, all trades
    window_stats TEXT NOT NULL,                       -- JSON: the same over the feedback window
    prev_hash TEXT    NOT NULL CHECK (length(prev_hash) = 64),
    hash      TEXT    NOT NULL CHECK (length(hash) = 64)
) STRICT;
CREATE TRIGGER journal_snapshots_no_update BEFORE UPDATE ON journal_snapshots
BEGIN SELECT RAISE(ABORT, 'journal_snapshots is append-only: UPDATE is not allowed'); END;
CREATE TRIGGER journal_snapshots_no_delete BEFORE DELETE ON journal_snapshots
BEGIN SELECT RAISE(ABORT, 'journal_snapshots is append-only: DELETE is not allowed'); END;
CREATE TRIGGER journal_snapshots_append_only BEFORE INSERT ON journal_snapshots
WHEN NEW.id IS NULL
  OR NEW.id <= (SELECT coalesce(max(id), 0) FROM journal_snapshots)
  OR NEW.prev_hash IS NOT coalesce((SELECT hash FROM journal_snapshots ORDER BY id DESC LIMIT 1),
                                   '0000000000000000000000000000000000000000000000000000000000000000')
BEGIN SELECT RAISE(ABORT, 'journal_snapshots is append-only: a new row needs a new id and must chain to the last row'); END;
