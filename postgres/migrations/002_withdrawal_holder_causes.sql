-- The causes of a withdrawal decision as its holder may see them
-- (non-disclosable restrictions folded into one generic cause), kept beside
-- the staff view so that a replayed request answers in either view.
ALTER TABLE withdrawals ADD COLUMN holder_causes TEXT;
