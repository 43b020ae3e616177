-- The card each customer added last (payment_method.attached,
-- customer.source.expiring): what pre-dunning checks renewals against.
CREATE TABLE customer_cards (
    customer_id       TEXT    PRIMARY KEY,
    payment_method_id TEXT    NOT NULL,
    brand             TEXT,
    last4             TEXT,
    exp_month         INTEGER NOT NULL,
    exp_year          INTEGER NOT NULL,
    updated_at        BIGINT  NOT NULL
);

-- Emails outside a recovery case (pre-dunning: the card on file expires
-- before the next renewal). A row is the plan, the job's claim and the
-- record at once: one per (customer, kind, key), written before anything
-- is sent, so none goes out twice.
CREATE TABLE notices (
    id           INTEGER PRIMARY KEY,
    customer_id  TEXT    NOT NULL,
    kind         TEXT    NOT NULL,
    notice_key   TEXT    NOT NULL,
    recipient    TEXT,
    detail       TEXT    NOT NULL,             -- JSON: what the email shows
    due_at       BIGINT  NOT NULL,             -- unix ms (engine clock)
    status       TEXT    NOT NULL,             -- pending | outbox | sending | sent | failed | no_recipient
    lease_until  BIGINT,                       -- unix ms (real clock)
    subject      TEXT,
    body_text    TEXT,
    body_html    TEXT,
    created_at   BIGINT  NOT NULL,
    sent_at      BIGINT,
    error        TEXT,
    UNIQUE (customer_id, kind, notice_key)
);
CREATE INDEX notices_due ON notices (due_at, id) WHERE status = 'pending';
