//! The in-process level shared by both caches: a `moka` cache whose `try_get_with` coalesces
//! concurrent misses of one key into one load.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use moka::Expiry;

use super::{CacheConfig, CacheStats, Cached};
use crate::error::SharedStateError;

#[derive(Debug, Clone)]
pub(super) struct Entry {
    pub(super) value: Option<Arc<[u8]>>,
    /// False when the key was invalidated while this value was being loaded: hand it to the
    /// callers who waited for it, but do not keep it.
    pub(super) current: bool,
}

/// An entry as the L1 keeps it, with the instant its load finished (no later than moka's own
/// creation instant, so `at + ttl` never outlives the entry).
#[derive(Debug, Clone)]
struct Loaded {
    entry: Entry,
    at: Instant,
}

#[derive(Clone, Copy)]
struct PerEntryTtl {
    positive: Duration,
    negative: Duration,
}

impl PerEntryTtl {
    fn of(&self, entry: &Entry) -> Duration {
        if entry.value.is_some() {
            self.positive
        } else {
            self.negative
        }
    }
}

impl Expiry<String, Loaded> for PerEntryTtl {
    fn expire_after_create(&self, _: &String, loaded: &Loaded, _: Instant) -> Option<Duration> {
        Some(self.of(&loaded.entry))
    }
}

#[derive(Debug, Default)]
struct Counters {
    requests: AtomicU64,
    l2_hits: AtomicU64,
    loads: AtomicU64,
}

#[derive(Clone)]
pub(super) struct L1 {
    cache: moka::future::Cache<String, Loaded>,
    ttl: PerEntryTtl,
    counters: Arc<Counters>,
    /// Moves after every invalidation, once the entries are gone: see [`super::Cache::generation`].
    generation: Arc<AtomicU64>,
}

impl L1 {
    pub(super) fn new(config: &CacheConfig) -> Self {
        let ttl = PerEntryTtl {
            positive: config.l1_ttl,
            negative: config.negative_ttl.min(config.l1_ttl),
        };
        Self {
            cache: moka::future::Cache::builder()
                .max_capacity(config.l1_capacity)
                .expire_after(ttl)
                .build(),
            ttl,
            counters: Arc::default(),
            generation: Arc::default(),
        }
    }

    pub(super) async fn get_or_load<F>(
        &self,
        key: &str,
        init: F,
    ) -> Result<Cached, SharedStateError>
    where
        F: Future<Output = Result<Entry, SharedStateError>>,
    {
        self.counters.requests.fetch_add(1, Ordering::Relaxed);
        let stamped = async {
            init.await.map(|entry| Loaded {
                entry,
                at: Instant::now(),
            })
        };
        let loaded = self
            .cache
            .try_get_with_by_ref(key, stamped)
            .await
            .map_err(|e| (*e).clone())?;
        let until = if loaded.entry.current {
            loaded.at + self.ttl.of(&loaded.entry)
        } else {
            self.cache.invalidate(key).await;
            loaded.at
        };
        Ok(Cached {
            value: loaded.entry.value,
            until,
        })
    }

    pub(super) async fn invalidate(&self, key: &str) {
        self.cache.invalidate(key).await;
        self.generation.fetch_add(1, Ordering::Release);
    }

    pub(super) fn invalidate_all(&self) {
        self.cache.invalidate_all();
        self.generation.fetch_add(1, Ordering::Release);
    }

    pub(super) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }
}

impl L1 {
    pub(super) fn count_l2_hit(&self) {
        self.counters.l2_hits.fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn count_load(&self) {
        self.counters.loads.fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn stats(&self) -> CacheStats {
        CacheStats {
            requests: self.counters.requests.load(Ordering::Relaxed),
            l2_hits: self.counters.l2_hits.load(Ordering::Relaxed),
            loads: self.counters.loads.load(Ordering::Relaxed),
        }
    }
}

pub(super) fn loader_error(e: super::LoadError) -> SharedStateError {
    SharedStateError::Loader(Arc::from(e))
}
