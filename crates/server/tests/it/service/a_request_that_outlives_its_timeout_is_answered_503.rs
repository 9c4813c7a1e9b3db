//! A purchase stuck longer than `http.request_timeout_ms` is answered like every other refusal: a 503
//! problem with `Retry-After`, and nothing written.

use flashgate_testkit::key;
use flashgate_testkit::{Backend, StockLock};

on_each_backend!(a_purchase_held_past_the_request_timeout_gets_a_503_problem);

async fn a_purchase_held_past_the_request_timeout_gets_a_503_problem(backend: Backend) {
    let app = super::spawn(backend)
        .set("http.request_timeout_ms", 300)
        .start()
        .await;
    let api = app.api(0);
    let product = api.product(5, None).await;
    let token = api.token("patient-buyer");

    // The purchase cannot finish while the lock is held, and the lock is held until it is answered.
    let mut lock = StockLock::take(backend, &app.db.url, product).await;
    let answer = api.place_order(&token, &key(), product, 1).await;
    lock.release().await;

    answer.assert_problem(503, "unavailable");
    assert!(answer.headers.get("retry-after").is_some(), "{answer:?}");
    assert_eq!(app.stock(product).await.available, 5);
    assert_eq!(app.assert_audit_clean().await.orders, 0);
}
