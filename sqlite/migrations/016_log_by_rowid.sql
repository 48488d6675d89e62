-- The transparency log reads new audit entries by rowid (decision 114):
-- SQLite has one writer at a time and gives a new row the largest rowid
-- + 1, so the audit table's rowid order is its commit order, and the
-- trigger and queue of migration 012 are a write per entry the hot path
-- need not pay. The queue table stays (empty) so that both stores keep
-- one schema.
DROP TRIGGER audit_enqueue;

-- Renumber the entries so that rowid order is the log's order: logged
-- entries in leaf order, then queued ones in queue order (migration 012
-- queued older entries by time, which need not be rowid order). An
-- entry neither logged nor queued keeps a negative rowid, before every
-- logged one, where `audit verify` reports it.
UPDATE audit SET rowid = -rowid;
UPDATE audit SET rowid = 1 + (SELECT l.idx FROM tlog_leaves l WHERE l.account = audit.account AND l.seq = audit.seq)
    WHERE EXISTS (SELECT 1 FROM tlog_leaves l WHERE l.account = audit.account AND l.seq = audit.seq);
UPDATE audit SET rowid = (SELECT coalesce(max(idx), 0) + 1 FROM tlog_leaves)
        + (SELECT q.id FROM tlog_queue q WHERE q.account = audit.account AND q.seq = audit.seq)
    WHERE rowid < 0 AND EXISTS (SELECT 1 FROM tlog_queue q WHERE q.account = audit.account AND q.seq = audit.seq);
DELETE FROM tlog_queue;
