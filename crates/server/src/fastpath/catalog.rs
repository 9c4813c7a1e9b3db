//! The catalog as every caller sees it: after an admin write commits, the product's gate is rebuilt
//! from the database (restock, limit or window change) and its cache entries are invalidated on
//! every instance. Reads pass through to the database.

use super::gate::GateService;
use super::products::ProductReads;
use async_trait::async_trait;
use flashgate_core::ports::{Catalog, CatalogError};
use flashgate_core::{NewProduct, Product, ProductId, ProductPatch, StoreError};
use std::sync::Arc;

pub struct GatedCatalog {
    pub inner: Arc<dyn Catalog>,
    /// `None` unless purchases go through the gate.
    pub gate: Option<Arc<GateService>>,
    pub products: Arc<ProductReads>,
}

impl GatedCatalog {
    async fn after_write(&self, product: ProductId) {
        self.products.invalidate(product).await;
        if let Some(gate) = &self.gate
            && let Err(error) = gate.rebuild_now(product).await
        {
            // The keeper retries; until then the gate is at worst more pessimistic.
            tracing::warn!(product_id = product.0, %error, "gate rebuild after an admin write failed");
            gate.suspect(product);
        }
    }
}

#[async_trait]
impl Catalog for GatedCatalog {
    async fn create(&self, product: &NewProduct) -> Result<Product, CatalogError> {
        let created = self.inner.create(product).await?;
        // Also drops a cached "no such product" for the new id.
        self.after_write(created.id).await;
        Ok(created)
    }

    async fn update(&self, id: ProductId, patch: &ProductPatch) -> Result<Product, CatalogError> {
        let updated = self.inner.update(id, patch).await?;
        self.after_write(id).await;
        Ok(updated)
    }

    async fn restock(&self, id: ProductId, quantity: i64) -> Result<Product, CatalogError> {
        let restocked = self.inner.restock(id, quantity).await?;
        self.after_write(id).await;
        Ok(restocked)
    }

    async fn get(&self, id: ProductId) -> Result<Option<Product>, StoreError> {
        self.inner.get(id).await
    }

    async fn list(&self) -> Result<Vec<Product>, StoreError> {
        self.inner.list().await
    }
}
