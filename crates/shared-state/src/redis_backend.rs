//! The shared Redis connection of the fast path: one multiplexed, reconnecting connection, to a single
//! server (`ConnectionManager`) or to a Redis Cluster (a cluster connection that sends each command to
//! the master of its key's slot and follows failovers), with hard timeouts, a key prefix, and health
//! tracking. Every Redis adapter goes through `run`, so a dead Redis turns into a fast
//! `SharedStateError::Unavailable`, never a hung request; adapters never know which of the two it is,
//! which works because every multi-key command they send names keys of one hash tag, hence one slot.

use std::future::Future;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClientBuilder;
use redis::cluster_async::ClusterConnection;
use redis::{ConnectionAddr, ConnectionInfo, IntoConnectionInfo};

use crate::error::SharedStateError;
use crate::health::RedisHealth;

#[derive(Debug, Clone)]
pub struct RedisOptions {
    /// e.g. `redis://127.0.0.1:6379`, or `rediss://…` for TLS. For a Redis Cluster, one or more of
    /// its nodes, comma-separated: the rest are learnt from them.
    pub url: String,
    /// The URL names nodes of a Redis Cluster (implied when it names several).
    pub cluster: bool,
    /// Prepended to every key and channel; must not contain `{` or `}` (hash tags follow it).
    pub key_prefix: String,
    pub connect_timeout: Duration,
    pub response_timeout: Duration,
    /// Reconnect attempts inside one operation; kept low so an outage fails fast instead of
    /// retrying while requests pile up.
    pub reconnect_retries: usize,
    /// For `rediss://`: PEM CA certificates trusted instead of the built-in public roots (a private
    /// CA).
    pub root_ca_pem: Option<Vec<u8>>,
}

impl RedisOptions {
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            cluster: false,
            key_prefix: "fg:".to_owned(),
            connect_timeout: Duration::from_millis(500),
            response_timeout: Duration::from_millis(500),
            reconnect_retries: 1,
            root_ca_pem: None,
        }
    }

    pub fn with_key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.key_prefix = prefix.into();
        self
    }

    pub fn with_cluster(mut self, cluster: bool) -> Self {
        self.cluster = cluster;
        self
    }

    /// The nodes the URL names.
    pub fn nodes(&self) -> Vec<&str> {
        self.url
            .split(',')
            .map(str::trim)
            .filter(|node| !node.is_empty())
            .collect()
    }

    pub fn is_cluster(&self) -> bool {
        self.cluster || self.nodes().len() > 1
    }
}

/// A connection to a single server or to a cluster; the adapters send commands through it alike.
#[derive(Clone)]
pub enum RedisConnection {
    Server(ConnectionManager),
    Cluster(ClusterConnection),
}

impl redis::aio::ConnectionLike for RedisConnection {
    fn req_packed_command<'a>(
        &'a mut self,
        cmd: &'a redis::Cmd,
    ) -> redis::RedisFuture<'a, redis::Value> {
        match self {
            Self::Server(conn) => conn.req_packed_command(cmd),
            Self::Cluster(conn) => conn.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a redis::Pipeline,
        offset: usize,
        count: usize,
    ) -> redis::RedisFuture<'a, Vec<redis::Value>> {
        match self {
            Self::Server(conn) => conn.req_packed_commands(pipeline, offset, count),
            Self::Cluster(conn) => conn.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Server(conn) => conn.get_db(),
            Self::Cluster(conn) => conn.get_db(),
        }
    }
}

/// Cheap to clone; clones share the connection and the health record.
#[derive(Clone)]
pub struct RedisBackend {
    /// The nodes named in the URL: where pub/sub subscribes first.
    seeds: Arc<[ConnectionInfo]>,
    root_ca_pem: Option<Arc<[u8]>>,
    conn: Arc<RwLock<RedisConnection>>,
    /// A cluster's client, to connect afresh when the connection is wedged.
    cluster: Option<Arc<Renewal>>,
    health: Arc<RedisHealth>,
    prefix: Arc<str>,
    connect_timeout: Duration,
    op_timeout: Duration,
}

