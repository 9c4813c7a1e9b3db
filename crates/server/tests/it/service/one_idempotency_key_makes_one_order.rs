//! Idempotency under concurrency: many identical requests with one key make one order and all get the
//! first answer, byte for byte, even when that order took the last unit; the key reused for another
//! request is a conflict.

use flashgate_core::Strategy;
use flashgate_testkit::key;
use flashgate_testkit::{Backend, all_at_once};

on_each_backend!(and_strategy:
    fifty_identical_requests_make_one_order_and_fifty_identical_answers,
    identical_requests_for_the_last_unit_all_replay_the_winning_answer,
);

async fn fifty_identical_requests_make_one_order_and_fifty_identical_answers(
    backend: Backend,
    strategy: Strategy,
) {
    same_key_fifty_times(backend, strategy, 100).await;
}

async fn identical_requests_for_the_last_unit_all_replay_the_winning_answer(
    backend: Backend,
    strategy: Strategy,
) {
    same_key_fifty_times(backend, strategy, 1).await;
}

async fn same_key_fifty_times(backend: Backend, strategy: Strategy, stock: i64) {
    let app = super::spawn(backend).strategy(strategy).start().await;
    let api = app.api(0);
    let product = api.product(stock, None).await;
    let token = api.token("retrying-customer");
    let key = key();

    let answers = all_at_once(50, |_| {
        let api = api.clone();
        let token = token.clone();
        let key = key.clone();
        async move { api.place_order(&token, &key, product, 1).await }
    })
    .await;

    let first = answers
        .iter()
        .find(|a| a.status == 201)
        .expect("one of the requests creates the order");
    for answer in &answers {
        assert_eq!(
            (answer.status, String::from_utf8_lossy(&answer.body)),
            (first.status, String::from_utf8_lossy(&first.body)),
            "every request with the key gets the first answer, byte for byte"
        );
    }
    let replays = answers
        .iter()
        .filter(|a| a.headers.get("idempotent-replayed").is_some())
        .count();
    assert_eq!(replays, 49, "all but the first answer are replays");

    let report = app.assert_audit_clean().await;
    assert_eq!(report.orders, 1);
    assert_eq!(app.stock(product).await.available, stock - 1);

    // The same key with another body is refused and changes nothing.
    api.place_order(&token, &key, product, 2)
        .await
        .assert_problem(409, "idempotency_conflict");
    let other_product = api.product(5, None).await;
    api.place_order(&token, &key, other_product, 1)
        .await
        .assert_problem(409, "idempotency_conflict");
    assert_eq!(app.assert_audit_clean().await.orders, 1);
    assert_eq!(app.stock(product).await.available, stock - 1);
    assert_eq!(app.stock(other_product).await.available, 5);

    // A later retry of the original request still replays the first answer.
    let later = api.place_order(&token, &key, product, 1).await;
    assert_eq!((later.status, &later.body), (first.status, &first.body));
}
