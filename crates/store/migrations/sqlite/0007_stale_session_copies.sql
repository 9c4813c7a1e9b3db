-- Sessions whose copy on Redis may be stale: a revocation or a slide that reached the database but
-- perhaps not Redis. An instance drops these copies from Redis before it trusts Redis again, so an
-- outage never brings a revoked session back. Rows live only until the copies are dropped.
CREATE TABLE stale_session_copies (
    key TEXT PRIMARY KEY
) WITHOUT ROWID;
