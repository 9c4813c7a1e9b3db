//! A sale of many products, a few of them hot, over four instances whose 64 pooled connections share
//! PgBouncer's ten server connections to PostgreSQL, with the gate on the Redis Cluster (the hot
//! products' gates spread over its three masters).

use crate::under_load::gated_sale;
use flashgate_testkit::{Backend, TestRedis, all_at_once};
use futures_util::future::join_all;
use serde_json::Value;

const INSTANCES: usize = 4;
const PRODUCTS: usize = 1_000;
const HOT: usize = 50;
const HOT_UNITS: i64 = 10;
const BUYERS_PER_HOT: usize = 30;
const COLD_UNITS: i64 = 100;
const COLD_BUYERS: usize = 500;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_sale_of_many_products_through_pgbouncer_sells_exactly_the_stock() {
    let redis = TestRedis::cluster();
    let app = gated_sale(Backend::Postgres)
        .redis(&redis)
        .set("database.max_connections", 16)
        .through_pgbouncer()
        .instances(INSTANCES)
        .start()
        .await;

    // The catalogue, written through the instances in turn: the first HOT products are hot.
    let products: Vec<i64> = join_all((0..PRODUCTS).map(|i| {
        let units = if i < HOT { HOT_UNITS } else { COLD_UNITS };
        app.api(i % INSTANCES).product(units, None)
    }))
    .await;

    // Every hot product's crowd and a trickle of cold buys, all at once over every instance.
    let hot_buyers = HOT * BUYERS_PER_HOT;
    let instances: Vec<_> = (0..INSTANCES).map(|i| app.api(i).clone()).collect();
    let answers = all_at_once(hot_buyers + COLD_BUYERS, |i| {
        let api = instances[i % INSTANCES].clone();
        let product = if i < hot_buyers {
            products[i % HOT]
        } else {
            products[HOT + (i * 7) % (PRODUCTS - HOT)]
        };
        async move {
            let answer = api
                .buy(&format!("buyer-{i}"), &format!("key-{i}"), product, 1)
                .await;
            (product, answer.parts())
        }
    })
    .await;

    let mut created = std::collections::HashMap::<i64, i64>::new();
    let mut unexpected: Vec<(u16, Value)> = Vec::new();
    for (product, (status, body)) in answers {
        match (status, body["code"].as_str()) {
            (201, _) => *created.entry(product).or_default() += 1,
            (409, Some("sold_out")) => {}
            _ => unexpected.push((status, body)),
        }
    }
    // A PgBouncer error (a prepared statement it lost, a session it cannot keep) would be a 5xx.
    assert!(unexpected.is_empty(), "unexpected answers: {unexpected:?}");
    for &product in &products[..HOT] {
        assert_eq!(
            created.get(&product),
            Some(&HOT_UNITS),
            "hot product {product}"
        );
        let stock = app.stock(product).await;
        assert_eq!((stock.available, stock.reserved), (0, HOT_UNITS));
    }
    let cold: i64 = products[HOT..].iter().filter_map(|p| created.get(p)).sum();
    assert_eq!(cold, COLD_BUYERS as i64, "every cold buyer wins");
    app.assert_audit_clean().await;
}
