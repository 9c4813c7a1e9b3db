//! Sessions with copies on Redis through a Redis outage: two instances on one database and a Redis of
//! the test's own, killed while session holders buy. Their purchases go on through the database; a
//! session revoked before the outage stays revoked, one revoked during it is refused by both
//! instances, and when Redis comes back holding its old copy of that session, the copy is dropped
//! before either instance reads Redis again. An instance cut off from Redis alone (the others read
//! it) revokes too: the others drop their copy within a second.

use super::support::{end_session, orders, session_for};
use flashgate_core::session::SessionId;
use flashgate_testkit::{Answer, Backend, Instance, RedisProcess, Spawn, eventually, key};
use reqwest::Method;
use serde_json::json;
use std::time::Duration;

on_each_backend!(session_holders_buy_through_a_redis_outage_and_revocations_hold);
on_each_backend!(a_revocation_by_an_instance_cut_off_from_redis_reaches_those_that_read_it);

/// `POST /orders` for one unit with a session header.
async fn buy(instance: &Instance, session: &str, product: i64) -> Answer {
    let api = &instance.api;
    api.send(
        api.request(Method::POST, "/orders")
            .header("authorization", session)
            .header("Idempotency-Key", key())
            .json(&json!({"product_id": product, "quantity": 1})),
    )
    .await
}

/// The Redis key of the session behind an `Authorization: Session …` header.
fn redis_key(session: &str) -> String {
    let id = SessionId::parse(session.strip_prefix("Session ").unwrap()).unwrap();
    format!("{}session:{}", RedisProcess::PREFIX, id.key().as_str())
}

fn redis(redis: &RedisProcess) -> redis::Connection {
    redis::Client::open(redis.url())
        .unwrap()
        .get_connection()
        .unwrap()
}

/// Whether `instance` reads Redis: a lookup that misses there copies the session back from the
/// database only on an instance that trusts Redis.
async fn reads_redis(instance: &Instance, server: &RedisProcess, session: &str) -> bool {
    let key = redis_key(session);
    let mut conn = redis(server);
    redis::cmd("DEL").arg(&key).query::<i64>(&mut conn).unwrap();
    orders(instance, session).await.assert_status(200);
    redis::cmd("EXISTS")
        .arg(&key)
        .query::<i64>(&mut conn)
        .unwrap()
        == 1
}

async fn session_holders_buy_through_a_redis_outage_and_revocations_hold(backend: Backend) {
    let mut server = RedisProcess::start().await;
    let app = Spawn::new(backend)
        .instances(2)
        .private_redis(&server)
        .set("limits.enabled", false)
        .start()
        .await;
    let (a, b) = (app.instance(0), app.instance(1));
    let both = [a, b];
    let product = a.api.product(100, None).await;
    let early = session_for(a, "early-leaver").await;
    let late = session_for(a, "late-leaver").await;
    let stayer = session_for(b, "stayer").await;
    for instance in both {
        buy(instance, &stayer, product).await.assert_status(201);
        buy(instance, &late, product).await.assert_status(201);
    }
    end_session(a, &early).await.assert_status(204);
    for instance in both {
        orders(instance, &early)
            .await
            .assert_problem(401, "invalid_session");
    }
    // What Redis holds of the late leaver's session, to bring back after the outage.
    let copy: Vec<(String, String)> = redis::cmd("HGETALL")
        .arg(redis_key(&late))
        .query(&mut redis(&server))
        .unwrap();
    assert!(!copy.is_empty(), "a session in use has a copy on Redis");

    server.kill();
    for instance in both {
        buy(instance, &stayer, product).await.assert_status(201);
        buy(instance, &late, product).await.assert_status(201);
        orders(instance, &early)
            .await
            .assert_problem(401, "invalid_session");
    }
    end_session(b, &late).await.assert_status(204);
    for instance in both {
        orders(instance, &late)
            .await
            .assert_problem(401, "invalid_session");
        buy(instance, &stayer, product).await.assert_status(201);
    }

    // Redis comes back holding the copy it had before the revocation (a snapshot, say).
    server.restart().await;
    redis::cmd("HSET")
        .arg(redis_key(&late))
        .arg(&copy)
        .query::<i64>(&mut redis(&server))
        .unwrap();
    for instance in both {
        let back = eventually(Duration::from_secs(10), || async {
            reads_redis(instance, &server, &stayer).await
        })
        .await;
        assert!(back, "the instance reads Redis again");
    }
    for instance in both {
        orders(instance, &late)
            .await
            .assert_problem(401, "invalid_session");
        orders(instance, &early)
            .await
            .assert_problem(401, "invalid_session");
        buy(instance, &stayer, product).await.assert_status(201);
    }
    assert!(
        a.store.stale_sessions.stale(10).await.unwrap().is_empty(),
        "every stale copy was dropped"
    );
    let sold = 2 * 2 + 2 * 2 + 2 + 2;
    assert_eq!(app.stock(product).await.available, 100 - sold);
    app.assert_audit_clean().await;
}

async fn a_revocation_by_an_instance_cut_off_from_redis_reaches_those_that_read_it(
    backend: Backend,
) {
    let server = RedisProcess::start().await;
    let db = backend.database().await;
    let reading = Spawn::new(backend)
        .private_redis(&server)
        .set("limits.enabled", false)
        .instance(&db)
        .await;
    // Nothing listens there: this instance alone cannot reach Redis.
    let cut_off = Spawn::new(backend)
        .set("redis_url", "redis://127.0.0.1:1")
        .set("limits.enabled", false)
        .instance(&db)
        .await;
    let session = session_for(&reading, "partitioned").await;
    let copied = eventually(Duration::from_secs(10), || async {
        reads_redis(&reading, &server, &session).await
    })
    .await;
    assert!(copied, "the reading instance answers from a copy on Redis");

    end_session(&cut_off, &session).await.assert_status(204);
    orders(&cut_off, &session)
        .await
        .assert_problem(401, "invalid_session");
    let refused = eventually(Duration::from_secs(10), || async {
        orders(&reading, &session).await.status == 401
    })
    .await;
    assert!(
        refused,
        "the copy the cut-off instance could not revoke is dropped"
    );
    orders(&reading, &session)
        .await
        .assert_problem(401, "invalid_session");
    assert!(
        reading
            .store
            .stale_sessions
            .stale(10)
            .await
            .unwrap()
            .is_empty(),
        "the stale copy's record is gone with it"
    );
}
