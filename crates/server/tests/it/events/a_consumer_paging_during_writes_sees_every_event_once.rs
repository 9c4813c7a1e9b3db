//! A consumer that pages the feed while many writers commit sees every event exactly once. On
//! PostgreSQL ids are handed out before commit, so a writer that took a low id and commits late must
//! still be seen: the feed holds back everything a running transaction could precede.

use super::{Reader, read_all};
use flashgate_testkit::{Api, Backend, TestDatabase, key};
use serde_json::Value;
use sqlx::Connection;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

const BUYERS: usize = 300;

on_each_backend!(a_consumer_paging_during_writes_sees_every_event_once);

async fn a_consumer_paging_during_writes_sees_every_event_once(backend: Backend) {
    let app = super::spawn(backend)
        .instances(2)
        .set("inventory.strategy", "conditional")
        .start()
        .await;
    let product = app.api(0).product(BUYERS as i64, None).await;

    let writing = Arc::new(AtomicBool::new(true));
    let consumer = {
        let api = app.api(1).clone();
        let writing = writing.clone();
        tokio::spawn(async move { consume(&api, &writing).await })
    };
    let buyers: Vec<_> = (0..BUYERS)
        .map(|i| {
            let api = app.api(i % 2).clone();
            tokio::spawn(async move {
                api.buy(&format!("cus_{i}"), &key(), product, 1)
                    .await
                    .assert_status(201);
            })
        })
        .collect();
    for buyer in buyers {
        buyer.await.unwrap();
    }
    writing.store(false, Ordering::SeqCst);
    let mut reader = consumer.await.unwrap();
    reader.until(app.api(1), 7, BUYERS).await;
    assert!(
        reader.step(app.api(1), 7).await,
        "nothing more than the ledger holds"
    );

    let ledger = app
        .direct()
        .await
        .count("SELECT COUNT(*) FROM order_events")
        .await;
    assert_eq!(ledger, BUYERS as i64);
    assert_exactly_once(&reader.seen, BUYERS);
}

/// Pages the feed, 7 events at a time, while the writers write.
async fn consume(api: &Api, writing: &AtomicBool) -> Reader {
    let mut reader = Reader::default();
    while writing.load(Ordering::SeqCst) {
        reader.step(api, 7).await;
    }
    reader
}

fn assert_exactly_once(seen: &[Value], expected: usize) {
    let mut times: HashMap<&str, usize> = HashMap::new();
    for event in seen {
        *times.entry(event["id"].as_str().unwrap()).or_default() += 1;
    }
    let twice: Vec<_> = times.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "seen more than once: {twice:?}");
    assert_eq!(times.len(), expected, "every event, once");
}

/// A writer that took its ledger id first and commits last: the consumer's page taken while it runs
/// must not step over it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_commit_with_an_early_id_is_not_skipped() {
    let db = TestDatabase::postgres().await;
    let app = super::spawn(Backend::Postgres)
        .set("inventory.strategy", "conditional")
        .start_on(db)
        .await;
    let api = app.api(0);
    let product = api.product(10, None).await;
    let first = api.win("cus_first", product).await;

    // The slow writer: a ledger row for the first order, its transaction left open.
    let mut slow = sqlx::PgConnection::connect(&app.db.url).await.unwrap();
    let mut tx = slow.begin().await.unwrap();
    sqlx::query(
        "INSERT INTO order_events (order_id, from_status, to_status, reason, at) \
         VALUES ($1, 'pending_payment', 'payment_review', 'slow_writer', now())",
    )
    .bind(flashgate_testkit::order_uuid(&first))
    .execute(&mut *tx)
    .await
    .unwrap();

    // Later writers commit meanwhile, with higher ids.
    for i in 0..3 {
        api.win(&format!("cus_after_{i}"), product).await;
    }
    // At most the first order's creation: everything else could be preceded by the open writer.
    let mut reader = Reader::default();
    reader.step(api, 100).await;
    assert!(reader.seen.len() <= 1, "{:#?}", reader.seen);

    tx.commit().await.unwrap();
    reader.until(api, 100, 5).await;
    let kinds: Vec<&str> = reader
        .seen
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        vec![
            "order.created",
            "order.payment_review",
            "order.created",
            "order.created",
            "order.created",
        ],
        "by writing transaction, then id: {:#?}",
        reader.seen
    );
    assert_exactly_once(&reader.seen, 5);
    assert_exactly_once(&read_all(api, 2, 5).await, 5);
}
