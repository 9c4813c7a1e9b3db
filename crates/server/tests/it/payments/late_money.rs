//! Money that arrives after the hold was released: the units are taken again when any are left,
//! otherwise the payment is refunded through the gateway's refund API.
//!
//! VNPay takes no payment past the link's `vnp_ExpireDate` by its own clock, and flashgate releases a
//! hold only a grace after that date, having asked the gateway first; so money arrives on a released
//! hold when VNPay's clock runs behind ours by more than the grace. Here it runs three minutes behind.

use flashgate_core::OrderStatus;
use flashgate_testkit::{Backend, manual_clock, order_uuid, payment_url};
use vnpay_sim::Outcome;

async fn a_late_payment_takes_the_units_again_when_some_are_left(backend: Backend) {
    let db = backend.database().await;
    let clock = manual_clock();
    let app = super::spawn(backend, clock.clone()).instance(&db).await;
    super::gateway_clock_behind(&app, time::Duration::minutes(3));
    let product = app.api.product(2, None).await;
    let answer = app.api.win("cus_late", product).await;
    clock.advance(time::Duration::minutes(16));
    app.expirer.run_until_idle().await.unwrap();
    assert_eq!(app.order(&answer).await.status, OrderStatus::Expired);
    assert_eq!(app.api.available(product).await, 2);

    // 16 minutes in by our clock, 13 by VNPay's: still before the link's ExpireDate.
    let done = app
        .sim()
        .pay(payment_url(&answer), Outcome::Success)
        .unwrap();
    assert_eq!(done.response_code, "00", "the gateway took the money");
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
    super::gateway_clock_behind(&app, time::Duration::minutes(3));
    let product = app.api.product(1, None).await;
    let late = app.api.win("cus_slow", product).await;
    clock.advance(time::Duration::minutes(16));
    app.expirer.run_until_idle().await.unwrap();
    let quick = app.api.win("cus_quick", product).await;
    app.sim()
        .pay(payment_url(&quick), Outcome::Success)
        .unwrap();

    let done = app.sim().pay(payment_url(&late), Outcome::Success).unwrap();
    assert_eq!(
        done.response_code, "00",
        "before ExpireDate by VNPay's clock"
    );
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

/// The answers the merchant gave the IPNs for `txn_ref`, in order.
fn ipn_answers(app: &flashgate_testkit::Instance, txn_ref: &str) -> Vec<String> {
    app.sim()
        .ipn_deliveries()
        .into_iter()
        .filter(|d| d.txn_ref == txn_ref)
        .flat_map(|d| d.attempts)
        .filter_map(|a| match a {
            vnpay_sim::AttemptResult::Answered { rsp_code, .. } => rsp_code,
            _ => None,
        })
        .collect()
}

async fn admin_ids(app: &flashgate_testkit::Instance, path: &str) -> Vec<String> {
    let page = app
        .api
        .send(app.api.admin(reqwest::Method::GET, path))
        .await
        .assert_status(200);
    super::order_ids(&page)
}

/// Spec §4.3: money in doubt (ResponseCode 07) about a released hold whose units were sold since is
/// never left as unpaid. The order is reviewed holding nothing (the IPN answered 00 once that is on
/// record), shown to operators, asked about past the late-money window, and refunded when the gateway
/// says the money was taken.
async fn doubtful_late_money_for_units_sold_to_someone_else_is_reviewed_until_the_gateway_decides(
    backend: Backend,
) {
    let db = backend.database().await;
    let clock = manual_clock();
    let app = super::spawn(backend, clock.clone()).instance(&db).await;
    super::gateway_clock_behind(&app, time::Duration::minutes(3));
    let product = app.api.product(1, None).await;
    let late = app.api.win("cus_doubt_slow", product).await;
    clock.advance(time::Duration::minutes(16));
    app.expirer.run_until_idle().await.unwrap();
    let quick = app.api.win("cus_doubt_quick", product).await;
    app.sim()
        .pay(payment_url(&quick), Outcome::Success)
        .unwrap();

    let done = app
        .sim()
        .pay(payment_url(&late), Outcome::Suspicious)
        .unwrap();
    app.sim().ipn_idle().await;
    assert_eq!(app.order(&quick).await.status, OrderStatus::Paid);
    assert_eq!(
        app.order(&late).await.status,
        OrderStatus::PaymentReviewReleased
    );
    assert_eq!(ipn_answers(&app, &done.txn_ref), ["00"]);
    assert_eq!(app.api.available(product).await, 0);
    assert_eq!(
        admin_ids(&app, "/admin/orders?status=payment_review_released").await,
        [order_uuid(&late).to_string()]
    );
    app.assert_audit_clean().await;

    // Still in doubt long past the late-money window: it is asked about and left as it is.
    clock.advance(time::Duration::hours(3));
    let step = app.reconciler.run_once().await.unwrap();
    assert_eq!((step.claimed, step.still_pending), (1, 1), "{step:?}");
    assert_eq!(
        app.order(&late).await.status,
        OrderStatus::PaymentReviewReleased
    );

    app.sim().decide(&done.txn_ref, Outcome::Success).unwrap();
    clock.advance(time::Duration::minutes(10));
    let step = app.reconciler.run_once().await.unwrap();
    assert_eq!(step.settled, 1, "{step:?}");
    assert_eq!(app.order(&late).await.status, OrderStatus::RefundPending);
    assert_eq!(app.refunder.run_once().await.unwrap().refunded, 1);
    assert_eq!(app.order(&late).await.status, OrderStatus::Refunded);
    assert_eq!(app.api.available(product).await, 0);
    let reasons: Vec<_> = db
        .ledger(order_uuid(&late))
        .await
        .into_iter()
        .map(|(_, to, why)| (to, why))
        .collect();
    assert_eq!(
        reasons[1..4],
        [
            ("expired".to_owned(), "hold_expired".to_owned()),
            (
                "payment_review_released".to_owned(),
                "ipn_late_review_no_stock".to_owned()
            ),
            (
                "refund_pending".to_owned(),
                "querydr_late_paid_no_stock".to_owned()
            ),
        ]
    );
    app.assert_audit_clean().await;
}
on_each_backend!(
    doubtful_late_money_for_units_sold_to_someone_else_is_reviewed_until_the_gateway_decides
);

/// The same doubt for a customer now at the purchase limit: reviewed holding nothing, and released
/// with nothing to give back when the gateway says no money moved.
async fn doubtful_late_money_for_a_customer_at_the_limit_is_reviewed_then_failed(backend: Backend) {
    let db = backend.database().await;
    let clock = manual_clock();
    let app = super::spawn(backend, clock.clone()).instance(&db).await;
    super::gateway_clock_behind(&app, time::Duration::minutes(3));
    let product = app.api.product(3, Some(1)).await;
    let late = app.api.win("cus_doubt_limit", product).await;
    clock.advance(time::Duration::minutes(16));
    app.expirer.run_until_idle().await.unwrap();
    let again = app.api.win("cus_doubt_limit", product).await;
    app.sim()
        .pay(payment_url(&again), Outcome::Success)
        .unwrap();

    let done = app
        .sim()
        .pay(payment_url(&late), Outcome::Reversed)
        .unwrap();
    app.sim().ipn_idle().await;
    assert_eq!(
        app.order(&late).await.status,
        OrderStatus::PaymentReviewReleased
    );
    assert_eq!(ipn_answers(&app, &done.txn_ref), ["00"]);
    assert_eq!(app.api.available(product).await, 2);
    app.assert_audit_clean().await;

    app.sim()
        .decide(&done.txn_ref, Outcome::InsufficientFunds)
        .unwrap();
    clock.advance(time::Duration::hours(2));
    let step = app.reconciler.run_once().await.unwrap();
    assert_eq!(step.settled, 1, "{step:?}");
    assert_eq!(app.order(&late).await.status, OrderStatus::PaymentFailed);
    assert_eq!(app.order(&again).await.status, OrderStatus::Paid);
    assert_eq!(app.api.available(product).await, 2, "nothing to release");
    app.assert_audit_clean().await;
}
on_each_backend!(doubtful_late_money_for_a_customer_at_the_limit_is_reviewed_then_failed);

async fn no_money_moves_after_the_links_expire_date_by_the_gateways_clock(backend: Backend) {
    let db = backend.database().await;
    let clock = manual_clock();
    let app = super::spawn(backend, clock.clone()).instance(&db).await;
    let product = app.api.product(2, None).await;
    let on_the_page = app.api.win("cus_on_the_page", product).await;
    let comes_back = app.api.win("cus_comes_back", product).await;
    let id = app.sim().begin_payment(payment_url(&on_the_page)).unwrap();
    clock.advance(time::Duration::minutes(16));
    assert_eq!(app.expirer.run_until_idle().await.unwrap().expired, 2);

    // The bundled simulator keeps our time: the link opened now is the gateway's timeout page, and
    // the buyer still on the page ends timed out (response 11) whatever they choose.
    let refused = app.sim().begin_payment(payment_url(&comes_back));
    assert_eq!(refused.map_err(|e| e.code()), Err("15"));
    let done = app.sim().complete(id, Outcome::Success).unwrap();
    assert_eq!(done.response_code, "11");
    app.sim().ipn_idle().await;

    for order in [&on_the_page, &comes_back] {
        assert_eq!(app.order(order).await.status, OrderStatus::Expired);
    }
    assert_eq!(app.api.available(product).await, 2);
    app.assert_audit_clean().await;
}
on_each_backend!(no_money_moves_after_the_links_expire_date_by_the_gateways_clock);
