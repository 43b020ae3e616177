//! Refreshes the planner's learned estimates from the retry outcomes in
//! the database: at start, then every quarter hour.

use std::time::Duration;

use tokio::sync::watch;

use crate::engine::Engine;

const EVERY: Duration = Duration::from_secs(15 * 60);

pub async fn run(engine: Engine, mut shutdown: watch::Receiver<bool>) {
    loop {
        let load = crate::engine::learning::load(&engine.store, engine.clock.now());
        let loaded = tokio::select! {
            loaded = load => loaded,
            _ = shutdown.wait_for(|stop| *stop) => break,
        };
        match loaded {
            Ok(estimates) => {
                tracing::debug!(
                    outcomes = estimates.outcomes(),
                    "learned retry estimates refreshed"
                );
                engine.learned.set(estimates);
            }
            Err(e) => {
                tracing::warn!(error = %format!("{e:#}"), "could not read retry outcomes; keeping the last estimates")
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(EVERY) => {}
            _ = shutdown.wait_for(|stop| *stop) => break,
        }
    }
}
