//! Values generated once per installation (the link-signing key).

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
}
