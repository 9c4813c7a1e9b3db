//! A JWKS server that answers garbage, or is down, costs nothing but fresh keys: the keys of its last
//! good answer keep verifying tokens, each failed fetch is counted (by the instance and in
//! `/metrics`), and a token naming a kid no key has is refused 401, never 5xx.

use super::support::{JwksServer, Signer, fetches, instance, orders};
use flashgate_testkit::{Backend, eventually};
use serde_json::json;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cached_keys_keep_working_while_the_jwks_server_answers_garbage_or_is_down() {
    let key = Signer::ec("live");
    let shop = JwksServer::start(&[&key], Some("max-age=1")).await;
    let db = Backend::Sqlite.database().await;
    let instance = instance(
        &db,
        &shop.url(),
        &[("auth.jwks_min_refresh_seconds", json!(1))],
    )
    .await;
    let token = key.bearer("cus_down", json!({}));
    orders(&instance, &token).await.assert_status(200);
    let failed_once = || async { fetches(&instance).failed >= 1 };

    shop.answer_garbage(true);
    assert!(
        eventually(Duration::from_secs(30), failed_once).await,
        "the stale answer is fetched again, and the garbage refused"
    );
    orders(&instance, &token).await.assert_status(200);

    shop.stop();
    let before = fetches(&instance).failed;
    let failed_again = eventually(Duration::from_secs(30), || async {
        fetches(&instance).failed > before
    })
    .await;
    assert!(failed_again, "the server that is down is asked again");
    orders(&instance, &token).await.assert_status(200);
    assert_eq!(
        instance.state.tokens.jwks().unwrap().kids(),
        ["live"],
        "the last good answer's keys stay"
    );
    // The fetch an unknown kid asks for fails too: the token is refused as unknown.
    orders(
        &instance,
        &Signer::ec("rotated").bearer("cus_down", json!({})),
    )
    .await
    .assert_problem(401, "unknown_signing_key");

    let metrics = instance.api.get("/metrics", None).await.text();
    assert!(
        metrics.contains("flashgate_jwks_fetches_total{outcome=\"failed\"}"),
        "{metrics}"
    );
}
