//! SQLite only: moves committed WAL frames into the database file in the
//! background, in small steps, so no request pays for a checkpoint. Once a
//! second it makes a second pass to get close to the WAL's end and signals
//! the intake writer (`rewind`) to copy the last few frames, which lets the
//! WAL start over (see `store::sqlite_writer`).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::watch;

use crate::store::Store;

const EVERY: Duration = Duration::from_millis(200);
/// Every this many passes, catch up and signal a rewind.
const REWIND_EVERY_PASSES: u32 = 5;

pub async fn run(store: Store, rewind: Arc<AtomicBool>, mut shutdown: watch::Receiver<bool>) {
    let mut pass = 0u32;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(EVERY) => {}
            _ = shutdown.wait_for(|stop| *stop) => break,
        }
        pass = pass.wrapping_add(1);
        let mut result = store.checkpoint().await;
        if result.is_ok() && pass % REWIND_EVERY_PASSES == 0 {
            result = store.checkpoint().await;
            rewind.store(true, Ordering::Release);
        }
        if let Err(e) = result {
            tracing::warn!(error = %format!("{e:#}"), "WAL checkpoint failed; will retry");
        }
    }
    // Leave a compact database behind on a clean stop.
    let _ = store.checkpoint().await;
}
