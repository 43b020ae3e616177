-- A pause has an end: the instant collection resumes (engine clock, ms),
-- fixed when the customer first chooses the pause so that the same choice
-- posted again sends the processor the very same request.
ALTER TABLE offer_choices ADD COLUMN resumes_at BIGINT;
