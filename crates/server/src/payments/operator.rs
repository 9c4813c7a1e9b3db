//! What an operator does to an order's money: a full refund through the gateway (of a paid order, of
//! one under review, or again after the gateway refused it too often), idempotent per
//! `Idempotency-Key`; settling an order under review (`payment_review`, or `payment_review_released`)
//! as paid; and recording that a refund the gateway
//! refused was made by other means, with the operator's reason. Each moves the order along the state
//! machine like every other path, so the ledger says who did it and why; the refund itself goes out
//! through the refunder.

use flashgate_core::order::REFUNDED_ELSEWHERE;
use flashgate_core::order_search::OrderSearch;
use flashgate_core::payment::GatewayPayment;
use flashgate_core::ports::{OrderQueries, Transition, TransitionOutcome, Transitions};
use flashgate_core::{Clock, IdempotencyKey, Order, OrderId, OrderStatus, StoreError};
use std::sync::Arc;

#[derive(Clone)]
pub struct Operator {
    pub orders: Arc<dyn OrderQueries>,
    pub search: Arc<dyn OrderSearch>,
    pub transitions: Arc<dyn Transitions>,
    pub clock: Arc<dyn Clock>,
}

/// An operator's decision on an order under review.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReviewDecision {
    /// The money is good: the order is paid and its units sold.
    AcceptPaid,
    /// Give the money back: the order is refunded in full and its units go back on sale.
    Refund,
}

#[derive(Debug, thiserror::Error)]
pub enum OperatorError {
    #[error("no such order")]
    NotFound,
    /// The order is not in a state the action applies to.
    #[error("the order is {0:?}")]
    WrongState(OrderStatus),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The ledger reason of an operator's refund under `key`: a retry with the same key finds it.
fn refund_reason(key: &IdempotencyKey) -> String {
    format!("operator_refund:{}", key.as_str())
}

impl Operator {
    /// Starts a full refund of a paid order or of one under review, or tries again one the gateway
    /// refused too often. A retry with the same key answers the order as it is now, without a second
    /// refund.
    pub async fn refund(&self, id: OrderId, key: &IdempotencyKey) -> Result<Order, OperatorError> {
        let reason = refund_reason(key);
        if self.refund_started(id, &reason).await? {
            return self.current(id).await;
        }
        let order = self.current(id).await?;
        let started = if matches!(
            order.status,
            OrderStatus::Paid
                | OrderStatus::PaymentReview
                | OrderStatus::PaymentReviewReleased
                | OrderStatus::RefundFailed
        ) {
            self.move_order(&order, OrderStatus::RefundPending, reason.clone(), None)
                .await
        } else {
            Err(OperatorError::WrongState(order.status))
        };
        match started {
            Ok(moved) => {
                tracing::info!(order_id = %id, from = order.status.as_str(), "operator refund started");
                Ok(moved)
            }
            // A request with the same key started it since the first look (a client retrying
            // while its first request is still running): this one answers like any retry.
            Err(OperatorError::WrongState(_)) if self.refund_started(id, &reason).await? => {
                self.current(id).await
            }
            Err(e) => Err(e),
        }
    }

    /// Whether a refund under this ledger reason was started.
    async fn refund_started(&self, id: OrderId, reason: &str) -> Result<bool, OperatorError> {
        let ledger = self.search.ledger(id).await?;
        Ok(ledger.iter().any(|entry| entry.reason == reason))
    }

    /// Settles an order under review: accepted as paid, or refunded in full. Accepted money for an
    /// order reviewed after its hold was released takes its units again if any are left, and is
    /// refunded otherwise, as late money is.
    pub async fn settle_review(
        &self,
        id: OrderId,
        decision: ReviewDecision,
    ) -> Result<Order, OperatorError> {
        let order = self.current(id).await?;
        if !matches!(
            order.status,
            OrderStatus::PaymentReview | OrderStatus::PaymentReviewReleased
        ) {
            return Err(OperatorError::WrongState(order.status));
        }
        let (to, reason, payment) = match decision {
            ReviewDecision::AcceptPaid => (
                OrderStatus::Paid,
                "operator_accepted",
                Some(GatewayPayment {
                    transaction_no: order.gateway_transaction_no,
                    paid_at: self.clock.now(),
                }),
            ),
            ReviewDecision::Refund => (OrderStatus::RefundPending, "operator_refund", None),
        };
        let moved = match self.apply(&order, to, reason.to_owned(), payment).await? {
            // Accepted, but the units of a released hold are gone: the money goes back.
            TransitionOutcome::InsufficientStock if to == OrderStatus::Paid => {
                self.move_order(
                    &order,
                    OrderStatus::RefundPending,
                    "operator_accepted_no_stock".to_owned(),
                    None,
                )
                .await?
            }
            outcome => Self::moved(outcome)?,
        };
        tracing::info!(order_id = %id, to = moved.status.as_str(), "operator settled an order under review");
        Ok(moved)
    }

    /// Records that the money of an order whose refund the gateway refused was given back by other
    /// means (a bank transfer, say); `reason` goes into the ledger.
    pub async fn mark_refunded(&self, id: OrderId, reason: &str) -> Result<Order, OperatorError> {
        let order = self.current(id).await?;
        if order.status != OrderStatus::RefundFailed {
            return Err(OperatorError::WrongState(order.status));
        }
        let moved = self
            .move_order(
                &order,
                OrderStatus::Refunded,
                format!("{REFUNDED_ELSEWHERE}{reason}"),
                None,
            )
            .await?;
        tracing::info!(order_id = %id, reason, "operator recorded a refund made outside the gateway");
        Ok(moved)
    }

    async fn current(&self, id: OrderId) -> Result<Order, OperatorError> {
        self.orders.get(id).await?.ok_or(OperatorError::NotFound)
    }

    async fn move_order(
        &self,
        order: &Order,
        to: OrderStatus,
        reason: String,
        payment: Option<GatewayPayment>,
    ) -> Result<Order, OperatorError> {
        Self::moved(self.apply(order, to, reason, payment).await?)
    }

    async fn apply(
        &self,
        order: &Order,
        to: OrderStatus,
        reason: String,
        payment: Option<GatewayPayment>,
    ) -> Result<TransitionOutcome, OperatorError> {
        let transition = Transition {
            order_id: order.id,
            from: order.status,
            to,
            reason,
            at: self.clock.now(),
            payment,
        };
        Ok(self.transitions.apply(&transition).await?)
    }

    fn moved(outcome: TransitionOutcome) -> Result<Order, OperatorError> {
        match outcome {
            TransitionOutcome::Applied(moved) => Ok(moved),
            TransitionOutcome::NotInState(now) => Err(OperatorError::WrongState(now)),
            TransitionOutcome::NotFound => Err(OperatorError::NotFound),
            TransitionOutcome::InsufficientStock => Err(OperatorError::Store(
                StoreError::Internal("an operator's move needs no units".into()),
            )),
        }
    }
}
