-- The backtest a policy push starts (issue 20): the pushed version
-- replayed beside the active one over the recorded events, one row per
-- version. Progress is written as the run goes so that every node can show
-- it. Not audited: a backtest changes nothing. Times are Unix nanoseconds.
CREATE TABLE policy_backtests (
    version     TEXT COLLATE "C" PRIMARY KEY REFERENCES policy_versions (hash),
    baseline    TEXT NOT NULL,
    state       TEXT NOT NULL CHECK (state IN ('running', 'done', 'failed')),
    since       BIGINT NOT NULL,
    events      BIGINT NOT NULL DEFAULT 0,
    capped      TEXT NOT NULL DEFAULT '' CHECK (capped IN ('', 'time', 'size')),
    started_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    finished_at BIGINT,
    error       TEXT NOT NULL DEFAULT '',
    -- The backtest.Report as JSON, once done.
    report      TEXT
);
