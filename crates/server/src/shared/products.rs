//! Product reads through the two-level cache (cache-aside): concurrent misses of one product make
//! one database query per instance, unknown ids are remembered briefly, and admin writes invalidate
//! everywhere. Stock counters in a cached product may be stale; buyers see the gate's live count.

use crate::config::within;
use async_trait::async_trait;
use flashgate_core::ports::Products;
use flashgate_core::product::{SaleWindow, Stock};
use flashgate_core::{Product, ProductId, Sku, StoreError, Vnd};
use flashgate_shared_state::cache::{decode_json, get_json, get_json_bytes};
use flashgate_shared_state::{Cache, CacheStats, SharedStateError};
use serde::{Deserialize, Serialize};
use serde_with::{DurationMilliSeconds, DurationSeconds, serde_as};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use time::OffsetDateTime;

const LIST_KEY: &str = "products";

fn key(id: ProductId) -> String {
    format!("product:{}", id.0)
}

/// A product as it is kept in the cache.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct CachedProduct {
    id: i64,
    sku: String,
    name: String,
    price_vnd: i64,
    stock: [i64; 4],
    per_customer_limit: Option<i64>,
    #[serde(with = "time::serde::rfc3339::option")]
    starts_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    ends_at: Option<OffsetDateTime>,
}

impl From<Product> for CachedProduct {
    fn from(p: Product) -> Self {
        Self {
            id: p.id.0,
            sku: p.sku.as_str().to_owned(),
            name: p.name,
            price_vnd: p.price.get(),
            stock: [
                p.stock.total,
                p.stock.available,
                p.stock.reserved,
                p.stock.sold,
            ],
            per_customer_limit: p.per_customer_limit,
            starts_at: p.window.starts_at,
            ends_at: p.window.ends_at,
        }
    }
}

impl TryFrom<CachedProduct> for Product {
    type Error = StoreError;

    fn try_from(c: CachedProduct) -> Result<Self, Self::Error> {
        let [total, available, reserved, sold] = c.stock;
        Ok(Product {
            id: ProductId(c.id),
            sku: Sku::parse(&c.sku)
                .map_err(|e| StoreError::internal(format!("cached sku: {e}")))?,
            name: c.name,
            price: Vnd::from_stored(c.price_vnd),
            stock: Stock {
                total,
                available,
                reserved,
                sold,
            },
            per_customer_limit: c.per_customer_limit,
            window: SaleWindow {
                starts_at: c.starts_at,
                ends_at: c.ends_at,
            },
        })
    }
}

pub struct CachedProducts {
    /// `None`: caching is switched off and every read is a database query.
    cache: Option<Arc<dyn Cache>>,
    /// The database's catalog: what a miss loads from.
    source: Arc<dyn Products>,
    /// Each product as last decoded, beside the cache entry it was decoded from: a crowd on one
    /// product reads the same entry thousands of times a second, and decoding its JSON (two
    /// RFC 3339 instants among it) cost more than finding it; asking the L1 for the entry (its
    /// string key hashed, the read recorded for eviction) cost most of what was left.
    decoded: quick_cache::sync::Cache<i64, Arc<Decoded>>,
    /// Reads answered from `decoded` without asking the L1: in-process hits all the same, counted
    /// with the L1's in [`CachedProducts::stats`].
    decoded_hits: AtomicU64,
}

/// A cache entry's bytes, the product they decode to, and how long the L1 would hand out that
/// entry: while `generation` is the cache's and `until` has not passed, the L1 is not asked.
struct Decoded {
    bytes: Arc<[u8]>,
    product: Product,
    generation: u64,
    until: Instant,
}

/// Products whose decoded copy is kept; a cache entry beyond them is decoded on each read.
const DECODED_CAPACITY: usize = 10_000;

impl CachedProducts {
    pub fn new(cache: Option<Arc<dyn Cache>>, source: Arc<dyn Products>) -> Self {
        Self {
            cache,
            source,
            decoded: quick_cache::sync::Cache::new(DECODED_CAPACITY),
            decoded_hits: AtomicU64::new(0),
        }
    }

    pub fn stats(&self) -> CacheStats {
        let Some(cache) = &self.cache else {
            return CacheStats::default();
        };
        let mut stats = cache.stats();
        stats.requests += self.decoded_hits.load(Ordering::Relaxed);
        stats
    }

    /// Drops the product (and the list) from every instance's cache. A failure only means other
    /// instances see the change when their short L1 entries expire.
    pub async fn invalidate(&self, id: ProductId) {
        let Some(cache) = &self.cache else {
            return;
        };
        for key in [key(id), LIST_KEY.to_owned()] {
            if let Err(error) = cache.invalidate(&key).await {
                tracing::warn!(key, %error, "cache invalidation did not reach every instance");
            }
        }
    }
}

