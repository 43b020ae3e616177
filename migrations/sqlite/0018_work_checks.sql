-- case_work's kinds and statuses, enforced rather than said in a comment
-- (0002's status comment missed `skipped`). SQLite cannot add a CHECK to a
-- table it has, so triggers refuse any other value.
--   kind:   retry | email | final                      (domain::work::Work)
--   status: pending | done | skipped | canceled | failed (domain::work::WorkStatus)
CREATE TRIGGER case_work_values_on_insert BEFORE INSERT ON case_work
WHEN NEW.kind NOT IN ('retry', 'email', 'final')
  OR NEW.status NOT IN ('pending', 'done', 'skipped', 'canceled', 'failed')
BEGIN
    SELECT RAISE(ABORT, 'case_work: unknown kind or status');
END;
CREATE TRIGGER case_work_values_on_update BEFORE UPDATE OF kind, status ON case_work
WHEN NEW.kind NOT IN ('retry', 'email', 'final')
  OR NEW.status NOT IN ('pending', 'done', 'skipped', 'canceled', 'failed')
BEGIN
    SELECT RAISE(ABORT, 'case_work: unknown kind or status');
END;
