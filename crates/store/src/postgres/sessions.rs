//! Buyers' sessions, PostgreSQL dialect.

use super::PgStore;
use crate::error::store_error;
use async_trait::async_trait;
use flashgate_core::StoreError;
use flashgate_core::session::{SessionKey, SessionStore, StoredSession};
use time::OffsetDateTime;

#[async_trait]
impl SessionStore for PgStore {
    async fn insert(
        &self,
        key: &SessionKey,
        session: &StoredSession,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool().begin().await.map_err(store_error)?;
        sqlx::query("DELETE FROM sessions WHERE idle_expires_at <= $1")
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(store_error)?;
        sqlx::query(
            "INSERT INTO sessions (key, customer_id, created_at, idle_expires_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(key.as_str())
        .bind(session.customer.as_str())
        .bind(now)
        .bind(session.idle_expires_at)
        .bind(session.expires_at)
        .execute(&mut *tx)
        .await
        .map_err(store_error)?;
        tx.commit().await.map_err(store_error)
    }

    async fn get(&self, key: &SessionKey) -> Result<Option<StoredSession>, StoreError> {
        let row: Option<(String, OffsetDateTime, OffsetDateTime)> = sqlx::query_as(
            "SELECT customer_id, idle_expires_at, expires_at FROM sessions WHERE key = $1",
        )
        .bind(key.as_str())
        .fetch_optional(self.pool())
        .await
        .map_err(store_error)?;
        row.map(|(customer, idle, end)| StoredSession::from_stored(&customer, idle, end))
            .transpose()
    }

    async fn extend(
        &self,
        key: &SessionKey,
        idle_expires_at: OffsetDateTime,
        _now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        // GREATEST: two requests sliding at once must not move the expiry back.
        sqlx::query(
            "UPDATE sessions SET idle_expires_at = GREATEST(idle_expires_at, LEAST($2, expires_at)) \
             WHERE key = $1",
        )
        .bind(key.as_str())
        .bind(idle_expires_at)
        .execute(self.pool())
        .await
        .map_err(store_error)?;
        Ok(())
    }

    async fn revoke(&self, key: &SessionKey) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM sessions WHERE key = $1")
            .bind(key.as_str())
            .execute(self.pool())
            .await
            .map_err(store_error)?;
        Ok(done.rows_affected() > 0)
    }
}
