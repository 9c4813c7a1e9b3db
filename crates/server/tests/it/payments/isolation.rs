//! One order whose gateway answer cannot be decided is asked about again later on its own: it never
//! stops the pass or delays the other orders. Only a signal about the whole gateway backs off.

use flashgate_core::OrderStatus;
use flashgate_testkit::{Backend, Instance, order_uuid, payment_url};
use serde_json::Value;
use vnpay_sim::{ApiOutage, Faults, Outcome};

async fn stuck_orders(app: &Instance, product: i64, count: usize) -> Vec<(Value, String)> {
    let mut orders = Vec::new();
    for i in 0..count {
        let answer = app.api.win(&format!("cus_stuck_{i}"), product).await;
        let done = app
            .sim()
            .pay(payment_url(&answer), Outcome::Success)
            .unwrap();
        orders.push((answer, done.txn_ref));
    }
    app.sim().ipn_idle().await;
    orders
}

async fn an_undecidable_order_does_not_hold_up_the_others(backend: Backend) {
    let (db, _clock, app) = super::without_ipns(backend).await;
    let product = app.api.product(30, None).await;
    let orders = stuck_orders(&app, product, 24).await;
    // The first order claimed, so that the old behaviour (stop the pass) would leave the rest.
    let poisoned = orders[0].1.clone();
    app.sim()
        .set_faults(Faults {
            ipn_drop_rate: 1.0,
            querydr_undecidable: vec![poisoned],
            ..Faults::default()
        })
        .unwrap();

    let step = app
        .reconciler
        .run_once()
        .await
        .expect("no back-off for one order");
    assert_eq!(
        (step.settled, step.undecided, step.backed_off),
        (23, 1, 0),
        "{step:?}"
    );
    for (answer, _) in &orders[1..] {
        assert_eq!(app.order(answer).await.status, OrderStatus::Paid);
    }
    assert_eq!(
        app.order(&orders[0].0).await.status,
        OrderStatus::PendingPayment
    );
    let step = app.reconciler.run_once().await.unwrap();
    assert_eq!(
        step.claimed, 0,
        "the undecidable order waits its own turn: {step:?}"
    );
    let events = db.payment_events(order_uuid(&orders[0].0)).await;
    assert_eq!(
        events.last().map(|e| e.2.as_str()),
        Some("unknown"),
        "{events:?}"
    );
    app.assert_audit_clean().await;
}
on_each_backend!(an_undecidable_order_does_not_hold_up_the_others);

async fn a_failing_gateway_still_backs_off_the_whole_pass(backend: Backend) {
    let (db, _clock, app) = super::without_ipns(backend).await;
    let product = app.api.product(30, None).await;
    let orders = stuck_orders(&app, product, 20).await;
    app.sim()
        .set_faults(Faults {
            ipn_drop_rate: 1.0,
            api_outage: Some(ApiOutage::Http503),
            ..Faults::default()
        })
        .unwrap();
    let backed_off = app.reconciler.run_once().await;
    assert!(backed_off.is_err(), "{backed_off:?}");
    // The first few queries failed together; the rest of the pass was given back unasked.
    let mut asked = 0;
    for (answer, _) in &orders {
        let events = db.payment_events(order_uuid(answer)).await;
        asked += usize::from(events.iter().any(|e| e.0 == "querydr"));
        assert_eq!(app.order(answer).await.status, OrderStatus::PendingPayment);
    }
    assert!(
        asked < orders.len(),
        "asked about {asked} of {}",
        orders.len()
    );
    app.assert_audit_clean().await;
}
on_each_backend!(a_failing_gateway_still_backs_off_the_whole_pass);
