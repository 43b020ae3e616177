//! `spawn_app()` and friends: the real application on port 0 with a fresh
//! database per test, SQLite always, PostgreSQL when
//! `DUNWELL_TEST_POSTGRES_URL` names a server we may create databases on.

use std::path::{Path, PathBuf};
use std::time::Duration;

use dunwell::clock::Clock;
use dunwell::config::Config;
use dunwell::engine::Engine;
use dunwell::startup::{Application, Options, Role};
use dunwell::store::Store;
use dunwell::store::cases::CaseRow;
use dunwell::trigger::Scenario;
use dunwell::webhooks::signature;
use reqwest::Url;
use secrecy::SecretString;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub const SECRET: &str = "whsec_test_0123456789abcdef";
pub const OLD_SECRET: &str = "whsec_old_fedcba9876543210";

/// Where every test app's engine clock starts (a Tuesday, mid-month, well
/// away from the year's end): what the engine plans depends on the
/// calendar, so no test depends on the day it runs. Tests about other
/// dates say so (`pinned_clock_at`, `clock_start`).
pub const PINNED: &str = "2026-11-10T15:00:00Z";

/// `PINNED` as a time.
pub fn pinned() -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339(PINNED)
        .expect("PINNED is RFC 3339")
        .to_utc()
}

/// An engine clock at real speed that reads `PINNED` now.
pub fn pinned_clock() -> Clock {
    pinned_clock_at(pinned())
}

/// An engine clock at real speed that reads `start` now.
pub fn pinned_clock_at(start: chrono::DateTime<chrono::Utc>) -> Clock {
    Clock::anchored(1.0, dunwell::clock::unix_millis(), start.timestamp_millis())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A database of its own for one test; PostgreSQL ones are dropped after.
pub struct TestDb {
    pub url: String,
    _dir: Option<tempfile::TempDir>,
    postgres: Option<(String, String)>,
}

impl TestDb {
    /// `None` (after saying so) when the backend is not available here.
    pub async fn new(backend: Backend) -> Option<Self> {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!("sqlite://{}", dir.path().join("dunwell.db").display());
                Some(Self {
                    url,
                    _dir: Some(dir),
                    postgres: None,
                })
            }
            Backend::Postgres => {
                let admin = std::env::var("DUNWELL_TEST_POSTGRES_URL").ok();
                let Some(admin) = admin.filter(|url| !url.is_empty()) else {
                    assert!(
                        std::env::var("CI").is_err(),
                        "DUNWELL_TEST_POSTGRES_URL must be set in CI: PostgreSQL tests may not be skipped there"
                    );
                    eprintln!("SKIPPED: PostgreSQL test (set DUNWELL_TEST_POSTGRES_URL to run it)");
                    return None;
                };
                let name = format!(
                    "dunwell_test_{}",
                    dunwell::random::base62(12).to_lowercase()
                );
                let pool = sqlx::PgPool::connect(&admin)
                    .await
                    .expect("connect to DUNWELL_TEST_POSTGRES_URL");
                // `name` is ours: lower-case letters and digits only.
                sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .execute(&pool)
                    .await
                    .expect("create test database");
                pool.close().await;
                let mut url = Url::parse(&admin).expect("DUNWELL_TEST_POSTGRES_URL is a URL");
                url.set_path(&name);
                Some(Self {
                    url: url.to_string(),
                    _dir: None,
                    postgres: Some((admin, name)),
                })
            }
        }
    }

    pub fn sqlite_path(&self) -> Option<PathBuf> {
        self._dir.as_ref().map(|d| d.path().join("dunwell.db"))
    }

    pub async fn store(&self) -> Store {
        Store::connect(&self.url).await.expect("connect test store")
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some((admin, name)) = self.postgres.take() {
            // Drop runs outside async; a short-lived runtime on its own thread does the work.
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()?;
                rt.block_on(async {
                    if let Ok(pool) = sqlx::PgPool::connect(&admin).await {
                        let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                            "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                        )))
                        .execute(&pool)
                        .await;
                        pool.close().await;
                    }
                });
                Ok::<_, std::io::Error>(())
            })
            .join();
        }
    }
}

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub db: TestDb,
    pub store: Store,
    pub engine: Engine,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<anyhow::Result<()>>>,
}

/// The configuration tests start from: port 0, the test secret, `db`.
pub fn test_config<'a>(db: &'a TestDb, extra: &[(&'a str, &'a str)]) -> Config {
    let mut pairs = vec![
        ("bind", "127.0.0.1:0"),
        ("database_url", db.url.as_str()),
        ("webhook_secrets", SECRET),
        // Tests run at any hour: quiet hours and the gap between reminders
        // are switched on only by the tests about them.
        ("policy.quiet_hours", "off"),
        ("policy.min_hours_between_emails", "0"),
        // Tests walk the pages far faster than a customer; the rate limit's
        // own test switches it on.
        ("page_requests_per_minute", "0"),
        // The stand-in processor has no rate limit; the pacing's own tests
        // (stripe_client) set theirs.
        ("stripe_max_rps", "1000"),
        // The engine's calendar starts at a fixed instant.
        ("clock_start", PINNED),
    ];
    pairs.extend_from_slice(extra);
    Config::from_pairs(pairs).expect("valid test config")
}

