-- What the operator's list filters on and the recovery statistics add up,
-- copied from `track` by every save (store::cases::save_track):
-- the refusal the case is about, how a recovered case was paid, when it ended.
ALTER TABLE cases ADD COLUMN decline_category TEXT;
ALTER TABLE cases ADD COLUMN decline_code TEXT;
ALTER TABLE cases ADD COLUMN recovered_by TEXT;          -- retry | card_update | offer | processor
ALTER TABLE cases ADD COLUMN recovered_on_retry INTEGER; -- which of our retries took the money
ALTER TABLE cases ADD COLUMN ended_at BIGINT;            -- unix ms (engine clock); NULL while live

-- Cases from before these columns: their refusal from the track, their end
-- at their last change (the best there is); how they were paid stays unknown.
UPDATE cases SET
    decline_category = COALESCE(json_extract(track, '$.case.cause.category'),
                                json_extract(track, '$.case.latest.category')),
    decline_code = COALESCE(json_extract(track, '$.case.cause.code'),
                            json_extract(track, '$.case.latest.code')),
    ended_at = CASE WHEN state IN ('recovered', 'canceled', 'downgraded', 'closed')
                    THEN updated_at END;

-- The case list: newest first, by opening time; the statistics: by opening time.
CREATE INDEX cases_opened ON cases (opened_at, id);
CREATE INDEX cases_email ON cases (customer_email);
