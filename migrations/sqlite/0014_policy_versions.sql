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
