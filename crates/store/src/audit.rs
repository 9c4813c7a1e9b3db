//! The invariant checks of `flashgate audit`, written once in SQL that PostgreSQL and SQLite both speak
//! (ids cast to text, sums cast to integers), so both backends are held to exactly the same rules.

use crate::error::store_error;
use flashgate_core::audit::{AuditCheck, AuditReport};
use flashgate_core::{OrderStatus, StoreError};
use sqlx::database::HasStatementCache;
use sqlx::{Database, Executor, FromRow, IntoArguments, Pool};

const STOCK_BALANCED: &str = "SELECT product_id, total, available, reserved, sold FROM inventory \
     WHERE total <> available + reserved + sold OR available < 0 OR reserved < 0 OR sold < 0";

const RESERVED_MATCHES_PENDING: &str = "SELECT i.product_id, i.reserved, \
     CAST((SELECT COALESCE(SUM(o.quantity), 0) FROM orders o WHERE o.product_id = i.product_id AND o.status IN ('pending_payment', 'payment_review')) AS BIGINT) \
     FROM inventory i";

const SOLD_MATCHES_PAID: &str = "SELECT i.product_id, i.sold, \
     CAST((SELECT COALESCE(SUM(o.quantity), 0) FROM orders o WHERE o.product_id = i.product_id AND o.status = 'paid') AS BIGINT) \
     FROM inventory i";

/// Live and paid orders per (customer, product), beside the holding row that should equal them.
const HOLDINGS_MATCH_ORDERS: &str = "SELECT o.customer_id, o.product_id, \
     CAST(SUM(o.quantity) AS BIGINT), CAST(COALESCE(MAX(h.held), 0) AS BIGINT) \
     FROM orders o LEFT JOIN customer_holdings h ON h.customer_id = o.customer_id AND h.product_id = o.product_id \
     WHERE o.status IN ('pending_payment', 'payment_review', 'paid') GROUP BY o.customer_id, o.product_id \
     UNION ALL \
     SELECT h.customer_id, h.product_id, CAST(0 AS BIGINT), h.held FROM customer_holdings h \
     WHERE h.held <> 0 AND NOT EXISTS (SELECT 1 FROM orders o WHERE o.customer_id = h.customer_id \
     AND o.product_id = h.product_id AND o.status IN ('pending_payment', 'payment_review', 'paid'))";

const WITHIN_LIMIT: &str = "SELECT h.customer_id, h.product_id, h.held, p.per_customer_limit \
     FROM customer_holdings h JOIN products p ON p.id = h.product_id \
     WHERE p.per_customer_limit IS NOT NULL AND h.held > p.per_customer_limit";

const LEDGER_CHAINED: &str = "SELECT order_id, from_status, to_status, prev FROM ( \
     SELECT CAST(order_id AS TEXT) AS order_id, from_status, to_status, \
     LAG(to_status) OVER (PARTITION BY order_id ORDER BY id) AS prev FROM order_events) e \
     WHERE (prev IS NULL AND (from_status IS NOT NULL OR to_status <> 'pending_payment')) \
     OR (prev IS NOT NULL AND (from_status IS NULL OR from_status <> prev))";

const LEDGER_EDGES: &str =
    "SELECT DISTINCT from_status, to_status FROM order_events WHERE from_status IS NOT NULL";

const LEDGER_ENDS_IN_STATUS: &str = "SELECT CAST(o.id AS TEXT), o.status, e.to_status FROM orders o \
     LEFT JOIN order_events e ON e.id = (SELECT MAX(x.id) FROM order_events x WHERE x.order_id = o.id) \
     WHERE e.to_status IS NULL OR e.to_status <> o.status";

const ONE_KEY_PER_ORDER: &str = "SELECT CAST(o.id AS TEXT) FROM orders o \
     LEFT JOIN idempotency i ON i.order_id = o.id \
     WHERE i.order_id IS NULL OR i.customer_id <> o.customer_id";

const PAID_HAVE_TIME: &str =
    "SELECT CAST(id AS TEXT) FROM orders WHERE status = 'paid' AND paid_at IS NULL";

