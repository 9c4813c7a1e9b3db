//! A session ends no later than the token that started it, unless `auth.sessions.outlive_token` says
//! otherwise; and `iss`/`aud`, when configured, are required of tokens whatever key signed them.

use super::support::{Ground, Keeper, orders, start_session};
use flashgate_core::{Clock, CustomerId};
use flashgate_testkit::manual_clock;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use time::Duration;

fn minted(instance: &flashgate_testkit::Instance, customer: &str, ttl: Duration) -> String {
    let customer = CustomerId::parse(customer).unwrap();
    format!(
        "Bearer {}",
        instance.api.tokens().mint(&customer, ttl).unwrap()
    )
}

#[tokio::test]
async fn a_session_ends_when_the_token_that_started_it_does() {
    let ground = Ground::new(Keeper::Sqlite).await;
    let clock = manual_clock();
    let instance = ground.start(&clock, &[]).await;
    let token = minted(&instance, "brief-buyer", Duration::minutes(10));
    let started = start_session(&instance, Some(&token), None).await;
    let body = started.assert_status(201);
    // A token's `exp` is in whole seconds.
    let token_end = time::OffsetDateTime::from_unix_timestamp(
        (clock.now() + Duration::minutes(10)).unix_timestamp(),
    )
    .unwrap();
    assert_eq!(
        body["expires_at"],
        json!(
            token_end
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap()
        )
    );
    let session = format!("Session {}", body["session_id"].as_str().unwrap());
    clock.advance(Duration::minutes(9));
    orders(&instance, &session).await.assert_status(200);
    clock.advance(Duration::minutes(1));
    orders(&instance, &session)
        .await
        .assert_problem(401, "session_expired");
}

#[tokio::test]
async fn a_token_past_its_expiry_starts_no_session_even_within_the_leeway() {
    let ground = Ground::new(Keeper::Sqlite).await;
    let clock = manual_clock();
    let instance = ground.start(&clock, &[]).await;
    // Ten seconds past its `exp`, inside the 30 s leeway: still good for a request, but a session
    // that cannot outlive it would be over before its first use.
    let token = minted(&instance, "late-buyer", Duration::seconds(-10));
    orders(&instance, &token).await.assert_status(200);
    start_session(&instance, Some(&token), None)
        .await
        .assert_problem(401, "unauthorized");
}

#[tokio::test]
async fn a_session_may_outlive_its_token_when_the_setting_says_so() {
    let ground = Ground::new(Keeper::Sqlite).await;
    let clock = manual_clock();
    let instance = ground
        .start(&clock, &[("auth.sessions.outlive_token", json!(true))])
        .await;
    let token = minted(&instance, "lasting-buyer", Duration::minutes(10));
    let body = start_session(&instance, Some(&token), None)
        .await
        .assert_status(201);
    let session = format!("Session {}", body["session_id"].as_str().unwrap());
    clock.advance(Duration::minutes(20));
    orders(&instance, &session).await.assert_status(200);
}

/// A token for `kid-buyer` with these extra claims, signed with `key` under `kid`.
fn sign(alg: Algorithm, kid: &str, key: &EncodingKey, now: i64, claims: Value) -> String {
    let mut header = Header::new(alg);
    header.kid = Some(kid.to_owned());
    let mut all = json!({"sub": "kid-buyer", "exp": now + 600});
    for (name, value) in claims.as_object().unwrap() {
        all[name] = value.clone();
    }
    format!(
        "Bearer {}",
        jsonwebtoken::encode(&header, &all, key).unwrap()
    )
}

#[tokio::test]
async fn issuer_and_audience_are_required_of_every_kind_of_key_when_configured() {
    let ground = Ground::new(Keeper::Sqlite).await;
    let clock = manual_clock();
    let config = [
        (
            "auth.keys",
            json!([
                {"kid": "rsa-a", "alg": "RS256", "public_key_pem": include_str!("keys/rsa-a.pub")},
                {"kid": "ed-a", "alg": "EdDSA", "public_key_pem": include_str!("keys/ed-a.pub")},
            ]),
        ),
        ("auth.issuer", json!("https://shop.example")),
        ("auth.audience", json!("flashgate")),
    ];
    let instance = ground.start(&clock, &config).await;
    let now = clock.now().unix_timestamp();
    let rsa = EncodingKey::from_rsa_pem(include_str!("keys/rsa-a.key").as_bytes()).unwrap();
    let ed = EncodingKey::from_ed_pem(include_str!("keys/ed-a.key").as_bytes()).unwrap();
    let right = json!({"iss": "https://shop.example", "aud": "flashgate"});
    for (alg, kid, key) in [
        (Algorithm::RS256, "rsa-a", &rsa),
        (Algorithm::EdDSA, "ed-a", &ed),
    ] {
        let good = sign(alg, kid, key, now, right.clone());
        orders(&instance, &good).await.assert_status(200);
        for claims in [
            json!({}),
            json!({"iss": "https://shop.example"}),
            json!({"aud": "flashgate"}),
            json!({"iss": "https://elsewhere.example", "aud": "flashgate"}),
            json!({"iss": "https://shop.example", "aud": "another-service"}),
        ] {
            let bad = sign(alg, kid, key, now, claims.clone());
            orders(&instance, &bad)
                .await
                .assert_problem(401, "unauthorized");
        }
    }
    // The shared secret's tokens too: the service's own minting carries both claims.
    let own = minted(&instance, "kid-buyer", Duration::minutes(10));
    orders(&instance, &own).await.assert_status(200);
}
