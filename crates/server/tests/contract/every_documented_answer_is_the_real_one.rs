//! Every route driven through real requests, to its success and to each error it documents, with every
//! answer checked against the served document; at the end, every answer the document promises for a
//! route has been seen (the 503s on PostgreSQL only, where the test can take the database away).

use crate::contract::Contract;
use crate::harness::api::key;
use crate::harness::{Answer, Api, Backend, Spawn, StockLock};
use flashgate_store::testing::postgres_admin_url;
use reqwest::header::{CONTENT_TYPE, IF_NONE_MATCH};
use reqwest::{Method, RequestBuilder};
use serde_json::{Value, json};
use sqlx::{Connection, PgConnection};

on_each_backend!(every_documented_answer_is_the_real_one);

/// Requests to one instance whose answers are all checked against the contract.
struct Checked<'a> {
    api: &'a Api,
    contract: &'a Contract,
}

impl Checked<'_> {
    async fn call(
        &self,
        method: Method,
        path: &str,
        build: impl FnOnce(RequestBuilder) -> RequestBuilder,
    ) -> Answer {
        let answer = self
            .api
            .send(build(self.api.request(method.clone(), path)))
            .await;
        self.contract
            .check(&method, path.split('?').next().unwrap_or(path), &answer);
        answer
    }

    async fn get(&self, path: &str) -> Answer {
        self.call(Method::GET, path, |r| r).await
    }

    async fn buyer(&self, method: Method, path: &str, token: &str) -> Answer {
        self.call(method, path, |r| r.bearer_auth(token)).await
    }

    async fn admin(&self, method: Method, path: &str, body: Value) -> Answer {
        self.call(method, path, |r| r.bearer_auth(ADMIN_TOKEN).json(&body))
            .await
    }

    async fn purchase(&self, token: &str, key: &str, body: Value) -> Answer {
        self.call(Method::POST, "/orders", |r| {
            r.bearer_auth(token)
                .header("Idempotency-Key", key)
                .json(&body)
        })
        .await
    }

    /// The answers every JSON-body route gives to a body it cannot read or take.
    async fn refuse_bodies(&self, method: Method, path: &str, auth: &str, key: Option<&str>) {
        let with = |r: RequestBuilder| {
            let r = r.bearer_auth(auth);
            match key {
                Some(key) => r.header("Idempotency-Key", key),
                None => r,
            }
        };
        let cases: [(u16, Option<&str>, String); 5] = [
            (400, Some("application/json"), "{\"oops".to_owned()),
            (415, Some("text/plain"), "{}".to_owned()),
            (415, None, "{}".to_owned()),
            (
                413,
                Some("application/json"),
                format!("\"{}\"", "x".repeat(20_000)),
            ),
            (422, Some("application/json"), "[1, 2]".to_owned()),
        ];
        for (status, content_type, body) in cases {
            let answer = self
                .call(method.clone(), path, |r| {
                    let r = with(r).body(body);
                    match content_type {
                        Some(ct) => r.header(CONTENT_TYPE, ct),
                        None => r,
                    }
                })
                .await;
            assert_eq!(answer.status, status, "{answer:?}");
        }
        for token in [None, Some("not-a-token")] {
            let answer = self
                .call(method.clone(), path, |r| {
                    let r = r.json(&json!({}));
                    match token {
                        Some(t) => r.bearer_auth(t),
                        None => r,
                    }
                })
                .await;
            answer.assert_problem(401, "unauthorized");
        }
    }
}

/// The admin token of the defaults file, which the test settings keep.
const ADMIN_TOKEN: &str = "dev-admin-token-change-me";

async fn fetch_contract(api: &Api) -> Contract {
    let answer = api.get("/openapi.json", None).await;
    Contract::new(answer.assert_status(200))
}

