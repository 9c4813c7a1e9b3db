//! The expirer: releases the units of orders whose hold ran out. It claims orders with a lease (so
//! several instances never act on one order at once), asks the gateway first (a paid order whose
//! webhook was lost is settled as paid, never expired), then moves each order through the same
//! conditional transition every other path uses.

use flashgate_core::payment::{PaymentCheck, PaymentStatus};
use flashgate_core::ports::{Leases, Transition, TransitionOutcome, Transitions};
use flashgate_core::{Clock, OrderStatus, StoreError};
use std::sync::Arc;

#[derive(Clone)]
pub struct Expirer {
    pub leases: Arc<dyn Leases>,
    pub transitions: Arc<dyn Transitions>,
    pub payments: Arc<dyn PaymentStatus>,
    pub clock: Arc<dyn Clock>,
    pub lease: time::Duration,
    pub batch: i64,
}

/// What one step did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ExpiryStep {
    pub claimed: usize,
    pub expired: usize,
    pub paid: usize,
    pub failed: usize,
    /// Left for a later step: the gateway could not be asked, or the order had moved on.
    pub deferred: usize,
}

impl Expirer {
    pub async fn run_once(&self) -> Result<ExpiryStep, StoreError> {
        let now = self.clock.now();
        let claimed = self
            .leases
            .claim_expired(now, now + self.lease, self.batch)
            .await?;
        let mut step = ExpiryStep {
            claimed: claimed.len(),
            ..ExpiryStep::default()
        };
        for order in claimed {
            let (to, reason) = match self.payments.check(&order).await {
                PaymentCheck::Unpaid => (OrderStatus::Expired, "hold_expired"),
                PaymentCheck::Failed => (OrderStatus::PaymentFailed, "gateway_failed"),
                PaymentCheck::Paid { .. } => (OrderStatus::Paid, "gateway_paid"),
                PaymentCheck::Unknown => {
                    // Keep the units held; the lease runs out and a later step asks again.
                    step.deferred += 1;
                    continue;
                }
            };
            let transition = Transition {
                order_id: order.id,
                from: OrderStatus::PendingPayment,
                to,
                reason: reason.to_owned(),
                at: self.clock.now(),
            };
            match self.transitions.apply(&transition).await? {
                TransitionOutcome::Applied(_) => match to {
                    OrderStatus::Expired => step.expired += 1,
                    OrderStatus::Paid => step.paid += 1,
                    _ => step.failed += 1,
                },
                outcome => {
                    tracing::debug!(order_id = %order.id, ?outcome, "expiry skipped");
                    step.deferred += 1;
                }
            }
        }
        if step.claimed > 0 {
            tracing::info!(?step, "expirer step");
        }
        Ok(step)
    }

    /// Steps until a step finds nothing to claim; for tests and for draining at start.
    pub async fn run_until_idle(&self) -> Result<ExpiryStep, StoreError> {
        let mut total = ExpiryStep::default();
        loop {
            let step = self.run_once().await?;
            if step.claimed == 0 {
                return Ok(total);
            }
            total.claimed += step.claimed;
            total.expired += step.expired;
            total.paid += step.paid;
            total.failed += step.failed;
            total.deferred += step.deferred;
            if step.deferred == step.claimed {
                return Ok(total);
            }
        }
    }
}

/// The answer when no gateway is configured to ask: nothing can have been paid.
pub struct NoGateway;

#[async_trait::async_trait]
impl PaymentStatus for NoGateway {
    async fn check(&self, _order: &flashgate_core::Order) -> PaymentCheck {
        PaymentCheck::Unpaid
    }
}
