//! Background loops a process must not run on without (the job runner,
//! the event processor): each reports to a `Health` that `/readyz` reads.
//! `supervise` restarts the event processor if it dies, with backoff (the
//! job runner's apalis monitor does the same for its worker).

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::Duration;

use tokio::sync::watch;

use crate::clock::unix_millis;

/// A loop silent this long is not running (`/readyz`).
const STALE_MS: i64 = 15_000;

/// What `/readyz` reads about one background loop of this process.
#[derive(Debug)]
pub struct Health {
    name: &'static str,
    running: AtomicBool,
    beat_ms: AtomicI64,
    problem: std::sync::Mutex<Option<String>>,
}

impl Health {
    pub fn new(name: &'static str) -> Self {
        Self {
            name,
            running: AtomicBool::new(false),
            beat_ms: AtomicI64::new(0),
            problem: std::sync::Mutex::new(None),
        }
    }

    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The loop is alive and well (call once per round).
    pub fn beat(&self) {
        self.running.store(true, Ordering::SeqCst);
        self.beat_ms.store(unix_millis(), Ordering::SeqCst);
        self.set_problem(None);
    }

    /// The loop runs but its last round failed (`None`: recovered).
    pub fn set_problem(&self, problem: Option<String>) {
        if let Ok(mut p) = self.problem.lock() {
            *p = problem;
        }
    }

    /// The loop is alive (its last round's problem, if any, stands).
    pub fn alive(&self) {
        self.running.store(true, Ordering::SeqCst);
        self.beat_ms.store(unix_millis(), Ordering::SeqCst);
    }

    /// The loop is not running: died, or stopped.
    pub fn down(&self, why: String) {
        self.running.store(false, Ordering::SeqCst);
        self.set_problem(Some(why));
    }

    /// `Err(reason)` while the loop is not running well.
    pub fn check(&self) -> Result<(), String> {
        let name = self.name;
        let problem = self.problem.lock().ok().and_then(|p| p.clone());
        if !self.running.load(Ordering::SeqCst) {
            let why = problem.unwrap_or_else(|| "not started".into());
            return Err(format!("{name} not running: {why}"));
        }
        if let Some(problem) = problem {
            return Err(format!("{name}: {problem}"));
        }
        let silent = unix_millis() - self.beat_ms.load(Ordering::SeqCst);
        if silent > STALE_MS {
            return Err(format!("{name} silent for {} s", silent / 1000));
        }
        Ok(())
    }
}

/// Aborts a task when dropped.
struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Runs `make()`'s loop until it returns (on `shutdown`); a loop that dies
/// (panics) is started again after a growing backoff, so the process never
/// goes on without it, and `health` says it is down meanwhile.
pub async fn supervise<F, Fut>(health: Arc<Health>, mut shutdown: watch::Receiver<bool>, make: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let mut backoff = Duration::from_millis(500);
    loop {
        // Aborting the supervisor (a stop that ran out of time) aborts the
        // loop it runs too, and with it whatever the loop holds.
        let task = tokio::spawn(make());
        let _stop_with_me = AbortOnDrop(task.abort_handle());
        match task.await {
            Ok(()) => break,
            Err(e) => {
                let why = format!("died ({e}); restarting in {backoff:?}");
                tracing::error!(task = health.name, "{why}");
                health.down(why);
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = shutdown.wait_for(|stop| *stop) => break,
        }
        backoff = (backoff * 2).min(Duration::from_secs(30));
    }
    health.down("stopped".into());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readiness_follows_the_loop() {
        let health = Health::new("job runner");
        assert!(health.check().unwrap_err().contains("not started"));
        health.beat();
        assert!(health.check().is_ok());
        health.set_problem(Some("claiming due work failed: db gone".into()));
        assert!(health.check().unwrap_err().contains("db gone"));
        health.beat();
        assert!(health.check().is_ok());
        health.down("died (panic); restarting in 1s".into());
        assert!(
            health
                .check()
                .unwrap_err()
                .contains("job runner not running: died")
        );
        health.beat();
        health
            .beat_ms
            .store(unix_millis() - STALE_MS - 1, Ordering::SeqCst);
        assert!(health.check().unwrap_err().contains("silent"));
    }

    #[tokio::test]
    async fn a_loop_that_dies_is_started_again() {
        let health = Arc::new(Health::new("test loop"));
        let (stop, stopped) = watch::channel(false);
        let starts = Arc::new(AtomicI64::new(0));
        let (h, n) = (health.clone(), starts.clone());
        let supervised = tokio::spawn(supervise(health.clone(), stopped.clone(), move || {
            let (h, n, mut stopped) = (h.clone(), n.clone(), stopped.clone());
            async move {
                if n.fetch_add(1, Ordering::SeqCst) == 0 {
                    panic!("the first run dies");
                }
                h.beat();
                let _ = stopped.wait_for(|s| *s).await;
            }
        }));
        for _ in 0..100 {
            if health.check().is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(health.check().is_ok(), "{:?}", health.check());
        assert_eq!(starts.load(Ordering::SeqCst), 2);
        stop.send(true).unwrap();
        supervised.await.unwrap();
        assert!(health.check().is_err());
    }
}
