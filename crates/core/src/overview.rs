//! The live sale as the database sees it: stock per product, orders per status and how paid orders
//! were settled. Read once per tick and shared by the admin dashboard and the oversold gauge.

use crate::ids::ProductId;
use crate::order::OrderStatus;
use serde::Serialize;

/// One product's stock row, beside the units its live and paid orders hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProductStock {
    pub id: ProductId,
    pub sku: String,
    pub name: String,
    pub total: i64,
    pub available: i64,
    pub reserved: i64,
    pub sold: i64,
    /// Units in `pending_payment` and `paid` orders, counted from the orders themselves.
    pub held: i64,
}

impl ProductStock {
    /// Units promised to buyers beyond the product's total: counted from the orders, not from the
    /// stock row, so that a stock row that balances while the orders do not still shows up.
    pub fn oversold(&self) -> i64 {
        (self.held - self.total).max(0)
    }
}

/// The path that settled an order as paid, from its ledger reason (`ipn_paid`, `querydr_late_paid`, …).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SettlementPath {
    /// The gateway's webhook.
    Ipn,
    /// The reconciler's querydr poll: a lost or late webhook caught.
    Reconciler,
    /// The expirer's querydr check before releasing a hold.
    Expirer,
    Other,
}

impl SettlementPath {
    pub const ALL: [SettlementPath; 4] = [Self::Ipn, Self::Reconciler, Self::Expirer, Self::Other];

    /// The ledger reason is `{source}_{why}`, with the sources `Settle::apply` is given.
    pub fn from_reason(reason: &str) -> Self {
        if reason.starts_with("ipn_") {
            Self::Ipn
        } else if reason.starts_with("querydr_") {
            Self::Reconciler
        } else if reason.starts_with("expiry_querydr_") {
            Self::Expirer
        } else {
            Self::Other
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ipn => "ipn",
            Self::Reconciler => "reconciler",
            Self::Expirer => "expirer",
            Self::Other => "other",
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SaleOverview {
    pub products: Vec<ProductStock>,
    /// Every status, zero included, in `OrderStatus::ALL` order.
    pub orders_by_status: Vec<(OrderStatus, i64)>,
    /// Transitions into `paid` by the path that made them, every path included.
    pub settlements: Vec<(SettlementPath, i64)>,
}

impl SaleOverview {
    /// Builds the overview from the rows the adapters read: stock rows, `(product, status, orders,
    /// units)` groups and `(ledger reason, count)` groups of transitions into `paid`.
    pub fn from_rows(
        mut products: Vec<ProductStock>,
        order_groups: &[(ProductId, OrderStatus, i64, i64)],
        paid_reasons: &[(String, i64)],
    ) -> Self {
        for product in &mut products {
            product.held = order_groups
                .iter()
                .filter(|(id, status, _, _)| *id == product.id && status.holds_quota())
                .map(|(_, _, _, units)| units)
                .sum();
        }
        let orders_by_status = OrderStatus::ALL
            .iter()
            .map(|status| {
                let count = order_groups
                    .iter()
                    .filter(|(_, s, _, _)| s == status)
                    .map(|(_, _, orders, _)| orders)
                    .sum();
                (*status, count)
            })
            .collect();
        let settlements = SettlementPath::ALL
            .iter()
            .map(|path| {
                let count = paid_reasons
                    .iter()
                    .filter(|(reason, _)| SettlementPath::from_reason(reason) == *path)
                    .map(|(_, n)| n)
                    .sum();
                (*path, count)
            })
            .collect();
        Self {
            products,
            orders_by_status,
            settlements,
        }
    }

    /// Units sold beyond total, over every product: must stay 0.
    pub fn oversold(&self) -> i64 {
        self.products.iter().map(ProductStock::oversold).sum()
    }

    pub fn orders(&self) -> i64 {
        self.orders_by_status.iter().map(|(_, n)| n).sum()
    }
}

/// One connection pool's occupancy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PoolStats {
    /// `main` for PostgreSQL; `writer` and `reader` for SQLite.
    pub pool: &'static str,
    pub max: u32,
    /// Connections open, idle or in use.
    pub size: u32,
    pub idle: u32,
}

impl PoolStats {
    pub fn in_use(&self) -> u32 {
        self.size.saturating_sub(self.idle)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stock(id: i64, total: i64) -> ProductStock {
        ProductStock {
            id: ProductId(id),
            sku: format!("SKU-{id}"),
            name: "Phone".into(),
            total,
            available: 0,
            reserved: 0,
            sold: total,
            held: 0,
        }
    }

    #[test]
    fn units_held_by_live_and_paid_orders_beyond_the_total_are_oversold() {
        let overview = SaleOverview::from_rows(
            vec![stock(1, 3), stock(2, 5)],
            &[
                (ProductId(1), OrderStatus::Paid, 3, 3),
                (ProductId(1), OrderStatus::PendingPayment, 1, 2),
                // Released and refunded orders hold nothing.
                (ProductId(1), OrderStatus::Expired, 4, 4),
                (ProductId(2), OrderStatus::Paid, 5, 5),
                (ProductId(2), OrderStatus::RefundPending, 1, 1),
            ],
            &[],
        );
        assert_eq!(overview.products[0].held, 5);
        assert_eq!(overview.products[0].oversold(), 2);
        assert_eq!(overview.products[1].oversold(), 0);
        assert_eq!(overview.oversold(), 2);
    }

    #[test]
    fn every_status_is_counted_across_products_zero_included() {
        let overview = SaleOverview::from_rows(
            vec![stock(1, 3), stock(2, 5)],
            &[
                (ProductId(1), OrderStatus::Paid, 2, 2),
                (ProductId(2), OrderStatus::Paid, 3, 3),
                (ProductId(2), OrderStatus::Expired, 1, 1),
            ],
            &[],
        );
        let count = |status| {
            overview
                .orders_by_status
                .iter()
                .find(|(s, _)| *s == status)
                .map(|(_, n)| *n)
        };
        assert_eq!(count(OrderStatus::Paid), Some(5));
        assert_eq!(count(OrderStatus::Expired), Some(1));
        assert_eq!(count(OrderStatus::Refunded), Some(0));
        assert_eq!(overview.orders(), 6);
    }

    #[test]
    fn settlements_are_attributed_to_the_path_named_by_the_ledger_reason() {
        let overview = SaleOverview::from_rows(
            vec![],
            &[],
            &[
                ("ipn_paid".into(), 4),
                ("ipn_late_paid".into(), 1),
                ("querydr_paid".into(), 2),
                ("expiry_querydr_late_paid".into(), 1),
            ],
        );
        assert_eq!(
            overview.settlements,
            vec![
                (SettlementPath::Ipn, 5),
                (SettlementPath::Reconciler, 2),
                (SettlementPath::Expirer, 1),
                (SettlementPath::Other, 0),
            ]
        );
    }
}
