-- Each ledger row records the gateway's number for the payment as the order carried it right after
-- the change, so that an event shows the order as it was then however late it is read (the feed, a
-- webhook's retry or replay), not a later payment's number. An order's creation has none.
ALTER TABLE order_events ADD COLUMN gateway_transaction_no INTEGER;
-- The rows written before: every change but a creation gets the order's number as it stands, which is
-- what the feed showed for them until now.
DROP TRIGGER order_events_no_update;
UPDATE order_events SET gateway_transaction_no = (
    SELECT o.gateway_transaction_no FROM orders o WHERE o.id = order_events.order_id
)
WHERE to_status <> 'pending_payment';
CREATE TRIGGER order_events_no_update BEFORE UPDATE ON order_events
BEGIN
    SELECT RAISE(ABORT, 'order_events is append-only');
END;
