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
        // Fail here, with instructions, rather than deep inside a test.
        if let Err(e) = RedisBackend::connect(options(&prefix)).await {
            panic!(
                "these tests need Redis at {} and could not reach it: {e}\n\
                 start one with: redis-server --daemonize yes --bind 127.0.0.1 --port 6379 \
                 --save \"\" --appendonly no",
                redis_url()
            );
        }
        Self { prefix }
    }

    /// A new backend (its own connection), as another service instance would have.
    pub async fn backend(&self) -> RedisBackend {
        RedisBackend::connect(options(&self.prefix))
            .await
            .expect("connect to redis")
    }

    pub fn keys(&self) -> Vec<String> {
        prefixed_keys(&mut sync_connection(), &self.prefix).expect("list test keys")
    }

    /// Simulates losing Redis state (FLUSHALL, failover to an empty replica) for this test only.
    pub fn delete_all_keys(&self) {
        delete_prefixed(&self.prefix).expect("delete test keys");
    }
}

impl Drop for TestRedis {
    /// Best effort: a panic here would hide the test's own failure.
    fn drop(&mut self) {
        if let Err(e) = delete_prefixed(&self.prefix) {
            eprintln!("could not remove test keys {}*: {e}", self.prefix);
        }
    }
}

fn prefixed_keys(conn: &mut redis::Connection, prefix: &str) -> redis::RedisResult<Vec<String>> {
    let mut keys = Vec::new();
    let mut cursor = 0u64;
    loop {
        let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(format!("{prefix}*"))
            .arg("COUNT")
            .arg(1000)
            .query(conn)?;
        keys.extend(batch);
        if next == 0 {
            return Ok(keys);
        }
        cursor = next;
    }
}

fn delete_prefixed(prefix: &str) -> redis::RedisResult<()> {
    let mut conn = redis::Client::open(redis_url())?.get_connection()?;
    let keys = prefixed_keys(&mut conn, prefix)?;
    if !keys.is_empty() {
        redis::cmd("DEL").arg(&keys).query::<i64>(&mut conn)?;
    }
    Ok(())
}

fn options(prefix: &str) -> RedisOptions {
    RedisOptions::new(redis_url()).with_key_prefix(prefix)
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
