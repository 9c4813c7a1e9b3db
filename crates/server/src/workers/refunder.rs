//! The refunder: gives back money that arrived for an order whose units were gone. It claims
//! `refund_pending` orders with a lease, calls the gateway's refund API, and moves accepted ones to
//! `refunded`; anything else stays pending and is retried when the lease runs out.

use flashgate_core::payment::{RefundAttempt, Refunds};
use flashgate_core::ports::{Leases, Transition, Transitions};
use flashgate_core::{Clock, OrderStatus, StoreError};
use std::sync::Arc;

#[derive(Clone)]
pub struct Refunder {
    pub leases: Arc<dyn Leases>,
    pub transitions: Arc<dyn Transitions>,
    pub refunds: Arc<dyn Refunds>,
    pub clock: Arc<dyn Clock>,
    pub lease: time::Duration,
    pub batch: i64,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RefundStep {
    pub claimed: usize,
    pub refunded: usize,
    pub failed: usize,
}

impl Refunder {
    pub async fn run_once(&self) -> Result<RefundStep, StoreError> {
        let now = self.clock.now();
        let claimed = self
            .leases
            .claim_refunds(now, now + self.lease, self.batch)
            .await?;
        let mut step = RefundStep {
            claimed: claimed.len(),
            ..RefundStep::default()
        };
        for order in claimed {
            match self.refunds.refund(&order).await {
                RefundAttempt::Accepted => {
                    let transition = Transition {
                        order_id: order.id,
                        from: OrderStatus::RefundPending,
                        to: OrderStatus::Refunded,
                        reason: "refund_accepted".to_owned(),
                        at: self.clock.now(),
                        payment: None,
                    };
                    self.transitions.apply(&transition).await?;
                    step.refunded += 1;
                }
                RefundAttempt::Refused(why) => {
                    // Needs a person: the lease lapses and it is tried again, loudly, meanwhile.
                    tracing::error!(order_id = %order.id, %why, "the gateway refused a refund");
                    step.failed += 1;
                }
                RefundAttempt::Retry(why) => {
                    tracing::warn!(order_id = %order.id, %why, "refund to be retried");
                    step.failed += 1;
                }
            }
        }
        if step.claimed > 0 {
            tracing::info!(?step, "refunder step");
        }
        Ok(step)
    }
}
