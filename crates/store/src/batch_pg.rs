//! PostgreSQL's quick path for a gated batch: the batch's idempotency keys, quotas, orders, ledger
//! rows and units in one statement on its own, whatever the batch's size, so a batch costs one round
//! trip and one commit, and the hot stock row is locked from its update to that commit only. A key
//! already taken refuses its reservation alone; when any other part is refused (a quota reached,
//! the gate fence moved, units missing) the statement undoes itself and the caller decides each
//! reservation alone.

use crate::reservations::Attempt;
use crate::sql::{Link, fetch_on};
use flashgate_core::purchase::GatedReservation;
use sqlx::Row;
use sqlx::postgres::Postgres;
use uuid::Uuid;

/// The reservations in, in the batch's lock order (`n`). The key is claimed first, the quota taken
/// only for a claimed key (one upsert per customer and product, of all their claimed units: one
/// statement cannot change a row twice, and a customer may buy twice in one batch), the order
/// written only where both were taken, and each product's units
/// taken last, fenced to the gate epoch, for all of the product's orders at once: `wanted`
/// aggregates the orders written, so every quota is locked before the stock row, in the one lock
/// order of `reservations`. Out, per reservation, whether its key was claimed; the `CASE` ends the
/// statement with `flashgate_batch_undone()` (an error: nothing stays written) unless every
/// claimed key got its order and every product its units.
const WRITE: &str = "WITH input AS ( \
       SELECT * FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::text[], $5::int2[], $6::bytea[], \
         $7::bigint[], $8::bigint[], $9::bigint[], $10::timestamptz[], $11::timestamptz[], $12::text[], \
         $13::bigint[]) \
       WITH ORDINALITY AS t(order_id, customer_id, idempotency_key, request_hash, response_status, \
         response_body, product_id, quantity, amount_vnd, created_at, expires_at, payment_url, gate_epoch, n) \
     ), claimed AS ( \
       INSERT INTO idempotency (customer_id, idempotency_key, request_hash, order_id, response_status, response_body, created_at) \
       SELECT customer_id, idempotency_key, request_hash, order_id, response_status, response_body, created_at \
       FROM input ORDER BY n \
       ON CONFLICT (customer_id, idempotency_key) DO NOTHING RETURNING order_id \
     ), held AS ( \
       INSERT INTO customer_holdings AS h (customer_id, product_id, held) \
       SELECT i.customer_id, i.product_id, sum(i.quantity)::bigint FROM input i JOIN claimed c ON c.order_id = i.order_id \
       GROUP BY i.customer_id, i.product_id \
       HAVING sum(i.quantity) <= COALESCE((SELECT per_customer_limit FROM products WHERE id = i.product_id), sum(i.quantity)) \
       ORDER BY min(i.n) \
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
     ), wanted AS ( \
       SELECT i.product_id, sum(i.quantity) AS units, min(i.gate_epoch) AS epoch, max(i.gate_epoch) AS newest \
       FROM created o JOIN input i ON i.order_id = o.id GROUP BY i.product_id \
     ), taken AS ( \
       UPDATE inventory v SET available = v.available - w.units, reserved = v.reserved + w.units \
       FROM wanted w \
       WHERE v.product_id = w.product_id AND v.available >= w.units AND v.gate_epoch = w.epoch AND w.newest = w.epoch \
       RETURNING v.product_id \
     ) \
     SELECT c.order_id IS NOT NULL AS claimed \
     FROM input i LEFT JOIN claimed c ON c.order_id = i.order_id \
     WHERE CASE WHEN (SELECT count(*) FROM claimed) = (SELECT count(*) FROM created) \
                 AND (SELECT count(*) FROM wanted) = (SELECT count(*) FROM taken) \
           THEN true ELSE flashgate_batch_undone() END \
     ORDER BY i.n";

/// What `flashgate_batch_undone()` raises.
const UNDONE: &str = "FGB01";

/// The batch in one statement; `None` when it undid itself (a customer's purchases in the batch that
/// together pass their limit are among what undoes it: the careful path decides them one by one).
pub(crate) async fn write(
    conn: &mut Link<Postgres>,
    batch: &[&GatedReservation],
) -> Result<Option<Vec<Attempt>>, sqlx::Error> {
    let rs = || batch.iter().map(|g| &g.reservation);
    let texts = |f: fn(&GatedReservation) -> &str| batch.iter().map(|g| f(g)).collect::<Vec<_>>();
    let numbers = |f: fn(&GatedReservation) -> i64| batch.iter().map(|g| f(g)).collect::<Vec<_>>();
    let query = sqlx::query(WRITE)
        .bind(rs().map(|r| r.order.id.0).collect::<Vec<Uuid>>())
        .bind(texts(|g| g.reservation.order.customer.as_str()))
        .bind(texts(|g| g.reservation.idempotency_key.as_str()))
        .bind(texts(|g| &g.reservation.request_hash))
        .bind(
            rs().map(|r| i16::try_from(r.answer_status).unwrap_or(i16::MAX))
                .collect::<Vec<_>>(),
        )
        .bind(rs().map(|r| r.answer_body.as_slice()).collect::<Vec<_>>())
        .bind(numbers(|g| g.reservation.order.product_id.0))
        .bind(numbers(|g| g.reservation.order.quantity.get()))
        .bind(numbers(|g| g.reservation.order.amount.get()))
        .bind(rs().map(|r| r.order.created_at).collect::<Vec<_>>())
        .bind(rs().map(|r| r.order.expires_at).collect::<Vec<_>>())
        .bind(
            rs().map(|r| r.order.payment_url.as_deref())
                .collect::<Vec<_>>(),
        )
        .bind(numbers(|g| g.gate_epoch));
    // In a block of its own: through a pooler the macro's `?` would return the undoing error
    // from this function.
    let fetched: Result<Vec<_>, sqlx::Error> = async { fetch_on!(conn, query, fetch_all) }.await;
    let rows = match fetched {
        Ok(rows) => rows,
        Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some(UNDONE) => return Ok(None),
        Err(e) => return Err(e),
    };
    rows.iter()
        .map(|row| {
            let claimed: bool = row.try_get("claimed")?;
            Ok(if claimed {
                Attempt::Created
            } else {
                Attempt::KeyTaken
            })
        })
        .collect::<Result<_, _>>()
        .map(Some)
}
