-- Four-eyes extensions (issue 14): a staff extension of a panic lock past
-- the policy's panic_lock_max_total waits for a second person, like a
-- four-eyes lift. op says which; ends_at is the end asked for.
ALTER TABLE approvals ADD COLUMN op TEXT NOT NULL DEFAULT 'lift';
ALTER TABLE approvals ADD COLUMN ends_at INTEGER;
