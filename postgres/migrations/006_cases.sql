-- Cases (issue 5): the appeal workflow. doc is the holdfast.Case as JSON;
-- the other columns are copies of its fields that lists filter and sort
-- by. Amount holds kept by approved cases live on the account.
CREATE TABLE cases (
    id         TEXT COLLATE "C" PRIMARY KEY,
    account    TEXT COLLATE "C" NOT NULL REFERENCES accounts (id),
    type       TEXT NOT NULL,
    state      TEXT NOT NULL,
    assignee   TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    due_at     BIGINT NOT NULL,
    doc        TEXT NOT NULL
);

CREATE INDEX cases_account ON cases (account, created_at);
CREATE INDEX cases_due ON cases (state, due_at);

ALTER TABLE accounts ADD COLUMN holds TEXT;

-- The authority's reference of a law-enforcement hold (seen only by the
-- roles that may see its reason).
ALTER TABLE restrictions ADD COLUMN reference TEXT NOT NULL DEFAULT '';
