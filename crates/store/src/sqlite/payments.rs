//! The raw record of gateway messages, SQLite dialect.

use super::{SqliteStore, micros};
use crate::error::store_error;
use async_trait::async_trait;
use flashgate_core::StoreError;
use flashgate_core::payment::PaymentEvent;
use flashgate_core::ports::PaymentLog;

#[async_trait]
impl PaymentLog for SqliteStore {
    async fn record(&self, e: &PaymentEvent) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO payment_events (order_id, txn_ref, source, verified, raw, outcome, received_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )
        .bind(e.order_id.map(|id| id.0.to_string()))
        .bind(e.txn_ref.as_deref())
        .bind(e.source)
        .bind(e.verified)
        .bind(&e.raw)
        .bind(&e.outcome)
        .bind(micros(e.at))
        .execute(self.writer())
        .await
        .map_err(store_error)?;
        Ok(())
    }
}
