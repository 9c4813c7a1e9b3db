//! Test support for every crate whose tests use the real Redis: one key prefix per test, under which
//! all of its keys and channels live, removed again when the test ends (pass or fail). Redis comes from
//! `FLASHGATE_TEST_REDIS_URL`, by default the local server.

use crate::{RedisBackend, RedisOptions};
use std::time::{Duration, Instant};

pub fn redis_url() -> String {
    std::env::var("FLASHGATE_TEST_REDIS_URL")
        .unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// One test's slice of the shared Redis: every key and channel under `fgtest:<uuid>:`.
pub struct TestRedis {
    pub prefix: String,
}

impl TestRedis {
    /// Panics, with instructions, when Redis cannot be reached: these tests need the real server.
    pub fn new() -> Self {
        let prefix = format!("fgtest:{}:", uuid::Uuid::new_v4().simple());
        if let Err(e) = connection().and_then(|mut c| redis::cmd("PING").query::<String>(&mut c)) {
            panic!(
                "these tests need Redis at {} and could not reach it: {e}\n\
                 start one with: redis-server --daemonize yes --bind 127.0.0.1 --port 6379 \
                 --save \"\" --appendonly no",
                redis_url()
            );
        }
        Self { prefix }
    }

    pub fn url(&self) -> String {
        redis_url()
    }

    /// A new backend (its own connection), as another service instance would have.
    pub async fn backend(&self) -> RedisBackend {
        match RedisBackend::connect(RedisOptions::new(redis_url()).with_key_prefix(&self.prefix))
            .await
        {
            Ok(backend) => backend,
            Err(e) => panic!("connect to redis at {}: {e}", redis_url()),
        }
    }

    pub fn keys(&self) -> Vec<String> {
        match connection().and_then(|mut c| prefixed_keys(&mut c, &self.prefix)) {
            Ok(keys) => keys,
            Err(e) => panic!("list the test's redis keys: {e}"),
        }
    }

    /// Loses this test's Redis state, as FLUSHALL or a failover to an empty replica would, without
    /// touching anyone else's.
    pub fn delete_all_keys(&self) {
        if let Err(e) = delete_prefixed(&self.prefix) {
            panic!("delete the test's redis keys: {e}");
        }
    }
}

impl Default for TestRedis {
    fn default() -> Self {
        Self::new()
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

fn connection() -> redis::RedisResult<redis::Connection> {
    redis::Client::open(redis_url())?.get_connection()
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
    let mut conn = connection()?;
    let keys = prefixed_keys(&mut conn, prefix)?;
    if !keys.is_empty() {
        redis::cmd("DEL").arg(&keys).query::<i64>(&mut conn)?;
    }
    Ok(())
}

/// Polls `cond` until it holds or `within` passes: for effects that travel (pub/sub, recovery).
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
