//! The shared Redis connection of the fast path: one multiplexed, reconnecting `ConnectionManager`
//! with hard timeouts, a key prefix, and health tracking. Every Redis adapter goes through `run`, so
//! a dead Redis turns into a fast `SharedStateError::Unavailable`, never a hung request.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use crate::error::SharedStateError;
use crate::health::RedisHealth;

#[derive(Debug, Clone)]
pub struct RedisOptions {
    /// e.g. `redis://127.0.0.1:6379`, or `rediss://…` for TLS.
    pub url: String,
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
}

/// Cheap to clone; clones share the connection and the health record.
#[derive(Clone)]
pub struct RedisBackend {
    client: redis::Client,
    conn: ConnectionManager,
    health: Arc<RedisHealth>,
    prefix: Arc<str>,
    connect_timeout: Duration,
    op_timeout: Duration,
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
        let client = match &opts.root_ca_pem {
            None => redis::Client::open(opts.url.as_str()),
            Some(pem) => redis::Client::build_with_tls(
                opts.url.as_str(),
                redis::TlsCertificates {
                    client_tls: None,
                    root_cert: Some(pem.clone()),
                },
            ),
        }
        .map_err(|e| SharedStateError::Invalid(format!("redis url: {e}")))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(opts.connect_timeout))
            .set_response_timeout(Some(opts.response_timeout))
            .set_number_of_retries(opts.reconnect_retries)
            .set_min_delay(Duration::from_millis(20))
            .set_max_delay(Duration::from_millis(200));
        let conn = ConnectionManager::new_lazy_with_config(client.clone(), config)?;
        // Backoff sleeps between reconnect attempts are bounded by max_delay; the outer timeout
        // catches anything the driver's own timeouts miss.
        let retries = u32::try_from(opts.reconnect_retries).unwrap_or(u32::MAX);
        let op_timeout = (opts.connect_timeout + Duration::from_millis(200))
            .saturating_mul(retries.saturating_add(1))
            + opts.response_timeout;
        Ok(Self {
            client,
            conn,
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

    pub(crate) fn client(&self) -> &redis::Client {
        &self.client
    }

    pub(crate) fn connect_timeout(&self) -> Duration {
        self.connect_timeout
    }

    /// Runs one Redis operation under the operation timeout and records the outcome in health.
    pub(crate) async fn run<T, F, Fut>(&self, op: F) -> Result<T, SharedStateError>
    where
        F: FnOnce(ConnectionManager) -> Fut,
        Fut: Future<Output = redis::RedisResult<T>>,
    {
        let result = match tokio::time::timeout(self.op_timeout, op(self.conn.clone())).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => Err(SharedStateError::from(e)),
            Err(_) => Err(SharedStateError::Unavailable(format!(
                "no answer within {:?}",
                self.op_timeout
            ))),
        };
        match &result {
            Ok(_) => self.health.record_ok(),
            Err(e) => self.health.record_error(e),
        }
        result
    }

    /// Best-effort PUBLISH: a lost message is healed by the subscribers' own safety nets
    /// (flag TTLs, short L1 TTLs, full resync on reconnect).
    pub(crate) async fn publish(&self, channel: &str, payload: &str) {
        let result = self
            .run(|mut conn| async move {
                redis::cmd("PUBLISH")
                    .arg(channel)
                    .arg(payload)
                    .query_async::<i64>(&mut conn)
                    .await
            })
            .await;
        if let Err(e) = result {
            tracing::warn!(channel, error = %e, "publish failed");
        }
    }
}
