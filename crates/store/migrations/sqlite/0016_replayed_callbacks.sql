-- A verified callback (IPN, Return) is stored once per order: replaying a genuine one, word for word,
-- counts on the row already there (`repeats`) instead of adding a row per call, so it cannot grow the
-- disk nor an order's detail. `raw_sha256` is the SHA-256 of the raw query (hex), set for verified
-- callbacks about an order only; rows from before have none and stay as they are.
ALTER TABLE payment_events ADD COLUMN raw_sha256 TEXT;
ALTER TABLE payment_events ADD COLUMN repeats INTEGER NOT NULL DEFAULT 0;
CREATE UNIQUE INDEX payment_events_verified_once ON payment_events (order_id, source, raw_sha256)
    WHERE raw_sha256 IS NOT NULL;
