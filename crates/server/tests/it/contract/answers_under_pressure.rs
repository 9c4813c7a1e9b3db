//! The answers a route gives when its client is over a limit, when purchases queue past their budget,
//! and when the database is gone, each checked against the contract.

use super::checked::{ADMIN_TOKEN, Checked};
use super::document::Contract;
use super::sessions::forged_session;
use flashgate_store::testing::postgres_admin_url;
use flashgate_testkit::key;
use flashgate_testkit::{Backend, StockLock};
use reqwest::Method;
use reqwest::header::AUTHORIZATION;
use serde_json::json;
use sqlx::{Connection, PgConnection};

/// Tight limits: the second request of a kind is refused with the rate-limit headers.
pub async fn rate_limits_answer_as_documented(backend: Backend, contract: &Contract) {
    let mut spawn = crate::service::spawn(backend).set("limits.enabled", true);
    for policy in ["reads", "purchases", "callbacks", "sessions", "admin"] {
        spawn = spawn
            .set(&format!("limits.{policy}.rate"), 1)
            .set(&format!("limits.{policy}.period_ms"), 3_600_000)
            .set(&format!("limits.{policy}.burst"), 1);
    }
    let app = spawn.start().await;
    let api = app.api(0);
    let c = Checked { api, contract };
    let product = api.product(5, None).await;
    let token = api.token("hasty-buyer");
    let order = c
        .purchase(
            &token,
            &key(),
            json!({"product_id": product, "quantity": 1}),
        )
        .await;
    let order_id = order.assert_status(201)["id"].as_str().unwrap().to_owned();
    c.purchase(
        &token,
        &key(),
        json!({"product_id": product, "quantity": 1}),
    )
    .await
    .assert_problem(429, "rate_limited");
    c.get("/products").await.assert_status(200);
    for path in ["/products".to_owned(), format!("/products/{product}")] {
        c.get(&path).await.assert_problem(429, "rate_limited");
    }
    for path in ["/orders".to_owned(), format!("/orders/{order_id}")] {
        c.buyer(Method::GET, &path, &token)
            .await
            .assert_problem(429, "rate_limited");
    }
    c.get("/payments/vnpay/ipn").await.assert_status(200);
    for path in ["/payments/vnpay/ipn", "/payments/vnpay/return"] {
        c.get(path).await.assert_problem(429, "rate_limited");
    }
    c.buyer(Method::POST, "/sessions", &token)
        .await
        .assert_status(201);
    c.buyer(Method::POST, "/sessions", &token)
        .await
        .assert_problem(429, "rate_limited");
    c.call(Method::DELETE, "/sessions/current", |r| {
        r.header(AUTHORIZATION, forged_session())
    })
    .await
    .assert_problem(429, "rate_limited");
    // The product above took the admin's one request; every admin route refuses the next.
    let admin_routes = [
        (Method::POST, "/admin/products".to_owned()),
        (Method::PATCH, format!("/admin/products/{product}")),
        (Method::POST, format!("/admin/products/{product}/restock")),
        (Method::GET, "/admin/orders".to_owned()),
        (Method::GET, format!("/admin/orders/{order_id}")),
        (Method::POST, format!("/admin/orders/{order_id}/refund")),
        (Method::POST, format!("/admin/orders/{order_id}/review")),
        (Method::POST, format!("/admin/orders/{order_id}/refunded")),
        (Method::GET, "/admin/events".to_owned()),
        (Method::POST, "/admin/webhooks".to_owned()),
        (Method::GET, "/admin/webhooks".to_owned()),
        (Method::PATCH, format!("/admin/webhooks/{order_id}")),
        (Method::DELETE, format!("/admin/webhooks/{order_id}")),
        (Method::POST, format!("/admin/webhooks/{order_id}/replay")),
        (Method::GET, "/admin/dashboard".to_owned()),
        (Method::POST, "/admin/dashboard/login".to_owned()),
        (Method::GET, "/admin/dashboard/events".to_owned()),
    ];
    for (method, path) in admin_routes {
        c.admin(method, &path, json!({}))
            .await
            .assert_problem(429, "rate_limited");
    }
}

/// `/metrics` behind its token, and moved off the API's address.
pub async fn metrics_answer_as_documented(backend: Backend, contract: &Contract) {
    let token = "a-metrics-token-0123456789";
    let app = crate::service::spawn(backend)
        .set("metrics.token", token)
        .start()
        .await;
    let c = Checked {
        api: app.api(0),
        contract,
    };
    c.get("/metrics").await.assert_problem(401, "unauthorized");
    c.call(Method::GET, "/metrics", |r| r.bearer_auth("not-the-token"))
        .await
        .assert_problem(401, "unauthorized");
    assert_eq!(
        c.call(Method::GET, "/metrics", |r| r.bearer_auth(token))
            .await
            .status,
        200
    );
    drop(app);

    let app = crate::service::spawn(backend)
        .set("metrics.listen", "127.0.0.1:0")
        .start()
        .await;
    let c = Checked {
        api: app.api(0),
        contract,
    };
    c.get("/metrics").await.assert_problem(404, "not_found");
    let apart = app.instances[0].metrics.expect("a metrics address");
    let scraped = reqwest::get(format!("http://{apart}/metrics"))
        .await
        .unwrap();
    assert_eq!(scraped.status(), 200);
    assert!(
        scraped
            .text()
            .await
            .unwrap()
            .contains("flashgate_http_requests_total")
    );
}

