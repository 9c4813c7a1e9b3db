//! Money that arrives after the hold was released: the units are taken again when any are left,
//! otherwise the payment is refunded through the gateway's refund API.

use flashgate_core::OrderStatus;
use flashgate_testkit::{Backend, manual_clock, order_uuid, payment_url};
use vnpay_sim::Outcome;

async fn a_late_payment_takes_the_units_again_when_some_are_left(backend: Backend) {
    let db = backend.database().await;
    let clock = manual_clock();
    let app = super::spawn(backend, clock.clone()).instance(&db).await;
    let product = app.api.product(2, None).await;
    let answer = app.api.win("cus_late", product).await;
    clock.advance(time::Duration::minutes(16));
    app.expirer.run_until_idle().await.unwrap();
    assert_eq!(app.order(&answer).await.status, OrderStatus::Expired);
    assert_eq!(app.api.available(product).await, 2);

    app.sim()
        .pay(payment_url(&answer), Outcome::Success)
        .unwrap();
    app.sim().ipn_idle().await;

    assert_eq!(app.order(&answer).await.status, OrderStatus::Paid);
    assert_eq!(app.api.available(product).await, 1);
    let reasons: Vec<_> = db
        .ledger(order_uuid(&answer))
        .await
        .into_iter()
        .map(|(_, to, why)| (to, why))
        .collect();
    assert_eq!(
        reasons[1..],
        [
            ("expired".to_owned(), "hold_expired".to_owned()),
            ("paid".to_owned(), "ipn_late_paid".to_owned())
        ]
    );
    app.assert_audit_clean().await;
}
on_each_backend!(a_late_payment_takes_the_units_again_when_some_are_left);

async fn a_late_payment_for_units_sold_to_someone_else_is_refunded(backend: Backend) {
    let db = backend.database().await;
    let clock = manual_clock();
    let app = super::spawn(backend, clock.clone()).instance(&db).await;
    let product = app.api.product(1, None).await;
    let late = app.api.win("cus_slow", product).await;
    clock.advance(time::Duration::minutes(16));
    app.expirer.run_until_idle().await.unwrap();
    let quick = app.api.win("cus_quick", product).await;
    app.sim()
        .pay(payment_url(&quick), Outcome::Success)
        .unwrap();

    app.sim().pay(payment_url(&late), Outcome::Success).unwrap();
    app.sim().ipn_idle().await;
    assert_eq!(app.order(&quick).await.status, OrderStatus::Paid);
    assert_eq!(app.order(&late).await.status, OrderStatus::RefundPending);

    let step = app.refunder.run_once().await.unwrap();
    assert_eq!(step.refunded, 1);
    assert_eq!(app.order(&late).await.status, OrderStatus::Refunded);
    let txn_ref = app.order(&late).await.id.txn_ref();
    let refunded: Vec<_> = app
        .sim()
        .payments()
        .into_iter()
        .filter(|p| p.request.txn_ref == txn_ref)
        .collect();
    assert_eq!(refunded.len(), 1);
    assert_eq!(
        refunded[0].refunds.len(),
        1,
        "the simulator received exactly one refund"
    );
    assert_eq!(
        refunded[0].refundable().get(),
        0,
        "the whole payment went back"
    );
    assert_eq!(app.api.available(product).await, 0);
    let events = db.payment_events(order_uuid(&late)).await;
    assert!(
        events.contains(&("refund".into(), true, "accepted".into())),
        "{events:?}"
    );
    assert!(
        app.refunder.run_once().await.unwrap().claimed == 0,
        "nothing is refunded twice"
    );
    app.assert_audit_clean().await;
}
on_each_backend!(a_late_payment_for_units_sold_to_someone_else_is_refunded);
