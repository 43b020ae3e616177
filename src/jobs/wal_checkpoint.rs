//! SQLite only: moves committed WAL frames into the database files in the
//! background, in small steps, so no request pays for a checkpoint.
//!
//! The main database: every pass copies what is committed; every fifth pass
//! waits for this process's write turn, so it reaches the WAL's end and the
//! next write starts the WAL over. The intake log: the same passes, but the
//! writer thread never waits for a turn, so instead the catching-up pass
//! signals it (`rewind`) to copy the last few frames itself between batches
//! (see `store::sqlite_writer`).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::watch;

use crate::store::Store;

const EVERY: Duration = Duration::from_millis(200);
/// Every this many passes, catch up (and signal the intake writer).
const REWIND_EVERY_PASSES: u32 = 5;

pub async fn run(store: Store, rewind: Arc<AtomicBool>, mut shutdown: watch::Receiver<bool>) {
    let mut pass = 0u32;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(EVERY) => {}
            _ = shutdown.wait_for(|stop| *stop) => break,
        }
        pass = pass.wrapping_add(1);
        let catch_up = pass.is_multiple_of(REWIND_EVERY_PASSES);
        let main = if catch_up {
            store.checkpoint_all().await
        } else {
            store.checkpoint().await
        };
        let mut log = store.checkpoint_intake_log().await;
        if log.is_ok() && catch_up {
            log = store.checkpoint_intake_log().await;
            rewind.store(true, Ordering::Release);
        }
        for result in [main, log] {
            if let Err(e) = result {
                tracing::warn!(error = %format!("{e:#}"), "WAL checkpoint failed; will retry");
            }
        }
    }
    // Leave compact files behind on a clean stop.
    let _ = store.checkpoint().await;
    let _ = store.checkpoint_intake_log().await;
}
