//! Bad input gets a clear 4xx problem with a stable code, and nothing is written: the stock stays as it
//! was and no order, ledger, idempotency or holding row appears.

use crate::harness::api::{PROBLEM_JSON, key};
use crate::harness::{Backend, Spawn};
use flashgate::auth::BuyerTokens;
use flashgate_core::CustomerId;
use reqwest::Method;
use reqwest::header::CONTENT_TYPE;
use serde_json::json;

on_each_backend!(
    bad_purchases_are_refused_with_their_problem_code_and_write_nothing,
    admin_routes_refuse_a_missing_or_wrong_admin_token,
);

async fn bad_purchases_are_refused_with_their_problem_code_and_write_nothing(backend: Backend) {
    let app = Spawn::new(backend).start().await;
    let api = app.api(0);
    let product = api.product(10, Some(3)).await;
    let token = api.token("careless-buyer");
    let customer = CustomerId::parse("careless-buyer").unwrap();
    let expired = api
        .tokens()
        .mint(&customer, time::Duration::hours(-1))
        .unwrap();
    let foreign = BuyerTokens::new(b"someone-elses-signing-key-0123456789")
        .mint(&customer, time::Duration::hours(1))
        .unwrap();
    let oversized = format!(
        r#"{{"product_id":{product},"quantity":1,"note":"{}"}}"#,
        "x".repeat(20_000)
    );

    let typed = |content_type: &str, body: String| {
        api.request(Method::POST, "/orders")
            .bearer_auth(&token)
            .header("Idempotency-Key", key())
            .header(CONTENT_TYPE, content_type)
            .body(body)
    };
    let order = |body: String| typed("application/json", body);
    let json_order = |body: serde_json::Value| order(body.to_string());
    let cases = [
        (
            "malformed JSON",
            order(format!(r#"{{"product_id": {product}, "quantity": "#)),
            400,
            "malformed_json",
        ),
        (
            "an unknown field",
            json_order(json!({"product_id": product, "quantity": 1, "coupon": "FREE"})),
            422,
            "invalid_request",
        ),
        (
            "a missing field",
            json_order(json!({"product_id": product})),
            422,
            "invalid_request",
        ),
        (
            "a zero quantity",
            json_order(json!({"product_id": product, "quantity": 0})),
            422,
            "invalid_request",
        ),
        (
            "a negative quantity",
            json_order(json!({"product_id": product, "quantity": -3})),
            422,
            "invalid_request",
        ),
        (
            "a quantity over the maximum",
            json_order(json!({"product_id": product, "quantity": 1001})),
            422,
            "invalid_request",
        ),
        (
            "a quantity beyond 64 bits",
            order(format!(
                r#"{{"product_id":{product},"quantity":100000000000000000000000}}"#
            )),
            422,
            "invalid_request",
        ),
        (
            "a quantity as a string",
            json_order(json!({"product_id": product, "quantity": "1"})),
            422,
            "invalid_request",
        ),
        (
            "an unknown product",
            json_order(json!({"product_id": product + 1000, "quantity": 1})),
            422,
            "unknown_product",
        ),
        (
            "a non-positive product id",
            json_order(json!({"product_id": 0, "quantity": 1})),
            422,
            "unknown_product",
        ),
        (
            "a body over the limit",
            order(oversized),
            413,
            "payload_too_large",
        ),
        (
            "a wrong content type",
            typed(
                "text/plain",
                json!({"product_id": product, "quantity": 1}).to_string(),
            ),
            415,
            "unsupported_media_type",
        ),
        (
            "no content type",
            api.request(Method::POST, "/orders")
                .bearer_auth(&token)
                .header("Idempotency-Key", key())
                .body(json!({"product_id": product, "quantity": 1}).to_string()),
            415,
            "unsupported_media_type",
        ),
        (
            "no Idempotency-Key",
            api.request(Method::POST, "/orders")
                .bearer_auth(&token)
                .json(&json!({"product_id": product, "quantity": 1})),
            400,
            "idempotency_key_required",
        ),
        (
            "an unusable Idempotency-Key",
            api.request(Method::POST, "/orders")
                .bearer_auth(&token)
                .header("Idempotency-Key", "has spaces in it")
                .json(&json!({"product_id": product, "quantity": 1})),
            400,
            "invalid_idempotency_key",
        ),
        (
            "a key over 255 characters",
            api.request(Method::POST, "/orders")
                .bearer_auth(&token)
                .header("Idempotency-Key", "k".repeat(256))
                .json(&json!({"product_id": product, "quantity": 1})),
            400,
            "invalid_idempotency_key",
        ),
        (
            "no token",
            api.request(Method::POST, "/orders")
                .header("Idempotency-Key", key())
                .json(&json!({"product_id": product, "quantity": 1})),
            401,
            "unauthorized",
        ),
        (
            "a token that is not a JWT",
            api.request(Method::POST, "/orders")
                .bearer_auth("not-a-jwt")
                .header("Idempotency-Key", key())
                .json(&json!({"product_id": product, "quantity": 1})),
            401,
            "unauthorized",
        ),
        (
            "an expired token",
            api.request(Method::POST, "/orders")
                .bearer_auth(&expired)
                .header("Idempotency-Key", key())
                .json(&json!({"product_id": product, "quantity": 1})),
            401,
            "unauthorized",
        ),
        (
            "a token signed with another key",
            api.request(Method::POST, "/orders")
                .bearer_auth(&foreign)
                .header("Idempotency-Key", key())
                .json(&json!({"product_id": product, "quantity": 1})),
            401,
            "unauthorized",
        ),
        (
            "the admin token instead of a buyer's",
            api.admin(Method::POST, "/orders")
                .header("Idempotency-Key", key())
                .json(&json!({"product_id": product, "quantity": 1})),
            401,
            "unauthorized",
        ),
        (
            "a Basic credential",
            api.request(Method::POST, "/orders")
                .basic_auth("careless-buyer", Some("pw"))
                .header("Idempotency-Key", key())
                .json(&json!({"product_id": product, "quantity": 1})),
            401,
            "unauthorized",
        ),
        (
            "an order list without a token",
            api.request(Method::GET, "/orders"),
            401,
            "unauthorized",
        ),
        (
            "an unknown route",
            api.request(Method::GET, "/no/such/route"),
            404,
            "not_found",
        ),
        (
            "an unknown product page",
            api.request(Method::GET, &format!("/products/{}", product + 1000)),
            404,
            "product_not_found",
        ),
        (
            "a product page with a malformed id",
            api.request(Method::GET, "/products/abc"),
            404,
            "product_not_found",
        ),
    ];
    for (case, request, status, code) in cases {
        let answer = api.send(request).await;
        assert_eq!(
            (answer.status, answer.code().as_deref()),
            (status, Some(code)),
            "{case}: got {} {} {}",
            answer.status,
            answer.content_type(),
            String::from_utf8_lossy(&answer.body)
        );
        answer.assert_problem(status, code);
        if status == 401 {
            assert_eq!(
                answer.headers.get("www-authenticate").map(|v| v.as_bytes()),
                Some(&b"Bearer"[..]),
                "{case}"
            );
        }
    }

    assert_eq!(api.available(product).await, 10);
    let stock = app.stock(product).await;
    assert_eq!(
        (stock.total, stock.available, stock.reserved, stock.sold),
        (10, 10, 0, 0)
    );
    assert_eq!(
        app.direct().await.purchase_rows().await,
        0,
        "no purchase row was written"
    );
    app.assert_audit_clean().await;
}

async fn admin_routes_refuse_a_missing_or_wrong_admin_token(backend: Backend) {
    let app = Spawn::new(backend).start().await;
    let api = app.api(0);
    let product = api.product(10, None).await;
    let buyer = api.token("would-be-admin");
    let create = json!({"sku": "sneaky", "name": "Sneaky", "price_vnd": 1000, "stock": 5});
    let patch = json!({"price_vnd": 1});
    let restock = json!({"quantity": 1000});
    let routes = [
        (Method::POST, "/admin/products".to_owned(), create),
        (Method::PATCH, format!("/admin/products/{product}"), patch),
        (
            Method::POST,
            format!("/admin/products/{product}/restock"),
            restock,
        ),
    ];
    for (method, path, body) in routes {
        let tries = [
            ("no token", api.request(method.clone(), &path)),
            (
                "a wrong admin token",
                api.request(method.clone(), &path)
                    .bearer_auth("not-the-admin-token-at-all"),
            ),
            (
                "a buyer token",
                api.request(method.clone(), &path).bearer_auth(&buyer),
            ),
        ];
        for (case, request) in tries {
            let answer = api.send(request.json(&body)).await;
            assert_eq!(
                answer.content_type(),
                PROBLEM_JSON,
                "{method} {path} with {case}"
            );
            answer.assert_problem(401, "unauthorized");
        }
    }

    let products = api.get("/products", None).await.assert_status(200);
    assert_eq!(
        products["products"].as_array().map(Vec::len),
        Some(1),
        "{products}"
    );
    let shown = api
        .get(&format!("/products/{product}"), None)
        .await
        .assert_status(200);
    assert_eq!(
        (shown["price_vnd"].as_i64(), shown["available"].as_i64()),
        (Some(4_990_000), Some(10))
    );
}
