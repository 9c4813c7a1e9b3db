//! The state flashgate instances share: the admission gate, rate limits, the two-level cache, buyers'
//! sessions and the Redis plumbing under them. Every part has a Redis adapter and an in-process twin
//! behind one small trait, so the service runs on one machine with no servers and on many instances
//! sharing Redis.

pub mod cache;
pub mod error;
pub mod gate;
pub mod health;
pub mod limiter;
pub mod redis_backend;
pub mod sessions;
mod subscriber;
#[cfg(feature = "testing")]
pub mod testing;

pub use cache::{Cache, CacheConfig, CacheStats, InProcessCache, LocalBus, RedisCache};
pub use error::SharedStateError;
pub use gate::{
    Admission, AdmitRequest, CustomerCount, Fenced, Gate, GateConfig, GateProduct, InProcessGate,
    RedisGate, fresh_epoch,
};
pub use health::{HealthSnapshot, RedisHealth};
pub use limiter::{
    InProcessLimiter, Penalty, Policy, RateDecision, RateLimiter, RedisLimiter, Verdict,
};
pub use redis_backend::{RedisBackend, RedisOptions};
pub use sessions::{CachedSession, RedisSessions, SessionFields};
