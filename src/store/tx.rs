//! A transaction on either backend. On SQLite it is a member of this
//! process's group commit (`group_commit`): it holds the write turn until it
//! commits, and its commit returns once the shared batch is on disk.

use sqlx::{Postgres, Transaction};

use super::Store;
use super::group_commit::Member;

pub enum Tx {
    Sqlite(Member),
    Postgres(Transaction<'static, Postgres>),
}

/// Runs `$body` with `$conn` bound to the transaction's connection.
macro_rules! with_tx {
    ($tx:expr, $conn:ident => $body:expr) => {
        match $tx {
            $crate::store::Tx::Sqlite(member) => {
                let $conn: &mut sqlx::SqliteConnection = member.conn();
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
            Self::Sqlite(pool, side) => Tx::Sqlite(side.turn.join(pool).await?),
            Self::Postgres(pool) => Tx::Postgres(pool.begin().await?),
        })
    }
}

impl Tx {
    pub async fn commit(self) -> anyhow::Result<()> {
        match self {
            Self::Sqlite(member) => member.commit().await?,
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
