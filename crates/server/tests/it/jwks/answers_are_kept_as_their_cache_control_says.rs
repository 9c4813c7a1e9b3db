//! The JWKS answer is kept as its `Cache-Control: max-age` says: not fetched again while fresh,
//! however many tokens arrive; fetched again in the background once stale (so a change at the shop is
//! seen without any token asking); and kept `auth.jwks_max_age_seconds` when it says nothing.

use super::support::{JwksServer, Signer, instance, orders};
use flashgate_testkit::{Backend, eventually};
use serde_json::json;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fresh_answer_is_not_fetched_again() {
    let key = Signer::rsa("fresh");
    let shop = JwksServer::start(&[&key], Some("public, max-age=3600")).await;
    let db = Backend::Sqlite.database().await;
    let instance = instance(
        &db,
        &shop.url(),
        &[("auth.jwks_min_refresh_seconds", json!(1))],
    )
    .await;
    let token = key.bearer("cus_cache", json!({}));
    for _ in 0..20 {
        orders(&instance, &token).await.assert_status(200);
    }
    assert_eq!(shop.requests(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_answer_is_fetched_again_in_the_background() {
    let (first, second) = (Signer::ec("first"), Signer::ec("second"));
    let shop = JwksServer::start(&[&first], Some("max-age=1")).await;
    let db = Backend::Sqlite.database().await;
    let instance = instance(
        &db,
        &shop.url(),
        &[("auth.jwks_min_refresh_seconds", json!(1))],
    )
    .await;
    shop.publish(&[&second]);
    let jwks = instance.state.tokens.jwks().unwrap().clone();
    let seen = eventually(Duration::from_secs(30), || {
        let jwks = jwks.clone();
        async move { jwks.kids() == ["second"] }
    })
    .await;
    assert!(seen, "the change is fetched without any token asking");
    assert!(shop.requests() >= 2);
    orders(&instance, &second.bearer("cus_cache", json!({})))
        .await
        .assert_status(200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_that_says_nothing_is_kept_the_configured_time() {
    let key = Signer::ed("quiet");
    let shop = JwksServer::start(&[&key], None).await;
    let db = Backend::Sqlite.database().await;
    let instance = instance(
        &db,
        &shop.url(),
        &[
            ("auth.jwks_min_refresh_seconds", json!(1)),
            ("auth.jwks_max_age_seconds", json!(1)),
        ],
    )
    .await;
    let fetched_again =
        eventually(Duration::from_secs(30), || async { shop.requests() >= 2 }).await;
    assert!(fetched_again);
    orders(&instance, &key.bearer("cus_cache", json!({})))
        .await
        .assert_status(200);
}
