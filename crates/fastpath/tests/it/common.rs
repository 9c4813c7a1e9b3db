//! Test support: a Redis key prefix per test (removed when the test ends) and polling for effects
//! that travel over pub/sub.

use std::time::{Duration, Instant};

pub use flashgate_fastpath::testing::{TestRedis, redis_url};

/// Polls `cond` until it holds or `within` passes; for effects that travel over pub/sub.
pub async fn eventually<F, Fut>(within: Duration, mut cond: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + within;
    loop {
        if cond().await {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
