-- The recovery statistics, kept up to date as cases change, so that
-- `GET /api/stats`, the dashboard and `/metrics` add up a few rows per day
-- and hour of openings instead of every case. `case_counts` holds opened
-- cases per opening hour (unix ms / 3,600,000, engine clock) and everything
-- the statistics tell apart ('' and -1 stand for none: a key cannot be
-- NULL), with what they owed and what was paid; `recovery_times` the
-- recovered ones per opening hour by whole hours to recovery. The `_daily`
-- tables hold the same per opening day (unix ms / 86,400,000). Triggers on
-- `cases` keep all four exact in the transaction that changes a case; the
-- store reads a window's whole days from the daily tables, its whole hours
-- at either end from the hourly ones and the rest from `cases`
-- (store::reports::recovery_counts).
CREATE TABLE case_counts (
    hour               BIGINT  NOT NULL,
    currency           TEXT    NOT NULL,
    state              TEXT    NOT NULL,
    decline_category   TEXT    NOT NULL,
    decline_code       TEXT    NOT NULL,
    recovered_by       TEXT    NOT NULL,
    recovered_on_retry INTEGER NOT NULL,
    cases              BIGINT  NOT NULL,
    due                BIGINT  NOT NULL,      -- minor units
    paid               BIGINT  NOT NULL,      -- minor units: amount_paid, else amount_due
    PRIMARY KEY (hour, currency, state, decline_category, decline_code, recovered_by, recovered_on_retry)
);
CREATE TABLE recovery_times (
    hour     BIGINT NOT NULL,
    currency TEXT   NOT NULL,
    hours    BIGINT NOT NULL,
    cases    BIGINT NOT NULL,
    PRIMARY KEY (hour, currency, hours)
);
INSERT INTO case_counts (hour, currency, state, decline_category, decline_code, recovered_by, recovered_on_retry, cases, due, paid)
SELECT opened_at / 3600000, currency, state, COALESCE(decline_category, ''),
       COALESCE(decline_code, ''), COALESCE(recovered_by, ''), COALESCE(recovered_on_retry, -1),
       COUNT(*), SUM(amount_due), SUM(COALESCE(amount_paid, amount_due))
FROM cases WHERE state IS NOT NULL AND opened_at IS NOT NULL
GROUP BY opened_at / 3600000, currency, state, COALESCE(decline_category, ''),
         COALESCE(decline_code, ''), COALESCE(recovered_by, ''), COALESCE(recovered_on_retry, -1);
INSERT INTO recovery_times (hour, currency, hours, cases)
SELECT opened_at / 3600000, currency, (ended_at - opened_at) / 3600000, COUNT(*)
FROM cases WHERE state = 'recovered' AND ended_at IS NOT NULL AND opened_at IS NOT NULL
GROUP BY opened_at / 3600000, currency, (ended_at - opened_at) / 3600000;

CREATE TABLE case_counts_daily (
    day                BIGINT  NOT NULL,
    currency           TEXT    NOT NULL,
    state              TEXT    NOT NULL,
    decline_category   TEXT    NOT NULL,
    decline_code       TEXT    NOT NULL,
    recovered_by       TEXT    NOT NULL,
    recovered_on_retry INTEGER NOT NULL,
    cases              BIGINT  NOT NULL,
    due                BIGINT  NOT NULL,      -- minor units
    paid               BIGINT  NOT NULL,      -- minor units: amount_paid, else amount_due
    PRIMARY KEY (day, currency, state, decline_category, decline_code, recovered_by, recovered_on_retry)
);
CREATE TABLE recovery_times_daily (
    day      BIGINT NOT NULL,
    currency TEXT   NOT NULL,
    hours    BIGINT NOT NULL,
    cases    BIGINT NOT NULL,
    PRIMARY KEY (day, currency, hours)
);
INSERT INTO case_counts_daily (day, currency, state, decline_category, decline_code, recovered_by, recovered_on_retry, cases, due, paid)
SELECT opened_at / 86400000, currency, state, COALESCE(decline_category, ''),
       COALESCE(decline_code, ''), COALESCE(recovered_by, ''), COALESCE(recovered_on_retry, -1),
       COUNT(*), SUM(amount_due), SUM(COALESCE(amount_paid, amount_due))
FROM cases WHERE state IS NOT NULL AND opened_at IS NOT NULL
GROUP BY opened_at / 86400000, currency, state, COALESCE(decline_category, ''),
         COALESCE(decline_code, ''), COALESCE(recovered_by, ''), COALESCE(recovered_on_retry, -1);
INSERT INTO recovery_times_daily (day, currency, hours, cases)
SELECT opened_at / 86400000, currency, (ended_at - opened_at) / 3600000, COUNT(*)
FROM cases WHERE state = 'recovered' AND ended_at IS NOT NULL AND opened_at IS NOT NULL
GROUP BY opened_at / 86400000, currency, (ended_at - opened_at) / 3600000;

