//! The admission gate's fence, PostgreSQL dialect: setting the epoch takes the stock row's lock, so
//! every reservation either committed before the snapshot (and is in it) or is checked against the
//! new epoch after it.

use super::PgStore;
use crate::error::store_error;
use crate::gate_fence::parse_holdings;
use async_trait::async_trait;
use flashgate_core::ports::{GateFence, GateSnapshot};
use flashgate_core::product::SaleWindow;
use flashgate_core::{ProductId, StoreError};
use time::OffsetDateTime;

#[async_trait]
impl GateFence for PgStore {
    async fn fence(
        &self,
        product: ProductId,
        epoch: i64,
    ) -> Result<Option<GateSnapshot>, StoreError> {
        let mut tx = self.pool().begin().await.map_err(store_error)?;
        let available: Option<i64> = sqlx::query_scalar(
            "UPDATE inventory SET gate_epoch = $2 WHERE product_id = $1 RETURNING available",
        )
        .bind(product.0)
        .bind(epoch)
        .fetch_optional(&mut *tx)
        .await
        .map_err(store_error)?;
        let Some(available) = available else {
            return Ok(None);
        };
        let (per_customer_limit, starts_at, ends_at): (
            Option<i64>,
            Option<OffsetDateTime>,
            Option<OffsetDateTime>,
        ) = sqlx::query_as(
            "SELECT per_customer_limit, sale_starts_at, sale_ends_at FROM products WHERE id = $1",
        )
        .bind(product.0)
        .fetch_one(&mut *tx)
        .await
        .map_err(store_error)?;
        // Holdings only change together with the stock row (locked above), so this read agrees
        // with `available`.
        let held: Vec<(String, i64)> = sqlx::query_as(
            "SELECT customer_id, held FROM customer_holdings WHERE product_id = $1 AND held > 0",
        )
        .bind(product.0)
        .fetch_all(&mut *tx)
        .await
        .map_err(store_error)?;
        tx.commit().await.map_err(store_error)?;
        Ok(Some(GateSnapshot {
            product_id: product,
            available,
            per_customer_limit,
            window: SaleWindow { starts_at, ends_at },
            holdings: parse_holdings(held)?,
        }))
    }
}
