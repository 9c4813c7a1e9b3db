//! Forged kids cannot make flashgate hammer the shop: 500 requests at once, each naming a random kid,
//! make one fetch of the JWKS between them (counted at the shop's server) and are all refused 401;
//! a second flood within `auth.jwks_min_refresh_seconds` makes none, and the real key keeps working.
//! Nor can a forger who hangs up mid-fetch cancel the fetch a genuine new kid waits for.

use super::support::{JwksServer, Signer, fetches, instance};
use flashgate_testkit::{Backend, all_at_once};
use jsonwebtoken::Algorithm;
use reqwest::Method;
use serde_json::json;
use std::sync::Arc;

const FLOOD: usize = 500;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_forged_kids_makes_one_fetch_per_interval() {
    let real = Signer::ed("real");
    let shop = JwksServer::start(&[&real], Some("max-age=3600")).await;
    let db = Backend::Sqlite.database().await;
    // One interval spans the whole test.
    let instance = Arc::new(
        instance(
            &db,
            &shop.url(),
            &[
                ("auth.jwks_min_refresh_seconds", json!(3600)),
                ("auth.jwks_max_age_seconds", json!(3600)),
            ],
        )
        .await,
    );
    assert_eq!(shop.requests(), 1, "the keys are fetched at start");

    for round in 1..=2 {
        let forged: Vec<String> = (0..FLOOD)
            .map(|_| {
                let kid = uuid::Uuid::new_v4().to_string();
                real.bearer_as(Algorithm::EdDSA, &kid, "cus_flood", json!({}))
            })
            .collect();
        let answers = all_at_once(FLOOD, |i| {
            let (instance, token) = (instance.clone(), forged[i].clone());
            async move {
                let api = &instance.api;
                api.send(
                    api.request(Method::GET, "/orders")
                        .header("authorization", token),
                )
                .await
            }
        })
        .await;
        for answer in &answers {
            answer.assert_problem(401, "unknown_signing_key");
        }
        assert_eq!(
            shop.requests(),
            2,
            "round {round}: one fetch for all the unknown kids of the interval"
        );
    }
    assert_eq!(fetches(&instance).fetched, 2);
    let api = &instance.api;
    api.send(
        api.request(Method::GET, "/orders")
            .header("authorization", real.bearer("cus_flood", json!({}))),
    )
    .await
    .assert_status(200);
}

/// The fetch a forged kid started uses up the interval, so it must finish even when the client that
/// asked for it hangs up: a real new kid asked for meanwhile waits for it and is accepted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_hangs_up_does_not_cancel_the_fetch_others_wait_for() {
    let (old, new) = (Signer::ed("old"), Signer::ed("new"));
    let shop = JwksServer::start(&[&old], Some("max-age=3600")).await;
    let db = Backend::Sqlite.database().await;
    let instance = instance(
        &db,
        &shop.url(),
        &[
            ("auth.jwks_min_refresh_seconds", json!(3600)),
            ("auth.jwks_max_age_seconds", json!(3600)),
        ],
    )
    .await;
    shop.publish(&[&old, &new]);
    shop.answer_after(std::time::Duration::from_millis(1500));
    let tokens = instance.state.tokens.clone();
    let forged = old.bearer_as(Algorithm::EdDSA, "forged", "cus_hangup", json!({}));
    let forged = forged.trim_start_matches("Bearer ").to_owned();
    let asker = tokio::spawn(async move { tokens.verify(&forged).await });
    let started = flashgate_testkit::eventually(std::time::Duration::from_secs(30), || async {
        shop.requests() == 2
    })
    .await;
    assert!(started, "the forged kid started a fetch");
    asker.abort();
    let genuine = new.bearer("cus_hangup", json!({}));
    let customer = instance
        .state
        .tokens
        .verify(genuine.trim_start_matches("Bearer "))
        .await
        .unwrap();
    assert_eq!(customer.as_str(), "cus_hangup");
    assert_eq!(shop.requests(), 2, "no second fetch within the interval");
}
