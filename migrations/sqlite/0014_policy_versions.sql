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
-- clock) and state, kept by triggers in the transaction that changes a
-- case, so comparing versions reads a few rows per day, not every case.
-- `shard` is always 0 here (SQLite has one writer); PostgreSQL splits the
-- rows by case id as the other running counts do.
CREATE TABLE policy_counts (
    version BIGINT   NOT NULL,
    day     BIGINT   NOT NULL,
    state   TEXT     NOT NULL,
    shard   SMALLINT NOT NULL DEFAULT 0,
    cases   BIGINT   NOT NULL,
    PRIMARY KEY (version, day, state, shard)
);
INSERT INTO policy_counts (version, day, state, shard, cases)
SELECT policy_version, opened_at / 86400000, state, 0, COUNT(*)
FROM cases WHERE policy_version IS NOT NULL AND state IS NOT NULL AND opened_at IS NOT NULL
GROUP BY policy_version, opened_at / 86400000, state;

CREATE TRIGGER cases_policy_counted_insert AFTER INSERT ON cases
WHEN NEW.policy_version IS NOT NULL AND NEW.state IS NOT NULL AND NEW.opened_at IS NOT NULL
BEGIN
    INSERT INTO policy_counts (version, day, state, shard, cases)
    VALUES (NEW.policy_version, NEW.opened_at / 86400000, NEW.state, 0, 1)
    ON CONFLICT (version, day, state, shard) DO UPDATE SET cases = cases + 1;
END;

CREATE TRIGGER cases_policy_counted_update AFTER UPDATE OF state, policy_version, opened_at ON cases
WHEN OLD.state IS NOT NEW.state OR OLD.policy_version IS NOT NEW.policy_version
  OR OLD.opened_at IS NOT NEW.opened_at
BEGIN
    UPDATE policy_counts SET cases = cases - 1
    WHERE OLD.policy_version IS NOT NULL AND OLD.state IS NOT NULL AND OLD.opened_at IS NOT NULL
      AND version = OLD.policy_version AND day = OLD.opened_at / 86400000 AND state = OLD.state AND shard = 0;
    DELETE FROM policy_counts
    WHERE cases = 0 AND version = OLD.policy_version AND day = OLD.opened_at / 86400000
      AND state = OLD.state AND shard = 0;
    INSERT INTO policy_counts (version, day, state, shard, cases)
    SELECT NEW.policy_version, NEW.opened_at / 86400000, NEW.state, 0, 1
    WHERE NEW.policy_version IS NOT NULL AND NEW.state IS NOT NULL AND NEW.opened_at IS NOT NULL
    ON CONFLICT (version, day, state, shard) DO UPDATE SET cases = cases + 1;
END;

CREATE TRIGGER cases_policy_counted_delete AFTER DELETE ON cases
WHEN OLD.policy_version IS NOT NULL AND OLD.state IS NOT NULL AND OLD.opened_at IS NOT NULL
BEGIN
    UPDATE policy_counts SET cases = cases - 1
    WHERE version = OLD.policy_version AND day = OLD.opened_at / 86400000 AND state = OLD.state AND shard = 0;
    DELETE FROM policy_counts
    WHERE cases = 0 AND version = OLD.policy_version AND day = OLD.opened_at / 86400000
      AND state = OLD.state AND shard = 0;
END;
