-- The admission gate's fence: the epoch of the gate state last built from this stock row. Gated
-- reservations are written only while the row still carries the epoch they were admitted under, and
-- every write that takes units without the gate clears it, so the gate can never admit more units
-- than the database holds. NULL: no gate state is trusted (none built, or bypassed since).
ALTER TABLE inventory ADD COLUMN gate_epoch BIGINT;
