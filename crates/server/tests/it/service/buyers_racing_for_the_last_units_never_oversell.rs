//! Never oversell: hundreds of distinct buyers race for a handful of units, on one instance or spread
//! over several sharing one database; exactly as many orders as units, every loser told `sold_out`.

use flashgate_core::Strategy;
use flashgate_testkit::key;
use flashgate_testkit::{Backend, TestApp, all_at_once};
use std::collections::HashSet;

on_each_backend!(and_strategy: five_hundred_buyers_for_ten_units_make_exactly_ten_orders);
on_each_backend!(postgres_strategy: five_hundred_buyers_over_three_instances_make_exactly_ten_orders);

async fn five_hundred_buyers_for_ten_units_make_exactly_ten_orders(
    backend: Backend,
    strategy: Strategy,
) {
    let app = super::spawn(backend).strategy(strategy).start().await;
    race(&app, 500, 10).await;
}

async fn five_hundred_buyers_over_three_instances_make_exactly_ten_orders(strategy: Strategy) {
    let app = super::spawn(Backend::Postgres)
        .strategy(strategy)
        .instances(3)
        .start()
        .await;
    race(&app, 500, 10).await;
}

/// `buyers` distinct customers, one unit each, spread round-robin over the app's instances.
async fn race(app: &TestApp, buyers: usize, units: i64) {
    let product = app.api(0).product(units, None).await;
    let answers = all_at_once(buyers, |i| {
        let api = app.api(i).clone();
        let token = api.token(&format!("buyer-{i}"));
        async move { api.place_order(&token, &key(), product, 1).await }
    })
    .await;

    let mut winners = HashSet::new();
    let mut order_ids = HashSet::new();
    for (buyer, answer) in answers.iter().enumerate() {
        if answer.status == 201 {
            let order = answer.json();
            assert_eq!(order["status"], "pending_payment", "{order}");
            assert_eq!(order["product_id"], product, "{order}");
            assert_eq!(order["quantity"], 1, "{order}");
            winners.insert(buyer);
            order_ids.insert(order["id"].as_str().expect("an order id").to_owned());
        } else {
            answer.assert_problem(409, "sold_out");
        }
    }
    let units = usize::try_from(units).expect("a small count");
    assert_eq!(winners.len(), units, "exactly one order per unit");
    assert_eq!(order_ids.len(), units, "every winner got their own order");

    for i in 0..app.instances.len() {
        assert_eq!(app.api(i).available(product).await, 0);
    }
    let stock = app.stock(product).await;
    assert_eq!((stock.available, stock.reserved), (0, stock.total));
    let report = app.assert_audit_clean().await;
    assert_eq!(report.orders, i64::try_from(units).expect("a small count"));
}
