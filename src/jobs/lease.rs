//! The lease layer: a job keeps its claim while it runs (renewed every
//! `RENEW`, well inside `LEASE_MS`), as a task of its own so jobs run on
//! every core. A job that ends on its own has ended its lease too (its row
//! is done, put off or given up). One that does not is handled here:
//! - cancelled (a timeout, or abandoned at shutdown): the task is aborted
//!   and, once it has let go of its transaction, its lease is given back so
//!   the work may run again at once (the idempotency key makes it safe);
//! - panicked: case work is put off as after a failure (a try counted, the
//!   same backoff, given up and flagged after as many), a notice or a
//!   delivery is held for `PANIC_HOLD_MS` (never a hot loop), and the panic
//!   goes on to the catch-panic layer.

use std::any::Any;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use apalis_core::error::BoxDynError;
use apalis_core::task::Task;
use tokio::task::JoinHandle;
use tower::{Layer, Service};

use super::claim::{Due, LEASE_MS};
use super::queue::{Job, Shared};
use crate::clock::unix_millis;
use crate::engine::Engine;
use crate::store::work::Leased;

/// A running job renews its lease this often.
pub const RENEW: Duration = Duration::from_secs(10);
/// How long a notice or a delivery whose job panicked waits before it runs
/// again.
pub const PANIC_HOLD_MS: i64 = 60_000;

/// Wraps the job service: leases renewed, given back when a job does not
/// end on its own.
#[derive(Clone)]
pub struct LeaseLayer {
    shared: Arc<Shared>,
}

impl LeaseLayer {
    pub fn new(shared: Arc<Shared>) -> Self {
        Self { shared }
    }
}

impl<S> Layer<S> for LeaseLayer {
    type Service = Leasing<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Leasing {
            inner,
            shared: self.shared.clone(),
        }
    }
}

#[derive(Clone)]
pub struct Leasing<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S> Service<Task<Job>> for Leasing<S>
where
    S: Service<Task<Job>, Response = (), Error = BoxDynError>,
    S::Future: Send + 'static,
{
    type Response = ();
    type Error = BoxDynError;
    type Future = Held;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, task: Task<Job>) -> Self::Future {
        let due = task.args.due.clone();
        let job = self.inner.call(task);
        let engine = self.shared.engine.clone();
        let lease = (due.table(), due.id());
        let task = tokio::spawn(async move {
            tokio::select! {
                result = job => result,
                never = renew(engine, lease) => match never {},
            }
        });
        Held {
            task: Some(task),
            due: Some(due),
            shared: self.shared.clone(),
        }
    }
}

/// Renews a lease until dropped.
pub async fn renew(engine: Engine, (table, id): (Leased, i64)) -> Infallible {
    loop {
        tokio::time::sleep(RENEW).await;
        let until = unix_millis() + LEASE_MS;
        if let Err(e) = engine.store.renew_lease(table, id, until).await {
            tracing::warn!(error = %format!("{e:#}"), "renewing a job lease failed");
        }
    }
}

/// A job in flight.
pub struct Held {
    task: Option<JoinHandle<Result<(), BoxDynError>>>,
    due: Option<Due>,
    shared: Arc<Shared>,
}

impl Future for Held {
    type Output = Result<(), BoxDynError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let Some(task) = self.task.as_mut() else {
            return Poll::Ready(Err("a finished job polled again".into()));
        };
        let ended = std::task::ready!(Pin::new(task).poll(cx));
        self.task = None;
        match ended {
            Ok(result) => Poll::Ready(result),
            Err(e) if e.is_panic() => {
                let payload = e.into_panic();
                if let Some(due) = self.due.take() {
                    let why = format!("the job panicked: {}", panic_message(&payload));
                    let engine = self.shared.engine.clone();
                    spawn_tracked(&self.shared, after_panic(engine, due, why));
                }
                std::panic::resume_unwind(payload)
            }
            Err(e) => Poll::Ready(Err(format!("the job was cancelled: {e}").into())),
        }
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        let (Some(task), Some(due)) = (self.task.take(), self.due.take()) else {
            return;
        };
        // Timed out or abandoned: stopped, then its lease given back.
        task.abort();
        let engine = self.shared.engine.clone();
        spawn_tracked(&self.shared, async move {
            let _ = task.await;
            if let Err(e) = engine.store.release_lease(due.table(), due.id()).await {
                tracing::warn!(error = %format!("{e:#}"), "giving a lease back failed; it runs out");
            }
        });
    }
}

/// Starts `give_back` where a runtime runs, and keeps it for shutdown.
fn spawn_tracked(shared: &Shared, give_back: impl Future<Output = ()> + Send + 'static) {
    if let Ok(runtime) = tokio::runtime::Handle::try_current() {
        shared.giving_back(runtime.spawn(give_back));
    }
}

/// After a panic: case work put off as after a failure, other rows held.
async fn after_panic(engine: Engine, due: Due, why: String) {
    tracing::error!(table = ?due.table(), id = due.id(), "{why}");
    let held = match &due {
        Due::Work(work) => super::reschedule(&engine, work, &work.work, &why).await,
        _ => {
            let until = unix_millis() + PANIC_HOLD_MS;
            engine.store.renew_lease(due.table(), due.id(), until).await
        }
    };
    if let Err(e) = held {
        tracing::error!(error = %format!("{e:#}"), "holding back a job that panicked failed; its lease runs out");
    }
}

fn panic_message(payload: &Box<dyn Any + Send>) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "(no message)".to_owned()
    }
}
