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

-- How each version does: the daily running counts of 0012 are kept per
-- policy version too (0 for none), so comparing versions adds up a few rows
-- per day and opening a case writes no extra row: its trigger's upsert
-- already writes the day's row. Rebuilt from the cases; the triggers are
-- 0012's with the version in the daily key.
DROP TRIGGER cases_counted_insert;
DROP TRIGGER cases_counted_update;
DROP TRIGGER cases_counted_delete;
DROP TABLE case_counts_daily;
CREATE TABLE case_counts_daily (
    day                BIGINT  NOT NULL,
    currency           TEXT    NOT NULL,
    state              TEXT    NOT NULL,
    decline_category   TEXT    NOT NULL,
    decline_code       TEXT    NOT NULL,
    recovered_by       TEXT    NOT NULL,
    recovered_on_retry INTEGER NOT NULL,
    policy_version     BIGINT  NOT NULL,
    cases              BIGINT  NOT NULL,
    due                BIGINT  NOT NULL,      -- minor units
    paid               BIGINT  NOT NULL,      -- minor units: amount_paid, else amount_due
    PRIMARY KEY (day, currency, state, decline_category, decline_code, recovered_by, recovered_on_retry, policy_version)
);
INSERT INTO case_counts_daily (day, currency, state, decline_category, decline_code, recovered_by, recovered_on_retry, policy_version, cases, due, paid)
SELECT opened_at / 86400000, currency, state, COALESCE(decline_category, ''),
       COALESCE(decline_code, ''), COALESCE(recovered_by, ''), COALESCE(recovered_on_retry, -1),
       COALESCE(policy_version, 0),
       COUNT(*), SUM(amount_due), SUM(COALESCE(amount_paid, amount_due))
FROM cases WHERE state IS NOT NULL AND opened_at IS NOT NULL
GROUP BY opened_at / 86400000, currency, state, COALESCE(decline_category, ''),
         COALESCE(decline_code, ''), COALESCE(recovered_by, ''), COALESCE(recovered_on_retry, -1),
         COALESCE(policy_version, 0);
CREATE INDEX case_counts_daily_policy ON case_counts_daily (policy_version, day);

CREATE TRIGGER cases_counted_insert AFTER INSERT ON cases
BEGIN
    INSERT INTO case_counts (hour, currency, state, decline_category, decline_code, recovered_by, recovered_on_retry, cases, due, paid)
    SELECT NEW.opened_at / 3600000, NEW.currency, NEW.state, COALESCE(NEW.decline_category, ''),
           COALESCE(NEW.decline_code, ''), COALESCE(NEW.recovered_by, ''),
           COALESCE(NEW.recovered_on_retry, -1),
           1, NEW.amount_due, COALESCE(NEW.amount_paid, NEW.amount_due)
    WHERE NEW.state IS NOT NULL AND NEW.opened_at IS NOT NULL
    ON CONFLICT (hour, currency, state, decline_category, decline_code, recovered_by, recovered_on_retry) DO UPDATE SET
        cases = case_counts.cases + 1, due = case_counts.due + excluded.due, paid = case_counts.paid + excluded.paid;
    INSERT INTO recovery_times (hour, currency, hours, cases)
    SELECT NEW.opened_at / 3600000, NEW.currency, (NEW.ended_at - NEW.opened_at) / 3600000, 1
    WHERE NEW.state = 'recovered' AND NEW.ended_at IS NOT NULL AND NEW.opened_at IS NOT NULL
    ON CONFLICT (hour, currency, hours) DO UPDATE SET cases = recovery_times.cases + 1;
    INSERT INTO case_counts_daily (day, currency, state, decline_category, decline_code, recovered_by, recovered_on_retry, policy_version, cases, due, paid)
    SELECT NEW.opened_at / 86400000, NEW.currency, NEW.state, COALESCE(NEW.decline_category, ''),
           COALESCE(NEW.decline_code, ''), COALESCE(NEW.recovered_by, ''),
           COALESCE(NEW.recovered_on_retry, -1), COALESCE(NEW.policy_version, 0),
           1, NEW.amount_due, COALESCE(NEW.amount_paid, NEW.amount_due)
    WHERE NEW.state IS NOT NULL AND NEW.opened_at IS NOT NULL
    ON CONFLICT (day, currency, state, decline_category, decline_code, recovered_by, recovered_on_retry, policy_version) DO UPDATE SET
        cases = case_counts_daily.cases + 1, due = case_counts_daily.due + excluded.due, paid = case_counts_daily.paid + excluded.paid;
    INSERT INTO recovery_times_daily (day, currency, hours, cases)
    SELECT NEW.opened_at / 86400000, NEW.currency, (NEW.ended_at - NEW.opened_at) / 3600000, 1
    WHERE NEW.state = 'recovered' AND NEW.ended_at IS NOT NULL AND NEW.opened_at IS NOT NULL
    ON CONFLICT (day, currency, hours) DO UPDATE SET cases = recovery_times_daily.cases + 1;
