//! A buyer pays through the gateway and the IPN settles the order; the Return page shows it.

use crate::harness::{self, Backend, order_uuid, payment_url};
use crate::on_both_backends;
use flashgate_core::OrderStatus;
use vnpay_sim::Outcome;

async fn a_paid_order_is_settled_by_its_ipn_and_shown_on_the_return_page(backend: Backend) {
    let db = harness::database(backend).await;
    let app = harness::spawn(harness::settings(&db), harness::clock()).await;
    let product = app.create_product(5).await;
    let answer = app.buy("cus_pay", product).await;

    let page = harness::client()
        .get(payment_url(&answer))
        .send()
        .await
        .unwrap();
    assert_eq!(
        page.status(),
        200,
        "the simulator accepts flashgate's signed link"
    );
    let done = app.sim.pay(payment_url(&answer), Outcome::Success).unwrap();
    app.sim.ipn_idle().await;

    let order = app.order(&answer).await;
    assert_eq!(order.status, OrderStatus::Paid);
    assert_eq!(
        order.gateway_transaction_no,
        Some(i64::try_from(done.transaction_no).unwrap())
    );
    assert_eq!(app.available(product).await, 4);
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

    let page = harness::client()
        .get(&done.return_url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Payment received"), "{page}");
    assert!(page.contains("<dd id=\"status\">paid</dd>"), "{page}");
    assert_eq!(
        app.order(&answer).await.status,
        OrderStatus::Paid,
        "the return page changes nothing"
    );
    app.assert_audit_clean().await;
}
on_both_backends!(
    paid_order_settled_by_ipn,
    a_paid_order_is_settled_by_its_ipn_and_shown_on_the_return_page
);

async fn a_cancelled_payment_fails_the_order_and_releases_its_units(backend: Backend) {
    let db = harness::database(backend).await;
    let app = harness::spawn(harness::settings(&db), harness::clock()).await;
    let product = app.create_product(1).await;
    let answer = app.buy("cus_cancel", product).await;
    assert_eq!(app.available(product).await, 0);

    let done = app.sim.pay(payment_url(&answer), Outcome::Cancel).unwrap();
    app.sim.ipn_idle().await;

    assert_eq!(app.order(&answer).await.status, OrderStatus::PaymentFailed);
    assert_eq!(app.available(product).await, 1);
    let page = harness::client()
        .get(&done.return_url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Payment not completed"), "{page}");
    app.assert_audit_clean().await;
}
on_both_backends!(
    cancelled_payment_releases_units,
    a_cancelled_payment_fails_the_order_and_releases_its_units
);
