-- The last audit entry that wrote a restriction, found by one index probe:
-- a load compares each restriction row with it, so that a row edited
-- behind the log's back never loosens what the log says (decision 91).
-- Partial: entries that name no restriction (withdrawals, events) cost
-- nothing more to append.
CREATE INDEX audit_restriction ON audit (account, restriction, seq) WHERE restriction <> '';
