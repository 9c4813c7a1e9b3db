//! Decorators of the store's ports that keep the shared state in step with the database, built
//! where the application is assembled (`crate::assemble`):
//! - [`SyncedCatalog`]: after an admin write commits, the product's gate is rebuilt from the
//!   database (restock, limit or window change) and its cache entries are invalidated everywhere.
//! - [`GatedTransitions`]: units a transition releases are given back to the gate, fenced to the
//!   gate epoch read before the change, so a rebuild in between (whose snapshot may already count
//!   them) cannot make them count twice; units taken again (late money) clear the fence in the
//!   database, and the gate is rebuilt at once.
//! - Without a gate, [`CountedTransitions`] and [`CountedReservations`] drop the product's cached
//!   copy whenever its units move, since that copy's count is what buyers see.

use super::products::CachedProducts;
use async_trait::async_trait;
use flashgate_core::StoreError;
use flashgate_core::checkout::FencedGate;
use flashgate_core::ports::{
    Catalog, CatalogError, OrderQueries, Reservations, Transition, TransitionOutcome, Transitions,
};
use flashgate_core::purchase::{
    GatedOutcome, GatedReservation, Reservation, ReserveOutcome, StoredAnswer, WriteMode,
};
use flashgate_core::{CustomerId, IdempotencyKey, NewProduct, Product, ProductId, ProductPatch};
use std::sync::Arc;

pub struct SyncedCatalog {
    pub inner: Arc<dyn Catalog>,
    /// `None` unless purchases go through the gate.
    pub gate: Option<Arc<FencedGate>>,
    pub products: Arc<CachedProducts>,
}

impl SyncedCatalog {
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
impl Catalog for SyncedCatalog {
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
}

/// Without a gate: the product's cached count is dropped whenever a transition moves its units.
pub struct CountedTransitions {
    pub inner: Arc<dyn Transitions>,
    pub products: Arc<CachedProducts>,
}

#[async_trait]
impl Transitions for CountedTransitions {
    async fn apply(&self, t: &Transition) -> Result<TransitionOutcome, StoreError> {
        let outcome = self.inner.apply(t).await?;
        if let TransitionOutcome::Applied(order) = &outcome
            && t.from.transition_to(t.to).is_some_and(|e| e.available != 0)
        {
            self.products.invalidate(order.product_id).await;
        }
        Ok(outcome)
    }
}

pub struct GatedTransitions {
    pub inner: Arc<dyn Transitions>,
    pub orders: Arc<dyn OrderQueries>,
    pub gate: Arc<FencedGate>,
}

#[async_trait]
impl Transitions for GatedTransitions {
    async fn apply(&self, t: &Transition) -> Result<TransitionOutcome, StoreError> {
        let Some(effect) = t.from.transition_to(t.to) else {
            return self.inner.apply(t).await;
        };
        if effect.available > 0 {
            let Some(order) = self.orders.get(t.order_id).await? else {
                return self.inner.apply(t).await;
            };
            let epoch = self.gate.epoch(order.product_id).await;
            let outcome = self.inner.apply(t).await?;
            if let TransitionOutcome::Applied(order) = &outcome {
                match epoch {
                    Ok(Some(epoch)) => {
                        self.gate
                            .give_back(order.product_id, &order.customer, order.quantity, epoch)
                            .await;
                    }
                    // Not loaded: the next rebuild reads these units from the database.
                    Ok(None) => {}
                    Err(_) => self.gate.suspect(order.product_id),
                }
            }
            return Ok(outcome);
        }
        let outcome = self.inner.apply(t).await?;
        if effect.available < 0
            && let TransitionOutcome::Applied(order) = &outcome
            && self.gate.rebuild_now(order.product_id).await.is_err()
        {
            // Rare (late money), so rebuilt at once, and the count buyers see is right at once;
            // if the gate cannot be rebuilt now, the keeper does it.
            self.gate.suspect(order.product_id);
        }
        Ok(outcome)
    }
}

/// Without a gate: a new order moves the product's units, so its cached copy is dropped.
pub struct CountedReservations {
    pub inner: Arc<dyn Reservations>,
    pub products: Arc<CachedProducts>,
}

#[async_trait]
impl Reservations for CountedReservations {
    async fn lookup(
        &self,
        customer: &CustomerId,
        key: &IdempotencyKey,
    ) -> Result<Option<StoredAnswer>, StoreError> {
        self.inner.lookup(customer, key).await
    }

    async fn answers_of(
        &self,
        customers: &[CustomerId],
        at_most: usize,
    ) -> Result<Vec<Option<Vec<(IdempotencyKey, StoredAnswer)>>>, StoreError> {
        self.inner.answers_of(customers, at_most).await
    }

    async fn reserve(
        &self,
        mode: WriteMode,
        reservation: &Reservation,
    ) -> Result<ReserveOutcome, StoreError> {
        let outcome = self.inner.reserve(mode, reservation).await?;
        if outcome == ReserveOutcome::Created {
            self.products.invalidate(reservation.order.product_id).await;
        }
        Ok(outcome)
    }

    async fn reserve_batch(
        &self,
        batch: &[GatedReservation],
    ) -> Result<Vec<GatedOutcome>, StoreError> {
        self.inner.reserve_batch(batch).await
    }
}
