//! The admin routes answer 401 to anyone without the admin token (no token, a wrong one, a buyer's),
//! and change nothing.

use flashgate_testkit::{Backend, PRICE_VND};
use reqwest::Method;
use serde_json::json;

on_each_backend!(admin_routes_refuse_a_missing_or_wrong_admin_token);

async fn admin_routes_refuse_a_missing_or_wrong_admin_token(backend: Backend) {
    let app = super::spawn(backend).start().await;
    let api = app.api(0);
    let product = api.product(10, None).await;
    let buyer = api.token("would-be-admin");
    let routes = [
        (
            Method::POST,
            "/admin/products".to_owned(),
            json!({"sku": "sneaky", "name": "Sneaky", "price_vnd": 1000, "stock": 5}),
        ),
        (
            Method::PATCH,
            format!("/admin/products/{product}"),
            json!({"price_vnd": 1}),
        ),
        (
            Method::POST,
            format!("/admin/products/{product}/restock"),
            json!({"quantity": 1000}),
        ),
    ];
    for (method, path, body) in routes {
        for (case, token) in [
            ("no token", None),
            ("a wrong admin token", Some("not-the-admin-token-at-all")),
            ("a buyer token", Some(buyer.as_str())),
        ] {
            let mut request = api.request(method.clone(), &path).json(&body);
            if let Some(token) = token {
                request = request.bearer_auth(token);
            }
            let answer = api.send(request).await;
            assert_eq!(
                answer.status, 401,
                "{method} {path} with {case}: {answer:?}"
            );
            answer.assert_problem(401, "unauthorized");
        }
    }

    let products = api.get("/products", None).await.assert_status(200);
    let products = products["products"].as_array().expect("a list").clone();
    assert_eq!(products.len(), 1, "{products:?}");
    assert_eq!(products[0]["price_vnd"], PRICE_VND);
    assert_eq!(app.stock(product).await.total, 10);
}
