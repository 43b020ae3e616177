//! Builds the whole application from a `Config`: store, intake writer, HTTP
//! server, background workers. Tests use the same builder on port 0.

use std::future::Future;
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use actix_web::dev::{Server, ServerHandle};
use actix_web::middleware::from_fn;
use actix_web::{App, HttpServer, web};
use anyhow::Context;
use secrecy::SecretString;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

use crate::clock::Clock;
use crate::config::Config;
use crate::domain::metrics_access::Guard;
use crate::engine::Engine;
use crate::jobs;
use crate::jobs::supervisor::Health;
use crate::mail::Mailer;
use crate::processor::Processor;
use crate::state::AppState;
use crate::store::Store;
use crate::web::billing::limit::PageLimit;
use crate::web::health::{MetricsHere, Probe};
use crate::webhooks::group_commit::Committer;

/// How long in-flight requests may take to finish on shutdown; with the job
/// runner's grace this keeps a stop inside 10 s (Docker's default, and
/// `kill_timeout` in fly.toml).
const HTTP_GRACE_SECS: u64 = 5;

/// How long after the shutdown signal the background tasks have to end
/// (the job runner's own grace is 6 s of it); one still running then is
/// named in the log and aborted. With `POOL_CLOSE` a stop ends inside 10 s,
/// and `run` says what had to be stopped by force.
const STOP_DEADLINE: std::time::Duration = std::time::Duration::from_secs(8);

/// How long the HTTP server has to stop (its own grace, and a margin).
const HTTP_STOP: std::time::Duration = std::time::Duration::from_secs(HTTP_GRACE_SECS + 2);

/// How long closing the database pool may wait for connections in use.
const POOL_CLOSE: std::time::Duration = std::time::Duration::from_millis(1500);

/// Which parts run in this process (Fly process groups split them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Web and workers.
    Serve,
    Web,
    Worker,
}

impl Role {
    fn web(self) -> bool {
        matches!(self, Self::Serve | Self::Web)
    }
    fn workers(self) -> bool {
        matches!(self, Self::Serve | Self::Worker)
    }
}

/// What tests change about a build.
#[derive(Debug, Clone)]
pub struct Options {
    /// The engine's clock; default: real time, or accelerated by
    /// `DUNWELL_CLOCK_SPEED`.
    pub clock: Option<Clock>,
    /// Run the job runner (worker roles). Tests that drive time by hand
    /// turn it off and call `jobs::run_due`.
    pub job_workers: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            clock: None,
            job_workers: true,
        }
    }
}

pub struct Application {
    port: u16,
    metrics_port: Option<u16>,
    store: Store,
    engine: Engine,
    server: (Server, ServerHandle),
    committer: Option<(Committer, JoinHandle<()>)>,
    /// Every background task, by name (named in the log if it will not stop).
    workers: Vec<(&'static str, JoinHandle<()>)>,
    shutdown: watch::Sender<bool>,
}

impl Application {
    /// Connects, migrates, binds the listener (port 0 picks a free one) and
    /// starts the background tasks. Nothing is served until `run`.
    pub async fn build(config: Config, role: Role) -> anyhow::Result<Self> {
        Self::build_with(config, role, Options::default()).await
    }