/// A cluster connection hit by a storm of redirections (every request in flight during a failover)
/// can stay wedged, every command timing out, long after the cluster has settled; one that failed this
/// many operations in a row is replaced by a fresh one, which reads the topology anew.
const RENEW_AFTER_FAILURES: u64 = 3;
/// At most one fresh connection this often, however many operations fail at once.
const RENEW_AT_MOST_EVERY: Duration = Duration::from_secs(2);

struct Renewal {
    client: redis::cluster::ClusterClient,
    config: redis::cluster::ClusterConfig,
    last: Mutex<Instant>,
}

impl std::fmt::Debug for RedisBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisBackend")
            .field("prefix", &self.prefix)
            .field("health", &self.health.snapshot())
            .finish_non_exhaustive()
    }
}

impl RedisBackend {
    /// Connects now and fails fast (`Unavailable`) when Redis cannot be reached.
    pub async fn connect(opts: RedisOptions) -> Result<Self, SharedStateError> {
        let backend = Self::connect_lazy(opts)?;
        backend.ping().await?;
        Ok(backend)
    }

    /// Returns at once; the connection is made on first use. The service uses this to start while
    /// Redis is down: it reports `degraded` until an operation succeeds.
    pub fn connect_lazy(opts: RedisOptions) -> Result<Self, SharedStateError> {
        if opts.key_prefix.contains(['{', '}']) {
            return Err(SharedStateError::Invalid(
                "redis key prefix must not contain `{` or `}`".to_owned(),
            ));
        }
        let seeds = opts
            .nodes()
            .into_iter()
            .map(IntoConnectionInfo::into_connection_info)
            .collect::<redis::RedisResult<Vec<_>>>()
            .map_err(|e| SharedStateError::Invalid(format!("redis url: {e}")))?;
        if seeds.is_empty() {
            return Err(SharedStateError::Invalid("redis url: no node".to_owned()));
        }
        // Backoff sleeps between reconnect attempts are bounded by max_delay; the outer timeout
        // catches anything the driver's own timeouts miss.
        let retries = u32::try_from(opts.reconnect_retries).unwrap_or(u32::MAX);
        let op_timeout = (opts.connect_timeout + Duration::from_millis(200))
            .saturating_mul(retries.saturating_add(1))
            + opts.response_timeout;
        let mut cluster = None;
        let conn = if opts.is_cluster() {
            let mut builder = ClusterClientBuilder::new(seeds.clone())
                // One retry follows a redirection (a slot moved, a replica promoted), one more a
                // reconnect; the operation timeout bounds them all.
                .retries(retries.saturating_add(1))
                .min_retry_wait(20)
                .max_retry_wait(200)
                .overall_response_timeout(Some(op_timeout));
            if let Some(pem) = &opts.root_ca_pem {
                builder = builder.certs(tls_certificates(pem));
            }
            let client = builder
                .build()
                .map_err(|e| SharedStateError::Invalid(format!("redis url: {e}")))?;
            // Connects in the background, like the single server's lazy manager.
            let config = redis::cluster::ClusterConfig::new()
                .set_connection_timeout(opts.connect_timeout)
                .set_response_timeout(opts.response_timeout);
            let conn = client.get_pending_async_connection_with_config(config.clone());
            cluster = Some(Arc::new(Renewal {
                client,
                config,
                last: Mutex::new(Instant::now()),
            }));
            RedisConnection::Cluster(conn)
        } else {
            let client = node_client(seeds[0].clone(), opts.root_ca_pem.as_deref())
                .map_err(|e| SharedStateError::Invalid(format!("redis url: {e}")))?;
            let config = ConnectionManagerConfig::new()
                .set_connection_timeout(Some(opts.connect_timeout))
                .set_response_timeout(Some(opts.response_timeout))
                .set_number_of_retries(opts.reconnect_retries)
                .set_min_delay(Duration::from_millis(20))
                .set_max_delay(Duration::from_millis(200));
            RedisConnection::Server(ConnectionManager::new_lazy_with_config(client, config)?)
        };
        Ok(Self {
            seeds: seeds.into(),
            root_ca_pem: opts.root_ca_pem.map(Arc::from),
            conn: Arc::new(RwLock::new(conn)),
            cluster,
            health: Arc::new(RedisHealth::new(true)),
            prefix: opts.key_prefix.into(),
            connect_timeout: opts.connect_timeout,
            op_timeout,
        })
    }

