//! The per-customer limit holds under concurrency: one customer firing many purchases at once (each with
//! its own idempotency key) gets exactly the limit, and every other attempt is told `limit_exceeded`.

use flashgate_core::Strategy;
use flashgate_testkit::key;
use flashgate_testkit::{Backend, all_at_once};

on_each_backend!(and_strategy: fifty_concurrent_purchases_against_a_limit_of_two_make_two_orders);

async fn fifty_concurrent_purchases_against_a_limit_of_two_make_two_orders(
    backend: Backend,
    strategy: Strategy,
) {
    let app = super::spawn(backend).strategy(strategy).start().await;
    let api = app.api(0);
    let product = api.product(100, Some(2)).await;
    let token = api.token("greedy-customer");

    let answers = all_at_once(50, |_| {
        let api = api.clone();
        let token = token.clone();
        async move { api.place_order(&token, &key(), product, 1).await }
    })
    .await;

    let created = answers.iter().filter(|a| a.status == 201).count();
    assert_eq!(created, 2, "exactly the limit is sold to one customer");
    for answer in answers.iter().filter(|a| a.status != 201) {
        answer.assert_problem(403, "limit_exceeded");
    }

    let listed = api.get("/orders", Some(&token)).await.assert_status(200);
    assert_eq!(listed["orders"].as_array().map(Vec::len), Some(2));
    assert_eq!(api.available(product).await, 98);
    let stock = app.stock(product).await;
    assert_eq!((stock.available, stock.reserved), (98, 2));
    let report = app.assert_audit_clean().await;
    assert_eq!(report.orders, 2);

    // Another customer is not held back by the first one's limit.
    let other = api.token("patient-customer");
    api.place_order(&other, &key(), product, 2)
        .await
        .assert_status(201);
}
