//! PostgreSQL's set-based group commit: a batch's idempotency keys, quotas, orders and ledger rows
//! in one statement, whatever the batch's size, so the transaction is not waiting on one round trip
//! per reservation. Each reservation is still decided alone: a key already taken or a limit reached
//! refuses that one and no other.

use crate::reservations::Attempt;
use crate::sql::{Link, fetch_on};
use flashgate_core::purchase::{Reservation, ReserveOutcome};
use sqlx::Row;
use sqlx::postgres::Postgres;
use std::collections::HashSet;
use uuid::Uuid;

/// The reservations in, in the batch's lock order (`n`); per reservation out, whether its key was
/// claimed and whether its order was written. A quota is taken only for a claimed key, and an order
/// written only where both were taken.
const WRITE: &str = "WITH input AS ( \
       SELECT * FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::text[], $5::int2[], $6::bytea[], \
         $7::bigint[], $8::bigint[], $9::bigint[], $10::timestamptz[], $11::timestamptz[], $12::text[]) \
       WITH ORDINALITY AS t(order_id, customer_id, idempotency_key, request_hash, response_status, \
         response_body, product_id, quantity, amount_vnd, created_at, expires_at, payment_url, n) \
     ), claimed AS ( \
       INSERT INTO idempotency (customer_id, idempotency_key, request_hash, order_id, response_status, response_body, created_at) \
       SELECT customer_id, idempotency_key, request_hash, order_id, response_status, response_body, created_at \
       FROM input ORDER BY n \
       ON CONFLICT (customer_id, idempotency_key) DO NOTHING RETURNING order_id \
     ), held AS ( \
       INSERT INTO customer_holdings AS h (customer_id, product_id, held) \
       SELECT i.customer_id, i.product_id, i.quantity FROM input i JOIN claimed c ON c.order_id = i.order_id \
       WHERE i.quantity <= COALESCE((SELECT per_customer_limit FROM products WHERE id = i.product_id), i.quantity) \
       ORDER BY i.n \
       ON CONFLICT (customer_id, product_id) DO UPDATE SET held = h.held + excluded.held \
       WHERE h.held + excluded.held <= COALESCE((SELECT per_customer_limit FROM products WHERE id = h.product_id), h.held + excluded.held) \
       RETURNING customer_id, product_id \
     ), created AS ( \
       INSERT INTO orders (id, customer_id, product_id, quantity, amount_vnd, status, created_at, expires_at, payment_url) \
       SELECT i.order_id, i.customer_id, i.product_id, i.quantity, i.amount_vnd, 'pending_payment', i.created_at, i.expires_at, i.payment_url \
       FROM input i JOIN claimed c ON c.order_id = i.order_id \
       JOIN held h ON h.customer_id = i.customer_id AND h.product_id = i.product_id \
       ORDER BY i.n RETURNING id, created_at \
     ), ledger AS ( \
       INSERT INTO order_events (order_id, from_status, to_status, reason, at) \
       SELECT id, NULL, 'pending_payment', 'reserved', created_at FROM created \
     ) \
     SELECT c.order_id IS NOT NULL AS claimed, o.id IS NOT NULL AS created \
     FROM input i LEFT JOIN claimed c ON c.order_id = i.order_id LEFT JOIN created o ON o.id = i.order_id \
     ORDER BY i.n";

/// A statement cannot see what its sibling inserted, so the keys of refused quotas are given back
/// by a second one.
const GIVE_KEYS_BACK: &str = "DELETE FROM idempotency WHERE (customer_id, idempotency_key) IN ( \
       SELECT * FROM UNNEST($1::text[], $2::text[]))";

/// One statement for the batch; `None` when it holds two reservations of one customer for one
/// product, which one upsert of the quota cannot decide apart (the caller writes them one by one).
pub(crate) async fn without_stock(
    tx: &mut Link<Postgres>,
    batch: &[&Reservation],
) -> Result<Option<Vec<Attempt>>, sqlx::Error> {
    let mut pairs = HashSet::new();
    if !batch
        .iter()
        .all(|r| pairs.insert((r.order.customer.as_str(), r.order.product_id.0)))
    {
        return Ok(None);
    }
    let column = |f: fn(&Reservation) -> String| batch.iter().map(|r| f(r)).collect::<Vec<_>>();
    let number = |f: fn(&Reservation) -> i64| batch.iter().map(|r| f(r)).collect::<Vec<_>>();
    let query = sqlx::query(WRITE)
        .bind(batch.iter().map(|r| r.order.id.0).collect::<Vec<Uuid>>())
        .bind(column(|r| r.order.customer.as_str().to_owned()))
        .bind(column(|r| r.idempotency_key.as_str().to_owned()))
        .bind(column(|r| r.request_hash.clone()))
        .bind(
            batch
                .iter()
                .map(|r| i16::try_from(r.answer_status).unwrap_or(i16::MAX))
                .collect::<Vec<_>>(),
        )
        .bind(
            batch
                .iter()
                .map(|r| r.answer_body.clone())
                .collect::<Vec<_>>(),
        )
        .bind(number(|r| r.order.product_id.0))
        .bind(number(|r| r.order.quantity.get()))
        .bind(number(|r| r.order.amount.get()))
        .bind(batch.iter().map(|r| r.order.created_at).collect::<Vec<_>>())
        .bind(batch.iter().map(|r| r.order.expires_at).collect::<Vec<_>>())
        .bind(
            batch
                .iter()
                .map(|r| r.order.payment_url.clone())
                .collect::<Vec<_>>(),
        );
    let rows = fetch_on!(tx, query, fetch_all)?;
    let mut attempts = Vec::with_capacity(batch.len());
    let (mut customers, mut keys) = (Vec::new(), Vec::new());
    for (row, r) in rows.iter().zip(batch) {
        let claimed: bool = row.try_get("claimed")?;
        let created: bool = row.try_get("created")?;
        attempts.push(match (claimed, created) {
            (_, true) => Attempt::Created,
            (false, false) => Attempt::KeyTaken,
            (true, false) => {
                customers.push(r.order.customer.as_str().to_owned());
                keys.push(r.idempotency_key.as_str().to_owned());
                Attempt::Rejected(ReserveOutcome::LimitExceeded)
            }
        });
    }
    if !customers.is_empty() {
        let query = sqlx::query(GIVE_KEYS_BACK).bind(customers).bind(keys);
        fetch_on!(tx, query, execute)?;
    }
    Ok(Some(attempts))
}
