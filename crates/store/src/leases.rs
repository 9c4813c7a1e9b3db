//! Short leases on orders for the workers: one claim helper for the three kinds of claim.

use crate::SqlStore;
use crate::error::store_error;
use crate::rows::{ORDER_COLUMNS, orders};
use crate::sql::{Dialect, Fields, Sql, Value, args};
use async_trait::async_trait;
use flashgate_core::ports::{Leases, PollClaim};
use flashgate_core::{Order, OrderId, StoreError};
use time::OffsetDateTime;

impl<D: Dialect> SqlStore<D> {
    /// Leases until `$2` up to `$3` orders that match `due` (which may use `$1`, now, `$4` and `$5`) and
    /// that no live lease covers, oldest by `oldest` first. On PostgreSQL, SKIP LOCKED lets instances
    /// claim disjoint batches without waiting on each other and the outer UPDATE re-checks the lease
    /// on the locked row, so two claims can never both win one order; on SQLite the one statement
    /// runs on the single writer, so the selection and the lease are atomic.
    async fn claim(
        &self,
        due: &str,
        oldest: &str,
        args: &[Value<'_>],
    ) -> Result<Vec<Order>, StoreError> {
        let free = "(lease_until IS NULL OR lease_until <= $1)";
        let sql = format!(
            "UPDATE orders SET lease_until = $2 WHERE id IN ( \
               SELECT id FROM orders WHERE {due} AND {free} ORDER BY {oldest} LIMIT $3{} \
             ) AND {free} RETURNING {ORDER_COLUMNS}",
            D::SKIP_LOCKED
        );
        let mut conn = self.0.writer().await.map_err(store_error)?;
        let rows = conn.rows(&sql, args).await.map_err(store_error)?;
        orders(&rows).map_err(store_error)
    }

    async fn write_lease(&self, sql: &str, args: &[Value<'_>]) -> Result<(), StoreError> {
        let mut conn = self.0.writer().await.map_err(store_error)?;
        conn.exec(sql, args).await.map_err(store_error)?;
        Ok(())
    }
}

/// What makes an order due for each claim: `$1` is now; `$4` the hold's end cut-off (expiry), or the
/// poll's creation cut-off with `$5` the start of the late-money window (poll).
const HOLD_ENDED: &str = "status = 'pending_payment' AND expires_at <= $4";
/// Pending orders old enough whose hold still runs (past its end, an order is the expirer's alone: two
/// workers asking about one order trip the gateway's per-order pace), orders under review (with their
/// units, or reviewed after their hold was released: money in doubt is asked about with no time
/// limit, until the gateway decides), and released holds within the late-money window.
const POLL_DUE: &str = "((status = 'pending_payment' AND created_at <= $4 AND expires_at > $1) \
     OR status IN ('payment_review', 'payment_review_released') \
     OR (status IN ('expired', 'payment_failed') AND expires_at >= $5)) \
     AND (next_poll_at IS NULL OR next_poll_at <= $1)";
/// Buyers waiting on a payment first, then orders under review, then the late-money polls of released
/// holds (each asked every poll interval for the whole window): oldest first within each, so a backlog
/// of released holds cannot starve a paid order whose IPN was lost until its hold ends.
const POLL_FIRST: &str = "CASE status WHEN 'pending_payment' THEN 0 WHEN 'payment_review' THEN 1 \
     WHEN 'payment_review_released' THEN 1 ELSE 2 END, created_at";
/// Refunds whose next attempt is due: a refused one waits out the pause the refunder set (before a
/// refusal, `next_poll_at` may still hold the reconciler's last schedule, which does not apply).
const REFUND_DUE: &str = "status = 'refund_pending' \
     AND (refund_refusals = 0 OR next_poll_at IS NULL OR next_poll_at <= $1)";

type Time = OffsetDateTime;
type Claimed = Result<Vec<Order>, StoreError>;

#[async_trait]
impl<D: Dialect> Leases for SqlStore<D> {
    async fn claim_expired(
        &self,
        now: Time,
        ended_before: Time,
        lease_until: Time,
        limit: i64,
    ) -> Claimed {
        let args = args![now, lease_until, limit, ended_before];
        self.claim(HOLD_ENDED, "expires_at", args).await
    }

    async fn claim_for_poll(&self, c: &PollClaim) -> Claimed {
        let args = args![
            c.now,
            c.lease_until,
            c.limit,
            c.created_before,
            c.late_since
        ];
        self.claim(POLL_DUE, POLL_FIRST, args).await
    }

    async fn claim_refunds(&self, now: Time, lease_until: Time, limit: i64) -> Claimed {
        self.claim(REFUND_DUE, "created_at", args![now, lease_until, limit])
            .await
    }

    async fn schedule_poll(&self, id: OrderId, next_poll_at: Time) -> Result<(), StoreError> {
        self.write_lease(
            "UPDATE orders SET next_poll_at = $2, lease_until = NULL WHERE id = $1",
            args![id.0, next_poll_at],
        )
        .await
    }

    async fn hold(&self, id: OrderId, until: Time) -> Result<(), StoreError> {
        self.write_lease(
            "UPDATE orders SET lease_until = $2 WHERE id = $1",
            args![id.0, until],
        )
        .await
    }

    async fn release(&self, id: OrderId) -> Result<(), StoreError> {
        self.write_lease(
            "UPDATE orders SET lease_until = NULL WHERE id = $1",
            args![id.0],
        )
        .await
    }

    async fn count_refund_refusal(&self, id: OrderId) -> Result<u32, StoreError> {
        let mut conn = self.0.writer().await.map_err(store_error)?;
        let row = conn
            .row(
                "UPDATE orders SET refund_refusals = refund_refusals + 1 WHERE id = $1 \
                 RETURNING refund_refusals",
                args![id.0],
            )
            .await
            .map_err(store_error)?
            .ok_or_else(|| StoreError::internal(format!("order {id} is gone")))?;
        let count = row.int("refund_refusals").map_err(store_error)?;
        u32::try_from(count).map_err(|e| StoreError::internal(format!("refund_refusals: {e}")))
    }
}
