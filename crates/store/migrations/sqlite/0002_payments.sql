-- Payments: the gateway's transaction number on each order, the reconciler's polling schedule, and a
-- raw record of every gateway message.

ALTER TABLE orders ADD COLUMN gateway_transaction_no INTEGER;
ALTER TABLE orders ADD COLUMN next_poll_at INTEGER;

CREATE INDEX orders_pending_by_creation ON orders (created_at) WHERE status = 'pending_payment';
CREATE INDEX orders_refund_pending ON orders (created_at) WHERE status = 'refund_pending';

CREATE TABLE payment_events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    order_id    TEXT,
    txn_ref     TEXT,
    source      TEXT    NOT NULL CHECK (source IN ('ipn', 'return', 'querydr', 'refund')),
    verified    INTEGER NOT NULL,
    raw         TEXT    NOT NULL,
    outcome     TEXT    NOT NULL,
    received_at INTEGER NOT NULL
) STRICT;

CREATE INDEX payment_events_by_order ON payment_events (order_id, id);
