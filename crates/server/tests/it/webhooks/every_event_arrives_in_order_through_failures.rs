//! 1,000 orders move through their states on three instances while the receiver answers 500 to half
//! the attempts, is down for a while, then slow: every event arrives, each order's events arrive in
//! sequence, and deduplicated by `webhook-id` the receiver holds exactly the events in the outbox.

use super::register;
use flashgate_testkit::receiver::{Mode, Receiver};
use flashgate_testkit::{Backend, all_at_once, eventually, payment_url};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;
use vnpay_sim::Outcome;

const ORDERS: usize = 1_000;

on_each_backend!(every_event_arrives_in_order_through_failures);

async fn every_event_arrives_in_order_through_failures(backend: Backend) {
    let app = crate::events::spawn(backend)
        .instances(3)
        .set("webhooks.interval_ms", 20)
        .set("webhooks.batch", 100)
        .set("webhooks.timeout_ms", 2_000)
        .set(
            "webhooks.retry_schedule_ms",
            [20, 50, 100, 200, 400, 800, 1_600, 3_200, 6_400, 12_800],
        )
        .start()
        .await;
    let mut receiver = Receiver::start().await;
    receiver.set(Mode::FailHalf);
    register(app.api(0), &receiver.url(), None).await;
    let product = app.api(0).product(ORDERS as i64, None).await;

    // A hundred buyers at a time, spread over the instances.
    let mut orders = Vec::with_capacity(ORDERS);
    for wave in 0..ORDERS / 100 {
        orders.extend(
            all_at_once(100, |i| {
                let i = wave * 100 + i;
                let api = app.api(i).clone();
                async move { api.win(&format!("cus_{i}"), product).await }
            })
            .await,
        );
    }
    // A third are paid, a third fail at the gateway; their IPNs settle them on the instances.
    for (i, order) in orders.iter().enumerate() {
        let outcome = match i % 3 {
            0 => Outcome::Success,
            1 => Outcome::Cancel,
            _ => continue,
        };
        app.instances[i % 3]
            .sim()
            .pay(payment_url(order), outcome)
            .unwrap();
    }
    for instance in &app.instances {
        instance.sim().ipn_idle().await;
    }

    receiver.down();
    tokio::time::sleep(Duration::from_secs(2)).await;
    receiver.up().await;
    receiver.set(Mode::Slow(Duration::from_millis(50)));

    let direct = app.direct().await;
    let outbox: BTreeSet<String> = direct
        .counts_by("SELECT 'evt_' || CAST(id AS TEXT), CAST(id AS BIGINT) FROM order_events")
        .await
        .into_keys()
        .collect();
    // Each order's creation, and the payment or failure of two thirds of them.
    assert_eq!(outbox.len(), ORDERS + 334 + 333);
    let all_acknowledged = eventually(Duration::from_secs(180), || async {
        acknowledged(&receiver) == outbox
    })
    .await;
    assert!(
        all_acknowledged,
        "{} of {} events acknowledged",
        acknowledged(&receiver).len(),
        outbox.len()
    );

    // Per order, every request (acknowledged or not) came in sequence order: a later event is sent
    // only once the earlier one was acknowledged.
    let mut by_order: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for got in receiver.received() {
        let event = got.json();
        by_order
            .entry(event["data"]["id"].as_str().unwrap().to_owned())
            .or_default()
            .push(event["sequence"].as_i64().unwrap());
    }
    assert_eq!(by_order.len(), ORDERS);
    for (order, sequences) in &by_order {
        assert!(
            sequences.windows(2).all(|w| w[0] <= w[1]),
            "order {order}: {sequences:?}"
        );
        let mut distinct = sequences.clone();
        distinct.dedup();
        assert_eq!(
            distinct,
            (1..=distinct.len() as i64).collect::<Vec<_>>(),
            "order {order}"
        );
    }
    let failed = receiver
        .received()
        .iter()
        .filter(|r| r.answered != 200)
        .count();
    assert!(failed > 0, "the receiver refused some attempts");
    // The last acknowledgements are recorded a moment after the receiver gave them.
    let recorded = eventually(Duration::from_secs(30), || async {
        direct
            .count("SELECT COUNT(*) FROM webhook_deliveries WHERE delivered_at IS NULL")
            .await
            == 0
    })
    .await;
    assert!(recorded, "every delivery is recorded delivered");
}

/// The ids the receiver acknowledged.
fn acknowledged(receiver: &Receiver) -> BTreeSet<String> {
    receiver
        .received()
        .iter()
        .filter(|r| (200..300).contains(&r.answered))
        .map(|r| r.id().to_owned())
        .collect()
}