    pub fn health(&self) -> Arc<RedisHealth> {
        Arc::clone(&self.health)
    }

    pub fn key_prefix(&self) -> &str {
        &self.prefix
    }

    /// A probe for `/readyz`; also refreshes the health record.
    pub async fn ping(&self) -> Result<(), SharedStateError> {
        self.run(|mut conn| async move {
            redis::cmd("PING")
                .query_async::<String>(&mut conn)
                .await
                .map(|_| ())
        })
        .await
    }

    /// The server a pub/sub subscription listens on at its `attempt`th try: the one server; on a
    /// cluster the nodes named in the URL in turn, then in turn every node the cluster reports healthy
    /// (masters and replicas alike: a cluster passes each PUBLISH on to all of its nodes), so that one
    /// failed node, even every one the URL names, only costs a try.
    pub(crate) async fn pubsub_node(&self, attempt: usize) -> Option<redis::Client> {
        let mut nodes = self.seeds.to_vec();
        if attempt >= nodes.len() && self.cluster.is_some() {
            let reported = self
                .run(|mut conn| async move {
                    redis::cmd("CLUSTER")
                        .arg("NODES")
                        .query_async::<String>(&mut conn)
                        .await
                })
                .await;
            for node in cluster_nodes(&reported.unwrap_or_default()) {
                let known = nodes.iter().any(|n| match n.addr() {
                    ConnectionAddr::Tcp(host, port) | ConnectionAddr::TcpTls { host, port, .. } => {
                        *host == node.host && *port == node.port
                    }
                    _ => false,
                });
                if !known {
                    nodes.push(at_address(&self.seeds[0], node.host, node.port));
                }
            }
        }
        let info = nodes.swap_remove(attempt % nodes.len());
        node_client(info, self.root_ca_pem.as_deref()).ok()
    }

    pub(crate) fn connect_timeout(&self) -> Duration {
        self.connect_timeout
    }

    /// Runs one Redis operation under the operation timeout and records the outcome in health.
    pub(crate) async fn run<T, F, Fut>(&self, op: F) -> Result<T, SharedStateError>
    where
        F: FnOnce(RedisConnection) -> Fut,
        Fut: Future<Output = redis::RedisResult<T>>,
    {
        let conn = match self.conn.read() {
            Ok(conn) => conn.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        };
        let result = match tokio::time::timeout(self.op_timeout, op(conn)).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => Err(SharedStateError::from(e)),
            Err(_) => Err(SharedStateError::Unavailable(format!(
                "no answer within {:?}",
                self.op_timeout
            ))),
        };
        match &result {
            Ok(_) => self.health.record_ok(),
            Err(e) => {
                self.health.record_error(e);
                if e.is_unavailable() {
                    self.renew_if_wedged();
                }
            }
        }
        result
    }

    fn renew_if_wedged(&self) {
        let Some(renewal) = &self.cluster else {
            return;
        };
        let failures = self.health.consecutive_failures();
        if failures < RENEW_AFTER_FAILURES {
            return;
        }
        let Ok(mut last) = renewal.last.lock() else {
            return;
        };
        if last.elapsed() < RENEW_AT_MOST_EVERY {
            return;
        }
        *last = Instant::now();
        let fresh = renewal
            .client
            .get_pending_async_connection_with_config(renewal.config.clone());
        if let Ok(mut conn) = self.conn.write() {
            *conn = RedisConnection::Cluster(fresh);
        }
        tracing::warn!(
            failures,
            "the Redis Cluster connection failed operations in a row; connecting afresh"
        );
    }

    /// Best-effort PUBLISH: a lost message is healed by the subscribers' own safety nets
    /// (flag TTLs, short L1 TTLs, full resync on reconnect). A failed one is sent once more: on a
    /// Redis Cluster the channel's slot may have just moved to a promoted replica, which the first
    /// failure teaches the client.
    pub(crate) async fn publish(&self, channel: &str, payload: &str) {
        let mut result = Ok(());
        for _ in 0..2 {
            result = self
                .run(|mut conn| async move {
                    redis::cmd("PUBLISH")
                        .arg(channel)
                        .arg(payload)
                        .query_async::<i64>(&mut conn)
                        .await
                })
                .await
                .map(drop);
            if result.is_ok() {
                return;
            }
        }
        if let Err(e) = result {
            tracing::warn!(channel, error = %e, "publish failed");
        }
    }
}

