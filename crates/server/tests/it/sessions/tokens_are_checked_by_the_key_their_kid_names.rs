//! Stateless tokens: RS256 and EdDSA verified with the public key their `kid` names, several keys live
//! at once for rotation, no token choosing its own algorithm, and expiry judged with the leeway on
//! the service's clock.

use super::support::{Ground, Keeper, orders};
use flashgate_core::{Clock, ManualClock};
use flashgate_testkit::manual_clock;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use std::sync::Arc;

const RSA_A: &str = include_str!("keys/rsa-a.key");
const RSA_A_PUB: &str = include_str!("keys/rsa-a.pub");
const RSA_B: &str = include_str!("keys/rsa-b.key");
const RSA_B_PUB: &str = include_str!("keys/rsa-b.pub");
const ED_A: &str = include_str!("keys/ed-a.key");
const ED_A_PUB: &str = include_str!("keys/ed-a.pub");

fn key(kid: &str, alg: &str, pem: &str) -> Value {
    json!({"kid": kid, "alg": alg, "public_key_pem": pem})
}

fn keys(keys: Vec<Value>) -> Vec<(&'static str, Value)> {
    vec![("auth.keys", Value::Array(keys))]
}

/// A token for `customer` expiring `ttl_seconds` after the clock's now, signed as told.
fn sign(
    alg: Algorithm,
    kid: Option<&str>,
    key: &EncodingKey,
    clock: &ManualClock,
    ttl_seconds: i64,
) -> String {
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_owned);
    let claims = json!({"sub": "kid-buyer", "exp": clock.now().unix_timestamp() + ttl_seconds});
    format!(
        "Bearer {}",
        jsonwebtoken::encode(&header, &claims, key).unwrap()
    )
}

fn rsa(pem: &str) -> EncodingKey {
    EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap()
}

fn ed(pem: &str) -> EncodingKey {
    EncodingKey::from_ed_pem(pem.as_bytes()).unwrap()
}

#[tokio::test]
async fn rs256_and_eddsa_tokens_verify_with_the_key_their_kid_names() {
    let ground = Ground::new(Keeper::Sqlite).await;
    let clock = manual_clock();
    let config = keys(vec![
        key("rsa-a", "RS256", RSA_A_PUB),
        key("ed-a", "EdDSA", ED_A_PUB),
    ]);
    let instance = ground.start(&clock, &config).await;
    let rs256 = sign(Algorithm::RS256, Some("rsa-a"), &rsa(RSA_A), &clock, 600);
    let eddsa = sign(Algorithm::EdDSA, Some("ed-a"), &ed(ED_A), &clock, 600);
    orders(&instance, &rs256).await.assert_status(200);
    orders(&instance, &eddsa).await.assert_status(200);
    // The HS256 tokens `flashgate token` mints still work beside them.
    let hs256 = format!("Bearer {}", instance.api.token("kid-buyer"));
    orders(&instance, &hs256).await.assert_status(200);
    // Another key's signature under a known kid is refused.
    let forged = sign(Algorithm::RS256, Some("rsa-a"), &rsa(RSA_B), &clock, 600);
    orders(&instance, &forged)
        .await
        .assert_problem(401, "unauthorized");
}

#[tokio::test]
async fn two_keys_are_valid_during_a_rotation_and_a_removed_one_is_refused() {
    let ground = Ground::new(Keeper::Sqlite).await;
    let clock = manual_clock();
    let old = sign(Algorithm::RS256, Some("2026-10"), &rsa(RSA_A), &clock, 3600);
    let new = sign(Algorithm::RS256, Some("2026-11"), &rsa(RSA_B), &clock, 3600);
    let during = ground
        .start(
            &clock,
            &keys(vec![
                key("2026-10", "RS256", RSA_A_PUB),
                key("2026-11", "RS256", RSA_B_PUB),
            ]),
        )
        .await;
    orders(&during, &old).await.assert_status(200);
    orders(&during, &new).await.assert_status(200);
    drop(during);
    let after = ground
        .start(&clock, &keys(vec![key("2026-11", "RS256", RSA_B_PUB)]))
        .await;
    orders(&after, &old)
        .await
        .assert_problem(401, "unknown_signing_key");
    orders(&after, &new).await.assert_status(200);
}

#[tokio::test]
async fn a_token_never_chooses_how_it_is_checked() {
    let ground = Ground::new(Keeper::Sqlite).await;
    let clock = manual_clock();
    let config = keys(vec![
        key("rsa-a", "RS256", RSA_A_PUB),
        key("ed-a", "EdDSA", ED_A_PUB),
    ]);
    let instance = ground.start(&clock, &config).await;
    let unknown = sign(Algorithm::RS256, Some("rsa-z"), &rsa(RSA_A), &clock, 600);
    orders(&instance, &unknown)
        .await
        .assert_problem(401, "unknown_signing_key");
    // A real EdDSA signature, presented under the RSA key's kid.
    let wrong_alg = sign(Algorithm::EdDSA, Some("rsa-a"), &ed(ED_A), &clock, 600);
    orders(&instance, &wrong_alg)
        .await
        .assert_problem(401, "algorithm_not_allowed");
    // The classic confusion: HS256 "signed" with the RSA public key's bytes, which anyone has.
    let public_bytes = EncodingKey::from_secret(RSA_A_PUB.as_bytes());
    let confused = sign(Algorithm::HS256, Some("rsa-a"), &public_bytes, &clock, 600);
    orders(&instance, &confused)
        .await
        .assert_problem(401, "algorithm_not_allowed");
    // Without a kid, HS256 is checked with the shared secret only.
    let confused = sign(Algorithm::HS256, None, &public_bytes, &clock, 600);
    orders(&instance, &confused)
        .await
        .assert_problem(401, "unauthorized");
    // An asymmetric token without a kid has no key to be checked with.
    let no_kid = sign(Algorithm::RS256, None, &rsa(RSA_A), &clock, 600);
    orders(&instance, &no_kid)
        .await
        .assert_problem(401, "algorithm_not_allowed");
}

async fn expiry_with_leeway(leeway: i64, clock: Arc<ManualClock>) {
    let ground = Ground::new(Keeper::Sqlite).await;
    let config = vec![
        (
            "auth.keys",
            Value::Array(vec![key("ed-a", "EdDSA", ED_A_PUB)]),
        ),
        ("auth.leeway_seconds", json!(leeway)),
    ];
    let instance = ground.start(&clock, &config).await;
    let token = sign(Algorithm::EdDSA, Some("ed-a"), &ed(ED_A), &clock, 60);
    clock.advance(time::Duration::seconds(60 + leeway - 1));
    orders(&instance, &token).await.assert_status(200);
    clock.advance(time::Duration::seconds(1));
    orders(&instance, &token)
        .await
        .assert_problem(401, "unauthorized");
}

#[tokio::test]
async fn a_token_expired_within_the_leeway_is_accepted_and_beyond_it_refused() {
    expiry_with_leeway(30, manual_clock()).await;
}

#[tokio::test]
async fn the_leeway_is_a_setting() {
    expiry_with_leeway(5, manual_clock()).await;
    expiry_with_leeway(0, manual_clock()).await;
}
