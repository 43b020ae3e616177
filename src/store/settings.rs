//! Values kept once per installation: the link-signing key, the install
//! id, the simulated clock's timeline.

use super::{Store, with_pool};

impl Store {
    /// Returns the stored value for `key`, storing `make()` first if absent.
    /// Concurrent first starts agree: the first insert wins, all read it back.
    pub async fn setting_or_insert(
        &self,
        key: &str,
        make: impl FnOnce() -> String,
    ) -> anyhow::Result<String> {
        let fresh = make();
        let _turn = self.write_turn().await;
        let value = with_pool!(self, pool => {
            sqlx::query("INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING")
                .bind(key)
                .bind(&fresh)
                .execute(pool)
                .await?;
            sqlx::query_scalar::<_, String>("SELECT value FROM settings WHERE key = $1")
                .bind(key)
                .fetch_one(pool)
                .await?
        });
        Ok(value)
    }

    /// The stored value for `key`, if any.
    pub async fn setting(&self, key: &str) -> anyhow::Result<Option<String>> {
        let value = with_pool!(self, pool => {
            sqlx::query_scalar::<_, String>("SELECT value FROM settings WHERE key = $1")
                .bind(key)
                .fetch_optional(pool)
                .await?
        });
        Ok(value)
    }

    /// Stores `value` for `key`, replacing what was there.
    pub async fn set_setting(&self, key: &str, value: &str) -> anyhow::Result<()> {
        let _turn = self.write_turn().await;
        with_pool!(self, pool => {
            sqlx::query(
                "INSERT INTO settings (key, value) VALUES ($1, $2) \
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            )
            .bind(key)
            .bind(value)
            .execute(pool)
            .await?;
        });
        Ok(())
    }
}
