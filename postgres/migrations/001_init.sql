-- Holdfast schema, PostgreSQL dialect: the tables and columns of
-- sqlite/migrations/001_init.sql. Ids and names are TEXT (keys in the "C"
-- collation, so that they sort byte by byte as SQLite's BINARY does), times
-- are BIGINT Unix nanoseconds UTC (NULL for "not set"), lists are JSON
-- TEXT, booleans are BOOLEAN. A migration added here needs its twin in
-- sqlite/migrations: TestSchemasMatch (schema_test.go) fails until both
-- define the same tables, columns and indexes.

CREATE TABLE accounts (
    id                    TEXT COLLATE "C" PRIMARY KEY,
    created_at            BIGINT NOT NULL,
    last_active_at        BIGINT,
    tags                  TEXT,
    factors               TEXT,
    known_devices         TEXT,
    known_countries       TEXT,
    trusted_contacts      TEXT,
    unfreeze_requested_at BIGINT,
    verified_at           BIGINT,
    -- Head of the account's audit chain: the last entry's seq and hash.
    audit_seq             BIGINT NOT NULL DEFAULT 0,
    audit_hash            TEXT NOT NULL DEFAULT ''
);

CREATE TABLE restrictions (
    id          TEXT COLLATE "C" PRIMARY KEY,
    account     TEXT COLLATE "C" NOT NULL REFERENCES accounts (id),
    kind        TEXT NOT NULL,
    device      TEXT NOT NULL DEFAULT '',
    starts_at   BIGINT NOT NULL,
    ends_at     BIGINT,
    reason      TEXT NOT NULL DEFAULT '',
    disclose    BOOLEAN NOT NULL,
    applied_by  TEXT NOT NULL DEFAULT '',
    created_at  BIGINT NOT NULL,
    factors     TEXT,
    lifted_at   BIGINT,
    lifted_by   TEXT NOT NULL DEFAULT '',
    lift_reason TEXT NOT NULL DEFAULT ''
);

-- Per-account listing (newest first) and the foreign key's child index.
CREATE INDEX restrictions_account ON restrictions (account, created_at);
-- The start-up scan of restrictions in force or still to come.
CREATE INDEX restrictions_active ON restrictions (lifted_at, ends_at);

CREATE TABLE approvals (
    id          TEXT COLLATE "C" PRIMARY KEY,
    account     TEXT COLLATE "C" NOT NULL REFERENCES accounts (id),
    restriction TEXT COLLATE "C" NOT NULL REFERENCES restrictions (id),
    kind        TEXT NOT NULL,
    asked_by    TEXT NOT NULL,
    asked_roles TEXT,
    reason      TEXT NOT NULL DEFAULT '',
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    state       TEXT NOT NULL,
    decided_by  TEXT NOT NULL DEFAULT '',
    decided_at  BIGINT
);

CREATE INDEX approvals_state ON approvals (state, created_at);
CREATE INDEX approvals_account ON approvals (account, state);
CREATE INDEX approvals_restriction ON approvals (restriction);

CREATE TABLE withdrawals (
    account    TEXT COLLATE "C" NOT NULL REFERENCES accounts (id),
    id         TEXT COLLATE "C" NOT NULL,
    -- The holdfast.WithdrawalRequest as JSON: repeats are compared to it.
    request    TEXT NOT NULL,
    outcome    TEXT NOT NULL,
    causes     TEXT,
    decided_at BIGINT NOT NULL,
    seq        BIGINT NOT NULL,
    PRIMARY KEY (account, id)
);

-- The hash-chained audit log. before/after hold the exact JSON bytes that
-- were hashed: TEXT, never json/jsonb, which would normalise them.
CREATE TABLE audit (
    account     TEXT COLLATE "C" NOT NULL REFERENCES accounts (id),
    seq         BIGINT NOT NULL,
    at          BIGINT NOT NULL,
    actor       TEXT NOT NULL,
    action      TEXT NOT NULL,
    restriction TEXT NOT NULL DEFAULT '',
    before      TEXT,
    after       TEXT,
    reason      TEXT NOT NULL DEFAULT '',
    prev_hash   TEXT NOT NULL,
    hash        TEXT NOT NULL,
    PRIMARY KEY (account, seq)
);

CREATE TABLE staff (
    id         TEXT COLLATE "C" PRIMARY KEY,
    roles      TEXT,
    created_at BIGINT
);

-- Only a token's SHA-256 is stored.
CREATE TABLE tokens (
    hash       TEXT COLLATE "C" PRIMARY KEY,
    id         TEXT NOT NULL,
    scopes     TEXT,
    staff      TEXT COLLATE "C" NOT NULL DEFAULT '',
    created_at BIGINT
);

CREATE INDEX tokens_staff ON tokens (staff);
