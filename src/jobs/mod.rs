//! Background work, one job per file.

pub mod process_events;
pub mod wal_checkpoint;
