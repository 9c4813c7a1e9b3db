//! Server-side sessions on each keeper (SQLite, PostgreSQL, Redis, Redis Cluster): they work, slide on use, expire
//! after idle time and at their absolute cap (on a driven clock), a revocation on one instance is
//! refused by another at once, `auth.buyers` refuses the kind it does not allow, and a forged id is
//! refused without a write.

use super::support::{Ground, Keeper, end_session, orders, session_for, start_session};
use async_trait::async_trait;
use flashgate_core::StoreError;
use flashgate_core::session::{SessionKey, SessionStore, StoredSession};
use flashgate_testkit::manual_clock;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use time::{Duration, OffsetDateTime};

/// Instantiates `async fn scenario(Keeper)` once per keeper: `scenario::sqlite`, `::postgres`, `::redis`,
/// `::redis_cluster`.
macro_rules! on_each_keeper {
    ($($scenario:ident),+ $(,)?) => {$(
        mod $scenario {
            use crate::sessions::support::Keeper;

            #[tokio::test]
            async fn sqlite() {
                super::$scenario(Keeper::Sqlite).await;
            }

            #[tokio::test]
            async fn postgres() {
                super::$scenario(Keeper::Postgres).await;
            }

            #[tokio::test]
            async fn redis() {
                super::$scenario(Keeper::Redis).await;
            }

            #[tokio::test]
            async fn redis_cluster() {
                super::$scenario(Keeper::RedisCluster).await;
            }
        }
    )+};
}

on_each_keeper!(
    a_session_slides_on_use_and_expires_after_idle_time,
    a_busy_session_still_ends_at_its_absolute_cap,
    a_session_revoked_on_one_instance_is_refused_by_another_at_once,
    a_slide_never_moves_an_expiry_back_nor_brings_a_revoked_session_back,
);

fn timeouts(idle_minutes: i64, max_minutes: i64) -> Vec<(&'static str, Value)> {
    vec![
        (
            "auth.sessions.idle_timeout_seconds",
            json!(idle_minutes * 60),
        ),
        (
            "auth.sessions.max_lifetime_seconds",
            json!(max_minutes * 60),
        ),
    ]
}

async fn a_session_slides_on_use_and_expires_after_idle_time(keeper: Keeper) {
    let ground = Ground::new(keeper).await;
    let clock = manual_clock();
    let instance = ground.start(&clock, &timeouts(30, 24 * 60)).await;
    let session = session_for(&instance, "sliding-buyer").await;
    orders(&instance, &session).await.assert_status(200);
    // Used every 20 minutes, it outlives its first 30-minute deadline.
    for _ in 0..3 {
        clock.advance(Duration::minutes(20));
        orders(&instance, &session).await.assert_status(200);
    }
    clock.advance(Duration::minutes(29));
    orders(&instance, &session).await.assert_status(200);
    // Left alone for the whole idle timeout, it is refused.
    clock.advance(Duration::minutes(30));
    orders(&instance, &session)
        .await
        .assert_problem(401, "session_expired");
}

async fn a_busy_session_still_ends_at_its_absolute_cap(keeper: Keeper) {
    let ground = Ground::new(keeper).await;
    let clock = manual_clock();
    let instance = ground.start(&clock, &timeouts(30, 60)).await;
    let session = session_for(&instance, "busy-buyer").await;
    for _ in 0..5 {
        clock.advance(Duration::minutes(11));
        orders(&instance, &session).await.assert_status(200);
    }
    clock.advance(Duration::minutes(5));
    orders(&instance, &session)
        .await
        .assert_problem(401, "session_expired");
}

async fn a_session_revoked_on_one_instance_is_refused_by_another_at_once(keeper: Keeper) {
    let ground = Ground::new(keeper).await;
    let clock = manual_clock();
    // On Redis both instances also share the database, which holds every session; Redis holds
    // copies and the revocation.
    let a = ground.start(&clock, &[]).await;
    let b = ground.start(&clock, &[]).await;
    let session = session_for(&a, "revoked-buyer").await;
    orders(&b, &session).await.assert_status(200);
    end_session(&a, &session).await.assert_status(204);
    orders(&b, &session)
        .await
        .assert_problem(401, "invalid_session");
    orders(&a, &session)
        .await
        .assert_problem(401, "invalid_session");
    end_session(&b, &session)
        .await
        .assert_problem(401, "invalid_session");
}

