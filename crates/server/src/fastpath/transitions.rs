//! State changes as every caller sees them (the expirer, payment callbacks, the reconciler): units a
//! transition releases are given back to the gate, fenced to the gate epoch read before the change,
//! so a rebuild in between (whose snapshot may already count them) cannot make them count twice.
//! Units taken again (late money) clear the fence in the database; the gate is rebuilt at once.
//! Without a gate, the cached product (whose count buyers see) is invalidated instead.

use super::gate::GateService;
use super::products::ProductReads;
use async_trait::async_trait;
use flashgate_core::StoreError;
use flashgate_core::ports::{OrderQueries, Transition, TransitionOutcome, Transitions};
use std::sync::Arc;

/// Without a gate: the product's cached count is dropped whenever a transition moves its units.
pub struct CountedTransitions {
    pub inner: Arc<dyn Transitions>,
    pub products: Arc<ProductReads>,
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
    pub gate: Arc<GateService>,
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
