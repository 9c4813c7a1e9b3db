-- flashgate schema, SQLite dialect. Times are integer microseconds since the Unix epoch (UTC), so they
-- compare as numbers; the database is the last word on every invariant it can hold.

CREATE TABLE products (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    sku                TEXT    NOT NULL UNIQUE,
    name               TEXT    NOT NULL,
    price_vnd          INTEGER NOT NULL CHECK (price_vnd > 0),
    per_customer_limit INTEGER CHECK (per_customer_limit IS NULL OR per_customer_limit > 0),
    sale_starts_at     INTEGER,
    sale_ends_at       INTEGER,
    created_at         INTEGER NOT NULL,
    updated_at         INTEGER NOT NULL,
    CONSTRAINT sale_window_ordered CHECK (sale_ends_at IS NULL OR sale_starts_at IS NULL OR sale_ends_at > sale_starts_at)
) STRICT;

CREATE TABLE inventory (
    product_id INTEGER PRIMARY KEY REFERENCES products (id),
    total      INTEGER NOT NULL,
    available  INTEGER NOT NULL,
    reserved   INTEGER NOT NULL,
    sold       INTEGER NOT NULL,
    CONSTRAINT stock_non_negative CHECK (available >= 0 AND reserved >= 0 AND sold >= 0),
    CONSTRAINT stock_balanced CHECK (total = available + reserved + sold)
) STRICT;

CREATE TABLE customer_holdings (
    customer_id TEXT    NOT NULL,
    product_id  INTEGER NOT NULL REFERENCES products (id),
    held        INTEGER NOT NULL CONSTRAINT held_non_negative CHECK (held >= 0),
    PRIMARY KEY (customer_id, product_id)
) STRICT;

CREATE TABLE orders (
    id          TEXT    PRIMARY KEY,
    customer_id TEXT    NOT NULL,
    product_id  INTEGER NOT NULL REFERENCES products (id),
    quantity    INTEGER NOT NULL CHECK (quantity > 0),
    amount_vnd  INTEGER NOT NULL CHECK (amount_vnd > 0),
    status      TEXT    NOT NULL CHECK (status IN ('pending_payment', 'paid', 'payment_failed', 'expired', 'refund_pending', 'refunded')),
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    paid_at     INTEGER,
    payment_url TEXT,
    lease_until INTEGER
) STRICT;

CREATE INDEX orders_by_customer ON orders (customer_id, created_at DESC);
CREATE INDEX orders_pending_by_expiry ON orders (expires_at) WHERE status = 'pending_payment';

CREATE TABLE order_events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    order_id    TEXT    NOT NULL REFERENCES orders (id),
    from_status TEXT,
    to_status   TEXT    NOT NULL,
    reason      TEXT    NOT NULL,
    at          INTEGER NOT NULL
) STRICT;

CREATE INDEX order_events_by_order ON order_events (order_id, id);

CREATE TRIGGER order_events_no_update BEFORE UPDATE ON order_events
BEGIN
    SELECT RAISE(ABORT, 'order_events is append-only');
END;

CREATE TRIGGER order_events_no_delete BEFORE DELETE ON order_events
BEGIN
    SELECT RAISE(ABORT, 'order_events is append-only');
END;

CREATE TABLE idempotency (
    customer_id     TEXT    NOT NULL,
    idempotency_key TEXT    NOT NULL,
    request_hash    TEXT    NOT NULL,
    order_id        TEXT    NOT NULL UNIQUE REFERENCES orders (id) DEFERRABLE INITIALLY DEFERRED,
    response_status INTEGER NOT NULL,
    response_body   BLOB    NOT NULL,
    created_at      INTEGER NOT NULL,
    PRIMARY KEY (customer_id, idempotency_key)
) STRICT;
