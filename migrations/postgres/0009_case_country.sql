-- The customer's country (two letters) as the case's time zone was derived
-- from it: the planner aims funds retries at the pay cycles common there.
ALTER TABLE cases ADD COLUMN country TEXT;
