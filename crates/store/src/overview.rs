//! The sale overview's three aggregate reads, written once in SQL that PostgreSQL and SQLite both
//! speak, and the pools' occupancy.

use crate::audit::rows;
use crate::error::store_error;
use flashgate_core::overview::{PoolStats, ProductStock, SaleOverview};
use flashgate_core::{OrderStatus, ProductId, StoreError};
use sqlx::database::HasStatementCache;
use sqlx::{Database, Executor, FromRow, IntoArguments, Pool};

const STOCK: &str = "SELECT p.id, p.sku, p.name, i.total, i.available, i.reserved, i.sold \
     FROM products p JOIN inventory i ON i.product_id = p.id ORDER BY p.id";

/// One pass over the orders for both the status counts and the units each product's orders hold.
const ORDER_GROUPS: &str = "SELECT product_id, status, CAST(COUNT(*) AS BIGINT), \
     CAST(SUM(quantity) AS BIGINT) FROM orders GROUP BY product_id, status";

const PAID_REASONS: &str = "SELECT reason, CAST(COUNT(*) AS BIGINT) FROM order_events \
     WHERE to_status = 'paid' GROUP BY reason";

type StockRow = (i64, String, String, i64, i64, i64, i64);

pub(crate) async fn read<DB>(pool: &Pool<DB>) -> Result<SaleOverview, StoreError>
where
    DB: Database + HasStatementCache,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> <DB as Database>::Arguments<'q>: IntoArguments<'q, DB>,
    StockRow: for<'r> FromRow<'r, DB::Row>,
    (i64, String, i64, i64): for<'r> FromRow<'r, DB::Row>,
    (String, i64): for<'r> FromRow<'r, DB::Row>,
{
    let mut tx = pool.begin().await.map_err(store_error)?;
    let stock: Vec<StockRow> = rows::<DB, _>(&mut tx, STOCK).await?;
    let groups: Vec<(i64, String, i64, i64)> = rows::<DB, _>(&mut tx, ORDER_GROUPS).await?;
    let reasons: Vec<(String, i64)> = rows::<DB, _>(&mut tx, PAID_REASONS).await?;
    tx.commit().await.map_err(store_error)?;
    let products = stock
        .into_iter()
        .map(
            |(id, sku, name, total, available, reserved, sold)| ProductStock {
                id: ProductId(id),
                sku,
                name,
                total,
                available,
                reserved,
                sold,
                held: 0,
            },
        )
        .collect();
    let groups = groups
        .into_iter()
        .map(|(product, status, orders, units)| {
            OrderStatus::parse(&status)
                .map(|status| (ProductId(product), status, orders, units))
                .ok_or_else(|| StoreError::internal(format!("unknown order status {status}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(SaleOverview::from_rows(products, &groups, &reasons))
}

pub(crate) fn pool_stats<DB: Database>(name: &'static str, pool: &Pool<DB>) -> PoolStats {
    PoolStats {
        pool: name,
        max: pool.options().get_max_connections(),
        size: pool.size(),
        idle: u32::try_from(pool.num_idle()).unwrap_or(u32::MAX),
    }
}
