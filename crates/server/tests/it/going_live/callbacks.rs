//! Callbacks that are not ours: another terminal's is refused without touching the order; unverified
//! ones are pruned after their retention while verified ones stay; and each unverified one is a strike
//! in its sender's penalty box. On PostgreSQL and SQLite (the penalty box in process and on Redis).

use super::{Running, VNPAY_SECRET, settings, start_with_clock};
use flashgate_core::{ManualClock, OrderId, OrderStatus};
use flashgate_store::testing::TestDatabase;
use serde_json::{Value, json};
use std::sync::Arc;
use time::OffsetDateTime;
use uuid::Uuid;
use vnpay::{Callback, HashSecret};

const RETENTION_SECONDS: i64 = 3_600;

enum Backend {
    Postgres,
    Sqlite,
}

async fn database(backend: Backend) -> TestDatabase {
    match backend {
        Backend::Postgres => TestDatabase::postgres().await,
        Backend::Sqlite => TestDatabase::sqlite(),
    }
}

/// A paid callback for 150,000 VND, as the terminal `tmn_code` would send it.
fn paid(tmn_code: &str, txn_ref: &str) -> Callback {
    crate::payments::paid_callback(tmn_code, txn_ref, 150_000)
}

fn signed(callback: &Callback, secret: &str) -> String {
    callback.sign(&HashSecret::new(secret)).to_query()
}

async fn ipn(app: &Running, query: &str) -> reqwest::Response {
    reqwest::get(format!("{}?{query}", app.url("/payments/vnpay/ipn")))
        .await
        .unwrap()
}

async fn rsp_code(app: &Running, query: &str) -> String {
    let response = ipn(app, query).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    body["RspCode"].as_str().unwrap().to_owned()
}

struct Sale {
    db: TestDatabase,
    app: Running,
    clock: Arc<ManualClock>,
    order: OrderId,
}

async fn sale(backend: Backend, overrides: &[(&str, Value)]) -> Sale {
    let db = database(backend).await;
    let clock = Arc::new(ManualClock::new(OffsetDateTime::now_utc()));
    let mut all = vec![(
        "callbacks.unverified_retention_seconds",
        json!(RETENTION_SECONDS),
    )];
    all.extend(overrides.iter().cloned());
    let app = start_with_clock(settings(&db.url, &all), clock.clone()).await;
    let product = app.create_product().await;
    let answer = app.buy("cus_callbacks", product).await;
    let order = OrderId(Uuid::parse_str(answer["id"].as_str().unwrap()).unwrap());
    Sale {
        db,
        app,
        clock,
        order,
    }
}

impl Sale {
    async fn status(&self) -> OrderStatus {
        self.app
            .store
            .orders
            .get(self.order)
            .await
            .unwrap()
            .unwrap()
            .status
    }

    async fn events(&self) -> Vec<(String, bool, String)> {
        self.db.payment_events(self.order.0).await
    }
}

async fn another_terminals_callback_changes_nothing(backend: Backend) {
    let sale = sale(backend, &[]).await;
    let txn_ref = sale.order.txn_ref();
    // Signed with our secret (a secret shared by two terminals), but for another terminal.
    let foreign = signed(&paid("OTHERTM1", &txn_ref), VNPAY_SECRET);
    assert_eq!(
        rsp_code(&sale.app, &foreign).await,
        "01",
        "not an order of ours"
    );
    assert_eq!(sale.status().await, OrderStatus::PendingPayment);
    assert_eq!(
        sale.db.ledger(sale.order.0).await.len(),
        1,
        "nothing was written to the ledger"
    );
    let page = reqwest::get(format!(
        "{}?{foreign}",
        sale.app.url("/payments/vnpay/return")
    ))
    .await
    .unwrap()
    .text()
    .await
    .unwrap();
    assert!(page.contains("We could not confirm this payment"), "{page}");
    assert_eq!(
        sale.events().await,
        vec![
            ("ipn".into(), false, "other_terminal".into()),
            ("return".into(), false, "unverified".into()),
        ],
        "on record, as not ours"
    );
    // The same payment for our terminal settles.
    let ours = signed(&paid("FLASHGT1", &txn_ref), VNPAY_SECRET);
    assert_eq!(rsp_code(&sale.app, &ours).await, "00");
    assert_eq!(sale.status().await, OrderStatus::Paid);
}

