//! Reserving stock for a new order, SQLite dialect. `BEGIN IMMEDIATE` takes SQLite's write lock up
//! front (the row lock of a database with one writer); the conditional strategy then needs a single
//! `UPDATE … WHERE available >= n`, the pessimistic one reads, checks and writes.

use super::{SqliteStore, adjust_holding, micros};
use crate::error::store_error;
use crate::reserve::{Attempt, finish};
use async_trait::async_trait;
use flashgate_core::ports::Reservations;
use flashgate_core::purchase::{Reservation, ReserveOutcome, StoredAnswer, Strategy};
use flashgate_core::{CustomerId, IdempotencyKey, StoreError};
use sqlx::SqliteConnection;

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
            Strategy::Conditional => conditional(&mut tx, r).await,
        }
        .map_err(store_error)?;
        if attempt == Attempt::Created {
            tx.commit().await.map_err(store_error)?;
        } else {
            tx.rollback().await.map_err(store_error)?;
        }
        finish(self, attempt, r).await
    }
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
        "UPDATE inventory SET available = available - ?2, reserved = reserved + ?2 WHERE product_id = ?1",
    )
    .bind(r.order.product_id.0)
    .bind(quantity)
    .execute(&mut *tx)
    .await?;
    insert_order(tx, r).await?;
    Ok(Attempt::Created)
}

async fn conditional(tx: &mut SqliteConnection, r: &Reservation) -> Result<Attempt, sqlx::Error> {
    let quantity = r.order.quantity.get();
    if !claim_key(tx, r).await? {
        return Ok(Attempt::KeyTaken);
    }
    if !adjust_holding(tx, &r.order.customer, r.order.product_id, quantity).await? {
        return Ok(Attempt::Rejected(ReserveOutcome::LimitExceeded));
    }
    let taken = sqlx::query(
        "UPDATE inventory SET available = available - ?2, reserved = reserved + ?2 \
         WHERE product_id = ?1 AND available >= ?2",
    )
    .bind(r.order.product_id.0)
    .bind(quantity)
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
