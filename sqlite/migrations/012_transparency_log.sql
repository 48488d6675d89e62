-- The transparency log (issue 17): one Merkle tree over every audit entry.
-- Every entry inserted is queued by a trigger, in the same statement and
-- transaction (tlog_queue); the integrator gives queued entries their
-- leaf index in queue order, stores every complete node of the tree and a
-- signed checkpoint, all in one transaction. Entries written
-- before this migration are queued by it.
CREATE TABLE tlog_queue (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    account TEXT NOT NULL,
    seq     INTEGER NOT NULL
) STRICT;

INSERT INTO tlog_queue (account, seq) SELECT account, seq FROM audit ORDER BY at, account, seq;

CREATE TRIGGER audit_enqueue AFTER INSERT ON audit BEGIN
    INSERT INTO tlog_queue (account, seq) VALUES (NEW.account, NEW.seq);
END;

-- Which entry each leaf is.
CREATE TABLE tlog_leaves (
    idx     INTEGER NOT NULL PRIMARY KEY,
    account TEXT NOT NULL,
    seq     INTEGER NOT NULL,
    UNIQUE (account, seq)
) STRICT;

-- Every complete node of the tree; level 0 holds the leaves' hashes
-- (RFC 6962, of each entry's chain hash).
CREATE TABLE tlog_nodes (
    level INTEGER NOT NULL,
    idx   INTEGER NOT NULL,
    hash  BLOB NOT NULL,
    PRIMARY KEY (level, idx)
) STRICT, WITHOUT ROWID;

-- Every checkpoint published, as its signed note.
CREATE TABLE tlog_checkpoints (
    size INTEGER NOT NULL PRIMARY KEY,
    at   INTEGER NOT NULL,
    root BLOB NOT NULL,
    note TEXT NOT NULL
) STRICT;
