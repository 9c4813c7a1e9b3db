//! The in-process level shared by both caches: a `moka` cache whose `try_get_with` coalesces
//! concurrent misses of one key into one load.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use moka::Expiry;

use super::CacheConfig;
use crate::error::FastPathError;

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

#[derive(Clone)]
pub(super) struct L1(moka::future::Cache<String, Entry>);

impl L1 {
    pub(super) fn new(config: &CacheConfig) -> Self {
        Self(
            moka::future::Cache::builder()
                .max_capacity(config.l1_capacity)
                .expire_after(PerEntryTtl {
                    positive: config.l1_ttl,
                    negative: config.negative_ttl.min(config.l1_ttl),
                })
                .build(),
        )
    }

    pub(super) async fn get_or_load<F>(
        &self,
        key: &str,
        init: F,
    ) -> Result<Option<Arc<[u8]>>, FastPathError>
    where
        F: Future<Output = Result<Entry, FastPathError>>,
    {
        let entry = self
            .0
            .try_get_with_by_ref(key, init)
            .await
            .map_err(|e| (*e).clone())?;
        if !entry.current {
            self.0.invalidate(key).await;
        }
        Ok(entry.value)
    }

    pub(super) async fn invalidate(&self, key: &str) {
        self.0.invalidate(key).await;
    }

    pub(super) fn invalidate_all(&self) {
        self.0.invalidate_all();
    }
}

pub(super) fn loader_error(e: super::LoadError) -> FastPathError {
    FastPathError::Loader(Arc::from(e))
}
