//! RS256, ES256 and EdDSA keys from the JWKS each verify tokens of their own algorithm and no other;
//! keys not for signatures, or declaring another algorithm than their type's, are never used; an
//! unknown kid is refused 401; configured keys (ES256 among them, winning on a shared kid) and HS256
//! keep working beside the JWKS, and a JWKS token starts a session.

use super::support::{JwksServer, Signer, instance, orders};
use flashgate_testkit::Backend;
use jsonwebtoken::Algorithm;
use reqwest::Method;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rs256_es256_and_eddsa_keys_each_verify_only_their_own_algorithm() {
    let (rsa, ec, ed) = (Signer::rsa("rsa"), Signer::ec("ec"), Signer::ed("ed"));
    let mut declared = Signer::ec("ec-declared");
    declared.extra = json!({"use": "sig", "alg": "ES256"});
    let mut encryption = Signer::rsa("rsa-enc");
    encryption.extra = json!({"use": "enc"});
    let mut mislabelled = Signer::ed("ed-says-rs256");
    mislabelled.extra = json!({"alg": "RS256"});
    let shop = JwksServer::start(
        &[&rsa, &ec, &ed, &declared, &encryption, &mislabelled],
        None,
    )
    .await;
    let db = Backend::Sqlite.database().await;
    let instance = instance(&db, &shop.url(), &[]).await;
    let kids = instance.state.tokens.jwks().unwrap().kids();
    assert_eq!(kids, ["ec", "ec-declared", "ed", "rsa"]);

    for signer in [&rsa, &ec, &ed, &declared] {
        let answer = orders(&instance, &signer.bearer("cus_alg", json!({}))).await;
        assert_eq!(answer.status, 200, "{}: {}", signer.kid, answer.text());
    }
    // Keys that were skipped are not known, whoever signs with them.
    for skipped in [&encryption, &mislabelled] {
        orders(&instance, &skipped.bearer("cus_alg", json!({})))
            .await
            .assert_problem(401, "unknown_signing_key");
    }
    orders(
        &instance,
        &Signer::ed("nobody").bearer("cus_alg", json!({})),
    )
    .await
    .assert_problem(401, "unknown_signing_key");
    // A real EdDSA signature presented under the RSA key's kid, and another RSA algorithm.
    orders(
        &instance,
        &ed.bearer_as(Algorithm::EdDSA, "rsa", "cus_alg", json!({})),
    )
    .await
    .assert_problem(401, "algorithm_not_allowed");
    orders(
        &instance,
        &rsa.bearer_as(Algorithm::RS384, "rsa", "cus_alg", json!({})),
    )
    .await
    .assert_problem(401, "algorithm_not_allowed");
    // Another key's signature under a known kid.
    orders(
        &instance,
        &ec.as_kid("ec-declared").bearer("cus_alg", json!({})),
    )
    .await
    .assert_problem(401, "unauthorized");

    // The HS256 tokens `flashgate token` mints still work, and a JWKS token starts a session.
    let hs256 = format!("Bearer {}", instance.api.token("cus_alg"));
    orders(&instance, &hs256).await.assert_status(200);
    let api = &instance.api;
    let session = api
        .send(
            api.request(Method::POST, "/sessions")
                .header("authorization", ec.bearer("cus_alg", json!({}))),
        )
        .await
        .assert_status(201);
    assert_eq!(session["customer_id"], json!("cus_alg"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configured_keys_es256_among_them_work_beside_the_jwks_and_win_on_a_shared_kid() {
    let (configured, pem) = Signer::ec_with_public_pem("shared");
    let impostor = Signer::ec("shared");
    let fetched = Signer::rsa("fetched");
    let shop = JwksServer::start(&[&impostor, &fetched], None).await;
    let db = Backend::Sqlite.database().await;
    let keys = json!([{"kid": "shared", "alg": "ES256", "public_key_pem": pem}]);
    let instance = instance(&db, &shop.url(), &[("auth.keys", keys)]).await;
    orders(&instance, &configured.bearer("cus_static", json!({})))
        .await
        .assert_status(200);
    orders(&instance, &fetched.bearer("cus_static", json!({})))
        .await
        .assert_status(200);
    orders(&instance, &impostor.bearer("cus_static", json!({})))
        .await
        .assert_problem(401, "unauthorized");
    assert_eq!(instance.state.tokens.jwks().unwrap().kids(), ["fetched"]);
}
