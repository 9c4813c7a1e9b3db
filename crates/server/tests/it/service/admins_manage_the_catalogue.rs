//! The admin API over HTTP: creating a product, refusing a duplicate sku, changing price, limit and sale
//! window, restocking; and what buyers see of each change.

use flashgate_testkit::Backend;
use flashgate_testkit::key;
use reqwest::Method;
use serde_json::json;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

on_each_backend!(
    a_created_product_is_answered_201_and_shown_to_buyers,
    a_duplicate_sku_is_refused_and_creates_nothing,
    a_patch_changes_price_limit_and_window_and_buyers_see_it,
    a_restock_raises_the_available_units,
    a_sale_window_in_the_future_refuses_purchases,
);

async fn a_created_product_is_answered_201_and_shown_to_buyers(backend: Backend) {
    let app = super::spawn(backend).start().await;
    let api = app.api(0);
    let created = api
        .create_product(json!({
            "sku": "PHONE-X.1", "name": "Phone X", "price_vnd": 12_990_000, "stock": 25,
            "per_customer_limit": 2, "sale_starts_at": "2020-01-01T00:00:00Z",
        }))
        .await
        .assert_status(201);
    let id = created["id"].as_i64().expect("an id");
    assert_eq!(created["sku"], "PHONE-X.1");
    assert_eq!(created["name"], "Phone X");
    assert_eq!(created["price_vnd"], 12_990_000);
    assert_eq!(created["available"], 25);
    assert_eq!(created["per_customer_limit"], 2);
    assert_eq!(created["sale_starts_at"], "2020-01-01T00:00:00Z");
    assert_eq!(created["sale_ends_at"], serde_json::Value::Null);
    assert_eq!(
        created["stock"],
        json!({"total": 25, "available": 25, "reserved": 0, "sold": 0})
    );

    let shown = api
        .get(&format!("/products/{id}"), None)
        .await
        .assert_status(200);
    let mut expected = created.clone();
    expected.as_object_mut().expect("an object").remove("stock");
    assert_eq!(
        shown, expected,
        "buyers see the product without its counters"
    );
    let listed = api.get("/products", None).await.assert_status(200);
    assert_eq!(listed["products"], json!([expected]));
    app.assert_audit_clean().await;
}

async fn a_duplicate_sku_is_refused_and_creates_nothing(backend: Backend) {
    let app = super::spawn(backend).start().await;
    let api = app.api(0);
    let body = json!({"sku": "ONLY-ONE", "name": "First", "price_vnd": 10_000, "stock": 3});
    api.create_product(body).await.assert_status(201);
    let again = json!({"sku": "ONLY-ONE", "name": "Second", "price_vnd": 20_000, "stock": 9});
    api.create_product(again)
        .await
        .assert_problem(409, "duplicate_sku");
    let listed = api.get("/products", None).await.assert_status(200);
    let products = listed["products"].as_array().expect("a list");
    assert_eq!(products.len(), 1);
    assert_eq!(products[0]["name"], "First");
    assert_eq!(products[0]["available"], 3);
}

