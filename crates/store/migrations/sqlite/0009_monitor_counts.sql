-- The sale monitor's figures, kept by folding the ledger rows written since the last fold, so that
-- a tick costs the same whatever the shop's history: orders and their units per product and status,
-- and transitions into `paid` per ledger reason. `monitor_fold` holds the last ledger id folded (the
-- one writer assigns ids in commit order; NULL: rebuild from the orders) and when.
CREATE TABLE monitor_orders (
    product_id INTEGER NOT NULL,
    status     TEXT    NOT NULL,
    orders     INTEGER NOT NULL,
    units      INTEGER NOT NULL,
    PRIMARY KEY (product_id, status)
) WITHOUT ROWID;

CREATE TABLE monitor_settlements (
    reason TEXT    PRIMARY KEY,
    orders INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE monitor_fold (
    id        INTEGER PRIMARY KEY CHECK (id = 1),
    position  TEXT,
    folded_at INTEGER
);
INSERT INTO monitor_fold (id) VALUES (1);
