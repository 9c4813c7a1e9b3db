//! Reserving stock for a new order, PostgreSQL dialect, with both strategies. Each runs in one
//! transaction that claims the idempotency key, takes the customer's quota and the units, and writes the
//! order and its first ledger row; any "no" rolls all of it back.

use super::{PgStore, adjust_holding};
use crate::error::store_error;
use crate::reserve::{Attempt, finish};
use async_trait::async_trait;
use flashgate_core::ports::Reservations;
use flashgate_core::purchase::{Reservation, ReserveOutcome, StoredAnswer, Strategy};
use flashgate_core::{CustomerId, IdempotencyKey, StoreError};
use sqlx::{Postgres, Transaction};

#[async_trait]
impl Reservations for PgStore {
    async fn lookup(
        &self,
        customer: &CustomerId,
        key: &IdempotencyKey,
    ) -> Result<Option<StoredAnswer>, StoreError> {
        let row: Option<(String, i16, Vec<u8>)> = sqlx::query_as(
            "SELECT request_hash, response_status, response_body FROM idempotency \
             WHERE customer_id = $1 AND idempotency_key = $2",
        )
        .bind(customer.as_str())
        .bind(key.as_str())
        .fetch_optional(self.pool())
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
        let mut tx = self.pool().begin().await.map_err(store_error)?;
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

type Tx = Transaction<'static, Postgres>;

/// The classic answer: lock the product's stock row and hold it to the end of the transaction.
async fn pessimistic(tx: &mut Tx, r: &Reservation) -> Result<Attempt, sqlx::Error> {
    let quantity = r.order.quantity.get();
    // The key first: a request racing its own retry must end up replaying the winner's answer, not
    // reading the stock the winner just took and answering sold out.
    if !claim_key(tx, r).await? {
        return Ok(Attempt::KeyTaken);
    }
    let available: Option<i64> =
        sqlx::query_scalar("SELECT available FROM inventory WHERE product_id = $1 FOR UPDATE")
            .bind(r.order.product_id.0)
            .fetch_optional(&mut **tx)
            .await?;
    let Some(available) = available else {
        return Ok(Attempt::Rejected(ReserveOutcome::UnknownProduct));
    };
    if available < quantity {
        return Ok(Attempt::Rejected(ReserveOutcome::SoldOut));
    }
    if !adjust_holding(
        tx,
        &r.order.customer,
        r.order.product_id,
        r.order.quantity.get(),
    )
    .await?
    {
        return Ok(Attempt::Rejected(ReserveOutcome::LimitExceeded));
    }
    sqlx::query(
        "UPDATE inventory SET available = available - $2, reserved = reserved + $2 WHERE product_id = $1",
    )
    .bind(r.order.product_id.0)
    .bind(quantity)
    .execute(&mut **tx)
    .await?;
    insert_order(tx, r).await?;
    Ok(Attempt::Created)
}

/// One conditional update that takes the units and, in the same statement, writes the order and its
/// ledger row: the hot row is locked for a single round trip.
async fn conditional(tx: &mut Tx, r: &Reservation) -> Result<Attempt, sqlx::Error> {
    if !claim_key(tx, r).await? {
        return Ok(Attempt::KeyTaken);
    }
    if !adjust_holding(
        tx,
        &r.order.customer,
        r.order.product_id,
        r.order.quantity.get(),
    )
    .await?
    {
        return Ok(Attempt::Rejected(ReserveOutcome::LimitExceeded));
    }
    let o = &r.order;
    let created: Option<uuid::Uuid> = sqlx::query_scalar(
        "WITH taken AS ( \
           UPDATE inventory SET available = available - $3, reserved = reserved + $3 \
           WHERE product_id = $2 AND available >= $3 RETURNING product_id \
         ), created AS ( \
           INSERT INTO orders (id, customer_id, product_id, quantity, amount_vnd, status, created_at, expires_at, payment_url) \
           SELECT $1, $4, product_id, $3, $5, 'pending_payment', $6, $7, $8 FROM taken RETURNING id \
         ) \
         INSERT INTO order_events (order_id, from_status, to_status, reason, at) \
         SELECT id, NULL, 'pending_payment', 'reserved', $6 FROM created RETURNING order_id",
    )
    .bind(o.id.0)
    .bind(o.product_id.0)
    .bind(o.quantity.get())
    .bind(o.customer.as_str())
    .bind(o.amount.get())
    .bind(o.created_at)
    .bind(o.expires_at)
    .bind(o.payment_url.as_deref())
    .fetch_optional(&mut **tx)
    .await?;
    Ok(match created {
        Some(_) => Attempt::Created,
        None => Attempt::Rejected(ReserveOutcome::SoldOut),
    })
}

/// Claims the idempotency key with the answer already rendered. A concurrent request with the same
/// key blocks here until the first one commits or rolls back.
async fn claim_key(tx: &mut Tx, r: &Reservation) -> Result<bool, sqlx::Error> {
    let claimed = sqlx::query(
        "INSERT INTO idempotency (customer_id, idempotency_key, request_hash, order_id, response_status, response_body, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (customer_id, idempotency_key) DO NOTHING",
    )
    .bind(r.order.customer.as_str())
    .bind(r.idempotency_key.as_str())
    .bind(&r.request_hash)
    .bind(r.order.id.0)
    .bind(i16::try_from(r.answer_status).unwrap_or(i16::MAX))
    .bind(&r.answer_body)
    .bind(r.order.created_at)
    .execute(&mut **tx)
    .await?;
    Ok(claimed.rows_affected() == 1)
}

async fn insert_order(tx: &mut Tx, r: &Reservation) -> Result<(), sqlx::Error> {
    let o = &r.order;
    sqlx::query(
        "INSERT INTO orders (id, customer_id, product_id, quantity, amount_vnd, status, created_at, expires_at, payment_url) \
         VALUES ($1, $2, $3, $4, $5, 'pending_payment', $6, $7, $8)",
    )
    .bind(o.id.0)
    .bind(o.customer.as_str())
    .bind(o.product_id.0)
    .bind(o.quantity.get())
    .bind(o.amount.get())
    .bind(o.created_at)
    .bind(o.expires_at)
    .bind(o.payment_url.as_deref())
    .execute(&mut **tx)
    .await?;
    sqlx::query(
        "INSERT INTO order_events (order_id, from_status, to_status, reason, at) \
         VALUES ($1, NULL, 'pending_payment', 'reserved', $2)",
    )
    .bind(o.id.0)
    .bind(o.created_at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
