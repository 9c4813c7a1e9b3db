//! Buyers' sessions, when they are kept in the database. Lookups go to the readers, so on SQLite a
//! forged id never queues for the single writer.

use crate::SqlStore;
use crate::error::store_error;
use crate::rows::customer;
use crate::sql::{Dialect, Fields, Finish, Sql, args};
use async_trait::async_trait;
use flashgate_core::StoreError;
use flashgate_core::session::{SessionKey, SessionStore, StoredSession};
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
            .exec("DELETE FROM sessions WHERE key = $1", args![key.as_str()])
            .await
            .map_err(store_error)?;
        Ok(done > 0)
    }
}
