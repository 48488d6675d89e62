-- Event intake (issue 3): what the event stream taught about an account,
-- why a rule applied a restriction, the events themselves (history and
-- the input of backtests), and the outbox of commands to other services.
ALTER TABLE accounts ADD COLUMN activity TEXT;
ALTER TABLE restrictions ADD COLUMN origin TEXT;

CREATE TABLE events (
    seq     INTEGER PRIMARY KEY AUTOINCREMENT,
    id      TEXT NOT NULL UNIQUE,
    account TEXT NOT NULL REFERENCES accounts (id),
    type    TEXT NOT NULL,
    at      INTEGER NOT NULL,
    -- The holdfast.Event as JSON.
    payload TEXT NOT NULL
) STRICT;
CREATE INDEX events_account ON events (account, seq);

CREATE INDEX withdrawals_decided ON withdrawals (account, decided_at);

CREATE TABLE outbox (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    id           TEXT NOT NULL UNIQUE,
    account      TEXT NOT NULL,
    type         TEXT NOT NULL,
    restriction  TEXT NOT NULL DEFAULT '',
    event        TEXT NOT NULL DEFAULT '',
    created_at   INTEGER NOT NULL,
    -- Delivery: pending until delivered, or dead after the last attempt.
    state        TEXT NOT NULL DEFAULT 'pending',
    attempts     INTEGER NOT NULL DEFAULT 0,
    next_at      INTEGER NOT NULL,
    lease_until  INTEGER,
    last_error   TEXT NOT NULL DEFAULT '',
    delivered_at INTEGER
) STRICT;
CREATE INDEX outbox_due ON outbox (state, next_at);
