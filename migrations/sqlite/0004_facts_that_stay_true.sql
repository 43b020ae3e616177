-- What the paying charge took (minor units), kept apart from what was owed:
-- `amount_due` is never overwritten by a settled invoice's zero remainder.
ALTER TABLE cases ADD COLUMN amount_paid BIGINT;
-- Why work on the case was given up (NULL: nothing to look at). A live
-- case always has planned work or this flag.
ALTER TABLE cases ADD COLUMN needs_attention TEXT;
CREATE INDEX cases_needs_attention ON cases (updated_at) WHERE needs_attention IS NOT NULL;

-- Delivery failures of a notice so far: notices are retried like emails.
ALTER TABLE notices ADD COLUMN tries INTEGER NOT NULL DEFAULT 0;

-- Customers read from the processor when an event lacks their email or
-- name (GET /v1/customers/{id}), so each is read once.
CREATE TABLE customers (
    customer_id  TEXT    PRIMARY KEY,
    email        TEXT,
    name         TEXT,
    fetched_at   BIGINT  NOT NULL              -- unix ms (engine clock)
);

-- Disputes the processor told us of, and whose customer they touch: a
-- customer with an open dispute is not charged (their live cases pause, a
-- new case starts paused) until it is won.
CREATE TABLE disputes (
    dispute_id   TEXT    PRIMARY KEY,
    customer_id  TEXT,
    charge_id    TEXT,
    status       TEXT    NOT NULL,             -- open | won | lost | warning_closed | ...
    updated_at   BIGINT  NOT NULL              -- unix ms (engine clock)
);
CREATE INDEX disputes_customer ON disputes (customer_id, status);

-- Whose charge it was (GET /v1/charges/{id}), for charges no case names:
-- a dispute is usually about an earlier, successful charge. NULL customer:
-- the processor does not know the charge.
CREATE TABLE charges (
    charge_id    TEXT    PRIMARY KEY,
    customer_id  TEXT,
    fetched_at   BIGINT  NOT NULL              -- unix ms (engine clock)
);