async fn every_documented_answer_is_the_real_one(backend: Backend) {
    let app = Spawn::new(backend).start().await;
    let api = app.api(0);
    let contract = fetch_contract(api).await;
    let c = Checked {
        api,
        contract: &contract,
    };

    for path in ["/healthz", "/readyz", "/metrics", "/openapi.json"] {
        assert_eq!(c.get(path).await.status, 200);
    }
    c.get("/no/such/route").await;
    c.call(Method::DELETE, "/products/1", |r| r).await;
    c.call(Method::PUT, "/orders", |r| r).await;

    // The catalogue, as the admin keeps it.
    let sku = format!("sku-{}", uuid::Uuid::new_v4().simple());
    let phone = json!({"sku": sku, "name": "Flash phone", "price_vnd": 4_990_000, "stock": 3,
        "per_customer_limit": 2, "sale_starts_at": null});
    let created = c
        .admin(Method::POST, "/admin/products", phone.clone())
        .await;
    let product = created.assert_status(201)["id"].as_i64().unwrap();
    c.admin(Method::POST, "/admin/products", phone)
        .await
        .assert_problem(409, "duplicate_sku");
    c.admin(
        Method::POST,
        "/admin/products",
        json!({"sku": "x", "name": "n", "price_vnd": -1, "stock": 1}),
    )
    .await
    .assert_problem(422, "invalid_request");
    c.refuse_bodies(Method::POST, "/admin/products", ADMIN_TOKEN, None)
        .await;
    let one = c
        .admin(
            Method::POST,
            "/admin/products",
            json!({"sku": format!("one-{}", uuid::Uuid::new_v4().simple()), "name": "Last unit",
                "price_vnd": 10_000, "stock": 1}),
        )
        .await;
    let last_unit = one.assert_status(201)["id"].as_i64().unwrap();

    let item = format!("/admin/products/{product}");
    c.admin(
        Method::PATCH,
        &item,
        json!({"name": "Flash phone 2", "sale_ends_at": null}),
    )
    .await
    .assert_status(200);
    c.admin(
        Method::PATCH,
        "/admin/products/987654321",
        json!({"name": "x"}),
    )
    .await
    .assert_problem(404, "product_not_found");
    c.admin(Method::PATCH, &item, json!({"price_vnd": 0}))
        .await
        .assert_problem(422, "invalid_request");
    c.refuse_bodies(Method::PATCH, &item, ADMIN_TOKEN, None)
        .await;

    let restock = format!("{item}/restock");
    c.admin(Method::POST, &restock, json!({"quantity": 2}))
        .await
        .assert_status(200);
    c.admin(
        Method::POST,
        "/admin/products/abc/restock",
        json!({"quantity": 2}),
    )
    .await
    .assert_problem(404, "product_not_found");
    c.admin(Method::POST, &restock, json!({"quantity": 0}))
        .await
        .assert_problem(422, "invalid_request");
    c.refuse_bodies(Method::POST, &restock, ADMIN_TOKEN, None)
        .await;

    // Buyers' reads, with their validators.
    let list = c.get("/products").await;
    list.assert_status(200);
    let etag = list.headers["etag"].to_str().unwrap().to_owned();
    let again = c
        .call(Method::GET, "/products", |r| r.header(IF_NONE_MATCH, &etag))
        .await;
    assert_eq!(again.status, 304, "{again:?}");
    let one_product = c.get(&format!("/products/{product}")).await;
    one_product.assert_status(200);
    let etag = one_product.headers["etag"].to_str().unwrap().to_owned();
    let again = c
        .call(Method::GET, &format!("/products/{product}"), |r| {
            r.header(IF_NONE_MATCH, &etag)
        })
        .await;
    assert_eq!(again.status, 304, "{again:?}");
    for missing in ["/products/987654321", "/products/0", "/products/abc"] {
        c.get(missing)
            .await
            .assert_problem(404, "product_not_found");
    }

    // Purchases.
    let token = api.token("contract-buyer");
    let first = key();
    let order = c
        .purchase(
            &token,
            &first,
            json!({"product_id": product, "quantity": 1}),
        )
        .await;
    let order_id = order.assert_status(201)["id"].as_str().unwrap().to_owned();
    let replay = c
        .purchase(
            &token,
            &first,
            json!({"product_id": product, "quantity": 1}),
        )
        .await;
    assert_eq!(replay.status, 201);
    assert!(replay.headers.contains_key("idempotent-replayed"));
    c.purchase(
        &token,
        &first,
        json!({"product_id": product, "quantity": 2}),
    )
    .await
    .assert_problem(409, "idempotency_conflict");
    c.purchase(
        &token,
        &key(),
        json!({"product_id": product, "quantity": 2}),
    )
    .await
    .assert_problem(403, "limit_exceeded");
    c.purchase(
        &token,
        &key(),
        json!({"product_id": 987_654_321, "quantity": 1}),
    )
    .await
    .assert_problem(422, "unknown_product");
    c.purchase(
        &token,
        &key(),
        json!({"product_id": product, "quantity": 0}),
    )
    .await
    .assert_problem(422, "invalid_request");
    c.purchase(
        &token,
        &key(),
        json!({"product_id": last_unit, "quantity": 1}),
    )
    .await
    .assert_status(201);
    c.purchase(
        &token,
        &key(),
        json!({"product_id": last_unit, "quantity": 1}),
    )
    .await
    .assert_problem(409, "sold_out");
    c.call(Method::POST, "/orders", |r| {
        r.bearer_auth(&token)
            .json(&json!({"product_id": product, "quantity": 1}))
    })
    .await
    .assert_problem(400, "idempotency_key_required");
    c.refuse_bodies(Method::POST, "/orders", &token, Some(&key()))
        .await;

    // The buyer's orders, and nobody else's.
    c.buyer(Method::GET, "/orders", &token)
        .await
        .assert_status(200);
    c.buyer(Method::GET, "/orders?limit=0", &token)
        .await
        .assert_problem(422, "invalid_request");
    c.buyer(Method::GET, &format!("/orders/{order_id}"), &token)
        .await
        .assert_status(200);
    let stranger = api.token("contract-stranger");
    for path in [
        format!("/orders/{order_id}"),
        format!("/orders/{}", uuid::Uuid::new_v4()),
        "/orders/not-a-uuid".to_owned(),
    ] {
        c.buyer(Method::GET, &path, &stranger)
            .await
            .assert_problem(404, "order_not_found");
    }
    for path in ["/orders".to_owned(), format!("/orders/{order_id}")] {
        c.get(&path).await.assert_problem(401, "unauthorized");
    }

    // The gateway's callbacks answer in their own terms whatever they are sent.
    let ipn = c
        .get("/payments/vnpay/ipn?vnp_TxnRef=nope&vnp_SecureHash=00")
        .await;
    assert_eq!(ipn.assert_status(200)["RspCode"], "97");
    c.get("/payments/vnpay/return").await;

    rate_limits_answer_as_documented(backend, &contract).await;
    a_full_house_sheds_purchases_as_documented(backend, &contract).await;
    if backend == Backend::Postgres {
        a_lost_database_answers_as_documented(&contract).await;
    }

    // SQLite cannot be taken away from a running instance, so its 503s other than shedding go unseen.
    let missing: Vec<_> = contract
        .documented_answers()
        .difference(&contract.seen())
        .filter(|(id, status)| {
            backend == Backend::Postgres || status != "503" || id == "create_order"
        })
        .cloned()
        .collect();
    assert!(
        missing.is_empty(),
        "documented answers no request produced: {missing:?}"
    );
}

/// Tight limits: the second request of a kind is refused with the rate-limit headers.
async fn rate_limits_answer_as_documented(backend: Backend, contract: &Contract) {
    let mut spawn = Spawn::new(backend).set("limits.enabled", true);
    for policy in ["reads", "purchases", "callbacks"] {
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
}

/// One purchase slot, held by a purchase that waits behind a lock on the stock: the other purchase is
/// shed with 503 `overloaded`, and the held one completes once the lock goes.
async fn a_full_house_sheds_purchases_as_documented(backend: Backend, contract: &Contract) {
    let app = Spawn::new(backend)
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
async fn a_lost_database_answers_as_documented(contract: &Contract) {
    let app = Spawn::new(Backend::Postgres).start().await;
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
            json!({"sku": "lost", "name": "Lost", "price_vnd": 1000, "stock": 1}),
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
        c.buyer(
            Method::GET,
            &format!("/orders/{}", uuid::Uuid::new_v4()),
            &token,
        )
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
