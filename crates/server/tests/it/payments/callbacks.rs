//! Callbacks that must change nothing (forged, wrong amount, unknown order, already settled), and
//! duplicated, reordered IPNs that must change things exactly once.

use super::SECRET;
use flashgate_core::OrderStatus;
use flashgate_testkit::{Backend, PRICE_VND, manual_clock, order_uuid, payment_url};
use vnpay::{Callback, HashSecret, ResponseCode, TransactionStatus};
use vnpay_sim::{Faults, Outcome};

/// The terminal's own successful callback.
fn callback(txn_ref: &str, amount: u64) -> Callback {
    super::paid_callback("FLASHGT1", txn_ref, amount)
}

async fn callbacks_that_cannot_be_trusted_change_nothing(backend: Backend) {
    let db = backend.database().await;
    let app = super::spawn(backend, manual_clock()).instance(&db).await;
    let product = app.api.product(3, None).await;
    let answer = app.api.win("cus_forge", product).await;
    let order = app.order(&answer).await;
    let txn_ref = order.id.txn_ref();

    let forged = callback(&txn_ref, PRICE_VND.unsigned_abs())
        .sign(&HashSecret::new("not-the-secret"))
        .to_query();
    assert_eq!(app.api.ipn(&forged).await, "97");
    let tampered = callback(&txn_ref, PRICE_VND.unsigned_abs())
        .sign(&HashSecret::new(SECRET))
        .to_query()
        .replace("vnp_BankCode=NCB", "vnp_BankCode=VCB");
    assert_eq!(app.api.ipn(&tampered).await, "97");
    // The buyer's own payment link is signed with the same secret: it is no callback, and fields
    // added to it under percent-encoded names (read as `vnp_*`) are not signed by it.
    let request = payment_url(&answer).split_once('?').unwrap().1.to_owned();
    assert_eq!(app.api.ipn(&request).await, "97");
    let riding = format!(
        "{request}&vnp%5FResponseCode=00&vnp%5FTransactionStatus=00&vnp%5FTransactionNo=1&vnp%5FBankCode=NCB"
    );
    assert_eq!(app.api.ipn(&riding).await, "97");
    // A NUL in the reference it claims (PostgreSQL cannot store one) still leaves a record and
    // gets the answer of a forgery, not a 99 that has VNPay retry it.
    let nul = "vnp_Amount=15000000&vnp_ResponseCode=00&vnp_TmnCode=FLASHGT1&vnp_TxnRef=%00&vnp_SecureHash=00";
    assert_eq!(app.api.ipn(nul).await, "97");
    let cheap = callback(&txn_ref, 1_000)
        .sign(&HashSecret::new(SECRET))
        .to_query();
    assert_eq!(app.api.ipn(&cheap).await, "04");
    let unknown = callback(
        &uuid::Uuid::new_v4().simple().to_string(),
        PRICE_VND.unsigned_abs(),
    )
    .sign(&HashSecret::new(SECRET))
    .to_query();
    assert_eq!(app.api.ipn(&unknown).await, "01");

    assert_eq!(app.order(&answer).await.status, OrderStatus::PendingPayment);
    assert_eq!(
        db.ledger(order_uuid(&answer)).await.len(),
        1,
        "nothing was written to the ledger"
    );
    let events = db.payment_events(order_uuid(&answer)).await;
    assert_eq!(
        events,
        vec![
            ("ipn".into(), false, "invalid_signature".into()),
            ("ipn".into(), false, "invalid_signature".into()),
            ("ipn".into(), false, "invalid_signature".into()),
            ("ipn".into(), false, "invalid_signature".into()),
            ("ipn".into(), true, "paid".into()),
        ],
        "every callback is on record, verified or not"
    );

    let genuine = callback(&txn_ref, PRICE_VND.unsigned_abs())
        .sign(&HashSecret::new(SECRET))
        .to_query();
    assert_eq!(app.api.ipn(&genuine).await, "00");
    assert_eq!(
        app.api.ipn(&genuine).await,
        "02",
        "a settled order answers 02"
    );
    let failed_after = Callback {
        response_code: ResponseCode::Cancelled,
        transaction_status: TransactionStatus::Failed,
        ..callback(&txn_ref, PRICE_VND.unsigned_abs())
    };
    assert_eq!(
        app.api
            .ipn(&failed_after.sign(&HashSecret::new(SECRET)).to_query())
            .await,
        "02"
    );
    assert_eq!(app.order(&answer).await.status, OrderStatus::Paid);
    assert_eq!(app.api.available(product).await, 2);
    app.assert_audit_clean().await;
}
on_each_backend!(callbacks_that_cannot_be_trusted_change_nothing);

