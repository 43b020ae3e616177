-- case_work's kinds and statuses, enforced rather than said in a comment
-- (0002's status comment missed `skipped`).
--   kind:   retry | email | final                      (domain::work::Work)
--   status: pending | done | skipped | canceled | failed (domain::work::WorkStatus)
ALTER TABLE case_work ADD CONSTRAINT case_work_kind CHECK (kind IN ('retry', 'email', 'final'));
ALTER TABLE case_work ADD CONSTRAINT case_work_status
    CHECK (status IN ('pending', 'done', 'skipped', 'canceled', 'failed'));
COMMENT ON COLUMN case_work.status IS 'pending | done | skipped | canceled | failed (domain::work::WorkStatus)';
