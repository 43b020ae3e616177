-- A fence for re-planned work. Canceling work a job is running and then
-- planning the same (case, key) again (a pause and a resume, a new plan)
-- used to clear the row's lease: a second worker could claim it while the
-- first still ran it, and the first, finishing, closed the new plan's row
-- with its own result. Now the re-plan keeps the lease and bumps the
-- generation; a job finishes or puts off only the generation it claimed
-- and gives a newer one back when it is done.
ALTER TABLE case_work ADD COLUMN generation BIGINT NOT NULL DEFAULT 0;
