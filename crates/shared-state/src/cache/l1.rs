//! The in-process level shared by both caches: a `moka` cache whose `try_get_with` coalesces
//! concurrent misses of one key into one load.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use moka::Expiry;

use super::{CacheConfig, CacheStats};
use crate::error::SharedStateError;

#[derive(Debug, Clone)]
pub(super) struct Entry {
    pub(super) value: Option<Arc<[u8]>>,
    /// False when the key was invalidated while this value was being loaded: hand it to the
    /// callers who waited for it, but do not keep it.
    pub(super) current: bool,
}

struct PerEntryTtl {
    positive: Duration,
    negative: Duration,
}

impl Expiry<String, Entry> for PerEntryTtl {
    fn expire_after_create(&self, _: &String, entry: &Entry, _: Instant) -> Option<Duration> {
        Some(if entry.value.is_some() {
            self.positive
        } else {
            self.negative
        })
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
    cache: moka::future::Cache<String, Entry>,
    counters: Arc<Counters>,
}

impl L1 {
    pub(super) fn new(config: &CacheConfig) -> Self {
        Self {
            cache: moka::future::Cache::builder()
                .max_capacity(config.l1_capacity)
                .expire_after(PerEntryTtl {
                    positive: config.l1_ttl,
                    negative: config.negative_ttl.min(config.l1_ttl),
                })
                .build(),
            counters: Arc::default(),
        }
    }

    pub(super) async fn get_or_load<F>(
        &self,
        key: &str,
        init: F,
    ) -> Result<Option<Arc<[u8]>>, SharedStateError>
    where
        F: Future<Output = Result<Entry, SharedStateError>>,
    {
        self.counters.requests.fetch_add(1, Ordering::Relaxed);
        let entry = self
            .cache
            .try_get_with_by_ref(key, init)
            .await
            .map_err(|e| (*e).clone())?;
        if !entry.current {
            self.cache.invalidate(key).await;
        }
        Ok(entry.value)
    }

    pub(super) async fn invalidate(&self, key: &str) {
        self.cache.invalidate(key).await;
    }

    pub(super) fn invalidate_all(&self) {
        self.cache.invalidate_all();
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
