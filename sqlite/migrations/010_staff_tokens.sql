-- Staff and tokens (issue 14): staff can be disabled and removed (kept, so
-- that history names them), tokens expire and are kept when revoked, and a
-- Security Center sign-in link is used once.
ALTER TABLE staff ADD COLUMN disabled_at INTEGER;
ALTER TABLE staff ADD COLUMN removed_at INTEGER;
ALTER TABLE tokens ADD COLUMN expires_at INTEGER;
ALTER TABLE tokens ADD COLUMN revoked_at INTEGER;
ALTER TABLE tokens ADD COLUMN last_used_at INTEGER;
CREATE UNIQUE INDEX tokens_id ON tokens (id);

CREATE TABLE used_links (
    hash       TEXT PRIMARY KEY,
    expires_at INTEGER NOT NULL
) STRICT;

CREATE INDEX used_links_expires ON used_links (expires_at);
