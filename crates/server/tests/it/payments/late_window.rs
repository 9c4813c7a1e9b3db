//! A payment completed just after the hold ended, with querydr saying "pending" at expiry and every
//! IPN lost: the reconciler keeps asking about released holds for the late-money window, so the money
//! is caught (the units taken again, or refunded) and never left on an expired order.
//!
//! VNPay takes no payment past the link's `vnp_ExpireDate` by its own clock, and the expirer asks a
//! grace after that date; so "just after the hold ended" by our clock is still in time by VNPay's only
//! when VNPay's clock runs behind ours by more than the grace. Here it runs three minutes behind.

use flashgate_core::{ManualClock, OrderStatus};
use flashgate_testkit::{Backend, Instance, manual_clock, payment_url};
use serde_json::Value;
use vnpay_sim::Outcome;

async fn a_payment_completed_after_expiry_with_every_ipn_lost_is_caught_within_the_window(
    backend: Backend,
) {
    let db = backend.database().await;
    let clock = manual_clock();
    let app = super::spawn(backend, clock.clone()).instance(&db).await;
    super::drop_every_ipn(&app);
    super::gateway_clock_behind(&app, time::Duration::minutes(3));
    let product = app.api.product(3, None).await;

    // Past the window, a released hold is no longer asked about: this buyer pays at the edge of the
    // hold, every IPN is lost, and no reconciler runs until the window has passed.
    let long_gone = app.api.win("cus_long_gone", product).await;
    let id = app.sim().begin_payment(payment_url(&long_gone)).unwrap();
    clock.advance(time::Duration::seconds(16 * 60 + 30));
    assert_eq!(app.expirer.run_until_idle().await.unwrap().expired, 1);
    let done = app.sim().complete(id, Outcome::Success).unwrap();
    assert_eq!(
        done.response_code, "00",
        "before ExpireDate by VNPay's clock"
    );
    app.sim().ipn_idle().await;
    clock.advance(time::Duration::minutes(61));

    let late = app.api.win("cus_edge", product).await;
    let id = app.sim().begin_payment(payment_url(&late)).unwrap();
    // The expirer waits out its grace, then asks: the buyer is still on the page.
    clock.advance(time::Duration::seconds(15 * 60 + 30));
    assert_eq!(
        app.expirer.run_until_idle().await.unwrap().claimed,
        0,
        "within the grace"
    );
    clock.advance(time::Duration::seconds(60));
    let step = app.expirer.run_until_idle().await.unwrap();
    assert_eq!(step.expired, 1, "{step:?}");
    assert_eq!(app.order(&late).await.status, OrderStatus::Expired);

    // The buyer finishes just after the hold ended (13.5 minutes in by VNPay's clock); every IPN
    // retry is lost.
    let done = app.sim().complete(id, Outcome::Success).unwrap();
    assert_eq!(
        done.response_code, "00",
        "before ExpireDate by VNPay's clock"
    );
    app.sim().ipn_idle().await;
    clock.advance(time::Duration::minutes(10));
    let step = app.reconciler.run_once().await.unwrap();
    assert_eq!(step.claimed, 1, "only the hold within its window: {step:?}");
    assert_eq!(app.order(&late).await.status, OrderStatus::Paid, "caught");
    assert_eq!(app.api.available(product).await, 2, "its unit taken again");
    assert_eq!(app.order(&long_gone).await.status, OrderStatus::Expired);
    app.assert_audit_clean().await;
}
on_each_backend!(a_payment_completed_after_expiry_with_every_ipn_lost_is_caught_within_the_window);