async fn unverified_callbacks_are_pruned_after_their_retention(backend: Backend) {
    let sale = sale(backend, &[]).await;
    let txn_ref = sale.order.txn_ref();
    let forged = signed(&paid("FLASHGT1", &txn_ref), "not-the-secret");
    assert_eq!(rsp_code(&sale.app, &forged).await, "97");
    let genuine = signed(&paid("FLASHGT1", &txn_ref), VNPAY_SECRET);
    assert_eq!(rsp_code(&sale.app, &genuine).await, "00");

    sale.clock
        .advance(time::Duration::seconds(RETENTION_SECONDS - 1));
    assert_eq!(sale.app.pruner.run_once().await.unwrap(), 0, "not yet");
    let later = signed(&paid("OTHERTM1", &txn_ref), VNPAY_SECRET);
    assert_eq!(rsp_code(&sale.app, &later).await, "01");

    sale.clock.advance(time::Duration::seconds(2));
    assert_eq!(sale.app.pruner.run_once().await.unwrap(), 1);
    assert_eq!(
        sale.events().await,
        vec![
            ("ipn".into(), true, "paid".into()),
            ("ipn".into(), false, "other_terminal".into()),
        ],
        "the verified callback stays with its order; the younger unverified one waits its turn"
    );
    sale.clock
        .advance(time::Duration::seconds(RETENTION_SECONDS));
    assert_eq!(sale.app.pruner.run_once().await.unwrap(), 1);
    assert_eq!(
        sale.events().await,
        vec![("ipn".into(), true, "paid".into())]
    );
    let report = sale.app.store.auditor.audit().await.unwrap();
    assert!(report.is_clean(), "{report:?}");
}

/// Three strikes are tolerated; the fourth unverified callback bans the sender, whose callbacks are
/// then refused even when genuine, until the ban ends.
async fn unverified_callbacks_send_their_sender_to_the_penalty_box(
    backend: Backend,
    redis: Option<&flashgate_shared_state::testing::TestRedis>,
) {
    let mut overrides = vec![
        ("limits.enabled", json!(true)),
        ("limits.penalty.strikes", json!(3)),
        ("limits.penalty.ban_ms", json!(60_000)),
    ];
    if let Some(redis) = redis {
        overrides.push(("redis_url", json!(redis.url())));
        overrides.push(("redis.key_prefix", json!(redis.prefix)));
    }
    let sale = sale(backend, &overrides).await;
    let txn_ref = sale.order.txn_ref();
    let forged = signed(&paid("FLASHGT1", &txn_ref), "not-the-secret");
    for _ in 0..4 {
        assert_eq!(rsp_code(&sale.app, &forged).await, "97");
    }
    let genuine = signed(&paid("FLASHGT1", &txn_ref), VNPAY_SECRET);
    assert_eq!(ipn(&sale.app, &genuine).await.status(), 429, "banned");
    assert_eq!(sale.status().await, OrderStatus::PendingPayment);

    sale.clock.advance(time::Duration::seconds(61));
    assert_eq!(rsp_code(&sale.app, &genuine).await, "00", "the ban ends");
    assert_eq!(sale.status().await, OrderStatus::Paid);
}

mod another_terminal {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn on_postgres() {
        another_terminals_callback_changes_nothing(Backend::Postgres).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn on_sqlite() {
        another_terminals_callback_changes_nothing(Backend::Sqlite).await;
    }
}

mod retention {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn on_postgres() {
        unverified_callbacks_are_pruned_after_their_retention(Backend::Postgres).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn on_sqlite() {
        unverified_callbacks_are_pruned_after_their_retention(Backend::Sqlite).await;
    }
}

mod penalty_box {
    use super::*;
    use flashgate_shared_state::testing::TestRedis;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn in_process_on_sqlite() {
        unverified_callbacks_send_their_sender_to_the_penalty_box(Backend::Sqlite, None).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn on_redis_and_postgres() {
        let redis = TestRedis::new();
        unverified_callbacks_send_their_sender_to_the_penalty_box(Backend::Postgres, Some(&redis))
            .await;
    }
}
