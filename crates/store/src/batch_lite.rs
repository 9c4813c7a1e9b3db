//! SQLite's quick path for a gated batch: the batch goes in as one JSON array that `json_each` reads,
//! and each table takes one statement whatever the batch's size (keys, quotas, orders, ledger rows,
//! the keys of refused quotas given back, each product's units), instead of four per reservation,
//! each a hop to the database's thread. SQLite has no data-modifying CTEs, so the statements run one
//! after another in the write transaction, each told by the one before which reservations are still
//! standing. Each reservation is still decided alone: a key already taken, a limit reached or a
//! stale gate epoch refuses that one and no other.

use crate::batch::{epochs, fenced};
use crate::reservations::Attempt;
use crate::sql::{Dialect, Fields, Finish, Link, Sql, args};
use crate::sqlite::Lite;
use flashgate_core::purchase::{GatedReservation, Reservation, ReserveOutcome};
use serde_json::{Value as Json, json};
use sqlx::sqlite::Sqlite;
use std::collections::BTreeMap;
use std::collections::{HashMap, HashSet};
use uuid::Uuid;

// Columns of one reservation in the input array, by position:
// 0 order id, 1 customer, 2 idempotency key, 3 request hash, 4 answer status, 5 answer body (hex),
// 6 product, 7 quantity, 8 amount, 9 created at (µs), 10 expires at (µs), 11 payment link.

/// `WHERE true`: SQLite's documented way to keep an upsert's `ON` from reading as a join's.
const CLAIM: &str = "INSERT INTO idempotency (customer_id, idempotency_key, request_hash, order_id, response_status, response_body, created_at) \
     SELECT value ->> 1, value ->> 2, value ->> 3, value ->> 0, value ->> 4, unhex(value ->> 5), value ->> 9 \
     FROM json_each($1) WHERE true \
     ON CONFLICT (customer_id, idempotency_key) DO NOTHING RETURNING order_id";

/// The quotas of the reservations whose keys were claimed (their positions in `$2`).
const HOLD: &str = "INSERT INTO customer_holdings AS h (customer_id, product_id, held) \
     SELECT value ->> 1, value ->> 6, value ->> 7 FROM json_each($1) \
     WHERE key IN (SELECT value FROM json_each($2)) \
       AND value ->> 7 <= COALESCE((SELECT per_customer_limit FROM products WHERE id = value ->> 6), value ->> 7) \
     ON CONFLICT (customer_id, product_id) DO UPDATE SET held = h.held + excluded.held \
     WHERE h.held + excluded.held <= COALESCE((SELECT per_customer_limit FROM products WHERE id = h.product_id), h.held + excluded.held) \
     RETURNING customer_id, product_id";

/// The orders of the reservations holding both their key and their quota (positions in `$2`).
const ORDERS: &str = "INSERT INTO orders (id, customer_id, product_id, quantity, amount_vnd, status, created_at, expires_at, payment_url) \
     SELECT value ->> 0, value ->> 1, value ->> 6, value ->> 7, value ->> 8, 'pending_payment', value ->> 9, value ->> 10, value ->> 11 \
     FROM json_each($1) WHERE key IN (SELECT value FROM json_each($2))";

const LEDGER: &str = "INSERT INTO order_events (order_id, from_status, to_status, reason, at) \
     SELECT value ->> 0, NULL, 'pending_payment', 'reserved', value ->> 9 \
     FROM json_each($1) WHERE key IN (SELECT value FROM json_each($2))";

/// The keys of refused quotas (their order ids in `$1`), which no order will follow.
const GIVE_KEYS_BACK: &str =
    "DELETE FROM idempotency WHERE order_id IN (SELECT value FROM json_each($1))";

