-- An order whose payment is in doubt (VNPay ResponseCode 07, TransactionStatus 04/07: money may have
-- moved without a clear success) waits in payment_review, holding its units, until the gateway's later
-- word or an operator settles it.
ALTER TABLE orders DROP CONSTRAINT orders_status_check;
ALTER TABLE orders ADD CONSTRAINT orders_status_check CHECK (status IN (
    'pending_payment', 'payment_review', 'paid', 'payment_failed', 'expired', 'refund_pending', 'refunded'));

-- The reconciler asks about orders in review, and about released holds within the late-money window.
CREATE INDEX orders_in_review ON orders (created_at) WHERE status = 'payment_review';
CREATE INDEX orders_released_by_expiry ON orders (expires_at) WHERE status IN ('expired', 'payment_failed');