#[tokio::test]
async fn the_buyers_setting_refuses_the_kind_it_does_not_allow() {
    let ground = Ground::new(Keeper::Sqlite).await;
    let clock = manual_clock();
    let both = ground.start(&clock, &[]).await;
    let session = session_for(&both, "picky-buyer").await;
    let bearer = format!("Bearer {}", both.api.token("picky-buyer"));
    drop(both);

    let tokens_only = ground
        .start(&clock, &[("auth.buyers", json!("tokens"))])
        .await;
    orders(&tokens_only, &bearer).await.assert_status(200);
    orders(&tokens_only, &session)
        .await
        .assert_problem(401, "credential_not_accepted");
    start_session(&tokens_only, Some(&bearer), None)
        .await
        .assert_problem(403, "sessions_disabled");
    // A foreign scheme is told what this instance takes, and only that.
    let foreign = orders(&tokens_only, "Basic YWxpY2U6c2VjcmV0").await;
    foreign.assert_problem(401, "unauthorized");
    assert_eq!(
        foreign.json()["detail"],
        "The Authorization header must be Bearer <token>."
    );
    drop(tokens_only);

    let sessions_only = ground
        .start(&clock, &[("auth.buyers", json!("sessions"))])
        .await;
    orders(&sessions_only, &session).await.assert_status(200);
    orders(&sessions_only, &bearer)
        .await
        .assert_problem(401, "credential_not_accepted");
    // The token is still what a session is started with.
    let fresh = session_for(&sessions_only, "picky-buyer").await;
    orders(&sessions_only, &fresh).await.assert_status(200);
}

#[tokio::test]
async fn a_scheme_is_named_in_any_case_and_another_scheme_is_told_both() {
    let ground = Ground::new(Keeper::Sqlite).await;
    let clock = manual_clock();
    let instance = ground.start(&clock, &[]).await;
    let token = instance.api.token("casual-buyer");
    let session = session_for(&instance, "casual-buyer").await;
    let id = session.strip_prefix("Session ").unwrap();
    // RFC 9110, 11.1: the scheme's name is case-insensitive.
    for authorization in [
        format!("bearer {token}"),
        format!("BEARER  {token}"),
        format!("session {id}"),
    ] {
        orders(&instance, &authorization).await.assert_status(200);
    }
    for foreign in ["Basic YWxpY2U6c2VjcmV0", "Bearer", "Bearertoken"] {
        let refused = orders(&instance, foreign).await;
        refused.assert_problem(401, "unauthorized");
        let challenges: Vec<&str> = refused
            .headers
            .get_all("www-authenticate")
            .iter()
            .map(|v| v.to_str().unwrap())
            .collect();
        assert_eq!(challenges, ["Bearer", "Session"], "{foreign}");
    }
}

#[tokio::test]
async fn a_bare_customer_id_starts_a_session_only_when_the_demo_setting_allows_it() {
    let ground = Ground::new(Keeper::Sqlite).await;
    let clock = manual_clock();
    let body = json!({"customer_id": "demo-buyer"});
    let strict = ground.start(&clock, &[]).await;
    start_session(&strict, None, Some(body.clone()))
        .await
        .assert_problem(401, "unauthorized");
    drop(strict);
    let demo = ground
        .start(
            &clock,
            &[("auth.sessions.allow_bare_customer", json!(true))],
        )
        .await;
    let started = start_session(&demo, None, Some(body)).await;
    let body = started.assert_status(201);
    let id = body["session_id"].as_str().unwrap();
    assert_eq!(id.len(), 64, "256 random bits, hex");
    orders(&demo, &format!("Session {id}"))
        .await
        .assert_status(200);
}

/// Counts the writes that reach the session store.
struct CountingSessions {
    inner: Arc<dyn SessionStore>,
    writes: Arc<AtomicUsize>,
}

#[async_trait]
impl SessionStore for CountingSessions {
    async fn insert(
        &self,
        key: &SessionKey,
        session: &StoredSession,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        self.writes.fetch_add(1, Ordering::SeqCst);
        self.inner.insert(key, session, now).await
    }

    async fn get(&self, key: &SessionKey) -> Result<Option<StoredSession>, StoreError> {
        self.inner.get(key).await
    }

