-- The emergency freeze of a holder who cannot sign in (issue 18): each
-- one-time code as its keyed hash (never the code), with its expiry and
-- the attempts made at it, and the signed-out pages' rate limits per
-- account and per client address (keys hashed), shared by every node.
CREATE TABLE emergency_codes (
    id         TEXT PRIMARY KEY,
    account    TEXT NOT NULL,
    code_hash  TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    attempts   INTEGER NOT NULL DEFAULT 0,
    used_at    INTEGER
) STRICT;

CREATE INDEX emergency_codes_expires ON emergency_codes (expires_at);

CREATE TABLE rate_limits (
    id           TEXT PRIMARY KEY,
    window_start INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    hits         INTEGER NOT NULL
) STRICT;

CREATE INDEX rate_limits_expires ON rate_limits (expires_at);
