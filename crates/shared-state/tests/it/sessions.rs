//! Session copies on Redis: filled once, slid forward only, revoked for good, forgotten in bulk (keys
//! of many slots on a cluster, one DEL each slot).

use std::time::Duration;

use flashgate_shared_state::{CachedSession, RedisSessions};

use crate::common::TestRedis;

const TTL: Duration = Duration::from_secs(60);

async fn copies_are_filled_slid_revoked_and_forgotten(redis: TestRedis) {
    let sessions = RedisSessions::new(redis.backend().await);
    let live = |idle| Some(CachedSession::Live(("c1".to_owned(), idle, 500)));
    sessions
        .fill("s1", &("c1".to_owned(), 100, 500), TTL)
        .await
        .unwrap();
    // A second fill (a database read racing the first) changes nothing.
    sessions
        .fill("s1", &("c1".to_owned(), 50, 500), TTL)
        .await
        .unwrap();
    assert_eq!(sessions.get("s1").await.unwrap(), live(100));
    sessions.extend("s1", 200, TTL).await.unwrap();
    sessions.extend("s1", 150, TTL).await.unwrap();
    assert_eq!(sessions.get("s1").await.unwrap(), live(200));

    sessions.revoke("s1", TTL).await.unwrap();
    sessions
        .fill("s1", &("c1".to_owned(), 300, 500), TTL)
        .await
        .unwrap();
    assert_eq!(
        sessions.get("s1").await.unwrap(),
        Some(CachedSession::Revoked)
    );

    let keys: Vec<String> = (0..20).map(|i| format!("bulk-{i}")).collect();
    for key in &keys {
        sessions
            .fill(key, &("c2".to_owned(), 100, 500), TTL)
            .await
            .unwrap();
    }
    let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
    sessions.forget(&keys).await.unwrap();
    for key in keys {
        assert_eq!(sessions.get(key).await.unwrap(), None);
    }
}

on_each_redis!(copies_are_filled_slid_revoked_and_forgotten);
