//! Reading orders and leasing them to workers, PostgreSQL dialect.

use super::{ORDER_COLUMNS, OrderRow, PgStore};
use crate::error::store_error;
use async_trait::async_trait;
use flashgate_core::ports::{Leases, OrderQueries};
use flashgate_core::{CustomerId, Order, OrderId, StoreError};
use time::OffsetDateTime;

#[async_trait]
impl OrderQueries for PgStore {
    async fn get_for(
        &self,
        customer: &CustomerId,
        id: OrderId,
    ) -> Result<Option<Order>, StoreError> {
        let row: Option<OrderRow> = sqlx::query_as(&format!(
            "SELECT {ORDER_COLUMNS} FROM orders WHERE id = $1 AND customer_id = $2"
        ))
        .bind(id.0)
        .bind(customer.as_str())
        .fetch_optional(self.pool())
        .await
        .map_err(store_error)?;
        row.map(Order::try_from).transpose()
    }

    async fn list_for(&self, customer: &CustomerId, limit: i64) -> Result<Vec<Order>, StoreError> {
        let rows: Vec<OrderRow> = sqlx::query_as(&format!(
            "SELECT {ORDER_COLUMNS} FROM orders WHERE customer_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2"
        ))
        .bind(customer.as_str())
        .bind(limit)
        .fetch_all(self.pool())
        .await
        .map_err(store_error)?;
        rows.into_iter().map(Order::try_from).collect()
    }

    async fn get(&self, id: OrderId) -> Result<Option<Order>, StoreError> {
        let row: Option<OrderRow> =
            sqlx::query_as(&format!("SELECT {ORDER_COLUMNS} FROM orders WHERE id = $1"))
                .bind(id.0)
                .fetch_optional(self.pool())
                .await
                .map_err(store_error)?;
        row.map(Order::try_from).transpose()
    }
}

#[async_trait]
impl Leases for PgStore {
    async fn claim_expired(
        &self,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
        limit: i64,
    ) -> Result<Vec<Order>, StoreError> {
        // SKIP LOCKED lets instances claim disjoint batches without waiting on each other; the outer
        // UPDATE re-checks the lease on the locked row, so two claims can never both win one order.
        let rows: Vec<OrderRow> = sqlx::query_as(&format!(
            "UPDATE orders SET lease_until = $2 WHERE id IN ( \
               SELECT id FROM orders WHERE status = 'pending_payment' AND expires_at <= $1 \
               AND (lease_until IS NULL OR lease_until <= $1) \
               ORDER BY expires_at LIMIT $3 FOR UPDATE SKIP LOCKED \
             ) AND (lease_until IS NULL OR lease_until <= $1) RETURNING {ORDER_COLUMNS}"
        ))
        .bind(now)
        .bind(lease_until)
        .bind(limit)
        .fetch_all(self.pool())
        .await
        .map_err(store_error)?;
        rows.into_iter().map(Order::try_from).collect()
    }

    async fn claim_for_poll(
        &self,
        now: OffsetDateTime,
        created_before: OffsetDateTime,
        lease_until: OffsetDateTime,
        limit: i64,
    ) -> Result<Vec<Order>, StoreError> {
        let rows: Vec<OrderRow> = sqlx::query_as(&format!(
            "UPDATE orders SET lease_until = $3 WHERE id IN ( \
               SELECT id FROM orders WHERE status = 'pending_payment' AND created_at <= $2 \
               AND (next_poll_at IS NULL OR next_poll_at <= $1) \
               AND (lease_until IS NULL OR lease_until <= $1) \
               ORDER BY created_at LIMIT $4 FOR UPDATE SKIP LOCKED \
             ) AND (lease_until IS NULL OR lease_until <= $1) RETURNING {ORDER_COLUMNS}"
        ))
        .bind(now)
        .bind(created_before)
        .bind(lease_until)
        .bind(limit)
        .fetch_all(self.pool())
        .await
        .map_err(store_error)?;
        rows.into_iter().map(Order::try_from).collect()
    }

    async fn claim_refunds(
        &self,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
        limit: i64,
    ) -> Result<Vec<Order>, StoreError> {
        let rows: Vec<OrderRow> = sqlx::query_as(&format!(
            "UPDATE orders SET lease_until = $2 WHERE id IN ( \
               SELECT id FROM orders WHERE status = 'refund_pending' \
               AND (lease_until IS NULL OR lease_until <= $1) \
               ORDER BY created_at LIMIT $3 FOR UPDATE SKIP LOCKED \
             ) AND (lease_until IS NULL OR lease_until <= $1) RETURNING {ORDER_COLUMNS}"
        ))
        .bind(now)
        .bind(lease_until)
        .bind(limit)
        .fetch_all(self.pool())
        .await
        .map_err(store_error)?;
        rows.into_iter().map(Order::try_from).collect()
    }

    async fn schedule_poll(
        &self,
        id: OrderId,
        next_poll_at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE orders SET next_poll_at = $2, lease_until = NULL WHERE id = $1")
            .bind(id.0)
            .bind(next_poll_at)
            .execute(self.pool())
            .await
            .map_err(store_error)?;
        Ok(())
    }

    async fn release(&self, id: OrderId) -> Result<(), StoreError> {
        sqlx::query("UPDATE orders SET lease_until = NULL WHERE id = $1")
            .bind(id.0)
            .execute(self.pool())
            .await
            .map_err(store_error)?;
        Ok(())
    }
}