async fn duplicated_and_reordered_ipns_settle_each_order_once(backend: Backend) {
    let db = backend.database().await;
    let app = super::spawn(backend, manual_clock()).instance(&db).await;
    app.sim()
        .set_faults(Faults {
            ipn_duplicate_rate: 1.0,
            ipn_reorder_window: 4,
            ..Faults::default()
        })
        .unwrap();
    let product = app.api.product(10, None).await;
    let mut answers = Vec::new();
    for i in 0..8 {
        let answer = app.api.win(&format!("cus_dup_{i}"), product).await;
        let outcome = if i % 4 == 3 {
            Outcome::InsufficientFunds
        } else {
            Outcome::Success
        };
        app.sim().pay(payment_url(&answer), outcome).unwrap();
        answers.push((answer, outcome));
    }
    app.sim().ipn_idle().await;

    let deliveries = app.sim().ipn_deliveries();
    assert_eq!(
        deliveries
            .iter()
            .filter(|d| d.duplicate_of.is_some())
            .count(),
        8,
        "every IPN was sent twice"
    );
    for (answer, outcome) in &answers {
        let expected = if *outcome == Outcome::Success {
            OrderStatus::Paid
        } else {
            OrderStatus::PaymentFailed
        };
        assert_eq!(app.order(answer).await.status, expected);
        let ledger = db.ledger(order_uuid(answer)).await;
        assert_eq!(
            ledger.len(),
            2,
            "exactly one transition after creation: {ledger:?}"
        );
    }
    assert_eq!(app.api.available(product).await, 10 - 6);
    app.assert_audit_clean().await;
}
on_each_backend!(duplicated_and_reordered_ipns_settle_each_order_once);

/// A genuine callback replayed word for word (anyone who saw its URL can send it again, within the
/// callback rate limit, forever) is answered as before, `02` once the order is settled, but stored
/// once: its repeats are counted on the first row, and the order's detail does not grow.
async fn a_replayed_callback_is_answered_as_before_and_stored_once(backend: Backend) {
    let db = backend.database().await;
    let app = super::spawn(backend, manual_clock()).instance(&db).await;
    let product = app.api.product(3, None).await;
    let answer = app.api.win("cus_replay", product).await;
    let order = app.order(&answer).await;
    let genuine = callback(&order.id.txn_ref(), PRICE_VND.unsigned_abs())
        .sign(&HashSecret::new(SECRET))
        .to_query();
    assert_eq!(app.api.ipn(&genuine).await, "00");
    for _ in 0..5 {
        assert_eq!(
            app.api.ipn(&genuine).await,
            "02",
            "a settled order answers 02"
        );
    }
    for _ in 0..3 {
        let page = app
            .api
            .get(&format!("/payments/vnpay/return?{genuine}"), None)
            .await;
        assert_eq!(page.status, 200, "{page:?}");
    }
    let id = order_uuid(&answer);
    assert_eq!(
        db.payment_events(id).await,
        vec![
            ("ipn".into(), true, "paid".into()),
            ("return".into(), true, "paid".into()),
        ],
        "one row per message, however often it came"
    );
    let repeats = flashgate_testkit::Direct::connect(&db)
        .await
        .counts_by(&format!(
            "SELECT source, CAST(repeats AS BIGINT) FROM payment_events WHERE CAST(order_id AS TEXT) = '{id}'"
        ))
        .await;
    assert_eq!(repeats.get("ipn"), Some(&5), "{repeats:?}");
    assert_eq!(repeats.get("return"), Some(&2), "{repeats:?}");
    let detail = app
        .api
        .send(
            app.api
                .admin(reqwest::Method::GET, &format!("/admin/orders/{id}")),
        )
        .await
        .assert_status(200);
    assert_eq!(
        detail["payment_events"].as_array().map(Vec::len),
        Some(2),
        "{detail}"
    );
    assert_eq!(app.order(&answer).await.status, OrderStatus::Paid);
    app.assert_audit_clean().await;
}
on_each_backend!(a_replayed_callback_is_answered_as_before_and_stored_once);
