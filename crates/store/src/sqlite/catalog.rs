//! Products and their stock, SQLite dialect.

use super::{SqliteStore, from_micros, micros};
use crate::error::{is_check_violation, is_unique_violation, store_error};
use async_trait::async_trait;
use flashgate_core::ports::{Catalog, CatalogError};
use flashgate_core::product::{SaleWindow, Stock};
use flashgate_core::{NewProduct, Product, ProductId, ProductPatch, Sku, StoreError, Vnd};
use time::OffsetDateTime;

const PRODUCT_SELECT: &str = "SELECT p.id, p.sku, p.name, p.price_vnd, p.per_customer_limit, \
     p.sale_starts_at, p.sale_ends_at, i.total, i.available, i.reserved, i.sold \
     FROM products p JOIN inventory i ON i.product_id = p.id";

#[derive(sqlx::FromRow)]
struct ProductRow {
    id: i64,
    sku: String,
    name: String,
    price_vnd: i64,
    per_customer_limit: Option<i64>,
    sale_starts_at: Option<i64>,
    sale_ends_at: Option<i64>,
    total: i64,
    available: i64,
    reserved: i64,
    sold: i64,
}

impl TryFrom<ProductRow> for Product {
    type Error = StoreError;

    fn try_from(row: ProductRow) -> Result<Self, Self::Error> {
        Ok(Product {
            id: ProductId(row.id),
            sku: Sku::parse(&row.sku)
                .map_err(|e| StoreError::Internal(format!("stored sku: {e}")))?,
            name: row.name,
            price: Vnd::from_stored(row.price_vnd),
            stock: Stock {
                total: row.total,
                available: row.available,
                reserved: row.reserved,
                sold: row.sold,
            },
            per_customer_limit: row.per_customer_limit,
            window: SaleWindow {
                starts_at: row.sale_starts_at.map(from_micros).transpose()?,
                ends_at: row.sale_ends_at.map(from_micros).transpose()?,
            },
        })
    }
}

fn opt_micros(at: Option<OffsetDateTime>) -> Option<i64> {
    at.map(micros)
}

impl SqliteStore {
    async fn fetch_product(&self, id: ProductId) -> Result<Option<Product>, StoreError> {
        let row: Option<ProductRow> = sqlx::query_as(&format!("{PRODUCT_SELECT} WHERE p.id = ?1"))
            .bind(id.0)
            .fetch_optional(self.reader())
            .await
            .map_err(store_error)?;
        row.map(Product::try_from).transpose()
    }

    async fn fetch_existing(&self, id: ProductId) -> Result<Product, CatalogError> {
        self.fetch_product(id).await?.ok_or(CatalogError::NotFound)
    }
}

#[async_trait]
impl Catalog for SqliteStore {
    async fn create(&self, product: &NewProduct) -> Result<Product, CatalogError> {
        let now = micros(OffsetDateTime::now_utc());
        let mut tx = self.writer().begin().await.map_err(store_error)?;
        let inserted = sqlx::query_scalar::<_, i64>(
            "INSERT INTO products (sku, name, price_vnd, per_customer_limit, sale_starts_at, sale_ends_at, created_at, updated_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7) RETURNING id",
        )
        .bind(product.sku.as_str())
        .bind(&product.name)
        .bind(product.price.get())
        .bind(product.per_customer_limit)
        .bind(opt_micros(product.window.starts_at))
        .bind(opt_micros(product.window.ends_at))
        .bind(now)
        .fetch_one(&mut *tx)
        .await;
        let id = match inserted {
            Ok(id) => id,
            Err(e) if is_unique_violation(&e) => return Err(CatalogError::DuplicateSku),
            Err(e) => return Err(store_error(e).into()),
        };
        sqlx::query(
            "INSERT INTO inventory (product_id, total, available, reserved, sold) VALUES (?1, ?2, ?2, 0, 0)",
        )
        .bind(id)
        .bind(product.stock)
        .execute(&mut *tx)
        .await
        .map_err(store_error)?;
        tx.commit().await.map_err(store_error)?;
        self.fetch_existing(ProductId(id)).await
    }

    async fn update(&self, id: ProductId, patch: &ProductPatch) -> Result<Product, CatalogError> {
        let updated = sqlx::query(
            "UPDATE products SET \
               name = COALESCE(?2, name), \
               price_vnd = COALESCE(?3, price_vnd), \
               per_customer_limit = CASE WHEN ?4 THEN ?5 ELSE per_customer_limit END, \
               sale_starts_at = CASE WHEN ?6 THEN ?7 ELSE sale_starts_at END, \
               sale_ends_at = CASE WHEN ?8 THEN ?9 ELSE sale_ends_at END, \
               updated_at = ?10 \
             WHERE id = ?1",
        )
        .bind(id.0)
        .bind(patch.name.as_deref())
        .bind(patch.price.map(Vnd::get))
        .bind(patch.per_customer_limit.is_some())
        .bind(patch.per_customer_limit.flatten())
        .bind(patch.sale_starts_at.is_some())
        .bind(opt_micros(patch.sale_starts_at.flatten()))
        .bind(patch.sale_ends_at.is_some())
        .bind(opt_micros(patch.sale_ends_at.flatten()))
        .bind(micros(OffsetDateTime::now_utc()))
        .execute(self.writer())
        .await;
        match updated {
            Ok(done) if done.rows_affected() == 0 => Err(CatalogError::NotFound),
            Ok(_) => self.fetch_existing(id).await,
            Err(e) if is_check_violation(&e) => Err(CatalogError::Invalid(
                "sale_ends_at must be after sale_starts_at",
            )),
            Err(e) => Err(store_error(e).into()),
        }
    }

    async fn restock(&self, id: ProductId, quantity: i64) -> Result<Product, CatalogError> {
        let done = sqlx::query(
            "UPDATE inventory SET total = total + ?2, available = available + ?2 WHERE product_id = ?1",
        )
        .bind(id.0)
        .bind(quantity)
        .execute(self.writer())
        .await
        .map_err(store_error)?;
        if done.rows_affected() == 0 {
            return Err(CatalogError::NotFound);
        }
        self.fetch_existing(id).await
    }

    async fn get(&self, id: ProductId) -> Result<Option<Product>, StoreError> {
        self.fetch_product(id).await
    }

    async fn list(&self) -> Result<Vec<Product>, StoreError> {
        let rows: Vec<ProductRow> = sqlx::query_as(&format!("{PRODUCT_SELECT} ORDER BY p.id"))
            .fetch_all(self.reader())
            .await
            .map_err(store_error)?;
        rows.into_iter().map(Product::try_from).collect()
    }
}