/// Money is only ever recorded on the word of a verified gateway message: a paid order on one saying
/// it was paid (or, accepted by an operator, on one saying money may have moved); an order under
/// review, or being refunded, on one saying at least that money may have moved.
const PAID_HAVE_VERIFIED_PAYMENT: &str = "SELECT CAST(o.id AS TEXT) FROM orders o \
     WHERE (o.status = 'paid' AND NOT EXISTS (SELECT 1 FROM payment_events e \
       WHERE e.order_id = o.id AND e.verified AND e.outcome = 'paid') \
       AND NOT (EXISTS (SELECT 1 FROM order_events x WHERE x.order_id = o.id AND x.reason = 'operator_accepted') \
         AND EXISTS (SELECT 1 FROM payment_events e WHERE e.order_id = o.id AND e.verified AND e.outcome = 'review'))) \
     OR (o.status IN ('payment_review', 'payment_review_released', 'refund_pending', 'refund_failed', 'refunded') AND NOT EXISTS ( \
       SELECT 1 FROM payment_events e WHERE e.order_id = o.id AND e.verified AND e.outcome IN ('paid', 'review')))";

/// A refunded order: on a refund the gateway accepted, or, after the gateway refused it too often, on
/// an operator's record of a refund made by other means (`flashgate_core::order::REFUNDED_ELSEWHERE`).
const REFUNDED_HAVE_ACCEPTED_REFUND: &str = "SELECT CAST(o.id AS TEXT) FROM orders o \
     WHERE o.status = 'refunded' AND NOT EXISTS ( \
     SELECT 1 FROM payment_events e WHERE e.order_id = o.id AND ((e.source = 'refund' AND e.outcome = 'accepted') \
       OR (e.source = 'querydr' AND e.outcome = 'refund_under_way' AND e.verified))) \
     AND NOT EXISTS (SELECT 1 FROM order_events x WHERE x.order_id = o.id AND x.from_status = 'refund_failed' \
       AND x.to_status = 'refunded' AND x.reason LIKE 'operator_refunded_elsewhere: %')";

/// The checks that list the orders breaking them: name, description, query and what is wrong with
/// each order found.
const ORDER_CHECKS: [(&str, &str, &str, &str); 4] = [
    (
        "one_order_per_idempotency_key",
        "every order was created under exactly one of its customer's idempotency keys",
        ONE_KEY_PER_ORDER,
        "has no idempotency record of its customer",
    ),
    (
        "paid_orders_have_paid_at",
        "every paid order records when it was paid",
        PAID_HAVE_TIME,
        "is paid without paid_at",
    ),
    (
        "paid_on_verified_word",
        "every paid, refunding or refunded order has a verified gateway message saying it was paid",
        PAID_HAVE_VERIFIED_PAYMENT,
        "counts as paid without a verified payment",
    ),
    (
        "refunded_on_accepted_refund",
        "every refunded order has a refund the gateway accepted (or showed under way), or one an operator made outside it",
        REFUNDED_HAVE_ACCEPTED_REFUND,
        "is refunded without an accepted refund",
    ),
];

const COUNTS: &str = "SELECT CAST((SELECT COUNT(*) FROM products) AS BIGINT), \
     CAST((SELECT COUNT(*) FROM orders) AS BIGINT)";

/// One read of the audit or the overview, in their read transaction. Unnamed, as these few reads
/// run seldom and must also travel through a transaction pooler (see `sql::Link`).
pub(crate) async fn rows<DB, T>(
    conn: &mut DB::Connection,
    sql: &'static str,
) -> Result<Vec<T>, StoreError>
where
    DB: Database + HasStatementCache,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> <DB as Database>::Arguments<'q>: IntoArguments<'q, DB>,
    T: for<'r> FromRow<'r, DB::Row> + Send + Unpin,
{
    sqlx::query_as::<DB, T>(sql)
        .persistent(false)
        .fetch_all(conn)
        .await
        .map_err(store_error)
}

