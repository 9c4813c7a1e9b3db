//! Buyers' server-side sessions: an opaque random id handed to the buyer once, kept by the service only
//! as its SHA-256, with a sliding idle expiry under an absolute cap. Revoking deletes the record, so
//! every instance refuses the id on its next lookup.

use crate::error::StoreError;
use crate::ids::{CustomerId, ParseError};
use async_trait::async_trait;
use sha2::{Digest, Sha256};
use std::fmt;
use std::sync::Arc;
use time::{Duration, OffsetDateTime};

/// Random bytes in a session id: 256 bits, far past guessing.
pub const SESSION_ID_BYTES: usize = 32;

/// The id the buyer holds: 64 lowercase hex characters. Never stored, never logged.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionId(String);

impl SessionId {
    /// A new id from bytes the caller drew from a CSPRNG.
    pub fn from_random(bytes: [u8; SESSION_ID_BYTES]) -> Self {
        Self(hex::encode(bytes))
    }

    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        let well_formed = raw.len() == SESSION_ID_BYTES * 2
            && raw.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        if well_formed {
            Ok(Self(raw.to_owned()))
        } else {
            Err(ParseError::new(
                "session",
                "must be 64 lowercase hexadecimal characters",
            ))
        }
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// What storage knows the session by: a leaked table or Redis dump gives no usable id.
    pub fn key(&self) -> SessionKey {
        SessionKey(hex::encode(Sha256::digest(self.0.as_bytes())))
    }
}

impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionId([redacted])")
    }
}

/// The SHA-256 of a session id, hex: the storage key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SessionKey(String);

