-- Every accepted webhook, stored once per processor event id. Rows with
-- processed_at NULL are the durable queue the event dispatcher drains.
CREATE TABLE webhook_events (
    seq          INTEGER PRIMARY KEY,
    event_id     TEXT    NOT NULL UNIQUE,
    event_type   TEXT    NOT NULL,
    api_version  TEXT,
    created_at   INTEGER NOT NULL,            -- processor's `created`, unix seconds
    livemode     BOOLEAN NOT NULL,
    payload      TEXT    NOT NULL,            -- the raw body, exactly as signed
    received_at  INTEGER NOT NULL,            -- unix milliseconds
    processed_at INTEGER,                     -- unix milliseconds
    lease_until  INTEGER,                     -- unix milliseconds; a claimed row
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
