-- The intake appends to a log file of its own (`<database>-intake`); the
-- engine consumes it in order and keeps its position here, moved in the same
-- transaction that copies the events into webhook_events and event_queue.
-- One row per log file (a replaced log starts from its own beginning).
CREATE TABLE intake_cursor (
    log_id   TEXT    PRIMARY KEY,
    position INTEGER NOT NULL
);
