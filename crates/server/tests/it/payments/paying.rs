//! A buyer pays through the gateway and the IPN settles the order; the Return page shows it.

use flashgate_core::OrderStatus;
use flashgate_testkit::{Backend, manual_clock, order_uuid, payment_url, text_of};
use vnpay_sim::Outcome;

async fn a_paid_order_is_settled_by_its_ipn_and_shown_on_the_return_page(backend: Backend) {
    let db = backend.database().await;
    let app = super::spawn(backend, manual_clock()).instance(&db).await;
    let product = app.api.product(5, None).await;
    let answer = app.api.win("cus_pay", product).await;

    let page = flashgate_testkit::client()
        .get(payment_url(&answer))
        .send()
        .await
        .unwrap();
    assert_eq!(
        page.status(),
        200,
        "the simulator accepts flashgate's signed link"
    );
    let done = app
        .sim()
        .pay(payment_url(&answer), Outcome::Success)
        .unwrap();
    app.sim().ipn_idle().await;

    let order = app.order(&answer).await;
    assert_eq!(order.status, OrderStatus::Paid);
    assert_eq!(
        order.gateway_transaction_no,
        Some(i64::try_from(done.transaction_no).unwrap())
    );
    assert_eq!(app.api.available(product).await, 4);
    let ledger = db.ledger(order_uuid(&answer)).await;
    assert_eq!(ledger.len(), 2, "{ledger:?}");
    assert_eq!(
        ledger[1],
        (
            Some("pending_payment".into()),
            "paid".into(),
            "ipn_paid".into()
        )
    );
    let events = db.payment_events(order_uuid(&answer)).await;
    assert!(
        events.contains(&("ipn".into(), true, "paid".into())),
        "{events:?}"
    );

    let page = text_of(flashgate_testkit::client().get(&done.return_url)).await;
    assert!(page.contains("Payment received"), "{page}");
    assert!(page.contains("<dd id=\"status\">paid</dd>"), "{page}");
    assert_eq!(
        app.order(&answer).await.status,
        OrderStatus::Paid,
        "the return page changes nothing"
    );
    app.assert_audit_clean().await;
}
on_each_backend!(a_paid_order_is_settled_by_its_ipn_and_shown_on_the_return_page);

async fn a_cancelled_payment_fails_the_order_and_releases_its_units(backend: Backend) {
    let db = backend.database().await;
    let app = super::spawn(backend, manual_clock()).instance(&db).await;
    let product = app.api.product(1, None).await;
    let answer = app.api.win("cus_cancel", product).await;
    assert_eq!(app.api.available(product).await, 0);

    let done = app
        .sim()
        .pay(payment_url(&answer), Outcome::Cancel)
        .unwrap();
    app.sim().ipn_idle().await;

    assert_eq!(app.order(&answer).await.status, OrderStatus::PaymentFailed);
    assert_eq!(app.api.available(product).await, 1);
    let page = text_of(flashgate_testkit::client().get(&done.return_url)).await;
    assert!(page.contains("Payment not completed"), "{page}");
    app.assert_audit_clean().await;
}
on_each_backend!(a_cancelled_payment_fails_the_order_and_releases_its_units);
