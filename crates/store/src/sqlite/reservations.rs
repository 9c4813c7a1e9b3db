//! Reserving stock for a new order, SQLite dialect. `BEGIN IMMEDIATE` takes SQLite's write lock up
//! front (the row lock of a database with one writer); the conditional strategy then needs a single
//! `UPDATE … WHERE available >= n`, the pessimistic one reads, checks and writes. A gated batch is one
//! such transaction with a savepoint per reservation. Ungated writes clear the product's gate fence.

use super::{SqliteStore, adjust_holding, micros};
use crate::error::store_error;
use crate::reserve::{Attempt, finish};
use async_trait::async_trait;
use flashgate_core::ports::Reservations;
use flashgate_core::purchase::{
    GatedReservation, Reservation, ReserveOutcome, StoredAnswer, Strategy,
};
use flashgate_core::{CustomerId, IdempotencyKey, StoreError};
use sqlx::SqliteConnection;
use std::collections::HashMap;

#[async_trait]
impl Reservations for SqliteStore {
    async fn lookup(
        &self,
        customer: &CustomerId,
        key: &IdempotencyKey,
    ) -> Result<Option<StoredAnswer>, StoreError> {
        let row: Option<(String, i64, Vec<u8>)> = sqlx::query_as(
            "SELECT request_hash, response_status, response_body FROM idempotency \
             WHERE customer_id = ?1 AND idempotency_key = ?2",
        )
        .bind(customer.as_str())
        .bind(key.as_str())
        .fetch_optional(self.reader())
        .await
        .map_err(store_error)?;
        Ok(row.map(|(request_hash, status, body)| StoredAnswer {
            request_hash,
            status: u16::try_from(status).unwrap_or(500),
            body,
        }))
    }

    async fn reserve(
        &self,
        strategy: Strategy,
        r: &Reservation,
    ) -> Result<ReserveOutcome, StoreError> {
        let mut tx = self
            .writer()
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(store_error)?;
        let attempt = match strategy {
            Strategy::Pessimistic => pessimistic(&mut tx, r).await,
            Strategy::Conditional | Strategy::Gated => conditional(&mut tx, r, None).await,
        }
        .map_err(store_error)?;
        if attempt == Attempt::Created {
            tx.commit().await.map_err(store_error)?;
        } else {
            tx.rollback().await.map_err(store_error)?;
        }
        finish(self, attempt, r).await
    }

    async fn reserve_batch(
        &self,
        batch: &[GatedReservation],
    ) -> Result<Vec<ReserveOutcome>, StoreError> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        let mut tx = self
            .writer()
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(store_error)?;
        // The write lock is held: the fence cannot move while the batch is written.
        let mut epochs: HashMap<i64, Option<Option<i64>>> = HashMap::new();
        let mut attempts = Vec::with_capacity(batch.len());
        for g in batch {
            let product = g.reservation.order.product_id.0;
            let epoch = match epochs.get(&product) {
                Some(epoch) => *epoch,
                None => {
                    let epoch: Option<Option<i64>> = sqlx::query_scalar(
                        "SELECT gate_epoch FROM inventory WHERE product_id = ?1",
                    )
                    .bind(product)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(store_error)?;
                    epochs.insert(product, epoch);
                    epoch
                }
            };
            let attempt = match epoch {
                None => Attempt::Rejected(ReserveOutcome::UnknownProduct),
                Some(epoch) if epoch != Some(g.gate_epoch) => {
                    Attempt::Rejected(ReserveOutcome::StaleGate)
                }
                Some(_) => in_savepoint(&mut tx, &g.reservation, g.gate_epoch)
                    .await
                    .map_err(store_error)?,
            };
            attempts.push(attempt);
        }
        tx.commit().await.map_err(store_error)?;
        let mut outcomes = Vec::with_capacity(batch.len());
        for (attempt, g) in attempts.into_iter().zip(batch) {
            outcomes.push(finish(self, attempt, &g.reservation).await?);
        }
        Ok(outcomes)
    }
}

/// One reservation of a batch, undone on its own when it is refused.
async fn in_savepoint(
    tx: &mut SqliteConnection,
    r: &Reservation,
    epoch: i64,
) -> Result<Attempt, sqlx::Error> {
    sqlx::query("SAVEPOINT reservation")
        .execute(&mut *tx)
        .await?;
    let attempt = conditional(tx, r, Some(epoch)).await?;
    if attempt != Attempt::Created {
        sqlx::query("ROLLBACK TO SAVEPOINT reservation")
            .execute(&mut *tx)
            .await?;
    }
    sqlx::query("RELEASE SAVEPOINT reservation")
        .execute(&mut *tx)
        .await?;
    Ok(attempt)
}

