//! `auth.issuer` and `auth.audience` bind the shop's JWKS keys as they bind configured ones: a token
//! from the right key but another issuer or audience, or without them, is refused.

use super::support::{JwksServer, Signer, instance, orders};
use flashgate_testkit::Backend;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_jwks_token_for_another_issuer_or_audience_is_refused() {
    let key = Signer::ed("shop-ed");
    let shop = JwksServer::start(&[&key], None).await;
    let db = Backend::Sqlite.database().await;
    let instance = instance(
        &db,
        &shop.url(),
        &[
            ("auth.issuer", json!("https://shop.example")),
            ("auth.audience", json!("flashgate")),
        ],
    )
    .await;
    let ours = json!({"iss": "https://shop.example", "aud": "flashgate"});
    orders(&instance, &key.bearer("cus_iss", ours))
        .await
        .assert_status(200);
    // Identity providers often name several audiences.
    let listed = json!({"iss": "https://shop.example", "aud": ["flashgate", "storefront"]});
    orders(&instance, &key.bearer("cus_iss", listed))
        .await
        .assert_status(200);
    for claims in [
        json!({"iss": "https://evil.example", "aud": "flashgate"}),
        json!({"iss": "https://shop.example", "aud": "storefront"}),
        json!({"iss": "https://shop.example"}),
        json!({"aud": "flashgate"}),
        json!({}),
    ] {
        orders(&instance, &key.bearer("cus_iss", claims.clone()))
            .await
            .assert_problem(401, "unauthorized");
    }
    assert_eq!(shop.requests(), 1, "a known kid fetches nothing");
}
