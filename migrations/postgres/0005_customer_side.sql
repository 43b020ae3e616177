-- What a customer chose on their billing page: at most one offer per case,
-- carried out through the processor exactly once. `pending` until the
-- processor has answered; a repeat of a pending choice repeats the call
-- under the same idempotency key, a done one only shows its confirmation.
CREATE TABLE offer_choices (
    case_id      BIGINT  PRIMARY KEY REFERENCES cases (id),
    offer_id     TEXT    NOT NULL,
    kind         TEXT    NOT NULL,             -- plan_change | pause
    status       TEXT    NOT NULL,             -- pending | done
    chosen_at    BIGINT  NOT NULL,             -- unix ms (engine clock)
    done_at      BIGINT
);

-- The customer's language as the processor knows it (Stripe's
-- `preferred_locales[0]`), read with their contact details; NULL: none given.
ALTER TABLE customers ADD COLUMN locale TEXT;

-- The invoice's number as the customer's invoice shows it (`A1B2C3D4-0007`),
-- for emails and the billing page.
ALTER TABLE cases ADD COLUMN invoice_number TEXT;
