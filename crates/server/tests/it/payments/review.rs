//! Money that may have moved without a clear success (VNPay ResponseCode 07, TransactionStatus 04/07):
//! the order goes to review, keeps its units, is never expired, and ends paid or refunded when the
//! gateway (or an operator) decides.

use flashgate_core::OrderStatus;
use flashgate_testkit::{Backend, Instance, client, manual_clock, order_uuid, payment_url};
use serde_json::{Value, json};
use vnpay_sim::Outcome;

/// Holds past its end (and the expirer's grace) are offered to the expirer, which must leave the
/// order under review with its units.
async fn the_expirer_leaves_it_alone(
    app: &Instance,
    clock: &flashgate_core::ManualClock,
    answer: &Value,
    product: i64,
) {
    clock.advance(time::Duration::minutes(20));
    let step = app.expirer.run_until_idle().await.unwrap();
    assert_eq!(step.expired, 0, "{step:?}");
    assert_eq!(app.order(answer).await.status, OrderStatus::PaymentReview);
    assert_eq!(app.api.available(product).await, 1, "the units stay held");
}

async fn an_ipn_saying_07_puts_the_order_under_review_until_the_gateway_says_paid(
    backend: Backend,
) {
    let db = backend.database().await;
    let clock = manual_clock();
    let app = super::spawn(backend, clock.clone()).instance(&db).await;
    let product = app.api.product(2, None).await;
    let answer = app.api.win("cus_review_07", product).await;

    let done = app
        .sim()
        .pay(payment_url(&answer), Outcome::Suspicious)
        .unwrap();
    app.sim().ipn_idle().await;
    assert_eq!(app.order(&answer).await.status, OrderStatus::PaymentReview);
    assert_eq!(app.api.available(product).await, 1);
    the_expirer_leaves_it_alone(&app, &clock, &answer, product).await;

    // The gateway still says 07: nothing changes, and it is asked again later.
    app.reconciler.run_once().await.unwrap();
    assert_eq!(app.order(&answer).await.status, OrderStatus::PaymentReview);

    app.sim().decide(&done.txn_ref, Outcome::Success).unwrap();
    clock.advance(time::Duration::minutes(6));
    let step = app.reconciler.run_once().await.unwrap();
    assert_eq!(step.settled, 1, "{step:?}");
    assert_eq!(app.order(&answer).await.status, OrderStatus::Paid);
    assert_eq!(app.api.available(product).await, 1, "the held unit is sold");
    let reasons: Vec<_> = db
        .ledger(order_uuid(&answer))
        .await
        .into_iter()
        .map(|(_, to, why)| (to, why))
        .collect();
    assert_eq!(
        reasons[1..],
        [
            ("payment_review".to_owned(), "ipn_review".to_owned()),
            ("paid".to_owned(), "querydr_paid".to_owned())
        ]
    );
    app.assert_audit_clean().await;
}
on_each_backend!(an_ipn_saying_07_puts_the_order_under_review_until_the_gateway_says_paid);

async fn an_ipn_saying_04_is_reviewed_and_released_when_the_gateway_says_nothing_was_paid(
    backend: Backend,
) {
    let db = backend.database().await;
    let clock = manual_clock();
    let app = super::spawn(backend, clock.clone()).instance(&db).await;
    let product = app.api.product(2, None).await;
    let answer = app.api.win("cus_review_04", product).await;

    let done = app
        .sim()
        .pay(payment_url(&answer), Outcome::Reversed)
        .unwrap();
    app.sim().ipn_idle().await;
    assert_eq!(app.order(&answer).await.status, OrderStatus::PaymentReview);
    the_expirer_leaves_it_alone(&app, &clock, &answer, product).await;

    app.sim()
        .decide(&done.txn_ref, Outcome::InsufficientFunds)
        .unwrap();
    app.reconciler.run_once().await.unwrap();
    assert_eq!(app.order(&answer).await.status, OrderStatus::PaymentFailed);
    assert_eq!(
        app.api.available(product).await,
        2,
        "the unit is back on sale"
    );
    app.assert_audit_clean().await;
}
on_each_backend!(an_ipn_saying_04_is_reviewed_and_released_when_the_gateway_says_nothing_was_paid);

