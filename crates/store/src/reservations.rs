//! Reserving stock for a new order. Each reservation claims the idempotency key, takes the customer's
//! quota and the units, and writes the order and its first ledger row; any "no" rolls all of it back
//! (for a batch: back to the reservation's savepoint, see `batch`). Ungated writes clear the product's
//! gate fence.
//!
//! One lock order for every transaction that takes a customer's holding and a product's stock row
//! (purchases in every write mode, batches, state changes): the holding first, then the stock row.
//! A buyer's new purchase and the expiry of their older order therefore never wait on each other in
//! a cycle, and the hot stock row is held for the shortest time.

use crate::SqlStore;
use crate::error::store_error;
use crate::sql::{Dialect, Fields, Finish, Sql, Value, args, bad_column};
use async_trait::async_trait;
use flashgate_core::ports::Reservations;
use flashgate_core::purchase::{
    GatedOutcome, GatedReservation, Reservation, ReserveOutcome, StoredAnswer, WriteMode,
};
use flashgate_core::{CustomerId, IdempotencyKey, ProductId, StoreError};
use std::collections::HashMap;

/// How a reservation's writes ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Attempt {
    Created,
    /// Another request holds (or held) the same idempotency key.
    KeyTaken,
    Rejected(ReserveOutcome),
    /// A gated reservation whose gate epoch is no longer the stock row's: nothing was written.
    StaleGate,
}

#[async_trait]
impl<D: Dialect> Reservations for SqlStore<D> {
    async fn lookup(
        &self,
        customer: &CustomerId,
        key: &IdempotencyKey,
    ) -> Result<Option<StoredAnswer>, StoreError> {
        let mut conn = self.0.reader().await.map_err(store_error)?;
        let row = conn
            .row(
                "SELECT request_hash, response_status, response_body FROM idempotency \
                 WHERE customer_id = $1 AND idempotency_key = $2",
                args![customer.as_str(), key.as_str()],
            )
            .await
            .map_err(store_error)?;
        row.as_ref()
            .map(stored_answer)
            .transpose()
            .map_err(store_error)
    }

    async fn answers_of(
        &self,
        customers: &[CustomerId],
        at_most: usize,
    ) -> Result<Vec<Option<Vec<(IdempotencyKey, StoredAnswer)>>>, StoreError> {
        let columns = ", request_hash, response_status, response_body";
        self.stored_per_customer(customers, at_most, columns, |key, row| {
            Ok((key, stored_answer(row)?))
        })
        .await
    }

    async fn reserve(
        &self,
        mode: WriteMode,
        r: &Reservation,
    ) -> Result<ReserveOutcome, StoreError> {
        let mut tx = self.0.begin().await.map_err(store_error)?;
        let attempt = match mode {
            WriteMode::Locking => locking::<D>(&mut tx, r).await,
            WriteMode::Conditional => conditional::<D>(&mut tx, r, None).await,
        }
        .map_err(store_error)?;
        if attempt == Attempt::Created {
            tx.commit().await.map_err(store_error)?;
        } else {
            tx.rollback().await.map_err(store_error)?;
        }
        self.finish(attempt, r).await
    }

    async fn reserve_batch(
        &self,
        batch: &[GatedReservation],
    ) -> Result<Vec<GatedOutcome>, StoreError> {
        self.write_batch(batch).await
    }
}

fn stored_answer(row: &impl Fields) -> Result<StoredAnswer, sqlx::Error> {
    Ok(StoredAnswer {
        request_hash: row.text("request_hash")?,
        status: u16::try_from(row.small("response_status")?).unwrap_or(500),
        body: row.bytes("response_body")?,
    })
}

impl<D: Dialect> SqlStore<D> {
    /// The port's answer for a finished attempt.
    pub(crate) async fn finish(
        &self,
        attempt: Attempt,
        r: &Reservation,
    ) -> Result<ReserveOutcome, StoreError> {
        match attempt {
            Attempt::Created => Ok(ReserveOutcome::Created),
            Attempt::Rejected(outcome) => Ok(outcome),
            Attempt::StaleGate => Err(StoreError::internal(
                "a reservation without an admission was refused as stale",
            )),
            // The request that took the key has committed by now (claiming it waited for that), so
            // its answer is visible.
            Attempt::KeyTaken => match self.lookup(&r.order.customer, &r.idempotency_key).await? {
                Some(stored) => Ok(ReserveOutcome::Duplicate(stored)),
                None => Err(StoreError::internal("idempotency record vanished")),
            },
        }
    }
}

