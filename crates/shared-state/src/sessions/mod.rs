//! Buyers' sessions on Redis, shared by every instance: one hash per session under
//! `P session:<key>` (`P` the key prefix; the key is the session id's hash), with fields `customer`,
//! `idle` and `expires` (Unix µs). The key's TTL follows the idle expiry, so Redis drops dead sessions
//! by itself; whether a session is live is decided by the caller's clock against the stored times.

use std::sync::LazyLock;
use std::time::Duration;

use redis::Script;

use crate::error::SharedStateError;
use crate::redis_backend::RedisBackend;

static EXTEND: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("extend.lua")));

/// A session as Redis holds it: the customer, then the idle and absolute expiries in Unix µs.
pub type SessionFields = (String, i64, i64);

#[derive(Debug, Clone)]
pub struct RedisSessions {
    backend: RedisBackend,
}

fn millis(ttl: Duration) -> u64 {
    u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1)
}

impl RedisSessions {
    pub fn new(backend: RedisBackend) -> Self {
        Self { backend }
    }

    fn key(&self, key: &str) -> String {
        format!("{}session:{key}", self.backend.key_prefix())
    }

    /// Stores a session that Redis forgets after `ttl`.
    pub async fn insert(
        &self,
        key: &str,
        fields: &SessionFields,
        ttl: Duration,
    ) -> Result<(), SharedStateError> {
        let key = self.key(key);
        let (customer, idle, expires) = fields;
        self.backend
            .run(|mut conn| async move {
                redis::pipe()
                    .atomic()
                    .hset_multiple(
                        &key,
                        &[
                            ("customer", customer.clone()),
                            ("idle", idle.to_string()),
                            ("expires", expires.to_string()),
                        ],
                    )
                    .ignore()
                    .pexpire(&key, i64::try_from(millis(ttl)).unwrap_or(i64::MAX))
                    .ignore()
                    .query_async::<()>(&mut conn)
                    .await
            })
            .await
    }

    pub async fn get(&self, key: &str) -> Result<Option<SessionFields>, SharedStateError> {
        let key = self.key(key);
        let (customer, idle, expires) = self
            .backend
            .run(|mut conn| async move {
                redis::cmd("HMGET")
                    .arg(&key)
                    .arg(&["customer", "idle", "expires"])
                    .query_async::<(Option<String>, Option<i64>, Option<i64>)>(&mut conn)
                    .await
            })
            .await?;
        Ok(match (customer, idle, expires) {
            (Some(customer), Some(idle), Some(expires)) => Some((customer, idle, expires)),
            _ => None,
        })
    }

    /// Moves the idle expiry forward (never back) and the key's TTL with it, if the session exists.
    pub async fn extend(
        &self,
        key: &str,
        idle: i64,
        ttl: Duration,
    ) -> Result<(), SharedStateError> {
        let key = self.key(key);
        self.backend
            .run(|mut conn| async move {
                EXTEND
                    .key(&key)
                    .arg(idle)
                    .arg(millis(ttl))
                    .invoke_async::<i64>(&mut conn)
                    .await
            })
            .await
            .map(|_| ())
    }

    /// Deletes the session; `false` if there was none.
    pub async fn revoke(&self, key: &str) -> Result<bool, SharedStateError> {
        let key = self.key(key);
        let removed = self
            .backend
            .run(|mut conn| async move {
                redis::cmd("DEL")
                    .arg(&key)
                    .query_async::<i64>(&mut conn)
                    .await
            })
            .await?;
        Ok(removed > 0)
    }
}
