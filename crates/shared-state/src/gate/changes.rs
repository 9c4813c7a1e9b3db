//! How many times each product's gate has had units or quota come back, been rebuilt or sold out, as
//! far as this instance has heard (its own doings and the other instances' events). An answer kept
//! in memory is good while the count it was read under stands.

use std::collections::HashMap;
use std::sync::RwLock;
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug, Default)]
pub(super) struct Changes {
    /// Moves for every product at once: after a lost subscription, anything may have changed.
    all: AtomicU64,
    products: RwLock<HashMap<i64, u64>>,
}

impl Changes {
    /// `None` once the map is poisoned: a count that can no longer move must not be vouched for.
    pub(super) fn of(&self, product_id: i64) -> Option<u64> {
        let own = self
            .products
            .read()
            .ok()?
            .get(&product_id)
            .copied()
            .unwrap_or(0);
        Some(self.all.load(Ordering::Acquire).wrapping_add(own))
    }

    pub(super) fn note(&self, product_id: i64) {
        if let Ok(mut map) = self.products.write() {
            *map.entry(product_id).or_default() += 1;
        }
    }

    pub(super) fn note_all(&self) {
        self.all.fetch_add(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_product_s_count_moves_with_its_own_changes_and_everyone_s() {
        let changes = Changes::default();
        let (one, two) = (changes.of(1), changes.of(2));
        assert!(one.is_some() && two.is_some());
        changes.note(1);
        assert_ne!(changes.of(1), one);
        assert_eq!(changes.of(2), two);
        let (one, two) = (changes.of(1), changes.of(2));
        changes.note_all();
        assert_ne!(changes.of(1), one);
        assert_ne!(changes.of(2), two);
    }
}
