-- Buyers' server-side sessions, known only by the SHA-256 of their id (hex), so a leaked table gives no
-- usable session. A session is live while now is before both expiries; revoking deletes the row.
CREATE TABLE sessions (
    key             TEXT        PRIMARY KEY,
    customer_id     TEXT        NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL,
    idle_expires_at TIMESTAMPTZ NOT NULL,
    expires_at      TIMESTAMPTZ NOT NULL,
    CONSTRAINT session_idle_within_lifetime CHECK (idle_expires_at <= expires_at)
);

-- Dead sessions are swept as new ones start.
CREATE INDEX sessions_idle_expires_at ON sessions (idle_expires_at);
