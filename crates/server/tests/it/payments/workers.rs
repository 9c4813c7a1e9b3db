//! The reconciler and expirer on several instances at once, and against a gateway that is down or
//! asks them to slow down.

use flashgate_core::{Clock, OrderStatus, Strategy};
use flashgate_testkit::{Backend, Instance, Spawn, manual_clock, order_uuid, payment_url};
use futures_util::future::join_all;
use serde_json::Value;
use std::sync::Arc;
use vnpay_sim::{ApiOutage, Faults, Outcome};

/// One of several instances over one database, without Redis: purchases take the conditional
/// update, since each process's own gate would not hear of the units the others release.
fn one_of_several(backend: Backend, clock: Arc<dyn Clock>) -> Spawn {
    super::spawn(backend, clock).strategy(Strategy::Conditional)
}

async fn paid_orders_with_lost_ipns(app: &Instance, product: i64, count: usize) -> Vec<Value> {
    super::drop_every_ipn(app);
    let mut answers = Vec::new();
    for i in 0..count {
        let answer = app.api.win(&format!("cus_many_{i}"), product).await;
        app.sim()
            .pay(payment_url(&answer), Outcome::Success)
            .unwrap();
        answers.push(answer);
    }
    app.sim().ipn_idle().await;
    answers
}

async fn three_reconcilers_query_and_settle_each_order_once(backend: Backend) {
    let db = backend.database().await;
    let clock = manual_clock();
    let first = one_of_several(backend, clock.clone()).instance(&db).await;
    let product = first.api.product(30, None).await;
    let answers = paid_orders_with_lost_ipns(&first, product, 24).await;
    // The other instances share the database; the first one's simulator is the gateway of all three.
    let mut others = Vec::new();
    for _ in 0..2 {
        others.push(one_of_several(backend, clock.clone()).instance(&db).await);
    }
    let reconcilers = [&first, &others[0], &others[1]].map(|i| {
        let mut r = i.reconciler.clone();
        r.payments = first.reconciler.payments.clone();
        r
    });
    let steps = join_all(reconcilers.iter().map(|r| r.run_once())).await;
    let claimed: usize = steps.iter().map(|s| s.as_ref().unwrap().claimed).sum();
    let settled: usize = steps.iter().map(|s| s.as_ref().unwrap().settled).sum();
    assert_eq!(
        (claimed, settled),
        (24, 24),
        "each order claimed by exactly one instance"
    );
    for answer in &answers {
        assert_eq!(first.order(answer).await.status, OrderStatus::Paid);
        let queries = db
            .payment_events(order_uuid(answer))
            .await
            .into_iter()
            .filter(|e| e.0 == "querydr")
            .count();
        assert_eq!(queries, 1, "each order was asked about once");
        assert_eq!(db.ledger(order_uuid(answer)).await.len(), 2);
    }
    first.assert_audit_clean().await;
}
on_each_backend!(three_reconcilers_query_and_settle_each_order_once);

async fn three_expirers_expire_each_order_once(backend: Backend) {
    let db = backend.database().await;
    let clock = manual_clock();
    let first = one_of_several(backend, clock.clone()).instance(&db).await;
    let product = first.api.product(30, None).await;
    let mut answers = Vec::new();
    for i in 0..24 {
        answers.push(first.api.win(&format!("cus_exp_{i}"), product).await);
    }
    let second = one_of_several(backend, clock.clone()).instance(&db).await;
    let third = one_of_several(backend, clock.clone()).instance(&db).await;
    clock.advance(time::Duration::minutes(16));
    let expirers = [&first, &second, &third].map(|i| {
        let mut e = i.expirer.clone();
        e.payments = first.expirer.payments.clone();
        e
    });
    let steps = join_all(expirers.iter().map(|e| e.run_until_idle())).await;
    let expired: usize = steps.iter().map(|s| s.as_ref().unwrap().expired).sum();
    assert_eq!(expired, 24);
    for answer in &answers {
        let ledger = db.ledger(order_uuid(answer)).await;
        assert_eq!(
            ledger.iter().filter(|row| row.1 == "expired").count(),
            1,
            "{ledger:?}"
        );
        let queries = db
            .payment_events(order_uuid(answer))
            .await
            .into_iter()
            .filter(|e| e.0 == "querydr")
            .count();
        assert_eq!(queries, 1, "each order was asked about once");
    }
    assert_eq!(first.api.available(product).await, 30);
    first.assert_audit_clean().await;
}
on_each_backend!(three_expirers_expire_each_order_once);

