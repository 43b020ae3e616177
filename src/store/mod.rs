//! All SQL lives here. One `Store` over either backend; the same statements
//! run on both (SQLite accepts `$N` placeholders), and `with_pool!` compiles a
//! body once per backend so no query is written twice.

pub mod attention;
pub mod card_visits;
pub mod cases;
pub mod customers;
pub mod events;
pub mod group_commit;
pub mod intake_log;
pub mod mail;
pub mod notices;
pub mod offers;
pub mod outgoing;
pub mod pace;
pub mod payload;
pub mod policies;
mod private_file;
pub mod reports;
pub mod sessions;
pub mod settings;
pub mod sqlite_writer;
pub mod tx;
pub mod work;

pub use group_commit::WriteTurn;
pub use tx::Tx;
pub(crate) use tx::with_tx;

use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, SqlitePool};

use crate::config::is_postgres_url;
use intake_log::IntakeLog;

/// Runs `$body` with `$pool` bound to the concrete pool of either backend.
macro_rules! with_pool {
    ($store:expr, $pool:ident => $body:expr) => {
        match $store {
            $crate::store::Store::Sqlite($pool, _) => $body,
            $crate::store::Store::Postgres($pool) => $body,
        }
    };
}
pub(crate) use with_pool;

#[derive(Clone, Debug)]
pub enum Store {
    Sqlite(SqlitePool, SqliteSide),
    Postgres(PgPool),
}

/// What a SQLite store has besides its pool: this process's write turn and
/// the intake log beside the database (`intake_log`).
#[derive(Clone, Debug)]
pub struct SqliteSide {
    pub turn: WriteTurn,
    pub log: IntakeLog,
}

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

impl Store {
    /// Opens a pool; SQLite files are created when missing and run in WAL
    /// mode with full fsync, so a committed event survives a power cut too.
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        if is_postgres_url(url) {
            let options = PgConnectOptions::from_str(url).context("parsing the PostgreSQL URL")?;
            let pool = PgPoolOptions::new()
                .max_connections(16)
                .acquire_timeout(Duration::from_secs(10))
                .connect_with(options)
                .await
                .context("connecting to PostgreSQL")?;
            Ok(Self::Postgres(pool))
        } else {
            let options = sqlite_options(url)?;
            // (An in-memory database has no file; the configuration refuses
            // one, but tools and tests may open one.)
            if !url.contains(":memory:") && !url.contains("mode=memory") {
                private_file::create_private(options.get_filename())?;
            }
            let pool = SqlitePoolOptions::new()
                .max_connections(8)
                .min_connections(1)
                .acquire_timeout(Duration::from_secs(10))
                .connect_with(options.clone())
                .await
                .with_context(|| {
                    format!(
                        "opening the SQLite database {}",
                        crate::config::redact_url(url)
                    )
                })?;
            let log = IntakeLog::open(&options).await?;
            Ok(Self::Sqlite(
                pool,
                SqliteSide {
                    turn: WriteTurn::default(),
                    log,
                },
            ))
        }
    }

    /// Whether connecting to `url` would create a database: a SQLite file
    /// that is not there (or in memory). PostgreSQL databases are never
    /// created by connecting.
    pub fn would_create(url: &str) -> bool {
        if is_postgres_url(url) {
            return false;
        }
        SqliteConnectOptions::from_str(url).map_or(true, |options| !options.get_filename().exists())
    }

    /// Applies dunwell's migrations.
    pub async fn migrate(&self) -> anyhow::Result<()> {
        match self {
            Self::Sqlite(pool, _) => SQLITE_MIGRATIONS
                .run(pool)
                .await
                .context("applying SQLite migrations")?,
            Self::Postgres(pool) => POSTGRES_MIGRATIONS
                .run(pool)
                .await
                .context("applying PostgreSQL migrations")?,
        }
        Ok(())
    }

    /// Readiness: one round trip to the database.
    pub async fn ping(&self) -> anyhow::Result<()> {
        with_pool!(self, pool => {
            sqlx::query("SELECT 1").execute(pool).await?;
        });
        Ok(())
    }

    pub async fn close(&self) {
        if let Self::Sqlite(_, side) = self {
            side.turn.close().await;
            side.log.close().await;
        }
        with_pool!(self, pool => pool.close().await)
    }

    /// Copies committed WAL frames into the SQLite database file without
    /// blocking writers (connections have automatic checkpoints off, so no
    /// request pays for one). A no-op on PostgreSQL.
    pub async fn checkpoint(&self) -> anyhow::Result<()> {
        if let Self::Sqlite(pool, _) = self {
            sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
                .execute(pool)
                .await?;
        }
        Ok(())
    }

    /// A checkpoint that catches up with the WAL's end: no writer of this
    /// process runs meanwhile, so the next write can start the WAL over.
    pub async fn checkpoint_all(&self) -> anyhow::Result<()> {
        let _turn = self.write_turn().await;
        self.checkpoint().await
    }

    /// The intake log's checkpoint (SQLite; see `intake_log`).
    pub async fn checkpoint_intake_log(&self) -> anyhow::Result<()> {
        if let Self::Sqlite(_, side) = self {
            side.log.checkpoint().await?;
        }
        Ok(())
    }

    /// Waits for this process's turn to write (SQLite); `None` on PostgreSQL,
    /// whose row locks need no such thing.
    pub(crate) async fn write_turn(&self) -> Option<group_commit::TurnGuard<'_>> {
        match self {
            Self::Sqlite(_, side) => Some(side.turn.take().await),
            Self::Postgres(_) => None,
        }
    }

    pub fn backend(&self) -> &'static str {
        match self {
            Self::Sqlite(..) => "sqlite",
            Self::Postgres(_) => "postgres",
        }
    }
}

