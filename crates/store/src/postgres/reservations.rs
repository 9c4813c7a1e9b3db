//! Reserving stock for a new order, PostgreSQL dialect, with both strategies and the gated group
//! commit. Each reservation claims the idempotency key, takes the customer's quota and the units, and
//! writes the order and its first ledger row; any "no" rolls all of it back (for a batch: back to the
//! reservation's savepoint). Ungated writes clear the product's gate fence.

use super::{PgStore, adjust_holding};
use crate::error::store_error;
use crate::reserve::{Attempt, finish};
use async_trait::async_trait;
use flashgate_core::ports::Reservations;
use flashgate_core::purchase::{
    GatedReservation, Reservation, ReserveOutcome, StoredAnswer, Strategy,
};
use flashgate_core::{CustomerId, IdempotencyKey, StoreError};
use sqlx::{Postgres, Transaction};
use std::collections::{BTreeMap, HashMap};

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
        // Keys and holdings are locked in one order by every batch, so batches cannot deadlock.
        let mut order: Vec<usize> = (0..batch.len()).collect();
        order.sort_by(|&a, &b| sort_key(&batch[a]).cmp(&sort_key(&batch[b])));
        let attempts = match self.batch_taking_stock_last(batch, &order).await {
            Ok(Some(attempts)) => attempts,
            // The fence moved, or a race the quick path does not untangle: one reservation at a
            // time under the stock row's lock decides each on its own.
            Ok(None) | Err(_) => self.batch_one_by_one(batch, &order).await?,
        };
        let mut outcomes = Vec::with_capacity(batch.len());
        for (attempt, g) in attempts.into_iter().zip(batch) {
            outcomes.push(finish(self, attempt, &g.reservation).await?);
        }
        Ok(outcomes)
    }
}

fn sort_key(g: &GatedReservation) -> (&str, &str, i64) {
    let r = &g.reservation;
    (
        r.order.customer.as_str(),
        r.idempotency_key.as_str(),
        r.order.product_id.0,
    )
}

impl PgStore {
    /// The group commit proper: every reservation's key, holding, order and ledger row first, then
    /// one conditional update per product for all of its units, fenced to the gate epoch, so the
    /// hot stock row is locked for one statement and the commit. `None` (everything rolled back)
    /// when a product's update is refused: its epoch moved or it lacks the units.
    async fn batch_taking_stock_last(
        &self,
        batch: &[GatedReservation],
        order: &[usize],
    ) -> Result<Option<Vec<Attempt>>, sqlx::Error> {
        let products: Vec<i64> = batch
            .iter()
            .map(|g| g.reservation.order.product_id.0)
            .collect();
        let epochs: HashMap<i64, Option<i64>> = sqlx::query_as(
            "SELECT product_id, gate_epoch FROM inventory WHERE product_id = ANY($1)",
        )
        .bind(&products)
        .fetch_all(self.pool())
        .await?
        .into_iter()
        .collect();
        let mut tx = self.pool().begin().await?;
        let mut attempts: Vec<Option<Attempt>> = vec![None; batch.len()];
        // product -> (epoch, units)
        let mut takes: BTreeMap<i64, (i64, i64)> = BTreeMap::new();
        for &i in order {
            let g = &batch[i];
            let r = &g.reservation;
            let attempt = match epochs.get(&r.order.product_id.0) {
                None => Attempt::Rejected(ReserveOutcome::UnknownProduct),
                Some(epoch) if *epoch != Some(g.gate_epoch) => {
                    Attempt::Rejected(ReserveOutcome::StaleGate)
                }
                Some(_) => {
                    let attempt = without_stock(&mut tx, r).await?;
                    if attempt == Attempt::Created {
                        let take = takes
                            .entry(r.order.product_id.0)
                            .or_insert((g.gate_epoch, 0));
                        take.1 += r.order.quantity.get();
                    }
                    attempt
                }
            };
            attempts[i] = Some(attempt);
        }
        for (product, (epoch, units)) in takes {
            let taken = sqlx::query(
                "UPDATE inventory SET available = available - $2, reserved = reserved + $2 \
                 WHERE product_id = $1 AND available >= $2 AND gate_epoch = $3",
            )
            .bind(product)
            .bind(units)
            .bind(epoch)
            .execute(&mut *tx)
            .await?;
            if taken.rows_affected() == 0 {
                tx.rollback().await?;
                return Ok(None);
            }
        }
        tx.commit().await?;
        Ok(attempts.into_iter().collect())
    }

