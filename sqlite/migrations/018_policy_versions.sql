-- Policy versions and their four-eyes activations (issue 20). A version is
-- its YAML exactly as pushed, named by the SHA-256 of those bytes. At most
-- one version is active and at most one shadowed, and at most one
-- activation is pending: partial unique indexes say so, so no two nodes
-- can both succeed at making a second one. Times are Unix nanoseconds.
CREATE TABLE policy_versions (
    hash         TEXT PRIMARY KEY,
    yaml         BLOB NOT NULL,
    comment      TEXT NOT NULL,
    author       TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    state        TEXT NOT NULL CHECK (state IN ('draft', 'shadow', 'active', 'retired')),
    activated_at INTEGER,
    requested_by TEXT NOT NULL,
    approved_by  TEXT NOT NULL
) STRICT;

CREATE UNIQUE INDEX policy_versions_one_active ON policy_versions (state) WHERE state = 'active';
CREATE UNIQUE INDEX policy_versions_one_shadow ON policy_versions (state) WHERE state = 'shadow';
CREATE INDEX policy_versions_created ON policy_versions (created_at);

CREATE TABLE policy_activations (
    id           TEXT PRIMARY KEY,
    hash         TEXT NOT NULL REFERENCES policy_versions (hash),
    rollback     INTEGER NOT NULL,
    reason       TEXT NOT NULL,
    requested_by TEXT NOT NULL,
    requested_at INTEGER NOT NULL,
    state        TEXT NOT NULL CHECK (state IN ('pending', 'approved', 'rejected')),
    decided_by   TEXT NOT NULL,
    decided_at   INTEGER
) STRICT;

CREATE UNIQUE INDEX policy_activations_one_pending ON policy_activations (state) WHERE state = 'pending';
CREATE INDEX policy_activations_requested ON policy_activations (requested_at);
