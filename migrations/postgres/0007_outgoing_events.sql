-- Events for the operator's own systems (DUNWELL_NOTIFY_URL): written in the
-- transaction that changed the case, then POSTed, signed, by the job runner
-- until the receiver answers 2xx (at least once; receivers deduplicate by
-- event_id). Rows are written only while a notify URL is configured.
CREATE TABLE outgoing_events (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id     TEXT    NOT NULL UNIQUE,      -- evt_... : the receiver's deduplication key
    case_id      BIGINT  NOT NULL REFERENCES cases (id),
    type         TEXT    NOT NULL,             -- case.opened | case.recovered | ...
    payload      TEXT    NOT NULL,             -- the JSON body, as it is sent
    due_at       BIGINT  NOT NULL,             -- unix ms (engine clock)
    status       TEXT    NOT NULL,             -- pending | delivered | failed
    tries        INTEGER NOT NULL DEFAULT 0,   -- deliveries that failed so far
    lease_until  BIGINT,                       -- unix ms (real clock)
    last_error   TEXT,
    created_at   BIGINT  NOT NULL,             -- unix ms (engine clock)
    delivered_at BIGINT
);
CREATE INDEX outgoing_events_due ON outgoing_events (due_at, id) WHERE status = 'pending';
CREATE INDEX outgoing_events_case ON outgoing_events (case_id, id);