impl SessionKey {
    /// A key as storage recorded it.
    pub fn from_stored(key: String) -> Self {
        Self(key)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A session as storage holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSession {
    pub customer: CustomerId,
    /// Refused from this instant on unless used before; moves forward on use.
    pub idle_expires_at: OffsetDateTime,
    /// Refused from this instant on, however recently used.
    pub expires_at: OffsetDateTime,
}

impl StoredSession {
    /// A session read back from storage; a customer id that no longer parses is a storage fault.
    pub fn from_stored(
        customer: &str,
        idle_expires_at: OffsetDateTime,
        expires_at: OffsetDateTime,
    ) -> Result<Self, StoreError> {
        Ok(Self {
            customer: CustomerId::parse(customer)
                .map_err(|e| StoreError::internal(format!("stored customer id: {e}")))?,
            idle_expires_at,
            expires_at,
        })
    }
}

/// Where sessions live: the database, with a copy on Redis in front of it when configured.
#[async_trait]
pub trait SessionStore: Send + Sync {
    /// Stores a new session.
    async fn insert(
        &self,
        key: &SessionKey,
        session: &StoredSession,
        now: OffsetDateTime,
    ) -> Result<(), StoreError>;

    /// The session, if it exists (expired or not: expiry is the caller's decision). A read only.
    async fn get(&self, key: &SessionKey) -> Result<Option<StoredSession>, StoreError>;

    /// Moves the idle expiry forward; does nothing if the session was revoked meanwhile.
    async fn extend(
        &self,
        key: &SessionKey,
        idle_expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<(), StoreError>;

    /// Deletes the session; `false` if there was none.
    async fn revoke(&self, key: &SessionKey) -> Result<bool, StoreError>;
}

/// The database's record of cached session copies that may be stale: a revocation or a slide that
/// reached the database but perhaps not the cache in front of it (Redis unreachable, or the instance
/// stopped in between). Whoever finds the cache answering again drops those copies before trusting it,
/// so an outage never brings a revoked session back.
#[async_trait]
pub trait StaleSessionCopies: Send + Sync {
    /// Deletes the session and records its cached copy as stale, in one transaction; `false` if there
    /// was no session.
    async fn revoke_recorded(&self, key: &SessionKey) -> Result<bool, StoreError>;

    /// Records that the cached copy of `key` may be stale.
    async fn record_stale(&self, key: &SessionKey) -> Result<(), StoreError>;

    /// Up to `limit` keys whose cached copies may be stale.
    async fn stale(&self, limit: u32) -> Result<Vec<SessionKey>, StoreError>;

    /// Forgets those records, once the cache has dropped the copies.
    async fn forget_stale(&self, keys: &[SessionKey]) -> Result<(), StoreError>;
}

/// How long sessions live.
#[derive(Debug, Clone, Copy)]
pub struct SessionPolicy {
    pub idle_timeout: Duration,
    pub max_lifetime: Duration,
}

impl SessionPolicy {
    /// A use slides the idle expiry only once it has moved by this much, so a buyer clicking through
    /// a sale costs one write per step of the window rather than one per request; the session still
    /// lives at least 95% of the idle timeout after its last use.
    fn slide_step(&self) -> Duration {
        self.idle_timeout / 20
    }
}

/// Why a session id was refused.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// Never issued, or revoked.
    #[error("the session is not known; it may have been revoked")]
    Unknown,
    #[error("the session has expired; start a new one")]
    Expired,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Starting, checking and ending sessions under one policy, over one store.
#[derive(Clone)]
pub struct Sessions {
    pub store: Arc<dyn SessionStore>,
    pub policy: SessionPolicy,
}

impl Sessions {
    /// Stores a session for `customer` under `id` (drawn by the caller from a CSPRNG), ending at the
    /// policy's lifetime or at `not_after` (the credential it was started with), whichever is sooner.
    pub async fn start(
        &self,
        id: &SessionId,
        customer: CustomerId,
        now: OffsetDateTime,
        not_after: Option<OffsetDateTime>,
    ) -> Result<StoredSession, StoreError> {
        let lifetime = now.saturating_add(self.policy.max_lifetime);
        let expires_at = not_after.map_or(lifetime, |cap| lifetime.min(cap));
        let session = StoredSession {
            customer,
            idle_expires_at: now.saturating_add(self.policy.idle_timeout).min(expires_at),
            expires_at,
        };
        self.store.insert(&id.key(), &session, now).await?;
        Ok(session)
    }

    /// The customer behind a live session, sliding its idle expiry. An unknown id costs one read and
    /// no write.
    pub async fn authenticate(
        &self,
        id: &SessionId,
        now: OffsetDateTime,
    ) -> Result<CustomerId, SessionError> {
        let key = id.key();
        let session = self.store.get(&key).await?.ok_or(SessionError::Unknown)?;
        if now >= session.idle_expires_at || now >= session.expires_at {
            return Err(SessionError::Expired);
        }
        let slid = now
            .saturating_add(self.policy.idle_timeout)
            .min(session.expires_at);
        if slid - session.idle_expires_at >= self.policy.slide_step() {
            self.store.extend(&key, slid, now).await?;
        }
        Ok(session.customer)
    }

    /// Ends a session at once, on every instance.
    pub async fn end(&self, id: &SessionId) -> Result<bool, StoreError> {
        self.store.revoke(&id.key()).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_id_round_trips_through_parse() {
        let id = SessionId::from_random([7; SESSION_ID_BYTES]);
        assert_eq!(SessionId::parse(id.expose()).unwrap(), id);
    }

    #[test]
    fn a_malformed_session_id_is_refused() {
        for raw in ["", "abc", &"A".repeat(64), &"0".repeat(63), &"g".repeat(64)] {
            assert!(SessionId::parse(raw).is_err(), "{raw}");
        }
    }

    #[test]
    fn the_storage_key_is_a_hash_not_the_id() {
        let id = SessionId::from_random([1; SESSION_ID_BYTES]);
        assert_ne!(id.key().as_str(), id.expose());
        assert_eq!(id.key(), id.key());
        assert_ne!(
            id.key(),
            SessionId::from_random([2; SESSION_ID_BYTES]).key()
        );
    }

    #[test]
    fn a_session_id_never_prints() {
        let id = SessionId::from_random([9; SESSION_ID_BYTES]);
        assert!(!format!("{id:?}").contains(id.expose()));
    }
}
