-- Holdfast schema, SQLite dialect. The PostgreSQL store keeps the same
-- tables and columns in its own dialect: ids and names are TEXT, times are
-- INTEGER Unix nanoseconds UTC (NULL for "not set"), lists are JSON TEXT,
-- booleans are 0/1 INTEGER. A migration added here needs its twin in
-- postgres/migrations: postgres TestSchemasMatch fails until both define
-- the same tables, columns and indexes.

CREATE TABLE accounts (
    id                    TEXT PRIMARY KEY,
    created_at            INTEGER NOT NULL,
    last_active_at        INTEGER,
    tags                  TEXT,
    factors               TEXT,
    known_devices         TEXT,
    known_countries       TEXT,
    trusted_contacts      TEXT,
    unfreeze_requested_at INTEGER,
    verified_at           INTEGER,
    -- Head of the account's audit chain: the last entry's seq and hash.
    audit_seq             INTEGER NOT NULL DEFAULT 0,
    audit_hash            TEXT NOT NULL DEFAULT ''
) STRICT;

CREATE TABLE restrictions (
    id          TEXT PRIMARY KEY,
    account     TEXT NOT NULL REFERENCES accounts (id),
    kind        TEXT NOT NULL,
    device      TEXT NOT NULL DEFAULT '',
    starts_at   INTEGER NOT NULL,
    ends_at     INTEGER,
    reason      TEXT NOT NULL DEFAULT '',
    disclose    INTEGER NOT NULL,
    applied_by  TEXT NOT NULL DEFAULT '',
    created_at  INTEGER NOT NULL,
    factors     TEXT,
    lifted_at   INTEGER,
    lifted_by   TEXT NOT NULL DEFAULT '',
    lift_reason TEXT NOT NULL DEFAULT ''
) STRICT;

-- Per-account listing (newest first) and the foreign key's child index.
CREATE INDEX restrictions_account ON restrictions (account, created_at);
-- The start-up scan of restrictions in force or still to come.
CREATE INDEX restrictions_active ON restrictions (lifted_at, ends_at);

CREATE TABLE approvals (
    id          TEXT PRIMARY KEY,
    account     TEXT NOT NULL REFERENCES accounts (id),
    restriction TEXT NOT NULL REFERENCES restrictions (id),
    kind        TEXT NOT NULL,
    asked_by    TEXT NOT NULL,
    asked_roles TEXT,
    reason      TEXT NOT NULL DEFAULT '',
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    state       TEXT NOT NULL,
    decided_by  TEXT NOT NULL DEFAULT '',
    decided_at  INTEGER
) STRICT;

CREATE INDEX approvals_state ON approvals (state, created_at);
CREATE INDEX approvals_account ON approvals (account, state);
CREATE INDEX approvals_restriction ON approvals (restriction);

CREATE TABLE withdrawals (
    account    TEXT NOT NULL REFERENCES accounts (id),
    id         TEXT NOT NULL,
    -- The holdfast.WithdrawalRequest as JSON: repeats are compared to it.
    request    TEXT NOT NULL,
    outcome    TEXT NOT NULL,
    causes     TEXT,
    decided_at INTEGER NOT NULL,
    seq        INTEGER NOT NULL,
    PRIMARY KEY (account, id)
) STRICT;

-- The hash-chained audit log. before/after hold the exact JSON bytes that
-- were hashed; a server store must keep them as TEXT, never as a
-- normalising JSON type.
CREATE TABLE audit (
    account     TEXT NOT NULL REFERENCES accounts (id),
    seq         INTEGER NOT NULL,
    at          INTEGER NOT NULL,
    actor       TEXT NOT NULL,
    action      TEXT NOT NULL,
    restriction TEXT NOT NULL DEFAULT '',
    before      TEXT,
    after       TEXT,
    reason      TEXT NOT NULL DEFAULT '',
    prev_hash   TEXT NOT NULL,
    hash        TEXT NOT NULL,
    PRIMARY KEY (account, seq)
) STRICT;

CREATE TABLE staff (
    id         TEXT PRIMARY KEY,
    roles      TEXT,
    created_at INTEGER
) STRICT;

-- Only a token's SHA-256 is stored.
CREATE TABLE tokens (
    hash       TEXT PRIMARY KEY,
    id         TEXT NOT NULL,
    scopes     TEXT,
    staff      TEXT NOT NULL DEFAULT '',
    created_at INTEGER
) STRICT;

CREATE INDEX tokens_staff ON tokens (staff);
