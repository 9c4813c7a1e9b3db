//! Reading orders.

use crate::SqlStore;
use crate::error::store_error;
use crate::rows::{ORDER_COLUMNS, orders};
use crate::sql::{Dialect, Sql, Value, args};
use async_trait::async_trait;
use flashgate_core::ports::OrderQueries;
use flashgate_core::{CustomerId, Order, OrderId, StoreError};

impl<D: Dialect> SqlStore<D> {
    /// The orders a read selects (`SELECT {ORDER_COLUMNS} FROM orders` followed by `filter`).
    pub(crate) async fn read_orders(
        &self,
        filter: &str,
        args: &[Value<'_>],
    ) -> Result<Vec<Order>, StoreError> {
        let sql = format!("SELECT {ORDER_COLUMNS} FROM orders {filter}");
        let mut conn = self.0.reader().await.map_err(store_error)?;
        let rows = conn.rows(&sql, args).await.map_err(store_error)?;
        orders(&rows).map_err(store_error)
    }
}

#[async_trait]
impl<D: Dialect> OrderQueries for SqlStore<D> {
    async fn get_for(
        &self,
        customer: &CustomerId,
        id: OrderId,
    ) -> Result<Option<Order>, StoreError> {
        let filter = "WHERE id = $1 AND customer_id = $2";
        let found = self
            .read_orders(filter, args![id.0, customer.as_str()])
            .await?;
        Ok(found.into_iter().next())
    }

    async fn list_for(&self, customer: &CustomerId, limit: i64) -> Result<Vec<Order>, StoreError> {
        self.read_orders(
            "WHERE customer_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2",
            args![customer.as_str(), limit],
        )
        .await
    }

    async fn get(&self, id: OrderId) -> Result<Option<Order>, StoreError> {
        Ok(self
            .read_orders("WHERE id = $1", args![id.0])
            .await?
            .into_iter()
            .next())
    }
}
