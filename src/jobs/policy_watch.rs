//! Follows the running policy: every few seconds, a version another
//! process (or `dunwell policy apply`) stored; on SIGHUP, the configuration
//! file read again, its policy stored as a new version when it changed.
//! Work already planned is not touched: each case keeps its version.

use std::time::Duration;

use tokio::sync::watch;

use crate::config::Config;
use crate::engine::Engine;
use crate::engine::policies::{self, Applied};

/// How often other processes' versions are looked for.
const EVERY: Duration = Duration::from_secs(5);

pub async fn run(engine: Engine, mut shutdown: watch::Receiver<bool>) {
    let mut hangups = hangups();
    loop {
        let hangup = tokio::select! {
            _ = tokio::time::sleep(EVERY) => false,
            Some(()) = next(&mut hangups) => true,
            _ = shutdown.wait_for(|stop| *stop) => break,
        };
        if hangup {
            reload(&engine).await;
        } else if let Err(e) = engine.refresh_policy().await {
            tracing::warn!(error = %format!("{e:#}"), "could not look for a new policy version");
        }
    }
}

/// Reads the configuration file again; its policy, when valid and changed,
/// becomes the next version. Errors are logged with their keys and change
/// nothing.
pub async fn reload(engine: &Engine) {
    let file = engine.config.file.clone();
    let shown = file
        .as_ref()
        .map_or_else(|| "the environment".to_owned(), |f| f.display().to_string());
    let config = match tokio::task::spawn_blocking(move || Config::load(file.as_deref())).await {
        Ok(Ok(config)) => config,
        Ok(Err(errors)) => {
            for e in &errors.0 {
                tracing::error!("SIGHUP: {shown}: {e}");
            }
            tracing::error!("SIGHUP: {shown} is not valid; the running policy stays");
            return;
        }
        Err(e) => {
            tracing::error!(error = %e, "SIGHUP: reading the configuration failed");
            return;
        }
    };
    match policies::load_file_policy(engine, &config.policy).await {
        Ok(Applied::New(v)) => {
            tracing::info!(version = v, "SIGHUP: {shown}'s policy runs as version {v}")
        }
        Ok(Applied::Unchanged(_)) => {
            tracing::info!("SIGHUP: {shown}'s policy did not change")
        }
        Err(e) => {
            tracing::error!(error = %format!("{e:#}"), "SIGHUP: could not store the file's policy")
        }
    }
}

#[cfg(unix)]
type Hangups = Option<tokio::signal::unix::Signal>;
#[cfg(not(unix))]
type Hangups = Option<()>;

#[cfg(unix)]
fn hangups() -> Hangups {
    tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok()
}

#[cfg(not(unix))]
fn hangups() -> Hangups {
    None
}

#[cfg(unix)]
async fn next(hangups: &mut Hangups) -> Option<()> {
    match hangups {
        Some(s) => s.recv().await,
        None => std::future::pending().await,
    }
}

#[cfg(not(unix))]
async fn next(_: &mut Hangups) -> Option<()> {
    std::future::pending().await
}
