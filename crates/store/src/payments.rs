//! The raw record of gateway messages.

use crate::SqlStore;
use crate::error::store_error;
use crate::sql::{Dialect, Sql, args};
use async_trait::async_trait;
use flashgate_core::StoreError;
use flashgate_core::payment::PaymentEvent;
use flashgate_core::ports::PaymentLog;
use time::OffsetDateTime;

/// What makes a verified callback the same message as one already on record for its order: the
/// SHA-256 of its raw query. Only verified callbacks (IPN, Return) about an order get one: a replay of
/// a genuine one (anyone who saw the URL can send it again and again) is counted on the first row
/// (`repeats`) instead of adding one each time; unverified messages are pruned after their retention,
/// and the gateway's own answers are not replayable from outside.
fn replay_key(e: &PaymentEvent) -> Option<String> {
    use sha2::Digest;
    (e.verified && e.order_id.is_some() && matches!(e.source, "ipn" | "return"))
        .then(|| hex::encode(sha2::Sha256::digest(e.raw.as_bytes())))
}

#[async_trait]
impl<D: Dialect> PaymentLog for SqlStore<D> {
    async fn record(&self, e: &PaymentEvent) -> Result<(), StoreError> {
        let key = replay_key(e);
        let mut conn = self.0.writer().await.map_err(store_error)?;
        conn.exec(
            "INSERT INTO payment_events (order_id, txn_ref, source, verified, raw, outcome, received_at, raw_sha256) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT (order_id, source, raw_sha256) WHERE raw_sha256 IS NOT NULL \
             DO UPDATE SET repeats = payment_events.repeats + 1",
            args![
                e.order_id.map(|id| id.0),
                e.txn_ref.as_deref(),
                e.source,
                e.verified,
                e.raw.as_str(),
                e.outcome.as_str(),
                e.at,
                key.as_deref(),
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
