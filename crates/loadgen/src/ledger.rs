//! What the buyers saw, kept for the correctness audit: every order a 201 named, which key and customer
//! it belonged to, how many definitive attempts each customer made, and whether retries with the same
//! `Idempotency-Key` came back with the same order.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

/// An order a buyer was told about.
#[derive(Debug, Clone)]
pub struct Won {
    pub order_id: String,
    pub customer: usize,
    pub product_id: i64,
    pub quantity: i64,
    pub payment_url: Option<String>,
}

#[derive(Default)]
struct Inner {
    orders: HashMap<String, Won>,
    order_by_key: HashMap<String, String>,
    keys_with_two_orders: Vec<String>,
    /// (customer, product) -> units asked for in attempts that got a definitive answer.
    demand: HashMap<(usize, i64), i64>,
    /// product -> attempts whose outcome is unknown (no answer, 5xx, 429).
    unknown: HashMap<i64, u64>,
    retries_checked: u64,
    retry_mismatches: Vec<String>,
    products: HashSet<i64>,
}

#[derive(Default)]
pub struct Ledger {
    inner: Mutex<Inner>,
}

/// How a purchase attempt ended, as far as the audit cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt {
    /// 201, or a definitive refusal (sold out, over the limit): the customer's demand was heard.
    Definitive,
    /// No answer, 5xx or 429: the order may or may not exist.
    Unknown,
    /// Anything else (sale not active, invalid): no demand.
    Other,
}

/// A copy of the ledger for the audit.
#[derive(Debug, Clone, Default)]
pub struct LedgerView {
    pub orders: Vec<Won>,
    pub keys_with_two_orders: Vec<String>,
    pub demand: HashMap<(usize, i64), i64>,
    pub unknown: HashMap<i64, u64>,
    pub retries_checked: u64,
    pub retry_mismatches: Vec<String>,
}

impl Ledger {
    pub fn attempt(&self, customer: usize, product_id: i64, quantity: i64, attempt: Attempt) {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.products.insert(product_id);
        match attempt {
            Attempt::Definitive => {
                *inner.demand.entry((customer, product_id)).or_default() += quantity;
            }
            Attempt::Unknown => *inner.unknown.entry(product_id).or_default() += 1,
            Attempt::Other => {}
        }
    }

    /// A 201 for `key` naming `order_id`; returns whether the order was not seen before, and only
    /// then makes its record with `won` (a crowd of retries names known orders, and copying each
    /// answer's id and payment link cost the load generator CPU the service it measures shares).
    pub fn won(&self, key: &str, order_id: &str, won: impl FnOnce() -> Won) -> bool {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        match inner.order_by_key.get(key) {
            Some(existing) if existing != order_id => {
                let line = format!("key {key}: orders {existing} and {order_id}");
                inner.keys_with_two_orders.push(line);
            }
            Some(_) => {}
            None => {
                inner
                    .order_by_key
                    .insert(key.to_owned(), order_id.to_owned());
            }
        }
        if inner.orders.contains_key(order_id) {
            return false;
        }
        inner.orders.insert(order_id.to_owned(), won());
        true
    }

    /// A deliberate retry of a 201: it must name the same order, unless it was turned away
    /// unanswered (429 or 503: "ask again later", which says nothing about the order).
    pub fn retried(&self, key: &str, first: &str, again: Option<&str>, status: Option<u16>) {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if again.is_none() && matches!(status, Some(429 | 503)) {
            return;
        }
        inner.retries_checked += 1;
        if again != Some(first) {
            let line = format!(
                "key {key}: first order {first}, retry answered {} with {}",
                status.map_or_else(|| "nothing".to_owned(), |s| s.to_string()),
                again.unwrap_or("no order")
            );
            inner.retry_mismatches.push(line);
        }
    }

    pub fn view(&self) -> LedgerView {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        LedgerView {
            orders: inner.orders.values().cloned().collect(),
            keys_with_two_orders: inner.keys_with_two_orders.clone(),
            demand: inner.demand.clone(),
            unknown: inner.unknown.clone(),
            retries_checked: inner.retries_checked,
            retry_mismatches: inner.retry_mismatches.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn won(order: &str) -> Won {
        Won {
            order_id: order.into(),
            customer: 1,
            product_id: 7,
            quantity: 1,
            payment_url: None,
        }
    }

    #[test]
    fn a_key_that_names_two_orders_is_reported() {
        let ledger = Ledger::default();
        assert!(ledger.won("k", "a", || won("a")));
        assert!(ledger.won("k", "b", || won("b")));
        assert_eq!(ledger.view().keys_with_two_orders.len(), 1);
    }

    #[test]
    fn a_replayed_order_is_not_counted_twice() {
        let ledger = Ledger::default();
        assert!(ledger.won("k", "a", || won("a")));
        assert!(!ledger.won("k", "a", || won("a")));
        assert_eq!(ledger.view().orders.len(), 1);
    }

    #[test]
    fn a_retry_that_names_another_order_is_a_mismatch() {
        let ledger = Ledger::default();
        ledger.retried("k", "a", Some("a"), Some(201));
        ledger.retried("k", "a", None, Some(409));
        let view = ledger.view();
        assert_eq!(view.retries_checked, 2);
        assert_eq!(view.retry_mismatches.len(), 1);
    }
}
