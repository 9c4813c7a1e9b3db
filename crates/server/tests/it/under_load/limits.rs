//! Rate limits over HTTP on a driven clock: the exact burst and the headers, spoofed
//! `X-Forwarded-For`, per-customer purchase limits, the penalty box, and the in-process fallback
//! when Redis is gone.

use super::doors::purchase;
use super::on;
use flashgate_testkit::manual_clock;
use flashgate_testkit::{Backend, Instance, RedisProcess, Spawn, TestDatabase, TestRedis, client};
use serde_json::Value;

on_each_fast_path!(
    the_limiter_admits_exactly_its_burst_then_refuses_with_headers,
    a_spoofed_forwarded_for_from_an_untrusted_peer_changes_nothing,
    the_penalty_box_blocks_and_releases_on_time,
);

/// Reads: burst 5, one more a second; the penalty box far away unless a test brings it close.
fn limits(backend: Backend) -> Spawn {
    super::spawn(backend)
        .set("limits.reads.rate", 1)
        .set("limits.reads.period_ms", 1000)
        .set("limits.reads.burst", 5)
        .set("limits.purchases.rate", 1)
        .set("limits.purchases.period_ms", 1000)
        .set("limits.purchases.burst", 2)
        .set("limits.penalty.strikes", 1000)
}

async fn read(
    http: &reqwest::Client,
    instance: &Instance,
    path: &str,
    xff: Option<&str>,
) -> reqwest::Response {
    let mut request = http.get(format!("{}{path}", instance.api.base));
    if let Some(xff) = xff {
        request = request.header("x-forwarded-for", xff);
    }
    request.send().await.unwrap()
}

fn header(response: &reqwest::Response, name: &str) -> String {
    response.headers()[name].to_str().unwrap().to_owned()
}

async fn the_limiter_admits_exactly_its_burst_then_refuses_with_headers(redis: Option<&TestRedis>) {
    let spawn = on(redis, limits).clock(manual_clock());
    let db = spawn.backend().database().await;
    let instance = spawn.instance(&db).await;
    let http = client();
    let product = instance.api.product(5, None).await;
    let path = format!("/products/{product}");
    for left in (0..5).rev() {
        let ok = read(&http, &instance, &path, None).await;
        assert_eq!(ok.status(), 200);
        assert_eq!(header(&ok, "ratelimit-policy"), "\"reads\";q=5;w=5");
        assert!(header(&ok, "ratelimit").starts_with(&format!("\"reads\";r={left};")));
    }
    let refused = read(&http, &instance, &path, None).await;
    assert_eq!(refused.status(), 429);
    assert_eq!(header(&refused, "retry-after"), "1");
    assert_eq!(header(&refused, "ratelimit-policy"), "\"reads\";q=5;w=5");
    assert!(header(&refused, "ratelimit").starts_with("\"reads\";r=0;"));
    assert_eq!(header(&refused, "content-type"), "application/problem+json");
    let body: Value = refused.json().await.unwrap();
    assert_eq!(
        (body["status"].as_i64(), body["code"].as_str()),
        (Some(429), Some("rate_limited"))
    );
    // Probes and the admin API are not limited.
    assert_eq!(read(&http, &instance, "/healthz", None).await.status(), 200);
}