impl<D: Dialect> SqlStore<D> {
    /// [`Self::finish`] for one reservation of a gated batch.
    pub(crate) async fn finish_gated(
        &self,
        attempt: Attempt,
        r: &Reservation,
    ) -> Result<GatedOutcome, StoreError> {
        match attempt {
            Attempt::StaleGate => Ok(GatedOutcome::StaleGate),
            decided => Ok(GatedOutcome::Decided(self.finish(decided, r).await?)),
        }
    }
}

/// The classic answer: lock the product's stock row and hold it to the end of the transaction.
async fn locking<D: Dialect>(tx: &mut D::Conn, r: &Reservation) -> Result<Attempt, sqlx::Error> {
    let o = &r.order;
    // The key first: a request racing its own retry must end up replaying the winner's answer, not
    // reading the stock the winner just took and answering sold out.
    if !claim_key(tx, r).await? {
        return Ok(Attempt::KeyTaken);
    }
    // The holding before the stock row, in the one lock order of this module; a refusal rolls the
    // holding back with the rest. A holding can only name a known product.
    let known = tx
        .row(
            "SELECT id FROM products WHERE id = $1",
            args![o.product_id.0],
        )
        .await?;
    if known.is_none() {
        return Ok(Attempt::Rejected(ReserveOutcome::UnknownProduct));
    }
    if !adjust_holding(tx, &o.customer, o.product_id, o.quantity.get()).await? {
        return Ok(Attempt::Rejected(ReserveOutcome::LimitExceeded));
    }
    let sql = format!(
        "SELECT available FROM inventory WHERE product_id = $1{}",
        D::LOCK
    );
    let Some(stock) = tx.row(&sql, args![o.product_id.0]).await? else {
        return Ok(Attempt::Rejected(ReserveOutcome::UnknownProduct));
    };
    if stock.int("available")? < o.quantity.get() {
        return Ok(Attempt::Rejected(ReserveOutcome::SoldOut));
    }
    tx.exec(
        "UPDATE inventory SET available = available - $2, reserved = reserved + $2, gate_epoch = NULL \
         WHERE product_id = $1",
        args![o.product_id.0, o.quantity.get()],
    )
    .await?;
    insert_order::<D>(tx, r).await?;
    Ok(Attempt::Created)
}

/// One conditional update takes the units (on PostgreSQL writing the order and its ledger row in the
/// same statement, so the hot row is locked for a single round trip). With a gate epoch the update
/// also requires the row to carry it.
pub(crate) async fn conditional<D: Dialect>(
    tx: &mut D::Conn,
    r: &Reservation,
    gate_epoch: Option<i64>,
) -> Result<Attempt, sqlx::Error> {
    let o = &r.order;
    if !claim_key(tx, r).await? {
        return Ok(Attempt::KeyTaken);
    }
    if !adjust_holding(tx, &o.customer, o.product_id, o.quantity.get()).await? {
        return Ok(Attempt::Rejected(ReserveOutcome::LimitExceeded));
    }
    if tx.exec(D::TAKE_UNITS, &order_args(r, gate_epoch)).await? == 0 {
        return Ok(Attempt::Rejected(ReserveOutcome::SoldOut));
    }
    if !D::TAKE_WRITES_ORDER {
        insert_order::<D>(tx, r).await?;
    }
    Ok(Attempt::Created)
}

/// The binds of `Dialect::INSERT_ORDER` (the first eight) and `Dialect::TAKE_UNITS` (all nine).
fn order_args(r: &Reservation, gate_epoch: Option<i64>) -> [Value<'_>; 9] {
    let o = &r.order;
    [
        o.id.0.into(),
        o.customer.as_str().into(),
        o.product_id.0.into(),
        o.quantity.get().into(),
        o.amount.get().into(),
        o.created_at.into(),
        o.expires_at.into(),
        o.payment_url.as_deref().into(),
        gate_epoch.into(),
    ]
}

