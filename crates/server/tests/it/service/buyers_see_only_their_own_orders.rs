//! A buyer sees their own orders and nobody else's: another customer's order is answered exactly like
//! one that does not exist.

use flashgate_testkit::Backend;
use flashgate_testkit::key;
use std::collections::HashSet;

on_each_backend!(
    the_order_list_holds_only_the_callers_orders,
    another_customers_order_is_answered_like_an_unknown_one,
);

async fn the_order_list_holds_only_the_callers_orders(backend: Backend) {
    let app = super::spawn(backend).start().await;
    let api = app.api(0);
    let product = api.product(10, None).await;
    let alice = api.token("alice");
    let bob = api.token("bob");
    let carol = api.token("carol");
    let mut alices = HashSet::new();
    for _ in 0..3 {
        let order = api.place_order(&alice, &key(), product, 1).await;
        alices.insert(order.assert_status(201)["id"].as_str().unwrap().to_owned());
    }
    let bobs = api.place_order(&bob, &key(), product, 2).await;
    let bobs = bobs.assert_status(201)["id"].as_str().unwrap().to_owned();

    let listed = |token: String| {
        let api = api.clone();
        async move {
            let list = api.get("/orders", Some(&token)).await.assert_status(200);
            list["orders"]
                .as_array()
                .expect("a list")
                .iter()
                .map(|o| o["id"].as_str().unwrap().to_owned())
                .collect::<HashSet<_>>()
        }
    };
    assert_eq!(listed(alice.clone()).await, alices);
    assert_eq!(listed(bob.clone()).await, HashSet::from([bobs.clone()]));
    assert!(listed(carol.clone()).await.is_empty());

    let limited = api
        .get("/orders?limit=2", Some(&alice))
        .await
        .assert_status(200);
    assert_eq!(limited["orders"].as_array().map(Vec::len), Some(2));
    api.get("/orders?limit=0", Some(&alice))
        .await
        .assert_problem(422, "invalid_request");
}

async fn another_customers_order_is_answered_like_an_unknown_one(backend: Backend) {
    let app = super::spawn(backend).start().await;
    let api = app.api(0);
    let product = api.product(10, None).await;
    let alice = api.token("alice");
    let mallory = api.token("mallory");
    let order = api.place_order(&alice, &key(), product, 1).await;
    let order = order.assert_status(201);
    let id = order["id"].as_str().unwrap();

    let own = api
        .get(&format!("/orders/{id}"), Some(&alice))
        .await
        .assert_status(200);
    assert_eq!(
        own, order,
        "the owner reads back what the purchase answered"
    );

    let someone_elses = api.get(&format!("/orders/{id}"), Some(&mallory)).await;
    let unknown = api
        .get(&format!("/orders/{}", uuid::Uuid::now_v7()), Some(&mallory))
        .await;
    let malformed = api.get("/orders/not-an-id", Some(&mallory)).await;
    for answer in [&someone_elses, &unknown, &malformed] {
        answer.assert_problem(404, "order_not_found");
    }
    let shape = |a: &flashgate_testkit::Answer| {
        let body = a.json();
        (
            a.status,
            body["type"].clone(),
            body["title"].clone(),
            body["code"].clone(),
        )
    };
    assert_eq!(shape(&someone_elses), shape(&unknown));
    api.get(&format!("/orders/{id}"), None)
        .await
        .assert_problem(401, "unauthorized");
}
