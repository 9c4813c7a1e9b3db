//! Moving an order along the state machine: the order row is locked, the stock the transition moves is
//! applied with a conditional update, and the ledger row is written, all in one transaction.

use crate::SqlStore;
use crate::error::store_error;
use crate::reservations::adjust_holding;
use crate::rows::{ORDER_COLUMNS, order};
use crate::sql::{Dialect, Finish, Sql, args};
use async_trait::async_trait;
use flashgate_core::ports::{Transition, TransitionOutcome, Transitions};
use flashgate_core::{Order, StoreError};

#[async_trait]
impl<D: Dialect> Transitions for SqlStore<D> {
    async fn apply(&self, t: &Transition) -> Result<TransitionOutcome, StoreError> {
        let effect = t.from.transition_to(t.to).ok_or_else(|| {
            StoreError::internal(format!("illegal transition {:?} -> {:?}", t.from, t.to))
        })?;
        let mut tx = self.0.begin().await.map_err(store_error)?;
        let outcome = step::<D>(&mut tx, t, effect).await.map_err(store_error)?;
        if matches!(outcome, TransitionOutcome::Applied(_)) {
            tx.commit().await.map_err(store_error)?;
        }
        Ok(outcome)
    }
}

async fn step<D: Dialect>(
    tx: &mut D::Conn,
    t: &Transition,
    effect: flashgate_core::StockEffect,
) -> Result<TransitionOutcome, sqlx::Error> {
    let sql = format!(
        "SELECT {ORDER_COLUMNS} FROM orders WHERE id = $1{}",
        D::LOCK
    );
    let Some(row) = tx.row(&sql, args![t.order_id.0]).await? else {
        return Ok(TransitionOutcome::NotFound);
    };
    let current: Order = order(&row)?;
    if current.status != t.from {
        return Ok(TransitionOutcome::NotInState(current.status));
    }
    let effect = effect.times(current.quantity);
    // The holding first, then the stock: the one lock order of every purchase (see `reservations`).
    // Taking units back (late money) respects the limit like a new order does.
    if effect.held != 0
        && !adjust_holding(tx, &current.customer, current.product_id, effect.held).await?
    {
        return Ok(TransitionOutcome::InsufficientStock);
    }
    if effect.moves_stock() {
        // Units taken without the admission gate clear its fence (see GateFence).
        let moved = tx
            .exec(
                "UPDATE inventory SET available = available + $2, reserved = reserved + $3, sold = sold + $4, \
                   gate_epoch = CASE WHEN $2 < 0 THEN NULL ELSE gate_epoch END \
                 WHERE product_id = $1 AND available + $2 >= 0 AND reserved + $3 >= 0",
                args![current.product_id.0, effect.available, effect.reserved, effect.sold],
            )
            .await?;
        if moved == 0 {
            return Ok(TransitionOutcome::InsufficientStock);
        }
    }
    // An order entering refund_pending starts a fresh round of refund attempts, the first at once.
    let sql = format!(
        "UPDATE orders SET status = $2, lease_until = NULL, \
           paid_at = CASE WHEN $2 = 'paid' THEN $3 ELSE paid_at END, \
           refund_refusals = CASE WHEN $2 = 'refund_pending' THEN 0 ELSE refund_refusals END, \
           gateway_transaction_no = COALESCE($4, gateway_transaction_no) \
         WHERE id = $1 RETURNING {ORDER_COLUMNS}"
    );
    let updated = tx
        .row(
            &sql,
            args![
                t.order_id.0,
                t.to.as_str(),
                t.payment.map_or(t.at, |p| p.paid_at),
                t.payment.and_then(|p| p.transaction_no),
            ],
        )
        .await?
        .ok_or(sqlx::Error::RowNotFound)?;
    let moved = order(&updated)?;
    // The ledger row keeps the gateway's number as of this change: an event shows the order as it was.
    tx.exec(
        "INSERT INTO order_events (order_id, from_status, to_status, reason, at, gateway_transaction_no) \
         VALUES ($1, $2, $3, $4, $5, $6)",
        args![
            t.order_id.0,
            t.from.as_str(),
            t.to.as_str(),
            t.reason.as_str(),
            t.at,
            moved.gateway_transaction_no
        ],
    )
    .await?;
    Ok(TransitionOutcome::Applied(moved))
}