/// One purchase slot, held by a purchase that waits behind a lock on the stock: the other purchase is
/// shed with 503 `overloaded`, and the held one completes once the lock goes.
pub async fn a_full_house_sheds_purchases_as_documented(backend: Backend, contract: &Contract) {
    let app = crate::service::spawn(backend)
        .set("shedding.max_concurrent_purchases", 1)
        .set("shedding.queue_budget_ms", 1)
        .start()
        .await;
    let api = app.api(0);
    let product = api.product(5, None).await;
    let mut lock = StockLock::take(backend, &app.db.url, product).await;
    let buy = |buyer: &str| {
        let api = api.clone();
        let token = api.token(buyer);
        async move { api.place_order(&token, &key(), product, 1).await }
    };
    let mut first = tokio::spawn(buy("patient-buyer"));
    let mut second = tokio::spawn(buy("impatient-buyer"));
    // Whichever purchase takes the slot waits behind the lock, so the other is answered first.
    let (shed, held) = tokio::select! {
        answer = &mut first => (answer.unwrap(), second),
        answer = &mut second => (answer.unwrap(), first),
    };
    contract.check(&Method::POST, "/orders", &shed);
    shed.assert_problem(503, "overloaded");
    lock.release().await;
    let served = held.await.unwrap();
    contract.check(&Method::POST, "/orders", &served);
    served.assert_status(201);
}

/// A PostgreSQL database that turns every connection away, before anything was cached.
pub async fn a_lost_database_answers_as_documented(contract: &Contract) {
    let app = crate::service::spawn(Backend::Postgres).start().await;
    let api = app.api(0);
    let c = Checked { api, contract };
    let name = app.db.url.rsplit('/').next().unwrap().to_owned();
    let mut admin = PgConnection::connect(&postgres_admin_url()).await.unwrap();
    for sql in [
        format!("ALTER DATABASE {name} ALLOW_CONNECTIONS false"),
        format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = '{name}' AND pid <> pg_backend_pid()"
        ),
    ] {
        sqlx::query(&sql).execute(&mut admin).await.unwrap();
    }
    let token = api.token("unlucky-buyer");
    let answers = [
        c.get("/readyz").await,
        c.get("/products").await,
        c.get("/products/1").await,
        c.admin(
            Method::POST,
            "/admin/products",
            json!({"sku": "lost", "name": "Lost", "price_vnd": 10_000, "stock": 1}),
        )
        .await,
        c.admin(Method::PATCH, "/admin/products/1", json!({"name": "x"}))
            .await,
        c.admin(
            Method::POST,
            "/admin/products/1/restock",
            json!({"quantity": 1}),
        )
        .await,
        c.purchase(&token, &key(), json!({"product_id": 1, "quantity": 1}))
            .await,
        c.buyer(Method::GET, "/orders", &token).await,
        c.call(Method::GET, "/admin/orders", |r| r.bearer_auth(ADMIN_TOKEN))
            .await,
        c.call(Method::GET, "/admin/events", |r| r.bearer_auth(ADMIN_TOKEN))
            .await,
        c.admin(
            Method::POST,
            "/admin/webhooks",
            json!({"url": "http://127.0.0.1:9/hook"}),
        )
        .await,
        c.call(Method::GET, "/admin/webhooks", |r| {
            r.bearer_auth(ADMIN_TOKEN)
        })
        .await,
        c.admin(
            Method::PATCH,
            &format!("/admin/webhooks/{}", uuid::Uuid::new_v4()),
            json!({"enabled": true}),
        )
        .await,
        c.call(
            Method::DELETE,
            &format!("/admin/webhooks/{}", uuid::Uuid::new_v4()),
            |r| r.bearer_auth(ADMIN_TOKEN),
        )
        .await,
        c.admin(
            Method::POST,
            &format!("/admin/webhooks/{}/replay", uuid::Uuid::new_v4()),
            json!({"since": "2026-01-01T00:00:00Z"}),
        )
        .await,
        c.call(
            Method::GET,
            &format!("/admin/orders/{}", uuid::Uuid::new_v4()),
            |r| r.bearer_auth(ADMIN_TOKEN),
        )
        .await,
        c.call(
            Method::POST,
            &format!("/admin/orders/{}/refund", uuid::Uuid::new_v4()),
            |r| r.bearer_auth(ADMIN_TOKEN).header("Idempotency-Key", "lost"),
        )
        .await,
        c.admin(
            Method::POST,
            &format!("/admin/orders/{}/review", uuid::Uuid::new_v4()),
            json!({"decision": "refund"}),
        )
        .await,
        c.admin(
            Method::POST,
            &format!("/admin/orders/{}/refunded", uuid::Uuid::new_v4()),
            json!({"reason": "bank transfer"}),
        )
        .await,
        c.buyer(
            Method::GET,
            &format!("/orders/{}", uuid::Uuid::new_v4()),
            &token,
        )
        .await,
        // Sessions live in the database.
        c.call(Method::POST, "/sessions", |r| r.bearer_auth(&token))
            .await,
        c.call(Method::DELETE, "/sessions/current", |r| {
            r.header(AUTHORIZATION, forged_session())
        })
        .await,
        c.call(Method::GET, "/orders", |r| {
            r.header(AUTHORIZATION, forged_session())
        })
        .await,
    ];
    for answer in answers {
        assert_eq!(answer.status, 503, "{answer:?}");
    }
    // VNPay's endpoints keep answering in VNPay's terms.
    c.get("/payments/vnpay/ipn?vnp_TxnRef=1&vnp_SecureHash=00")
        .await
        .assert_status(200);
    assert_eq!(c.get("/payments/vnpay/return").await.status, 200);
    sqlx::query(&format!("ALTER DATABASE {name} ALLOW_CONNECTIONS true"))
        .execute(&mut admin)
        .await
        .unwrap();
}
