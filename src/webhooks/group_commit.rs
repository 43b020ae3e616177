//! Group commit: intake requests hand their event to one writer task, which
//! stores everything waiting in a single transaction and answers each request
//! only after that transaction has committed. Under load a batch forms by
//! itself while the previous one is being written.

use std::sync::Arc;

use tokio::sync::{Notify, mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use crate::store::Store;
use crate::store::events::NewEvent;

/// Events per transaction at most; more waiting go in the next one.
const MAX_BATCH: usize = 512;
/// Requests that may wait for the writer before intake answers 503.
const QUEUE_DEPTH: usize = 8192;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CommitError {
    #[error("storage unavailable")]
    Unavailable,
    #[error("shutting down")]
    ShuttingDown,
}

struct Pending {
    event: NewEvent,
    reply: oneshot::Sender<Result<bool, CommitError>>,
}

/// The intake side of the writer: cheap to clone.
#[derive(Clone)]
pub struct Committer {
    tx: mpsc::Sender<Pending>,
}

impl Committer {
    /// Starts the writer. `committed` is notified after every batch that
    /// stored something new; `shutdown` makes it finish what is queued and stop.
    pub fn start(
        store: Store,
        committed: Arc<Notify>,
        shutdown: watch::Receiver<bool>,
    ) -> (Self, JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(QUEUE_DEPTH);
        let task = tokio::spawn(write_batches(store, rx, committed, shutdown));
        (Self { tx }, task)
    }

    /// Stores `event` durably. `Ok(true)`: new; `Ok(false)`: already stored.
    pub async fn commit(&self, event: NewEvent) -> Result<bool, CommitError> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Pending { event, reply })
            .await
            .map_err(|_| CommitError::ShuttingDown)?;
        answer.await.map_err(|_| CommitError::ShuttingDown)?
    }
}

async fn write_batches(
    store: Store,
    mut rx: mpsc::Receiver<Pending>,
    committed: Arc<Notify>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut batch: Vec<Pending> = Vec::with_capacity(MAX_BATCH);
    loop {
        let stopping = tokio::select! {
            n = rx.recv_many(&mut batch, MAX_BATCH) => {
                if n == 0 {
                    break;
                }
                false
            }
            // A dropped sender means the application is gone: stop too.
            _ = shutdown.wait_for(|stop| *stop) => true,
        };
        if stopping {
            // No new requests; what is already queued is still written.
            rx.close();
            while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
                write(&store, &mut batch, &committed).await;
            }
            break;
        }
        write(&store, &mut batch, &committed).await;
    }
    tracing::debug!("webhook writer stopped");
}

async fn write(store: &Store, batch: &mut Vec<Pending>, committed: &Notify) {
    let (events, replies): (Vec<NewEvent>, Vec<_>) =
        batch.drain(..).map(|p| (p.event, p.reply)).unzip();
    match store.insert_events(&events).await {
        Ok(new) => {
            if new.iter().any(|n| *n) {
                committed.notify_one();
            }
            for (reply, is_new) in replies.into_iter().zip(new) {
                // The requester may have gone away; the event is stored regardless.
                let _ = reply.send(Ok(is_new));
            }
        }
        Err(e) => {
            tracing::error!(error = ?e, events = events.len(), "storing a batch of webhook events failed; answering 503 so the processor retries");
            for reply in replies {
                let _ = reply.send(Err(CommitError::Unavailable));
            }
        }
    }
}
