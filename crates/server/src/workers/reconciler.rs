//! The reconciler: the webhook's safety net. It claims the orders whose money the gateway may still
//! have news about: `pending_payment` orders old enough that their IPN may have been lost,
//! `payment_review` and `payment_review_released` orders until the gateway decides (with no time
//! limit), and expired or failed orders within the
//! late-money window (a payment completed at the edge of the hold whose IPNs were all lost). It asks
//! the gateway (querydr) and applies the answer through the same settlement path as the IPN.
//!
//! Each order has its own next-poll time, closer together as its hold nears its end. Only a signal
//! about the gateway as a whole (it asks us to slow down, does not answer, or fails) stops the pass
//! and backs the worker off; an order whose answer cannot be decided is asked again later, alone.

use crate::metrics;
use flashgate_core::payment::{PaymentCheck, PaymentStatus};
use flashgate_core::ports::{Leases, PollClaim, Transitions};
use flashgate_core::settle::{Settle, Settled, Verdict};
use flashgate_core::{Clock, Order, OrderStatus, StoreError};
use futures_util::future::join_all;
use std::sync::Arc;
use time::{Duration, OffsetDateTime};

#[derive(Clone)]
pub struct Reconciler {
    pub leases: Arc<dyn Leases>,
    pub transitions: Arc<dyn Transitions>,
    pub payments: Arc<dyn PaymentStatus>,
    pub clock: Arc<dyn Clock>,
    pub first_poll_after: Duration,
    pub poll_interval: Duration,
    pub min_poll_interval: Duration,
    /// How long after a hold ended expired and failed orders are still asked about.
    pub late_money_window: Duration,
    pub lease: Duration,
    pub batch: i64,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ReconcileStep {
    pub claimed: usize,
    /// Orders the gateway's answer moved (paid, failed, to review, late money caught).
    pub settled: usize,
    /// Orders asked about with nothing new: still pending, still in review, no late money.
    pub still_pending: usize,
    /// Orders whose answer could not be decided, each rescheduled on its own.
    pub undecided: usize,
    /// Orders left because the gateway as a whole asked us to slow down or did not answer.
    pub backed_off: usize,
}

/// How many orders one pass asks the gateway about at the same time.
const QUERIES_IN_FLIGHT: usize = 8;

enum Poll {
    Settled(usize),
    NothingNew,
    Undecided,
    GatewayBusy,
}

#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the gateway asked to slow down or did not answer; {0} orders rescheduled")]
    GatewayBackoff(usize),
}

impl Reconciler {
    /// One pass. An `Err(GatewayBackoff)` tells the loop to wait longer before the next pass.
    pub async fn run_once(&self) -> Result<ReconcileStep, ReconcileError> {
        let now = self.clock.now();
        let claimed = self
            .leases
            .claim_for_poll(&PollClaim {
                now,
                created_before: now - self.first_poll_after,
                late_since: now - self.late_money_window,
                lease_until: now.saturating_add(self.lease),
                limit: self.batch,
            })
            .await?;
        let mut step = ReconcileStep {
            claimed: claimed.len(),
            ..ReconcileStep::default()
        };
        // A few queries in flight at once: each waits mostly on the gateway and on a commit.
        let mut chunks = claimed.chunks(QUERIES_IN_FLIGHT);
        for chunk in chunks.by_ref() {
            for poll in join_all(chunk.iter().map(|order| self.poll(order))).await {
                match poll? {
                    Poll::Settled(n) => step.settled += n,
                    Poll::NothingNew => step.still_pending += 1,
                    Poll::Undecided => step.undecided += 1,
                    Poll::GatewayBusy => step.backed_off += 1,
                }
            }
            if step.backed_off > 0 {
                // Stop asking this pass: more queries would only earn more 94s.
                break;
            }
        }
        // Orders claimed but not asked this pass go back at once.
        for order in chunks.flatten() {
            step.backed_off += 1;
            self.leases.release(order.id).await?;
        }
        if step.claimed > 0 {
            tracing::info!(?step, "reconciler step");
        }
        if step.backed_off > 0 {
            return Err(ReconcileError::GatewayBackoff(step.backed_off));
        }
        Ok(step)
    }

    async fn poll(&self, order: &Order) -> Result<Poll, StoreError> {
        let poll = match self.payments.check(order).await {
            PaymentCheck::Paid(payment) => {
                Poll::Settled(self.settle(order, Verdict::Paid(payment)).await?)
            }
            PaymentCheck::Review(payment) => {
                Poll::Settled(self.settle(order, Verdict::Review(payment)).await?)
            }
            PaymentCheck::Failed => Poll::Settled(self.settle(order, Verdict::Failed).await?),
            PaymentCheck::Pending => Poll::NothingNew,
            PaymentCheck::Undecided => {
                metrics::reconciler_undecided();
                tracing::warn!(order_id = %order.id, "the gateway's answer cannot be decided; asking again later");
                Poll::Undecided
            }
            PaymentCheck::GatewayBusy => {
                self.leases
                    .schedule_poll(
                        order.id,
                        self.clock.now().saturating_add(self.min_poll_interval),
                    )
                    .await?;
                return Ok(Poll::GatewayBusy);
            }
        };
        let poll = match poll {
            // Nothing moved: the answer is what the order already shows (still in review, or no
            // late money for a released hold).
            Poll::Settled(0) => Poll::NothingNew,
            other => other,
        };
        let next = match poll {
            Poll::Undecided => self.clock.now().saturating_add(self.poll_interval),
            _ => self.next_poll(order, self.clock.now()),
        };
        self.leases.schedule_poll(order.id, next).await?;
        Ok(poll)
    }

    async fn settle(&self, order: &Order, verdict: Verdict) -> Result<usize, StoreError> {
        let settle = Settle {
            transitions: self.transitions.as_ref(),
            clock: self.clock.as_ref(),
        };
        match settle.apply(order, verdict, "querydr").await? {
            Settled::Moved(to) => {
                metrics::reconciler_catch("reconciler", to.as_str());
                if let Verdict::Paid(payment) = verdict {
                    metrics::settle_lag("reconciler", self.clock.now() - payment.paid_at);
                }
                tracing::info!(order_id = %order.id, to = to.as_str(), "settled by querydr");
                Ok(1)
            }
            Settled::AlreadySettled(_) | Settled::NotFound => Ok(0),
        }
    }

    /// The next time to ask about an order. A pending one: half the time left on its hold, between
    /// the minimum and the regular interval, so polls grow denser as the hold runs out. Any other
    /// (in review, or released within the late-money window): the regular interval.
    pub fn next_poll(&self, order: &Order, now: OffsetDateTime) -> OffsetDateTime {
        if order.status != OrderStatus::PendingPayment {
            return now.saturating_add(self.poll_interval);
        }
        let left = order.expires_at - now;
        now.saturating_add((left / 2_i32).clamp(self.min_poll_interval, self.poll_interval))
    }
}
