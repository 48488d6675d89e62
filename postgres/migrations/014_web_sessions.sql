-- The pages' sessions (issue 18): the Security Center's and the Console's
-- sessions live here, so that signing out, securing the account and the
-- Console's idle timeout end them on every node sharing the store. The
-- cookie carries a random id; the key is its SHA-256. ends_at is the
-- earlier of expires_at and last_seen_at + idle (nanoseconds; idle 0: no
-- idle bound): the lookup and the sweep read it alone.
CREATE TABLE page_sessions (
    hash         TEXT COLLATE "C" PRIMARY KEY,
    site         TEXT NOT NULL,
    subject      TEXT COLLATE "C" NOT NULL,
    created_at   BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    idle         BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    ends_at      BIGINT NOT NULL
);

CREATE INDEX page_sessions_subject ON page_sessions (site, subject);
CREATE INDEX page_sessions_ends ON page_sessions (ends_at);

-- A Console code works once: the time step of the last code that signed
-- the member in (Unix time / 30 s).
ALTER TABLE staff ADD COLUMN totp_step BIGINT;
