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
-- How each version did: cases of a version opened in a window (the
-- holdout's comparison, a version against the one before).
CREATE INDEX cases_policy_opened ON cases (policy_version, opened_at);

-- Cases per policy version, opening day (unix ms / 86,400,000, engine
-- clock) and state, kept by a trigger in the transaction that changes a
-- case, so comparing versions reads a few rows per day, not every case.
-- Split into 16 shards by case id like the other running counts, so
-- concurrent jobs do not wait for one row.
CREATE TABLE policy_counts (
    version BIGINT   NOT NULL,
    day     BIGINT   NOT NULL,
    state   TEXT     NOT NULL,
    shard   SMALLINT NOT NULL DEFAULT 0,
    cases   BIGINT   NOT NULL,
    PRIMARY KEY (version, day, state, shard)
);
INSERT INTO policy_counts (version, day, state, shard, cases)
SELECT policy_version, opened_at / 86400000, state, id % 16, COUNT(*)
FROM cases WHERE policy_version IS NOT NULL AND state IS NOT NULL AND opened_at IS NOT NULL
GROUP BY policy_version, opened_at / 86400000, state, id % 16;

CREATE FUNCTION cases_policy_counted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.policy_version IS NOT NULL
       AND OLD.state IS NOT NULL AND OLD.opened_at IS NOT NULL THEN
        UPDATE policy_counts SET cases = cases - 1
        WHERE version = OLD.policy_version AND day = OLD.opened_at / 86400000
          AND state = OLD.state AND shard = OLD.id % 16;
        DELETE FROM policy_counts
        WHERE cases = 0 AND version = OLD.policy_version AND day = OLD.opened_at / 86400000
          AND state = OLD.state AND shard = OLD.id % 16;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.policy_version IS NOT NULL
       AND NEW.state IS NOT NULL AND NEW.opened_at IS NOT NULL THEN
        INSERT INTO policy_counts (version, day, state, shard, cases)
        VALUES (NEW.policy_version, NEW.opened_at / 86400000, NEW.state, NEW.id % 16, 1)
        ON CONFLICT (version, day, state, shard) DO UPDATE SET cases = policy_counts.cases + 1;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER cases_policy_counted_insert AFTER INSERT ON cases
FOR EACH ROW EXECUTE FUNCTION cases_policy_counted();
CREATE TRIGGER cases_policy_counted_update AFTER UPDATE OF state, policy_version, opened_at ON cases
FOR EACH ROW WHEN (OLD.state IS DISTINCT FROM NEW.state
    OR OLD.policy_version IS DISTINCT FROM NEW.policy_version
    OR OLD.opened_at IS DISTINCT FROM NEW.opened_at)
EXECUTE FUNCTION cases_policy_counted();
CREATE TRIGGER cases_policy_counted_delete AFTER DELETE ON cases
FOR EACH ROW EXECUTE FUNCTION cases_policy_counted();
