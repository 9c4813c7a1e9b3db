//! Requests generated from the document itself, bent every way a client can bend them (methods, ids,
//! headers, bodies: malformed JSON, wrong types, huge numbers, negative quantities, unicode, nothing),
//! against a live instance whose database is up: no answer is a 5xx, and every answer is one the
//! document allows for that request.

use super::document::Contract;
use super::generate::{Known, Request, requests};
use flashgate_testkit::TestRedis;
use flashgate_testkit::key;
use flashgate_testkit::{Api, Backend, Spawn, TestApp};
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use serde_json::json;

/// Enough cases to reach every operation's branches many times over, within seconds per backend.
const CASES: u32 = 3_000;

#[test]
fn no_input_gets_a_5xx_or_an_undocumented_answer_on_postgres() {
    fuzz("PostgreSQL", crate::service::spawn(Backend::Postgres));
}

#[test]
fn no_input_gets_a_5xx_or_an_undocumented_answer_on_sqlite() {
    fuzz("SQLite", crate::service::spawn(Backend::Sqlite));
}

#[test]
fn no_input_gets_a_5xx_or_an_undocumented_answer_through_the_in_process_gate() {
    fuzz(
        "SQLite and the in-process gate",
        crate::service::spawn(Backend::Sqlite).strategy(flashgate_core::Strategy::Gated),
    );
}

#[test]
fn no_input_gets_a_5xx_or_an_undocumented_answer_from_clients_behind_a_proxy_with_rate_limits() {
    fuzz(
        "SQLite behind a proxy, with rate limits",
        crate::service::spawn(Backend::Sqlite)
            .set("limits.enabled", true)
            .set("http.trusted_proxies", ["127.0.0.1/32"]),
    );
}

#[test]
fn no_input_gets_a_5xx_or_an_undocumented_answer_from_the_demo_that_starts_sessions_on_a_word() {
    fuzz(
        "SQLite with the demo's bare customer ids",
        crate::service::spawn(Backend::Sqlite).set("auth.sessions.allow_bare_customer", true),
    );
}

#[test]
fn no_input_gets_a_5xx_or_an_undocumented_answer_through_the_redis_gate() {
    let redis = TestRedis::new();
    fuzz(
        "PostgreSQL and the Redis gate",
        crate::service::spawn(Backend::Postgres)
            .strategy(flashgate_core::Strategy::Gated)
            .set("redis_url", redis.url())
            .set("redis.key_prefix", &redis.prefix),
    );
}

fn fuzz(name: &str, spawn: Spawn) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (app, known) = runtime.block_on(start(spawn));
    // A redirect is an answer of its own (the dashboard's sign-in), not a hop to follow.
    let mut api = app.api(0).clone();
    api.http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(std::time::Duration::from_secs(120))
        .build()
        .unwrap();
    let api = &api;
    let contract = Contract::new(
        runtime
            .block_on(api.get("/openapi.json", None))
            .assert_status(200),
    );
    let strategy = requests(&contract, &known);
    let mut runner = TestRunner::new(Config {
        cases: CASES,
        failure_persistence: None,
        ..Config::default()
    });
    let result = runner.run(&strategy, |request| {
        let answer = runtime.block_on(send(api, &request));
        // The path as it went on the wire: the client resolves `.` and `..` segments first.
        let sent = reqwest::Url::parse(&format!("http://flashgate{}", request.path)).unwrap();
        // The contract's assertions panic; the runner turns a panic into a failing case and shrinks it.
        contract.check(&request.method, sent.path(), &answer);
        if answer.status >= 500 {
            return Err(TestCaseError::fail(format!("{request:?} got {answer:?}")));
        }
        Ok(())
    });
    if let Err(failure) = result {
        panic!("{failure}");
    }
    let documented = contract.documented_answers();
    eprintln!(
        "{name}: {CASES} requests reached {} of the {} documented answers; not {:?}",
        contract.seen().len(),
        documented.len(),
        documented.difference(&contract.seen()).collect::<Vec<_>>()
    );
    drop(app);
    runtime.shutdown_background();
}

async fn start(spawn: Spawn) -> (TestApp, Known) {
    let app = spawn.start().await;
    let api = app.api(0);
    let buyer = api.token("fuzzing-buyer");
    let mut products = Vec::new();
    for limit in [None, Some(2)] {
        products.push(api.product(1_000, limit).await);
    }
    let mut orders = Vec::new();
    for product in products.clone() {
        let answer = api.place_order(&buyer, &key(), product, 1).await;
        orders.push(answer.assert_status(201)["id"].as_str().unwrap().to_owned());
    }
    // Sold out, and not on sale yet: the purchase's refusals are reachable too.
    products.push(api.product(0, None).await);
    let later = api.create_product(json!({"sku": format!("later-{}", uuid::Uuid::new_v4().simple()),
        "name": "Next week", "price_vnd": 10_000, "stock": 5, "sale_starts_at": "2999-01-01T00:00:00Z"}));
    products.push(later.await.assert_status(201)["id"].as_i64().unwrap());
    // A live session, so that ending one (204) is reachable too, once.
    let started = api
        .send(
            api.request(reqwest::Method::POST, "/sessions")
                .bearer_auth(&buyer),
        )
        .await;
    let session = started.assert_status(201)["session_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let known = Known {
        admin: "dev-admin-token-change-me".to_owned(),
        buyer,
        session,
        products,
        orders,
    };
    (app, known)
}

async fn send(api: &Api, r: &Request) -> flashgate_testkit::Answer {
    let url = match &r.query {
        Some(query) => format!("{}?{query}", r.path),
        None => r.path.clone(),
    };
    let mut request = api.request(r.method.clone(), &url);
    for (name, value) in [
        (AUTHORIZATION.as_str(), &r.authorization),
        ("idempotency-key", &r.idempotency_key),
        (CONTENT_TYPE.as_str(), &r.content_type),
        ("x-forwarded-for", &r.forwarded_for),
    ] {
        if let Some(value) = value {
            request = request.header(name, HeaderValue::from_str(value).unwrap());
        }
    }
    if let Some(body) = &r.body {
        request = request.body(body.clone());
    }
    api.send(request).await
}
