-- The log keeps its tree's nodes on every fourth level only (leaves,
-- then levels 4, 8, …); a node in between is rehashed from the ones under
-- it when a proof needs it (decision 118).
DELETE FROM tlog_nodes WHERE level % 4 <> 0;