    async fn extend(
        &self,
        key: &SessionKey,
        idle_expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        self.writes.fetch_add(1, Ordering::SeqCst);
        self.inner.extend(key, idle_expires_at, now).await
    }

    async fn revoke(&self, key: &SessionKey) -> Result<bool, StoreError> {
        self.writes.fetch_add(1, Ordering::SeqCst);
        self.inner.revoke(key).await
    }
}

#[tokio::test]
async fn a_forged_session_id_is_refused_and_costs_no_write() {
    for keeper in [Keeper::Sqlite, Keeper::Postgres] {
        let ground = Ground::new(keeper).await;
        let clock = manual_clock();
        let writes = Arc::new(AtomicUsize::new(0));
        let counter = writes.clone();
        let instance = ground
            .spawn(&clock, &[])
            .adapt(move |mut store| {
                store.sessions = Arc::new(CountingSessions {
                    inner: store.sessions.clone(),
                    writes: counter.clone(),
                });
                store
            })
            .instance(&ground.db)
            .await;
        let real = session_for(&instance, "honest-buyer").await;
        assert_eq!(
            writes.load(Ordering::SeqCst),
            1,
            "starting a session writes it"
        );
        let forged = format!("Session {}", "ab".repeat(32));
        orders(&instance, &forged)
            .await
            .assert_problem(401, "invalid_session");
        for malformed in ["Session not-a-session", "Session AB"] {
            orders(&instance, malformed)
                .await
                .assert_problem(401, "invalid_session");
        }
        assert_eq!(
            writes.load(Ordering::SeqCst),
            1,
            "{keeper:?}: a refusal wrote"
        );
        orders(&instance, &real).await.assert_status(200);
        assert_eq!(
            writes.load(Ordering::SeqCst),
            1,
            "{keeper:?}: a use within a slide step wrote"
        );
    }
}

#[tokio::test]
async fn the_database_keeps_only_the_hash_of_a_session_id() {
    use sha2::{Digest, Sha256};
    use sqlx::Connection;
    for keeper in [Keeper::Sqlite, Keeper::Postgres] {
        let ground = Ground::new(keeper).await;
        let instance = ground.start(&manual_clock(), &[]).await;
        let session = session_for(&instance, "hashed-buyer").await;
        let id = session.strip_prefix("Session ").unwrap();
        let sql = "SELECT key FROM sessions";
        let keys: Vec<String> = if keeper == Keeper::Postgres {
            let mut conn = sqlx::PgConnection::connect(&ground.db.url).await.unwrap();
            sqlx::query_scalar(sql).fetch_all(&mut conn).await.unwrap()
        } else {
            let mut conn = sqlx::SqliteConnection::connect(&ground.db.url)
                .await
                .unwrap();
            sqlx::query_scalar(sql).fetch_all(&mut conn).await.unwrap()
        };
        assert_eq!(
            keys,
            vec![hex::encode(Sha256::digest(id.as_bytes()))],
            "{keeper:?}"
        );
    }
}

async fn a_slide_never_moves_an_expiry_back_nor_brings_a_revoked_session_back(keeper: Keeper) {
    use flashgate_core::CustomerId;
    use flashgate_core::session::SessionId;
    let ground = Ground::new(keeper).await;
    let clock = manual_clock();
    let instance = ground.start(&clock, &[]).await;
    let sessions = &instance.state.sessions;
    let now = flashgate_core::Clock::now(clock.as_ref());
    let id = SessionId::from_random([42; 32]);
    let customer = CustomerId::parse("racing-buyer").unwrap();
    sessions.start(&id, customer, now, None).await.unwrap();
    let store = &sessions.store;
    // As stored, in the store's precision (microseconds).
    let started = store.get(&id.key()).await.unwrap().unwrap();
    // Two requests slid at once and the later deadline was written first.
    store
        .extend(
            &id.key(),
            started.idle_expires_at - Duration::minutes(5),
            now,
        )
        .await
        .unwrap();
    assert_eq!(store.get(&id.key()).await.unwrap(), Some(started.clone()));
    // A request that read the session just before it was revoked slides it just after.
    assert!(sessions.end(&id).await.unwrap());
    store
        .extend(
            &id.key(),
            started.idle_expires_at + Duration::minutes(5),
            now,
        )
        .await
        .unwrap();
    assert_eq!(store.get(&id.key()).await.unwrap(), None);
}
