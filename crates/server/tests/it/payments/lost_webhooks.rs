//! Every IPN lost: the reconciler asks the gateway and settles what was paid or failed; the expirer
//! releases what was never paid.

use flashgate_core::OrderStatus;
use flashgate_testkit::{Backend, order_uuid, payment_url};
use vnpay_sim::Outcome;

async fn with_every_ipn_dropped_the_reconciler_and_expirer_settle_every_order(backend: Backend) {
    let (db, clock, app) = super::without_ipns(backend).await;
    let product = app.api.product(10, None).await;

    // Three pay, one cancels, one opens the payment page and leaves, one never goes there.
    let plans = [
        Some(Outcome::Success),
        Some(Outcome::Success),
        Some(Outcome::Success),
        Some(Outcome::Cancel),
        None,
        None,
    ];
    let mut answers = Vec::new();
    for (i, plan) in plans.iter().enumerate() {
        let answer = app.api.win(&format!("cus_lost_{i}"), product).await;
        match plan {
            Some(outcome) => {
                app.sim().pay(payment_url(&answer), *outcome).unwrap();
            }
            None if i == 4 => {
                app.sim().begin_payment(payment_url(&answer)).unwrap();
            }
            None => {}
        }
        answers.push(answer);
    }
    app.sim().ipn_idle().await;
    assert!(
        app.sim().ipn_deliveries().iter().all(|d| d.dropped),
        "no IPN reached flashgate"
    );
    for answer in &answers {
        assert_eq!(app.order(answer).await.status, OrderStatus::PendingPayment);
    }

    let step = app.reconciler.run_once().await.unwrap();
    assert_eq!((step.claimed, step.settled, step.still_pending), (6, 4, 2));
    let statuses: Vec<_> = futures_util::future::join_all(answers.iter().map(|a| app.order(a)))
        .await
        .into_iter()
        .map(|o| o.status)
        .collect();
    use OrderStatus::*;
    assert_eq!(
        statuses,
        [
            Paid,
            Paid,
            Paid,
            PaymentFailed,
            PendingPayment,
            PendingPayment
        ]
    );
    for answer in &answers[..3] {
        let ledger = db.ledger(order_uuid(answer)).await;
        assert_eq!(ledger[1].2, "querydr_paid", "{ledger:?}");
    }

    // The holds of the two that never paid run out: the expirer asks the gateway, then releases.
    clock.advance(time::Duration::minutes(16));
    let step = app.expirer.run_until_idle().await.unwrap();
    assert_eq!((step.expired, step.paid), (2, 0));
    assert_eq!(app.order(&answers[4]).await.status, Expired);
    assert_eq!(app.order(&answers[5]).await.status, Expired);
    assert_eq!(app.api.available(product).await, 10 - 3);
    app.assert_audit_clean().await;
}
on_each_backend!(with_every_ipn_dropped_the_reconciler_and_expirer_settle_every_order);

async fn the_expirer_never_expires_an_order_the_gateway_says_is_paid(backend: Backend) {
    let (_db, clock, app) = super::without_ipns(backend).await;
    let product = app.api.product(2, None).await;
    let answer = app.api.win("cus_paid_late_ipn", product).await;
    app.sim()
        .pay(payment_url(&answer), Outcome::Success)
        .unwrap();
    app.sim().ipn_idle().await;

    clock.advance(time::Duration::minutes(20));
    let step = app.expirer.run_until_idle().await.unwrap();
    assert_eq!((step.expired, step.paid), (0, 1));
    assert_eq!(app.order(&answer).await.status, OrderStatus::Paid);
    assert_eq!(app.api.available(product).await, 1);
    app.assert_audit_clean().await;
}
on_each_backend!(the_expirer_never_expires_an_order_the_gateway_says_is_paid);
