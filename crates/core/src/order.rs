//! Orders and their state machine. Every transition names the stock it moves, so storage adapters apply
//! one generic, conditional update instead of re-deriving the rules.

use crate::ids::{CustomerId, OrderId, ProductId};
use crate::money::{Quantity, Vnd};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// How the ledger reason of a refund an operator made outside the gateway starts (their reason
/// follows): the audit accepts a refunded order on such a row in place of a refund the gateway
/// accepted.
pub const REFUNDED_ELSEWHERE: &str = "operator_refunded_elsewhere: ";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    PendingPayment,
    /// The gateway says money may have moved without a clear success (VNPay ResponseCode 07,
    /// TransactionStatus 04/07): the units stay held, the expirer never touches it, and only the
    /// gateway's later word or an operator settles it.
    PaymentReview,
    /// The same doubt about an order whose hold had already been released (expired, or failed), when
    /// its units could not be taken back: sold to someone else since, or the customer is at the
    /// limit. It holds no units and no quota, but it is not released as unpaid: the reconciler asks
    /// the gateway about it with no time limit until it decides (or an operator does). Paid: the
    /// units are taken again if any are left, otherwise the money is refunded; unpaid: payment_failed,
    /// with nothing to release.
    PaymentReviewReleased,
    Paid,
    PaymentFailed,
    Expired,
    RefundPending,
    /// The gateway refused the refund as often as `payments.refund_max_refusals` allows: money owed to
    /// the buyer waits for an operator, who retries it or records it refunded by other means.
    RefundFailed,
    Refunded,
}

impl OrderStatus {
    pub const ALL: [OrderStatus; 9] = [
        Self::PendingPayment,
        Self::PaymentReview,
        Self::PaymentReviewReleased,
        Self::Paid,
        Self::PaymentFailed,
        Self::Expired,
        Self::RefundPending,
        Self::RefundFailed,
        Self::Refunded,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::PendingPayment => "pending_payment",
            Self::PaymentReview => "payment_review",
            Self::PaymentReviewReleased => "payment_review_released",
            Self::Paid => "paid",
            Self::PaymentFailed => "payment_failed",
            Self::Expired => "expired",
            Self::RefundPending => "refund_pending",
            Self::RefundFailed => "refund_failed",
            Self::Refunded => "refunded",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.as_str() == raw)
    }

    /// The stock a transition moves, or `None` when the state machine forbids it.
    pub fn transition_to(self, to: OrderStatus) -> Option<StockEffect> {
        use OrderStatus::*;
        match (self, to) {
            (PendingPayment | PaymentReview, Paid) => Some(StockEffect::SELL_RESERVED),
            (PendingPayment, PaymentFailed | Expired) => Some(StockEffect::RELEASE),
            // Money may have moved: the units stay reserved until the gateway or an operator decides.
            (PendingPayment, PaymentReview) => Some(StockEffect::NONE),
            // The gateway says no money moved, or the operator gives it back: the units go back on sale.
            (PaymentReview, PaymentFailed | RefundPending) => Some(StockEffect::RELEASE),
            (Expired | PaymentFailed | PaymentReviewReleased, Paid) => {
                Some(StockEffect::RETAKE_AND_SELL)
            }
            // A doubtful answer about a released hold: take the units again while it is reviewed.
            (Expired | PaymentFailed, PaymentReview) => Some(StockEffect::RESERVE),
            // ... or, when they are gone, review it holding nothing: never left as unpaid.
            (Expired | PaymentFailed, PaymentReviewReleased) => Some(StockEffect::NONE),
            // The gateway says no money moved, or the money goes back: nothing is held to release.
            (PaymentReviewReleased, PaymentFailed | RefundPending) => Some(StockEffect::NONE),
            // An operator refunds a paid order in full: the units go back on sale.
            (Paid, RefundPending) => Some(StockEffect::UNSELL),
            (Expired | PaymentFailed, RefundPending) | (RefundPending, Refunded) => {
                Some(StockEffect::NONE)
            }
            // Refused too often: an operator retries it, or records it refunded by other means.
            (RefundPending, RefundFailed) | (RefundFailed, RefundPending | Refunded) => {
                Some(StockEffect::NONE)
            }
            _ => None,
        }
    }

    /// Whether an order in this state still counts against the customer's limit.
    pub fn holds_quota(self) -> bool {
        matches!(
            self,
            Self::PendingPayment | Self::PaymentReview | Self::Paid
        )
    }

    /// Whether the order's units are reserved (not yet sold) for it.
    pub fn reserves_units(self) -> bool {
        matches!(self, Self::PendingPayment | Self::PaymentReview)
    }
}

/// Per unit of the order: how `available`, `reserved` and `sold` change, and whether the customer's
/// holding of the product changes with them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StockEffect {
    pub available: i64,
    pub reserved: i64,
    pub sold: i64,
    pub held: i64,
}

