-- Outgoing events in order, and kept when given up: `sequence` numbers a
-- case's events 1, 2, 3… (in every payload; rows older than this have
-- none), and an event is delivered only after the case's earlier ones were
-- delivered or given up. `given_up_at` (engine clock, ms) says when the
-- last try failed, so the operator can list and replay what was given up.
ALTER TABLE outgoing_events ADD COLUMN sequence BIGINT;
ALTER TABLE outgoing_events ADD COLUMN given_up_at BIGINT;
-- Events given up before this migration: their last try was due then.
UPDATE outgoing_events SET given_up_at = due_at WHERE status = 'failed';
CREATE UNIQUE INDEX outgoing_events_sequence ON outgoing_events (case_id, sequence);
CREATE INDEX outgoing_events_given_up ON outgoing_events (given_up_at, id) WHERE status = 'failed';
