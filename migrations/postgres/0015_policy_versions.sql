-- Versioned policies: every effective policy is kept, numbered, with who
-- made it, when, why and its full TOML (every key written out, so a version
-- means the same whatever later defaults say). The newest version runs for
-- new cases; each case keeps the version it opened under to its end.
CREATE TABLE policy_versions (
    version    BIGINT PRIMARY KEY,
    created_at BIGINT NOT NULL,
    author     TEXT   NOT NULL,
    reason     TEXT   NOT NULL,
    -- file (dunwell.toml at start-up or SIGHUP), api, dashboard or cli
    source     TEXT   NOT NULL,
    policy     TEXT   NOT NULL
);
-- NULL: no case opened yet. Cases opened before versions were kept ran
-- under the file's policy, which becomes version 1 at the next start.
ALTER TABLE cases ADD COLUMN policy_version BIGINT;
UPDATE cases SET policy_version = 1 WHERE state IS NOT NULL;

-- How each version does: the daily running counts (0012, sharded in 0013)
-- are kept per policy version too (0 for none), so comparing versions adds
-- up a few rows per day and opening a case writes no extra row: its
-- trigger's upsert already writes the day's row. Rebuilt from the cases;
-- the trigger function is 0013's with the version in the daily key.
ALTER TABLE case_counts_daily ADD COLUMN policy_version BIGINT NOT NULL DEFAULT 0;
ALTER TABLE case_counts_daily DROP CONSTRAINT case_counts_daily_pkey;
ALTER TABLE case_counts_daily ADD PRIMARY KEY (day, currency, state, decline_category, decline_code, recovered_by, recovered_on_retry, policy_version, shard);
TRUNCATE case_counts_daily;
INSERT INTO case_counts_daily (day, currency, state, decline_category, decline_code, recovered_by, recovered_on_retry, policy_version, shard, cases, due, paid)
SELECT opened_at / 86400000, currency, state, COALESCE(decline_category, ''),
       COALESCE(decline_code, ''), COALESCE(recovered_by, ''), COALESCE(recovered_on_retry, -1),
       COALESCE(policy_version, 0), id % 16,
       COUNT(*), SUM(amount_due), SUM(COALESCE(amount_paid, amount_due))
FROM cases WHERE state IS NOT NULL AND opened_at IS NOT NULL
GROUP BY opened_at / 86400000, currency, state, COALESCE(decline_category, ''),
         COALESCE(decline_code, ''), COALESCE(recovered_by, ''), COALESCE(recovered_on_retry, -1),
         COALESCE(policy_version, 0), id % 16;
CREATE INDEX case_counts_daily_policy ON case_counts_daily (policy_version, day);

