//! A rotation done by the shop through its JWKS alone: it publishes its next key beside the old one
//! and signs with it, then removes the old one. A token naming the new kid is accepted after the
//! fetch it triggers; once the cached answer is stale and fetched again, the removed kid is refused.

use super::support::{JwksServer, Signer, instance, orders};
use flashgate_testkit::{Backend, eventually};
use serde_json::json;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_key_is_fetched_when_named_and_a_removed_one_refused_after_the_refresh() {
    let old = Signer::rsa("shop-2026-11");
    let new = Signer::rsa("shop-2026-12");
    let shop = JwksServer::start(&[&old], Some("public, max-age=3600")).await;
    let db = Backend::Sqlite.database().await;
    let instance = instance(
        &db,
        &shop.url(),
        &[("auth.jwks_min_refresh_seconds", json!(1))],
    )
    .await;
    assert_eq!(shop.requests(), 1, "the keys are fetched at start");
    let with_old = old.bearer("cus_rotation", json!({}));
    orders(&instance, &with_old).await.assert_status(200);
    assert_eq!(shop.requests(), 1, "a known kid fetches nothing");

    // The next key appears beside the old one; from now on the answer may be kept one second.
    shop.publish(&[&old, &new]);
    shop.cache_control(Some("max-age=1"));
    let with_new = new.bearer("cus_rotation", json!({}));
    orders(&instance, &with_new).await.assert_status(200);
    assert_eq!(shop.requests(), 2, "the unknown kid made one fetch");
    orders(&instance, &with_old).await.assert_status(200);

    // The old key is removed: refused once the stale answer is fetched again in the background.
    shop.publish(&[&new]);
    let refused = eventually(Duration::from_secs(30), || async {
        orders(&instance, &with_old).await.status == 401
    })
    .await;
    assert!(refused, "the removed key is refused after the refresh");
    orders(&instance, &with_old)
        .await
        .assert_problem(401, "unknown_signing_key");
    orders(&instance, &with_new).await.assert_status(200);
    let kids = instance.state.tokens.jwks().unwrap().kids();
    assert_eq!(kids, ["shop-2026-12"]);
}
