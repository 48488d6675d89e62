-- The store's identity: a random id made once, with the schema. The
-- change feed puts it in its message ids, so that two databases on one
-- NATS (two clusters, a test run after another) never send the same id,
-- which JetStream would drop as a repeat.
CREATE TABLE store_identity (
    one INTEGER PRIMARY KEY CHECK (one = 1),
    id  TEXT NOT NULL
) STRICT;
INSERT INTO store_identity (one, id) VALUES (1, lower(hex(randomblob(8))));
