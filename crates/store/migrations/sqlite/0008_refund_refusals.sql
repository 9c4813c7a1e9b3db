-- A refund the gateway refuses is retried with a growing pause (next_poll_at, as the reconciler's
-- polls); refund_refusals counts the refusals since the order last entered refund_pending, and after
-- payments.refund_max_refusals of them the order waits in refund_failed for an operator.
--
-- The status CHECK admits one more value, edited in place as 0006_payment_review.sql explains.
PRAGMA writable_schema = ON;
UPDATE sqlite_schema
   SET sql = replace(sql, '''refunded'', ''payment_review'')', '''refunded'', ''payment_review'', ''refund_failed'')')
 WHERE type = 'table' AND name = 'orders';
PRAGMA writable_schema = RESET;

ALTER TABLE orders ADD COLUMN refund_refusals INTEGER NOT NULL DEFAULT 0
    CHECK (refund_refusals >= 0);

-- The operator's view of money owed that the gateway would not give back.
CREATE INDEX orders_refund_failed ON orders (created_at) WHERE status = 'refund_failed';
