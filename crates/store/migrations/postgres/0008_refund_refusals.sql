-- A refund the gateway refuses is retried with a growing pause (next_poll_at, as the reconciler's
-- polls); refund_refusals counts the refusals since the order last entered refund_pending, and after
-- payments.refund_max_refusals of them the order waits in refund_failed for an operator.
ALTER TABLE orders DROP CONSTRAINT orders_status_check;
ALTER TABLE orders ADD CONSTRAINT orders_status_check CHECK (status IN (
    'pending_payment', 'payment_review', 'paid', 'payment_failed', 'expired', 'refund_pending',
    'refund_failed', 'refunded'));
ALTER TABLE orders ADD COLUMN refund_refusals BIGINT NOT NULL DEFAULT 0
    CONSTRAINT orders_refund_refusals_not_negative CHECK (refund_refusals >= 0);

-- The operator's view of money owed that the gateway would not give back.
CREATE INDEX orders_refund_failed ON orders (created_at) WHERE status = 'refund_failed';
