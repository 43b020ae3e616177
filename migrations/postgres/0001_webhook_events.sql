-- Every accepted webhook, stored once per processor event id. Rows with
-- processed_at NULL are the durable queue the event dispatcher drains.
CREATE TABLE webhook_events (
    seq          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id     TEXT    NOT NULL UNIQUE,
    event_type   TEXT    NOT NULL,
    api_version  TEXT,
    created_at   BIGINT  NOT NULL,            -- processor's `created`, unix seconds
    livemode     BOOLEAN NOT NULL,
    payload      TEXT    NOT NULL,            -- the raw body, exactly as signed
    received_at  BIGINT  NOT NULL,            -- unix milliseconds
    processed_at BIGINT,                      -- unix milliseconds
    lease_until  BIGINT,                      -- unix milliseconds; a claimed row
    attempts     INTEGER NOT NULL DEFAULT 0,
    outcome      TEXT,                        -- handled | ignored | unparseable | failed
    last_error   TEXT
);

CREATE INDEX webhook_events_pending ON webhook_events (seq) WHERE processed_at IS NULL;

-- Small key/value store for values generated once per installation.
CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
