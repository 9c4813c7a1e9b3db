-- Payments: the gateway's transaction number on each order, the reconciler's polling schedule, and a
-- raw record of every gateway message.

ALTER TABLE orders ADD COLUMN gateway_transaction_no BIGINT;
-- When the reconciler next asks the gateway about a pending order (NULL: after the first threshold).
ALTER TABLE orders ADD COLUMN next_poll_at TIMESTAMPTZ;

CREATE INDEX orders_pending_by_creation ON orders (created_at) WHERE status = 'pending_payment';
CREATE INDEX orders_refund_pending ON orders (created_at) WHERE status = 'refund_pending';

-- Every callback and query result, stored raw before it is acted on, verified or not.
CREATE TABLE payment_events (
    id          BIGSERIAL   PRIMARY KEY,
    order_id    UUID,
    txn_ref     TEXT,
    source      TEXT        NOT NULL CHECK (source IN ('ipn', 'return', 'querydr', 'refund')),
    verified    BOOLEAN     NOT NULL,
    raw         TEXT        NOT NULL,
    outcome     TEXT        NOT NULL,
    received_at TIMESTAMPTZ NOT NULL
);

CREATE INDEX payment_events_by_order ON payment_events (order_id, id);
