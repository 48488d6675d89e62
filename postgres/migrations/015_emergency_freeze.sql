-- The emergency freeze of a holder who cannot sign in (issue 18): each
-- one-time code as its keyed hash (never the code), with its expiry and
-- the attempts made at it, and the signed-out pages' rate limits per
-- account and per client address (keys hashed), shared by every node.
CREATE TABLE emergency_codes (
    id         TEXT COLLATE "C" PRIMARY KEY,
    account    TEXT COLLATE "C" NOT NULL,
    code_hash  TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    attempts   BIGINT NOT NULL DEFAULT 0,
    used_at    BIGINT
);

CREATE INDEX emergency_codes_expires ON emergency_codes (expires_at);

CREATE TABLE rate_limits (
    id           TEXT COLLATE "C" PRIMARY KEY,
    window_start BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    hits         BIGINT NOT NULL
);

CREATE INDEX rate_limits_expires ON rate_limits (expires_at);
