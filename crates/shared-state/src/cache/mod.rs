//! Cache-aside for product reads: an in-process L1 (`moka`, short TTL) over a Redis L2 (TTL with
//! jitter). Concurrent misses of one key make one loader call per instance, "not found" is cached
//! briefly, and `invalidate` reaches every instance's L1 over pub/sub.
//!
//! Values are bytes; [`get_json`] wraps a typed loader. An invalidation racing an in-flight load
//! cannot leave the old value behind for a full TTL: each key has a version that `invalidate`
//! bumps, and a loader that started under an older version neither writes L2 nor keeps its L1 entry.

mod l1;
mod memory;
mod redis;

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use futures_util::future::BoxFuture;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::SharedStateError;

pub use memory::{InProcessCache, LocalBus};
pub use redis::RedisCache;

pub type LoadError = Box<dyn std::error::Error + Send + Sync>;
/// The source of truth behind the cache, usually a database query. `Ok(None)` is "not found".
pub type Loader = BoxFuture<'static, Result<Option<Vec<u8>>, LoadError>>;

#[derive(Debug, Clone)]
pub struct CacheConfig {
    pub l1_ttl: Duration,
    pub l1_capacity: u64,
    pub l2_ttl: Duration,
    /// Up to this much is added to each L2 TTL, so entries written together do not all expire,
    /// and stampede the database, together.
    pub l2_jitter: Duration,
    /// TTL of a cached "not found", in both levels.
    pub negative_ttl: Duration,
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            l1_ttl: Duration::from_secs(1),
            l1_capacity: 10_000,
            l2_ttl: Duration::from_secs(30),
            l2_jitter: Duration::from_secs(5),
            negative_ttl: Duration::from_millis(500),
        }
    }
}

/// Counters since start, for the hit-ratio metrics: L1 hits are
/// `requests - l2_hits - loads` (callers that waited on another's load count as L1 hits).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    pub requests: u64,
    pub l2_hits: u64,
    /// Loader calls: what reached the database.
    pub loads: u64,
}

/// A value read through the cache.
#[derive(Debug, Clone)]
pub struct Cached {
    /// `None` when the loader found nothing.
    pub value: Option<Arc<[u8]>>,
    /// Until when this instance's L1 hands out this value unless the key is invalidated (already
    /// past for a value loaded while the key was being invalidated): a caller that keeps a copy,
    /// decoded, may use it that long while [`Cache::generation`] has not moved.
    pub until: Instant,
}

#[async_trait]
pub trait Cache: Send + Sync {
    /// L1, then L2, then `load`.
    async fn get_or_load(&self, key: &str, load: Loader) -> Result<Cached, SharedStateError>;

    /// A count that moves after each invalidation this instance's L1 has applied (a key's, or all
    /// of them on a resync), once the entries are gone. Read before [`Cache::get_or_load`], it
    /// stamps a copy of the value: while it has not moved and the value's `until` has not passed,
    /// the L1 would hand out the same value, so the copy may be used without asking it.
    fn generation(&self) -> u64;

    /// Drops the key from L2 and from every instance's L1.
    async fn invalidate(&self, key: &str) -> Result<(), SharedStateError>;

    fn stats(&self) -> CacheStats;
}

/// A typed read through any cache, with values stored as JSON.
pub async fn get_json<T, F, Fut, E>(
    cache: &dyn Cache,
    key: &str,
    load: F,
) -> Result<Option<T>, SharedStateError>
where
    T: Serialize + DeserializeOwned,
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = Result<Option<T>, E>> + Send + 'static,
    E: std::error::Error + Send + Sync + 'static,
{
    match get_json_bytes(cache, key, load).await?.value {
        Some(bytes) => decode_json(&bytes).map(Some),
        None => Ok(None),
    }
}

/// [`get_json`] without the decoding: the entry's JSON as the cache holds it. An entry's bytes are
/// one shared allocation until it is replaced, so a caller may keep its decoded value beside them
/// and decode again only when they change.
pub async fn get_json_bytes<T, F, Fut, E>(
    cache: &dyn Cache,
    key: &str,
    load: F,
) -> Result<Cached, SharedStateError>
where
    T: Serialize,
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = Result<Option<T>, E>> + Send + 'static,
    E: std::error::Error + Send + Sync + 'static,
{
    let loader: Loader = Box::pin(async move {
        match load().await {
            Ok(Some(value)) => Ok(Some(serde_json::to_vec(&value)?)),
            Ok(None) => Ok(None),
            Err(e) => Err(Box::new(e) as LoadError),
        }
    });
    cache.get_or_load(key, loader).await
}

/// An entry read by [`get_json_bytes`], decoded.
pub fn decode_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, SharedStateError> {
    serde_json::from_slice(bytes).map_err(|e| SharedStateError::Codec(e.to_string()))
}
