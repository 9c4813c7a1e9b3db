//! Customers the database holds at their per-customer limit, remembered per product, so that a
//! crowd of them asking again with new keys is refused without a round trip to the gate's counters.
//!
//! The memory stands on the database's facts, not on the gate's counts (which may hold admissions
//! never written): the keeper reads a doubted customer's holdings, then the keys of their stored
//! answers. A key not among those cannot be a sale written before the holdings were read, and
//! after it no sale of theirs can be written while they hold the limit (the database checks it on
//! every write) unless units or quota come back to the product first. That is what the counters'
//! change count says: it moves with every give-back, release, rebuild and sell-out this instance
//! hears of, and an entry recorded under another count is not used. A key among the stored ones,
//! a ticket outside the sale window or a product this instance cannot vouch for goes to the
//! counters as before. A customer answered from memory is looked at again by the keeper once their
//! entry is two seconds old, and forgotten once the database no longer holds them at the limit: a
//! change that reached the database by a path that did not move the count (a give-back the gate
//! refused, a lost message) is caught within that and a keeper interval. Entries nobody asks about
//! lapse after a few seconds.

use super::gated::Ticket;
use crate::ids::{CustomerId, IdempotencyKey, ProductId};
use crate::product::SaleWindow;
use std::collections::HashMap;
use std::sync::RwLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// How long an entry stands without the keeper looking at it again.
const REMEMBERED_FOR: Duration = Duration::from_secs(5);
/// How old an entry of a customer answered from memory is before the keeper looks at them again:
/// how long a wrong refusal can last after a change that did not move the count. At every keeper
/// step instead, a crowd of customers at their limit had their holdings and keys read twice a
/// second, which cost the database and Redis a tenth of a core for 2,000 of them.
pub(super) const LOOKED_AGAIN_AFTER: Duration = Duration::from_secs(2);
/// Customers remembered at most, over all products: bounded, so a flood of over-limit buyers
/// cannot grow it; past it, the counters answer as before.
const AT_MOST: usize = 100_000;

#[derive(Debug)]
struct Remembered {
    /// The counters' change count read before the database was.
    changes: u64,
    window: SaleWindow,
    customers: HashMap<CustomerId, Customer>,
}

#[derive(Debug)]
struct Customer {
    /// Keys of the customer's stored answers.
    keys: Vec<IdempotencyKey>,
    /// When the keeper last found the database holding them at the limit.
    looked: Instant,
    /// Answered from memory since the keeper's last look.
    asked: AtomicBool,
}

#[derive(Debug, Default)]
pub(super) struct AtLimit {
    products: RwLock<HashMap<ProductId, Remembered>>,
}

impl AtLimit {
    /// Whether the ticket is refused for its limit from memory: its customer was held at the limit
    /// by the database under the product's current change count (`changes`, asked only when the
    /// product has someone remembered, as it is every purchase's path; `None`: this instance cannot
    /// vouch for one), the sale is open, and the ticket's key has no stored answer.
    pub(super) fn refuses(&self, ticket: &Ticket, changes: impl FnOnce() -> Option<u64>) -> bool {
        let Ok(products) = self.products.read() else {
            return false;
        };
        let Some(product) = products.get(&ticket.product_id) else {
            return false;
        };
        if changes() != Some(product.changes) || !product.window.is_open(ticket.at) {
            return false;
        }
        let Some(customer) = product.customers.get(&ticket.customer) else {
            return false;
        };
        let fresh = Instant::now() < customer.looked + REMEMBERED_FOR;
        let refused = fresh && !customer.keys.contains(&ticket.key);
        // Read first: a crowd asks thousands of times a second, and a store each time would keep
        // the entry's cache line moving between cores.
        if refused && !customer.asked.load(Ordering::Relaxed) {
            customer.asked.store(true, Ordering::Relaxed);
        }
        refused
    }

    /// The customers answered from memory since the last call whose entry is old enough at `now`:
    /// the keeper looks at them again. A younger entry keeps its mark for a later call.
    pub(super) fn take_asked(&self, now: Instant) -> Vec<(ProductId, CustomerId)> {
        let Ok(products) = self.products.read() else {
            return Vec::new();
        };
        let mut asked = Vec::new();
        for (product, remembered) in products.iter() {
            for (customer, entry) in &remembered.customers {
                let due = now.saturating_duration_since(entry.looked) >= LOOKED_AGAIN_AFTER;
                if due && entry.asked.swap(false, Ordering::Relaxed) {
                    asked.push((*product, customer.clone()));
                }
            }
        }
        asked
    }

