-- Migration 9: the counting window of the risk gate's walk (src/db/seal.rs, `Window`).
--
-- A check counts the fills whose time falls in today's window (or this hour's), but rows are appended
-- in id order and `--now` and paper fills record at a bar's time, so an older-looking row can have a
-- higher id. `risk_state` now keeps where the walk over `risk_trades` must start so that every row whose
-- time may fall in the window is re-hashed whatever its time: every row with an id below
-- `trades_from_id` had a time before `trades_from_ms` when the window was sealed (rows appended later
-- get higher ids, so this stays true). Each check re-hashes from there, then moves the window forward to
-- its own start (a check before the window re-hashes every row and leaves it); the pair is sealed in
-- `state_seals` as `risk_trades` / `window`.
--
-- NULL (the state this migration leaves): not anchored yet, so the next check re-hashes every row of
-- `risk_trades` once and anchors the window. The Rust step (db::seal::anchor_window) seals it so.

ALTER TABLE risk_state ADD COLUMN trades_from_ms INTEGER;   -- the window's start (UTC ms)
ALTER TABLE risk_state ADD COLUMN trades_from_id INTEGER;   -- no row below this id had a time at or after it
