//! What the gateway says about an order's payment, asked before a hold is released: a webhook that
//! never arrived must not turn a paid order into an expired one.

use crate::order::Order;
use async_trait::async_trait;
use time::OffsetDateTime;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PaymentCheck {
    /// The gateway confirms the money was taken.
    Paid { at: OffsetDateTime },
    /// The gateway confirms the payment failed or was cancelled.
    Failed,
    /// The gateway confirms nothing was paid (or knows no such payment).
    Unpaid,
    /// The gateway could not be asked or gave no usable answer: decide nothing now.
    Unknown,
}

#[async_trait]
pub trait PaymentStatus: Send + Sync {
    async fn check(&self, order: &Order) -> PaymentCheck;
}