async fn querydr_saying_07_with_every_ipn_lost_goes_to_review_and_the_operator_refunds_it(
    backend: Backend,
) {
    let db = backend.database().await;
    let clock = manual_clock();
    let app = super::spawn(backend, clock.clone()).instance(&db).await;
    super::drop_every_ipn(&app);
    let product = app.api.product(2, None).await;
    let answer = app.api.win("cus_review_qdr07", product).await;
    app.sim()
        .pay(payment_url(&answer), Outcome::Suspicious)
        .unwrap();
    app.sim().ipn_idle().await;

    let step = app.reconciler.run_once().await.unwrap();
    assert_eq!(step.settled, 1, "{step:?}");
    assert_eq!(app.order(&answer).await.status, OrderStatus::PaymentReview);
    the_expirer_leaves_it_alone(&app, &clock, &answer, product).await;

    let id = order_uuid(&answer);
    let settled = client()
        .post(app.api.url(&format!("/admin/orders/{id}/review")))
        .bearer_auth(app.api.admin_token())
        .json(&json!({"decision": "refund"}))
        .send()
        .await
        .unwrap();
    assert_eq!(settled.status(), 200);
    assert_eq!(
        settled.json::<Value>().await.unwrap()["status"],
        "refund_pending"
    );
    assert_eq!(
        app.api.available(product).await,
        2,
        "the unit is back on sale"
    );
    assert_eq!(app.refunder.run_once().await.unwrap().refunded, 1);
    assert_eq!(app.order(&answer).await.status, OrderStatus::Refunded);
    let refunds: usize = app.sim().payments().iter().map(|p| p.refunds.len()).sum();
    assert_eq!(refunds, 1);
    app.assert_audit_clean().await;
}
on_each_backend!(querydr_saying_07_with_every_ipn_lost_goes_to_review_and_the_operator_refunds_it);

async fn querydr_saying_04_at_expiry_puts_the_order_under_review_not_expired(backend: Backend) {
    let db = backend.database().await;
    let clock = manual_clock();
    let app = super::spawn(backend, clock.clone()).instance(&db).await;
    super::drop_every_ipn(&app);
    let product = app.api.product(2, None).await;
    let answer = app.api.win("cus_review_qdr04", product).await;
    let done = app
        .sim()
        .pay(payment_url(&answer), Outcome::Reversed)
        .unwrap();
    app.sim().ipn_idle().await;

    clock.advance(time::Duration::minutes(17));
    let step = app.expirer.run_until_idle().await.unwrap();
    assert_eq!((step.review, step.expired), (1, 0), "{step:?}");
    assert_eq!(app.order(&answer).await.status, OrderStatus::PaymentReview);
    the_expirer_leaves_it_alone(&app, &clock, &answer, product).await;

    app.sim().decide(&done.txn_ref, Outcome::Success).unwrap();
    app.reconciler.run_once().await.unwrap();
    assert_eq!(app.order(&answer).await.status, OrderStatus::Paid);
    app.assert_audit_clean().await;
}
on_each_backend!(querydr_saying_04_at_expiry_puts_the_order_under_review_not_expired);

/// Spec §4.3: only a code that says no money moved is a failure. A status saying unpaid beside a
/// ResponseCode that does not (00, 99, or one no table knows) leaves the money in doubt: the order is
/// reviewed with its units, never released.
async fn an_ipn_whose_code_does_not_say_unpaid_is_reviewed_whatever_the_status(backend: Backend) {
    use vnpay::{HashSecret, ResponseCode, TransactionStatus};
    let db = backend.database().await;
    let clock = manual_clock();
    let app = super::spawn(backend, clock.clone()).instance(&db).await;
    let cases = [
        ("00", TransactionStatus::Failed),
        ("00", TransactionStatus::TimedOut),
        ("00", TransactionStatus::Cancelled),
        ("99", TransactionStatus::Failed),
        ("42", TransactionStatus::Failed),
    ];
    let product = app.api.product(cases.len() as i64 + 1, None).await;
    for (i, (code, status)) in cases.into_iter().enumerate() {
        let answer = app.api.win(&format!("cus_doubt_{i}"), product).await;
        let order = app.order(&answer).await;
        let callback = vnpay::Callback {
            response_code: ResponseCode::from(code),
            transaction_status: status.clone(),
            ..super::paid_callback(
                "FLASHGT1",
                &order.id.txn_ref(),
                order.amount.get().unsigned_abs(),
            )
        };
        let query = callback.sign(&HashSecret::new(super::SECRET)).to_query();
        assert_eq!(app.api.ipn(&query).await, "00", "{code} {status:?}");
        assert_eq!(
            app.order(&answer).await.status,
            OrderStatus::PaymentReview,
            "{code} {status:?}"
        );
    }
    assert_eq!(app.api.available(product).await, 1, "every unit stays held");

    // A known refusal with an unpaid status is still a failure.
    let answer = app.api.win("cus_doubt_refused", product).await;
    let order = app.order(&answer).await;
    let refused = vnpay::Callback {
        response_code: ResponseCode::Cancelled,
        transaction_status: TransactionStatus::Failed,
        ..super::paid_callback(
            "FLASHGT1",
            &order.id.txn_ref(),
            order.amount.get().unsigned_abs(),
        )
    };
    let query = refused.sign(&HashSecret::new(super::SECRET)).to_query();
    assert_eq!(app.api.ipn(&query).await, "00");
    assert_eq!(app.order(&answer).await.status, OrderStatus::PaymentFailed);
    assert_eq!(app.api.available(product).await, 1);
    app.assert_audit_clean().await;
}
on_each_backend!(an_ipn_whose_code_does_not_say_unpaid_is_reviewed_whatever_the_status);
