//! Where buyers' sessions live: always in the database (PostgreSQL or the embedded SQLite), which
//! decides; with `redis_url` set and `auth.sessions.redis_copies` on, also as copies on Redis, which
//! answer the normal lookup in one Redis read. A revocation deletes the row and leaves a revocation on
//! Redis, so every instance refuses the id on its next lookup. When Redis fails, lookups go to the
//! database, and the writes Redis missed are recorded there: Redis is trusted again only once those
//! copies are dropped, so an outage never brings a revoked session back; and an instance that reads
//! Redis drops the copies another instance, cut off from it, recorded as stale, once a second.

use super::settings::SessionSettings;
use async_trait::async_trait;
use flashgate_core::session::{
    SessionKey, SessionPolicy, SessionStore, Sessions, StaleSessionCopies, StoredSession,
};
use flashgate_core::{Clock, StoreError};
use flashgate_shared_state::{CachedSession, RedisBackend, RedisSessions, SharedStateError};
use flashgate_store::Store;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;
use time::OffsetDateTime;

fn seconds(value: u64) -> time::Duration {
    time::Duration::seconds(i64::try_from(value).unwrap_or(i64::MAX))
}

/// The sessions of this service: in `store`, with copies on Redis when there is one and the settings
/// want them.
pub fn build(
    settings: &SessionSettings,
    store: &Store,
    redis: Option<&RedisBackend>,
    clock: Arc<dyn Clock>,
) -> Sessions {
    let policy = SessionPolicy {
        idle_timeout: seconds(settings.idle_timeout_seconds),
        max_lifetime: seconds(settings.max_lifetime_seconds),
    };
    let store: Arc<dyn SessionStore> = match redis.filter(|_| settings.redis_copies) {
        Some(backend) => Arc::new(CopiedSessions::sweeping(Arc::new(Copies {
            database: store.sessions.clone(),
            stale: store.stale_sessions.clone(),
            redis: RedisSessions::new(backend.clone()),
            backend: backend.clone(),
            clock,
            revocation_ttl: std_duration(policy.max_lifetime),
            failures: AtomicU64::new(1),
            repaired: AtomicU64::new(0),
            repairing: AtomicBool::new(false),
            born: Instant::now(),
            next_repair_ms: AtomicU64::new(0),
        }))),
        None => store.sessions.clone(),
    };
    Sessions { store, policy }
}

fn std_duration(span: time::Duration) -> std::time::Duration {
    span.try_into()
        .unwrap_or(std::time::Duration::from_millis(1))
}

fn micros(at: OffsetDateTime) -> i64 {
    i64::try_from(at.unix_timestamp_nanos() / 1_000).unwrap_or(i64::MAX)
}

fn from_micros(value: i64) -> Result<OffsetDateTime, StoreError> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(value) * 1_000)
        .map_err(|e| StoreError::internal(format!("stored session time {value}: {e}")))
}

/// Redis forgets a copy once its idle expiry passes (at least a millisecond from now).
fn ttl(until: OffsetDateTime, now: OffsetDateTime) -> std::time::Duration {
    std_duration(until - now)
}

/// Stale copies dropped per round trip while Redis is repaired.
const REPAIR_BATCH: u32 = 500;
/// While Redis is not trusted, a repair is tried at most this often, so an outage costs the database
/// one small read per interval, not one per request.
const REPAIR_INTERVAL_MS: u64 = 250;

/// How often an instance that trusts Redis looks for copies another instance left stale.
const SWEEP_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);

struct Copies {
    database: Arc<dyn SessionStore>,
    stale: Arc<dyn StaleSessionCopies>,
    redis: RedisSessions,
    backend: RedisBackend,
    clock: Arc<dyn Clock>,
    /// How long a revocation stays on Redis: as long as a session can live.
    revocation_ttl: std::time::Duration,
    /// Redis failures seen by this instance (one at start: nothing is known of Redis then), and how
    /// many of them the last repair covered. Redis is read only while the two are equal: a failure
    /// during a repair leaves it untrusted.
    failures: AtomicU64,
    repaired: AtomicU64,
    /// A repair is under way (one at a time per instance).
    repairing: AtomicBool,
    born: Instant,
    /// When the next repair may start, in ms since `born`.
    next_repair_ms: AtomicU64,
}

/// The session port on the database with copies on Redis.
pub struct CopiedSessions(Arc<Copies>);

impl Copies {
    fn trusted(&self) -> bool {
        self.repaired.load(Ordering::Acquire) == self.failures.load(Ordering::Acquire)
    }

    fn distrust(&self, error: &SharedStateError) {
        if self.trusted() {
            tracing::warn!(error = %error, "redis failed; sessions are read from the database");
        }
        self.failures.fetch_add(1, Ordering::AcqRel);
    }

    /// A repair, when the database lists any stale copy: one small read otherwise.
    async fn sweep(&self) -> Result<(), String> {
        if self
            .stale
            .stale(1)
            .await
            .map_err(|e| e.to_string())?
            .is_empty()
        {
            return Ok(());
        }
        self.repair().await
    }

