-- Acknowledged webhook deliveries are deleted once past `webhooks.delivered_retention_seconds` (the
-- events themselves stay in the ledger, and a replay writes their deliveries again): the dispatcher
-- finds the oldest through this index.
CREATE INDEX webhook_deliveries_delivered ON webhook_deliveries (delivered_at)
    WHERE delivered_at IS NOT NULL;
