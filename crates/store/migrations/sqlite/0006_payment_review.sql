-- An order whose payment is in doubt (VNPay ResponseCode 07, TransactionStatus 04/07: money may have
-- moved without a clear success) waits in payment_review, holding its units, until the gateway's later
-- word or an operator settles it.
--
-- SQLite cannot change a CHECK in place, and the migration runs in a transaction, where foreign keys
-- cannot be switched off to rebuild the table (order_events and idempotency point at it). A CHECK that
-- only admits one more value changes nothing on disk, so the table's definition is edited as SQLite's
-- documentation allows for exactly this; RESET reloads this connection's schema, and the index created
-- below bumps the schema version, so every other connection reloads it too.
PRAGMA writable_schema = ON;
UPDATE sqlite_schema
   SET sql = replace(sql, '''refund_pending'', ''refunded'')', '''refund_pending'', ''refunded'', ''payment_review'')')
 WHERE type = 'table' AND name = 'orders';
PRAGMA writable_schema = RESET;

-- The reconciler asks about orders in review, and about released holds within the late-money window.
CREATE INDEX orders_in_review ON orders (created_at) WHERE status = 'payment_review';
CREATE INDEX orders_released_by_expiry ON orders (expires_at) WHERE status IN ('expired', 'payment_failed');
