//! The PostgreSQL adapter: production storage. Row locks, `FOR UPDATE SKIP LOCKED` and a deferred foreign
//! key do the concurrency work; the CHECK constraints are the last word on stock.

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
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use std::str::FromStr;
use time::OffsetDateTime;
use uuid::Uuid;

#[derive(Clone)]
pub struct PgStore {
    pool: PgPool,
}

impl PgStore {
    pub async fn connect(url: &str, settings: &PoolSettings) -> Result<Self, OpenError> {
        let options = PgConnectOptions::from_str(url)
            .map_err(OpenError::Connect)?
            .application_name("flashgate");
        let pool = PgPoolOptions::new()
            .max_connections(settings.max_connections)
            .acquire_timeout(settings.acquire_timeout)
            .connect_with(options)
            .await
            .map_err(OpenError::Connect)?;
        Ok(Self { pool })
    }

    pub async fn migrate(&self) -> Result<(), OpenError> {
        sqlx::migrate!("./migrations/postgres")
            .run(&self.pool)
            .await?;
        Ok(())
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

#[async_trait]
impl Auditor for PgStore {
    async fn audit(&self) -> Result<AuditReport, StoreError> {
        crate::audit::run(&self.pool).await
    }
}

#[async_trait]
impl SaleMonitor for PgStore {
    async fn overview(&self) -> Result<flashgate_core::overview::SaleOverview, StoreError> {
        crate::overview::read(&self.pool).await
    }

    fn pools(&self) -> Vec<flashgate_core::overview::PoolStats> {
        vec![crate::overview::pool_stats("main", &self.pool)]
    }
}

#[async_trait]
impl Health for PgStore {
    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(store_error)?;
        Ok(())
    }
}

/// Moves a customer's holding of a product by `delta` units. Taking units is one conditional upsert
/// against the product's limit, so a customer's concurrent requests cannot both pass; giving units back
/// never drops below zero. `false` means the change was refused.
pub(crate) async fn adjust_holding(
    tx: &mut sqlx::PgConnection,
    customer: &CustomerId,
    product: ProductId,
    delta: i64,
) -> Result<bool, sqlx::Error> {
    let sql = if delta > 0 {
        "INSERT INTO customer_holdings AS h (customer_id, product_id, held) \
         SELECT $1, $2, $3 WHERE $3 <= COALESCE((SELECT per_customer_limit FROM products WHERE id = $2), $3) \
         ON CONFLICT (customer_id, product_id) DO UPDATE SET held = h.held + EXCLUDED.held \
         WHERE h.held + EXCLUDED.held <= COALESCE((SELECT per_customer_limit FROM products WHERE id = $2), h.held + EXCLUDED.held)"
    } else {
        "UPDATE customer_holdings SET held = held + $3 WHERE customer_id = $1 AND product_id = $2 AND held + $3 >= 0"
    };
    let done = sqlx::query(sql)
        .bind(customer.as_str())
        .bind(product.0)
        .bind(delta)
        .execute(tx)
        .await?;
    Ok(done.rows_affected() == 1)
}

pub(crate) const ORDER_COLUMNS: &str = "id, customer_id, product_id, quantity, amount_vnd, status, \
     created_at, expires_at, paid_at, payment_url, gateway_transaction_no";

#[derive(sqlx::FromRow)]
pub(crate) struct OrderRow {
    id: Uuid,
    customer_id: String,
    product_id: i64,
    quantity: i64,
    amount_vnd: i64,
    status: String,
    created_at: OffsetDateTime,
    expires_at: OffsetDateTime,
    paid_at: Option<OffsetDateTime>,
    payment_url: Option<String>,
    gateway_transaction_no: Option<i64>,
}

impl TryFrom<OrderRow> for Order {
    type Error = StoreError;

    fn try_from(row: OrderRow) -> Result<Self, Self::Error> {
        Ok(Order {
            id: OrderId(row.id),
            customer: CustomerId::parse(&row.customer_id)
                .map_err(|e| StoreError::Internal(format!("stored customer id: {e}")))?,
            product_id: ProductId(row.product_id),
            quantity: Quantity::from_stored(row.quantity),
            amount: Vnd::from_stored(row.amount_vnd),
            status: OrderStatus::parse(&row.status)
                .ok_or_else(|| StoreError::Internal(format!("stored status {}", row.status)))?,
            created_at: row.created_at,
            expires_at: row.expires_at,
            paid_at: row.paid_at,
            payment_url: row.payment_url,
            gateway_transaction_no: row.gateway_transaction_no,
        })
    }
}
