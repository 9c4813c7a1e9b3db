//! The expirer: releases the units of orders whose hold ran out. It claims orders a short grace past
//! their payment link's expiry (a payment finishing at the last second is not asked about mid-flight)
//! with a lease (so several instances never act on one order at once), asks the gateway first (a paid
//! order whose webhook was lost is settled as paid, one whose money is in doubt goes to review, never
//! expired), then moves each order through the same conditional transitions every other path uses.
//! It never claims an order under review: that one waits on the gateway or an operator.

use crate::metrics;
use flashgate_core::payment::{PaymentCheck, PaymentStatus};
use flashgate_core::ports::{Leases, Transition, TransitionOutcome, Transitions};
use flashgate_core::settle::{Settle, Settled, Verdict};
use flashgate_core::{Clock, Order, OrderStatus, StoreError};
use std::sync::Arc;

#[derive(Clone)]
pub struct Expirer {
    pub leases: Arc<dyn Leases>,
    pub transitions: Arc<dyn Transitions>,
    pub payments: Arc<dyn PaymentStatus>,
    pub clock: Arc<dyn Clock>,
    /// How long past the hold's end (the link's `vnp_ExpireDate`) an order is left before it is asked about.
    pub grace: time::Duration,
    pub lease: time::Duration,
    /// How soon an order the gateway could not answer about is asked again: the gateway's pace for
    /// one order (`reconciler.min_poll_interval_seconds`), not the whole lease.
    pub retry_after: time::Duration,
    pub batch: i64,
}

/// What one step did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ExpiryStep {
    pub claimed: usize,
    pub expired: usize,
    pub paid: usize,
    pub failed: usize,
    /// Put under review: the gateway says money may have moved.
    pub review: usize,
    /// Left for a later step: the gateway could not be asked, or the order had moved on.
    pub deferred: usize,
}

impl ExpiryStep {
    fn add(&mut self, other: ExpiryStep) {
        self.claimed += other.claimed;
        self.expired += other.expired;
        self.paid += other.paid;
        self.failed += other.failed;
        self.review += other.review;
        self.deferred += other.deferred;
    }
}

impl Expirer {
    pub async fn run_once(&self) -> Result<ExpiryStep, StoreError> {
        let now = self.clock.now();
        let claimed = self
            .leases
            .claim_expired(
                now,
                now.saturating_sub(self.grace),
                now.saturating_add(self.lease),
                self.batch,
            )
            .await?;
        let mut step = ExpiryStep {
            claimed: claimed.len(),
            ..ExpiryStep::default()
        };
        for order in claimed {
            match self.payments.check(&order).await {
                PaymentCheck::Pending => match self.expire(&order).await? {
                    true => step.expired += 1,
                    false => step.deferred += 1,
                },
                PaymentCheck::Paid(payment) => {
                    match self.settle(&order, Verdict::Paid(payment)).await? {
                        true => step.paid += 1,
                        false => step.deferred += 1,
                    }
                }
                PaymentCheck::Review(payment) => {
                    match self.settle(&order, Verdict::Review(payment)).await? {
                        true => step.review += 1,
                        false => step.deferred += 1,
                    }
                }
                PaymentCheck::Failed => match self.settle(&order, Verdict::Failed).await? {
                    true => step.failed += 1,
                    false => step.deferred += 1,
                },
                // Keep the units held and ask again once the gateway's pace allows.
                PaymentCheck::GatewayBusy | PaymentCheck::Undecided => {
                    let again = self.clock.now().saturating_add(self.retry_after);
                    self.leases.hold(order.id, again).await?;
                    step.deferred += 1;
                }
            }
        }
        if step.claimed > 0 {
            tracing::info!(?step, "expirer step");
        }
        Ok(step)
    }

    async fn expire(&self, order: &Order) -> Result<bool, StoreError> {
        let transition = Transition {
            order_id: order.id,
            from: OrderStatus::PendingPayment,
            to: OrderStatus::Expired,
            reason: "hold_expired".to_owned(),
            at: self.clock.now(),
            payment: None,
        };
        Ok(matches!(
            self.transitions.apply(&transition).await?,
            TransitionOutcome::Applied(_)
        ))
    }

    async fn settle(&self, order: &Order, verdict: Verdict) -> Result<bool, StoreError> {
        let settle = Settle {
            transitions: self.transitions.as_ref(),
            clock: self.clock.as_ref(),
        };
        match settle.apply(order, verdict, "expiry_querydr").await? {
            Settled::Moved(to) => {
                metrics::reconciler_catch("expirer", to.as_str());
                if let Verdict::Paid(payment) = verdict {
                    metrics::settle_lag("expirer", self.clock.now() - payment.paid_at);
                }
                Ok(true)
            }
            Settled::AlreadySettled(_) | Settled::NotFound => Ok(false),
        }
    }

    /// Steps until a step finds nothing more it can do; for tests and for draining.
    pub async fn run_until_idle(&self) -> Result<ExpiryStep, StoreError> {
        let mut total = ExpiryStep::default();
        loop {
            let step = self.run_once().await?;
            total.add(step);
            if step.claimed == 0 || step.deferred == step.claimed {
                return Ok(total);
            }
        }
    }
}
