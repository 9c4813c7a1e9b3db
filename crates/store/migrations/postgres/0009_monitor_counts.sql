-- The transaction that wrote each ledger row, for readers that follow the ledger in commit order
-- (the sale monitor's counters, the events feed). Ids come from a sequence and can commit out of
-- order; a reader that remembers the snapshot it last read at takes exactly the rows that became
-- visible since: `NOT pg_visible_in_snapshot(xid, last)` among `xid >= pg_snapshot_xmin(last)`.
--
-- Added without a default first so that existing rows are not rewritten (they stay NULL: every
-- reader starts from a full read made after this migration), then defaulted for new rows.
ALTER TABLE order_events ADD COLUMN xid xid8;
ALTER TABLE order_events ALTER COLUMN xid SET DEFAULT pg_current_xact_id();
CREATE INDEX order_events_by_xid ON order_events (xid) WHERE xid IS NOT NULL;

-- The sale monitor's figures, kept by folding the ledger rows written since the last fold, so that
-- a tick costs the same whatever the shop's history: orders and their units per product and status,
-- and transitions into `paid` per ledger reason. `monitor_fold` holds where the last fold read up to
-- (a snapshot here, the last ledger id on SQLite; NULL: rebuild from the orders) and when.
CREATE TABLE monitor_orders (
    product_id BIGINT NOT NULL,
    status     TEXT   NOT NULL,
    orders     BIGINT NOT NULL,
    units      BIGINT NOT NULL,
    PRIMARY KEY (product_id, status)
);

CREATE TABLE monitor_settlements (
    reason TEXT   PRIMARY KEY,
    orders BIGINT NOT NULL
);

CREATE TABLE monitor_fold (
    id        INTEGER     PRIMARY KEY CHECK (id = 1),
    position  TEXT,
    folded_at TIMESTAMPTZ
);
INSERT INTO monitor_fold (id) VALUES (1);
