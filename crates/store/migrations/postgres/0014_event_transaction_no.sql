-- Each ledger row records the gateway's number for the payment as the order carried it right after
-- the change, so that an event shows the order as it was then however late it is read (the feed, a
-- webhook's retry or replay), not a later payment's number. An order's creation has none.
ALTER TABLE order_events ADD COLUMN gateway_transaction_no BIGINT;
-- The rows written before: every change but a creation gets the order's number as it stands, which is
-- what the feed showed for them until now.
ALTER TABLE order_events DISABLE TRIGGER order_events_append_only;
UPDATE order_events e SET gateway_transaction_no = o.gateway_transaction_no
FROM orders o
WHERE o.id = e.order_id AND e.to_status <> 'pending_payment' AND o.gateway_transaction_no IS NOT NULL;
ALTER TABLE order_events ENABLE TRIGGER order_events_append_only;
