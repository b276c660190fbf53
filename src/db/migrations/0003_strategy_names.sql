-- Migration 3: strategy names are case-insensitive identifiers (risk::StrategyId): a budget row is keyed
-- by the normalized name — surrounding ASCII whitespace trimmed, ASCII letters lowercased — so `SMA`,
-- `sma ` and ` sma` are one strategy. This is exactly what StrategyId does to a name (it refuses
-- non-ASCII names, so SQLite's ASCII-only lower() and this trim() set agree with it).
--
-- Rows whose names normalize alike are merged, failing closed: disabled if any of them is disabled, the
-- longest losing streak, the reason and time of the latest disable. The CHECK keeps the table normalized.

CREATE TABLE strategy_budgets_v3 (
    strategy           TEXT    PRIMARY KEY
                               CHECK (strategy <> '' AND strategy = lower(trim(strategy, char(32, 9, 10, 12, 13)))),
    enabled            INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    consecutive_losses INTEGER NOT NULL DEFAULT 0,
    disabled_reason    TEXT,
    disabled_ts        TEXT,
    updated_ts         TEXT
);

INSERT INTO strategy_budgets_v3 (strategy, enabled, consecutive_losses, disabled_reason, disabled_ts, updated_ts)
SELECT n.name,
       min(b.enabled),
       max(b.consecutive_losses),
       (SELECT d.disabled_reason FROM strategy_budgets d
         WHERE lower(trim(d.strategy, char(32, 9, 10, 12, 13))) = n.name AND d.enabled = 0
         ORDER BY d.disabled_ts DESC LIMIT 1),
       (SELECT max(d.disabled_ts) FROM strategy_budgets d
         WHERE lower(trim(d.strategy, char(32, 9, 10, 12, 13))) = n.name AND d.enabled = 0),
       max(b.updated_ts)
FROM (SELECT DISTINCT lower(trim(strategy, char(32, 9, 10, 12, 13))) AS name FROM strategy_budgets) n
JOIN strategy_budgets b ON lower(trim(b.strategy, char(32, 9, 10, 12, 13))) = n.name
WHERE n.name <> ''
GROUP BY n.name;

DROP TABLE strategy_budgets;
ALTER TABLE strategy_budgets_v3 RENAME TO strategy_budgets;
