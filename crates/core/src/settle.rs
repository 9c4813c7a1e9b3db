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
                // News about a released hold whose units are gone (sold to someone else since, or
                // the customer is at the limit): late money is refunded, and money in doubt is
                // reviewed holding nothing. Either way the order is never left as unpaid.
                TransitionOutcome::InsufficientStock => {
                    let Some((to, reason)) = without_units(to) else {
                        return Err(StoreError::internal(format!(
                            "{status:?} -> {to:?} needs units but has no fallback"
                        )));
                    };
                    let fallback = Transition {
                        to,
                        reason: format!("{source}_{reason}"),
                        ..transition
                    };
                    match self.transitions.apply(&fallback).await? {
                        TransitionOutcome::Applied(_) => return Ok(Settled::Moved(to)),
                        TransitionOutcome::NotInState(now) => status = now,
                        TransitionOutcome::NotFound => return Ok(Settled::NotFound),
                        TransitionOutcome::InsufficientStock => {
                            return Err(StoreError::internal(format!(
                                "{to:?} needs no units but found none"
                            )));
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
        (Expired | PaymentFailed | PaymentReviewReleased, Verdict::Paid(_)) => {
            Some((Paid, "late_paid"))
        }
        (Expired | PaymentFailed, Verdict::Review(_)) => Some((PaymentReview, "late_review")),
        // Reviewed holding nothing, and no money moved after all: nothing to release.
        (PaymentReviewReleased, Verdict::Failed) => Some((PaymentFailed, "failed")),
        _ => None,
    }
}

/// Where a move that needs units goes when they are gone, and why.
fn without_units(to: OrderStatus) -> Option<(OrderStatus, &'static str)> {
    match to {
        // Late money: refunded.
        OrderStatus::Paid => Some((OrderStatus::RefundPending, "late_paid_no_stock")),
        // Late doubt: reviewed all the same, holding nothing.
        OrderStatus::PaymentReview => {
            Some((OrderStatus::PaymentReviewReleased, "late_review_no_stock"))
        }
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
    fn a_released_hold_whose_units_are_gone_is_refunded_or_reviewed_never_left_unpaid() {
        assert_eq!(
            without_units(OrderStatus::Paid),
            Some((OrderStatus::RefundPending, "late_paid_no_stock"))
        );
        assert_eq!(
            without_units(OrderStatus::PaymentReview),
            Some((OrderStatus::PaymentReviewReleased, "late_review_no_stock"))
        );
        for status in OrderStatus::ALL {
            for verdict in [PAID, REVIEW] {
                if let Some((to, _)) = plan(status, verdict)
                    && status.transition_to(to).is_some_and(|e| e.available < 0)
                {
                    let (fallback, _) = without_units(to).expect("a fallback");
                    assert!(status.transition_to(fallback).is_some(), "{status:?}");
                }
            }
        }
    }

    #[test]
    fn an_order_reviewed_without_units_waits_on_the_gateway() {
        let released = OrderStatus::PaymentReviewReleased;
        assert_eq!(plan(released, REVIEW), None);
        assert_eq!(plan(released, PAID), Some((OrderStatus::Paid, "late_paid")));
        assert_eq!(
            plan(released, Verdict::Failed),
            Some((OrderStatus::PaymentFailed, "failed"))
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
