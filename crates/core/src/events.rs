//! Order events: what the shop behind flashgate hears. The ledger (`order_events`) is the outbox: each
//! row is written in the transaction of the change it records, so an event exists exactly when its
//! change committed. This module names events and the feed's positions; storage reads them.

use crate::error::StoreError;
use crate::order::{Order, OrderStatus};
use async_trait::async_trait;
use time::OffsetDateTime;

/// One change of one order, as the shop is told of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderEvent {
    /// The ledger row's id: stable, and unique across every order.
    pub id: i64,
    /// 1 for the order's creation, then one more for each change of that order.
    pub sequence: i64,
    pub at: OffsetDateTime,
    /// The order as it was right after the change (its status is the event's).
    pub order: Order,
}

impl OrderEvent {
    /// The event's type, e.g. `order.paid`; an order's first event is `order.created`.
    pub fn kind(&self) -> &'static str {
        kind_of(self.order.status)
    }

    /// The id the shop deduplicates by (`webhook-id`).
    pub fn public_id(&self) -> String {
        format!("evt_{}", self.id)
    }
}

/// Every event type, in the state machine's order.
pub const KINDS: [&str; 9] = [
    "order.created",
    "order.payment_review",
    "order.payment_review_released",
    "order.paid",
    "order.payment_failed",
    "order.expired",
    "order.refund_pending",
    "order.refund_failed",
    "order.refunded",
];

/// The type of the event that moved an order into `status`: no step leads back to
/// `pending_payment`, so entering it is the order's creation.
pub fn kind_of(status: OrderStatus) -> &'static str {
    let i = OrderStatus::ALL
        .iter()
        .position(|s| *s == status)
        .unwrap_or_default();
    KINDS[i]
}

/// The status whose entry an event type reports.
pub fn status_of(kind: &str) -> Option<OrderStatus> {
    let i = KINDS.iter().position(|k| *k == kind)?;
    OrderStatus::ALL.get(i).copied()
}

/// Where a reader of the feed stands: after the event at `id`, written by the transaction `xid`.
/// PostgreSQL hands out ids before commit, so ids alone are not commit order there: the feed goes by
/// the writing transaction (`xid`, 0 on SQLite, whose single writer commits in id order) and then id.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct FeedPosition {
    pub xid: u64,
    pub id: i64,
}

/// A page of the feed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedPage {
    pub events: Vec<OrderEvent>,
    /// Where the next page starts: after the last event here, or where this page started.
    pub next: FeedPosition,
}

/// The events in commit order. A page holds only events every earlier transaction of which has
/// ended, so a reader that follows `next` sees each event exactly once even while writers commit.
#[async_trait]
pub trait EventFeed: Send + Sync {
    async fn page(
        &self,
        after: FeedPosition,
        limit: i64,
        only: Option<OrderStatus>,
    ) -> Result<FeedPage, StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_has_one_event_type_and_back() {
        for status in OrderStatus::ALL {
            assert_eq!(status_of(kind_of(status)), Some(status));
        }
        assert_eq!(kind_of(OrderStatus::PendingPayment), "order.created");
        assert_eq!(kind_of(OrderStatus::Paid), "order.paid");
        assert_eq!(status_of("order.pending_payment"), None);
    }
}
