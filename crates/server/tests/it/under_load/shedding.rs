//! Load shedding in front of purchases: when every purchase slot is busy past the queue budget, the
//! answer is a fast 503 with `Retry-After`, and the service takes purchases again once load drops.

use flashgate_testkit::{Backend, StockLock, TestDatabase, client, eventually};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

async fn overload_then_recovery(strategy: &str) {
    let db = TestDatabase::postgres().await;
    let spawn = super::spawn(Backend::Postgres)
        .set("inventory.strategy", strategy)
        .set("limits.enabled", false)
        .set("shedding.max_concurrent_purchases", 1)
        .set("shedding.queue_budget_ms", 50);
    let instance = Arc::new(spawn.instance(&db).await);
    let http = client();
    let product = instance.api.product(10, None).await;
    // The one slot is taken by a purchase that waits on the locked stock row.
    let mut lock = StockLock::take(Backend::Postgres, &db.url, product).await;
    let stuck = {
        let instance = Arc::clone(&instance);
        tokio::spawn(async move { instance.api.buy("first", "first", product, 1).await.status })
    };
    let slots = Arc::clone(&instance.state.shared.purchase_slots);
    let busy = eventually(Duration::from_secs(30), || async {
        slots.available_permits() == 0
    })
    .await;
    assert!(busy, "the first purchase holds the slot");

    let shed = http
        .post(format!("{}/orders", instance.api.base))
        .bearer_auth(instance.api.token("second"))
        .header("idempotency-key", "second")
        .json(&json!({"product_id": product, "quantity": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(shed.status(), 503);
    assert_eq!(shed.headers()["retry-after"], "1");
    let body: Value = shed.json().await.unwrap();
    assert_eq!(body["code"], "overloaded");
    // Reads are not held up by purchases.
    let read = http
        .get(format!("{}/products/{product}", instance.api.base))
        .send()
        .await
        .unwrap();
    assert_eq!(read.status(), 200);

    lock.release().await;
    assert_eq!(stuck.await.unwrap(), 201);
    let (status, body) = instance
        .api
        .buy("second", "second", product, 1)
        .await
        .parts();
    assert_eq!(status, 201, "{body}");
    assert_eq!(slots.available_permits(), 1);
    instance.assert_audit_clean().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overload_gives_503_with_retry_after_and_the_service_recovers_conditional() {
    overload_then_recovery("conditional").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overload_gives_503_with_retry_after_and_the_service_recovers_gated() {
    overload_then_recovery("gated").await;
}
