//! The raw record of gateway messages.

use crate::SqlStore;
use crate::error::store_error;
use crate::sql::{Dialect, Sql, args};
use async_trait::async_trait;
use flashgate_core::StoreError;
use flashgate_core::payment::PaymentEvent;
use flashgate_core::ports::PaymentLog;
use time::OffsetDateTime;

#[async_trait]
impl<D: Dialect> PaymentLog for SqlStore<D> {
    async fn record(&self, e: &PaymentEvent) -> Result<(), StoreError> {
        let mut conn = self.0.writer().await.map_err(store_error)?;
        conn.exec(
            "INSERT INTO payment_events (order_id, txn_ref, source, verified, raw, outcome, received_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
            args![
                e.order_id.map(|id| id.0),
                e.txn_ref.as_deref(),
                e.source,
                e.verified,
                e.raw.as_str(),
                e.outcome.as_str(),
                e.at,
            ],
        )
        .await
        .map_err(store_error)?;
        Ok(())
    }

    async fn prune_unverified_callbacks(
        &self,
        received_before: OffsetDateTime,
        limit: i64,
    ) -> Result<u64, StoreError> {
        let mut conn = self.0.writer().await.map_err(store_error)?;
        conn.exec(
            "DELETE FROM payment_events WHERE id IN ( \
             SELECT id FROM payment_events WHERE NOT verified AND source IN ('ipn', 'return') \
             AND received_at < $1 ORDER BY received_at LIMIT $2)",
            args![received_before, limit],
        )
        .await
        .map_err(store_error)
    }
}
