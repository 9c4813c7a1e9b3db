//! State changes as every caller sees them (the expirer, payment callbacks, the reconciler): units a
//! transition releases are given back to the gate, fenced to the gate epoch read before the change,
//! so a rebuild in between (whose snapshot may already count them) cannot make them count twice.
//! Units taken again (late money) clear the fence in the database; the gate is rebuilt.

use super::gate::GateService;
use async_trait::async_trait;
use flashgate_core::StoreError;
use flashgate_core::ports::{OrderQueries, Transition, TransitionOutcome, Transitions};
use std::sync::Arc;

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
        {
            self.gate.suspect(order.product_id);
        }
        Ok(outcome)
    }
}
