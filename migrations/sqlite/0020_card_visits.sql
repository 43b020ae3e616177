-- A customer's trip to the processor's card page, opened by the billing
-- page's button (a POST) and named by a random id in the return URL. The
-- return spends it once: at most one charge per trip, however often the
-- return page is loaded; the page then shows what came of it.
CREATE TABLE card_visits (
    id            TEXT    PRIMARY KEY,
    case_id       BIGINT  REFERENCES cases (id),  -- none: a card-expiry link
    customer_id   TEXT    NOT NULL,
    opened_at     BIGINT  NOT NULL,               -- engine clock, ms
    -- The case when the customer left: its own retries so far (a higher
    -- count later means the new card was charged) and the payment methods
    -- the invoice had seen (JSON array: coming back with one is no new card).
    retries_before BIGINT  NOT NULL DEFAULT 0,
    known_methods  TEXT    NOT NULL DEFAULT '[]',
    returned_at   BIGINT,                         -- engine clock, ms
    -- The customer's default payment method on return, when known.
    method        TEXT,
    -- What the return found: new_method | nothing_new | already_tried | unknown.
    found         TEXT,
    CHECK (found IS NULL OR found IN ('new_method', 'nothing_new', 'already_tried', 'unknown'))
);
CREATE INDEX card_visits_case ON card_visits (case_id);
