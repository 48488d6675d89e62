-- The backtest a policy push starts (issue 20): the pushed version
-- replayed beside the active one over the recorded events, one row per
-- version. Progress is written as the run goes so that every node can show
-- it. Not audited: a backtest changes nothing. Times are Unix nanoseconds.
CREATE TABLE policy_backtests (
    version     TEXT PRIMARY KEY REFERENCES policy_versions (hash),
    baseline    TEXT NOT NULL,
    state       TEXT NOT NULL CHECK (state IN ('running', 'done', 'failed')),
    since       INTEGER NOT NULL,
    events      INTEGER NOT NULL DEFAULT 0,
    capped      TEXT NOT NULL DEFAULT '' CHECK (capped IN ('', 'time', 'size')),
    started_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    finished_at INTEGER,
    error       TEXT NOT NULL DEFAULT '',
    -- The backtest.Report as JSON, once done.
    report      TEXT
) STRICT;