    /// What the keeper found at `now` of the customers it looked at for the product, `changes`
    /// being the count read before the database was: their stored keys when the database holds
    /// them at the limit (they are remembered), `None` otherwise (they are forgotten). Entries of
    /// an older count are dropped.
    pub(super) fn record(
        &self,
        product: ProductId,
        changes: u64,
        window: SaleWindow,
        looked: Vec<(CustomerId, Option<Vec<IdempotencyKey>>)>,
        now: Instant,
    ) {
        let Ok(mut products) = self.products.write() else {
            return;
        };
        let remembered: usize = products.values().map(|p| p.customers.len()).sum();
        let mut room = AT_MOST.saturating_sub(remembered);
        let entry = products.entry(product).or_insert_with(|| Remembered {
            changes,
            window,
            customers: HashMap::new(),
        });
        if entry.changes != changes {
            room += entry.customers.len();
            entry.changes = changes;
            entry.customers.clear();
        }
        entry.window = window;
        entry
            .customers
            .retain(|_, customer| now < customer.looked + REMEMBERED_FOR);
        for (customer, keys) in looked {
            let Some(keys) = keys else {
                entry.customers.remove(&customer);
                continue;
            };
            let fresh = Customer {
                keys,
                looked: now,
                asked: AtomicBool::new(false),
            };
            match entry.customers.get_mut(&customer) {
                Some(known) => *known = fresh,
                None if room > 0 => {
                    entry.customers.insert(customer, fresh);
                    room -= 1;
                }
                None => {}
            }
        }
        if entry.customers.is_empty() {
            products.remove(&product);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::money::Quantity;
    use time::OffsetDateTime;

    fn ticket(customer: &str, key: &str) -> Ticket {
        Ticket {
            product_id: ProductId(1),
            customer: CustomerId::parse(customer).unwrap(),
            key: IdempotencyKey::parse(key).unwrap(),
            quantity: Quantity::parse(1).unwrap(),
            at: OffsetDateTime::now_utc(),
        }
    }

    fn alice_with(keys: &[&str]) -> Vec<(CustomerId, Option<Vec<IdempotencyKey>>)> {
        let keys = keys.iter().map(|k| IdempotencyKey::parse(k).unwrap());
        vec![(CustomerId::parse("alice").unwrap(), Some(keys.collect()))]
    }

    #[test]
    fn refuses_new_keys_of_a_remembered_customer_under_the_same_change_count_only() {
        let memory = AtLimit::default();
        memory.record(
            ProductId(1),
            7,
            SaleWindow::default(),
            alice_with(&["a-1"]),
            Instant::now(),
        );
        assert!(memory.refuses(&ticket("alice", "a-2"), || Some(7)));
        // A stored key may be a retry of the sale: the counters answer it.
        assert!(!memory.refuses(&ticket("alice", "a-1"), || Some(7)));
        assert!(!memory.refuses(&ticket("bob", "b-1"), || Some(7)));
        // Something came back to the product since, or this instance cannot tell.
        assert!(!memory.refuses(&ticket("alice", "a-2"), || Some(8)));
        assert!(!memory.refuses(&ticket("alice", "a-2"), || None));
    }

    #[test]
    fn a_newer_change_count_replaces_the_product_s_customers() {
        let memory = AtLimit::default();
        memory.record(
            ProductId(1),
            7,
            SaleWindow::default(),
            alice_with(&[]),
            Instant::now(),
        );
        memory.record(
            ProductId(1),
            8,
            SaleWindow::default(),
            Vec::new(),
            Instant::now(),
        );
        assert!(!memory.refuses(&ticket("alice", "a-2"), || Some(8)));
        assert!(!memory.refuses(&ticket("alice", "a-2"), || Some(7)));
    }

    #[test]
    fn a_customer_answered_from_memory_is_handed_to_the_keeper_once_their_entry_is_old_enough() {
        let memory = AtLimit::default();
        let alice = CustomerId::parse("alice").unwrap();
        let looked = Instant::now();
        memory.record(
            ProductId(1),
            7,
            SaleWindow::default(),
            alice_with(&[]),
            looked,
        );
        let due = looked + LOOKED_AGAIN_AFTER;
        assert!(memory.take_asked(due).is_empty(), "not asked since");
        assert!(memory.refuses(&ticket("alice", "a-2"), || Some(7)));
        assert!(memory.refuses(&ticket("alice", "a-3"), || Some(7)));
        // Too young: she keeps her mark for a later step.
        assert!(memory.take_asked(due - Duration::from_millis(1)).is_empty());
        assert_eq!(memory.take_asked(due), vec![(ProductId(1), alice.clone())]);
        assert!(memory.take_asked(due).is_empty(), "handed over once");
        // The keeper found the database no longer holds her at the limit.
        memory.record(
            ProductId(1),
            7,
            SaleWindow::default(),
            vec![(alice, None)],
            due,
        );
        assert!(!memory.refuses(&ticket("alice", "a-4"), || Some(7)));
    }

    #[test]
    fn a_sale_not_yet_open_is_left_to_the_counters() {
        let memory = AtLimit::default();
        let opens = OffsetDateTime::now_utc() + time::Duration::minutes(1);
        let window = SaleWindow::new(Some(opens), None).unwrap();
        memory.record(ProductId(1), 7, window, alice_with(&[]), Instant::now());
        assert!(!memory.refuses(&ticket("alice", "a-2"), || Some(7)));
    }

    #[test]
    fn a_closed_sale_is_left_to_the_counters() {
        let memory = AtLimit::default();
        let ended = OffsetDateTime::now_utc() - time::Duration::minutes(1);
        let window = SaleWindow::new(None, Some(ended)).unwrap();
        memory.record(ProductId(1), 7, window, alice_with(&[]), Instant::now());
        assert!(!memory.refuses(&ticket("alice", "a-2"), || Some(7)));
    }
}
