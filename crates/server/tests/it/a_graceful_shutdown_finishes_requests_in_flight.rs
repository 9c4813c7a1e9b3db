//! Graceful shutdown: cancelling the token while purchases are in flight lets each of them finish with a
//! full answer, then `run` returns and the books balance.

use crate::harness::api::key;
use crate::harness::{Backend, Spawn, TestApp, all_at_once};
use flashgate_core::Clock;
use sqlx::{Connection, PgConnection, SqliteConnection};
use std::sync::Arc;
use time::OffsetDateTime;
use tokio::sync::watch;

const IN_FLIGHT: usize = 30;

on_each_backend!(cancelling_the_token_lets_in_flight_purchases_finish);

async fn cancelling_the_token_lets_in_flight_purchases_finish(backend: Backend) {
    let clock = Arc::new(CountingClock::default());
    let mut app = Spawn::new(backend)
        .clock(clock.clone())
        // Every purchase must be able to hold a connection while it waits on the stock lock.
        .set("database.max_connections", 40)
        .set("database.acquire_timeout_ms", 60_000)
        .start()
        .await;
    let product = app.api(0).product(20, None).await;
    let mut lock = StockLock::take(&app, product).await;
    let mut calls = clock.calls.subscribe();

    let firing = all_at_once(IN_FLIGHT, |i| {
        let api = app.api(0).clone();
        let token = api.token(&format!("buyer-{i}"));
        async move { api.place_order(&token, &key(), product, 1).await }
    });
    let shutting_down = async {
        // Each purchase reads the clock once, just before it reserves: when all have, every one of
        // them is inside the service, held up by the lock.
        calls
            .wait_for(|n| *n >= IN_FLIGHT)
            .await
            .expect("the clock reports calls");
        app.instances[0].signal_shutdown();
        lock.release().await;
    };
    let (answers, ()) = tokio::join!(firing, shutting_down);

    for answer in &answers {
        match answer.status {
            201 => assert_eq!(answer.json()["status"], "pending_payment"),
            _ => answer.assert_problem(409, "sold_out"),
        }
    }
    let created = answers.iter().filter(|a| a.status == 201).count();
    assert_eq!(
        created, 20,
        "every unit was sold to a request that was in flight"
    );

    let api = app.api(0).clone();
    app.instances[0]
        .stop()
        .await
        .expect("run returns cleanly after the drain");
    let refused = api.http.get(format!("{}/healthz", api.base)).send().await;
    assert!(
        refused.is_err(),
        "a stopped instance accepts nothing: {refused:?}"
    );
    let report = app.assert_audit_clean().await;
    assert_eq!(report.orders, 20);
}

/// The system clock, counting how often it is read.
#[derive(Default)]
struct CountingClock {
    calls: watch::Sender<usize>,
}

impl Clock for CountingClock {
    fn now(&self) -> OffsetDateTime {
        self.calls.send_modify(|n| *n += 1);
        OffsetDateTime::now_utc()
    }
}

/// A lock that every purchase of the product waits behind: the product's stock row (PostgreSQL) or
/// SQLite's write lock, held by a connection of the test's own.
enum StockLock {
    Postgres(PgConnection),
    Sqlite(SqliteConnection),
}

impl StockLock {
    async fn take(app: &TestApp, product: i64) -> Self {
        let url = &app.db.url;
        match app.backend {
            Backend::Postgres => {
                let mut conn = PgConnection::connect(url).await.expect("a connection");
                sqlx::query("BEGIN").execute(&mut conn).await.unwrap();
                sqlx::query("SELECT 1 FROM inventory WHERE product_id = $1 FOR UPDATE")
                    .bind(product)
                    .execute(&mut conn)
                    .await
                    .expect("the stock row is locked");
                Self::Postgres(conn)
            }
            Backend::Sqlite => {
                let mut conn = SqliteConnection::connect(url).await.expect("a connection");
                sqlx::query("BEGIN IMMEDIATE")
                    .execute(&mut conn)
                    .await
                    .expect("the write lock is taken");
                Self::Sqlite(conn)
            }
        }
    }

    async fn release(&mut self) {
        match self {
            Self::Postgres(conn) => sqlx::query("COMMIT").execute(conn).await.map(drop),
            Self::Sqlite(conn) => sqlx::query("COMMIT").execute(conn).await.map(drop),
        }
        .expect("the lock is released");
    }
}
