-- The policy version whose thresholds decided each withdrawal (issue 20);
-- empty for those decided before versions were kept.
ALTER TABLE withdrawals ADD COLUMN policy TEXT NOT NULL DEFAULT '';