async fn an_unreachable_gateway_leaves_orders_pending_until_it_answers(backend: Backend) {
    let db = backend.database().await;
    let clock = manual_clock();
    let app = super::spawn(backend, clock.clone()).instance(&db).await;
    let product = app.api.product(5, None).await;
    let answers = paid_orders_with_lost_ipns(&app, product, 3).await;

    for (round, outage) in [ApiOutage::Http503, ApiOutage::ConnectionReset]
        .into_iter()
        .enumerate()
    {
        app.sim()
            .set_faults(Faults {
                ipn_drop_rate: 1.0,
                api_outage: Some(outage),
                ..Faults::default()
            })
            .unwrap();
        // Past every lease and poll time of the round before. While the holds run, the reconciler
        // asks and is told to back off; past them, only the expirer asks.
        clock.advance(time::Duration::minutes(1));
        let polled = app.reconciler.run_once().await;
        if round == 0 {
            assert!(polled.is_err(), "the worker is told to back off");
        } else {
            assert_eq!(polled.unwrap().claimed, 0, "past the holds, the expirer's");
        }
        clock.advance(time::Duration::minutes(20));
        let step = app.expirer.run_until_idle().await.unwrap();
        assert_eq!(
            step.expired, 0,
            "nothing expires while the gateway cannot be asked"
        );
        for answer in &answers {
            assert_eq!(app.order(answer).await.status, OrderStatus::PendingPayment);
        }
        assert_eq!(app.api.available(product).await, 2, "the units stay held");
    }

    super::drop_every_ipn(&app);
    clock.advance(time::Duration::minutes(1));
    let step = app.expirer.run_until_idle().await.unwrap();
    assert_eq!(
        step.paid, 3,
        "once the gateway answers, the paid orders are caught"
    );
    app.assert_audit_clean().await;
}
on_each_backend!(an_unreachable_gateway_leaves_orders_pending_until_it_answers);

async fn a_gateway_answering_94_makes_the_reconciler_back_off(backend: Backend) {
    let db = backend.database().await;
    let clock = manual_clock();
    let app = super::spawn(backend, clock.clone())
        .set("vnpay.sim_querydr_min_interval_ms", 3_600_000)
        .instance(&db)
        .await;
    let product = app.api.product(5, None).await;
    let answer = app.api.win("cus_94", product).await;
    app.sim().begin_payment(payment_url(&answer)).unwrap();

    app.reconciler.run_once().await.unwrap();
    clock.advance(time::Duration::minutes(8));
    let second = app.reconciler.run_once().await;
    assert!(
        second.is_err(),
        "94 tells the worker to back off: {second:?}"
    );
    let events = db.payment_events(order_uuid(&answer)).await;
    assert_eq!(
        events.last().map(|e| e.2.as_str()),
        Some("rate_limited"),
        "{events:?}"
    );
    assert_eq!(app.order(&answer).await.status, OrderStatus::PendingPayment);
    app.assert_audit_clean().await;
}
on_each_backend!(a_gateway_answering_94_makes_the_reconciler_back_off);

/// Past its hold, an order is asked about by the expirer alone (two workers asking trip the
/// gateway's pace for one order); when the gateway says "too soon", the expirer asks again at the
/// reconciler's pace (10 s), where it held the order for its whole lease (30 s) before.
async fn a_hold_past_its_end_is_the_expirer_s_and_a_refusal_delays_it_by_the_gateway_s_pace(
    backend: Backend,
) {
    let db = backend.database().await;
    let clock = manual_clock();
    // Hold 900 s, expiry grace 60 s; the gateway (on its own clock) takes one query per order an hour.
    let app = super::spawn(backend, clock.clone())
        .set("vnpay.sim_querydr_min_interval_ms", 3_600_000)
        .set("reconciler.min_poll_interval_seconds", 10)
        .instance(&db)
        .await;
    let product = app.api.product(5, None).await;
    let answer = app.api.win("cus_pace", product).await;
    app.sim().begin_payment(payment_url(&answer)).unwrap();

    clock.advance(time::Duration::seconds(895));
    let step = app.reconciler.run_once().await.unwrap();
    assert_eq!(step.claimed, 1, "asked while held");
    clock.advance(time::Duration::seconds(66));
    let step = app.reconciler.run_once().await.unwrap();
    assert_eq!(step.claimed, 0, "past the hold, the expirer's: {step:?}");
    let step = app.expirer.run_once().await.unwrap();
    assert_eq!((step.claimed, step.deferred), (1, 1), "too soon: {step:?}");
    clock.advance(time::Duration::seconds(9));
    assert_eq!(app.expirer.run_once().await.unwrap().claimed, 0);
    clock.advance(time::Duration::seconds(2));
    let step = app.expirer.run_once().await.unwrap();
    assert_eq!(
        (step.claimed, step.deferred),
        (1, 1),
        "asked again: {step:?}"
    );
    assert_eq!(app.order(&answer).await.status, OrderStatus::PendingPayment);
    assert_eq!(app.api.available(product).await, 4, "its unit still held");
    app.assert_audit_clean().await;
}
on_each_backend!(
    a_hold_past_its_end_is_the_expirer_s_and_a_refusal_delays_it_by_the_gateway_s_pace
);
