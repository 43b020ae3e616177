//! The intake's SQLite writer: one connection on a dedicated thread that
//! inserts a whole batch and commits it without leaving the thread. Going
//! through the async pool costs several thread hand-offs per statement, and
//! on a 2-core machine those hand-offs, not SQLite, bound intake throughput.
//!
//! It also keeps the WAL from growing. The background checkpointer copies
//! frames into the database, but under sustained writes it never catches the
//! last frame, and SQLite only rewinds the WAL when a write starts with every
//! frame copied. So when the checkpointer signals that it has just caught up
//! (`rewind`), the writer checkpoints the small remainder itself between
//! batches; its next commit then rewinds the WAL and overwrites blocks
//! already on disk, which is also what keeps `fsync` cheap.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use rusqlite::{Connection, params};

use super::WriteTurn;
use super::events::NewEvent;
use super::payload::PayloadCompressor;

const INSERT: &str = "INSERT INTO webhook_events \
    (event_id, event_type, api_version, created_at, livemode, payload, received_at) \
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (event_id) DO NOTHING";
const QUEUE: &str = "INSERT INTO event_queue (seq) VALUES (?1)";

/// Rewind even without a signal after this long (the checkpointer stalled).
const REWIND_AT_LEAST_EVERY: Duration = Duration::from_secs(10);
/// A rewound WAL file larger than this is truncated back to it.
use super::WAL_SIZE_LIMIT;

pub struct SqliteEventWriter {
    conn: Connection,
    compressor: PayloadCompressor,
    turn: WriteTurn,
    rewind: Arc<AtomicBool>,
    last_rewind: Instant,
}

impl SqliteEventWriter {
    /// Opens its own connection with the pool's durability settings: WAL and
    /// `synchronous = FULL` (a commit is on disk before anyone is answered).
    pub fn open(path: &Path, turn: WriteTurn, rewind: Arc<AtomicBool>) -> anyhow::Result<Self> {
        let conn = Connection::open(path)
            .with_context(|| format!("opening {} for the intake writer", path.display()))?;
        conn.busy_timeout(Duration::from_secs(10))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "wal_autocheckpoint", 0)?;
        conn.pragma_update(None, "journal_size_limit", WAL_SIZE_LIMIT)?;
        conn.set_prepared_statement_cache_capacity(4);
        Ok(Self {
            conn,
            compressor: PayloadCompressor::new()?,
            turn,
            rewind,
            last_rewind: Instant::now(),
        })
    }

    /// Stores a batch and queues the new events in one transaction; per
    /// event, whether it was new.
    pub fn insert(&mut self, events: &[NewEvent]) -> anyhow::Result<Vec<bool>> {
        // Compress before taking the write turn: nobody waits for it.
        let payloads = events
            .iter()
            .map(|e| self.compressor.compress(&e.payload))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let _turn = self.turn.take_blocking();
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let mut new = Vec::with_capacity(events.len());
        {
            let mut insert = tx.prepare_cached(INSERT)?;
            let mut queue = tx.prepare_cached(QUEUE)?;
            for (e, payload) in events.iter().zip(&payloads) {
                let changed = insert.execute(params![
                    e.event_id,
                    e.event_type,
                    e.api_version,
                    e.created_at,
                    e.livemode,
                    payload,
                    e.received_at_ms,
                ])?;
                if changed == 1 {
                    queue.execute([tx.last_insert_rowid()])?;
                }
                new.push(changed == 1);
            }
        }
        tx.commit()?;
        Ok(new)
    }

    /// Call between batches (after answering): checkpoints the remainder
    /// when the background checkpointer has just caught up.
    pub fn maintain(&mut self) {
        let signalled = self.rewind.swap(false, Ordering::AcqRel);
        if !signalled && self.last_rewind.elapsed() < REWIND_AT_LEAST_EVERY {
            return;
        }
        self.last_rewind = Instant::now();
        let result = self
            .conn
            .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
        if let Err(e) = result {
            tracing::warn!(error = %e, "intake writer checkpoint failed; will retry");
        }
    }
}
