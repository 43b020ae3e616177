-- One row per invoice dunwell has heard of. `track` is the case state
-- machine's whole record (domain::case::Track, JSON); the other columns copy
-- what the operator surface filters and sorts on. `state` is NULL while no
-- case is open (an invoice seen settled before it ever failed).
CREATE TABLE cases (
    id                   BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    invoice_id           TEXT    NOT NULL UNIQUE,
    customer_id          TEXT    NOT NULL,
    subscription_id      TEXT,
    subscription_item_id TEXT,
    price_id             TEXT,
    charge_id            TEXT,
    payment_intent_id    TEXT,
    customer_email       TEXT,
    customer_name        TEXT,
    amount_due           BIGINT  NOT NULL,     -- minor units
    currency             TEXT    NOT NULL,
    hosted_invoice_url   TEXT,
    description          TEXT,
    timezone             TEXT    NOT NULL,
    state                TEXT,
    version              BIGINT  NOT NULL,     -- bumped by every change of track
    track                TEXT    NOT NULL,
    opened_at            BIGINT,               -- unix ms (simulated clock)
    updated_at           BIGINT  NOT NULL
);
CREATE INDEX cases_customer ON cases (customer_id);
CREATE INDEX cases_charge ON cases (charge_id);
CREATE INDEX cases_payment_intent ON cases (payment_intent_id);
CREATE INDEX cases_state_opened ON cases (state, opened_at);

-- Side effects a case has planned: the truth behind the job queue. A job
-- names a row; it runs only while the row is pending and its lease is ours.
-- (case_id, work_key) is unique: one retry per attempt number, one email per
-- (kind, stage), one final action.
CREATE TABLE case_work (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    case_id      BIGINT  NOT NULL REFERENCES cases (id),
    kind         TEXT    NOT NULL,             -- retry | email | final
    work_key     TEXT    NOT NULL,
    due_at       BIGINT  NOT NULL,             -- unix ms (simulated clock)
    status       TEXT    NOT NULL,             -- pending | done | canceled | failed
    detail       TEXT    NOT NULL,             -- JSON: what to do
    tries        INTEGER NOT NULL DEFAULT 0,   -- processor failures (5xx) so far, not customer attempts
    lease_until  BIGINT,                       -- unix ms (real clock)
    created_at   BIGINT  NOT NULL,
    finished_at  BIGINT,
    result       TEXT,
    UNIQUE (case_id, work_key)
);
-- The due-work lookup: only pending rows, by due time (O(log n)).
CREATE INDEX case_work_due ON case_work (due_at, id) WHERE status = 'pending';

-- The audit trail: every transition, attempt, email and final action.
CREATE TABLE case_timeline (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    case_id      BIGINT  NOT NULL REFERENCES cases (id),
    at           BIGINT  NOT NULL,             -- unix ms (simulated clock)
    kind         TEXT    NOT NULL,             -- opened | transition | retry_scheduled | attempt | email | final_action | note | event
    detail       TEXT    NOT NULL              -- JSON
);
CREATE INDEX case_timeline_case ON case_timeline (case_id, id);

-- Every email dunwell wrote. One per (case, kind, stage), whatever happens.
CREATE TABLE outbox (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    case_id      BIGINT  NOT NULL REFERENCES cases (id),
    kind         TEXT    NOT NULL,
    stage        INTEGER NOT NULL,
    recipient    TEXT,
    subject      TEXT    NOT NULL,
    body_text    TEXT    NOT NULL,
    body_html    TEXT    NOT NULL,
    status       TEXT    NOT NULL,             -- outbox | sending | sent | failed | no_recipient
    created_at   BIGINT  NOT NULL,
    sent_at      BIGINT,
    error        TEXT,
    UNIQUE (case_id, kind, stage)
);

-- Days customers paid on: the planner learns paydays from them.
CREATE TABLE customer_payments (
    invoice_id   TEXT    PRIMARY KEY,
    customer_id  TEXT    NOT NULL,
    paid_at      BIGINT  NOT NULL              -- unix ms
);
CREATE INDEX customer_payments_customer ON customer_payments (customer_id, paid_at);

-- Failed charges that name no invoice (the 2025-03-31 API shape): kept
-- until the customer's case for the same amount opens, which claims them.
CREATE TABLE payment_failures (
    id                BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    customer_id       TEXT    NOT NULL,
    charge_id         TEXT,
    payment_intent_id TEXT,
    amount            BIGINT  NOT NULL,
    currency          TEXT    NOT NULL,
    decline           TEXT    NOT NULL,       -- JSON: domain::decline::Classification
    event_id          TEXT    NOT NULL UNIQUE,
    at                BIGINT  NOT NULL,       -- unix ms (engine clock)
    case_id           BIGINT  REFERENCES cases (id)
);
CREATE INDEX payment_failures_customer ON payment_failures (customer_id, at);
