-- Processor and SMTP calls of every dunwell process on this database share
-- one pace: each call takes the next slot (microseconds since 1970, by the
-- database's clock, so hosts' clocks need not agree). See src/pace.rs.
CREATE TABLE pace_slots (
    name    TEXT   PRIMARY KEY,
    next_at BIGINT NOT NULL
);
