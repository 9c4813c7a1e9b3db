//! The cache in process: L1 only. Caches built on one [`LocalBus`] see each other's
//! invalidations, the in-process stand-in for Redis pub/sub.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use tokio::sync::broadcast;
use tokio::sync::broadcast::error::RecvError;
use tokio::task::JoinHandle;

use super::l1::{Entry, L1, loader_error};
use super::{Cache, CacheConfig, CacheStats, Cached, Loader};
use crate::error::SharedStateError;

/// Fans invalidations out to every cache built on it, and keeps per-key versions so a load that
/// raced an invalidation is not kept.
#[derive(Debug, Clone)]
pub struct LocalBus {
    tx: broadcast::Sender<String>,
    versions: Arc<Mutex<HashMap<String, u64>>>,
}

impl Default for LocalBus {
    fn default() -> Self {
        Self {
            tx: broadcast::channel(1024).0,
            versions: Arc::default(),
        }
    }
}

impl LocalBus {
    pub fn new() -> Self {
        Self::default()
    }

    fn version(&self, key: &str) -> u64 {
        self.versions
            .lock()
            .map(|v| v.get(key).copied().unwrap_or(0))
            .unwrap_or(0)
    }

    fn bump(&self, key: &str) {
        if let Ok(mut versions) = self.versions.lock() {
            *versions.entry(key.to_owned()).or_insert(0) += 1;
        }
    }
}

pub struct InProcessCache {
    l1: L1,
    bus: LocalBus,
    listener: JoinHandle<()>,
}

impl std::fmt::Debug for InProcessCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InProcessCache").finish_non_exhaustive()
    }
}

impl InProcessCache {
    /// Must be called inside a Tokio runtime: it spawns the bus listener.
    pub fn new(config: CacheConfig, bus: &LocalBus) -> Self {
        let l1 = L1::new(&config);
        let mut rx = bus.tx.subscribe();
        let listener_l1 = l1.clone();
        let listener = tokio::spawn(async move {
            loop {
                match rx.recv().await {
                    Ok(key) => listener_l1.invalidate(&key).await,
                    // Missed messages: any entry may be stale.
                    Err(RecvError::Lagged(_)) => listener_l1.invalidate_all(),
                    Err(RecvError::Closed) => return,
                }
            }
        });
        Self {
            l1,
            bus: bus.clone(),
            listener,
        }
    }
}

impl Drop for InProcessCache {
    fn drop(&mut self) {
        self.listener.abort();
    }
}

#[async_trait]
impl Cache for InProcessCache {
    async fn get_or_load(&self, key: &str, load: Loader) -> Result<Cached, SharedStateError> {
        let init = async {
            let version = self.bus.version(key);
            self.l1.count_load();
            let value = load.await.map_err(loader_error)?.map(Arc::from);
            Ok(Entry {
                value,
                current: self.bus.version(key) == version,
            })
        };
        self.l1.get_or_load(key, init).await
    }

    async fn invalidate(&self, key: &str) -> Result<(), SharedStateError> {
        self.bus.bump(key);
        self.l1.invalidate(key).await;
        // No receivers is fine: this cache already dropped its own entry.
        let _ = self.bus.tx.send(key.to_owned());
        Ok(())
    }

    fn generation(&self) -> u64 {
        self.l1.generation()
    }

    fn stats(&self) -> CacheStats {
        self.l1.stats()
    }
}