async fn a_spoofed_forwarded_for_from_an_untrusted_peer_changes_nothing(redis: Option<&TestRedis>) {
    let spawn = on(redis, limits).clock(manual_clock());
    let db = spawn.backend().database().await;
    let http = client();
    // No proxy trusted (the default): a different X-Forwarded-For on every request changes nothing.
    let direct = spawn.instance(&db).await;
    let product = direct.api.product(5, None).await;
    let path = format!("/products/{product}");
    for i in 0..5 {
        let spoofed = format!("203.0.113.{i}");
        assert_eq!(
            read(&http, &direct, &path, Some(&spoofed)).await.status(),
            200
        );
    }
    assert_eq!(
        read(&http, &direct, &path, Some("198.51.100.1"))
            .await
            .status(),
        429
    );

    // Behind a trusted proxy each client has its own bucket, and what a client writes to the left
    // of the proxy's entry is ignored.
    let mut spawn = spawn.set("http.trusted_proxies", ["127.0.0.1/32"]);
    if let Some(redis) = redis {
        spawn = spawn.set("redis.key_prefix", format!("{}proxied:", redis.prefix));
    }
    let proxied = spawn.instance(&db).await;
    for _ in 0..5 {
        assert_eq!(
            read(&http, &proxied, &path, Some("192.0.2.1"))
                .await
                .status(),
            200
        );
    }
    assert_eq!(
        read(&http, &proxied, &path, Some("192.0.2.1"))
            .await
            .status(),
        429
    );
    assert_eq!(
        read(&http, &proxied, &path, Some("192.0.2.99, 192.0.2.1"))
            .await
            .status(),
        429
    );
    assert_eq!(
        read(&http, &proxied, &path, Some("192.0.2.2"))
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn purchases_are_limited_per_customer_whatever_address_they_come_from() {
    let db = TestDatabase::sqlite();
    let spawn = limits(Backend::Sqlite)
        .set("http.trusted_proxies", ["127.0.0.1/32"])
        .clock(manual_clock());
    let instance = spawn.instance(&db).await;
    let product = instance.api.product(100, None).await;
    let hoarder = format!("Bearer {}", instance.api.token("hoarder"));
    for i in 0..2 {
        let ip = format!("192.0.2.{i}");
        let ok = purchase(&instance, &hoarder, &format!("k{i}"), &ip, product).await;
        assert_eq!(ok.status(), 201);
    }
    let refused = purchase(&instance, &hoarder, "k2", "192.0.2.50", product).await;
    assert_eq!(refused.status(), 429);
    assert!(header(&refused, "ratelimit-policy").starts_with("\"purchases\";q=2;"));
    let someone_else = format!("Bearer {}", instance.api.token("someone-else"));
    assert_eq!(
        purchase(&instance, &someone_else, "k3", "192.0.2.51", product)
            .await
            .status(),
        201
    );
}

async fn the_penalty_box_blocks_and_releases_on_time(redis: Option<&TestRedis>) {
    let clock = manual_clock();
    let spawn = on(redis, limits)
        .set("limits.reads.burst", 2)
        .set("limits.penalty.strikes", 2)
        .set("limits.penalty.window_ms", 10_000)
        .set("limits.penalty.ban_ms", 60_000)
        .clock(clock.clone());
    let db = spawn.backend().database().await;
    let instance = spawn.instance(&db).await;
    let http = client();
    let product = instance.api.product(5, None).await;
    let path = format!("/products/{product}");
    let status = |xff: Option<&'static str>| {
        let (http, instance, path) = (http.clone(), &instance, path.clone());
        async move { read(&http, instance, &path, xff).await }
    };
    assert_eq!(status(None).await.status(), 200);
    assert_eq!(status(None).await.status(), 200);
    // Two refusals are tolerated; the third puts the client in the box for a minute.
    assert_eq!(header(&status(None).await, "retry-after"), "1");
    assert_eq!(header(&status(None).await, "retry-after"), "1");
    let banned = status(None).await;
    assert_eq!(banned.status(), 429);
    assert_eq!(header(&banned, "retry-after"), "60");
    // Its rate alone would let it in again by now; the ban does not.
    clock.advance(time::Duration::seconds(30));
    let still = status(None).await;
    assert_eq!(still.status(), 429);
    assert_eq!(header(&still, "retry-after"), "30");
    // Every door is shut, whatever the method.
    for (method, door) in [
        (reqwest::Method::HEAD, path.as_str()),
        (reqwest::Method::DELETE, "/orders"),
        (reqwest::Method::PUT, path.as_str()),
    ] {
        let refused = http.request(method.clone(), instance.api.url(door));
        let refused = refused.send().await.unwrap();
        assert_eq!(refused.status(), 429, "{method} {door}");
        assert_eq!(header(&refused, "retry-after"), "30", "{method} {door}");
    }
    assert_eq!(read(&http, &instance, "/healthz", None).await.status(), 200);
    clock.advance(time::Duration::milliseconds(29_999));
    assert_eq!(status(None).await.status(), 429);
    clock.advance(time::Duration::milliseconds(1));
    assert_eq!(status(None).await.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_redis_down_limits_fall_back_to_the_instance_and_readyz_says_degraded() {
    let db = TestDatabase::postgres().await;
    let mut redis = RedisProcess::start().await;
    let spawn = super::spawn(Backend::Postgres)
        .private_redis(&redis)
        .set("limits.reads.rate", 1)
        .set("limits.reads.burst", 3)
        .clock(manual_clock());
    let instance = spawn.instance(&db).await;
    let http = client();
    let product = instance.api.product(5, None).await;
    let path = format!("/products/{product}");
    let ready: Value = read(&http, &instance, "/readyz", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(ready["checks"]["redis"]["status"], "up");
    redis.kill();
    let ready = read(&http, &instance, "/readyz", None).await;
    assert_eq!(ready.status(), 200);
    let ready: Value = ready.json().await.unwrap();
    assert_eq!(ready["status"], "ready");
    assert_eq!(ready["checks"]["redis"]["status"], "degraded");
    for _ in 0..3 {
        assert_eq!(read(&http, &instance, &path, None).await.status(), 200);
    }
    assert_eq!(read(&http, &instance, &path, None).await.status(), 429);
    // And the keeper says so too.
    let step = instance.keeper.run_once().await.unwrap();
    assert!(step.degraded);
}
