//! Buyers' sessions in the database, which holds every session (Redis, when used, keeps copies), and
//! the record of copies that may be stale. Lookups go to the readers, so on SQLite a forged id never
//! queues for the single writer.

use crate::SqlStore;
use crate::error::store_error;
use crate::rows::customer;
use crate::sql::{Dialect, Fields, Finish, Sql, Value, args};
use async_trait::async_trait;
use flashgate_core::StoreError;
use flashgate_core::session::{SessionKey, SessionStore, StaleSessionCopies, StoredSession};
use time::OffsetDateTime;

#[async_trait]
impl<D: Dialect> SessionStore for SqlStore<D> {
    async fn insert(
        &self,
        key: &SessionKey,
        session: &StoredSession,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let mut tx = self.0.begin().await.map_err(store_error)?;
        tx.exec(
            "DELETE FROM sessions WHERE idle_expires_at <= $1",
            args![now],
        )
        .await
        .map_err(store_error)?;
        tx.exec(
            "INSERT INTO sessions (key, customer_id, created_at, idle_expires_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5)",
            args![
                key.as_str(),
                session.customer.as_str(),
                now,
                session.idle_expires_at,
                session.expires_at,
            ],
        )
        .await
        .map_err(store_error)?;
        tx.commit().await.map_err(store_error)
    }

    async fn get(&self, key: &SessionKey) -> Result<Option<StoredSession>, StoreError> {
        let mut conn = self.0.reader().await.map_err(store_error)?;
        let row = conn
            .row(
                "SELECT customer_id, idle_expires_at, expires_at FROM sessions WHERE key = $1",
                args![key.as_str()],
            )
            .await
            .map_err(store_error)?;
        let session = |row: &<D::Conn as Sql>::Row| -> Result<StoredSession, sqlx::Error> {
            Ok(StoredSession {
                customer: customer(row, "customer_id")?,
                idle_expires_at: row.time("idle_expires_at")?,
                expires_at: row.time("expires_at")?,
            })
        };
        row.as_ref().map(session).transpose().map_err(store_error)
    }

    async fn extend(
        &self,
        key: &SessionKey,
        idle_expires_at: OffsetDateTime,
        _now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        // Never past the session's end, and only forward: two requests sliding at once must not
        // move the expiry back.
        let until = "CASE WHEN $2 < expires_at THEN $2 ELSE expires_at END";
        let sql = format!(
            "UPDATE sessions SET idle_expires_at = {until} WHERE key = $1 AND idle_expires_at < {until}"
        );
        let mut conn = self.0.writer().await.map_err(store_error)?;
        conn.exec(&sql, args![key.as_str(), idle_expires_at])
            .await
            .map_err(store_error)?;
        Ok(())
    }

    async fn revoke(&self, key: &SessionKey) -> Result<bool, StoreError> {
        let mut conn = self.0.writer().await.map_err(store_error)?;
        let done = conn
            .exec(DELETE_SESSION, args![key.as_str()])
            .await
            .map_err(store_error)?;
        Ok(done > 0)
    }
}

const DELETE_SESSION: &str = "DELETE FROM sessions WHERE key = $1";
const RECORD_STALE: &str =
    "INSERT INTO stale_session_copies (key) VALUES ($1) ON CONFLICT (key) DO NOTHING";

#[async_trait]
impl<D: Dialect> StaleSessionCopies for SqlStore<D> {
    async fn revoke_recorded(&self, key: &SessionKey) -> Result<bool, StoreError> {
        let mut tx = self.0.begin().await.map_err(store_error)?;
        let done = tx
            .exec(DELETE_SESSION, args![key.as_str()])
            .await
            .map_err(store_error)?;
        tx.exec(RECORD_STALE, args![key.as_str()])
            .await
            .map_err(store_error)?;
        tx.commit().await.map_err(store_error)?;
        Ok(done > 0)
    }

    async fn record_stale(&self, key: &SessionKey) -> Result<(), StoreError> {
        let mut conn = self.0.writer().await.map_err(store_error)?;
        conn.exec(RECORD_STALE, args![key.as_str()])
            .await
            .map_err(store_error)?;
        Ok(())
    }

    async fn stale(&self, limit: u32) -> Result<Vec<SessionKey>, StoreError> {
        let mut conn = self.0.reader().await.map_err(store_error)?;
        let rows = conn
            .rows(
                "SELECT key FROM stale_session_copies ORDER BY key LIMIT $1",
                args![i64::from(limit)],
            )
            .await
            .map_err(store_error)?;
        rows.iter()
            .map(|row| row.text("key").map(SessionKey::from_stored))
            .collect::<Result<_, _>>()
            .map_err(store_error)
    }

    async fn forget_stale(&self, keys: &[SessionKey]) -> Result<(), StoreError> {
        if keys.is_empty() {
            return Ok(());
        }
        let marks = (1..=keys.len())
            .map(|n| format!("${n}"))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!("DELETE FROM stale_session_copies WHERE key IN ({marks})");
        let values: Vec<Value<'_>> = keys.iter().map(|k| Value::from(k.as_str())).collect();
        let mut conn = self.0.writer().await.map_err(store_error)?;
        conn.exec(&sql, &values).await.map_err(store_error)?;
        Ok(())
    }
}
