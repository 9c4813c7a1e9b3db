//! What the gate must never do to a buyer, on Redis and on the embedded twins: answer a retry
//! with anything but its first answer.

use super::{gated_sale, on};
use flashgate_testkit::{TestRedis, manual_clock};

/// A buyer whose hold ran out before the product sold out retries their purchase with the same
/// key and body, on every instance: the first answer (201, the same order) comes back, while a
/// newcomer is told the product is sold out.
async fn a_retry_after_the_hold_ran_out_and_the_product_sold_out_replays_the_order(
    redis: Option<&TestRedis>,
) {
    let clock = manual_clock();
    let spawn = on(redis, gated_sale).clock(clock.clone());
    let db = spawn.backend().database().await;
    let instances = [spawn.instance(&db).await, spawn.instance(&db).await];
    let count = if redis.is_some() { 2 } else { 1 };
    let all = &instances[..count];
    let product = all[0].api.product(1, None).await;
    let (status, first) = all[0].api.buy("early", "e-1", product, 1).await.parts();
    assert_eq!(status, 201, "{first}");

    clock.advance(time::Duration::hours(1));
    assert_eq!(all[0].expirer.run_once().await.unwrap().expired, 1);
    assert_eq!(
        all[0].api.buy("winner", "w-1", product, 1).await.status,
        201
    );
    for instance in all {
        // A newcomer raises the instance's sold-out flag.
        let (status, body) = instance.api.buy("late", "l-1", product, 1).await.parts();
        assert_eq!((status, body["code"].as_str()), (409, Some("sold_out")));
        let (status, body) = instance.api.buy("early", "e-1", product, 1).await.parts();
        assert_eq!((status, &body), (201, &first));
    }
    all[0].assert_audit_clean().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_after_the_hold_ran_out_and_the_product_sold_out_replays_the_order_on_redis() {
    let redis = TestRedis::new();
    a_retry_after_the_hold_ran_out_and_the_product_sold_out_replays_the_order(Some(&redis)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_after_the_hold_ran_out_and_the_product_sold_out_replays_the_order_on_the_embedded_twins()
 {
    a_retry_after_the_hold_ran_out_and_the_product_sold_out_replays_the_order(None).await;
}
