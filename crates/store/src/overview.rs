//! The sale overview, at a cost that does not grow with the shop's history: per-product and
//! per-status counts kept by folding the ledger rows written since the last fold, beside the stock
//! rows (one per product). One instance folds at a time (the fold row's lock); the others find the
//! figures fresh, or wait out the fold and read what it wrote.

use crate::error::{is_serialization_failure, store_error};
use crate::sql::{Dialect, Fields, Finish, Sql, args};
use flashgate_core::overview::{PoolStats, ProductStock, SaleOverview};
use flashgate_core::{OrderStatus, ProductId, StoreError};
use sqlx::{Database, Pool};
use std::time::Duration;
use time::OffsetDateTime;

const STOCK: &str = "SELECT p.id, p.sku, p.name, i.total, i.available, i.reserved, i.sold \
     FROM products p JOIN inventory i ON i.product_id = p.id ORDER BY p.id";
const COUNTS: &str =
    "SELECT product_id, status, orders, units FROM monitor_orders WHERE orders <> 0";
const SETTLEMENTS: &str = "SELECT reason, orders FROM monitor_settlements";

const FOLD_STATE: &str = "SELECT position, folded_at FROM monitor_fold WHERE id = 1";
const FOLD_DONE: &str = "UPDATE monitor_fold SET position = $1, folded_at = $2 WHERE id = 1";

/// Starting over from the orders themselves: the first fold, or one an operator asked for by
/// clearing `monitor_fold.position`.
const REBUILD: [&str; 4] = [
    "DELETE FROM monitor_orders",
    "DELETE FROM monitor_settlements",
    "INSERT INTO monitor_orders (product_id, status, orders, units) \
     SELECT product_id, status, CAST(COUNT(*) AS BIGINT), CAST(SUM(quantity) AS BIGINT) \
     FROM orders GROUP BY product_id, status",
    "INSERT INTO monitor_settlements (reason, orders) \
     SELECT reason, CAST(COUNT(*) AS BIGINT) FROM order_events WHERE to_status = 'paid' GROUP BY reason",
];

/// Each ledger row moves its order (and its units) out of one status and into another. `{since}`
/// selects the rows `e` written after the position bound as `$1`. (`WHERE true` keeps SQLite from
/// reading `ON CONFLICT` as part of the select.)
const FOLD_ORDERS: &str = "WITH new AS ( \
       SELECT o.product_id, e.from_status, e.to_status, o.quantity \
       FROM order_events e JOIN orders o ON o.id = e.order_id WHERE {since} \
     ), moves AS ( \
       SELECT product_id, to_status AS status, 1 AS n, quantity AS u FROM new \
       UNION ALL \
       SELECT product_id, from_status, -1, -quantity FROM new WHERE from_status IS NOT NULL \
     ) \
     INSERT INTO monitor_orders (product_id, status, orders, units) \
     SELECT product_id, status, CAST(SUM(n) AS BIGINT), CAST(SUM(u) AS BIGINT) FROM moves \
     WHERE true GROUP BY product_id, status \
     ON CONFLICT (product_id, status) DO UPDATE SET orders = monitor_orders.orders + excluded.orders, \
       units = monitor_orders.units + excluded.units";
const FOLD_SETTLEMENTS: &str = "INSERT INTO monitor_settlements (reason, orders) \
     SELECT e.reason, CAST(COUNT(*) AS BIGINT) FROM order_events e \
     WHERE {since} AND e.to_status = 'paid' GROUP BY e.reason \
     ON CONFLICT (reason) DO UPDATE SET orders = monitor_settlements.orders + excluded.orders";

/// The overview with figures folded no longer than `fresh_for` before `now`.
pub(crate) async fn read<D: Dialect>(
    db: &D,
    now: OffsetDateTime,
    fresh_for: Duration,
) -> Result<SaleOverview, StoreError> {
    match fold(db, now, fresh_for).await {
        // Another instance folded while this one waited for the fold row: its figures are as fresh.
        Err(error) if is_serialization_failure(&error) => {}
        folded => folded.map_err(store_error)?,
    }
    let mut conn = db.reader().await.map_err(store_error)?;
    let stock = conn.rows(STOCK, args![]).await.map_err(store_error)?;
    let counts = conn.rows(COUNTS, args![]).await.map_err(store_error)?;
    let settlements = conn.rows(SETTLEMENTS, args![]).await.map_err(store_error)?;
    let products = stock
        .iter()
        .map(|row| {
            Ok(ProductStock {
                id: ProductId(row.int("id")?),
                sku: row.text("sku")?,
                name: row.text("name")?,
                total: row.int("total")?,
                available: row.int("available")?,
                reserved: row.int("reserved")?,
                sold: row.int("sold")?,
                held: 0,
            })
        })
        .collect::<Result<Vec<_>, sqlx::Error>>()
        .map_err(store_error)?;
    let groups = counts
        .iter()
        .map(|row| {
            let status = row.text("status").map_err(store_error)?;
            let status = OrderStatus::parse(&status)
                .ok_or_else(|| StoreError::internal(format!("unknown order status {status}")))?;
            let figure = |column| row.int(column).map_err(store_error);
            Ok((
                ProductId(figure("product_id")?),
                status,
                figure("orders")?,
                figure("units")?,
            ))
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    let reasons = settlements
        .iter()
        .map(|row| Ok((row.text("reason")?, row.int("orders")?)))
        .collect::<Result<Vec<_>, sqlx::Error>>()
        .map_err(store_error)?;
    Ok(SaleOverview::from_rows(products, &groups, &reasons))
}

/// Brings the counts up to the ledger's present, unless a fold within `fresh_for` already did.
async fn fold<D: Dialect>(
    db: &D,
    now: OffsetDateTime,
    fresh_for: Duration,
) -> Result<(), sqlx::Error> {
    let mut tx = db.begin().await?;
    if let Some(snapshot) = D::ONE_SNAPSHOT {
        tx.exec(snapshot, args![]).await?;
    }
    let state = tx
        .row(&format!("{FOLD_STATE}{}", D::LOCK), args![])
        .await?
        .ok_or_else(|| sqlx::Error::RowNotFound)?;
    let folded_at = state.opt_time("folded_at")?;
    if folded_at.is_some_and(|at| at > now - fresh_for) {
        return tx.commit().await;
    }
    match state.opt_text("position")? {
        None => {
            for statement in REBUILD {
                tx.exec(statement, args![]).await?;
            }
        }
        Some(position) => {
            for statement in [FOLD_ORDERS, FOLD_SETTLEMENTS] {
                let sql = statement.replace("{since}", D::LEDGER_SINCE);
                tx.exec(&sql, args![position.as_str()]).await?;
            }
        }
    }
    let position = tx
        .row(D::LEDGER_POSITION, args![])
        .await?
        .ok_or_else(|| sqlx::Error::RowNotFound)?
        .text("position")?;
    tx.exec(FOLD_DONE, args![position.as_str(), now]).await?;
    tx.commit().await
}

pub(crate) fn pool_stats<DB: Database>(name: &'static str, pool: &Pool<DB>) -> PoolStats {
    PoolStats {
        pool: name,
        max: pool.options().get_max_connections(),
        size: pool.size(),
        idle: u32::try_from(pool.num_idle()).unwrap_or(u32::MAX),
    }
}
