//! The fast path as the service wires it: the admission gate fenced to the database with group
//! commit, cached product reads, shared rate limits and the purchase concurrency bound, on Redis
//! when `redis_url` is set and in process otherwise. Storage ports are decorated here so that every
//! caller keeps the gate and the cache in step without knowing about them.

pub mod catalog;
pub mod clock;
pub mod committer;
pub mod gate;
pub mod limits;
pub mod products;
pub mod transitions;

use crate::config::Settings;
use anyhow::Context;
use catalog::GatedCatalog;
use committer::{CommitSettings, GroupCommitter};
use flashgate_core::gated::GatedPurchase;
use flashgate_core::purchase::{PlaceOrder, PlaceOrderError, PlaceOrderOutcome, PurchaseRequest};
use flashgate_core::{Clock, CustomerId, IdempotencyKey, Strategy};
use flashgate_shared_state::{
    Cache, CacheConfig, Gate, GateConfig, InProcessCache, InProcessGate, LocalBus, RedisBackend,
    RedisCache, RedisGate, RedisOptions,
};
use flashgate_store::Store;
use gate::GateService;
use limits::Limits;
use products::{CachedCatalog, ProductReads};
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;
use tokio::sync::Semaphore;
use transitions::{CountedTransitions, GatedTransitions};

pub struct FastPath {
    pub redis: Option<RedisBackend>,
    /// Present when purchases go through the gate (`inventory.strategy = "gated"`).
    pub gate: Option<Arc<GateService>>,
    commits: Option<Arc<GroupCommitter>>,
    pub products: Arc<ProductReads>,
    /// Product reads from the cache, for the gated purchase.
    cached_catalog: Arc<CachedCatalog>,
    /// `None` when rate limiting is off.
    pub limits: Option<Arc<Limits>>,
    /// Purchases in progress at once.
    pub purchase_slots: Arc<Semaphore>,
}

/// How `/readyz` sees Redis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RedisStatus {
    /// No Redis configured: the in-process twins serve.
    InProcess,
    Up,
    /// Configured but not answering: selling goes through the database, limits are per instance.
    Degraded,
}

impl RedisStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InProcess => "in_process",
            Self::Up => "up",
            Self::Degraded => "degraded",
        }
    }
}

