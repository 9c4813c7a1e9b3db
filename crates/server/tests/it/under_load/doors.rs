//! Every door rate limited, on a driven clock: admin-token guessing blocked after a handful of misses
//! and the block seen by a second instance, session creation limited per address and per customer,
//! session holders limited per customer like token holders, and the cheapest refusal first (a banned
//! client costs no signature check), and the forwarded address on the payment link either way.

use super::on;
use flashgate_testkit::manual_clock;
use flashgate_testkit::{Backend, Instance, Spawn, TestRedis, client};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// Clients told apart by `X-Forwarded-For` behind a trusted loopback proxy; limits far away unless a
/// test brings one close.
fn doors(backend: Backend) -> Spawn {
    super::spawn(backend)
        .set("http.trusted_proxies", ["127.0.0.1/32"])
        .set("limits.admin_penalty.strikes", 3)
        .set("limits.admin_penalty.window_ms", 600_000)
        .set("limits.admin_penalty.ban_ms", 900_000)
}

async fn send(
    instance: &Instance,
    method: Method,
    path: &str,
    client_ip: &str,
    auth: Option<String>,
) -> reqwest::Response {
    let mut request = client()
        .request(method, instance.api.url(path))
        .header("x-forwarded-for", client_ip);
    if let Some(auth) = auth {
        request = request.header("authorization", auth);
    }
    request.send().await.unwrap()
}

/// One unit of `product`, bought with this Authorization header from `client_ip`.
pub(super) async fn purchase(
    instance: &Instance,
    authorization: &str,
    key: &str,
    client_ip: &str,
    product: i64,
) -> reqwest::Response {
    client()
        .post(instance.api.url("/orders"))
        .header("authorization", authorization)
        .header("idempotency-key", key)
        .header("x-forwarded-for", client_ip)
        .json(&json!({"product_id": product, "quantity": 1}))
        .send()
        .await
        .unwrap()
}

async fn admin(instance: &Instance, client_ip: &str, token: &str) -> StatusCode {
    send(
        instance,
        Method::GET,
        "/admin/orders",
        client_ip,
        Some(format!("Bearer {token}")),
    )
    .await
    .status()
}

async fn sign_in(instance: &Instance, client_ip: &str, token: &str) -> StatusCode {
    client()
        .post(instance.api.url("/admin/dashboard/login"))
        .header("x-forwarded-for", client_ip)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("token={token}"))
        .send()
        .await
        .unwrap()
        .status()
}

async fn guessing(redis: Option<&TestRedis>) {
    let clock = manual_clock();
    let spawn = on(redis, doors).clock(clock.clone());
    let db = spawn.backend().database().await;
    let first = spawn.instance(&db).await;
    // With Redis, a second instance shares the penalty box; in process each keeps its own.
    let second = spawn.instance(&db).await;
    let token = first.state.settings.admin_token.expose().to_owned();
    let guesser = "198.51.100.7";
    // Three misses are tolerated (two through the API, one through the dashboard's sign-in)...
    for _ in 0..2 {
        assert_eq!(admin(&first, guesser, "guess").await, 401);
    }
    assert_eq!(sign_in(&first, guesser, "guess").await, 401);
    // ...the fourth blocks the address from every /admin route, even with the right token.
    assert_eq!(admin(&first, guesser, "guess").await, 401);
    let blocked = send(
        &first,
        Method::GET,
        "/admin/orders",
        guesser,
        Some(format!("Bearer {token}")),
    )
    .await;
    assert_eq!(blocked.status(), 429);
    assert_eq!(blocked.headers()["retry-after"], "900");
    assert_eq!(sign_in(&first, guesser, &token).await, 429);
    if redis.is_some() {
        assert_eq!(admin(&second, guesser, &token).await, 429, "shared block");
    } else {
        assert_eq!(admin(&second, guesser, &token).await, 200, "in process");
    }
    // Another client, and the guesser's own buyer routes, are untouched.
    assert_eq!(admin(&first, "198.51.100.8", &token).await, 200);
    assert_eq!(
        send(&first, Method::GET, "/products", guesser, None)
            .await
            .status(),
        200
    );
    clock.advance(time::Duration::seconds(899));
    assert_eq!(admin(&first, guesser, &token).await, 429);
    clock.advance(time::Duration::seconds(1));
    assert_eq!(admin(&first, guesser, &token).await, 200);
    assert_eq!(admin(&second, guesser, &token).await, 200);
}

#[tokio::test]
async fn admin_token_guessing_is_blocked_after_a_handful_of_misses_on_every_instance_through_redis()
{
    let redis = TestRedis::new();
    guessing(Some(&redis)).await;
}

#[tokio::test]
async fn admin_token_guessing_is_blocked_after_a_handful_of_misses_in_process() {
    guessing(None).await;
}

async fn start_session(instance: &Instance, client_ip: &str, customer: &str) -> reqwest::Response {
    let token = instance.api.token(customer);
    send(
        instance,
        Method::POST,
        "/sessions",
        client_ip,
        Some(format!("Bearer {token}")),
    )
    .await
}

