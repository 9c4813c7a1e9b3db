//! The refunder: gives back money that arrived for an order whose units were gone, or that an operator
//! refunds. It claims `refund_pending` orders whose next attempt is due, calls the gateway's refund
//! API, and moves accepted ones to `refunded`. A refusal (recorded raw with the gateway's answer, like
//! every gateway message) pauses that order alone, twice as long after each refusal, on the same
//! per-order schedule as the reconciler's polls; after `payments.refund_max_refusals` of them the order
//! moves to `refund_failed`, where the dashboard, the metrics and the admin order search show it to an
//! operator. An answer that says to try again is retried when the lease runs out.

use crate::metrics;
use flashgate_core::payment::{RefundAttempt, Refunds};
use flashgate_core::ports::{Leases, Transition, TransitionOutcome, Transitions};
use flashgate_core::{Clock, Order, OrderStatus, StoreError};
use std::sync::Arc;
use time::Duration;

#[derive(Clone)]
pub struct Refunder {
    pub leases: Arc<dyn Leases>,
    pub transitions: Arc<dyn Transitions>,
    pub refunds: Arc<dyn Refunds>,
    pub clock: Arc<dyn Clock>,
    pub lease: Duration,
    pub batch: i64,
    /// Refusals after which an order waits for an operator in `refund_failed`.
    pub max_refusals: u32,
    /// The pause after a first refusal; it doubles with each next one, up to `max_pause`.
    pub first_pause: Duration,
    pub max_pause: Duration,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RefundStep {
    pub claimed: usize,
    pub refunded: usize,
    /// Not refunded this step: refused, or to be retried.
    pub failed: usize,
    /// Refused for the last time allowed: moved to `refund_failed`.
    pub gave_up: usize,
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
                    self.move_order(&order, OrderStatus::Refunded, "refund_accepted".to_owned())
                        .await?;
                    step.refunded += 1;
                }
                RefundAttempt::Refused(why) => {
                    step.failed += 1;
                    metrics::refund_refused();
                    if self.refused(&order, &why).await? {
                        step.gave_up += 1;
                    }
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

    /// Counts a refusal; pauses the order, or gives it to an operator once refusals reach the limit.
    /// Whether it gave up.
    async fn refused(&self, order: &Order, why: &str) -> Result<bool, StoreError> {
        let refusals = self.leases.count_refund_refusal(order.id).await?;
        if refusals >= self.max_refusals {
            tracing::error!(order_id = %order.id, refusals, %why,
                "the gateway refused a refund every time allowed; the order waits for an operator");
            self.move_order(
                order,
                OrderStatus::RefundFailed,
                format!("refund_refused_{refusals}_times"),
            )
            .await?;
            return Ok(true);
        }
        let pause = self.pause(refusals);
        tracing::warn!(order_id = %order.id, refusals, %why, pause_seconds = pause.whole_seconds(),
            "the gateway refused a refund; asking again later");
        self.leases
            .schedule_poll(order.id, self.clock.now() + pause)
            .await?;
        Ok(false)
    }

    /// The pause after the `refusals`-th refusal: `first_pause`, doubled for each refusal before it,
    /// at most `max_pause`.
    fn pause(&self, refusals: u32) -> Duration {
        let doublings = refusals.saturating_sub(1).min(30);
        (self.first_pause * 2_i32.pow(doublings)).min(self.max_pause)
    }

    async fn move_order(
        &self,
        order: &Order,
        to: OrderStatus,
        reason: String,
    ) -> Result<(), StoreError> {
        let transition = Transition {
            order_id: order.id,
            from: OrderStatus::RefundPending,
            to,
            reason,
            at: self.clock.now(),
            payment: None,
        };
        match self.transitions.apply(&transition).await? {
            TransitionOutcome::Applied(_) | TransitionOutcome::NotInState(_) => Ok(()),
            TransitionOutcome::NotFound | TransitionOutcome::InsufficientStock => Err(
                StoreError::internal(format!("order {} could not move to {to:?}", order.id)),
            ),
        }
    }
}
