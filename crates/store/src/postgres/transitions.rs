//! Moving an order along the state machine, PostgreSQL dialect: the order row is locked, the stock the
//! transition moves is applied with a conditional update, and the ledger row is written, all in one
//! transaction.

use super::{ORDER_COLUMNS, OrderRow, PgStore, adjust_holding};
use crate::error::store_error;
use async_trait::async_trait;
use flashgate_core::ports::{Transition, TransitionOutcome, Transitions};
use flashgate_core::{Order, StoreError};

#[async_trait]
impl Transitions for PgStore {
    async fn apply(&self, t: &Transition) -> Result<TransitionOutcome, StoreError> {
        let effect = t.from.transition_to(t.to).ok_or_else(|| {
            StoreError::Internal(format!("illegal transition {:?} -> {:?}", t.from, t.to))
        })?;
        let mut tx = self.pool().begin().await.map_err(store_error)?;
        let row: Option<OrderRow> = sqlx::query_as(&format!(
            "SELECT {ORDER_COLUMNS} FROM orders WHERE id = $1 FOR UPDATE"
        ))
        .bind(t.order_id.0)
        .fetch_optional(&mut *tx)
        .await
        .map_err(store_error)?;
        let Some(order) = row.map(Order::try_from).transpose()? else {
            return Ok(TransitionOutcome::NotFound);
        };
        if order.status != t.from {
            return Ok(TransitionOutcome::NotInState(order.status));
        }
        let effect = effect.times(order.quantity);
        // The holding first, then the stock: the order a purchase takes its locks in, so the two never
        // wait on each other in a cycle.
        if effect.held != 0 {
            // Taking units back (late money) must respect the limit like a new order does.
            let held = adjust_holding(&mut tx, &order.customer, order.product_id, effect.held)
                .await
                .map_err(store_error)?;
            if !held {
                return Ok(TransitionOutcome::InsufficientStock);
            }
        }
        if effect.moves_stock() {
            // Units taken without the admission gate clear its fence (see GateFence).
            let moved = sqlx::query(
                "UPDATE inventory SET available = available + $2, reserved = reserved + $3, sold = sold + $4, \
                   gate_epoch = CASE WHEN $2 < 0 THEN NULL ELSE gate_epoch END \
                 WHERE product_id = $1 AND available + $2 >= 0 AND reserved + $3 >= 0",
            )
            .bind(order.product_id.0)
            .bind(effect.available)
            .bind(effect.reserved)
            .bind(effect.sold)
            .execute(&mut *tx)
            .await
            .map_err(store_error)?;
            if moved.rows_affected() == 0 {
                return Ok(TransitionOutcome::InsufficientStock);
            }
        }
        let updated: OrderRow = sqlx::query_as(&format!(
            "UPDATE orders SET status = $2, lease_until = NULL, \
               paid_at = CASE WHEN $2 = 'paid' THEN $3 ELSE paid_at END, \
               gateway_transaction_no = COALESCE($4, gateway_transaction_no) \
             WHERE id = $1 RETURNING {ORDER_COLUMNS}"
        ))
        .bind(t.order_id.0)
        .bind(t.to.as_str())
        .bind(t.payment.map_or(t.at, |p| p.paid_at))
        .bind(t.payment.and_then(|p| p.transaction_no))
        .fetch_one(&mut *tx)
        .await
        .map_err(store_error)?;
        sqlx::query(
            "INSERT INTO order_events (order_id, from_status, to_status, reason, at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(t.order_id.0)
        .bind(t.from.as_str())
        .bind(t.to.as_str())
        .bind(&t.reason)
        .bind(t.at)
        .execute(&mut *tx)
        .await
        .map_err(store_error)?;
        tx.commit().await.map_err(store_error)?;
        Ok(TransitionOutcome::Applied(Order::try_from(updated)?))
    }
}
