//! The service under load, against real PostgreSQL and Redis (a single server or a cluster) and against
//! the embedded twins (SQLite, in-process gate, cache and limiter): never overselling through the gate
//! across instances with Redis flushed or killed or a cluster's master failing over, the group commit,
//! cached reads, rate limits on every door, load shedding, and slow or idle clients.

use flashgate_testkit::{Backend, Spawn, TestRedis};

mod batch;
mod cache;
mod doors;
mod failover;
mod gate_repair;
mod gated;
mod limits;
mod shedding;
mod slow_clients;

/// An instance of this suite: several instances of several tests share one PostgreSQL server.
pub fn spawn(backend: Backend) -> Spawn {
    Spawn::new(backend).set("database.max_connections", 6)
}

/// A sale under load: the gate, no rate limits, no shedding.
pub fn gated_sale(backend: Backend) -> Spawn {
    spawn(backend)
        .set("inventory.strategy", "gated")
        .set("limits.enabled", false)
        .set("shedding.max_concurrent_purchases", 100_000)
        .set("shedding.queue_budget_ms", 60_000)
        .set("database.acquire_timeout_ms", 30_000)
        // A slow answer under load is not what these tests are about; a lost one would hide a sale.
        .set("http.request_timeout_ms", 120_000)
}

/// `spawn` on PostgreSQL with Redis under the test's prefix, or on the embedded twins: SQLite and the
/// in-process gate, cache and limiter.
pub fn on(redis: Option<&TestRedis>, spawn: impl FnOnce(Backend) -> Spawn) -> Spawn {
    match redis {
        Some(redis) => spawn(Backend::Postgres).redis(redis),
        None => spawn(Backend::Sqlite),
    }
}
