//! A purchase stuck longer than `http.request_timeout_ms` is answered like every other refusal: a 503
//! problem with `Retry-After`. A direct write is rolled back with the request; a gated purchase is
//! already in its group commit, which goes on, so the buyer's retry with the same key gets its answer.

use flashgate_core::Strategy;
use flashgate_testkit::{Backend, StockLock, TestApp, eventually, key};
use std::time::Duration;

on_each_backend!(and_strategy: a_purchase_held_past_the_request_timeout_gets_a_503_problem);
on_each_backend!(a_gated_purchase_told_503_gets_its_answer_on_retry);

async fn held_past_the_timeout(backend: Backend, strategy: Strategy) -> (TestApp, i64, String) {
    let app = super::spawn(backend)
        .strategy(strategy)
        .set("http.request_timeout_ms", 300)
        .start()
        .await;
    let api = app.api(0);
    let product = api.product(5, None).await;
    let token = api.token("patient-buyer");
    let key = key();

    // The purchase cannot finish while the lock is held, and the lock is held until it is answered.
    let mut lock = StockLock::take(backend, &app.db.url, product).await;
    let answer = api.place_order(&token, &key, product, 1).await;
    lock.release().await;

    answer.assert_problem(503, "unavailable");
    assert!(answer.headers.get("retry-after").is_some(), "{answer:?}");
    (app, product, key)
}

async fn a_purchase_held_past_the_request_timeout_gets_a_503_problem(
    backend: Backend,
    strategy: Strategy,
) {
    let (app, product, _) = held_past_the_timeout(backend, strategy).await;
    assert_eq!(app.stock(product).await.available, 5);
    assert_eq!(app.assert_audit_clean().await.orders, 0);
}

async fn a_gated_purchase_told_503_gets_its_answer_on_retry(backend: Backend) {
    let (app, product, key) = held_past_the_timeout(backend, Strategy::Gated).await;
    let api = app.api(0);
    let token = api.token("patient-buyer");
    // Until the group commit is through, a retry is told the first request is still in progress.
    let answered = eventually(Duration::from_secs(10), || async {
        api.place_order(&token, &key, product, 1).await.status == 201
    })
    .await;
    assert!(answered, "the retry got the stored answer");
    let again = api.place_order(&token, &key, product, 1).await;
    again.assert_status(201);
    assert_eq!(app.stock(product).await.available, 4);
    assert_eq!(app.assert_audit_clean().await.orders, 1);
}
