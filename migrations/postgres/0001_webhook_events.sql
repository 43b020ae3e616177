-- Every accepted webhook, stored once per processor event id, never updated:
-- the raw audit log.
CREATE TABLE webhook_events (
    seq          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id     TEXT    NOT NULL UNIQUE,
    event_type   TEXT    NOT NULL,
    api_version  TEXT,
    created_at   BIGINT  NOT NULL,            -- processor's `created`, unix seconds
    livemode     BOOLEAN NOT NULL,
    payload      TEXT    NOT NULL,            -- the raw body, exactly as signed
    received_at  BIGINT  NOT NULL             -- unix milliseconds
);

-- Stored events not yet processed: the durable work queue. A row is added in
-- the transaction that stores the event and removed in the one that records
-- its outcome. Narrow rows, so claiming and finishing touch few pages.
CREATE TABLE event_queue (
    seq          BIGINT PRIMARY KEY REFERENCES webhook_events (seq),
    lease_until  BIGINT,                      -- unix milliseconds; claimed until then
    claim        TEXT,                        -- token of the claim that leased it
    attempts     INTEGER NOT NULL DEFAULT 0,
    last_error   TEXT
);

CREATE TABLE event_outcomes (
    seq          BIGINT PRIMARY KEY REFERENCES webhook_events (seq),
    processed_at BIGINT  NOT NULL,            -- unix milliseconds
    outcome      TEXT    NOT NULL,            -- handled | ignored | unparseable | failed
    error        TEXT
);

-- Small key/value store for values generated once per installation.
CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
