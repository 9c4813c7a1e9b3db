//! Buyers' sessions driven to each answer they document: started with a token, used on the order
//! routes, ended, refused once ended; and, on instances of their own, the answers only a setting gives
//! (sessions switched off, or started on the demo's word).

use super::checked::Checked;
use super::document::Contract;
use flashgate_testkit::key;
use flashgate_testkit::{Answer, Backend};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};
use reqwest::{Method, RequestBuilder};
use serde_json::json;

const SESSIONS: &str = "/sessions";
const CURRENT: &str = "/sessions/current";

/// A well-formed session id that was never started.
pub fn forged_session() -> String {
    format!("Session {}", "ab".repeat(32))
}

fn with(authorization: &str) -> impl FnOnce(RequestBuilder) -> RequestBuilder + '_ {
    move |r| r.header(AUTHORIZATION, authorization)
}

/// The `WWW-Authenticate` challenges of an answer, in order.
fn challenges(answer: &Answer) -> Vec<&str> {
    answer
        .headers
        .get_all("www-authenticate")
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect()
}

fn refused(answer: &Answer, code: &str, challenge: &[&str]) {
    answer.assert_problem(401, code);
    assert_eq!(challenges(answer), challenge, "{answer:?}");
}

/// A token the service cannot verify because of its header: its `kid` or its `alg`.
fn token_with(kid: Option<&str>, alg: Algorithm) -> String {
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_owned);
    let claims = json!({"sub": "contract-forger", "exp": 4_102_444_800_i64});
    jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(b"x")).unwrap()
}

/// Starts a session for `token`'s customer and answers `Session <id>`.
pub async fn start_session(c: &Checked<'_>, token: &str) -> String {
    let started = c
        .call(Method::POST, SESSIONS, |r| r.bearer_auth(token))
        .await;
    assert_eq!(started.headers["cache-control"], "no-store");
    let body = started.assert_status(201);
    format!("Session {}", body["session_id"].as_str().unwrap())
}

pub async fn the_sessions_answer_as_documented(c: &Checked<'_>, product: i64) {
    let token = c.api.token("contract-session-buyer");
    let session = start_session(c, &token).await;

    // A session stands for its buyer on every order route.
    let order = c
        .call(Method::POST, "/orders", |r| {
            with(&session)(r)
                .header("Idempotency-Key", key())
                .json(&json!({"product_id": product, "quantity": 1}))
        })
        .await;
    let order_id = order.assert_status(201)["id"].as_str().unwrap().to_owned();
    c.call(Method::GET, "/orders", with(&session))
        .await
        .assert_status(200);
    c.call(Method::GET, &format!("/orders/{order_id}"), with(&session))
        .await
        .assert_status(200);

    // Ended once, refused from then on, with the challenge of the credential that was expected.
    let ended = c.call(Method::DELETE, CURRENT, with(&session)).await;
    assert_eq!(ended.status, 204, "{ended:?}");
    refused(
        &c.call(Method::DELETE, CURRENT, with(&session)).await,
        "invalid_session",
        &["Session"],
    );
    refused(
        &c.call(Method::GET, "/orders", with(&session)).await,
        "invalid_session",
        &["Session"],
    );
    for junk in [forged_session().as_str(), "Session not-a-session"] {
        refused(
            &c.call(Method::DELETE, CURRENT, with(junk)).await,
            "invalid_session",
            &["Session"],
        );
        refused(
            &c.call(Method::GET, "/orders", with(junk)).await,
            "invalid_session",
            &["Session"],
        );
    }
    let bearer = format!("Bearer {token}");
    refused(
        &c.call(Method::DELETE, CURRENT, with(&bearer)).await,
        "invalid_session",
        &["Session"],
    );
    refused(
        &c.call(Method::DELETE, CURRENT, |r| r).await,
        "unauthorized",
        &["Session"],
    );
    refused(
        &c.call(Method::DELETE, CURRENT, with("Basic Y2FyZWxlc3M6cHc="))
            .await,
        "unauthorized",
        &["Session"],
    );
    // A route that takes either kind, sent neither, offers both.
    refused(
        &c.call(Method::GET, "/orders", |r| r).await,
        "unauthorized",
        &["Bearer", "Session"],
    );

    // A session is started with a token, and only with one that verifies.
    for authorization in [None, Some(session.as_str()), Some("Bearer not-a-jwt")] {
        let answer = c
            .call(Method::POST, SESSIONS, |r| match authorization {
                Some(value) => r.header(AUTHORIZATION, value),
                None => r.json(&json!({"customer_id": "anyone"})),
            })
            .await;
        refused(&answer, "unauthorized", &["Bearer"]);
    }
    for (token, code) in [
        (
            token_with(Some("no-such-key"), Algorithm::HS256),
            "unknown_signing_key",
        ),
        (token_with(None, Algorithm::HS384), "algorithm_not_allowed"),
    ] {
        refused(
            &c.call(Method::POST, SESSIONS, |r| r.bearer_auth(&token))
                .await,
            code,
            &["Bearer"],
        );
        refused(
            &c.call(Method::GET, "/orders", |r| r.bearer_auth(&token))
                .await,
            code,
            &["Bearer"],
        );
    }
}

