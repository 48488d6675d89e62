-- An account's events of one type, newest first (login history), without
-- reading the account's other events.
CREATE INDEX events_account_type ON events (account, type, seq);
