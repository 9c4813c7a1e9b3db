-- A disabled endpoint is paused, not muted: while it is disabled the fan-out writes it nothing, and
-- enabling it again writes the deliveries of every event after the fan-out's position when it was
-- disabled (kept here, NULL while enabled). Endpoints disabled before this migration missed what came
-- until now for good; from here on they miss nothing.
ALTER TABLE webhook_endpoints ADD COLUMN missed_after_xid TEXT;
ALTER TABLE webhook_endpoints ADD COLUMN missed_after_event_id INTEGER;
UPDATE webhook_endpoints SET
    missed_after_xid = (SELECT xid FROM webhook_fanout WHERE id = 1),
    missed_after_event_id = (SELECT event_id FROM webhook_fanout WHERE id = 1)
WHERE NOT enabled;
