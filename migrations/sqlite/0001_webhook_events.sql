-- Every accepted webhook, stored once per processor event id, never updated:
-- the raw audit log.
CREATE TABLE webhook_events (
    seq          INTEGER PRIMARY KEY,
    event_id     TEXT    NOT NULL UNIQUE,
    event_type   TEXT    NOT NULL,
    api_version  TEXT,
    created_at   INTEGER NOT NULL,            -- processor's `created`, unix seconds
    livemode     BOOLEAN NOT NULL,
    payload      BLOB    NOT NULL,            -- the raw body as signed, zstd-compressed (store::payload)
    received_at  INTEGER NOT NULL             -- unix milliseconds
);

-- Stored events not yet processed: the durable work queue. A row is added in
-- the transaction that stores the event and removed in the one that records
-- its outcome. Narrow rows, so claiming and finishing touch few pages.
CREATE TABLE event_queue (
    seq          INTEGER PRIMARY KEY REFERENCES webhook_events (seq),
    lease_until  INTEGER,                     -- unix milliseconds; claimed until then
    claim        TEXT,                        -- token of the claim that leased it
    attempts     INTEGER NOT NULL DEFAULT 0,
    last_error   TEXT
);

CREATE TABLE event_outcomes (
    seq          INTEGER PRIMARY KEY REFERENCES webhook_events (seq),
    processed_at INTEGER NOT NULL,            -- unix milliseconds
    outcome      TEXT    NOT NULL,            -- handled | ignored | unparseable | failed
    error        TEXT
);

-- Small key/value store for values generated once per installation.
CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