/// Sessions switched off, and sessions only, started on the demo's word: the answers that only those
/// settings give.
pub async fn the_session_settings_answer_as_documented(backend: Backend, contract: &Contract) {
    let app = crate::service::spawn(backend)
        .set("auth.buyers", "tokens")
        .start()
        .await;
    let c = Checked {
        api: app.api(0),
        contract,
    };
    let token = c.api.token("token-only-buyer");
    c.call(Method::POST, SESSIONS, |r| r.bearer_auth(&token))
        .await
        .assert_problem(403, "sessions_disabled");
    refused(
        &c.call(Method::GET, "/orders", with(&forged_session()))
            .await,
        "credential_not_accepted",
        &["Bearer"],
    );
    drop(app);

    let app = crate::service::spawn(backend)
        .set("auth.buyers", "sessions")
        .set("auth.sessions.allow_bare_customer", true)
        .start()
        .await;
    let c = Checked {
        api: app.api(0),
        contract,
    };
    let started = c
        .call(Method::POST, SESSIONS, |r| {
            r.json(&json!({"customer_id": "demo-buyer"}))
        })
        .await;
    let session = format!(
        "Session {}",
        started.assert_status(201)["session_id"].as_str().unwrap()
    );
    c.call(Method::GET, "/orders", with(&session))
        .await
        .assert_status(200);
    let token = c.api.token("demo-buyer");
    refused(
        &c.call(Method::GET, "/orders", |r| r.bearer_auth(&token))
            .await,
        "credential_not_accepted",
        &["Session"],
    );
    refused(
        &c.call(Method::GET, "/orders", |r| r).await,
        "unauthorized",
        &["Session"],
    );
    // The demo's body is read like any JSON body, and refused like one.
    let cases: [(u16, &str, Option<&str>, String); 6] = [
        (
            400,
            "malformed_json",
            Some("application/json"),
            "{\"oops".to_owned(),
        ),
        (
            415,
            "unsupported_media_type",
            Some("text/plain"),
            "{}".to_owned(),
        ),
        (415, "unsupported_media_type", None, "{}".to_owned()),
        (
            413,
            "payload_too_large",
            Some("application/json"),
            format!("\"{}\"", "x".repeat(20_000)),
        ),
        (
            422,
            "invalid_request",
            Some("application/json"),
            "[1, 2]".to_owned(),
        ),
        (
            422,
            "invalid_request",
            Some("application/json"),
            json!({"customer_id": "no spaces"}).to_string(),
        ),
    ];
    for (status, code, content_type, body) in cases {
        c.call(Method::POST, SESSIONS, |r| {
            let r = r.body(body);
            match content_type {
                Some(ct) => r.header(CONTENT_TYPE, ct),
                None => r,
            }
        })
        .await
        .assert_problem(status, code);
    }
}
