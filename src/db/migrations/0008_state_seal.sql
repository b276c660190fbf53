-- Migration 8 (placeholder number; renumbered on merge): the live state is sealed (src/db/seal.rs).
--
-- `risk_trades` (every fill and close the risk book recorded; the trade counters are counted from it)
-- becomes an append-only hash chain like the audit tables of migration 2: rebuilt STRICT with
-- `prev_hash` and `hash`, UPDATE and DELETE refused, and a BEFORE INSERT guard that requires a new id
-- chained to the last row. The rows already there are copied in id order, with their ids, by the Rust
-- step (db::seal::anchor_existing_state), which then drops `risk_trades_v7`.
--
-- `state_seals` (append-only, chained) holds the sealed content of each row of the mutable state —
-- `risk_state`, `strategy_budgets`, `paper_cursors`, the head of `risk_trades` — one entry per change,
-- written by the operation that changed it; the Rust step seals every row as this migration found it.

DROP INDEX risk_trades_kind_ts;
ALTER TABLE risk_trades RENAME TO risk_trades_v7;

CREATE TABLE risk_trades (
    id        INTEGER PRIMARY KEY,
    ts_ms     INTEGER NOT NULL,
    ts        TEXT    NOT NULL,
    kind      TEXT    NOT NULL CHECK (kind IN ('fill', 'close')),
    symbol    TEXT,
    strategy  TEXT,
    pnl       REAL,
    prev_hash TEXT    NOT NULL CHECK (length(prev_hash) = 64),
    hash      TEXT    NOT NULL CHECK (length(hash) = 64)
) STRICT;
CREATE INDEX risk_trades_kind_ts ON risk_trades (kind, ts_ms);
CREATE TRIGGER risk_trades_no_update BEFORE UPDATE ON risk_trades
BEGIN SELECT RAISE(ABORT, 'risk_trades is append-only: UPDATE is not allowed'); END;
CREATE TRIGGER risk_trades_no_delete BEFORE DELETE ON risk_trades
BEGIN SELECT RAISE(ABORT, 'risk_trades is append-only: DELETE is not allowed'); END;
CREATE TRIGGER risk_trades_append_only BEFORE INSERT ON risk_trades
WHEN NEW.id IS NULL
  OR NEW.id <= (SELECT coalesce(max(id), 0) FROM risk_trades)
  OR NEW.prev_hash IS NOT coalesce((SELECT hash FROM risk_trades ORDER BY id DESC LIMIT 1),
                                   '0000000000000000000000000000000000000000000000000000000000000000')
BEGIN SELECT RAISE(ABORT, 'risk_trades is append-only: a new row needs a new id and must chain to the last row'); END;

CREATE TABLE state_seals (
    id        INTEGER PRIMARY KEY,
    ts_ms     INTEGER NOT NULL,
    tbl       TEXT    NOT NULL,   -- risk_state | strategy_budgets | paper_cursors | risk_trades (its head)
    key       TEXT    NOT NULL,   -- the row's key (src/db/seal.rs)
    row       TEXT,               -- JSON: the row's columns as sealed; NULL: the row is gone
    prev_hash TEXT    NOT NULL CHECK (length(prev_hash) = 64),
    hash      TEXT    NOT NULL CHECK (length(hash) = 64)
) STRICT;
CREATE INDEX state_seals_row ON state_seals (tbl, key, id);
CREATE TRIGGER state_seals_no_update BEFORE UPDATE ON state_seals
BEGIN SELECT RAISE(ABORT, 'state_seals is append-only: UPDATE is not allowed'); END;
CREATE TRIGGER state_seals_no_delete BEFORE DELETE ON state_seals
BEGIN SELECT RAISE(ABORT, 'state_seals is append-only: DELETE is not allowed'); END;
CREATE TRIGGER state_seals_append_only BEFORE INSERT ON state_seals
WHEN NEW.id IS NULL
  OR NEW.id <= (SELECT coalesce(max(id), 0) FROM state_seals)
  OR NEW.prev_hash IS NOT coalesce((SELECT hash FROM state_seals ORDER BY id DESC LIMIT 1),
                                   '0000000000000000000000000000000000000000000000000000000000000000')
BEGIN SELECT RAISE(ABORT, 'state_seals is append-only: a new row needs a new id and must chain to the last row'); END;
