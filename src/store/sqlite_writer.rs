//! The intake's SQLite writer: one connection to the intake log
//! (`intake_log`) on a dedicated thread that appends a whole batch and
//! commits it without leaving the thread. Going through the async pool costs
//! several thread hand-offs per statement, and on a 2-core machine those
//! hand-offs, not SQLite, bound intake throughput. The main database is
//! attached read-only in spirit (`engine`): the writer reads it to refuse
//! events already consumed and to prune the log behind the engine.
//!
//! It also keeps the WAL from growing. The background checkpointer copies
//! frames into the log file, but under sustained writes it never catches the
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

use super::events::NewEvent;
use super::intake_log::{APPEND, PRUNE};
use super::payload::PayloadCompressor;

/// Rewind even without a signal after this long (the checkpointer stalled).
const REWIND_AT_LEAST_EVERY: Duration = Duration::from_secs(10);
/// How often the events the engine has consumed are deleted from the log.
const PRUNE_EVERY: Duration = Duration::from_secs(1);
/// A rewound WAL file larger than this is truncated back to it.
use super::WAL_SIZE_LIMIT;

pub struct SqliteEventWriter {
    conn: Connection,
    compressor: PayloadCompressor,
    rewind: Arc<AtomicBool>,
    last_rewind: Instant,
    last_prune: Instant,
}

impl SqliteEventWriter {
    /// Opens its own connection to the log at `log` (made by
    /// `IntakeLog::open` when the store connected) with the pool's
    /// durability settings: WAL and `synchronous = FULL` (a commit is on
    /// disk before anyone is answered), and attaches the database at `main`.
    pub fn open(log: &Path, main: &Path, rewind: Arc<AtomicBool>) -> anyhow::Result<Self> {
        let conn = Connection::open(log)
            .with_context(|| format!("opening {} for the intake writer", log.display()))?;
        conn.busy_timeout(Duration::from_secs(10))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "wal_autocheckpoint", 0)?;
        conn.pragma_update(None, "journal_size_limit", WAL_SIZE_LIMIT)?;
        let main_path = main
            .to_str()
            .with_context(|| format!("{} is not a UTF-8 path", main.display()))?;
        conn.execute("ATTACH DATABASE ?1 AS engine", [main_path])
            .with_context(|| format!("attaching {} to the intake writer", main.display()))?;
        conn.set_prepared_statement_cache_capacity(4);
        Ok(Self {
            conn,
            compressor: PayloadCompressor::new()?,
            rewind,
            last_rewind: Instant::now(),
            last_prune: Instant::now(),
        })
    }

    /// Appends a batch to the log in one transaction; per event, whether it
    /// was new.
    pub fn insert(&mut self, events: &[NewEvent]) -> anyhow::Result<Vec<bool>> {
        // Compress before the transaction: nobody waits for it.
        let payloads = events
            .iter()
            .map(|e| self.compressor.compress(&e.payload))
            .collect::<anyhow::Result<Vec<_>>>()?;
        // Deferred, not IMMEDIATE: that would take the engine database's
        // write lock too. The first statement writes the log at once.
        let tx = self.conn.transaction()?;
        let mut new = Vec::with_capacity(events.len());
        {
            let mut insert = tx.prepare_cached(APPEND)?;
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
                new.push(changed == 1);
            }
        }
        tx.commit()?;
        Ok(new)
    }

    /// Call between batches (after answering): prunes what the engine has
    /// consumed, and checkpoints the remainder when the background
    /// checkpointer has just caught up.
    pub fn maintain(&mut self) {
        if self.last_prune.elapsed() >= PRUNE_EVERY {
            self.last_prune = Instant::now();
            if let Err(e) = self.conn.execute(PRUNE, []) {
                tracing::warn!(error = %e, "pruning the intake log failed; will retry");
            }
        }
        let signalled = self.rewind.swap(false, Ordering::AcqRel);
        if !signalled && self.last_rewind.elapsed() < REWIND_AT_LEAST_EVERY {
            return;
        }
        self.last_rewind = Instant::now();
        let result = self
            .conn
            .query_row("PRAGMA main.wal_checkpoint(PASSIVE)", [], |_| Ok(()));
        if let Err(e) = result {
            tracing::warn!(error = %e, "intake writer checkpoint failed; will retry");
        }
    }
}
