//! Local sold-out flags: once a product is known to be empty, buyers on this instance are answered
//! from memory, so a sold-out stampede costs no Redis round trip either.

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::{Duration, Instant};

#[derive(Debug)]
pub(super) struct SoldOutFlags {
    ttl: Duration,
    until: RwLock<HashMap<i64, Instant>>,
}

impl SoldOutFlags {
    pub(super) fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            until: RwLock::new(HashMap::new()),
        }
    }

    pub(super) fn is_set(&self, product_id: i64) -> bool {
        let Ok(map) = self.until.read() else {
            return false;
        };
        map.get(&product_id)
            .is_some_and(|until| Instant::now() < *until)
    }

    pub(super) fn set(&self, product_id: i64) {
        if let Ok(mut map) = self.until.write() {
            map.insert(product_id, Instant::now() + self.ttl);
        }
    }

    pub(super) fn clear(&self, product_id: i64) {
        if let Ok(mut map) = self.until.write() {
            map.remove(&product_id);
        }
    }

    pub(super) fn clear_all(&self) {
        if let Ok(mut map) = self.until.write() {
            map.clear();
        }
    }
}
