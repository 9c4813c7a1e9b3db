//! Local sold-out flags: once a product is known to be empty, buyers on this instance are answered
//! from memory, so a sold-out stampede costs no Redis round trip either. A flag keeps a snapshot of
//! the product's buyers, everyone ever admitted for it (taken once, after the flag is raised): only
//! customers outside it are answered from memory, since a buyer's request may be the retry of a
//! sale, even one whose hold has run out since.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

#[derive(Debug)]
struct Flag {
    until: Instant,
    /// Tells this raising of the flag from a later one, so a snapshot read for an earlier one is
    /// never attached to it.
    raised: u64,
    /// Customers holding units when the product emptied; `None` until it is read.
    holders: Option<Arc<HashSet<String>>>,
}

/// What the flags say about one buyer of one product.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Verdict {
    /// Not flagged: ask the gate.
    Open,
    /// Flagged, but the holders are not known yet: read them (for this raising), then decide.
    HoldersUnknown { raised: u64 },
    /// Flagged and the customer holds units: ask the gate (this may be a retry of their sale).
    Holder,
    /// Flagged and the customer holds nothing: sold out, from memory.
    SoldOut,
}

#[derive(Debug)]
pub(super) struct SoldOutFlags {
    ttl: Duration,
    flags: RwLock<HashMap<i64, Flag>>,
    raisings: AtomicU64,
}

impl SoldOutFlags {
    pub(super) fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            flags: RwLock::new(HashMap::new()),
            raisings: AtomicU64::new(0),
        }
    }

    pub(super) fn is_set(&self, product_id: i64) -> bool {
        let Ok(map) = self.flags.read() else {
            return false;
        };
        map.get(&product_id)
            .is_some_and(|flag| Instant::now() < flag.until)
    }

    pub(super) fn verdict(&self, product_id: i64, customer: &str) -> Verdict {
        let Ok(map) = self.flags.read() else {
            return Verdict::Open;
        };
        match map.get(&product_id) {
            Some(flag) if Instant::now() < flag.until => match &flag.holders {
                None => Verdict::HoldersUnknown {
                    raised: flag.raised,
                },
                Some(holders) if holders.contains(customer) => Verdict::Holder,
                Some(_) => Verdict::SoldOut,
            },
            _ => Verdict::Open,
        }
    }

    /// Raises the flag, or extends a live one (whose holders still stand: nobody was admitted
    /// while it was up, or a reopen would have cleared it).
    pub(super) fn set(&self, product_id: i64) {
        if let Ok(mut map) = self.flags.write() {
            let now = Instant::now();
            let until = now + self.ttl;
            match map.get_mut(&product_id) {
                Some(flag) if now < flag.until => flag.until = until,
                _ => {
                    let raised = self.raisings.fetch_add(1, Ordering::Relaxed);
                    map.insert(
                        product_id,
                        Flag {
                            until,
                            raised,
                            holders: None,
                        },
                    );
                }
            }
        }
    }

    /// Records the holders read after the flag was `raised`; dropped if it went down meanwhile (a
    /// reopen may have let others in since the read).
    pub(super) fn set_holders(&self, product_id: i64, raised: u64, holders: HashSet<String>) {
        if let Ok(mut map) = self.flags.write()
            && let Some(flag) = map.get_mut(&product_id)
            && flag.raised == raised
        {
            flag.holders = Some(Arc::new(holders));
        }
    }

    pub(super) fn clear(&self, product_id: i64) {
        if let Ok(mut map) = self.flags.write() {
            map.remove(&product_id);
        }
    }

    pub(super) fn clear_all(&self) {
        if let Ok(mut map) = self.flags.write() {
            map.clear();
        }
    }
}