    /// Each reservation in its own savepoint under the stock rows' locks, exactly as the
    /// conditional strategy writes it.
    async fn batch_one_by_one(
        &self,
        batch: &[GatedReservation],
        order: &[usize],
    ) -> Result<Vec<Attempt>, StoreError> {
        let mut products: Vec<i64> = batch
            .iter()
            .map(|g| g.reservation.order.product_id.0)
            .collect();
        products.sort_unstable();
        products.dedup();
        let mut tx = self.pool().begin().await.map_err(store_error)?;
        // Stock rows first, in id order, like every state change; the fence cannot move while
        // the batch is written.
        let epochs: HashMap<i64, Option<i64>> = sqlx::query_as(
            "SELECT product_id, gate_epoch FROM inventory WHERE product_id = ANY($1) \
             ORDER BY product_id FOR UPDATE",
        )
        .bind(&products)
        .fetch_all(&mut *tx)
        .await
        .map_err(store_error)?
        .into_iter()
        .collect();
        let mut attempts: Vec<Option<Attempt>> = vec![None; batch.len()];
        for &i in order {
            let g = &batch[i];
            let attempt = match epochs.get(&g.reservation.order.product_id.0) {
                None => Attempt::Rejected(ReserveOutcome::UnknownProduct),
                Some(epoch) if *epoch != Some(g.gate_epoch) => {
                    Attempt::Rejected(ReserveOutcome::StaleGate)
                }
                Some(_) => in_savepoint(&mut tx, &g.reservation, g.gate_epoch)
                    .await
                    .map_err(store_error)?,
            };
            attempts[i] = Some(attempt);
        }
        tx.commit().await.map_err(store_error)?;
        attempts
            .into_iter()
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| StoreError::Internal("a reservation of the batch was skipped".into()))
    }
}

/// Everything of a reservation but its units: the key, the customer's quota, the order and its
/// ledger row. A refused quota gives the key back.
async fn without_stock(tx: &mut Tx, r: &Reservation) -> Result<Attempt, sqlx::Error> {
    if !claim_key(tx, r).await? {
        return Ok(Attempt::KeyTaken);
    }
    let o = &r.order;
    if !adjust_holding(tx, &o.customer, o.product_id, o.quantity.get()).await? {
        sqlx::query("DELETE FROM idempotency WHERE customer_id = $1 AND idempotency_key = $2")
            .bind(o.customer.as_str())
            .bind(r.idempotency_key.as_str())
            .execute(&mut **tx)
            .await?;
        return Ok(Attempt::Rejected(ReserveOutcome::LimitExceeded));
    }
    sqlx::query(
        "WITH created AS ( \
           INSERT INTO orders (id, customer_id, product_id, quantity, amount_vnd, status, created_at, expires_at, payment_url) \
           VALUES ($1, $2, $3, $4, $5, 'pending_payment', $6, $7, $8) RETURNING id \
         ) \
         INSERT INTO order_events (order_id, from_status, to_status, reason, at) \
         SELECT id, NULL, 'pending_payment', 'reserved', $6 FROM created",
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
    Ok(Attempt::Created)
}

/// One reservation of a batch, undone on its own when it is refused.
async fn in_savepoint(tx: &mut Tx, r: &Reservation, epoch: i64) -> Result<Attempt, sqlx::Error> {
    sqlx::query("SAVEPOINT reservation")
        .execute(&mut **tx)
        .await?;
    let attempt = conditional(tx, r, Some(epoch)).await?;
    if attempt != Attempt::Created {
        sqlx::query("ROLLBACK TO SAVEPOINT reservation")
            .execute(&mut **tx)
            .await?;
    }
    sqlx::query("RELEASE SAVEPOINT reservation")
        .execute(&mut **tx)
        .await?;
    Ok(attempt)
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
        "UPDATE inventory SET available = available - $2, reserved = reserved + $2, gate_epoch = NULL \
         WHERE product_id = $1",
    )
    .bind(r.order.product_id.0)
    .bind(quantity)
    .execute(&mut **tx)
    .await?;
    insert_order(tx, r).await?;
    Ok(Attempt::Created)
}

/// One conditional update that takes the units and, in the same statement, writes the order and its
/// ledger row: the hot row is locked for a single round trip. With a gate epoch the update also
/// requires the row to carry it; without one it clears the row's epoch, as the gate did not see it.
async fn conditional(
    tx: &mut Tx,
    r: &Reservation,
    gate_epoch: Option<i64>,
) -> Result<Attempt, sqlx::Error> {
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
           UPDATE inventory SET available = available - $3, reserved = reserved + $3, \
             gate_epoch = CASE WHEN $9::BIGINT IS NULL THEN NULL ELSE gate_epoch END \
           WHERE product_id = $2 AND available >= $3 \
             AND ($9::BIGINT IS NULL OR gate_epoch = $9::BIGINT) RETURNING product_id \
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
    .bind(gate_epoch)
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
