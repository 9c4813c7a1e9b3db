//! What the gate must never do to a buyer, on Redis and on the embedded twins: answer a retry
//! with anything but its first answer, or keep a buyer out for a purchase that never happened.

use super::{gated_sale, on};
use flashgate_core::checkout::{AdmissionGate, GateAnswer, Ticket};
use flashgate_core::{CustomerId, IdempotencyKey, ProductId, Quantity, Strategy};
use flashgate_testkit::{TestRedis, manual_clock};
use std::sync::atomic::Ordering;

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
    // The gate's state lost (Redis flushed, an embedded instance started afresh): rebuilt from the
    // database, it still knows the early buyer bought once.
    if let Some(redis) = redis {
        let mut conn = redis.connection();
        for key in redis.keys() {
            redis::cmd("DEL").arg(&key).exec(&mut *conn).unwrap();
        }
    }
    let fresh = spawn.instance(&db).await;
    let (status, body) = fresh.api.buy("late", "l-2", product, 1).await.parts();
    assert_eq!((status, body["code"].as_str()), (409, Some("sold_out")));
    let (status, body) = fresh.api.buy("early", "e-1", product, 1).await.parts();
    assert_eq!((status, &body), (201, &first));
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

/// A buyer at a limit of one whose admission was never written (its request went away before its
/// batch failed, or its instance died between the two) is told they reached the limit while the
/// database holds nothing of theirs; the keeper gives the quota back at its second look, and the
/// next attempt buys.
async fn a_customer_held_at_the_limit_by_an_admission_never_written_is_let_back_in(
    redis: Option<&TestRedis>,
) {
    let spawn = on(redis, gated_sale);
    let db = spawn.backend().database().await;
    let app = spawn.instance(&db).await;
    let product = app.api.product(5, Some(1)).await;
    assert_eq!(app.api.buy("warm", "w-1", product, 1).await.status, 201);
    let gate = app.state.shared.gate.clone().expect("a gated sale");
    let lost = Ticket {
        product_id: ProductId(product),
        customer: CustomerId::parse("alice").unwrap(),
        key: IdempotencyKey::parse("lost-1").unwrap(),
        quantity: Quantity::parse(1).unwrap(),
        at: time::OffsetDateTime::now_utc(),
    };
    assert!(matches!(
        gate.admit(&lost).await.unwrap(),
        GateAnswer::Admitted { .. }
    ));

    let (status, body) = app.api.buy("alice", "a-1", product, 1).await.parts();
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("limit_exceeded"))
    );
    app.keeper.run_once().await.unwrap();
    app.keeper.run_once().await.unwrap();
    assert_eq!(gate.stats().limits_corrected.load(Ordering::SeqCst), 1);
    assert_eq!(app.api.buy("alice", "a-2", product, 1).await.status, 201);
    let (status, body) = app.api.buy("alice", "a-3", product, 1).await.parts();
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("limit_exceeded")),
        "the limit still holds"
    );
    app.assert_audit_clean().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_held_at_the_limit_by_an_admission_never_written_is_let_back_in_on_redis() {
    let redis = TestRedis::new();
    a_customer_held_at_the_limit_by_an_admission_never_written_is_let_back_in(Some(&redis)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_held_at_the_limit_by_an_admission_never_written_is_let_back_in_on_the_embedded_twins()
 {
    a_customer_held_at_the_limit_by_an_admission_never_written_is_let_back_in(None).await;
}

/// A sale written past the gate (by an instance without one, as while the gate cannot be asked),
/// then its buyer held at their limit by the gate: new keys are refused, and the retry of the sale
/// replays it, though the gate never admitted its key.
async fn a_retry_of_a_sale_the_gate_never_admitted_replays_it_at_the_limit(
    redis: Option<&TestRedis>,
) {
    let gated = on(redis, gated_sale);
    let db = gated.backend().database().await;
    let app = gated.instance(&db).await;
    let past_the_gate = on(redis, gated_sale)
        .strategy(Strategy::Conditional)
        .instance(&db)
        .await;
    let product = app.api.product(5, Some(1)).await;
    let (status, first) = past_the_gate
        .api
        .buy("early", "e-1", product, 1)
        .await
        .parts();
    assert_eq!(status, 201, "{first}");

    for key in ["e-2", "e-3"] {
        let refused = app.api.buy("early", key, product, 1).await;
        refused.assert_problem(403, "limit_exceeded");
    }
    let (status, replayed) = app.api.buy("early", "e-1", product, 1).await.parts();
    assert_eq!((status, &replayed), (201, &first));
    // The limit still holds.
    let refused = app.api.buy("early", "e-4", product, 1).await;
    refused.assert_problem(403, "limit_exceeded");
    app.assert_audit_clean().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_of_a_sale_the_gate_never_admitted_replays_it_at_the_limit_on_redis() {
    let redis = TestRedis::new();
    a_retry_of_a_sale_the_gate_never_admitted_replays_it_at_the_limit(Some(&redis)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_of_a_sale_the_gate_never_admitted_replays_it_at_the_limit_on_the_embedded_twins() {
    a_retry_of_a_sale_the_gate_never_admitted_replays_it_at_the_limit(None).await;
}

/// Buyers at their limit keep asking with new keys on two instances: once the keeper has seen the
/// database hold them at the limit, the refusals come from memory (on Redis), yet the retry of a
/// sale still replays it; when their holds run out on one instance, that instance lets them buy
/// again at once, and the other as soon as it hears of it.
async fn a_buyer_refused_from_memory_gets_their_sale_replayed_and_is_let_in_once_their_hold_is_released(
    redis: Option<&TestRedis>,
) {
    let clock = manual_clock();
    let spawn = on(redis, gated_sale).clock(clock.clone());
    let db = spawn.backend().database().await;
    let instances = [spawn.instance(&db).await, spawn.instance(&db).await];
    let all = &instances[..if redis.is_some() { 2 } else { 1 }];
    let product = all[0].api.product(5, Some(1)).await;
    let (status, first) = all[0].api.buy("alice", "a-1", product, 1).await.parts();
    assert_eq!(status, 201, "{first}");
    assert_eq!(all[0].api.buy("bob", "b-1", product, 1).await.status, 201);
    // Twice: an instance hears its own message about the product's first load a moment after sending
    // it, and that moves the count a memory was recorded under; the second look records it again.
    for _ in 0..2 {
        for (n, instance) in all.iter().enumerate() {
            for customer in ["alice", "bob"] {
                let refused = instance
                    .api
                    .buy(customer, &format!("x-{n}"), product, 1)
                    .await;
                refused.assert_problem(403, "limit_exceeded");
            }
            instance.keeper.run_once().await.unwrap();
        }
    }

    for (n, instance) in all.iter().enumerate() {
        let gate = instance.state.shared.gate.clone().expect("a gated sale");
        let from_memory_before = gate.stats().limits_from_memory.load(Ordering::SeqCst);
        for customer in ["alice", "bob"] {
            for key in [format!("y-{n}"), format!("z-{n}")] {
                let refused = instance.api.buy(customer, &key, product, 1).await;
                refused.assert_problem(403, "limit_exceeded");
            }
        }
        let (status, replayed) = instance.api.buy("alice", "a-1", product, 1).await.parts();
        assert_eq!((status, &replayed), (201, &first));
        let from_memory =
            gate.stats().limits_from_memory.load(Ordering::SeqCst) - from_memory_before;
        // The in-process gate asks nothing remote: there is nothing to remember.
        assert_eq!(from_memory, if redis.is_some() { 4 } else { 0 });
    }

    clock.advance(time::Duration::hours(1));
    assert_eq!(all[0].expirer.run_once().await.unwrap().expired, 2);
    // The instance that gave the units back knows at once.
    assert_eq!(all[0].api.buy("alice", "a-2", product, 1).await.status, 201);
    // The other hears of it over Redis: a refusal until then changes nothing, and the news comes
    // well before a remembered refusal would lapse on its own (5 s).
    let last = all.last().expect("an instance");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    let mut attempt = 0;
    let bought = loop {
        attempt += 1;
        let answer = last
            .api
            .buy("bob", &format!("c-{attempt}"), product, 1)
            .await;
        if answer.status != 403 || std::time::Instant::now() > deadline {
            break answer.status;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    };
    assert_eq!(bought, 201, "bob was let back in");
    for customer in ["alice", "bob"] {
        let refused = last.api.buy(customer, "again", product, 1).await;
        refused.assert_problem(403, "limit_exceeded");
    }
    all[0].assert_audit_clean().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_buyer_refused_from_memory_gets_their_sale_replayed_and_is_let_in_once_their_hold_is_released_on_redis()
 {
    let redis = TestRedis::new();
    a_buyer_refused_from_memory_gets_their_sale_replayed_and_is_let_in_once_their_hold_is_released(
        Some(&redis),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_buyer_refused_from_memory_gets_their_sale_replayed_and_is_let_in_once_their_hold_is_released_on_the_embedded_twins()
 {
    a_buyer_refused_from_memory_gets_their_sale_replayed_and_is_let_in_once_their_hold_is_released(
        None,
    )
    .await;
}

/// The counters' refusal of a buyer at their limit wakes a look at them, so that their next
/// refusals come from memory (no Redis round trip) without waiting for the keeper's step, which
/// does not come here within the test.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_buyer_refused_at_their_limit_is_answered_from_memory_without_waiting_for_the_keeper() {
    let redis = TestRedis::new();
    let spawn = on(Some(&redis), gated_sale).set("gate.keeper_interval_ms", 3_600_000);
    let db = spawn.backend().database().await;
    let instance = spawn.instance(&db).await;
    let product = instance.api.product(5, Some(1)).await;
    assert_eq!(
        instance.api.buy("alice", "a-1", product, 1).await.status,
        201
    );
    let gate = instance.state.shared.gate.clone().expect("a gated sale");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    for attempt in 1.. {
        let before = gate.stats().limits_from_memory.load(Ordering::SeqCst);
        let refused = instance
            .api
            .buy("alice", &format!("x-{attempt}"), product, 1)
            .await;
        refused.assert_problem(403, "limit_exceeded");
        if gate.stats().limits_from_memory.load(Ordering::SeqCst) > before {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "still asking the counters after {attempt} refusals"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    // Her sale's own key is still replayed, not refused from memory.
    assert_eq!(
        instance.api.buy("alice", "a-1", product, 1).await.status,
        201
    );
    instance.assert_audit_clean().await;
}
