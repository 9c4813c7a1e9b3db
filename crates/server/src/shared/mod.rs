//! What instances share, as the service uses it: the admission gate fenced to the database, cached
//! product reads, rate limits and the purchase concurrency bound, on Redis when `redis_url` is set
//! and in process otherwise. The decorators that keep them in step with the database are in
//! [`in_step`]; `crate::assemble` puts everything together.

pub mod answers;
pub mod gate;
pub mod in_step;
pub mod limits;
pub mod products;

use crate::config::Settings;
use crate::config::within;
use anyhow::Context;
use flashgate_core::Clock;
use flashgate_core::checkout::FencedGate;
use flashgate_core::ports::{GateFence, Products};
use flashgate_shared_state::{
    Cache, Gate, GateConfig, InProcessCache, InProcessGate, LocalBus, RedisBackend, RedisCache,
    RedisGate, RedisOptions,
};
use gate::SharedCounters;
use limits::Limits;
use products::CachedProducts;
use serde::Deserialize;
use serde_with::{DurationMilliSeconds, serde_as};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

pub struct SharedState {
    pub redis: Option<RedisBackend>,
    /// Present when purchases go through the gate (`inventory.strategy = "gated"`).
    pub gate: Option<Arc<FencedGate>>,
    /// Product reads through the cache (or straight to the database when caching is off).
    pub products: Arc<CachedProducts>,
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

impl SharedState {
    /// Connects to Redis (lazily: the service starts degraded while it is down) or builds the
    /// in-process twins. `gated`: whether purchases go through the admission gate.
    pub async fn connect(
        settings: &Settings,
        gated: bool,
        products: Arc<dyn Products>,
        fence: Arc<dyn GateFence>,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<Self> {
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
        let cache_config = settings.cache.cache_config();
        let cache: Arc<dyn Cache> = match &redis {
            Some(backend) => Arc::new(RedisCache::new(backend.clone(), cache_config).await),
            None => Arc::new(InProcessCache::new(cache_config, &LocalBus::new())),
        };
        let cached = Arc::new(CachedProducts::new(
            settings.cache.enabled.then_some(cache),
            products.clone(),
        ));
        let gate = if gated {
            let config = GateConfig {
                idempotency_ttl: settings.gate.idempotency_ttl,
                sold_out_ttl: settings.gate.sold_out_ttl,
            };
            let (gate, health): (Arc<dyn Gate>, _) = match &redis {
                Some(backend) => (
                    Arc::new(RedisGate::new(backend.clone(), config).await),
                    Some(backend.health()),
                ),
                None => {
                    if settings.database_url.scheme() != "sqlite" {
                        tracing::warn!(
                            "the gate's counters live in this process (no redis_url): right for one \
                             instance; several instances over one database need Redis for gated"
                        );
                    }
                    (Arc::new(InProcessGate::new(config)), None)
                }
            };
            let counters = Arc::new(SharedCounters::new(gate, health));
            Some(Arc::new(FencedGate::new(counters, fence, products)))
        } else {
            None
        };
        let limits = if settings.limits.enabled {
            Some(Arc::new(
                Limits::new(&settings.limits, redis.as_ref(), clock).context("limits")?,
            ))
        } else {
            None
        };
        Ok(Self {
            redis,
            gate,
            products: cached,
            limits,
            purchase_slots: Arc::new(Semaphore::new(settings.shedding.max_concurrent_purchases)),
        })
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

fn connect(settings: &Settings, url: &str) -> anyhow::Result<RedisBackend> {
    let mut options = RedisOptions::new(url)
        .with_key_prefix(settings.redis.key_prefix.clone())
        .with_cluster(settings.redis.cluster);
    options.connect_timeout = settings.redis.connect_timeout;
    options.response_timeout = settings.redis.response_timeout;
    options.root_ca_pem = crate::tls::root_ca("redis.root_ca_file", &settings.redis.root_ca_file)?;
    RedisBackend::connect_lazy(options).map_err(|e| anyhow::anyhow!("redis_url: {e}"))
}

/// `[redis]`: how the shared state talks to Redis.
#[serde_as]
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisSettings {
    /// `redis_url` names nodes of a Redis Cluster (implied when it names several).
    pub cluster: bool,
    pub key_prefix: String,
    #[serde_as(as = "DurationMilliSeconds<u64>")]
    #[serde(rename = "connect_timeout_ms")]
    pub connect_timeout: Duration,
    #[serde_as(as = "DurationMilliSeconds<u64>")]
    #[serde(rename = "response_timeout_ms")]
    pub response_timeout: Duration,
    /// PEM CA certificates that alone are trusted for a `rediss://` Redis; empty: the built-in roots.
    pub root_ca_file: String,
}

impl RedisSettings {
    pub fn validate(&self) -> anyhow::Result<()> {
        if self.key_prefix.contains(['{', '}']) {
            anyhow::bail!("redis.key_prefix: must not contain {{ or }}");
        }
        let (min, max) = (Duration::from_millis(1), Duration::from_secs(60));
        within("redis.connect_timeout_ms", self.connect_timeout, min, max)?;
        within("redis.response_timeout_ms", self.response_timeout, min, max)
    }
}
