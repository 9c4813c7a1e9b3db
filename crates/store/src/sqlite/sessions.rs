//! Buyers' sessions, SQLite dialect: lookups go to the readers, so a forged id never queues for the
//! single writer.

use super::{SqliteStore, from_micros, micros};
use crate::error::store_error;
use async_trait::async_trait;
use flashgate_core::StoreError;
use flashgate_core::session::{SessionKey, SessionStore, StoredSession};
use time::OffsetDateTime;

#[async_trait]
impl SessionStore for SqliteStore {
    async fn insert(
        &self,
        key: &SessionKey,
        session: &StoredSession,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let mut tx = self
            .writer()
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(store_error)?;
        sqlx::query("DELETE FROM sessions WHERE idle_expires_at <= ?1")
            .bind(micros(now))
            .execute(&mut *tx)
            .await
            .map_err(store_error)?;
        sqlx::query(
            "INSERT INTO sessions (key, customer_id, created_at, idle_expires_at, expires_at) \
             VALUES (?1, ?2, ?3, ?4, ?5)",
        )
        .bind(key.as_str())
        .bind(session.customer.as_str())
        .bind(micros(now))
        .bind(micros(session.idle_expires_at))
        .bind(micros(session.expires_at))
        .execute(&mut *tx)
        .await
        .map_err(store_error)?;
        tx.commit().await.map_err(store_error)
    }

    async fn get(&self, key: &SessionKey) -> Result<Option<StoredSession>, StoreError> {
        let row: Option<(String, i64, i64)> = sqlx::query_as(
            "SELECT customer_id, idle_expires_at, expires_at FROM sessions WHERE key = ?1",
        )
        .bind(key.as_str())
        .fetch_optional(self.reader())
        .await
        .map_err(store_error)?;
        row.map(|(customer, idle, end)| {
            StoredSession::from_stored(&customer, from_micros(idle)?, from_micros(end)?)
        })
        .transpose()
    }

    async fn extend(
        &self,
        key: &SessionKey,
        idle_expires_at: OffsetDateTime,
        _now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        // MAX: two requests sliding at once must not move the expiry back.
        sqlx::query(
            "UPDATE sessions SET idle_expires_at = MAX(idle_expires_at, MIN(?2, expires_at)) \
             WHERE key = ?1",
        )
        .bind(key.as_str())
        .bind(micros(idle_expires_at))
        .execute(self.writer())
        .await
        .map_err(store_error)?;
        Ok(())
    }

    async fn revoke(&self, key: &SessionKey) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM sessions WHERE key = ?1")
            .bind(key.as_str())
            .execute(self.writer())
            .await
            .map_err(store_error)?;
        Ok(done.rows_affected() > 0)
    }
}
