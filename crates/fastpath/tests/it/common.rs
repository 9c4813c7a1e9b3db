//! Test support: a Redis key prefix per test, removed again when the test ends (pass or fail).

use std::time::{Duration, Instant};

use flashgate_fastpath::{RedisBackend, RedisOptions};

pub fn redis_url() -> String {
    std::env::var("FLASHGATE_TEST_REDIS_URL")
        .unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// Owns one test's slice of Redis: every key and channel under `fgtest:<uuid>:`.
pub struct TestRedis {
    pub prefix: String,
}

impl TestRedis {
    pub async fn new() -> Self {
        let prefix = format!("fgtest:{}:", uuid::Uuid::new_v4().simple());
        let this = Self { prefix };
        // Fail here, with instructions, rather than deep inside a test.
        if let Err(e) = this.try_backend().await {
            panic!(
                "these tests need Redis at {} and could not reach it: {e}\n\
                 start one with: redis-server --daemonize yes --bind 127.0.0.1 --port 6379 \
                 --save \"\" --appendonly no",
                redis_url()
            );
        }
        this
    }

    pub fn options(&self) -> RedisOptions {
        RedisOptions::new(redis_url()).with_key_prefix(self.prefix.clone())
    }

    async fn try_backend(&self) -> Result<RedisBackend, flashgate_fastpath::FastPathError> {
        RedisBackend::connect(self.options()).await
    }

    /// A new backend (its own connection), as another service instance would have.
    pub async fn backend(&self) -> RedisBackend {
        self.try_backend().await.expect("connect to redis")
    }

    pub fn keys(&self) -> Vec<String> {
        let mut conn = sync_connection();
        redis::cmd("KEYS")
            .arg(format!("{}*", self.prefix))
            .query(&mut conn)
            .expect("KEYS")
    }

    /// Simulates losing Redis state (FLUSHALL, failover to an empty replica) for this test only.
    pub fn delete_all_keys(&self) {
        let keys = self.keys();
        if !keys.is_empty() {
            let mut conn = sync_connection();
            redis::cmd("DEL")
                .arg(&keys)
                .query::<i64>(&mut conn)
                .expect("DEL");
        }
    }
}

impl Drop for TestRedis {
    fn drop(&mut self) {
        self.delete_all_keys();
    }
}

fn sync_connection() -> redis::Connection {
    redis::Client::open(redis_url())
        .and_then(|c| c.get_connection())
        .expect("sync redis connection")
}

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
