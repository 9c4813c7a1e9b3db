-- Unverified callbacks are deleted once past their retention; this finds them without a scan of every
-- gateway message kept.
CREATE INDEX payment_events_unverified_callbacks ON payment_events (received_at)
    WHERE NOT verified AND source IN ('ipn', 'return');