CREATE FUNCTION cases_counted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
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
      AND recovered_on_retry = COALESCE(OLD.recovered_on_retry, -1);
    DELETE FROM case_counts_daily WHERE cases = 0 AND day = OLD.opened_at / 86400000 AND currency = OLD.currency AND state = OLD.state
      AND decline_category = COALESCE(OLD.decline_category, '')
      AND decline_code = COALESCE(OLD.decline_code, '')
      AND recovered_by = COALESCE(OLD.recovered_by, '')
      AND recovered_on_retry = COALESCE(OLD.recovered_on_retry, -1);
    UPDATE recovery_times_daily SET cases = cases - 1
    WHERE OLD.state = 'recovered' AND day = OLD.opened_at / 86400000 AND currency = OLD.currency
      AND hours = (OLD.ended_at - OLD.opened_at) / 3600000;
    DELETE FROM recovery_times_daily WHERE cases = 0 AND day = OLD.opened_at / 86400000 AND currency = OLD.currency
      AND hours = (OLD.ended_at - OLD.opened_at) / 3600000;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
    INSERT INTO case_counts (hour, currency, state, decline_category, decline_code, recovered_by, recovered_on_retry, cases, due, paid)
    SELECT NEW.opened_at / 3600000, NEW.currency, NEW.state, COALESCE(NEW.decline_category, ''),
           COALESCE(NEW.decline_code, ''), COALESCE(NEW.recovered_by, ''),
           COALESCE(NEW.recovered_on_retry, -1),
           1, NEW.amount_due, COALESCE(NEW.amount_paid, NEW.amount_due)
    WHERE NEW.state IS NOT NULL AND NEW.opened_at IS NOT NULL
    ON CONFLICT (hour, currency, state, decline_category, decline_code, recovered_by, recovered_on_retry) DO UPDATE SET
        cases = case_counts.cases + 1, due = case_counts.due + EXCLUDED.due, paid = case_counts.paid + EXCLUDED.paid;
    INSERT INTO recovery_times (hour, currency, hours, cases)
    SELECT NEW.opened_at / 3600000, NEW.currency, (NEW.ended_at - NEW.opened_at) / 3600000, 1
    WHERE NEW.state = 'recovered' AND NEW.ended_at IS NOT NULL AND NEW.opened_at IS NOT NULL
    ON CONFLICT (hour, currency, hours) DO UPDATE SET cases = recovery_times.cases + 1;
    INSERT INTO case_counts_daily (day, currency, state, decline_category, decline_code, recovered_by, recovered_on_retry, cases, due, paid)
    SELECT NEW.opened_at / 86400000, NEW.currency, NEW.state, COALESCE(NEW.decline_category, ''),
           COALESCE(NEW.decline_code, ''), COALESCE(NEW.recovered_by, ''),
           COALESCE(NEW.recovered_on_retry, -1),
           1, NEW.amount_due, COALESCE(NEW.amount_paid, NEW.amount_due)
    WHERE NEW.state IS NOT NULL AND NEW.opened_at IS NOT NULL
    ON CONFLICT (day, currency, state, decline_category, decline_code, recovered_by, recovered_on_retry) DO UPDATE SET
        cases = case_counts_daily.cases + 1, due = case_counts_daily.due + EXCLUDED.due, paid = case_counts_daily.paid + EXCLUDED.paid;
    INSERT INTO recovery_times_daily (day, currency, hours, cases)
    SELECT NEW.opened_at / 86400000, NEW.currency, (NEW.ended_at - NEW.opened_at) / 3600000, 1
    WHERE NEW.state = 'recovered' AND NEW.ended_at IS NOT NULL AND NEW.opened_at IS NOT NULL
    ON CONFLICT (day, currency, hours) DO UPDATE SET cases = recovery_times_daily.cases + 1;
    END IF;
    RETURN NULL;
END;
$$;
CREATE TRIGGER cases_counted_insert AFTER INSERT OR DELETE ON cases
    FOR EACH ROW EXECUTE FUNCTION cases_counted();
CREATE TRIGGER cases_counted_update AFTER UPDATE ON cases
    FOR EACH ROW WHEN (OLD.state IS DISTINCT FROM NEW.state
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

-- The case list filtered by state, refusal category or code, newest first,
-- read in index order (no sort of every matching case).
DROP INDEX cases_state_opened;
CREATE INDEX cases_state_opened ON cases (state, opened_at, id);
CREATE INDEX cases_category_opened ON cases (decline_category, opened_at, id);
CREATE INDEX cases_code_opened ON cases (decline_code, opened_at, id);
