-- The policy comparison counts each case's outcome at a fixed age
-- (recovered within N days of opening, among cases at least N days old),
-- reading a version's cases by when they opened.
CREATE INDEX cases_version_opened ON cases (policy_version, opened_at);
