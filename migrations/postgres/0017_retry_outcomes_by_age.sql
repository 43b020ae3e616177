-- The planner learns by how long after the failure a retry came, how long
-- after the try before it, and whether a payday likely passed in between
-- (engine::learning; the payday from the customer's country and the local
-- dates): retry_outcomes gains the case's country, whole days since the
-- case opened (at most 60) and whole hours since the case's previous
-- finished retry, or since the case opened for the first (at most 720).
-- The counts are rebuilt from the finished retries; still in 16 shards.
DROP TRIGGER retry_finished ON case_work;
DROP TRIGGER retry_written_finished ON case_work;
DROP FUNCTION retry_finished();
DROP TABLE retry_outcomes;
CREATE TABLE retry_outcomes (
    hour               BIGINT   NOT NULL,
    decline_category   TEXT     NOT NULL,
    decline_code       TEXT     NOT NULL,
    timezone           TEXT     NOT NULL,
    country            TEXT     NOT NULL,
    days_since_failure SMALLINT NOT NULL CHECK (days_since_failure BETWEEN 0 AND 60),
    hours_since_last   SMALLINT NOT NULL CHECK (hours_since_last BETWEEN 0 AND 720),
    shard              SMALLINT NOT NULL,
    tries              BIGINT   NOT NULL,
    paid               BIGINT   NOT NULL,
    PRIMARY KEY (hour, decline_category, decline_code, timezone, country, days_since_failure, hours_since_last, shard)
);
INSERT INTO retry_outcomes (hour, decline_category, decline_code, timezone, country,
                            days_since_failure, hours_since_last, shard, tries, paid)
SELECT w.due_at / 3600000, COALESCE(c.decline_category, ''), COALESCE(c.decline_code, ''), c.timezone,
       COALESCE(c.country, ''),
       GREATEST(0, LEAST(60, (w.due_at - COALESCE(c.opened_at, w.due_at)) / 86400000)),
       GREATEST(0, LEAST(720, (w.due_at - COALESCE(w.previous, c.opened_at, w.due_at)) / 3600000)),
       c.id % 16, COUNT(*), SUM(CASE WHEN w.result = 'paid' THEN 1 ELSE 0 END)
FROM (SELECT case_id, due_at, result,
             LAG(due_at) OVER (PARTITION BY case_id ORDER BY due_at, id) AS previous
      FROM case_work WHERE kind = 'retry' AND status = 'done') w
JOIN cases c ON c.id = w.case_id
GROUP BY 1, 2, 3, 4, 5, 6, 7, 8;

CREATE FUNCTION retry_finished() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO retry_outcomes (hour, decline_category, decline_code, timezone, country,
                                days_since_failure, hours_since_last, shard, tries, paid)
    SELECT NEW.due_at / 3600000, COALESCE(c.decline_category, ''), COALESCE(c.decline_code, ''), c.timezone,
           COALESCE(c.country, ''),
           GREATEST(0, LEAST(60, (NEW.due_at - COALESCE(c.opened_at, NEW.due_at)) / 86400000)),
           GREATEST(0, LEAST(720, (NEW.due_at - COALESCE(
               (SELECT MAX(p.due_at) FROM case_work p
                WHERE p.case_id = NEW.case_id AND p.kind = 'retry' AND p.status = 'done'
                  AND p.id <> NEW.id AND p.due_at <= NEW.due_at),
               c.opened_at, NEW.due_at)) / 3600000)),
           c.id % 16, 1, CASE WHEN NEW.result = 'paid' THEN 1 ELSE 0 END
    FROM cases c WHERE c.id = NEW.case_id
    ON CONFLICT (hour, decline_category, decline_code, timezone, country, days_since_failure, hours_since_last, shard)
    DO UPDATE SET tries = retry_outcomes.tries + 1, paid = retry_outcomes.paid + excluded.paid;
    RETURN NULL;
END;
$$;
-- Finished as work does (an update), or written finished (an import).
CREATE TRIGGER retry_finished AFTER UPDATE OF status ON case_work
FOR EACH ROW WHEN (NEW.kind = 'retry' AND NEW.status = 'done' AND OLD.status IS DISTINCT FROM 'done')
EXECUTE FUNCTION retry_finished();
CREATE TRIGGER retry_written_finished AFTER INSERT ON case_work
FOR EACH ROW WHEN (NEW.kind = 'retry' AND NEW.status = 'done')
EXECUTE FUNCTION retry_finished();