END;

CREATE TRIGGER cases_counted_update AFTER UPDATE ON cases
WHEN OLD.state IS NOT NEW.state
   OR OLD.policy_version IS NOT NEW.policy_version
   OR OLD.opened_at IS NOT NEW.opened_at
   OR OLD.currency IS NOT NEW.currency
   OR OLD.decline_category IS NOT NEW.decline_category
   OR OLD.decline_code IS NOT NEW.decline_code
   OR OLD.recovered_by IS NOT NEW.recovered_by
   OR OLD.recovered_on_retry IS NOT NEW.recovered_on_retry
   OR OLD.amount_due IS NOT NEW.amount_due
   OR OLD.amount_paid IS NOT NEW.amount_paid
   OR OLD.ended_at IS NOT NEW.ended_at
BEGIN
    UPDATE case_counts SET cases = cases - 1, due = due - OLD.amount_due,
        paid = paid - COALESCE(OLD.amount_paid, OLD.amount_due)
    WHERE hour = OLD.opened_at / 3600000 AND currency = OLD.currency AND state = OLD.state
      AND decline_category = COALESCE(OLD.decline_category, '')
      AND decline_code = COALESCE(OLD.decline_code, '')
      AND recovered_by = COALESCE(OLD.recovered_by, '')
      AND recovered_on_retry = COALESCE(OLD.recovered_on_retry, -1);
    DELETE FROM case_counts WHERE cases = 0 AND hour = OLD.opened_at / 3600000 AND currency = OLD.currency AND state = OLD.state
      AND decline_category = COALESCE(OLD.decline_category, '')
      AND decline_code = COALESCE(OLD.decline_code, '')
      AND recovered_by = COALESCE(OLD.recovered_by, '')
      AND recovered_on_retry = COALESCE(OLD.recovered_on_retry, -1);
    UPDATE recovery_times SET cases = cases - 1
    WHERE OLD.state = 'recovered' AND hour = OLD.opened_at / 3600000 AND currency = OLD.currency
      AND hours = (OLD.ended_at - OLD.opened_at) / 3600000;
    DELETE FROM recovery_times WHERE cases = 0 AND hour = OLD.opened_at / 3600000 AND currency = OLD.currency
      AND hours = (OLD.ended_at - OLD.opened_at) / 3600000;
    UPDATE case_counts_daily SET cases = cases - 1, due = due - OLD.amount_due,
        paid = paid - COALESCE(OLD.amount_paid, OLD.amount_due)
    WHERE day = OLD.opened_at / 86400000 AND currency = OLD.currency AND state = OLD.state
      AND decline_category = COALESCE(OLD.decline_category, '')
      AND decline_code = COALESCE(OLD.decline_code, '')
      AND recovered_by = COALESCE(OLD.recovered_by, '')
      AND recovered_on_retry = COALESCE(OLD.recovered_on_retry, -1)
      AND policy_version = COALESCE(OLD.policy_version, 0);
    DELETE FROM case_counts_daily WHERE cases = 0 AND day = OLD.opened_at / 86400000 AND currency = OLD.currency AND state = OLD.state
      AND decline_category = COALESCE(OLD.decline_category, '')
      AND decline_code = COALESCE(OLD.decline_code, '')
      AND recovered_by = COALESCE(OLD.recovered_by, '')
      AND recovered_on_retry = COALESCE(OLD.recovered_on_retry, -1)
      AND policy_version = COALESCE(OLD.policy_version, 0);
    UPDATE recovery_times_daily SET cases = cases - 1
    WHERE OLD.state = 'recovered' AND day = OLD.opened_at / 86400000 AND currency = OLD.currency
      AND hours = (OLD.ended_at - OLD.opened_at) / 3600000;
    DELETE FROM recovery_times_daily WHERE cases = 0 AND day = OLD.opened_at / 86400000 AND currency = OLD.currency
      AND hours = (OLD.ended_at - OLD.opened_at) / 3600000;
    INSERT INTO case_counts (hour, currency, state, decline_category, decline_code, recovered_by, recovered_on_retry, cases, due, paid)
    SELECT NEW.opened_at / 3600000, NEW.currency, NEW.state, COALESCE(NEW.decline_category, ''),
           COALESCE(NEW.decline_code, ''), COALESCE(NEW.recovered_by, ''),
           COALESCE(NEW.recovered_on_retry, -1),
           1, NEW.amount_due, COALESCE(NEW.amount_paid, NEW.amount_due)
    WHERE NEW.state IS NOT NULL AND NEW.opened_at IS NOT NULL
    ON CONFLICT (hour, currency, state, decline_category, decline_code, recovered_by, recovered_on_retry) DO UPDATE SET
        cases = case_counts.cases + 1, due = case_counts.due + excluded.due, paid = case_counts.paid + excluded.paid;
    INSERT INTO recovery_times (hour, currency, hours, cases)
    SELECT NEW.opened_at / 3600000, NEW.currency, (NEW.ended_at - NEW.opened_at) / 3600000, 1
    WHERE NEW.state = 'recovered' AND NEW.ended_at IS NOT NULL AND NEW.opened_at IS NOT NULL
    ON CONFLICT (hour, currency, hours) DO UPDATE SET cases = recovery_times.cases + 1;
    INSERT INTO case_counts_daily (day, currency, state, decline_category, decline_code, recovered_by, recovered_on_retry, policy_version, cases, due, paid)
    SELECT NEW.opened_at / 86400000, NEW.currency, NEW.state, COALESCE(NEW.decline_category, ''),
           COALESCE(NEW.decline_code, ''), COALESCE(NEW.recovered_by, ''),
           COALESCE(NEW.recovered_on_retry, -1), COALESCE(NEW.policy_version, 0),
           1, NEW.amount_due, COALESCE(NEW.amount_paid, NEW.amount_due)
    WHERE NEW.state IS NOT NULL AND NEW.opened_at IS NOT NULL
    ON CONFLICT (day, currency, state, decline_category, decline_code, recovered_by, recovered_on_retry, policy_version) DO UPDATE SET
        cases = case_counts_daily.cases + 1, due = case_counts_daily.due + excluded.due, paid = case_counts_daily.paid + excluded.paid;
    INSERT INTO recovery_times_daily (day, currency, hours, cases)
    SELECT NEW.opened_at / 86400000, NEW.currency, (NEW.ended_at - NEW.opened_at) / 3600000, 1
    WHERE NEW.state = 'recovered' AND NEW.ended_at IS NOT NULL AND NEW.opened_at IS NOT NULL
    ON CONFLICT (day, currency, hours) DO UPDATE SET cases = recovery_times_daily.cases + 1;
