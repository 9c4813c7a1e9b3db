-- Money in doubt about an order whose hold had already been released (expired or failed), when its
-- units could not be taken back (sold since, or the customer at the limit), waits in
-- payment_review_released: it holds no units and no quota, and the reconciler asks the gateway about
-- it with no time limit until the money is confirmed (taken again, or refunded) or said unpaid.
--
-- The status CHECK admits one more value, edited in place as 0006_payment_review.sql explains (the
-- index created below bumps the schema version, so every other connection reloads it).
PRAGMA writable_schema = ON;
UPDATE sqlite_schema
   SET sql = replace(sql, '''payment_review'', ''refund_failed'')', '''payment_review'', ''refund_failed'', ''payment_review_released'')')
 WHERE type = 'table' AND name = 'orders';
PRAGMA writable_schema = RESET;

-- The reconciler asks about these orders on every pass that finds them due.
CREATE INDEX orders_in_review_released ON orders (created_at) WHERE status = 'payment_review_released';