/// The batch, in the lock order; `None` (nothing written) when a product lacks the units, or when
/// a customer buys one product twice in it: the quotas' upsert answers by (customer, product), which
/// cannot tell which of the two a limit refused.
pub(crate) async fn write(
    db: &Lite,
    batch: &[&GatedReservation],
    products: &[i64],
) -> Result<Option<Vec<Attempt>>, sqlx::Error> {
    let mut pairs = HashSet::new();
    if !batch.iter().all(|g| {
        let o = &g.reservation.order;
        pairs.insert((o.customer.as_str(), o.product_id.0))
    }) {
        return Ok(None);
    }
    let mut tx = db.begin().await?;
    // Read in the write transaction: SQLite's one writer keeps the fence where it was read.
    let epochs = epochs::<Lite>(&mut tx, products, "").await?;
    let mut attempts: Vec<Option<Attempt>> = batch.iter().map(|g| fenced(&epochs, g)).collect();
    let standing: Vec<usize> = (0..batch.len())
        .filter(|&i| attempts[i].is_none())
        .collect();
    let reservations: Vec<&Reservation> = standing.iter().map(|&i| &batch[i].reservation).collect();
    let written = without_stock(&mut tx, &reservations).await?;
    // product -> (epoch, units)
    let mut takes: BTreeMap<i64, (i64, i64)> = BTreeMap::new();
    for (i, attempt) in standing.into_iter().zip(written) {
        let g = batch[i];
        if attempt == Attempt::Created {
            let order = &g.reservation.order;
            let take = takes.entry(order.product_id.0).or_insert((g.gate_epoch, 0));
            take.1 += order.quantity.get();
        }
        attempts[i] = Some(attempt);
    }
    for (product, (epoch, units)) in takes {
        let taken = tx
            .exec(
                "UPDATE inventory SET available = available - $2, reserved = reserved + $2 \
                 WHERE product_id = $1 AND available >= $2 AND gate_epoch = $3",
                args![product, units, epoch],
            )
            .await?;
        if taken == 0 {
            tx.rollback().await?;
            return Ok(None);
        }
    }
    tx.commit().await?;
    Ok(attempts.into_iter().collect())
}

/// Keys, quotas, orders and ledger rows in a fixed number of statements.
async fn without_stock(
    tx: &mut Link<Sqlite>,
    batch: &[&Reservation],
) -> Result<Vec<Attempt>, sqlx::Error> {
    if batch.is_empty() {
        return Ok(Vec::new());
    }
    let input = Json::Array(batch.iter().map(|r| row(r)).collect()).to_string();
    let input = input.as_str();

    let claimed = tx
        .rows(CLAIM, args![input])
        .await?
        .iter()
        .map(|row| row.id("order_id"))
        .collect::<Result<HashSet<Uuid>, _>>()?;
    let claimed: Vec<usize> = (0..batch.len())
        .filter(|&i| claimed.contains(&batch[i].order.id.0))
        .collect();

    let positions = json!(claimed).to_string();
    let held = tx
        .rows(HOLD, args![input, positions.as_str()])
        .await?
        .iter()
        .map(|row| Ok((row.text("customer_id")?, row.int("product_id")?)))
        .collect::<Result<HashSet<(String, i64)>, sqlx::Error>>()?;
    let at: HashMap<(&str, i64), usize> = claimed
        .iter()
        .map(|&i| {
            let o = &batch[i].order;
            ((o.customer.as_str(), o.product_id.0), i)
        })
        .collect();
    let created: HashSet<usize> = held
        .iter()
        .filter_map(|(customer, product)| at.get(&(customer.as_str(), *product)).copied())
        .collect();

    let mut attempts = vec![Attempt::KeyTaken; batch.len()];
    let (mut written, mut refused) = (Vec::new(), Vec::new());
    for &i in &claimed {
        if created.contains(&i) {
            attempts[i] = Attempt::Created;
            written.push(i);
        } else {
            attempts[i] = Attempt::Rejected(ReserveOutcome::LimitExceeded);
            refused.push(batch[i].order.id.0.to_string());
        }
    }
    if !written.is_empty() {
        let positions = json!(written).to_string();
        for sql in [ORDERS, LEDGER] {
            tx.exec(sql, args![input, positions.as_str()]).await?;
        }
    }
    if !refused.is_empty() {
        let ids = json!(refused).to_string();
        tx.exec(GIVE_KEYS_BACK, args![ids.as_str()]).await?;
    }
    Ok(attempts)
}

/// One reservation as the statements read it, stored as `sqlite`'s binds store it (ids as text,
/// times as microseconds).
fn row(r: &Reservation) -> Json {
    let o = &r.order;
    json!([
        o.id.0.to_string(),
        o.customer.as_str(),
        r.idempotency_key.as_str(),
        r.request_hash,
        r.answer_status,
        hex::encode(&r.answer_body),
        o.product_id.0,
        o.quantity.get(),
        o.amount.get(),
        crate::sqlite::micros(o.created_at),
        crate::sqlite::micros(o.expires_at),
        o.payment_url,
    ])
}