pub async fn spawn_app(backend: Backend) -> Option<TestApp> {
    spawn_app_with(backend, &[]).await
}

pub async fn spawn_app_with(backend: Backend, extra: &[(&str, &str)]) -> Option<TestApp> {
    let db = TestDb::new(backend).await?;
    Some(spawn_on(db, extra).await)
}

/// Starts the real application (web and workers) on `db`.
pub async fn spawn_on(db: TestDb, extra: &[(&str, &str)]) -> TestApp {
    spawn_role(db, extra, Role::Serve).await
}

/// Starts the application in one role on `db` (`Role::Web`: nothing
/// processes the stored events, so a test can drive the queue itself).
pub async fn spawn_role(db: TestDb, extra: &[(&str, &str)], role: Role) -> TestApp {
    spawn_with_options(db, extra, role, Options::default()).await
}

/// Starts web + event processing with a clock the test moves by hand and
/// no job workers: the test runs due jobs itself (`run_due_jobs`).
pub async fn spawn_manual(backend: Backend, extra: &[(&str, &str)]) -> Option<TestApp> {
    let db = TestDb::new(backend).await?;
    let options = Options {
        clock: Some(pinned_clock()),
        job_workers: false,
    };
    Some(spawn_with_options(db, extra, Role::Serve, options).await)
}

pub async fn spawn_with_options(
    db: TestDb,
    extra: &[(&str, &str)],
    role: Role,
    options: Options,
) -> TestApp {
    let config = test_config(&db, extra);
    spawn_config(db, config, role, options).await
}

/// Starts the application on `db` with a configuration built by the test.
pub async fn spawn_config(db: TestDb, config: Config, role: Role, options: Options) -> TestApp {
    dunwell::telemetry::init_for_tests();
    let app = Application::build_with(config, role, options)
        .await
        .expect("build app");
    let port = app.port();
    let store = app.store().clone();
    let engine = app.engine().clone();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(app.run(async {
        let _ = stopped.await;
    }));
    TestApp {
        address: format!("http://127.0.0.1:{port}"),
        client: reqwest::Client::new(),
        db,
        store,
        engine,
        stop: Some(stop),
        task: Some(task),
    }
}

