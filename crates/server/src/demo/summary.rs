//! What the demo's sale came to, from the buyers' answers, the simulator and the service's own audit.

use super::Options;
use super::crowd::Rush;
use super::payments::{Paid, Settled};
use flashgate_core::audit::AuditReport;
use std::fmt;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Summary {
    pub crowd: usize,
    pub stock: i64,
    /// Orders the crowd won (201 answers) and the units in them.
    pub orders_won: usize,
    pub units_won: i64,
    pub sold_out: usize,
    pub refused: usize,
    /// Payments the simulator completed, and those it could not.
    pub paid_at_gateway: usize,
    pub gateway_errors: usize,
    pub paid_via_ipn: usize,
    pub paid_via_reconciler: usize,
    pub expired: usize,
    pub still_pending: usize,
    /// Orders the gateway took money for that the service does not show as paid.
    pub lost_payments: usize,
    /// Units sold beyond the stock: must be 0.
    pub oversold: i64,
    /// Units back on sale at the end (released holds).
    pub available: i64,
    pub audit: AuditReport,
    /// From the product's creation to the audit.
    pub elapsed: Duration,
}

impl Summary {
    pub(super) fn new(
        options: &Options,
        rush: &Rush,
        paid: &Paid,
        settled: &Settled,
        available: i64,
        audit: AuditReport,
        elapsed: Duration,
    ) -> Self {
        let count = |status: &str| settled.statuses.values().filter(|s| *s == status).count();
        let units_won = rush.won.iter().map(|w| w.quantity).sum::<i64>();
        let lost_payments = paid
            .at_gateway
            .iter()
            .filter(|order| settled.statuses.get(*order).map(String::as_str) != Some("paid"))
            .count();
        Self {
            crowd: options.crowd,
            stock: options.stock,
            orders_won: rush.won.len(),
            units_won,
            sold_out: rush.sold_out,
            refused: rush.refused,
            paid_at_gateway: paid.at_gateway.len(),
            gateway_errors: paid.gateway_errors,
            paid_via_ipn: settled.via_ipn,
            paid_via_reconciler: settled.via_reconciler,
            expired: count("expired"),
            still_pending: count("pending_payment"),
            lost_payments,
            oversold: (units_won - options.stock).max(0) + (-available).max(0),
            available,
            audit,
            elapsed,
        }
    }

    /// No oversell, every payment the gateway took is a paid order, nothing left pending, audit clean.
    pub fn is_clean(&self) -> bool {
        self.oversold == 0
            && self.lost_payments == 0
            && self.still_pending == 0
            && self.audit.is_clean()
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "summary (sale settled in {:.1} s)",
            self.elapsed.as_secs_f64()
        )?;
        writeln!(
            f,
            "  crowd            {} buyers for {} units",
            self.crowd, self.stock
        )?;
        writeln!(
            f,
            "  won              {} units in {} orders (held for payment); {} told sold out, {} refused otherwise",
            self.units_won, self.orders_won, self.sold_out, self.refused
        )?;
        writeln!(
            f,
            "  paid             {} at the gateway: {} via IPN, {} via the reconciler (IPN dropped)",
            self.paid_at_gateway, self.paid_via_ipn, self.paid_via_reconciler
        )?;
        writeln!(
            f,
            "  expired          {} unpaid holds, units back on sale: {}",
            self.expired, self.available
        )?;
        writeln!(f, "  still pending    {}", self.still_pending)?;
        writeln!(f, "  lost payments    {}", self.lost_payments)?;
        writeln!(f, "  oversold         {}", self.oversold)?;
        let audit = if self.audit.is_clean() {
            format!("clean ({} checks)", self.audit.checks.len())
        } else {
            format!("{} violations", self.audit.violations())
        };
        write!(f, "  audit            {audit}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::demo::crowd::Won;

    fn options() -> Options {
        Options {
            crowd: 10,
            stock: 2,
            drop_ipn_percent: 0,
            unpaid_percent: 0,
        }
    }

    fn rush(orders: &[&str]) -> Rush {
        Rush {
            won: orders
                .iter()
                .map(|id| Won {
                    token: String::new(),
                    order_id: (*id).to_owned(),
                    quantity: 1,
                    payment_url: String::new(),
                })
                .collect(),
            sold_out: 10 - orders.len(),
            refused: 0,
        }
    }

    fn settled(statuses: &[(&str, &str)]) -> Settled {
        Settled {
            statuses: statuses
                .iter()
                .map(|(id, status)| ((*id).to_owned(), (*status).to_owned()))
                .collect(),
            via_ipn: 0,
            via_reconciler: 0,
        }
    }

    fn paid(orders: &[&str]) -> Paid {
        Paid {
            at_gateway: orders.iter().map(|id| (*id).to_owned()).collect(),
            gateway_errors: 0,
        }
    }

    fn summary(orders: &[&str], at_gateway: &[&str], statuses: &[(&str, &str)]) -> Summary {
        Summary::new(
            &options(),
            &rush(orders),
            &paid(at_gateway),
            &settled(statuses),
            0,
            AuditReport::default(),
            Duration::ZERO,
        )
    }

    #[test]
    fn a_sale_that_settled_every_order_is_clean() {
        let summary = summary(&["a", "b"], &["a"], &[("a", "paid"), ("b", "expired")]);
        assert!(summary.is_clean(), "{summary}");
        assert_eq!(summary.expired, 1);
    }

    #[test]
    fn money_taken_for_an_order_not_shown_paid_is_a_lost_payment() {
        let summary = summary(&["a", "b"], &["a", "b"], &[("a", "paid"), ("b", "expired")]);
        assert_eq!(summary.lost_payments, 1);
        assert!(!summary.is_clean());
    }

    #[test]
    fn more_units_won_than_the_stock_is_an_oversell() {
        let summary = summary(
            &["a", "b", "c"],
            &[],
            &[("a", "expired"), ("b", "expired"), ("c", "expired")],
        );
        assert_eq!(summary.oversold, 1);
        assert!(!summary.is_clean());
    }

    #[test]
    fn an_order_still_pending_leaves_the_sale_unsettled() {
        let summary = summary(&["a"], &[], &[("a", "pending_payment")]);
        assert_eq!(summary.still_pending, 1);
        assert!(!summary.is_clean());
    }
}