#[async_trait]
impl Products for CachedProducts {
    async fn get(&self, id: ProductId) -> Result<Option<Product>, StoreError> {
        let Some(cache) = &self.cache else {
            return self.source.get(id).await;
        };
        // Read before the L1 is: an invalidation applied after this read moves it, and the memo
        // made from what the L1 answers is not used again.
        let generation = cache.generation();
        let memo = self.decoded.get(&id.0);
        if let Some(memo) = &memo
            && memo.generation == generation
            && Instant::now() < memo.until
        {
            self.decoded_hits.fetch_add(1, Ordering::Relaxed);
            return Ok(Some(memo.product.clone()));
        }
        let source = Arc::clone(&self.source);
        let cached = get_json_bytes(cache.as_ref(), &key(id), move || {
            let source = Arc::clone(&source);
            async move { Ok::<_, StoreError>(source.get(id).await?.map(CachedProduct::from)) }
        })
        .await
        .map_err(cache_error)?;
        let Some(bytes) = cached.value else {
            return Ok(None);
        };
        // The memo holds the bytes it decoded, so they cannot be freed and their address reused by
        // a newer entry while it is kept: the same address is the same entry, not decoded again.
        let product = match memo {
            Some(memo) if Arc::ptr_eq(&memo.bytes, &bytes) => memo.product.clone(),
            _ => Product::try_from(decode_json::<CachedProduct>(&bytes).map_err(cache_error)?)?,
        };
        let memo = Decoded {
            bytes,
            product: product.clone(),
            generation,
            until: cached.until,
        };
        self.decoded.insert(id.0, Arc::new(memo));
        Ok(Some(product))
    }

    async fn list(&self) -> Result<Vec<Product>, StoreError> {
        let Some(cache) = &self.cache else {
            return self.source.list().await;
        };
        let source = Arc::clone(&self.source);
        let cached: Option<Vec<CachedProduct>> = get_json(cache.as_ref(), LIST_KEY, move || {
            let source = Arc::clone(&source);
            async move {
                let products = source.list().await?;
                Ok::<_, StoreError>(Some(
                    products.into_iter().map(CachedProduct::from).collect(),
                ))
            }
        })
        .await
        .map_err(cache_error)?;
        cached
            .unwrap_or_default()
            .into_iter()
            .map(Product::try_from)
            .collect()
    }
}

/// The loader's own error comes back as it was; anything else is the cache's fault.
fn cache_error(error: SharedStateError) -> StoreError {
    match error {
        SharedStateError::Loader(cause) => match cause.downcast_ref::<StoreError>() {
            Some(StoreError::Unavailable(c)) => StoreError::Unavailable(c.clone()),
            Some(StoreError::Internal(c)) => StoreError::Internal(c.clone()),
            None => StoreError::internal(cause.to_string()),
        },
        other => StoreError::internal(format!("product cache: {other}")),
    }
}

/// `[cache]`: product reads through the two-level cache.
#[serde_as]
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CacheSettings {
    pub enabled: bool,
    #[serde_as(as = "DurationMilliSeconds<u64>")]
    #[serde(rename = "l1_ttl_ms")]
    pub l1_ttl: Duration,
    pub l1_capacity: u64,
    #[serde_as(as = "DurationMilliSeconds<u64>")]
    #[serde(rename = "l2_ttl_ms")]
    pub l2_ttl: Duration,
    #[serde_as(as = "DurationMilliSeconds<u64>")]
    #[serde(rename = "l2_jitter_ms")]
    pub l2_jitter: Duration,
    #[serde_as(as = "DurationMilliSeconds<u64>")]
    #[serde(rename = "negative_ttl_ms")]
    pub negative_ttl: Duration,
    /// `Cache-Control: max-age` of product answers.
    #[serde_as(as = "DurationSeconds<u64>")]
    #[serde(rename = "http_max_age_seconds")]
    pub http_max_age: Duration,
}

impl CacheSettings {
    pub fn validate(&self) -> anyhow::Result<()> {
        let (min, day) = (Duration::from_millis(1), Duration::from_secs(24 * 3600));
        within("cache.l1_ttl_ms", self.l1_ttl, min, day)?;
        within("cache.l2_ttl_ms", self.l2_ttl, min, day)?;
        within("cache.l2_jitter_ms", self.l2_jitter, Duration::ZERO, day)?;
        within("cache.negative_ttl_ms", self.negative_ttl, min, day)?;
        within(
            "cache.http_max_age_seconds",
            self.http_max_age,
            Duration::ZERO,
            day,
        )?;
        within("cache.l1_capacity", self.l1_capacity, 1, 100_000_000)
    }

    /// What the cache itself is told.
    pub fn cache_config(&self) -> flashgate_shared_state::CacheConfig {
        flashgate_shared_state::CacheConfig {
            l1_ttl: self.l1_ttl,
            l1_capacity: self.l1_capacity,
            l2_ttl: self.l2_ttl,
            l2_jitter: self.l2_jitter,
            negative_ttl: self.negative_ttl,
        }
    }
}
