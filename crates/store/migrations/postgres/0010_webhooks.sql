-- Webhooks: the endpoints a shop registered and the deliveries of order events to them. The ledger
-- is the outbox; the dispatcher reads it in commit order (`webhook_fanout` holds how far, as a feed
-- position) and writes one delivery per event and subscribed endpoint, so the purchase path writes
-- nothing more than its ledger row.

CREATE TABLE webhook_endpoints (
    id              UUID        PRIMARY KEY,
    url             TEXT        NOT NULL,
    -- The event types sent there, comma-separated; NULL: every type.
    events          TEXT,
    secret          TEXT        NOT NULL,
    -- After a rotation the old secret signs too, until previous_until.
    previous_secret TEXT,
    previous_until  TIMESTAMPTZ,
    enabled         BOOLEAN     NOT NULL DEFAULT TRUE,
    -- Set when the dispatcher disabled it: a delivery failed for the whole retry schedule.
    disabled_reason TEXT,
    created_at      TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL
);

CREATE TABLE webhook_fanout (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    xid      TEXT    NOT NULL DEFAULT '0',
    event_id BIGINT  NOT NULL DEFAULT 0
);
INSERT INTO webhook_fanout (id) VALUES (1);

CREATE TABLE webhook_deliveries (
    id              BIGSERIAL   PRIMARY KEY,
    endpoint_id     UUID        NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    event_id        BIGINT      NOT NULL REFERENCES order_events (id),
    order_id        UUID        NOT NULL,
    sequence        BIGINT      NOT NULL,
    event_at        TIMESTAMPTZ NOT NULL,
    attempts        BIGINT      NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMPTZ NOT NULL,
    -- A dispatcher's claim: while lease_until lies ahead, only the holder of lease_token sends it.
    lease_until     TIMESTAMPTZ,
    lease_token     UUID,
    delivered_at    TIMESTAMPTZ,
    -- Given up after the whole retry schedule (the endpoint was disabled with it).
    failed_at       TIMESTAMPTZ,
    last_error      TEXT,
    CONSTRAINT one_delivery_per_event UNIQUE (endpoint_id, event_id)
);

CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at)
    WHERE delivered_at IS NULL AND failed_at IS NULL;
-- The operator's view: what was given up on (the monitor counts them each tick).
CREATE INDEX webhook_deliveries_failed ON webhook_deliveries (endpoint_id) WHERE failed_at IS NOT NULL;
-- Per-order order: a delivery waits for the earlier ones of its order to the same endpoint.
CREATE INDEX webhook_deliveries_open_by_order ON webhook_deliveries (endpoint_id, order_id, sequence)
    WHERE delivered_at IS NULL;
