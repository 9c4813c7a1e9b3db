//! What an operator asks about orders: a filtered search, newest first, paged by a cursor; and one
//! order's whole history (its ledger and the raw gateway messages about it).

use crate::error::StoreError;
use crate::ids::{CustomerId, OrderId, ProductId};
use crate::order::{Order, OrderStatus};
use async_trait::async_trait;
use time::OffsetDateTime;

/// Which orders a search returns; every filter left `None` matches all.
#[derive(Debug, Clone, Default)]
pub struct OrderFilter {
    pub status: Option<OrderStatus>,
    pub product_id: Option<ProductId>,
    pub customer: Option<CustomerId>,
    /// Created at or after this.
    pub created_from: Option<OffsetDateTime>,
    /// Created before this.
    pub created_before: Option<OffsetDateTime>,
    /// Continue after this order of the previous page (newest first).
    pub after: Option<OrderCursor>,
    pub limit: i64,
}

/// Where a page ended: the last order's creation time and id, which order the results.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrderCursor {
    pub created_at: OffsetDateTime,
    pub id: OrderId,
}

impl OrderCursor {
    pub fn of(order: &Order) -> Self {
        Self {
            created_at: order.created_at,
            id: order.id,
        }
    }

    /// An opaque token for a URL: microseconds since the epoch and the order id.
    pub fn encode(&self) -> String {
        format!(
            "{}_{}",
            self.created_at.unix_timestamp_nanos() / 1_000,
            self.id.0.simple()
        )
    }

    /// Only what [`Self::encode`] writes: a cursor made up by hand (a sign, a hyphenated id, a time
    /// before any order) is refused rather than read as some other place in the list.
    pub fn decode(raw: &str) -> Option<Self> {
        let (micros, id) = raw.split_once('_')?;
        let micros: i128 = micros.parse().ok()?;
        let cursor = Self {
            created_at: OffsetDateTime::from_unix_timestamp_nanos(micros.checked_mul(1_000)?)
                .ok()?,
            id: OrderId(uuid::Uuid::try_parse(id).ok()?),
        };
        (micros >= 0 && cursor.encode() == raw).then_some(cursor)
    }
}

/// The orders of one page, newest first, and where the next page starts: `None` on the last.
#[derive(Debug)]
pub struct SearchPage {
    pub orders: Vec<Order>,
    pub next: Option<OrderCursor>,
}

/// One row of an order's ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerEntry {
    pub from: Option<OrderStatus>,
    pub to: OrderStatus,
    pub reason: String,
    pub at: OffsetDateTime,
}

/// The most gateway messages an order's detail shows: the newest. An order gets a handful in its
/// life; a sender flooding it with forged callbacks (pruned later) cannot make the detail grow.
pub const PAYMENT_RECORDS_SHOWN: i64 = 100;

/// One stored gateway message about an order, as it was recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentRecord {
    pub source: String,
    pub verified: bool,
    pub outcome: String,
    pub raw: String,
    pub at: OffsetDateTime,
}

#[async_trait]
pub trait OrderSearch: Send + Sync {
    /// At most `filter.limit` orders, and a cursor only when more match after them.
    async fn search(&self, filter: &OrderFilter) -> Result<SearchPage, StoreError>;
    /// The order's ledger, oldest first.
    async fn ledger(&self, id: OrderId) -> Result<Vec<LedgerEntry>, StoreError>;
    /// The newest `PAYMENT_RECORDS_SHOWN` gateway messages recorded about the order, oldest first.
    async fn payment_records(&self, id: OrderId) -> Result<Vec<PaymentRecord>, StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_survives_its_round_trip_through_a_url() {
        let cursor = OrderCursor {
            created_at: OffsetDateTime::from_unix_timestamp_nanos(1_764_000_000_123_456_000)
                .unwrap(),
            id: OrderId(uuid::Uuid::new_v4()),
        };
        assert_eq!(OrderCursor::decode(&cursor.encode()), Some(cursor));
        assert_eq!(OrderCursor::decode("nonsense"), None);
        assert_eq!(OrderCursor::decode("12_not-a-uuid"), None);
        let id = uuid::Uuid::new_v4();
        for forged in [
            format!("-1_{}", id.simple()),
            format!("+12_{}", id.simple()),
            format!("012_{}", id.simple()),
            format!("12_{}", id.hyphenated()),
            format!("12_{}", id.simple().to_string().to_uppercase()),
        ] {
            assert_eq!(OrderCursor::decode(&forged), None, "{forged}");
        }
        assert!(OrderCursor::decode(&format!("12_{}", id.simple())).is_some());
    }
}
