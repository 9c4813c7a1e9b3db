//! Settling an order from a gateway verdict: the one path shared by the IPN, the reconciler and the
//! expirer, so that however the news arrives (and however often), each order moves once.

use crate::clock::Clock;
use crate::error::StoreError;
use crate::order::{Order, OrderStatus};
use crate::payment::GatewayPayment;
use crate::ports::{Transition, TransitionOutcome, Transitions};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Paid(GatewayPayment),
    /// Money may have moved without a clear success (e.g. flagged as suspicious, or debited at the
    /// bank but not completed at the gateway): hold the units and keep asking.
    Review(GatewayPayment),
    /// The gateway says no money moved.
    Failed,
}

impl Verdict {
    fn payment(self) -> Option<GatewayPayment> {
        match self {
            Self::Paid(payment) | Self::Review(payment) => Some(payment),
            Self::Failed => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settled {
    /// The order moved to this status.
    Moved(OrderStatus),
    /// Nothing to do: the order had already reached an answer this verdict cannot change.
    AlreadySettled(OrderStatus),
    NotFound,
}

pub struct Settle<'a> {
    pub transitions: &'a dyn Transitions,
    pub clock: &'a dyn Clock,
}

impl Settle<'_> {
    /// Applies `verdict` to the order; `source` names the path for the ledger (`ipn`, `querydr`, …).
    #[tracing::instrument(name = "settle", skip_all, fields(order_id = %order.id, source, verdict = ?verdict))]
    pub async fn apply(
        &self,
        order: &Order,
        verdict: Verdict,
        source: &str,
    ) -> Result<Settled, StoreError> {
        let mut status = order.status;
        // Another actor may move the order between our read and our write; each lost race re-plans
        // from the status it found, and the state machine is acyclic, so this ends quickly.
        for _ in 0..4 {
            let Some((to, reason)) = plan(status, verdict) else {
                return Ok(Settled::AlreadySettled(status));
            };
            let transition = Transition {
                order_id: order.id,
                from: status,
                to,
                reason: format!("{source}_{reason}"),
                at: self.clock.now(),
                payment: verdict.payment(),
            };
            match self.transitions.apply(&transition).await? {
                TransitionOutcome::Applied(_) => return Ok(Settled::Moved(to)),
                TransitionOutcome::NotInState(now) => status = now,
                TransitionOutcome::NotFound => return Ok(Settled::NotFound),
                // A doubt about a released hold whose units are gone: nothing to hold while it is
                // reviewed; the order stays as it is and is asked about again, and money that turns
                // out paid is refunded as late money.
                TransitionOutcome::InsufficientStock if !matches!(verdict, Verdict::Paid(_)) => {
                    return Ok(Settled::AlreadySettled(status));
                }
                // Late money and the units are gone (or the customer is at the limit): refund.
                TransitionOutcome::InsufficientStock => {
                    let refund = Transition {
                        to: OrderStatus::RefundPending,
                        reason: format!("{source}_late_paid_no_stock"),
                        ..transition
                    };
                    match self.transitions.apply(&refund).await? {
                        TransitionOutcome::Applied(_) => {
                            return Ok(Settled::Moved(OrderStatus::RefundPending));
                        }
                        TransitionOutcome::NotInState(now) => status = now,
                        TransitionOutcome::NotFound => return Ok(Settled::NotFound),
                        TransitionOutcome::InsufficientStock => {
                            return Err(StoreError::Internal(
                                "refund transition needs no stock".into(),
                            ));
                        }
                    }
                }
            }
        }
        Err(StoreError::unavailable(format!(
            "order {} kept changing while being settled",
            order.id
        )))
    }
}

/// Where a verdict takes an order in `status`, and why; `None` when it is already settled.
fn plan(status: OrderStatus, verdict: Verdict) -> Option<(OrderStatus, &'static str)> {
    use OrderStatus::*;
    match (status, verdict) {
        (PendingPayment | PaymentReview, Verdict::Paid(_)) => Some((Paid, "paid")),
        (PendingPayment | PaymentReview, Verdict::Failed) => Some((PaymentFailed, "failed")),
        (PendingPayment, Verdict::Review(_)) => Some((PaymentReview, "review")),
        // Money arrived after the hold was released: take the units again if any are left.
        (Expired | PaymentFailed, Verdict::Paid(_)) => Some((Paid, "late_paid")),
        (Expired | PaymentFailed, Verdict::Review(_)) => Some((PaymentReview, "late_review")),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::OffsetDateTime;

    const PAID: Verdict = Verdict::Paid(GatewayPayment {
        transaction_no: Some(1),
        paid_at: OffsetDateTime::UNIX_EPOCH,
    });
    const REVIEW: Verdict = Verdict::Review(GatewayPayment {
        transaction_no: Some(1),
        paid_at: OffsetDateTime::UNIX_EPOCH,
    });

    #[test]
    fn a_doubtful_answer_puts_the_order_under_review_until_the_gateway_decides() {
        assert_eq!(
            plan(OrderStatus::PendingPayment, REVIEW),
            Some((OrderStatus::PaymentReview, "review"))
        );
        assert_eq!(plan(OrderStatus::PaymentReview, REVIEW), None);
        assert_eq!(
            plan(OrderStatus::PaymentReview, PAID),
            Some((OrderStatus::Paid, "paid"))
        );
        assert_eq!(
            plan(OrderStatus::PaymentReview, Verdict::Failed),
            Some((OrderStatus::PaymentFailed, "failed"))
        );
        assert_eq!(
            plan(OrderStatus::Expired, REVIEW),
            Some((OrderStatus::PaymentReview, "late_review"))
        );
    }

    #[test]
    fn a_pending_order_follows_the_verdict() {
        assert_eq!(
            plan(OrderStatus::PendingPayment, PAID),
            Some((OrderStatus::Paid, "paid"))
        );
        assert_eq!(
            plan(OrderStatus::PendingPayment, Verdict::Failed),
            Some((OrderStatus::PaymentFailed, "failed"))
        );
    }

    #[test]
    fn late_money_for_a_released_hold_tries_to_take_the_units_again() {
        assert_eq!(
            plan(OrderStatus::Expired, PAID),
            Some((OrderStatus::Paid, "late_paid"))
        );
        assert_eq!(
            plan(OrderStatus::PaymentFailed, PAID),
            Some((OrderStatus::Paid, "late_paid"))
        );
    }

    #[test]
    fn a_settled_order_ignores_further_news() {
        for status in [
            OrderStatus::Paid,
            OrderStatus::RefundPending,
            OrderStatus::Refunded,
        ] {
            assert_eq!(plan(status, PAID), None);
            assert_eq!(plan(status, REVIEW), None);
            assert_eq!(plan(status, Verdict::Failed), None);
        }
        assert_eq!(plan(OrderStatus::Expired, Verdict::Failed), None);
    }

    #[test]
    fn every_planned_move_is_an_edge_of_the_state_machine() {
        for status in OrderStatus::ALL {
            for verdict in [PAID, REVIEW, Verdict::Failed] {
                if let Some((to, _)) = plan(status, verdict) {
                    assert!(status.transition_to(to).is_some(), "{status:?} -> {to:?}");
                }
            }
        }
    }
}
