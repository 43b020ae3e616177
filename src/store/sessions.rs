//! Dashboard sessions (`admin_sessions`): created at sign-in, looked up on
//! every dashboard request, revoked at sign-out.

use super::{Store, with_pool};

impl Store {
    /// Stores a new session; drops sessions that ended long ago meanwhile.
    pub async fn create_session(
        &self,
        id_hash: &str,
        token_mark: &str,
        now_secs: i64,
        expires_secs: i64,
    ) -> anyhow::Result<()> {
        let _turn = self.write_turn().await;
        with_pool!(self, pool => {
            sqlx::query("DELETE FROM admin_sessions WHERE expires_at < $1")
                .bind(now_secs - 86_400)
                .execute(pool)
                .await?;
            sqlx::query(
                "INSERT INTO admin_sessions (id_hash, token_mark, created_at, expires_at) \
                 VALUES ($1, $2, $3, $4)",
            )
            .bind(id_hash)
            .bind(token_mark)
            .bind(now_secs)
            .bind(expires_secs)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// Whether the session holds at `now_secs` under the token `token_mark`.
    pub async fn session_holds(
        &self,
        id_hash: &str,
        token_mark: &str,
        now_secs: i64,
    ) -> anyhow::Result<bool> {
        let found = with_pool!(self, pool => {
            sqlx::query_scalar::<_, i64>(
                "SELECT expires_at FROM admin_sessions WHERE id_hash = $1 AND token_mark = $2 \
                 AND expires_at > $3 AND revoked_at IS NULL",
            )
            .bind(id_hash)
            .bind(token_mark)
            .bind(now_secs)
            .fetch_optional(pool)
            .await?
        });
        Ok(found.is_some())
    }

    /// Ends a session (sign-out); unknown ids change nothing.
    pub async fn revoke_session(&self, id_hash: &str, now_secs: i64) -> anyhow::Result<()> {
        let _turn = self.write_turn().await;
        with_pool!(self, pool => {
            sqlx::query(
                "UPDATE admin_sessions SET revoked_at = $2 WHERE id_hash = $1 AND revoked_at IS NULL",
            )
            .bind(id_hash)
            .bind(now_secs)
            .execute(pool)
            .await?;
        });
        Ok(())
    }
}
