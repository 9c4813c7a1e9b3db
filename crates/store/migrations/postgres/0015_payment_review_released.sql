-- Money in doubt about an order whose hold had already been released (expired or failed), when its
-- units could not be taken back (sold since, or the customer at the limit), waits in
-- payment_review_released: it holds no units and no quota, and the reconciler asks the gateway about
-- it with no time limit until the money is confirmed (taken again, or refunded) or said unpaid.
ALTER TABLE orders DROP CONSTRAINT orders_status_check;
ALTER TABLE orders ADD CONSTRAINT orders_status_check CHECK (status IN (
    'pending_payment', 'payment_review', 'payment_review_released', 'paid', 'payment_failed',
    'expired', 'refund_pending', 'refund_failed', 'refunded'));

-- The reconciler asks about these orders on every pass that finds them due.
CREATE INDEX orders_in_review_released ON orders (created_at) WHERE status = 'payment_review_released';
