//! The two-level cache on Redis. L2 is shared by every instance; L1 entries are dropped on
//! invalidation messages, and all of them after a pub/sub reconnect (messages may have been missed).
//! When Redis is down, reads fall through to the loader instead of failing.
//!
//! Keys (`P` is the backend's key prefix): `P{c:<key>}:v` the encoded value (`v<bytes>` found,
//! `n` not found), `P{c:<key>}:ver` the invalidation counter. Channel `P cache:invalidate`
//! carries the key.

use std::sync::{Arc, LazyLock};
use std::time::Duration;

use async_trait::async_trait;
use redis::Script;

use super::l1::{Entry, L1, loader_error};
use super::{Cache, CacheConfig, CacheStats, Cached, Loader};
use crate::error::SharedStateError;
use crate::redis_backend::RedisBackend;
use crate::subscriber::{BusEvent, Subscription};

static WRITE: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("lua/write.lua")));
static INVALIDATE: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("lua/invalidate.lua")));

/// Versions must outlive any load that read them.
const MIN_VERSION_TTL: Duration = Duration::from_secs(600);

pub struct RedisCache {
    backend: RedisBackend,
    config: CacheConfig,
    l1: L1,
    channel: String,
    subscription: Subscription,
}

impl std::fmt::Debug for RedisCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisCache")
            .field("channel", &self.channel)
            .field("subscribed", &self.subscription.is_ready())
            .finish_non_exhaustive()
    }
}

impl RedisCache {
    /// Starts the invalidation subscriber and waits (up to the connect timeout) until it listens.
    pub async fn new(backend: RedisBackend, config: CacheConfig) -> Self {
        let l1 = L1::new(&config);
        let channel = format!("{}cache:invalidate", backend.key_prefix());
        let handler_l1 = l1.clone();
        let subscription = Subscription::spawn(
            &backend,
            channel.clone(),
            Arc::new(move |event: BusEvent<'_>| match event {
                BusEvent::Resync => handler_l1.invalidate_all(),
                BusEvent::Message(key) => {
                    let l1 = handler_l1.clone();
                    let key = key.to_owned();
                    tokio::spawn(async move { l1.invalidate(&key).await });
                }
            }),
        );
        subscription.wait_ready(backend.connect_timeout()).await;
        Self {
            backend,
            config,
            l1,
            channel,
            subscription,
        }
    }

    fn keys(&self, key: &str) -> [String; 2] {
        let prefix = self.backend.key_prefix();
        [
            format!("{prefix}{{c:{key}}}:v"),
            format!("{prefix}{{c:{key}}}:ver"),
        ]
    }

    /// L2, then the loader. Redis failures only cost the L2 level.
    async fn load_through_l2(&self, key: &str, load: Loader) -> Result<Entry, SharedStateError> {
        let keys = self.keys(key);
        let read_keys = keys.clone();
        let l2 = self
            .backend
            .run(|mut conn| async move {
                redis::cmd("MGET")
                    .arg(&read_keys[..])
                    .query_async::<(Option<Vec<u8>>, Option<String>)>(&mut conn)
                    .await
            })
            .await;
        let version = match l2 {
            Ok((Some(encoded), version)) => match decode(&encoded) {
                Some(value) => {
                    self.l1.count_l2_hit();
                    return Ok(Entry {
                        value,
                        current: true,
                    });
                }
                None => Some(version.unwrap_or_else(|| "0".to_owned())),
            },
            Ok((None, version)) => Some(version.unwrap_or_else(|| "0".to_owned())),
            Err(e) => {
                tracing::debug!(key, error = %e, "cache L2 read failed; loading directly");
                None
            }
        };
        self.l1.count_load();
        let value: Option<Arc<[u8]>> = load.await.map_err(loader_error)?.map(Arc::from);
        let Some(version) = version else {
            return Ok(Entry {
                value,
                current: true,
            });
        };
        let ttl = match value {
            Some(_) => {
                let jitter_ms = u64::try_from(self.config.l2_jitter.as_millis()).unwrap_or(0);
                self.config.l2_ttl + Duration::from_millis(rand::random_range(0..=jitter_ms))
            }
            None => self.config.negative_ttl,
        };
        let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        let encoded = encode(value.as_deref());
        let written = self
            .backend
            .run(|mut conn| async move {
                WRITE
                    .key(&keys[..])
                    .arg(version)
                    .arg(encoded)
                    .arg(ttl_ms)
                    .invoke_async::<i64>(&mut conn)
                    .await
            })
            .await;
        let current = match written {
            Ok(written) => written == 1,
            Err(e) => {
                tracing::debug!(key, error = %e, "cache L2 write failed");
                true
            }
        };
        Ok(Entry { value, current })
    }
}

#[async_trait]
impl Cache for RedisCache {
    async fn get_or_load(&self, key: &str, load: Loader) -> Result<Cached, SharedStateError> {
        self.l1
            .get_or_load(key, self.load_through_l2(key, load))
            .await
    }

    async fn invalidate(&self, key: &str) -> Result<(), SharedStateError> {
        let keys = self.keys(key);
        let version_ttl = (self.config.l2_ttl * 2).max(MIN_VERSION_TTL);
        let version_ttl_ms = u64::try_from(version_ttl.as_millis()).unwrap_or(u64::MAX);
        let removed = self
            .backend
            .run(|mut conn| async move {
                INVALIDATE
                    .key(&keys[..])
                    .arg(version_ttl_ms)
                    .invoke_async::<i64>(&mut conn)
                    .await
            })
            .await;
        self.l1.invalidate(key).await;
        removed?;
        self.backend.publish(&self.channel, key).await;
        Ok(())
    }

    fn generation(&self) -> u64 {
        self.l1.generation()
    }

    fn stats(&self) -> CacheStats {
        self.l1.stats()
    }
}

fn encode(value: Option<&[u8]>) -> Vec<u8> {
    match value {
        Some(bytes) => {
            let mut out = Vec::with_capacity(bytes.len() + 1);
            out.push(b'v');
            out.extend_from_slice(bytes);
            out
        }
        None => vec![b'n'],
    }
}

/// `Some(None)` is a cached "not found"; `None` an undecodable entry, treated as a miss.
fn decode(encoded: &[u8]) -> Option<Option<Arc<[u8]>>> {
    match encoded.split_first() {
        Some((b'v', rest)) => Some(Some(Arc::from(rest))),
        Some((b'n', [])) => Some(None),
        _ => None,
    }
}