/// The one unit of a product: a slow buyer's hold is released while they are on the gateway's page,
/// a quick buyer takes and pays for the unit, then the slow buyer finishes with `outcome` (17 minutes
/// in by our clock, 14 by VNPay's) and every IPN is lost; the reconciler asks 5 minutes later. The
/// slow and the quick buyer's orders.
async fn finished_after_the_unit_was_sold(
    app: &Instance,
    clock: &ManualClock,
    outcome: Outcome,
) -> (Value, Value) {
    super::drop_every_ipn(app);
    super::gateway_clock_behind(app, time::Duration::minutes(3));
    let product = app.api.product(1, None).await;
    let late = app.api.win("cus_slow_edge", product).await;
    let id = app.sim().begin_payment(payment_url(&late)).unwrap();
    clock.advance(time::Duration::minutes(17));
    app.expirer.run_until_idle().await.unwrap();
    assert_eq!(app.order(&late).await.status, OrderStatus::Expired);
    let quick = app.api.win("cus_quick_edge", product).await;
    app.sim()
        .pay(payment_url(&quick), Outcome::Success)
        .unwrap();
    let done = app.sim().complete(id, outcome).unwrap();
    // 11: timed out, as a payment finished past ExpireDate by VNPay's clock would be.
    assert_ne!(
        done.response_code, "11",
        "before ExpireDate by VNPay's clock"
    );
    app.sim().ipn_idle().await;
    clock.advance(time::Duration::minutes(5));
    app.reconciler.run_once().await.unwrap();
    assert_eq!(app.order(&quick).await.status, OrderStatus::Paid);
    (late, quick)
}

async fn late_money_found_by_the_reconciler_for_units_sold_since_is_refunded(backend: Backend) {
    let db = backend.database().await;
    let clock = manual_clock();
    let app = super::spawn(backend, clock.clone()).instance(&db).await;
    let (late, _) = finished_after_the_unit_was_sold(&app, &clock, Outcome::Success).await;
    assert_eq!(app.order(&late).await.status, OrderStatus::RefundPending);
    assert_eq!(app.refunder.run_once().await.unwrap().refunded, 1);
    assert_eq!(app.order(&late).await.status, OrderStatus::Refunded);
    app.assert_audit_clean().await;
}
on_each_backend!(late_money_found_by_the_reconciler_for_units_sold_since_is_refunded);

/// Every IPN lost: the reconciler's querydr within the late-money window finds money in doubt for a
/// released hold whose units were sold since. The order is reviewed holding nothing and asked about
/// with no time limit; an operator can settle it (accepted money with no units left is refunded).
async fn doubt_found_by_the_reconciler_for_units_sold_since_is_reviewed_past_the_window(
    backend: Backend,
) {
    let db = backend.database().await;
    let clock = manual_clock();
    let app = super::spawn(backend, clock.clone()).instance(&db).await;
    let (late, quick) = finished_after_the_unit_was_sold(&app, &clock, Outcome::Suspicious).await;
    let product = quick["product_id"].as_i64().unwrap();
    assert_eq!(
        app.order(&late).await.status,
        OrderStatus::PaymentReviewReleased
    );
    app.assert_audit_clean().await;

    for _ in 0..3 {
        clock.advance(time::Duration::hours(1));
        let step = app.reconciler.run_once().await.unwrap();
        assert_eq!(step.claimed, 1, "asked again past the window: {step:?}");
    }
    assert_eq!(
        app.order(&late).await.status,
        OrderStatus::PaymentReviewReleased
    );

    let order_id = flashgate_testkit::order_uuid(&late);
    let settled = flashgate_testkit::client()
        .post(app.api.url(&format!("/admin/orders/{order_id}/review")))
        .bearer_auth(app.api.admin_token())
        .json(&serde_json::json!({"decision": "accept_paid"}))
        .send()
        .await
        .unwrap();
    assert_eq!(settled.status(), 200);
    assert_eq!(app.order(&late).await.status, OrderStatus::RefundPending);
    assert_eq!(app.api.available(product).await, 0);
    app.assert_audit_clean().await;
}
on_each_backend!(doubt_found_by_the_reconciler_for_units_sold_since_is_reviewed_past_the_window);