/// The WAL a checkpoint leaves behind is truncated to this (bytes).
pub(crate) const WAL_SIZE_LIMIT: i64 = 64 * 1024 * 1024;

fn sqlite_options(url: &str) -> anyhow::Result<SqliteConnectOptions> {
    Ok(SqliteConnectOptions::from_str(url)
        .with_context(|| format!("parsing the SQLite URL {}", crate::config::redact_url(url)))?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .busy_timeout(Duration::from_secs(10))
        .foreign_keys(true)
        .pragma("wal_autocheckpoint", "0")
        // Every connection bounds the WAL it leaves behind, not only the
        // intake writer's: a reset WAL is truncated back to this size.
        .pragma("journal_size_limit", WAL_SIZE_LIMIT.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn only_a_missing_sqlite_file_would_be_created() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("here.db");
        let url = format!("sqlite://{}", path.display());
        assert!(Store::would_create(&url));
        assert!(Store::would_create(&format!("{url}?mode=rwc")));
        assert!(Store::would_create("sqlite::memory:"));
        assert!(!Store::would_create("postgres://u@localhost/db"));
        Store::connect(&url).await.unwrap().close().await;
        assert!(!Store::would_create(&url));
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn new_sqlite_files_are_readable_by_their_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("p.db").display());
        let store = Store::connect(&url).await.unwrap();
        store.migrate().await.unwrap();
        store
            .setting_or_insert("probe", || "x".into())
            .await
            .unwrap();
        let mut seen = Vec::new();
        for entry in std::fs::read_dir(dir.path()).unwrap() {
            let entry = entry.unwrap();
            let mode = entry.metadata().unwrap().permissions().mode() & 0o777;
            seen.push(entry.file_name().to_string_lossy().into_owned());
            assert_eq!(mode, 0o600, "{:?}", entry.file_name());
        }
        store.close().await;
        // The database, the intake log, and their WAL files.
        assert!(seen.len() >= 4, "{seen:?}");
    }

    #[tokio::test]
    async fn every_sqlite_connection_bounds_the_wal() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("w.db").display());
        let store = Store::connect(&url).await.unwrap();
        let Store::Sqlite(pool, _) = &store else {
            unreachable!()
        };
        // More connections than the pool keeps warm: each one is set up alike.
        let mut held = Vec::new();
        for _ in 0..3 {
            let mut conn = pool.acquire().await.unwrap();
            let limit: i64 = sqlx::query_scalar("PRAGMA journal_size_limit")
                .fetch_one(&mut *conn)
                .await
                .unwrap();
            assert_eq!(limit, WAL_SIZE_LIMIT);
            held.push(conn);
        }
    }
}