fn policy(response: &reqwest::Response) -> String {
    response.headers()["ratelimit-policy"]
        .to_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn sessions_are_limited_per_address_and_per_customer() {
    let spawn = on(None, doors)
        .set("limits.sessions.rate", 1)
        .set("limits.sessions.period_ms", 60_000)
        .set("limits.sessions.burst", 3)
        .set("limits.customer_sessions.rate", 1)
        .set("limits.customer_sessions.period_ms", 3_600_000)
        .set("limits.customer_sessions.burst", 2)
        .clock(manual_clock());
    let db = spawn.backend().database().await;
    let instance = spawn.instance(&db).await;
    // One customer, from anywhere: two sessions, then no more; each answer names the tighter
    // limit, the customer's.
    for i in 0..2 {
        let started = start_session(&instance, &format!("192.0.2.{i}"), "opener").await;
        assert_eq!(started.status(), 201);
        assert!(policy(&started).starts_with("\"customer_sessions\";q=2;"));
    }
    let refused = start_session(&instance, "192.0.2.9", "opener").await;
    assert_eq!(refused.status(), 429);
    assert!(policy(&refused).starts_with("\"customer_sessions\";q=2;"));
    // One address, whoever asks: three, then no more.
    for i in 0..3 {
        let started = start_session(&instance, "203.0.113.1", &format!("buyer-{i}")).await;
        assert_eq!(started.status(), 201);
    }
    let refused = start_session(&instance, "203.0.113.1", "buyer-9").await;
    assert_eq!(refused.status(), 429);
    assert!(policy(&refused).starts_with("\"sessions\";q=3;"));
}

#[tokio::test]
async fn session_holders_are_limited_per_customer_like_token_holders() {
    let spawn = on(None, doors)
        .set("limits.purchases.rate", 1)
        .set("limits.purchases.period_ms", 60_000)
        .set("limits.purchases.burst", 2)
        .clock(manual_clock());
    let db = spawn.backend().database().await;
    let instance = spawn.instance(&db).await;
    let product = instance.api.product(100, None).await;
    let session: Value = start_session(&instance, "192.0.2.1", "session-hoarder")
        .await
        .json()
        .await
        .unwrap();
    let session = format!("Session {}", session["session_id"].as_str().unwrap());
    for i in 0..2 {
        let ip = format!("198.51.100.{i}");
        let bought = purchase(&instance, &session, &format!("k{i}"), &ip, product).await;
        assert_eq!(bought.status(), 201);
    }
    let refused = purchase(&instance, &session, "k2", "198.51.100.50", product).await;
    assert_eq!(refused.status(), 429);
    assert!(policy(&refused).starts_with("\"purchases\";q=2;"));
}

#[tokio::test]
async fn a_banned_client_costs_no_signature_check() {
    let spawn = on(None, doors)
        .set("limits.reads.burst", 1)
        .set("limits.reads.rate", 1)
        .set("limits.reads.period_ms", 60_000)
        .set("limits.penalty.strikes", 1)
        .set("limits.penalty.ban_ms", 600_000)
        .clock(manual_clock());
    let db = spawn.backend().database().await;
    let instance = spawn.instance(&db).await;
    let product = instance.api.product(100, None).await;
    let banned = "203.0.113.66";
    // One read, one refusal tolerated, the next one bans.
    for expected in [200, 429, 429] {
        let read = send(&instance, Method::GET, "/products", banned, None).await;
        assert_eq!(read.status(), expected);
    }
    let token = format!("Bearer {}", instance.api.token("banned-buyer"));
    let before = instance.state.tokens.verifications();
    for i in 0..20 {
        let refused = purchase(&instance, &token, &format!("k{i}"), banned, product).await;
        assert_eq!(refused.status(), 429);
        let session = send(
            &instance,
            Method::POST,
            "/sessions",
            banned,
            Some(token.clone()),
        )
        .await;
        assert_eq!(session.status(), 429);
    }
    assert_eq!(instance.state.tokens.verifications(), before);
    // A client in good standing is verified as usual.
    let bought = purchase(&instance, &token, "good", "203.0.113.67", product).await;
    assert_eq!(bought.status(), 201);
    assert_eq!(instance.state.tokens.verifications(), before + 1);
}

/// VNPay records the buyer's address with the payment: the address the trusted proxy forwarded,
/// whether the rate limiter found it before the handler (limits on) or the handler alone did.
#[tokio::test]
async fn the_payment_link_carries_the_forwarded_address_of_the_buyer() {
    for limits in [true, false] {
        let spawn = on(None, doors).set("limits.enabled", limits);
        let db = spawn.backend().database().await;
        let instance = spawn.instance(&db).await;
        let product = instance.api.product(100, None).await;
        let token = format!("Bearer {}", instance.api.token("forwarded-buyer"));
        let bought = purchase(&instance, &token, "k1", "198.51.100.7", product).await;
        assert_eq!(bought.status(), 201, "limits {limits}");
        let order: Value = bought.json().await.unwrap();
        let link = order["payment_url"].as_str().unwrap_or_default();
        assert!(
            link.contains("vnp_IpAddr=198.51.100.7&"),
            "limits {limits}: {link}"
        );
    }
}