fn tls_certificates(root_ca_pem: &[u8]) -> redis::TlsCertificates {
    redis::TlsCertificates {
        client_tls: None,
        root_cert: Some(root_ca_pem.to_vec()),
    }
}

/// A client of one server, trusting the private CA when there is one.
fn node_client(
    info: ConnectionInfo,
    root_ca_pem: Option<&[u8]>,
) -> redis::RedisResult<redis::Client> {
    match root_ca_pem {
        None => redis::Client::open(info),
        Some(pem) => redis::Client::build_with_tls(info, tls_certificates(pem)),
    }
}

/// Another node of the cluster `seed` belongs to: the same credentials and TLS, another address.
fn at_address(seed: &ConnectionInfo, host: String, port: u16) -> ConnectionInfo {
    let addr = match seed.addr() {
        ConnectionAddr::TcpTls { insecure, .. } => ConnectionAddr::TcpTls {
            host,
            port,
            insecure: *insecure,
            tls_params: None,
        },
        _ => ConnectionAddr::Tcp(host, port),
    };
    seed.clone().set_addr(addr)
}

/// A node of a cluster, as `CLUSTER NODES` reports it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct ClusterNode {
    pub(crate) host: String,
    pub(crate) port: u16,
    pub(crate) master: bool,
}

/// The nodes in a `CLUSTER NODES` reply that are connected and not failing, from lines of
/// `<id> <ip>:<port>@<bus port>[,<hostname>] <flags> <master> <ping> <pong> <epoch> <link> <slots>…`.
/// A node's announced hostname wins over its address (it is what a TLS certificate names).
pub(crate) fn cluster_nodes(reply: &str) -> Vec<ClusterNode> {
    let mut nodes: Vec<ClusterNode> = reply
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (address, flags, link) = (fields.get(1)?, fields.get(2)?, fields.get(7)?);
            let flags: Vec<&str> = flags.split(',').collect();
            if *link != "connected"
                || flags
                    .iter()
                    .any(|f| matches!(*f, "fail" | "fail?" | "noaddr" | "handshake"))
            {
                return None;
            }
            let (endpoint, bus) = address.split_once('@')?;
            let (ip, port) = endpoint.rsplit_once(':')?;
            let host = match bus.split_once(',') {
                Some((_, hostname)) if !hostname.is_empty() => hostname,
                _ => ip,
            };
            Some(ClusterNode {
                host: host.to_owned(),
                port: port.parse().ok()?,
                master: flags.contains(&"master"),
            })
        })
        .collect();
    nodes.sort();
    nodes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn several_nodes_make_a_cluster_and_blanks_are_ignored() {
        let opts = RedisOptions::new("redis://a:1, redis://b:2,");
        assert_eq!(opts.nodes(), ["redis://a:1", "redis://b:2"]);
        assert!(opts.is_cluster());
        assert!(!RedisOptions::new("redis://a:1").is_cluster());
        assert!(
            RedisOptions::new("redis://a:1")
                .with_cluster(true)
                .is_cluster()
        );
    }

    #[test]
    fn only_connected_nodes_that_are_not_failing_are_listed() {
        let reply = "\
a1 127.0.0.1:7002@17002 master - 0 0 2 connected 5461-10922
b2 127.0.0.1:7001@17001,node1.example myself,master - 0 0 1 connected 0-5460
c3 127.0.0.1:7003@17003 master,fail - 0 0 3 disconnected
d4 127.0.0.1:7004@17004 slave a1 0 0 2 connected
e5 :0@0 master,noaddr - 0 0 0 disconnected
";
        let node = |host: &str, port, master| ClusterNode {
            host: host.to_owned(),
            port,
            master,
        };
        assert_eq!(
            cluster_nodes(reply),
            [
                node("127.0.0.1", 7002, true),
                node("127.0.0.1", 7004, false),
                node("node1.example", 7001, true),
            ]
        );
    }
}
