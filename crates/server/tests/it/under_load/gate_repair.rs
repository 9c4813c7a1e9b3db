//! What the gate must never do to a buyer, on Redis and on the embedded twins: answer a retry
//! with anything but its first answer, or keep a customer at their limit with an admission that was
//! never written.

use super::{gated_sale, on};
use flashgate_core::checkout::{AdmissionGate, GateAnswer, Ticket};
use flashgate_core::{CustomerId, IdempotencyKey, ProductId, Quantity};
use flashgate_testkit::{Instance, TestRedis, manual_clock};

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

/// An admission whose write never came (its request timed out, its instance died) leaves the
/// gate counting units the customer does not hold. At their limit by the gate's count but not by
/// the database's, the customer is refused once, and the keeper's next round repairs the gate's
/// count from the database.
async fn a_customer_is_not_held_at_their_limit_by_an_admission_never_written(
    redis: Option<&TestRedis>,
) {
    let spawn = on(redis, gated_sale).set("gate.keeper_interval_ms", 3_600_000);
    let db = spawn.backend().database().await;
    let instance: Instance = spawn.instance(&db).await;
    let product = instance.api.product(10, Some(2)).await;
    let gate = instance.state.shared.gate.as_ref().unwrap();
    for key in ["lost-1", "lost-2"] {
        let ticket = Ticket {
            product_id: ProductId(product),
            customer: CustomerId::parse("alice").unwrap(),
            key: IdempotencyKey::parse(key).unwrap(),
            quantity: Quantity::parse(1).unwrap(),
            at: time::OffsetDateTime::now_utc(),
        };
        let answer = gate.admit(&ticket).await;
        assert!(
            matches!(answer, Ok(GateAnswer::Admitted { .. })),
            "{answer:?}"
        );
    }
    // Refused by the gate's count; the database's says there is room, so the keeper rebuilds.
    let (status, body) = instance.api.buy("alice", "a-0", product, 1).await.parts();
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("limit_exceeded"))
    );
    instance.keeper.run_once().await.unwrap();
    let (status, body) = instance.api.buy("alice", "a-1", product, 1).await.parts();
    assert_eq!(status, 201, "{body}");
    let (status, body) = instance.api.buy("alice", "a-2", product, 1).await.parts();
    assert_eq!(status, 201, "{body}");
    // Now the database agrees with the limit.
    let (status, body) = instance.api.buy("alice", "a-3", product, 1).await.parts();
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("limit_exceeded"))
    );
    instance.assert_audit_clean().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_is_not_held_at_their_limit_by_an_admission_never_written_on_redis() {
    let redis = TestRedis::new();
    a_customer_is_not_held_at_their_limit_by_an_admission_never_written(Some(&redis)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_is_not_held_at_their_limit_by_an_admission_never_written_on_the_embedded_twins()
{
    a_customer_is_not_held_at_their_limit_by_an_admission_never_written(None).await;
}
