//! Products and their stock.

use crate::SqlStore;
use crate::error::{is_check_violation, is_unique_violation, store_error};
use crate::rows::{PRODUCT_SELECT, product};
use crate::sql::{Dialect, Fields, Finish, Sql, args};
use async_trait::async_trait;
use flashgate_core::ports::{Catalog, CatalogError, Products};
use flashgate_core::{NewProduct, Product, ProductId, ProductPatch, StoreError, Vnd};
use time::OffsetDateTime;

impl<D: Dialect> SqlStore<D> {
    async fn fetch_product(&self, id: ProductId) -> Result<Option<Product>, sqlx::Error> {
        let sql = format!("{PRODUCT_SELECT} WHERE p.id = $1");
        let mut conn = self.0.reader().await?;
        let row = conn.row(&sql, args![id.0]).await?;
        row.as_ref().map(product).transpose()
    }

    async fn fetch_existing(&self, id: ProductId) -> Result<Product, CatalogError> {
        self.fetch_product(id)
            .await
            .map_err(store_error)?
            .ok_or(CatalogError::NotFound)
    }

    /// Why an update changed no row: no such product, or a limit below a customer's holding.
    async fn not_updated(&self, id: ProductId) -> CatalogError {
        let largest = async {
            let mut conn = self.0.reader().await?;
            let row = conn
                .row(
                    "SELECT (SELECT max(held) FROM customer_holdings WHERE product_id = $1) AS held \
                     FROM products WHERE id = $1",
                    args![id.0],
                )
                .await?;
            row.map(|r| r.opt_int("held")).transpose()
        };
        match largest.await {
            // The product exists, so the holdings refused the change (a holding released since
            // reads lower: a retry decides again).
            Ok(Some(held)) => CatalogError::LimitBelowHoldings(held.unwrap_or(0)),
            Ok(None) => CatalogError::NotFound,
            Err(e) => store_error(e).into(),
        }
    }

    /// The patch in one statement; a limit is set only if no customer holds more than it, with the
    /// holdings held still while it is checked (a purchase in flight under the old limit would
    /// otherwise pass it unseen). Rows changed: 0 when refused or no such product.
    async fn write_patch(&self, id: ProductId, patch: &ProductPatch) -> Result<u64, sqlx::Error> {
        let mut tx = self.0.begin().await?;
        if let (Some(Some(_)), Some(steady)) = (patch.per_customer_limit, D::HOLDINGS_STEADY) {
            tx.exec(steady, args![]).await?;
        }
        let updated = tx
            .exec(
                "UPDATE products SET \
                   name = COALESCE($2, name), \
                   price_vnd = COALESCE($3, price_vnd), \
                   per_customer_limit = CASE WHEN $4 THEN $5 ELSE per_customer_limit END, \
                   sale_starts_at = CASE WHEN $6 THEN $7 ELSE sale_starts_at END, \
                   sale_ends_at = CASE WHEN $8 THEN $9 ELSE sale_ends_at END, \
                   updated_at = $10 \
                 WHERE id = $1 AND NOT ($4 AND $5 IS NOT NULL AND EXISTS ( \
                   SELECT 1 FROM customer_holdings WHERE product_id = $1 AND held > $5))",
                args![
                    id.0,
                    patch.name.as_deref(),
                    patch.price.map(Vnd::get),
                    patch.per_customer_limit.is_some(),
                    patch.per_customer_limit.flatten(),
                    patch.sale_starts_at.is_some(),
                    patch.sale_starts_at.flatten(),
                    patch.sale_ends_at.is_some(),
                    patch.sale_ends_at.flatten(),
                    OffsetDateTime::now_utc(),
                ],
            )
            .await?;
        tx.commit().await?;
        Ok(updated)
    }

    async fn insert(&self, product: &NewProduct) -> Result<i64, sqlx::Error> {
        let mut tx = self.0.begin().await?;
        let row = tx
            .row(
                "INSERT INTO products (sku, name, price_vnd, per_customer_limit, sale_starts_at, sale_ends_at, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $7) RETURNING id",
                args![
                    product.sku.as_str(),
                    product.name.as_str(),
                    product.price.get(),
                    product.per_customer_limit,
                    product.window.starts_at,
                    product.window.ends_at,
                    OffsetDateTime::now_utc(),
                ],
            )
            .await?;
        let id = row.ok_or(sqlx::Error::RowNotFound)?.int("id")?;
        tx.exec(
            "INSERT INTO inventory (product_id, total, available, reserved, sold) VALUES ($1, $2, $2, 0, 0)",
            args![id, product.stock],
        )
        .await?;
        tx.commit().await?;
        Ok(id)
    }
}

#[async_trait]
impl<D: Dialect> Catalog for SqlStore<D> {
    async fn create(&self, product: &NewProduct) -> Result<Product, CatalogError> {
        match self.insert(product).await {
            Ok(id) => self.fetch_existing(ProductId(id)).await,
            Err(e) if is_unique_violation(&e) => Err(CatalogError::DuplicateSku),
            Err(e) => Err(store_error(e).into()),
        }
    }

    async fn update(&self, id: ProductId, patch: &ProductPatch) -> Result<Product, CatalogError> {
        match self.write_patch(id, patch).await {
            Ok(0) => Err(self.not_updated(id).await),
            Ok(_) => self.fetch_existing(id).await,
            Err(e) if is_check_violation(&e) => Err(CatalogError::Invalid(
                "sale_ends_at: must be after sale_starts_at",
            )),
            Err(e) => Err(store_error(e).into()),
        }
    }

    async fn restock(&self, id: ProductId, quantity: i64) -> Result<Product, CatalogError> {
        let mut conn = self.0.writer().await.map_err(store_error)?;
        let done = conn
            .exec(
                "UPDATE inventory SET total = total + $2, available = available + $2 WHERE product_id = $1",
                args![id.0, quantity],
            )
            .await
            .map_err(store_error)?;
        drop(conn);
        if done == 0 {
            return Err(CatalogError::NotFound);
        }
        self.fetch_existing(id).await
    }
}

#[async_trait]
impl<D: Dialect> Products for SqlStore<D> {
    async fn get(&self, id: ProductId) -> Result<Option<Product>, StoreError> {
        self.fetch_product(id).await.map_err(store_error)
    }

    async fn list(&self) -> Result<Vec<Product>, StoreError> {
        let sql = format!("{PRODUCT_SELECT} ORDER BY p.id");
        let mut conn = self.0.reader().await.map_err(store_error)?;
        let rows = conn.rows(&sql, args![]).await.map_err(store_error)?;
        rows.iter()
            .map(product)
            .collect::<Result<_, _>>()
            .map_err(store_error)
    }
}
