-- The Console (issue 7): staff sign in with a password (argon2id) and a
-- TOTP code.
ALTER TABLE staff ADD COLUMN password_hash TEXT NOT NULL DEFAULT '';
ALTER TABLE staff ADD COLUMN totp_secret TEXT NOT NULL DEFAULT '';
