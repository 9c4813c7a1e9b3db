//! Amounts the gateway cannot take are refused before anything is written, and the operator's order
//! tools: search, detail, refund (once per key) and review settlement.

use super::order_ids;
use flashgate::auth::BuyerTokens;
use flashgate_core::{CustomerId, OrderStatus};
use flashgate_testkit::{
    Backend, Instance, client, json_of, manual_clock, order_uuid, payment_url,
};
use serde_json::{Value, json};
use vnpay_sim::Outcome;

fn admin(app: &Instance, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
    client()
        .request(method, app.api.url(path))
        .bearer_auth(app.api.admin_token())
}

async fn prices_and_amounts_the_gateway_cannot_take_are_refused_and_write_nothing(
    backend: Backend,
) {
    let db = backend.database().await;
    let app = super::spawn(backend, manual_clock()).instance(&db).await;
    let cheap = admin(&app, reqwest::Method::POST, "/admin/products")
        .json(&json!({"sku": "CHEAP-1", "name": "Sticker", "price_vnd": 1_000, "stock": 5}))
        .send()
        .await
        .unwrap();
    assert_eq!(cheap.status(), 422);
    assert_eq!(
        cheap.json::<Value>().await.unwrap()["code"],
        "price_not_payable"
    );
    let products: Value = json_of(client().get(app.api.url("/products"))).await;
    assert_eq!(
        products["products"].as_array().map(Vec::len),
        Some(0),
        "{products}"
    );

    let dear = admin(&app, reqwest::Method::POST, "/admin/products")
        .json(&json!({"sku": "DEAR-1", "name": "Car", "price_vnd": 999_999_999, "stock": 5}))
        .send()
        .await
        .unwrap();
    assert_eq!(dear.status(), 201);
    let product = dear.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
    let lowered = admin(
        &app,
        reqwest::Method::PATCH,
        &format!("/admin/products/{product}"),
    )
    .json(&json!({"price_vnd": 4_999}))
    .send()
    .await
    .unwrap();
    assert_eq!(lowered.status(), 422);
    assert_eq!(
        lowered.json::<Value>().await.unwrap()["code"],
        "price_not_payable"
    );

    let token = BuyerTokens::new(b"dev-jwt-secret-change-me-0123456789abcdef")
        .mint(
            &CustomerId::parse("cus_two_cars").unwrap(),
            time::Duration::hours(1),
        )
        .unwrap();
    let two = client()
        .post(app.api.url("/orders"))
        .bearer_auth(token)
        .header("Idempotency-Key", "two-cars")
        .json(&json!({"product_id": product, "quantity": 2}))
        .send()
        .await
        .unwrap();
    assert_eq!(two.status(), 422);
    assert_eq!(
        two.json::<Value>().await.unwrap()["code"],
        "amount_not_payable"
    );
    assert_eq!(app.api.available(product).await, 5, "no unit taken");
    let orders = app
        .store
        .order_search
        .search(&flashgate_core::order_search::OrderFilter {
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap()
        .orders;
    assert!(orders.is_empty(), "no order written: {orders:?}");
    app.assert_audit_clean().await;
}
on_each_backend!(prices_and_amounts_the_gateway_cannot_take_are_refused_and_write_nothing);

async fn get_json(app: &Instance, path: &str) -> Value {
    let answer = admin(app, reqwest::Method::GET, path).send().await.unwrap();
    assert_eq!(answer.status(), 200, "{path}");
    answer.json().await.unwrap()
}

async fn operators_search_read_refund_once_and_settle_reviews(backend: Backend) {
    let db = backend.database().await;
    let clock = manual_clock();
    let app = super::spawn(backend, clock.clone()).instance(&db).await;
    let phones = app.api.product(10, None).await;
    let cases = app.api.product(10, None).await;
    let mut placed = Vec::new();
    for i in 0..5 {
        placed.push(app.api.win(&format!("cus_ops_{i}"), phones).await);
        clock.advance(time::Duration::seconds(1));
    }
    let other = app.api.win("cus_ops_0", cases).await;
    app.sim()
        .pay(payment_url(&placed[0]), Outcome::Success)
        .unwrap();
    app.sim()
        .pay(payment_url(&placed[1]), Outcome::Suspicious)
        .unwrap();
    app.sim().ipn_idle().await;

    // Filters, and pages that meet without a gap or an overlap.
    let page = get_json(&app, &format!("/admin/orders?product_id={phones}&limit=2")).await;
    let mut seen = order_ids(&page);
    let mut cursor = page["next_cursor"].as_str().map(str::to_owned);
    while let Some(c) = cursor {
        let page = get_json(
            &app,
            &format!("/admin/orders?product_id={phones}&limit=2&cursor={c}"),
        )
        .await;
        seen.extend(order_ids(&page));
        cursor = page["next_cursor"].as_str().map(str::to_owned);
    }
    let newest_first: Vec<String> = placed
        .iter()
        .rev()
        .map(|a| a["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(seen, newest_first);
    // A full page that is the last has no cursor (to an empty page); one more order makes it not last.
    let whole = get_json(&app, &format!("/admin/orders?product_id={phones}&limit=5")).await;
    assert_eq!(order_ids(&whole), newest_first);
    assert_eq!(whole.get("next_cursor"), None, "{whole}");
    let first = get_json(&app, &format!("/admin/orders?product_id={phones}&limit=4")).await;
    assert_eq!(order_ids(&first), newest_first[..4]);
    let cursor = first["next_cursor"]
        .as_str()
        .expect("a cursor to the fifth order");
    let last = get_json(
        &app,
        &format!("/admin/orders?product_id={phones}&limit=4&cursor={cursor}"),
    )
    .await;
    assert_eq!(order_ids(&last), newest_first[4..]);
    assert_eq!(last.get("next_cursor"), None, "{last}");
    assert_eq!(
        order_ids(&get_json(&app, "/admin/orders?customer=cus_ops_0").await).len(),
        2
    );
    assert_eq!(
        order_ids(&get_json(&app, "/admin/orders?status=payment_review").await),
        [placed[1]["id"].as_str().unwrap()]
    );
    let since = time::format_description::well_known::Rfc3339;
    let from = app
        .order(&placed[3])
        .await
        .created_at
        .format(&since)
        .unwrap();
    let recent = get_json(
        &app,
        &format!("/admin/orders?created_from={}", from.replace('+', "%2B")),
    )
    .await;
    assert_eq!(
        order_ids(&recent).len(),
        3,
        "placed[3], placed[4] and the other product's order"
    );
    assert!(order_ids(&recent).contains(&other["id"].as_str().unwrap().to_owned()));

    // One order's whole story.
    let paid = order_uuid(&placed[0]);
    let detail = get_json(&app, &format!("/admin/orders/{paid}")).await;
    assert_eq!(detail["order"]["status"], "paid");
    assert_eq!(detail["ledger"].as_array().map(Vec::len), Some(2));
    assert_eq!(detail["payment_events"][0]["source"], "ipn");

    // A full refund asked eight times at once with one key, as a client retrying on a timeout
    // does: every answer is the refund started, and one refund is made.
    let asks = (0..8).map(|_| {
        admin(
            &app,
            reqwest::Method::POST,
            &format!("/admin/orders/{paid}/refund"),
        )
        .header("Idempotency-Key", "refund-once")
        .send()
    });
    for refund in futures_util::future::join_all(asks).await {
        let refund = refund.unwrap();
        assert_eq!(refund.status(), 202, "{:?}", refund.text().await);
    }
    let again = admin(
        &app,
        reqwest::Method::POST,
        &format!("/admin/orders/{paid}/refund"),
    )
    .header("Idempotency-Key", "another-key")
    .send()
    .await
    .unwrap();
    assert_eq!(again.status(), 409);
    assert_eq!(app.refunder.run_once().await.unwrap().refunded, 1);
    assert_eq!(app.refunder.run_once().await.unwrap().claimed, 0);
    assert_eq!(app.order(&placed[0]).await.status, OrderStatus::Refunded);
    let refunds: usize = app.sim().payments().iter().map(|p| p.refunds.len()).sum();
    assert_eq!(refunds, 1);

    // The order under review, accepted as paid.
    let review = order_uuid(&placed[1]);
    let settled = admin(
        &app,
        reqwest::Method::POST,
        &format!("/admin/orders/{review}/review"),
    )
    .json(&json!({"decision": "accept_paid"}))
    .send()
    .await
    .unwrap();
    assert_eq!(settled.status(), 200);
    assert_eq!(app.order(&placed[1]).await.status, OrderStatus::Paid);
    let twice = admin(
        &app,
        reqwest::Method::POST,
        &format!("/admin/orders/{review}/review"),
    )
    .json(&json!({"decision": "accept_paid"}))
    .send()
    .await
    .unwrap();
    assert_eq!(twice.status(), 409);
    assert_eq!(
        app.api.available(phones).await,
        6,
        "five held, the refunded one back on sale"
    );
    app.assert_audit_clean().await;
}
on_each_backend!(operators_search_read_refund_once_and_settle_reviews);