async fn a_patch_changes_price_limit_and_window_and_buyers_see_it(backend: Backend) {
    let app = super::spawn(backend).start().await;
    let api = app.api(0);
    let id = api.product(10, None).await;
    let patch = json!({
        "name": "Phone X (flash)", "price_vnd": 3_990_000, "per_customer_limit": 1,
        "sale_starts_at": "2021-06-01T10:00:00Z", "sale_ends_at": "2999-06-01T11:00:00Z",
    });
    let patched = api
        .send(
            api.admin(Method::PATCH, &format!("/admin/products/{id}"))
                .json(&patch),
        )
        .await
        .assert_status(200);
    let shown = api
        .get(&format!("/products/{id}"), None)
        .await
        .assert_status(200);
    for view in [&patched, &shown] {
        assert_eq!(view["name"], "Phone X (flash)", "{view}");
        assert_eq!(view["price_vnd"], 3_990_000, "{view}");
        assert_eq!(view["per_customer_limit"], 1, "{view}");
        assert_eq!(view["sale_starts_at"], "2021-06-01T10:00:00Z", "{view}");
        assert_eq!(view["sale_ends_at"], "2999-06-01T11:00:00Z", "{view}");
        assert_eq!(view["available"], 10, "{view}");
    }

    // The new price and limit apply to the next purchase.
    let token = api.token("price-watcher");
    let order = api
        .place_order(&token, &key(), id, 1)
        .await
        .assert_status(201);
    assert_eq!(order["amount_vnd"], 3_990_000);
    api.place_order(&token, &key(), id, 1)
        .await
        .assert_problem(403, "limit_exceeded");

    // `null` clears the limit; fields left out stay as they are.
    let cleared = api
        .send(
            api.admin(Method::PATCH, &format!("/admin/products/{id}"))
                .json(&json!({"per_customer_limit": null})),
        )
        .await
        .assert_status(200);
    assert_eq!(cleared["per_customer_limit"], serde_json::Value::Null);
    assert_eq!(cleared["price_vnd"], 3_990_000);
    api.place_order(&token, &key(), id, 1)
        .await
        .assert_status(201);

    // The buyer now holds 2: the limit can go down to 2, not below, and a refusal changes nothing.
    let limit = |n: i64| {
        api.send(
            api.admin(Method::PATCH, &format!("/admin/products/{id}"))
                .json(&json!({"per_customer_limit": n})),
        )
    };
    limit(1).await.assert_problem(409, "limit_below_holdings");
    let unchanged = api.get(&format!("/products/{id}"), None).await;
    assert_eq!(
        unchanged.assert_status(200)["per_customer_limit"],
        serde_json::Value::Null
    );
    assert_eq!(limit(2).await.assert_status(200)["per_customer_limit"], 2);
    app.assert_audit_clean().await;

    // A window that ends before it starts is refused and changes nothing.
    let backwards =
        json!({"sale_starts_at": "2030-01-02T00:00:00Z", "sale_ends_at": "2030-01-01T00:00:00Z"});
    api.send(
        api.admin(Method::PATCH, &format!("/admin/products/{id}"))
            .json(&backwards),
    )
    .await
    .assert_problem(422, "invalid_request");
    let unchanged = api
        .get(&format!("/products/{id}"), None)
        .await
        .assert_status(200);
    assert_eq!(unchanged["sale_starts_at"], "2021-06-01T10:00:00Z");
    api.send(
        api.admin(Method::PATCH, "/admin/products/987654")
            .json(&patch),
    )
    .await
    .assert_problem(404, "product_not_found");
    app.assert_audit_clean().await;
}

async fn a_restock_raises_the_available_units(backend: Backend) {
    let app = super::spawn(backend).start().await;
    let api = app.api(0);
    let id = api.product(2, None).await;
    let token = api.token("early-bird");
    api.place_order(&token, &key(), id, 2)
        .await
        .assert_status(201);
    api.place_order(&token, &key(), id, 1)
        .await
        .assert_problem(409, "sold_out");

    let restock = |quantity: i64| {
        api.admin(Method::POST, &format!("/admin/products/{id}/restock"))
            .json(&json!({ "quantity": quantity }))
    };
    let restocked = api.send(restock(5)).await.assert_status(200);
    assert_eq!(restocked["available"], 5);
    assert_eq!(
        restocked["stock"],
        json!({"total": 7, "available": 5, "reserved": 2, "sold": 0})
    );
    assert_eq!(api.available(id).await, 5);
    api.send(restock(0))
        .await
        .assert_problem(422, "invalid_request");
    api.send(restock(-5))
        .await
        .assert_problem(422, "invalid_request");
    api.send(
        api.admin(Method::POST, "/admin/products/987654/restock")
            .json(&json!({"quantity": 1})),
    )
    .await
    .assert_problem(404, "product_not_found");

    api.place_order(&token, &key(), id, 5)
        .await
        .assert_status(201);
    assert_eq!(api.available(id).await, 0);
    app.assert_audit_clean().await;
}

async fn a_sale_window_in_the_future_refuses_purchases(backend: Backend) {
    let app = super::spawn(backend).start().await;
    let api = app.api(0);
    let opens = (OffsetDateTime::now_utc() + time::Duration::days(1))
        .format(&Rfc3339)
        .expect("a formatted time");
    let created = api
        .create_product(json!({
            "sku": "TOMORROW", "name": "Tomorrow's deal", "price_vnd": 99_000, "stock": 5,
            "sale_starts_at": opens,
        }))
        .await
        .assert_status(201);
    let id = created["id"].as_i64().expect("an id");
    let token = api.token("too-early");
    api.place_order(&token, &key(), id, 1)
        .await
        .assert_problem(409, "sale_not_active");

    let closed =
        json!({"sale_starts_at": "2020-01-01T00:00:00Z", "sale_ends_at": "2020-01-02T00:00:00Z"});
    api.send(
        api.admin(Method::PATCH, &format!("/admin/products/{id}"))
            .json(&closed),
    )
    .await
    .assert_status(200);
    api.place_order(&token, &key(), id, 1)
        .await
        .assert_problem(409, "sale_not_active");

    assert_eq!(api.available(id).await, 5);
    assert_eq!(app.direct().await.purchase_rows().await, 0);
}
