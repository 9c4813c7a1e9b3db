//! The SQLite adapter: the embedded default, one file, no server. SQLite has one writer at a time, so
//! writes go through a single-connection pool (they queue in the pool, bounded by its acquire timeout,
//! instead of spinning on SQLITE_BUSY) while reads use a pool of their own. WAL lets reads proceed
//! during writes.

mod catalog;
mod gate_fence;
mod orders;
mod payments;
mod reservations;
mod sessions;
mod transitions;

use crate::PoolSettings;
use crate::error::{OpenError, store_error};
use async_trait::async_trait;
use flashgate_core::audit::AuditReport;
use flashgate_core::ports::{Auditor, Health, SaleMonitor};
use flashgate_core::{
    CustomerId, Order, OrderId, OrderStatus, ProductId, Quantity, StoreError, Vnd,
};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use std::str::FromStr;
use std::time::Duration;
use time::OffsetDateTime;
use uuid::Uuid;

#[derive(Clone)]
pub struct SqliteStore {
    writer: SqlitePool,
    reader: SqlitePool,
}

impl SqliteStore {
    pub async fn connect(url: &str, settings: &PoolSettings) -> Result<Self, OpenError> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(OpenError::Connect)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // NORMAL under WAL loses at most the last transactions on power loss, never consistency.
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(5))
            .foreign_keys(true);
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(settings.acquire_timeout)
            .connect_with(options.clone())
            .await
            .map_err(OpenError::Connect)?;
        let reader = SqlitePoolOptions::new()
            .max_connections(settings.max_connections.max(1))
            .acquire_timeout(settings.acquire_timeout)
            .connect_with(options.read_only(true))
            .await
            .map_err(OpenError::Connect)?;
        Ok(Self { writer, reader })
    }

    pub async fn migrate(&self) -> Result<(), OpenError> {
        sqlx::migrate!("./migrations/sqlite")
            .run(&self.writer)
            .await?;
        Ok(())
    }

    pub fn writer(&self) -> &SqlitePool {
        &self.writer
    }

    pub fn reader(&self) -> &SqlitePool {
        &self.reader
    }
}

#[async_trait]
impl Auditor for SqliteStore {
    async fn audit(&self) -> Result<AuditReport, StoreError> {
        crate::audit::run(&self.reader).await
    }
}

#[async_trait]
impl SaleMonitor for SqliteStore {
    async fn overview(&self) -> Result<flashgate_core::overview::SaleOverview, StoreError> {
        crate::overview::read(&self.reader).await
    }

    fn pools(&self) -> Vec<flashgate_core::overview::PoolStats> {
        vec![
            crate::overview::pool_stats("writer", &self.writer),
            crate::overview::pool_stats("reader", &self.reader),
        ]
    }
}

#[async_trait]
impl Health for SqliteStore {
    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(&self.reader)
            .await
            .map_err(store_error)?;
        Ok(())
    }
}

/// Times are stored as integer microseconds since the Unix epoch, UTC.
pub(crate) fn micros(at: OffsetDateTime) -> i64 {
    i64::try_from(at.unix_timestamp_nanos() / 1_000).unwrap_or(i64::MAX)
}

pub(crate) fn from_micros(value: i64) -> Result<OffsetDateTime, StoreError> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(value) * 1_000)
        .map_err(|e| StoreError::Internal(format!("stored time {value}: {e}")))
}

/// Moves a customer's holding of a product by `delta` units; see the PostgreSQL twin for the rules.
pub(crate) async fn adjust_holding(
    conn: &mut sqlx::SqliteConnection,
    customer: &CustomerId,
    product: ProductId,
    delta: i64,
) -> Result<bool, sqlx::Error> {
    let sql = if delta > 0 {
        "INSERT INTO customer_holdings AS h (customer_id, product_id, held) \
         SELECT ?1, ?2, ?3 WHERE ?3 <= COALESCE((SELECT per_customer_limit FROM products WHERE id = ?2), ?3) \
         ON CONFLICT (customer_id, product_id) DO UPDATE SET held = h.held + excluded.held \
         WHERE h.held + excluded.held <= COALESCE((SELECT per_customer_limit FROM products WHERE id = ?2), h.held + excluded.held)"
    } else {
        "UPDATE customer_holdings SET held = held + ?3 WHERE customer_id = ?1 AND product_id = ?2 AND held + ?3 >= 0"
    };
    let done = sqlx::query(sql)
        .bind(customer.as_str())
        .bind(product.0)
        .bind(delta)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

pub(crate) const ORDER_COLUMNS: &str = "id, customer_id, product_id, quantity, amount_vnd, status, \
     created_at, expires_at, paid_at, payment_url, gateway_transaction_no";

#[derive(sqlx::FromRow)]
pub(crate) struct OrderRow {
    id: String,
    customer_id: String,
    product_id: i64,
    quantity: i64,
    amount_vnd: i64,
    status: String,
    created_at: i64,
    expires_at: i64,
    paid_at: Option<i64>,
    payment_url: Option<String>,
    gateway_transaction_no: Option<i64>,
}

impl TryFrom<OrderRow> for Order {
    type Error = StoreError;

    fn try_from(row: OrderRow) -> Result<Self, Self::Error> {
        Ok(Order {
            id: OrderId(
                Uuid::try_parse(&row.id)
                    .map_err(|e| StoreError::Internal(format!("stored order id: {e}")))?,
            ),
            customer: CustomerId::parse(&row.customer_id)
                .map_err(|e| StoreError::Internal(format!("stored customer id: {e}")))?,
            product_id: ProductId(row.product_id),
            quantity: Quantity::from_stored(row.quantity),
            amount: Vnd::from_stored(row.amount_vnd),
            status: OrderStatus::parse(&row.status)
                .ok_or_else(|| StoreError::Internal(format!("stored status {}", row.status)))?,
            created_at: from_micros(row.created_at)?,
            expires_at: from_micros(row.expires_at)?,
            paid_at: row.paid_at.map(from_micros).transpose()?,
            payment_url: row.payment_url,
            gateway_transaction_no: row.gateway_transaction_no,
        })
    }
}
