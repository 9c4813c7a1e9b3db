//! Payments as the domain sees them: what the gateway says about an order, the ports that ask it
//! (status) and that give money back (refund), and the raw record kept of every gateway message.

use crate::ids::OrderId;
use crate::money::Vnd;
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

/// The amounts one payment may carry: VNPay takes 5,000 VND up to, not including, 1,000,000,000 VND.
/// A price or an order outside them could never be paid, so it is refused before anything is written.
pub const PAYABLE_VND: std::ops::Range<i64> = 5_000..1_000_000_000;

pub fn is_payable(amount: Vnd) -> bool {
    PAYABLE_VND.contains(&amount.get())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaymentCheck {
    /// The gateway confirms the money was taken.
    Paid(GatewayPayment),
    /// Money may have moved without a clear success (suspected fraud, debited at the bank but not
    /// completed at the gateway, a refund under way): keep the units and ask again.
    Review(GatewayPayment),
    /// The gateway confirms the payment failed or was cancelled: no money moved.
    Failed,
    /// Nothing was paid yet: the buyer has not finished, or never reached the gateway.
    Pending,
    /// The gateway as a whole cannot answer now (it asks us to slow down, does not answer, or fails
    /// with a 5xx): every query waits.
    GatewayBusy,
    /// This order's answer cannot be decided (an unknown code, another amount, an error about this
    /// query alone): this order is asked again later, the others go on.
    Undecided,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_amounts_the_gateway_takes_are_payable() {
        for (amount, payable) in [
            (1_000, false),
            (4_999, false),
            (5_000, true),
            (999_999_999, true),
            (1_000_000_000, false),
            (1_999_999_998, false),
        ] {
            assert_eq!(is_payable(Vnd::from_stored(amount)), payable, "{amount}");
        }
    }
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
