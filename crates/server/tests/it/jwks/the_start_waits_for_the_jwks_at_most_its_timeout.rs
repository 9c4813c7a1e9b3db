//! A JWKS server that hangs when flashgate starts holds the start back no longer than
//! `auth.jwks_timeout_ms`: the instance starts without its keys (tokens naming them are refused 401,
//! HS256 ones still work) and fetches again in the background until an answer brings them.

use super::support::{JwksServer, Signer, fetches, instance, orders};
use flashgate_testkit::{Backend, eventually};
use serde_json::json;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_starts_without_a_hanging_jwks_and_takes_its_keys_once_it_answers() {
    let key = Signer::rsa("late");
    let shop = JwksServer::start(&[&key], Some("max-age=3600")).await;
    shop.answer_after(Duration::from_secs(120));
    let db = Backend::Sqlite.database().await;
    let instance = instance(
        &db,
        &shop.url(),
        &[
            ("auth.jwks_timeout_ms", json!(300)),
            ("auth.jwks_min_refresh_seconds", json!(1)),
        ],
    )
    .await;
    assert_eq!(fetches(&instance).failed, 1, "the first fetch timed out");
    assert!(instance.state.tokens.jwks().unwrap().kids().is_empty());
    let token = key.bearer("cus_late", json!({}));
    orders(&instance, &token)
        .await
        .assert_problem(401, "unknown_signing_key");
    let hs256 = format!("Bearer {}", instance.api.token("cus_late"));
    orders(&instance, &hs256).await.assert_status(200);

    shop.answer_after(Duration::ZERO);
    let accepted = eventually(Duration::from_secs(30), || async {
        orders(&instance, &token).await.status == 200
    })
    .await;
    assert!(accepted, "the keys arrive once the JWKS answers");
}