impl TestApp {
    /// Runs `sql` on the app's database over a connection of its own, as
    /// someone at a SQL prompt would.
    pub async fn raw_sql(&self, sql: String) -> Result<(), sqlx::Error> {
        if self.db.url.starts_with("postgres") {
            let pool = sqlx::PgPool::connect(&self.db.url).await.unwrap();
            let r = sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&pool).await;
            pool.close().await;
            r.map(|_| ())
        } else {
            let pool = sqlx::SqlitePool::connect(&self.db.url).await.unwrap();
            let r = sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&pool).await;
            pool.close().await;
            r.map(|_| ())
        }
    }

    /// Graceful stop; gives back the database for a restart.
    pub async fn shutdown(mut self) -> TestDb {
        // Idle keep-alive connections would hold a graceful stop for seconds.
        self.client = reqwest::Client::new();
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.expect("app task").expect("app ran cleanly");
        }
        self.db
    }

    pub async fn post_raw(
        &self,
        body: impl Into<reqwest::Body>,
        headers: &[(&str, &str)],
    ) -> reqwest::Response {
        let mut request = self
            .client
            .post(format!("{}/webhooks/stripe", self.address));
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        request.body(body).send().await.expect("request sent")
    }

    /// Posts JSON `body` with the given `Stripe-Signature` value.
    pub async fn post_signed(
        &self,
        body: impl Into<reqwest::Body>,
        signature: &str,
    ) -> reqwest::Response {
        self.post_raw(
            body,
            &[
                ("content-type", "application/json"),
                ("stripe-signature", signature),
            ],
        )
        .await
    }

    /// Posts `body` signed now with the test secret.
    pub async fn post_event(&self, body: &[u8]) -> reqwest::Response {
        let header = sign_webhook(body, SECRET, now());
        self.post_signed(body.to_vec(), &header).await
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.address))
            .send()
            .await
            .expect("request sent")
    }

    /// Builds `event_type` for `scenario` (as `dunwell trigger` does), posts
    /// it signed and waits until it is processed.
    pub async fn send(&self, event_type: &str, scenario: &Scenario) {
        let event = dunwell::trigger::builder::build(event_type, scenario).expect("event builds");
        let body = serde_json::to_vec(&event).expect("json");
        let response = self.post_event(&body).await;
        assert_eq!(response.status(), 200, "{event_type} accepted");
        self.wait_processed().await;
    }

    /// Moves the engine's clock forward.
    pub fn advance(&self, by: chrono::Duration) {
        self.engine.clock.advance(by);
    }

    /// Runs every job due now, as the workers would.
    pub async fn run_due_jobs(&self) -> usize {
        dunwell::jobs::run_due(&self.engine)
            .await
            .expect("due jobs run")
    }

    /// Advances `days` days in `step_hours` steps, running due jobs after each.
    pub async fn live_through(&self, days: i64, step_hours: i64) {
        let steps = days * 24 / step_hours;
        for _ in 0..steps {
            self.advance(chrono::Duration::hours(step_hours));
            self.run_due_jobs().await;
        }
    }

    pub async fn case(&self, invoice: &str) -> CaseRow {
        self.store
            .case_by_invoice(invoice)
            .await
            .expect("read case")
            .expect("case exists")
    }

    pub async fn event_count(&self) -> i64 {
        self.store.count_events().await.expect("count events")
    }

    /// Waits until the event processor has finished every stored event:
    /// fails when it makes no progress for 5 s (a loaded machine only slows
    /// it down; a stuck processor stops it).
    pub async fn wait_processed(&self) {
        let mut left = i64::MAX;
        let mut since_progress = std::time::Instant::now();
        loop {
            let pending = self.store.count_pending_events().await.expect("count");
            if pending == 0 {
                return;
            }
            if pending < left {
                left = pending;
                since_progress = std::time::Instant::now();
            }
            assert!(
                since_progress.elapsed() < Duration::from_secs(5),
                "{pending} events were left unprocessed for 5 s"
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

/// Claims case work `id` as a job runner would at real time `at` (ms),
/// due whatever the engine's clock says, leased for a minute.
pub async fn claim_work_by_id(
    store: &Store,
    id: i64,
    at: i64,
) -> Vec<dunwell::store::work::WorkRow> {
    use dunwell::store::work::{self, Claim};
    let claim = Claim {
        id: Some(id),
        sim_now_ms: i64::MAX / 4,
        real_now_ms: at,
        lease_until_ms: at + 60_000,
        limit: 1,
    };
    let mut tx = store.begin().await.unwrap();
    let rows = work::claim_work(&mut tx, &claim).await.unwrap();
    tx.commit().await.unwrap();
    rows
}

pub fn now() -> i64 {
    dunwell::clock::unix_secs()
}

/// The `Stripe-Signature` value the processor would send.
pub fn sign_webhook(body: &[u8], secret: &str, timestamp: i64) -> String {
    signature::sign(&SecretString::from(secret.to_owned()), timestamp, body)
}

pub fn fixtures_dir() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures"))
}

/// Every fixture as (shape/file name, bytes).
pub fn fixtures() -> Vec<(String, Vec<u8>)> {
    let mut all = Vec::new();
    for shape in ["basil", "legacy"] {
        let dir = fixtures_dir().join(shape);
        let mut names: Vec<_> = std::fs::read_dir(&dir)
            .expect("fixture dir")
            .map(|e| e.expect("entry").path())
            .collect();
        names.sort();
        for path in names {
            let name = format!("{shape}/{}", path.file_name().unwrap().to_string_lossy());
            all.push((name, std::fs::read(&path).expect("read fixture")));
        }
    }
    all
}

pub fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(fixtures_dir().join(name)).unwrap_or_else(|e| panic!("fixture {name}: {e}"))
}

/// A realistic event of `event_type` with the given id (the trigger's
/// builder), or a minimal one for types dunwell does not act on.
pub fn event_body(id: &str, event_type: &str) -> Vec<u8> {
    use dunwell::trigger::builder::{self, Scenario};
    let scenario = Scenario {
        invoice: format!("in_{}", id.trim_start_matches("evt_")),
        ..Scenario::example(id, now())
    };
    let event = builder::build(event_type, &scenario).unwrap_or_else(|_| {
        serde_json::json!({
            "id": id, "object": "event", "api_version": builder::BASIL_API_VERSION,
            "created": now(), "livemode": false, "type": event_type,
            "data": {"object": {"id": "obj_1", "object": "thing"}},
        })
    });
    serde_json::to_vec(&event).unwrap()
}

/// Runs an async test body on each backend: `backend_tests!(name);` expects
/// `async fn name(backend: Backend)` in scope and makes `name::sqlite` and
/// `name::postgres`.
#[macro_export]
macro_rules! backend_tests {
    ($($name:ident),+ $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$name($crate::helpers::Backend::Sqlite).await;
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    super::$name($crate::helpers::Backend::Postgres).await;
                }
            }
        )+
    };
}

/// A client that shows redirects instead of following them.
pub fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// A port nothing listens on now, so a test can name the address a server
/// will have (in the links it writes) before starting it.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