    pub async fn build_with(
        mut config: Config,
        role: Role,
        options: Options,
    ) -> anyhow::Result<Self> {
        let store = Store::connect(&config.database_url).await?;
        store.migrate().await?;
        if config.link_secret.is_none() {
            let generated = store
                .setting_or_insert("link_secret", || crate::random::hex(32))
                .await
                .context("loading the link-signing secret")?;
            config.link_secret = Some(SecretString::from(generated));
        }
        let session_secret = store
            .setting_or_insert("session_secret", || crate::random::hex(32))
            .await
            .context("loading the session secret")?;
        let install_id = store
            .setting_or_insert("install_id", || crate::random::base62(10))
            .await
            .context("loading the install id")?;
        announce(&config, role);
        // Bind first: a taken port fails the start before anything runs.
        // Every role listens: `worker` serves the health checks.
        let listener =
            TcpListener::bind(config.bind).with_context(|| {
                format!(
                    "binding {} (DUNWELL_BIND): is another dunwell (a web or worker on this machine) using it? give each process its own, e.g. DUNWELL_BIND=127.0.0.1:8081 dunwell worker",
                    config.bind
                )
            })?;
        let metrics_listener = match config.metrics_bind {
            Some(at) => Some(
                TcpListener::bind(at)
                    .with_context(|| format!("binding {at} (DUNWELL_METRICS_BIND)"))?,
            ),
            None => None,
        };
        let clock = match options.clock {
            Some(clock) => clock,
            None => crate::clock::shared_timeline(&store, config.clock_speed, config.clock_start)
                .await
                .context("loading the simulated clock")?,
        };
        let config = Arc::new(config);
        let engine = Engine {
            config: config.clone(),
            store: store.clone(),
            clock,
            processor: Processor::from_config(&config, &store)?,
            mailer: Mailer::from_config(&config, &store)?,
            work_planned: Arc::new(Notify::new()),
            install_id: install_id.into(),
            learned: Default::default(),
            policies: Default::default(),
            runner_noted: Default::default(),
        };
        crate::engine::policies::load_file_policy(&engine, &engine.config.policy)
            .await
            .context("storing the configuration file's policy")?;
        let (shutdown, shutdown_rx) = watch::channel(false);
        let committed = Arc::new(Notify::new());

        let mut workers = Vec::new();
        let mut loops = Vec::new();
        let rewind = Arc::new(AtomicBool::new(false));
        if matches!(store, Store::Sqlite(..)) {
            workers.push((
                "wal checkpoint",
                tokio::spawn(jobs::wal_checkpoint::run(
                    store.clone(),
                    rewind.clone(),
                    shutdown_rx.clone(),
                )),
            ));
        }
        // Every role follows the running policy: new versions from other
        // processes, and the file again on SIGHUP.
        workers.push((
            "policy watch",
            tokio::spawn(jobs::policy_watch::run(engine.clone(), shutdown_rx.clone())),
        ));
        // Every role plans (the web role previews plans for the operator).
        workers.push((
            "learning",
            tokio::spawn(jobs::learn::run(engine.clone(), shutdown_rx.clone())),
        ));
        if role.workers() {
            let health = Arc::new(Health::new("event processor"));
            loops.push(health.clone());
            workers.push((
                "event processor",
                tokio::spawn(jobs::process_events::supervise(
                    engine.clone(),
                    committed.clone(),
                    health,
                    shutdown_rx.clone(),
                )),
            ));
            if options.job_workers {
                let health = Arc::new(Health::new("job runner"));
                loops.push(health.clone());
                workers.push((
                    "job runner",
                    tokio::spawn(jobs::runner::supervise(
                        engine.clone(),
                        health,
                        shutdown_rx.clone(),
                    )),
                ));
            }
        }

        crate::meters::handle();
        let public_url = config.public_url.clone();
        let access = config.metrics_access();
        let token = config.metrics_token.clone();
        let sign_in = crate::web::sign_in::SignIn::new(&session_secret);
        let probe = Probe {
            store: store.clone(),
            loops,
            clock: engine.clock.clone(),
            sign_in: sign_in.clone(),
            client_ip_header: config.client_ip_header.clone(),
            metrics: match (&metrics_listener, access.guard) {
                (Some(l), _) => MetricsHere::Elsewhere(l.local_addr()?),
                (None, Guard::Closed) => MetricsHere::Closed(access.describe(config.bind)),
                (None, _) => MetricsHere::Served(token.clone()),
            },
        };
        let mut metrics_port = None;
        if let Some(l) = metrics_listener {
            metrics_port = Some(l.local_addr()?.port());
            let probe = web::Data::new(Probe {
                metrics: MetricsHere::Served(token),
                ..probe.clone()
            });
            let public_url = public_url.clone();
            let server = HttpServer::new(move || {
                App::new()
                    .wrap(crate::web::headers::defaults(&public_url))
                    .app_data(probe.clone())
                    .configure(crate::web::health::metrics_routes)
            })
            .disable_signals()
            .workers(1)
            .shutdown_timeout(HTTP_GRACE_SECS)
            .listen(l)?
            .run();
            workers.push((
                "metrics listener",
                tokio::spawn(serve_until(server, shutdown_rx.clone())),
            ));
        }
        let probe = web::Data::new(probe);
        let port = listener.local_addr()?.port();
        let mut committer = None;
        let http = if role.web() {
            let (writer, task) = Committer::start(store.clone(), committed, rewind)?;
            committer = Some((writer.clone(), task));
            let state = web::Data::new(AppState {
                config: config.clone(),
                store: store.clone(),
                committer: writer,
                engine: engine.clone(),
                page_limit: PageLimit::new(config.page_requests_per_minute),
                sign_in: sign_in.clone(),
            });
            HttpServer::new(move || {
                App::new()
                    .wrap(crate::web::headers::defaults(&public_url))
                    .wrap(from_fn(crate::web::requests::observe))
                    .app_data(state.clone())
                    .app_data(probe.clone())
                    .configure(crate::web::routes)
            })
            .disable_signals()
            .backlog(2048)
            .shutdown_timeout(HTTP_GRACE_SECS)
            .listen(listener)?
            .run()
        } else {
            HttpServer::new(move || {
                App::new()
                    .wrap(crate::web::headers::defaults(&public_url))
                    .wrap(from_fn(crate::web::requests::observe))
                    .app_data(probe.clone())
                    .configure(crate::web::health::routes)
            })
            .disable_signals()
            .workers(1)
            .shutdown_timeout(HTTP_GRACE_SECS)
            .listen(listener)?
            .run()
        };
        let handle = http.handle();
        let server = (http, handle);
        tracing::info!(port, "listening");
        if role.web() && config.admin_token.is_none() {
            tracing::info!(
                "the operator API (/api) and dashboard (/admin) are off: set DUNWELL_ADMIN_TOKEN (16+ characters) to turn them on"
            );
        }

        Ok(Self {
            port,
            metrics_port,
            store,
            engine,
            server,
            committer,
            workers,
            shutdown,
        })
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The port of `DUNWELL_METRICS_BIND`, when set.
    pub fn metrics_port(&self) -> Option<u16> {
        self.metrics_port
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The engine (tests drive its clock and run due work through it).
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Serves until `stop` resolves, then shuts down gracefully: in-flight
    /// requests finish (and their events commit), workers end their batch.
    pub async fn run(self, stop: impl Future<Output = ()>) -> anyhow::Result<()> {
        let Self {
            store,
            server,
            committer,
            workers,
            shutdown,
            ..
        } = self;
        let (http, handle) = server;
        let mut http = tokio::spawn(http);
        // What had to be stopped by force: a stop always ends, and says so.
        let mut forced: Vec<&'static str> = Vec::new();
        let mut signalled = tokio::time::Instant::now();
        let served = tokio::select! {
            done = &mut http => Some(done),
            _ = stop => {
                tracing::info!("shutting down: finishing in-flight requests and running jobs");
                signalled = tokio::time::Instant::now();
                // Jobs and requests get their grace side by side, so the
                // whole stop stays within 10 s.
                shutdown.send_replace(true);
                let graceful = async {
                    handle.stop(true).await;
                    (&mut http).await
                };
                match tokio::time::timeout(HTTP_STOP, graceful).await {
                    Ok(done) => Some(done),
                    Err(_) => {
                        tracing::error!("the HTTP server did not stop in time; aborted");
                        forced.push("the HTTP server");
                        http.abort();
                        None
                    }
                }
            }
        };
        if !shutdown.send_replace(true) {
            signalled = tokio::time::Instant::now();
        }
        let deadline = signalled + STOP_DEADLINE;
        if let Some((writer, task)) = committer {
            let stopped = async {
                writer.stop().await;
                let _ = task.await;
            };
            if tokio::time::timeout_at(deadline, stopped).await.is_err() {
                tracing::error!("the webhook writer did not stop in time");
                forced.push("the webhook writer");
            }
        }
        // Each task had the stop signal; one that outlives the stop's
        // deadline is named and aborted.
        for (name, mut task) in workers {
            if tokio::time::timeout_at(deadline, &mut task).await.is_err() {
                tracing::error!(
                    task = name,
                    "did not stop in time after the shutdown signal; aborted"
                );
                forced.push(name);
                task.abort();
                let _ = task.await;
            }
        }
        if tokio::time::timeout(POOL_CLOSE, store.close())
            .await
            .is_err()
        {
            tracing::error!("database connections were still in use {POOL_CLOSE:?} after the stop");
            forced.push("the database pool");
        }
        tracing::info!("stopped");
        if !forced.is_empty() {
            anyhow::bail!(
                "stopped by force: {} did not stop in time",
                forced.join(", ")
            );
        }
        match served {
            Some(done) => done.context("HTTP server task")?.context("HTTP server"),
            None => Ok(()),
        }
    }
}

/// Runs a side listener until the application shuts down, then stops it
/// gracefully.
async fn serve_until(server: actix_web::dev::Server, mut shutdown: watch::Receiver<bool>) {
    let handle = server.handle();
    let mut served = tokio::spawn(server);
    let stopping = async move {
        let _ = shutdown.wait_for(|stop| *stop).await;
    };
    tokio::select! {
        _ = &mut served => {}
        _ = stopping => {
            handle.stop(true).await;
            let _ = served.await;
        }
    }
}

fn announce(config: &Config, role: Role) {
    tracing::info!(
        role = ?role,
        database = %crate::config::redact_url(&config.database_url),
        "starting dunwell"
    );
    if config.webhook_secrets.is_empty() && role.web() {
        tracing::error!(
            "no webhook signing secret configured (DUNWELL_WEBHOOK_SECRETS): every webhook will be refused with 503"
        );
    }
    if let Some(url) = &config.notify_url {
        tracing::info!(
            url = %crate::config::redact_url(url.as_str()),
            "case events are sent, signed, to DUNWELL_NOTIFY_URL"
        );
    }
    let metrics = config.metrics_access();
    if metrics.guard != crate::domain::metrics_access::Guard::Closed {
        tracing::info!("{}", metrics.describe(config.bind));
    }
    // What would not work in production, as `check-config` says it (the
    // webhook secret's is above, as an error).
    for (key, warning) in config.warnings() {
        if key != "webhook_secrets" {
            tracing::warn!("{warning}");
        }
    }
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}
