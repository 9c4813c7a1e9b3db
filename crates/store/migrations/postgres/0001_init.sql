-- flashgate schema, PostgreSQL dialect. The database is the last word on every invariant it can hold.

CREATE TABLE products (
    id                 BIGSERIAL PRIMARY KEY,
    sku                TEXT        NOT NULL UNIQUE,
    name               TEXT        NOT NULL,
    price_vnd          BIGINT      NOT NULL CHECK (price_vnd > 0),
    per_customer_limit BIGINT      CHECK (per_customer_limit IS NULL OR per_customer_limit > 0),
    sale_starts_at     TIMESTAMPTZ,
    sale_ends_at       TIMESTAMPTZ,
    created_at         TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at         TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT sale_window_ordered CHECK (sale_ends_at IS NULL OR sale_starts_at IS NULL OR sale_ends_at > sale_starts_at)
);

-- One row per product, apart from the catalogue so that the hot row carries nothing but counters.
CREATE TABLE inventory (
    product_id BIGINT PRIMARY KEY REFERENCES products (id),
    total      BIGINT NOT NULL,
    available  BIGINT NOT NULL,
    reserved   BIGINT NOT NULL,
    sold       BIGINT NOT NULL,
    CONSTRAINT stock_non_negative CHECK (available >= 0 AND reserved >= 0 AND sold >= 0),
    CONSTRAINT stock_balanced CHECK (total = available + reserved + sold)
);

-- Units each customer holds of a product through live and paid orders; a conditional update against the
-- product's limit keeps the limit race-free across one customer's concurrent requests.
CREATE TABLE customer_holdings (
    customer_id TEXT   NOT NULL,
    product_id  BIGINT NOT NULL REFERENCES products (id),
    held        BIGINT NOT NULL CONSTRAINT held_non_negative CHECK (held >= 0),
    PRIMARY KEY (customer_id, product_id)
);

CREATE TABLE orders (
    id          UUID        PRIMARY KEY,
    customer_id TEXT        NOT NULL,
    product_id  BIGINT      NOT NULL REFERENCES products (id),
    quantity    BIGINT      NOT NULL CHECK (quantity > 0),
    amount_vnd  BIGINT      NOT NULL CHECK (amount_vnd > 0),
    status      TEXT        NOT NULL CHECK (status IN ('pending_payment', 'paid', 'payment_failed', 'expired', 'refund_pending', 'refunded')),
    created_at  TIMESTAMPTZ NOT NULL,
    expires_at  TIMESTAMPTZ NOT NULL,
    paid_at     TIMESTAMPTZ,
    payment_url TEXT,
    -- A worker's lease: while it lies in the future, no other worker touches the order.
    lease_until TIMESTAMPTZ
);

CREATE INDEX orders_by_customer ON orders (customer_id, created_at DESC);
CREATE INDEX orders_pending_by_expiry ON orders (expires_at) WHERE status = 'pending_payment';

-- The append-only ledger: every state change, written in the same transaction as the change.
CREATE TABLE order_events (
    id          BIGSERIAL   PRIMARY KEY,
    order_id    UUID        NOT NULL REFERENCES orders (id),
    from_status TEXT,
    to_status   TEXT        NOT NULL,
    reason      TEXT        NOT NULL,
    at          TIMESTAMPTZ NOT NULL
);

CREATE INDEX order_events_by_order ON order_events (order_id, id);

CREATE FUNCTION order_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'order_events is append-only';
END;
$$;

CREATE TRIGGER order_events_append_only
    BEFORE UPDATE OR DELETE ON order_events
    FOR EACH ROW EXECUTE FUNCTION order_events_append_only();

-- The first answer for each (customer, key), replayed to retries. The primary key is what makes
-- concurrent duplicates wait for the first and then replay it.
CREATE TABLE idempotency (
    customer_id     TEXT        NOT NULL,
    idempotency_key TEXT        NOT NULL,
    request_hash    TEXT        NOT NULL,
    -- Deferred: the key is claimed first, so that duplicates wait on it, and the order follows.
    order_id        UUID        NOT NULL UNIQUE REFERENCES orders (id) DEFERRABLE INITIALLY DEFERRED,
    response_status SMALLINT    NOT NULL,
    response_body   BYTEA       NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (customer_id, idempotency_key)
);
