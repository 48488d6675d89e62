-- The audit insert queues its entry itself, in the same statement
-- (decision 117): a row trigger cost a PL/pgSQL call on every update,
-- and an entry inserted behind Holdfast's back is better reported by
-- `audit verify` (neither logged nor waiting) than logged.
DROP TRIGGER audit_enqueue ON audit;
DROP FUNCTION tlog_enqueue();
