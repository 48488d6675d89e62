-- Where a shadowed policy version would have judged a live event otherwise
-- than the active one (issue 20). Not audited: they record what did not
-- happen. Times are Unix nanoseconds.
CREATE TABLE shadow_outcomes (
    version    TEXT NOT NULL,
    rule       TEXT NOT NULL,
    outcome    TEXT NOT NULL CHECK (outcome IN ('would_apply', 'would_not_apply')),
    event      TEXT NOT NULL,
    event_type TEXT NOT NULL,
    account    TEXT NOT NULL,
    at         INTEGER NOT NULL,
    then_text  TEXT NOT NULL,
    PRIMARY KEY (version, event, rule)
) STRICT;

CREATE INDEX shadow_outcomes_at ON shadow_outcomes (version, at);
