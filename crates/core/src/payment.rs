//! Payments as the domain sees them: what the gateway says about an order, the ports that ask it
//! (status) and that give money back (refund), and the raw record kept of every gateway message.

use crate::ids::OrderId;
use crate::order::Order;
use async_trait::async_trait;
use time::OffsetDateTime;

/// The gateway's proof that money was taken for an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GatewayPayment {
    /// The gateway's own number for the transaction, needed to refund it.
    pub transaction_no: Option<i64>,
    pub paid_at: OffsetDateTime,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaymentCheck {
    /// The gateway confirms the money was taken.
    Paid(GatewayPayment),
    /// The gateway confirms the payment failed or was cancelled.
    Failed,
    /// Nothing was paid yet: the buyer has not finished, or never reached the gateway.
    Pending,
    /// The gateway could not be asked or gave no usable answer; decide nothing now.
    Unknown {
        /// The gateway asked us to slow down (VNPay code 94).
        rate_limited: bool,
    },
}

#[async_trait]
pub trait PaymentStatus: Send + Sync {
    async fn check(&self, order: &Order) -> PaymentCheck;
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefundAttempt {
    /// The gateway accepted the refund.
    Accepted,
    /// The gateway refused it for good (e.g. the original payment is unknown to it).
    Refused(String),
    /// Try again later: no answer, or the gateway is busy with it.
    Retry(String),
}

#[async_trait]
pub trait Refunds: Send + Sync {
    async fn refund(&self, order: &Order) -> RefundAttempt;
}

/// Every callback and query result, stored raw before it is acted on, verified or not.
#[derive(Debug, Clone)]
pub struct PaymentEvent {
    pub order_id: Option<OrderId>,
    pub txn_ref: Option<String>,
    /// `ipn`, `return`, `querydr` or `refund`.
    pub source: &'static str,
    pub verified: bool,
    pub raw: String,
    /// What came of it, e.g. the answer code sent back.
    pub outcome: String,
    pub at: OffsetDateTime,
}