    /// Drops every copy the database says may be stale, then trusts Redis again unless it failed
    /// meanwhile.
    async fn repair(&self) -> Result<(), String> {
        let covers = self.failures.load(Ordering::Acquire);
        let distrusted = !self.trusted();
        self.backend.ping().await.map_err(|e| e.to_string())?;
        loop {
            let keys = self
                .stale
                .stale(REPAIR_BATCH)
                .await
                .map_err(|e| e.to_string())?;
            if keys.is_empty() {
                break;
            }
            let names: Vec<&str> = keys.iter().map(SessionKey::as_str).collect();
            self.redis.forget(&names).await.map_err(|e| e.to_string())?;
            self.stale
                .forget_stale(&keys)
                .await
                .map_err(|e| e.to_string())?;
        }
        self.repaired.fetch_max(covers, Ordering::AcqRel);
        if distrusted && self.trusted() {
            tracing::info!("redis answers; sessions are read from it again");
        }
        Ok(())
    }
}

impl CopiedSessions {
    /// The copies, with a task that drops the stale ones while this instance trusts Redis: an
    /// instance that cannot reach Redis while the others can (a partition, its own Redis URL gone
    /// bad) records what it revokes or slides as stale in the database, and the instances that read
    /// Redis drop those copies within [`SWEEP_INTERVAL`] instead of waiting for an outage of their
    /// own. The task ends with the copies.
    fn sweeping(copies: Arc<Copies>) -> Self {
        let weak = Arc::downgrade(&copies);
        tokio::spawn(async move {
            let mut every = tokio::time::interval(SWEEP_INTERVAL);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                every.tick().await;
                let Some(copies) = weak.upgrade() else {
                    return;
                };
                if copies.trusted() && !copies.repairing.swap(true, Ordering::AcqRel) {
                    if let Err(error) = copies.sweep().await {
                        tracing::debug!(error, "stale session copies not swept yet");
                    }
                    copies.repairing.store(false, Ordering::Release);
                }
            }
        });
        Self(copies)
    }

    /// Starts a repair in the background unless one runs: the lookup that notices goes on to the
    /// database rather than waiting on a Redis that may still be down.
    fn start_repair(&self) {
        let now_ms = u64::try_from(self.0.born.elapsed().as_millis()).unwrap_or(u64::MAX);
        if now_ms < self.0.next_repair_ms.load(Ordering::Relaxed)
            || self.0.repairing.swap(true, Ordering::AcqRel)
        {
            return;
        }
        self.0
            .next_repair_ms
            .store(now_ms + REPAIR_INTERVAL_MS, Ordering::Relaxed);
        let copies = self.0.clone();
        tokio::spawn(async move {
            if let Err(error) = copies.repair().await {
                tracing::debug!(error, "session copies not repaired yet");
            }
            copies.repairing.store(false, Ordering::Release);
        });
    }

    /// Copies a session read from the database to Redis (best effort: the database answered).
    async fn fill(&self, key: &SessionKey, session: &StoredSession) {
        let fields = (
            session.customer.as_str().to_owned(),
            micros(session.idle_expires_at),
            micros(session.expires_at),
        );
        let ttl = ttl(session.idle_expires_at, self.0.clock.now());
        if let Err(error) = self.0.redis.fill(key.as_str(), &fields, ttl).await {
            self.0.distrust(&error);
        }
    }
}

#[async_trait]
impl SessionStore for CopiedSessions {
    async fn insert(
        &self,
        key: &SessionKey,
        session: &StoredSession,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        self.0.database.insert(key, session, now).await?;
        // An instance that does not trust Redis leaves it alone: the first lookup on an instance
        // that does copies the session there.
        if self.0.trusted() {
            self.fill(key, session).await;
        }
        Ok(())
    }

    async fn get(&self, key: &SessionKey) -> Result<Option<StoredSession>, StoreError> {
        if !self.0.trusted() {
            self.start_repair();
            return self.0.database.get(key).await;
        }
        match self.0.redis.get(key.as_str()).await {
            Ok(Some(CachedSession::Live((customer, idle, expires)))) => {
                StoredSession::from_stored(&customer, from_micros(idle)?, from_micros(expires)?)
                    .map(Some)
            }
            Ok(Some(CachedSession::Revoked)) => Ok(None),
            Ok(None) => {
                let session = self.0.database.get(key).await?;
                if let Some(session) = &session {
                    self.fill(key, session).await;
                }
                Ok(session)
            }
            Err(error) => {
                self.0.distrust(&error);
                self.0.database.get(key).await
            }
        }
    }

    async fn extend(
        &self,
        key: &SessionKey,
        idle_expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        self.0.database.extend(key, idle_expires_at, now).await?;
        // Without trust in Redis (down, most likely) the copy is recorded as stale rather than
        // waited on; a revocation, below, is still sent, for the instances that read Redis.
        if !self.0.trusted() {
            return self.0.stale.record_stale(key).await;
        }
        let slid = self
            .0
            .redis
            .extend(
                key.as_str(),
                micros(idle_expires_at),
                ttl(idle_expires_at, now),
            )
            .await;
        if let Err(error) = slid {
            self.0.distrust(&error);
            // The copy keeps the old deadline; it must go before Redis is read again.
            self.0.stale.record_stale(key).await?;
        }
        Ok(())
    }

    async fn revoke(&self, key: &SessionKey) -> Result<bool, StoreError> {
        // Recorded before Redis is told, so that even a stop in between leaves the copy to drop.
        let revoked = self.0.stale.revoke_recorded(key).await?;
        match self
            .0
            .redis
            .revoke(key.as_str(), self.0.revocation_ttl)
            .await
        {
            Ok(()) => {
                // A record left behind costs only a dropped copy at the next repair.
                if let Err(error) = self.0.stale.forget_stale(std::slice::from_ref(key)).await {
                    tracing::warn!(error = %error, "a revoked session's record was kept");
                }
            }
            Err(error) => self.0.distrust(&error),
        }
        Ok(revoked)
    }
}
