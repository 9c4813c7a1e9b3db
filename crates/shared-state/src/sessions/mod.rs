//! Copies of buyers' sessions on Redis, shared by every instance, in front of the database that holds
//! them all: one hash per session under `P session:<key>` (`P` the key prefix; the key is the session
//! id's hash), with fields `customer`, `idle` and `expires` (Unix µs), or, once revoked, the single
//! field `revoked` until the session would have ended, so that no instance copies it back from a
//! database read that raced the revocation. A copy's TTL follows its idle expiry, so Redis drops dead
//! sessions by itself; whether a session is live is decided by the caller's clock against the stored
//! times. Every command names one session's key, but for `forget`'s DEL of many, which a cluster
//! connection splits by slot.

use std::sync::LazyLock;
use std::time::Duration;

use redis::Script;

use crate::error::SharedStateError;
use crate::redis_backend::RedisBackend;

static FILL: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("fill.lua")));
static EXTEND: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("extend.lua")));

/// A session as Redis holds it: the customer, then the idle and absolute expiries in Unix µs.
pub type SessionFields = (String, i64, i64);

/// What Redis knows of a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CachedSession {
    Live(SessionFields),
    Revoked,
}

fn millis(ttl: Duration) -> u64 {
    u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1)
}

#[derive(Debug, Clone)]
pub struct RedisSessions {
    backend: RedisBackend,
}

impl RedisSessions {
    pub fn new(backend: RedisBackend) -> Self {
        Self { backend }
    }

    fn key(&self, key: &str) -> String {
        format!("{}session:{key}", self.backend.key_prefix())
    }

    /// Stores a session's copy that Redis forgets after `ttl`, unless a copy or a revocation is
    /// there already.
    pub async fn fill(
        &self,
        key: &str,
        fields: &SessionFields,
        ttl: Duration,
    ) -> Result<(), SharedStateError> {
        let key = self.key(key);
        let (customer, idle, expires) = fields;
        self.backend
            .run(|mut conn| async move {
                FILL.key(&key)
                    .arg(customer)
                    .arg(idle)
                    .arg(expires)
                    .arg(millis(ttl))
                    .invoke_async::<i64>(&mut conn)
                    .await
            })
            .await
            .map(|_| ())
    }

    /// The copy or the revocation Redis holds, if any.
    pub async fn get(&self, key: &str) -> Result<Option<CachedSession>, SharedStateError> {
        let key = self.key(key);
        let (customer, idle, expires, revoked) = self
            .backend
            .run(|mut conn| async move {
                redis::cmd("HMGET")
                    .arg(&key)
                    .arg(&["customer", "idle", "expires", "revoked"])
                    .query_async::<(Option<String>, Option<i64>, Option<i64>, Option<i64>)>(
                        &mut conn,
                    )
                    .await
            })
            .await?;
        Ok(match (customer, idle, expires, revoked) {
            (_, _, _, Some(_)) => Some(CachedSession::Revoked),
            (Some(customer), Some(idle), Some(expires), None) => {
                Some(CachedSession::Live((customer, idle, expires)))
            }
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

    /// Replaces the copy with a revocation that Redis keeps for `ttl` (the longest a session lives).
    pub async fn revoke(&self, key: &str, ttl: Duration) -> Result<(), SharedStateError> {
        let key = self.key(key);
        self.backend
            .run(|mut conn| async move {
                redis::pipe()
                    .atomic()
                    .del(&key)
                    .ignore()
                    .hset(&key, "revoked", 1)
                    .ignore()
                    .pexpire(&key, i64::try_from(millis(ttl)).unwrap_or(i64::MAX))
                    .ignore()
                    .query_async::<()>(&mut conn)
                    .await
            })
            .await
    }

    /// Drops the copies of these sessions (the next lookup reads the database).
    pub async fn forget(&self, keys: &[&str]) -> Result<(), SharedStateError> {
        if keys.is_empty() {
            return Ok(());
        }
        let keys: Vec<String> = keys.iter().map(|k| self.key(k)).collect();
        self.backend
            .run(|mut conn| async move {
                redis::cmd("DEL")
                    .arg(&keys)
                    .query_async::<i64>(&mut conn)
                    .await
            })
            .await
            .map(|_| ())
    }
}