END;

CREATE TRIGGER cases_counted_delete AFTER DELETE ON cases
BEGIN
    UPDATE case_counts SET cases = cases - 1, due = due - OLD.amount_due,
        paid = paid - COALESCE(OLD.amount_paid, OLD.amount_due)
    WHERE hour = OLD.opened_at / 3600000 AND currency = OLD.currency AND state = OLD.state
      AND decline_category = COALESCE(OLD.decline_category, '')
      AND decline_code = COALESCE(OLD.decline_code, '')
      AND recovered_by = COALESCE(OLD.recovered_by, '')
      AND recovered_on_retry = COALESCE(OLD.recovered_on_retry, -1);
    DELETE FROM case_counts WHERE cases = 0 AND hour = OLD.opened_at / 3600000 AND currency = OLD.currency AND state = OLD.state
      AND decline_category = COALESCE(OLD.decline_category, '')
      AND decline_code = COALESCE(OLD.decline_code, '')
      AND recovered_by = COALESCE(OLD.recovered_by, '')
      AND recovered_on_retry = COALESCE(OLD.recovered_on_retry, -1);
    UPDATE recovery_times SET cases = cases - 1
    WHERE OLD.state = 'recovered' AND hour = OLD.opened_at / 3600000 AND currency = OLD.currency
      AND hours = (OLD.ended_at - OLD.opened_at) / 3600000;
    DELETE FROM recovery_times WHERE cases = 0 AND hour = OLD.opened_at / 3600000 AND currency = OLD.currency
      AND hours = (OLD.ended_at - OLD.opened_at) / 3600000;
    UPDATE case_counts_daily SET cases = cases - 1, due = due - OLD.amount_due,
        paid = paid - COALESCE(OLD.amount_paid, OLD.amount_due)
    WHERE day = OLD.opened_at / 86400000 AND currency = OLD.currency AND state = OLD.state
      AND decline_category = COALESCE(OLD.decline_category, '')
      AND decline_code = COALESCE(OLD.decline_code, '')
      AND recovered_by = COALESCE(OLD.recovered_by, '')
      AND recovered_on_retry = COALESCE(OLD.recovered_on_retry, -1)
      AND policy_version = COALESCE(OLD.policy_version, 0);
    DELETE FROM case_counts_daily WHERE cases = 0 AND day = OLD.opened_at / 86400000 AND currency = OLD.currency AND state = OLD.state
      AND decline_category = COALESCE(OLD.decline_category, '')
      AND decline_code = COALESCE(OLD.decline_code, '')
      AND recovered_by = COALESCE(OLD.recovered_by, '')
      AND recovered_on_retry = COALESCE(OLD.recovered_on_retry, -1)
      AND policy_version = COALESCE(OLD.policy_version, 0);
    UPDATE recovery_times_daily SET cases = cases - 1
    WHERE OLD.state = 'recovered' AND day = OLD.opened_at / 86400000 AND currency = OLD.currency
      AND hours = (OLD.ended_at - OLD.opened_at) / 3600000;
    DELETE FROM recovery_times_daily WHERE cases = 0 AND day = OLD.opened_at / 86400000 AND currency = OLD.currency
      AND hours = (OLD.ended_at - OLD.opened_at) / 3600000;
END;
