-- Outbox delivery (issue 3). The outbox table itself came with 003; this
-- adds what staff need to see a receiver that keeps failing: when the last
-- attempt was made, and a listing by state, newest first.
ALTER TABLE outbox ADD COLUMN last_attempt_at BIGINT;

CREATE INDEX outbox_state ON outbox (state, seq);
