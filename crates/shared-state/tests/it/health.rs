//! A dead Redis must cost a fast, typed `Unavailable` and a `degraded` health report, never a hang.

use std::sync::Arc;
use std::time::{Duration, Instant};

use flashgate_shared_state::{
    AdmitRequest, Cache, CacheConfig, Gate, GateConfig, Policy, RateLimiter, RedisBackend,
    RedisCache, RedisGate, RedisLimiter, RedisOptions,
};

use flashgate_core::ManualClock;

use crate::common::TestRedis;

/// Nothing listens on port 1.
fn dead() -> RedisOptions {
    RedisOptions::new("redis://127.0.0.1:1").with_key_prefix("fgtest:dead:")
}

const FAST: Duration = Duration::from_secs(3);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connecting_to_a_dead_redis_fails_fast_as_unavailable() {
    let started = Instant::now();
    let err = RedisBackend::connect(dead()).await.unwrap_err();
    assert!(err.is_unavailable(), "{err}");
    assert!(started.elapsed() < FAST, "took {:?}", started.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operations_on_a_dead_redis_fail_fast_and_report_degraded() {
    let backend = RedisBackend::connect_lazy(dead()).unwrap();
    let health = backend.health();
    let gate = RedisGate::new(backend.clone(), GateConfig::default()).await;
    let limiter = RedisLimiter::new(
        backend.clone(),
        vec![Policy::new("reads", 10, Duration::from_secs(1))],
        Arc::new(ManualClock::at_ms(0)),
    )
    .unwrap();
    let req = AdmitRequest {
        product_id: 1,
        customer: "a".to_owned(),
        idempotency_key: "k".to_owned(),
        quantity: 1,
        now_ms: 0,
    };
    for _ in 0..3 {
        let started = Instant::now();
        let err = gate.admit(&req).await.unwrap_err();
        assert!(err.is_unavailable(), "{err}");
        let err = limiter.check("reads", "ip").await.unwrap_err();
        assert!(err.is_unavailable(), "{err}");
        assert!(started.elapsed() < FAST, "took {:?}", started.elapsed());
    }
    let snapshot = health.snapshot();
    assert!(snapshot.degraded);
    assert!(snapshot.consecutive_failures >= 6);
    assert!(snapshot.last_error.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cache_serves_from_the_loader_while_redis_is_down() {
    let backend = RedisBackend::connect_lazy(dead()).unwrap();
    let cache = RedisCache::new(backend.clone(), CacheConfig::default()).await;
    let started = Instant::now();
    let value = cache
        .get_or_load("k", Box::pin(async { Ok(Some(b"from db".to_vec())) }))
        .await
        .unwrap();
    assert_eq!(value.value.as_deref(), Some(&b"from db"[..]));
    assert!(started.elapsed() < FAST, "took {:?}", started.elapsed());
    assert!(backend.health().is_degraded());
    assert!(cache.invalidate("k").await.unwrap_err().is_unavailable());
}

async fn a_reachable_redis_is_healthy(redis: TestRedis) {
    let backend = redis.backend().await;
    backend.ping().await.unwrap();
    let snapshot = backend.health().snapshot();
    assert!(!snapshot.degraded);
    assert_eq!(snapshot.consecutive_failures, 0);
}

on_each_redis!(a_reachable_redis_is_healthy);

#[test]
fn a_prefix_with_braces_is_refused_since_it_would_break_hash_tags() {
    let opts = RedisOptions::new("redis://127.0.0.1:6379").with_key_prefix("a{b}:");
    assert!(RedisBackend::connect_lazy(opts).is_err());
}
