//! A transaction on either backend. On SQLite it also holds this process's
//! write turn, so a long engine transaction never meets SQLITE_BUSY from the
//! intake's writer.

use sqlx::{Postgres, Sqlite, Transaction};
use tokio::sync::OwnedMutexGuard;

use super::Store;

pub enum Tx {
    Sqlite(Transaction<'static, Sqlite>, OwnedMutexGuard<()>),
    Postgres(Transaction<'static, Postgres>),
}

/// Runs `$body` with `$conn` bound to the transaction's connection.
macro_rules! with_tx {
    ($tx:expr, $conn:ident => $body:expr) => {
        match $tx {
            $crate::store::Tx::Sqlite(t, _) => {
                let $conn: &mut sqlx::SqliteConnection = &mut *t;
                $body
            }
            $crate::store::Tx::Postgres(t) => {
                let $conn: &mut sqlx::PgConnection = &mut *t;
                $body
            }
        }
    };
}
pub(crate) use with_tx;

impl Store {
    pub async fn begin(&self) -> anyhow::Result<Tx> {
        Ok(match self {
            Self::Sqlite(pool, side) => {
                let guard = side.turn.take_owned().await;
                // IMMEDIATE: take the write lock now rather than fail to
                // upgrade a read transaction later.
                let tx = pool.begin_with("BEGIN IMMEDIATE").await?;
                Tx::Sqlite(tx, guard)
            }
            Self::Postgres(pool) => Tx::Postgres(pool.begin().await?),
        })
    }
}

impl Tx {
    pub async fn commit(self) -> anyhow::Result<()> {
        match self {
            Self::Sqlite(tx, _guard) => tx.commit().await?,
            Self::Postgres(tx) => tx.commit().await?,
        }
        Ok(())
    }

    /// A row lock where the backend has them (SQLite's transaction already
    /// holds the one write lock). `NO KEY UPDATE`: rows inserted elsewhere
    /// that reference the locked one (timeline lines, emails) do not wait
    /// for it, so they cannot deadlock with it.
    pub(crate) fn lock_clause(&self) -> &'static str {
        match self {
            Self::Sqlite(..) => "",
            Self::Postgres(_) => " FOR NO KEY UPDATE",
        }
    }
}