impl StockEffect {
    pub const NONE: Self = Self {
        available: 0,
        reserved: 0,
        sold: 0,
        held: 0,
    };
    /// A new order reserves its units.
    pub const RESERVE: Self = Self {
        available: -1,
        reserved: 1,
        sold: 0,
        held: 1,
    };
    pub const SELL_RESERVED: Self = Self {
        available: 0,
        reserved: -1,
        sold: 1,
        held: 0,
    };
    pub const RELEASE: Self = Self {
        available: 1,
        reserved: -1,
        sold: 0,
        held: -1,
    };
    /// A full refund of a paid order: its units go back on sale.
    pub const UNSELL: Self = Self {
        available: 1,
        reserved: 0,
        sold: -1,
        held: -1,
    };
    /// Late money for an order whose hold was released: take the units again straight into `sold`.
    pub const RETAKE_AND_SELL: Self = Self {
        available: -1,
        reserved: 0,
        sold: 1,
        held: 1,
    };

    pub fn times(self, quantity: Quantity) -> Self {
        let q = quantity.get();
        Self {
            available: self.available * q,
            reserved: self.reserved * q,
            sold: self.sold * q,
            held: self.held * q,
        }
    }

    pub fn moves_stock(self) -> bool {
        self != Self::NONE
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Order {
    pub id: OrderId,
    pub customer: CustomerId,
    pub product_id: ProductId,
    pub quantity: Quantity,
    pub amount: Vnd,
    pub status: OrderStatus,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    pub paid_at: Option<OffsetDateTime>,
    pub payment_url: Option<String>,
    /// The gateway's number for the payment, once one is known.
    pub gateway_transaction_no: Option<i64>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use OrderStatus::*;

    #[test]
    fn every_status_round_trips_through_its_name() {
        for status in OrderStatus::ALL {
            assert_eq!(OrderStatus::parse(status.as_str()), Some(status));
        }
        assert_eq!(OrderStatus::parse("shipped"), None);
    }

    #[test]
    fn only_the_edges_of_the_design_are_allowed() {
        let allowed = [
            (PendingPayment, Paid),
            (PendingPayment, PaymentFailed),
            (PendingPayment, Expired),
            (PendingPayment, PaymentReview),
            (PaymentReview, Paid),
            (PaymentReview, PaymentFailed),
            (PaymentReview, RefundPending),
            (Expired, PaymentReview),
            (PaymentFailed, PaymentReview),
            (Expired, PaymentReviewReleased),
            (PaymentFailed, PaymentReviewReleased),
            (PaymentReviewReleased, Paid),
            (PaymentReviewReleased, PaymentFailed),
            (PaymentReviewReleased, RefundPending),
            (Paid, RefundPending),
            (Expired, Paid),
            (PaymentFailed, Paid),
            (Expired, RefundPending),
            (PaymentFailed, RefundPending),
            (RefundPending, Refunded),
            (RefundPending, RefundFailed),
            (RefundFailed, RefundPending),
            (RefundFailed, Refunded),
        ];
        for from in OrderStatus::ALL {
            for to in OrderStatus::ALL {
                assert_eq!(
                    from.transition_to(to).is_some(),
                    allowed.contains(&(from, to)),
                    "{from:?} -> {to:?}"
                );
            }
        }
    }

    #[test]
    fn every_effect_keeps_the_stock_total_unchanged() {
        for from in OrderStatus::ALL {
            for to in OrderStatus::ALL {
                if let Some(effect) = from.transition_to(to) {
                    assert_eq!(effect.available + effect.reserved + effect.sold, 0);
                }
            }
        }
        let reserve = StockEffect::RESERVE;
        assert_eq!(reserve.available + reserve.reserved + reserve.sold, 0);
    }

    #[test]
    fn the_quota_follows_the_orders_that_hold_it() {
        for from in OrderStatus::ALL {
            for to in OrderStatus::ALL {
                if let Some(effect) = from.transition_to(to) {
                    let expected = i64::from(to.holds_quota()) - i64::from(from.holds_quota());
                    assert_eq!(effect.held, expected, "{from:?} -> {to:?}");
                }
            }
        }
    }

    #[test]
    fn a_paid_order_only_goes_back_as_a_refund() {
        for to in OrderStatus::ALL {
            assert_eq!(Paid.transition_to(to).is_some(), to == RefundPending);
        }
    }

    #[test]
    fn an_order_under_review_keeps_its_units_reserved() {
        assert_eq!(
            PendingPayment.transition_to(PaymentReview),
            Some(StockEffect::NONE)
        );
        assert!(PaymentReview.reserves_units() && PaymentReview.holds_quota());
        assert!(PaymentReview.transition_to(Expired).is_none());
    }

    #[test]
    fn a_released_order_under_review_holds_nothing_and_is_never_released_again() {
        for from in [Expired, PaymentFailed] {
            assert_eq!(
                from.transition_to(PaymentReviewReleased),
                Some(StockEffect::NONE)
            );
        }
        assert!(!PaymentReviewReleased.reserves_units() && !PaymentReviewReleased.holds_quota());
        assert_eq!(
            PaymentReviewReleased.transition_to(Paid),
            Some(StockEffect::RETAKE_AND_SELL)
        );
        for to in [PaymentFailed, RefundPending] {
            assert_eq!(
                PaymentReviewReleased.transition_to(to),
                Some(StockEffect::NONE)
            );
        }
        assert!(PaymentReviewReleased.transition_to(Expired).is_none());
    }
}
