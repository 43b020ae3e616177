-- PostgreSQL only: the running counts of 0012 split into 16 shards (by case
-- id). Every case update that changes a counted column updates one row per
-- table, and with one row per opening hour and outcome, concurrent jobs on
-- cases opened together (a renewal day) all waited for the same few rows,
-- held until each commit's fsync: two worker processes drained no faster
-- than one. A case counts in shard `id % 16` all its life; the readers add
-- the shards up (they already SUM by group), and a row that falls to zero is
-- deleted as before. SQLite has one writer at a time, so it keeps one shard.

ALTER TABLE case_counts ADD COLUMN shard SMALLINT NOT NULL DEFAULT 0;
ALTER TABLE case_counts DROP CONSTRAINT case_counts_pkey;
ALTER TABLE case_counts ADD PRIMARY KEY (hour, currency, state, decline_category, decline_code, recovered_by, recovered_on_retry, shard);
ALTER TABLE recovery_times ADD COLUMN shard SMALLINT NOT NULL DEFAULT 0;
ALTER TABLE recovery_times DROP CONSTRAINT recovery_times_pkey;
ALTER TABLE recovery_times ADD PRIMARY KEY (hour, currency, hours, shard);
ALTER TABLE case_counts_daily ADD COLUMN shard SMALLINT NOT NULL DEFAULT 0;
ALTER TABLE case_counts_daily DROP CONSTRAINT case_counts_daily_pkey;
ALTER TABLE case_counts_daily ADD PRIMARY KEY (day, currency, state, decline_category, decline_code, recovered_by, recovered_on_retry, shard);
ALTER TABLE recovery_times_daily ADD COLUMN shard SMALLINT NOT NULL DEFAULT 0;
ALTER TABLE recovery_times_daily DROP CONSTRAINT recovery_times_daily_pkey;
ALTER TABLE recovery_times_daily ADD PRIMARY KEY (day, currency, hours, shard);

-- Every case again, now in its shard.
TRUNCATE case_counts, recovery_times, case_counts_daily, recovery_times_daily;
INSERT INTO case_counts (hour, currency, state, decline_category, decline_code, recovered_by, recovered_on_retry, shard, cases, due, paid)
SELECT opened_at / 3600000, currency, state, COALESCE(decline_category, ''),
       COALESCE(decline_code, ''), COALESCE(recovered_by, ''), COALESCE(recovered_on_retry, -1), id % 16,
       COUNT(*), SUM(amount_due), SUM(COALESCE(amount_paid, amount_due))
FROM cases WHERE state IS NOT NULL AND opened_at IS NOT NULL
GROUP BY opened_at / 3600000, currency, state, COALESCE(decline_category, ''),
         COALESCE(decline_code, ''), COALESCE(recovered_by, ''), COALESCE(recovered_on_retry, -1), id % 16;
INSERT INTO recovery_times (hour, currency, hours, shard, cases)
SELECT opened_at / 3600000, currency, (ended_at - opened_at) / 3600000, id % 16, COUNT(*)
FROM cases WHERE state = 'recovered' AND ended_at IS NOT NULL AND opened_at IS NOT NULL
GROUP BY opened_at / 3600000, currency, (ended_at - opened_at) / 3600000, id % 16;
INSERT INTO case_counts_daily (day, currency, state, decline_category, decline_code, recovered_by, recovered_on_retry, shard, cases, due, paid)
SELECT opened_at / 86400000, currency, state, COALESCE(decline_category, ''),
       COALESCE(decline_code, ''), COALESCE(recovered_by, ''), COALESCE(recovered_on_retry, -1), id % 16,
       COUNT(*), SUM(amount_due), SUM(COALESCE(amount_paid, amount_due))
FROM cases WHERE state IS NOT NULL AND opened_at IS NOT NULL
GROUP BY opened_at / 86400000, currency, state, COALESCE(decline_category, ''),
         COALESCE(decline_code, ''), COALESCE(recovered_by, ''), COALESCE(recovered_on_retry, -1), id % 16;
INSERT INTO recovery_times_daily (day, currency, hours, shard, cases)
SELECT opened_at / 86400000, currency, (ended_at - opened_at) / 3600000, id % 16, COUNT(*)
FROM cases WHERE state = 'recovered' AND ended_at IS NOT NULL AND opened_at IS NOT NULL
GROUP BY opened_at / 86400000, currency, (ended_at - opened_at) / 3600000, id % 16;

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
      AND recovered_on_retry = COALESCE(OLD.recovered_on_retry, -1) AND shard = OLD.id % 16;
    DELETE FROM case_counts_daily WHERE cases = 0 AND day = OLD.opened_at / 86400000 AND currency = OLD.currency AND state = OLD.state
      AND decline_category = COALESCE(OLD.decline_category, '')
      AND decline_code = COALESCE(OLD.decline_code, '')
      AND recovered_by = COALESCE(OLD.recovered_by, '')
      AND recovered_on_retry = COALESCE(OLD.recovered_on_retry, -1) AND shard = OLD.id % 16;
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
    INSERT INTO case_counts_daily (day, currency, state, decline_category, decline_code, recovered_by, recovered_on_retry, shard, cases, due, paid)
    SELECT NEW.opened_at / 86400000, NEW.currency, NEW.state, COALESCE(NEW.decline_category, ''),
           COALESCE(NEW.decline_code, ''), COALESCE(NEW.recovered_by, ''),
           COALESCE(NEW.recovered_on_retry, -1), NEW.id % 16,
           1, NEW.amount_due, COALESCE(NEW.amount_paid, NEW.amount_due)
    WHERE NEW.state IS NOT NULL AND NEW.opened_at IS NOT NULL
    ON CONFLICT (day, currency, state, decline_category, decline_code, recovered_by, recovered_on_retry, shard) DO UPDATE SET
        cases = case_counts_daily.cases + 1, due = case_counts_daily.due + EXCLUDED.due, paid = case_counts_daily.paid + EXCLUDED.paid;
    INSERT INTO recovery_times_daily (day, currency, hours, shard, cases)
    SELECT NEW.opened_at / 86400000, NEW.currency, (NEW.ended_at - NEW.opened_at) / 3600000, NEW.id % 16, 1
    WHERE NEW.state = 'recovered' AND NEW.ended_at IS NOT NULL AND NEW.opened_at IS NOT NULL
    ON CONFLICT (day, currency, hours, shard) DO UPDATE SET cases = recovery_times_daily.cases + 1;
    END IF;
    RETURN NULL;
END;
$$;
