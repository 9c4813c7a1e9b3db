//! Expiry on a driven clock: an unpaid hold keeps its units until `inventory.hold_seconds` have passed,
//! then the expirer gives them back, once per order even when two instances' expirers run at once.

use flashgate_core::{ManualClock, Strategy};
use flashgate_testkit::key;
use flashgate_testkit::{Backend, TestApp, all_at_once};
use futures_util::future::join_all;
use std::sync::Arc;
use time::{Duration, OffsetDateTime};

const HOLD_SECONDS: i64 = 60;

on_each_backend!(
    an_expired_hold_gives_its_units_back,
    two_expirers_running_at_once_expire_each_order_exactly_once,
);

async fn an_expired_hold_gives_its_units_back(backend: Backend) {
    let clock = Arc::new(ManualClock::new(OffsetDateTime::now_utc()));
    let app = super::spawn(backend)
        .clock(clock.clone())
        .set("inventory.hold_seconds", HOLD_SECONDS)
        .start()
        .await;
    let api = app.api(0);
    let product = api.product(5, None).await;
    let orders = place_orders(&app, product, 3).await;
    assert_eq!(api.available(product).await, 2);

    let expirer = &app.instances[0].expirer;
    clock.advance(Duration::seconds(HOLD_SECONDS - 1));
    let early = expirer.run_once().await.expect("an expiry step");
    assert_eq!(early.claimed, 0, "a hold is kept until it runs out");
    assert_eq!(api.available(product).await, 2);

    clock.advance(Duration::seconds(2));
    let step = expirer.run_once().await.expect("an expiry step");
    assert_eq!((step.claimed, step.expired), (3, 3), "{step:?}");

    for (token, id) in &orders {
        let order = api
            .get(&format!("/orders/{id}"), Some(token))
            .await
            .assert_status(200);
        assert_eq!(order["status"], "expired", "{order}");
        assert!(order.get("payment_url").is_none(), "{order}");
    }
    assert_eq!(api.available(product).await, 5);
    let stock = app.stock(product).await;
    assert_eq!((stock.available, stock.reserved, stock.sold), (5, 0, 0));
    app.assert_audit_clean().await;
    let moves = app.direct().await.ledger_moves_to("expired").await;
    assert_eq!(moves.len(), 3);
    assert!(moves.values().all(|&n| n == 1), "{moves:?}");

    // The released units sell again.
    let again = api.token("late-buyer");
    api.place_order(&again, &key(), product, 5)
        .await
        .assert_status(201);
}

async fn two_expirers_running_at_once_expire_each_order_exactly_once(backend: Backend) {
    let clock = Arc::new(ManualClock::new(OffsetDateTime::now_utc()));
    // Two instances over one database without Redis: the conditional update, since each process's
    // own gate would not hear of the units the other releases.
    let app = super::spawn(backend)
        .strategy(Strategy::Conditional)
        .instances(2)
        .clock(clock.clone())
        .set("inventory.hold_seconds", HOLD_SECONDS)
        // Small batches, so the two expirers take turns and overlap on the same candidates.
        .set("expirer.batch", 4)
        .start()
        .await;
    let product = app.api(0).product(40, None).await;
    let orders = place_orders(&app, product, 40).await;
    assert_eq!(app.api(1).available(product).await, 0);

    clock.advance(Duration::seconds(HOLD_SECONDS + 1));
    let expirers: Vec<_> = app.instances.iter().map(|i| i.expirer.clone()).collect();
    let steps = all_at_once(expirers.len(), |i| {
        let expirer = expirers[i].clone();
        async move { expirer.run_until_idle().await.expect("expiry steps") }
    })
    .await;
    let expired: usize = steps.iter().map(|s| s.expired).sum();
    assert_eq!(expired, 40, "{steps:?}");

    let moves = app.direct().await.ledger_moves_to("expired").await;
    let mut ids: Vec<&String> = moves.keys().collect();
    ids.sort();
    let mut placed: Vec<&String> = orders.iter().map(|(_, id)| id).collect();
    placed.sort();
    assert_eq!(ids, placed, "every order was expired");
    let twice: Vec<_> = moves.iter().filter(|(_, n)| **n != 1).collect();
    assert!(twice.is_empty(), "orders expired more than once: {twice:?}");

    assert_eq!(app.api(0).available(product).await, 40);
    app.assert_audit_clean().await;
    // Nothing is left for a later step.
    let after = join_all(expirers.iter().map(|e| e.run_once())).await;
    assert!(
        after
            .iter()
            .all(|s| matches!(s, Ok(step) if step.claimed == 0)),
        "{after:?}"
    );
}

/// `n` customers each buy one unit, spread over the app's instances; returns (token, order id) pairs.
async fn place_orders(app: &TestApp, product: i64, n: usize) -> Vec<(String, String)> {
    all_at_once(n, |i| {
        let api = app.api(i).clone();
        let token = api.token(&format!("holder-{i}"));
        async move {
            let order = api.place_order(&token, &key(), product, 1).await;
            let id = order.assert_status(201)["id"].as_str().map(str::to_owned);
            (token, id.expect("an order id"))
        }
    })
    .await
}
