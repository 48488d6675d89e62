-- Holder security (issue 4): sessions, API keys, devices, whitelist,
-- anti-phishing code and settings lock as one JSON document per account,
-- and holder notifications in the outbox (the template and its data).
ALTER TABLE accounts ADD COLUMN security TEXT;
ALTER TABLE outbox ADD COLUMN notice TEXT NOT NULL DEFAULT '';
ALTER TABLE outbox ADD COLUMN data TEXT;
