//! The admission gate's fence: setting the epoch takes the stock row's lock (on SQLite, the write
//! lock), so every reservation either committed before the snapshot (and is in it) or is checked
//! against the new epoch after it.

use crate::SqlStore;
use crate::error::store_error;
use crate::rows::{customer, window};
use crate::sql::{Dialect, Fields, Finish, Sql, args};
use async_trait::async_trait;
use flashgate_core::ports::{GateFence, GateSnapshot};
use flashgate_core::{CustomerId, IdempotencyKey, ProductId, StoreError};
use std::collections::HashMap;

#[async_trait]
impl<D: Dialect> GateFence for SqlStore<D> {
    async fn fence(
        &self,
        product: ProductId,
        epoch: i64,
    ) -> Result<Option<GateSnapshot>, StoreError> {
        let mut tx = self.0.begin().await.map_err(store_error)?;
        let snapshot = snapshot::<D>(&mut tx, product, epoch)
            .await
            .map_err(store_error)?;
        if snapshot.is_some() {
            tx.commit().await.map_err(store_error)?;
        }
        Ok(snapshot)
    }

    async fn held(
        &self,
        product: ProductId,
        customers: &[CustomerId],
    ) -> Result<Vec<i64>, StoreError> {
        let names: Vec<&str> = customers.iter().map(CustomerId::as_str).collect();
        let sql = format!(
            "SELECT customer_id, held FROM customer_holdings WHERE {} AND product_id = $2",
            D::one_of("customer_id")
        );
        let mut conn = self.0.reader().await.map_err(store_error)?;
        let rows = conn
            .rows(&sql, args![names.as_slice(), product.0])
            .await
            .map_err(store_error)?;
        let mut held = HashMap::with_capacity(rows.len());
        for row in &rows {
            let customer = row.text("customer_id").map_err(store_error)?;
            held.insert(customer, row.int("held").map_err(store_error)?);
        }
        // A customer without a row holds nothing.
        Ok(names
            .iter()
            .map(|name| held.get(*name).copied().unwrap_or(0))
            .collect())
    }

    async fn stored_keys(
        &self,
        customers: &[CustomerId],
        at_most: usize,
    ) -> Result<Vec<Option<Vec<IdempotencyKey>>>, StoreError> {
        self.stored_per_customer(customers, at_most, "", |key, _| Ok(key))
            .await
    }
}

async fn snapshot<D: Dialect>(
    tx: &mut D::Conn,
    product: ProductId,
    epoch: i64,
) -> Result<Option<GateSnapshot>, sqlx::Error> {
    let Some(stock) = tx
        .row(
            "UPDATE inventory SET gate_epoch = $2 WHERE product_id = $1 RETURNING available",
            args![product.0, epoch],
        )
        .await?
    else {
        return Ok(None);
    };
    let rules = tx
        .row(
            "SELECT per_customer_limit, sale_starts_at, sale_ends_at FROM products WHERE id = $1",
            args![product.0],
        )
        .await?
        .ok_or(sqlx::Error::RowNotFound)?;
    // Holdings only change together with the stock row (locked above), so this read agrees with
    // `available`. Customers holding nothing now are in it too: they bought once, and the gate must
    // still let their retry find the stored answer.
    let held = tx
        .rows(
            "SELECT h.customer_id, h.held FROM customer_holdings h WHERE h.product_id = $1 \
             AND (h.held > 0 OR EXISTS (SELECT 1 FROM orders o \
               WHERE o.customer_id = h.customer_id AND o.product_id = h.product_id))",
            args![product.0],
        )
        .await?;
    Ok(Some(GateSnapshot {
        product_id: product,
        available: stock.int("available")?,
        per_customer_limit: rules.opt_int("per_customer_limit")?,
        window: window(&rules)?,
        holdings: held
            .iter()
            .map(|row| Ok((customer(row, "customer_id")?, row.int("held")?)))
            .collect::<Result<_, sqlx::Error>>()?,
    }))
}