async fn insert_order<D: Dialect>(tx: &mut D::Conn, r: &Reservation) -> Result<(), sqlx::Error> {
    let args = order_args(r, None);
    for sql in D::INSERT_ORDER {
        tx.exec(sql, &args[..8]).await?;
    }
    Ok(())
}

/// Claims the idempotency key with the answer already rendered. A concurrent request with the same
/// key blocks here until the first one commits or rolls back.
async fn claim_key(tx: &mut impl Sql, r: &Reservation) -> Result<bool, sqlx::Error> {
    let claimed = tx
        .exec(
            "INSERT INTO idempotency (customer_id, idempotency_key, request_hash, order_id, response_status, response_body, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (customer_id, idempotency_key) DO NOTHING",
            args![
                r.order.customer.as_str(),
                r.idempotency_key.as_str(),
                r.request_hash.as_str(),
                r.order.id.0,
                i16::try_from(r.answer_status).unwrap_or(i16::MAX),
                r.answer_body.as_slice(),
                r.order.created_at,
            ],
        )
        .await?;
    Ok(claimed == 1)
}

/// Moves a customer's holding of a product by `delta` units. Taking units is one conditional upsert
/// against the product's limit, so a customer's concurrent requests cannot both pass; giving units back
/// never drops below zero. `false` means the change was refused.
pub(crate) async fn adjust_holding(
    tx: &mut impl Sql,
    customer: &CustomerId,
    product: ProductId,
    delta: i64,
) -> Result<bool, sqlx::Error> {
    let sql = if delta > 0 {
        "INSERT INTO customer_holdings AS h (customer_id, product_id, held) \
         SELECT $1, $2, $3 WHERE $3 <= COALESCE((SELECT per_customer_limit FROM products WHERE id = $2), $3) \
         ON CONFLICT (customer_id, product_id) DO UPDATE SET held = h.held + excluded.held \
         WHERE h.held + excluded.held <= COALESCE((SELECT per_customer_limit FROM products WHERE id = $2), h.held + excluded.held)"
    } else {
        "UPDATE customer_holdings SET held = held + $3 WHERE customer_id = $1 AND product_id = $2 AND held + $3 >= 0"
    };
    let done = tx
        .exec(sql, args![customer.as_str(), product.0, delta])
        .await?;
    Ok(done == 1)
}

impl<D: Dialect> SqlStore<D> {
    /// Up to `at_most` stored answers of each of `customers`, in one read and in their order, as
    /// `value` makes them of each key and its row (which also holds `columns`, written as a list
    /// that follows `customer_id, idempotency_key`); `None` for a customer with more.
    pub(crate) async fn stored_per_customer<T>(
        &self,
        customers: &[CustomerId],
        at_most: usize,
        columns: &str,
        value: impl Fn(IdempotencyKey, &<D::Conn as Sql>::Row) -> Result<T, sqlx::Error> + Send,
    ) -> Result<Vec<Option<Vec<T>>>, StoreError> {
        let names: Vec<&str> = customers.iter().map(CustomerId::as_str).collect();
        // One more than asked per customer, to tell one with too many from one with exactly enough.
        let sql = format!(
            "SELECT customer_id, idempotency_key{columns} FROM (SELECT customer_id, \
             idempotency_key{columns}, row_number() OVER (PARTITION BY customer_id) AS n \
             FROM idempotency WHERE {}) AS stored WHERE n <= $2",
            D::one_of("customer_id")
        );
        let bound = i64::try_from(at_most).unwrap_or(i64::MAX).saturating_add(1);
        let mut conn = self.0.reader().await.map_err(store_error)?;
        let rows = conn
            .rows(&sql, args![names.as_slice(), bound])
            .await
            .map_err(store_error)?;
        let mut by_customer: HashMap<String, Vec<T>> = HashMap::new();
        for row in &rows {
            let key = IdempotencyKey::parse(&row.text("idempotency_key").map_err(store_error)?)
                .map_err(|e| store_error(bad_column("idempotency_key", e)))?;
            let customer = row.text("customer_id").map_err(store_error)?;
            let value = value(key, row).map_err(store_error)?;
            by_customer.entry(customer).or_default().push(value);
        }
        Ok(customers
            .iter()
            .map(|customer| {
                let values = by_customer.remove(customer.as_str()).unwrap_or_default();
                (values.len() <= at_most).then_some(values)
            })
            .collect())
    }
}
