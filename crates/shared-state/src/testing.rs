//! Test support for every crate whose tests use the real Redis: one key prefix per test, under which
//! all of its keys and channels live, removed again when the test ends (pass or fail), on the single
//! Redis at `FLASHGATE_TEST_REDIS_URL` (by default the local server) or on the Redis Cluster at
//! `FLASHGATE_TEST_REDIS_CLUSTER_URL` (by default the local one `scripts/services.sh` starts, its
//! nodes comma-separated). `on_each_redis!` runs a scenario on both.

use crate::redis_backend::cluster_nodes;
use crate::{RedisBackend, RedisOptions};
use std::time::{Duration, Instant};

pub fn redis_url() -> String {
    std::env::var("FLASHGATE_TEST_REDIS_URL")
        .unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

pub fn redis_cluster_url() -> String {
    std::env::var("FLASHGATE_TEST_REDIS_CLUSTER_URL").unwrap_or_else(|_| {
        (57001..=57006)
            .map(|port| format!("redis://127.0.0.1:{port}"))
            .collect::<Vec<_>>()
            .join(",")
    })
}

/// Instantiates scenarios `async fn scenario(TestRedis)` as two tests each, in a module named after
/// the scenario: `single` on the single Redis and `cluster` on the Redis Cluster, each under a key
/// prefix of its own. Attributes before a scenario's name go on both of its tests.
#[macro_export]
macro_rules! on_each_redis {
    ($($(#[$attr:meta])* $scenario:ident),+ $(,)?) => {$(
        mod $scenario {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            $(#[$attr])*
            async fn single() {
                super::$scenario($crate::testing::TestRedis::new()).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            $(#[$attr])*
            async fn cluster() {
                super::$scenario($crate::testing::TestRedis::cluster()).await;
            }
        }
    )+};
}

/// One test's slice of the shared Redis or Redis Cluster: every key and channel under `fgtest:<uuid>:`.
pub struct TestRedis {
    pub prefix: String,
    url: String,
    cluster: bool,
}

impl TestRedis {
    /// On the single Redis. Panics, with instructions, when it cannot be reached: these tests need
    /// the real server.
    pub fn new() -> Self {
        Self::on(redis_url(), false)
    }

    /// On the Redis Cluster; panics, with instructions, when it cannot be reached.
    pub fn cluster() -> Self {
        Self::on(redis_cluster_url(), true)
    }

    /// On the Redis (cluster or not) at `url`: a private one the test started, say.
    pub fn on(url: String, cluster: bool) -> Self {
        let redis = Self {
            prefix: format!("fgtest:{}:", uuid::Uuid::new_v4().simple()),
            url,
            cluster,
        };
        if let Err(e) = redis.masters() {
            let start = if cluster {
                ". scripts/services.sh; ensure_redis_cluster"
            } else {
                "redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save \"\" --appendonly no"
            };
            panic!(
                "these tests need Redis at {} and could not reach it: {e}\nstart it with: {start}",
                redis.url
            );
        }
        redis
    }

    pub fn url(&self) -> String {
        self.url.clone()
    }

    pub fn is_cluster(&self) -> bool {
        self.cluster
    }

    /// The options of a backend on this test's slice.
    pub fn options(&self) -> RedisOptions {
        RedisOptions::new(&self.url)
            .with_cluster(self.cluster)
            .with_key_prefix(&self.prefix)
    }

    /// A new backend (its own connection), as another service instance would have.
    pub async fn backend(&self) -> RedisBackend {
        match RedisBackend::connect(self.options()).await {
            Ok(backend) => backend,
            Err(e) => panic!("connect to redis at {}: {e}", self.url),
        }
    }

    /// A plain connection to this Redis for the test's own commands; on a cluster each command goes
    /// to the master of its key's slot.
    pub fn connection(&self) -> Box<dyn redis::ConnectionLike> {
        let options = RedisOptions::new(&self.url);
        let connected: redis::RedisResult<Box<dyn redis::ConnectionLike>> = if self.cluster {
            redis::cluster::ClusterClient::new(options.nodes())
                .and_then(|c| c.get_connection())
                .map(|c| Box::new(c) as Box<dyn redis::ConnectionLike>)
        } else {
            redis::Client::open(options.nodes()[0])
                .and_then(|c| c.get_connection())
                .map(|c| Box::new(c) as Box<dyn redis::ConnectionLike>)
        };
        match connected {
            Ok(conn) => conn,
            Err(e) => panic!("connect to redis at {}: {e}", self.url),
        }
    }

    pub fn keys(&self) -> Vec<String> {
        let listed = self.masters().and_then(|masters| {
            let mut keys = Vec::new();
            for mut master in masters {
                keys.extend(prefixed_keys(&mut master, &self.prefix)?);
            }
            Ok(keys)
        });
        match listed {
            Ok(keys) => keys,
            Err(e) => panic!("list the test's redis keys: {e}"),
        }
    }

    /// Loses this test's Redis state, as FLUSHALL or a failover to an empty replica would, without
    /// touching anyone else's.
    pub fn delete_all_keys(&self) {
        if let Err(e) = self.delete_prefixed() {
            panic!("delete the test's redis keys: {e}");
        }
    }

    /// A connection to each server that holds keys: the one server, or every master of the cluster.
    fn masters(&self) -> redis::RedisResult<Vec<redis::Connection>> {
        let options = RedisOptions::new(&self.url);
        let nodes = options.nodes();
        if !self.cluster {
            let mut conn = redis::Client::open(nodes[0])?.get_connection()?;
            redis::cmd("PING").query::<String>(&mut conn)?;
            return Ok(vec![conn]);
        }
        // Ask the first node that answers; the masters it names hold every slot.
        let mut last = None;
        for node in nodes {
            let reply = redis::Client::open(node)
                .and_then(|c| c.get_connection())
                .and_then(|mut c| redis::cmd("CLUSTER").arg("NODES").query::<String>(&mut c));
            match reply {
                Ok(reply) => {
                    return cluster_nodes(&reply)
                        .into_iter()
                        .filter(|n| n.master)
                        .map(|n| {
                            redis::Client::open(format!("redis://{}:{}", n.host, n.port))?
                                .get_connection()
                        })
                        .collect();
                }
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| (redis::ErrorKind::Io, "no cluster node").into()))
    }

    /// One DEL per key: a cluster refuses a DEL of keys in different slots, even on one node.
    fn delete_prefixed(&self) -> redis::RedisResult<()> {
        for mut master in self.masters()? {
            let keys = prefixed_keys(&mut master, &self.prefix)?;
            if keys.is_empty() {
                continue;
            }
            let mut pipe = redis::pipe();
            for key in &keys {
                pipe.del(key).ignore();
            }
            pipe.query::<()>(&mut master)?;
        }
        Ok(())
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
        if let Err(e) = self.delete_prefixed() {
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