impl FastPath {
    /// Builds the fast path and returns it with the store whose catalog and transitions keep the
    /// gate and the cache in step.
    pub async fn build(
        settings: &Settings,
        store: Store,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<(Self, Store)> {
        let redis = match settings.redis_url() {
            Some(url) => {
                let backend = connect(settings, url)?;
                // Learn at once whether Redis answers; a failure is reported as degraded.
                if let Err(error) = backend.ping().await {
                    tracing::warn!(%error, "redis does not answer; starting degraded");
                }
                Some(backend)
            }
            None => None,
        };
        let fast_clock: Arc<dyn flashgate_shared_state::Clock> = Arc::new(clock::FastClock(clock));
        let cache_config = cache_config(settings);
        let cache: Arc<dyn Cache> = match &redis {
            Some(backend) => Arc::new(RedisCache::new(backend.clone(), cache_config).await),
            None => Arc::new(InProcessCache::new(cache_config, &LocalBus::new())),
        };
        let products = Arc::new(ProductReads::new(
            settings.cache.enabled.then_some(cache),
            store.catalog.clone(),
        ));
        let gated = settings.inventory.strategy == Strategy::Gated;
        let gate = if gated {
            let config = GateConfig {
                idempotency_ttl: Duration::from_secs(settings.gate.idempotency_ttl_seconds),
                sold_out_ttl: Duration::from_millis(settings.gate.sold_out_ttl_ms),
            };
            let (gate, health): (Arc<dyn Gate>, _) = match &redis {
                Some(backend) => (
                    Arc::new(RedisGate::new(backend.clone(), config).await),
                    Some(backend.health()),
                ),
                None => (Arc::new(InProcessGate::new(config)), None),
            };
            Some(Arc::new(GateService::new(
                gate,
                store.gate_fence.clone(),
                store.catalog.clone(),
                health,
            )))
        } else {
            None
        };
        let commits = gate.as_ref().map(|gate| {
            Arc::new(GroupCommitter::spawn(
                store.reservations.clone(),
                gate.clone(),
                CommitSettings {
                    max_batch: settings.gate.max_batch,
                    max_wait: Duration::from_micros(settings.gate.max_wait_us),
                    concurrent_batches: settings.gate.concurrent_batches,
                    duplicate_wait: Duration::from_millis(settings.gate.duplicate_wait_ms),
                },
            ))
        });
        let limits = if settings.limits.enabled {
            Some(Arc::new(
                Limits::new(&settings.limits, redis.as_ref(), fast_clock).context("limits")?,
            ))
        } else {
            None
        };
        let mut store = store;
        store.catalog = Arc::new(GatedCatalog {
            inner: store.catalog.clone(),
            gate: gate.clone(),
            products: products.clone(),
        });
        if let Some(gate) = &gate {
            store.transitions = Arc::new(GatedTransitions {
                inner: store.transitions.clone(),
                orders: store.orders.clone(),
                gate: gate.clone(),
            });
            if !gate.is_degraded()
                && let Err(error) = gate.rebuild_all().await
            {
                tracing::warn!(%error, "gates not built at start; they are built on first use");
            }
        } else {
            store.transitions = Arc::new(CountedTransitions {
                inner: store.transitions.clone(),
                products: products.clone(),
            });
        }
        let cached_catalog = Arc::new(CachedCatalog {
            reads: products.clone(),
            writes: store.catalog.clone(),
        });
        let fast = Self {
            redis,
            gate,
            commits,
            products,
            cached_catalog,
            limits,
            purchase_slots: Arc::new(Semaphore::new(settings.shedding.max_concurrent_purchases)),
        };
        Ok((fast, store))
    }

    /// Places an order: through the gate under the gated strategy, straight to storage otherwise.
    pub async fn place_order(
        &self,
        place: &PlaceOrder<'_>,
        customer: &CustomerId,
        key: &IdempotencyKey,
        request: PurchaseRequest,
    ) -> Result<PlaceOrderOutcome, PlaceOrderError> {
        match (&self.gate, &self.commits) {
            (Some(gate), Some(commits)) if place.strategy == Strategy::Gated => {
                GatedPurchase {
                    catalog: self.cached_catalog.as_ref(),
                    reservations: place.reservations,
                    gate: gate.as_ref(),
                    commits: commits.as_ref(),
                    answer: place.answer,
                    clock: place.clock,
                    hold: place.hold,
                }
                .run(customer, key, request)
                .await
            }
            _ => {
                let placed = place.run(customer, key, request).await;
                if let Ok(PlaceOrderOutcome::Created { .. }) = placed {
                    // Without a gate the count buyers see is the cached product's: drop it.
                    self.products.invalidate(request.product_id).await;
                }
                placed
            }
        }
    }

    /// Asks Redis now (which also refreshes the health every Redis user reads).
    pub async fn redis_status(&self) -> RedisStatus {
        match &self.redis {
            None => RedisStatus::InProcess,
            Some(backend) => match backend.ping().await {
                Ok(()) => RedisStatus::Up,
                Err(_) => RedisStatus::Degraded,
            },
        }
    }
}

/// Connects lazily: the service starts (degraded) while Redis is down and picks it up later.
fn connect(settings: &Settings, url: &str) -> anyhow::Result<RedisBackend> {
    let mut options = RedisOptions::new(url).with_key_prefix(settings.redis.key_prefix.clone());
    options.connect_timeout = Duration::from_millis(settings.redis.connect_timeout_ms);
    options.response_timeout = Duration::from_millis(settings.redis.response_timeout_ms);
    RedisBackend::connect_lazy(options).map_err(|e| anyhow::anyhow!("redis_url: {e}"))
}

fn cache_config(settings: &Settings) -> CacheConfig {
    let c = &settings.cache;
    CacheConfig {
        l1_ttl: Duration::from_millis(c.l1_ttl_ms),
        l1_capacity: c.l1_capacity,
        l2_ttl: Duration::from_millis(c.l2_ttl_ms),
        l2_jitter: Duration::from_millis(c.l2_jitter_ms),
        negative_ttl: Duration::from_millis(c.negative_ttl_ms),
    }
}

/// Milliseconds since the Unix epoch, as the fast path counts time.
pub fn epoch_ms(at: OffsetDateTime) -> i64 {
    i64::try_from(at.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}
