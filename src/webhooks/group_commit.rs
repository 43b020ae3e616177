//! Group commit: intake requests hand their event to one writer, which
//! stores everything waiting in a single transaction and answers each request
//! only after that transaction has committed. Under load a batch forms by
//! itself while the previous one is being written.
//!
//! On SQLite the writer is a dedicated thread with its own connection to the
//! intake log (no thread hand-offs inside a batch, no waiting for the
//! engine's write lock); on PostgreSQL it is a task on the pool.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use sqlx::PgPool;
use tokio::sync::{Notify, mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::store::Store;
use crate::store::events::{NewEvent, insert_events_postgres};
use crate::store::sqlite_writer::SqliteEventWriter;

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

type Reply = oneshot::Sender<Result<bool, CommitError>>;

enum Message {
    Store(NewEvent, Reply),
    /// Everything queued before this is written; then the writer ends.
    Stop,
}

/// The intake side of the writer: cheap to clone.
#[derive(Clone)]
pub struct Committer {
    tx: mpsc::Sender<Message>,
}

impl Committer {
    /// Starts the writer; `committed` is notified after every batch that
    /// stored something new, and `rewind` is the WAL checkpointer's signal
    /// to the SQLite writer.
    pub fn start(
        store: Store,
        committed: Arc<Notify>,
        rewind: Arc<AtomicBool>,
    ) -> anyhow::Result<(Self, JoinHandle<()>)> {
        let (tx, rx) = mpsc::channel(QUEUE_DEPTH);
        let task = match &store {
            Store::Sqlite(pool, side) => {
                let writer = SqliteEventWriter::open(
                    side.log.path(),
                    pool.connect_options().get_filename(),
                    rewind,
                )?;
                // A plain thread, not `spawn_blocking`: a runtime that is
                // dropped without a clean stop must not wait for it.
                let (done, finished) = oneshot::channel();
                std::thread::Builder::new()
                    .name("intake-writer".into())
                    .spawn(move || {
                        write_on_thread(writer, rx, &committed);
                        let _ = done.send(());
                    })?;
                tokio::spawn(async move {
                    let _ = finished.await;
                })
            }
            Store::Postgres(pool) => tokio::spawn(write_on_pool(pool.clone(), rx, committed)),
        };
        Ok((Self { tx }, task))
    }

    /// Stores `event` durably. `Ok(true)`: new; `Ok(false)`: already stored.
    pub async fn commit(&self, event: NewEvent) -> Result<bool, CommitError> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Message::Store(event, reply))
            .await
            .map_err(|_| CommitError::ShuttingDown)?;
        answer.await.map_err(|_| CommitError::ShuttingDown)?
    }

    /// Asks the writer to finish what is queued and end.
    pub async fn stop(&self) {
        let _ = self.tx.send(Message::Stop).await;
    }
}

/// Splits received messages into a batch; true when a stop was among them.
fn take_batch(messages: &mut Vec<Message>) -> (Vec<NewEvent>, Vec<Reply>, bool) {
    let mut events = Vec::with_capacity(messages.len());
    let mut replies = Vec::with_capacity(messages.len());
    let mut stop = false;
    for message in messages.drain(..) {
        match message {
            Message::Store(event, reply) => {
                events.push(event);
                replies.push(reply);
            }
            Message::Stop => stop = true,
        }
    }
    (events, replies, stop)
}

fn answer(result: anyhow::Result<Vec<bool>>, replies: Vec<Reply>, committed: &Notify) {
    match result {
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
            tracing::error!(error = %format!("{e:#}"), events = replies.len(), "storing a batch of webhook events failed; answering 503 so the processor retries");
            for reply in replies {
                let _ = reply.send(Err(CommitError::Unavailable));
            }
        }
    }
}

fn write_on_thread(
    mut writer: SqliteEventWriter,
    mut rx: mpsc::Receiver<Message>,
    committed: &Notify,
) {
    let mut messages = Vec::with_capacity(MAX_BATCH);
    while rx.blocking_recv_many(&mut messages, MAX_BATCH) > 0 {
        let (events, replies, stop) = take_batch(&mut messages);
        if !events.is_empty() {
            answer(writer.insert(&events), replies, committed);
        }
        if stop {
            break;
        }
        writer.maintain();
    }
    tracing::debug!("webhook writer stopped");
}

async fn write_on_pool(pool: PgPool, mut rx: mpsc::Receiver<Message>, committed: Arc<Notify>) {
    let mut messages = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut messages, MAX_BATCH).await > 0 {
        let (events, replies, stop) = take_batch(&mut messages);
        if !events.is_empty() {
            answer(
                insert_events_postgres(&pool, &events).await,
                replies,
                &committed,
            );
        }
        if stop {
            break;
        }
    }
    tracing::debug!("webhook writer stopped");
}
