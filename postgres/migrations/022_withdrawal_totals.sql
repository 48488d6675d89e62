-- The daily limit's running total (decisions 145, 146): each withdrawal's
-- total is the sum of what the account's withdrawals count up to and
-- including it, in (decided_at, seq, id) order. NULL on the rows decided
-- before this migration, until the account's next withdrawal fills in
-- all of its rows at once.
ALTER TABLE withdrawals ADD COLUMN total TEXT;

-- The two rows a withdrawal reads for the total: the newest, and the last
-- before the window.
DROP INDEX withdrawals_decided;
CREATE INDEX withdrawals_decided ON withdrawals (account, decided_at, seq, id);