CREATE OR REPLACE FUNCTION cases_counted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
    UPDATE case_counts SET cases = cases - 1, due = due - OLD.amount_due,
        paid = paid - COALESCE(OLD.amount_paid, OLD.amount_due)
    WHERE hour = OLD.opened_at / 3600000 AND currency = OLD.currency AND state = OLD.state
      AND decline_category = COALESCE(OLD.decline_category, '')
      AND decline_code = COALESCE(OLD.decline_code, '')
      AND recovered_by = COALESCE(OLD.recovered_by, '')
      AND recovered_on_retry = COALESCE(OLD.recovered_on_retry, -1) AND shard = OLD.id % 16;
    DELETE FROM case_counts WHERE cases = 0 AND hour = OLD.opened_at / 3600000 AND currency = OLD.currency AND state = OLD.state
      AND decline_category = COALESCE(OLD.decline_category, '')
      AND decline_code = COALESCE(OLD.decline_code, '')
      AND recovered_by = COALESCE(OLD.recovered_by, '')
      AND recovered_on_retry = COALESCE(OLD.recovered_on_retry, -1) AND shard = OLD.id % 16;
    UPDATE recovery_times SET cases = cases - 1
    WHERE OLD.state = 'recovered' AND hour = OLD.opened_at / 3600000 AND currency = OLD.currency
      AND hours = (OLD.ended_at - OLD.opened_at) / 3600000 AND shard = OLD.id % 16;
    DELETE FROM recovery_times WHERE cases = 0 AND hour = OLD.opened_at / 3600000 AND currency = OLD.currency
      AND hours = (OLD.ended_at - OLD.opened_at) / 3600000 AND shard = OLD.id % 16;
    UPDATE case_counts_daily SET cases = cases - 1, due = due - OLD.amount_due,
        paid = paid - COALESCE(OLD.amount_paid, OLD.amount_due)
    WHERE day = OLD.opened_at / 86400000 AND currency = OLD.currency AND state = OLD.state
      AND decline_category = COALESCE(OLD.decline_category, '')
      AND decline_code = COALESCE(OLD.decline_code, '')
      AND recovered_by = COALESCE(OLD.recovered_by, '')
      AND recovered_on_retry = COALESCE(OLD.recovered_on_retry, -1)
      AND policy_version = COALESCE(OLD.policy_version, 0) AND shard = OLD.id % 16;
    DELETE FROM case_counts_daily WHERE cases = 0 AND day = OLD.opened_at / 86400000 AND currency = OLD.currency AND state = OLD.state
      AND decline_category = COALESCE(OLD.decline_category, '')
      AND decline_code = COALESCE(OLD.decline_code, '')
      AND recovered_by = COALESCE(OLD.recovered_by, '')
      AND recovered_on_retry = COALESCE(OLD.recovered_on_retry, -1)
      AND policy_version = COALESCE(OLD.policy_version, 0) AND shard = OLD.id % 16;
    UPDATE recovery_times_daily SET cases = cases - 1
    WHERE OLD.state = 'recovered' AND day = OLD.opened_at / 86400000 AND currency = OLD.currency
      AND hours = (OLD.ended_at - OLD.opened_at) / 3600000 AND shard = OLD.id % 16;
    DELETE FROM recovery_times_daily WHERE cases = 0 AND day = OLD.opened_at / 86400000 AND currency = OLD.currency
      AND hours = (OLD.ended_at - OLD.opened_at) / 3600000 AND shard = OLD.id % 16;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
    INSERT INTO case_counts (hour, currency, state, decline_category, decline_code, recovered_by, recovered_on_retry, shard, cases, due, paid)
    SELECT NEW.opened_at / 3600000, NEW.currency, NEW.state, COALESCE(NEW.decline_category, ''),
           COALESCE(NEW.decline_code, ''), COALESCE(NEW.recovered_by, ''),
           COALESCE(NEW.recovered_on_retry, -1), NEW.id % 16,
           1, NEW.amount_due, COALESCE(NEW.amount_paid, NEW.amount_due)
    WHERE NEW.state IS NOT NULL AND NEW.opened_at IS NOT NULL
    ON CONFLICT (hour, currency, state, decline_category, decline_code, recovered_by, recovered_on_retry, shard) DO UPDATE SET
        cases = case_counts.cases + 1, due = case_counts.due + EXCLUDED.due, paid = case_counts.paid + EXCLUDED.paid;
    INSERT INTO recovery_times (hour, currency, hours, shard, cases)
    SELECT NEW.opened_at / 3600000, NEW.currency, (NEW.ended_at - NEW.opened_at) / 3600000, NEW.id % 16, 1
    WHERE NEW.state = 'recovered' AND NEW.ended_at IS NOT NULL AND NEW.opened_at IS NOT NULL
    ON CONFLICT (hour, currency, hours, shard) DO UPDATE SET cases = recovery_times.cases + 1;
    INSERT INTO case_counts_daily (day, currency, state, decline_category, decline_code, recovered_by, recovered_on_retry, policy_version, shard, cases, due, paid)
    SELECT NEW.opened_at / 86400000, NEW.currency, NEW.state, COALESCE(NEW.decline_category, ''),
           COALESCE(NEW.decline_code, ''), COALESCE(NEW.recovered_by, ''),
           COALESCE(NEW.recovered_on_retry, -1), COALESCE(NEW.policy_version, 0), NEW.id % 16,
           1, NEW.amount_due, COALESCE(NEW.amount_paid, NEW.amount_due)
    WHERE NEW.state IS NOT NULL AND NEW.opened_at IS NOT NULL
    ON CONFLICT (day, currency, state, decline_category, decline_code, recovered_by, recovered_on_retry, policy_version, shard) DO UPDATE SET
        cases = case_counts_daily.cases + 1, due = case_counts_daily.due + EXCLUDED.due, paid = case_counts_daily.paid + EXCLUDED.paid;
    INSERT INTO recovery_times_daily (day, currency, hours, shard, cases)
    SELECT NEW.opened_at / 86400000, NEW.currency, (NEW.ended_at - NEW.opened_at) / 3600000, NEW.id % 16, 1
    WHERE NEW.state = 'recovered' AND NEW.ended_at IS NOT NULL AND NEW.opened_at IS NOT NULL
    ON CONFLICT (day, currency, hours, shard) DO UPDATE SET cases = recovery_times_daily.cases + 1;
    END IF;
    RETURN NULL;
END;
$$;

DROP TRIGGER cases_counted_update ON cases;
CREATE TRIGGER cases_counted_update AFTER UPDATE ON cases
    FOR EACH ROW WHEN (OLD.state IS DISTINCT FROM NEW.state
       OR OLD.policy_version IS DISTINCT FROM NEW.policy_version
       OR OLD.opened_at IS DISTINCT FROM NEW.opened_at
       OR OLD.currency IS DISTINCT FROM NEW.currency
       OR OLD.decline_category IS DISTINCT FROM NEW.decline_category
       OR OLD.decline_code IS DISTINCT FROM NEW.decline_code
       OR OLD.recovered_by IS DISTINCT FROM NEW.recovered_by
       OR OLD.recovered_on_retry IS DISTINCT FROM NEW.recovered_on_retry
       OR OLD.amount_due IS DISTINCT FROM NEW.amount_due
       OR OLD.amount_paid IS DISTINCT FROM NEW.amount_paid
       OR OLD.ended_at IS DISTINCT FROM NEW.ended_at)
    EXECUTE FUNCTION cases_counted();