async fn pessimistic(tx: &mut SqliteConnection, r: &Reservation) -> Result<Attempt, sqlx::Error> {
    let quantity = r.order.quantity.get();
    // The key first: a request racing its own retry must end up replaying the winner's answer, not
    // reading the stock the winner just took and answering sold out.
    if !claim_key(tx, r).await? {
        return Ok(Attempt::KeyTaken);
    }
    let available: Option<i64> =
        sqlx::query_scalar("SELECT available FROM inventory WHERE product_id = ?1")
            .bind(r.order.product_id.0)
            .fetch_optional(&mut *tx)
            .await?;
    let Some(available) = available else {
        return Ok(Attempt::Rejected(ReserveOutcome::UnknownProduct));
    };
    if available < quantity {
        return Ok(Attempt::Rejected(ReserveOutcome::SoldOut));
    }
    if !adjust_holding(tx, &r.order.customer, r.order.product_id, quantity).await? {
        return Ok(Attempt::Rejected(ReserveOutcome::LimitExceeded));
    }
    sqlx::query(
        "UPDATE inventory SET available = available - ?2, reserved = reserved + ?2, gate_epoch = NULL \
         WHERE product_id = ?1",
    )
    .bind(r.order.product_id.0)
    .bind(quantity)
    .execute(&mut *tx)
    .await?;
    insert_order(tx, r).await?;
    Ok(Attempt::Created)
}

/// With a gate epoch the update also requires the row to carry it; without one it clears the row's
/// epoch, as the gate did not see this write.
async fn conditional(
    tx: &mut SqliteConnection,
    r: &Reservation,
    gate_epoch: Option<i64>,
) -> Result<Attempt, sqlx::Error> {
    let quantity = r.order.quantity.get();
    if !claim_key(tx, r).await? {
        return Ok(Attempt::KeyTaken);
    }
    if !adjust_holding(tx, &r.order.customer, r.order.product_id, quantity).await? {
        return Ok(Attempt::Rejected(ReserveOutcome::LimitExceeded));
    }
    let taken = sqlx::query(
        "UPDATE inventory SET available = available - ?2, reserved = reserved + ?2, \
           gate_epoch = CASE WHEN ?3 IS NULL THEN NULL ELSE gate_epoch END \
         WHERE product_id = ?1 AND available >= ?2 AND (?3 IS NULL OR gate_epoch = ?3)",
    )
    .bind(r.order.product_id.0)
    .bind(quantity)
    .bind(gate_epoch)
    .execute(&mut *tx)
    .await?;
    if taken.rows_affected() == 0 {
        return Ok(Attempt::Rejected(ReserveOutcome::SoldOut));
    }
    insert_order(tx, r).await?;
    Ok(Attempt::Created)
}

async fn claim_key(tx: &mut SqliteConnection, r: &Reservation) -> Result<bool, sqlx::Error> {
    let claimed = sqlx::query(
        "INSERT INTO idempotency (customer_id, idempotency_key, request_hash, order_id, response_status, response_body, created_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (customer_id, idempotency_key) DO NOTHING",
    )
    .bind(r.order.customer.as_str())
    .bind(r.idempotency_key.as_str())
    .bind(&r.request_hash)
    .bind(r.order.id.0.to_string())
    .bind(i64::from(r.answer_status))
    .bind(&r.answer_body)
    .bind(micros(r.order.created_at))
    .execute(&mut *tx)
    .await?;
    Ok(claimed.rows_affected() == 1)
}

async fn insert_order(tx: &mut SqliteConnection, r: &Reservation) -> Result<(), sqlx::Error> {
    let o = &r.order;
    sqlx::query(
        "INSERT INTO orders (id, customer_id, product_id, quantity, amount_vnd, status, created_at, expires_at, payment_url) \
         VALUES (?1, ?2, ?3, ?4, ?5, 'pending_payment', ?6, ?7, ?8)",
    )
    .bind(o.id.0.to_string())
    .bind(o.customer.as_str())
    .bind(o.product_id.0)
    .bind(o.quantity.get())
    .bind(o.amount.get())
    .bind(micros(o.created_at))
    .bind(micros(o.expires_at))
    .bind(o.payment_url.as_deref())
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO order_events (order_id, from_status, to_status, reason, at) \
         VALUES (?1, NULL, 'pending_payment', 'reserved', ?2)",
    )
    .bind(o.id.0.to_string())
    .bind(micros(o.created_at))
    .execute(&mut *tx)
    .await?;
    Ok(())
}