pub(crate) async fn run<DB>(pool: &Pool<DB>) -> Result<AuditReport, StoreError>
where
    DB: Database + HasStatementCache,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> <DB as Database>::Arguments<'q>: IntoArguments<'q, DB>,
    (i64, i64, i64, i64, i64): for<'r> FromRow<'r, DB::Row>,
    (i64, i64, i64): for<'r> FromRow<'r, DB::Row>,
    (i64, i64): for<'r> FromRow<'r, DB::Row>,
    (String, i64, i64, i64): for<'r> FromRow<'r, DB::Row>,
    (String, Option<String>, String, Option<String>): for<'r> FromRow<'r, DB::Row>,
    (String, String): for<'r> FromRow<'r, DB::Row>,
    (String, String, Option<String>): for<'r> FromRow<'r, DB::Row>,
    (String,): for<'r> FromRow<'r, DB::Row>,
{
    let mut tx = pool.begin().await.map_err(store_error)?;
    let conn = &mut *tx;
    let mut checks = Vec::new();

    let unbalanced: Vec<(i64, i64, i64, i64, i64)> = rows::<DB, _>(conn, STOCK_BALANCED).await?;
    checks.push(AuditCheck {
        name: "stock_balanced",
        description: "total = available + reserved + sold, every term >= 0",
        violations: unbalanced
            .into_iter()
            .map(|(p, t, a, r, s)| {
                format!("product {p}: total {t}, available {a}, reserved {r}, sold {s}")
            })
            .collect(),
    });

    for (name, description, sql, kind) in [
        (
            "reserved_matches_pending",
            "reserved = units of pending_payment and payment_review orders",
            RESERVED_MATCHES_PENDING,
            "reserved",
        ),
        (
            "sold_matches_paid",
            "sold = units of paid orders",
            SOLD_MATCHES_PAID,
            "sold",
        ),
    ] {
        let found: Vec<(i64, i64, i64)> = rows::<DB, _>(conn, sql).await?;
        checks.push(AuditCheck {
            name,
            description,
            violations: found
                .into_iter()
                .filter(|(_, counter, orders)| counter != orders)
                .map(|(p, counter, orders)| {
                    format!("product {p}: {kind} {counter}, orders hold {orders}")
                })
                .collect(),
        });
    }

    let holdings: Vec<(String, i64, i64, i64)> = rows::<DB, _>(conn, HOLDINGS_MATCH_ORDERS).await?;
    checks.push(AuditCheck {
        name: "holdings_match_orders",
        description: "each customer's holding of a product = units of their live and paid orders",
        violations: holdings
            .into_iter()
            .filter(|(_, _, orders, held)| orders != held)
            .map(|(c, p, orders, held)| {
                format!("customer {c}, product {p}: held {held}, orders hold {orders}")
            })
            .collect(),
    });

    let over: Vec<(String, i64, i64, i64)> = rows::<DB, _>(conn, WITHIN_LIMIT).await?;
    checks.push(AuditCheck {
        name: "within_customer_limit",
        description: "no customer holds more than the product's per_customer_limit",
        violations: over
            .into_iter()
            .map(|(c, p, held, limit)| {
                format!("customer {c}, product {p}: holds {held}, limit {limit}")
            })
            .collect(),
    });

    let broken: Vec<(String, Option<String>, String, Option<String>)> =
        rows::<DB, _>(conn, LEDGER_CHAINED).await?;
    let edges: Vec<(String, String)> = rows::<DB, _>(conn, LEDGER_EDGES).await?;
    let mut ledger: Vec<String> = broken
        .into_iter()
        .map(|(o, from, to, prev)| {
            format!(
                "order {o}: event {} -> {to} follows {}",
                from.as_deref().unwrap_or("(none)"),
                prev.as_deref().unwrap_or("(start)")
            )
        })
        .collect();
    ledger.extend(
        edges
            .into_iter()
            .filter(|(from, to)| !is_edge(from, to))
            .map(|(from, to)| format!("illegal transition {from} -> {to} in the ledger")),
    );
    checks.push(AuditCheck {
        name: "ledger_follows_state_machine",
        description: "every order's events start at pending_payment and follow the state machine's edges",
        violations: ledger,
    });

    let mismatched: Vec<(String, String, Option<String>)> =
        rows::<DB, _>(conn, LEDGER_ENDS_IN_STATUS).await?;
    checks.push(AuditCheck {
        name: "ledger_ends_in_status",
        description: "every order's last event leads to its current status",
        violations: mismatched
            .into_iter()
            .map(|(o, status, last)| {
                format!(
                    "order {o}: status {status}, last event {}",
                    last.as_deref().unwrap_or("(none)")
                )
            })
            .collect(),
    });

    for (name, description, sql, wrong) in ORDER_CHECKS {
        let found: Vec<(String,)> = rows::<DB, _>(conn, sql).await?;
        checks.push(AuditCheck {
            name,
            description,
            violations: found
                .into_iter()
                .map(|(o,)| format!("order {o} {wrong}"))
                .collect(),
        });
    }

    let counts: Vec<(i64, i64)> = rows::<DB, _>(conn, COUNTS).await?;
    let (products, orders) = counts.first().copied().unwrap_or_default();
    tx.commit().await.map_err(store_error)?;
    Ok(AuditReport {
        checks,
        products,
        orders,
    })
}

fn is_edge(from: &str, to: &str) -> bool {
    match (OrderStatus::parse(from), OrderStatus::parse(to)) {
        (Some(from), Some(to)) => from.transition_to(to).is_some(),
        _ => false,
    }
}
