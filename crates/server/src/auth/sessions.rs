//! Where buyers' sessions live: on Redis when `redis_url` is set, so every instance sees a revocation
//! at once, else in the database (PostgreSQL or the embedded SQLite), and with which timeouts.

use super::settings::SessionSettings;
use async_trait::async_trait;
use flashgate_core::StoreError;
use flashgate_core::session::{SessionKey, SessionPolicy, SessionStore, Sessions, StoredSession};
use flashgate_shared_state::{RedisBackend, RedisSessions, SharedStateError};
use flashgate_store::Store;
use std::sync::Arc;
use time::OffsetDateTime;

fn seconds(value: u64) -> time::Duration {
    time::Duration::seconds(i64::try_from(value).unwrap_or(i64::MAX))
}

/// The sessions of this service, on Redis when there is one and in `store` otherwise.
pub fn build(settings: &SessionSettings, store: &Store, redis: Option<&RedisBackend>) -> Sessions {
    let store: Arc<dyn SessionStore> = match redis {
        Some(backend) => Arc::new(RedisSessionStore(RedisSessions::new(backend.clone()))),
        None => store.sessions.clone(),
    };
    Sessions {
        store,
        policy: SessionPolicy {
            idle_timeout: seconds(settings.idle_timeout_seconds),
            max_lifetime: seconds(settings.max_lifetime_seconds),
        },
    }
}

/// The session port on Redis. A session is not also kept in the database: with Redis down, buyers
/// holding sessions get 503 until it is back (tokens keep working).
pub struct RedisSessionStore(pub RedisSessions);

fn micros(at: OffsetDateTime) -> i64 {
    i64::try_from(at.unix_timestamp_nanos() / 1_000).unwrap_or(i64::MAX)
}

fn from_micros(value: i64) -> Result<OffsetDateTime, StoreError> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(value) * 1_000)
        .map_err(|e| StoreError::internal(format!("stored session time {value}: {e}")))
}

/// Redis forgets the session once its idle expiry passes (at least a millisecond from now).
fn ttl(until: OffsetDateTime, now: OffsetDateTime) -> std::time::Duration {
    (until - now)
        .try_into()
        .unwrap_or(std::time::Duration::from_millis(1))
}

fn store_error(error: SharedStateError) -> StoreError {
    let unavailable = error.is_unavailable();
    let cause = flashgate_core::error::Cause::new(error);
    if unavailable {
        StoreError::Unavailable(cause)
    } else {
        StoreError::Internal(cause)
    }
}

#[async_trait]
impl SessionStore for RedisSessionStore {
    async fn insert(
        &self,
        key: &SessionKey,
        session: &StoredSession,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let fields = (
            session.customer.as_str().to_owned(),
            micros(session.idle_expires_at),
            micros(session.expires_at),
        );
        self.0
            .insert(key.as_str(), &fields, ttl(session.idle_expires_at, now))
            .await
            .map_err(store_error)
    }

    async fn get(&self, key: &SessionKey) -> Result<Option<StoredSession>, StoreError> {
        let Some((customer, idle, expires)) =
            self.0.get(key.as_str()).await.map_err(store_error)?
        else {
            return Ok(None);
        };
        StoredSession::from_stored(&customer, from_micros(idle)?, from_micros(expires)?).map(Some)
    }

    async fn extend(
        &self,
        key: &SessionKey,
        idle_expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        self.0
            .extend(
                key.as_str(),
                micros(idle_expires_at),
                ttl(idle_expires_at, now),
            )
            .await
            .map_err(store_error)
    }

    async fn revoke(&self, key: &SessionKey) -> Result<bool, StoreError> {
        self.0.revoke(key.as_str()).await.map_err(store_error)
    }
}
