//! PostgreSQL going away: connections severed in the middle of a race and a database that refuses new
//! connections. Every answer stays honest (201, 409 `sold_out` or 503 `unavailable`, never 500) and the
//! books still balance once the database is back.

use flashgate_core::Strategy;
use flashgate_testkit::key;
use flashgate_testkit::{Backend, TestApp, all_at_once};
use flashgate_testkit::{TestDatabase, postgres_admin_url};
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use std::sync::Arc;
use tokio::sync::watch;

/// The app connects as this role rather than as a superuser, so that `CONNECTION LIMIT 0` applies to
/// it as it would to a production service account.
const APP_ROLE: &str = "flashgate_it_app";

on_each_backend!(postgres_strategy: a_race_through_severed_connections_never_answers_500_and_keeps_the_books);

/// How the database turns new connections away.
#[derive(Debug, Clone, Copy)]
enum Refusal {
    /// `CONNECTION LIMIT 0`: "too many connections" (53300), which the pool retries until it gives up.
    ConnectionLimit,
    /// `ALLOW_CONNECTIONS false`: "not currently accepting connections" (55000, FATAL), at once.
    NotAccepting,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_at_its_connection_limit_is_answered_503_with_retry_after() {
    refused_connections_are_answered_503_with_retry_after(Refusal::ConnectionLimit).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_not_accepting_connections_is_answered_503_with_retry_after() {
    refused_connections_are_answered_503_with_retry_after(Refusal::NotAccepting).await;
}

async fn refused_connections_are_answered_503_with_retry_after(refusal: Refusal) {
    let (app, outage) = start(Strategy::Conditional, 500).await;
    let api = app.api(0);
    let product = api.product(5, None).await;
    let token = api.token("outage-buyer");
    api.place_order(&token, &key(), product, 1)
        .await
        .assert_status(201);

    outage.refuse_new(refusal).await;
    outage.sever().await;
    let ready = api.get("/readyz", None).await;
    let body = ready.assert_status(503);
    assert_eq!(body["status"], "unavailable", "{body}");
    assert_eq!(body["checks"]["database"]["status"], "down", "{body}");
    // A fixed phrase: the driver's error (hosts, users, files) goes to the log only.
    assert_eq!(
        body["checks"]["database"]["error"],
        "the database is unavailable (the cause is in this instance's log)",
        "{body}"
    );
    let during = key();
    for answer in [
        api.place_order(&token, &during, product, 1).await,
        api.get(&format!("/products/{product}"), None).await,
        api.get("/orders", Some(&token)).await,
    ] {
        answer.assert_problem(503, "unavailable");
        assert!(answer.headers.get("retry-after").is_some(), "{answer:?}");
    }

    outage.restore().await;
    ready_again(api).await;
    // Nothing was stored for the refused attempt: its retry is a fresh purchase.
    let retried = api.place_order(&token, &during, product, 1).await;
    assert!(retried.headers.get("idempotent-replayed").is_none());
    retried.assert_status(201);
    let report = app.assert_audit_clean().await;
    assert_eq!(report.orders, 2);
    assert_eq!(app.stock(product).await.available, 3);
}

async fn a_race_through_severed_connections_never_answers_500_and_keeps_the_books(
    strategy: Strategy,
) {
    const BUYERS: usize = 300;
    const UNITS: i64 = 40;
    const SEVER_EVERY: usize = 20;
    let (app, outage) = start(strategy, 3000).await;
    let product = app.api(0).product(UNITS, None).await;
    let outage = Arc::new(outage);
    let (answered, progress) = watch::channel(0usize);
    let answered = Arc::new(answered);

    // Cuts the app's connections every few answers; once, half way through, the database also refuses
    // new connections until the next answer is out.
    let disruptor = {
        let outage = outage.clone();
        let mut progress = progress.clone();
        tokio::spawn(async move {
            let mut severed = 0;
            let mut refused = false;
            let mut seen = 0;
            while seen < BUYERS {
                let refuse = !refused && seen >= BUYERS / 2;
                if refuse {
                    outage.refuse_new(Refusal::ConnectionLimit).await;
                    refused = true;
                }
                severed += outage.sever().await;
                let next = (seen + if refuse { 1 } else { SEVER_EVERY }).min(BUYERS);
                seen = *progress
                    .wait_for(|n| *n >= next)
                    .await
                    .expect("the race reports progress");
                if refuse {
                    outage.restore().await;
                }
            }
            severed
        })
    };
    let answers = all_at_once(BUYERS, |i| {
        let api = app.api(0).clone();
        let token = api.token(&format!("buyer-{i}"));
        let answered = answered.clone();
        async move {
            let answer = api.place_order(&token, &key(), product, 1).await;
            answered.send_modify(|n| *n += 1);
            (token, answer)
        }
    })
    .await;
    let severed = disruptor.await.expect("the disruptor finishes");
    assert!(severed > 0, "the race ran through severed connections");

    let mut created = Vec::new();
    let mut unavailable = 0;
    for (token, answer) in &answers {
        match answer.status {
            201 => created.push((token, answer.json()["id"].as_str().unwrap().to_owned())),
            409 => answer.assert_problem(409, "sold_out"),
            _ => {
                answer.assert_problem(503, "unavailable");
                assert!(answer.headers.get("retry-after").is_some(), "{answer:?}");
                unavailable += 1;
            }
        }
    }
    assert!(unavailable > 0, "severed connections were answered 503");
    assert!(
        !created.is_empty(),
        "units were sold through the disruption"
    );

    let api = app.api(0);
    ready_again(api).await;
    let report = app.assert_audit_clean().await;
    let stock = app.stock(product).await;
    let taken = stock.total - stock.available;
    assert_eq!(report.orders, taken, "every unit taken belongs to an order");
    // A 503 may hide a commit that landed, but every 201 is a stored order.
    assert!(
        created.len() as i64 <= report.orders,
        "{} answered 201",
        created.len()
    );
    for (token, id) in &created {
        api.get(&format!("/orders/{id}"), Some(token.as_str()))
            .await
            .assert_status(200);
    }
}

/// A PostgreSQL test database owned by the app's role, and the service started on it.
async fn start(strategy: Strategy, acquire_timeout_ms: u64) -> (TestApp, Outage) {
    let db = TestDatabase::postgres().await;
    let outage = Outage::prepare(&db).await;
    let app = super::spawn(Backend::Postgres)
        .strategy(strategy)
        .set("database_url", with_user(&db.url, APP_ROLE))
        // Waiting for a connection that will not come ends in a 503 soon.
        .set("database.acquire_timeout_ms", acquire_timeout_ms)
        .start_on(db)
        .await;
    (app, outage)
}

/// Breaks and mends the app's access to its database from a superuser connection.
struct Outage {
    admin: PgPool,
    database: String,
}

impl Outage {
    async fn prepare(db: &TestDatabase) -> Self {
        let admin = PgPoolOptions::new()
            .max_connections(1)
            .connect(&postgres_admin_url())
            .await
            .expect("an admin connection");
        let database = db
            .url
            .rsplit('/')
            .next()
            .expect("a database name")
            .to_owned();
        // Roles are shared by the whole server: create it once, whoever gets there first.
        sqlx::query(&format!(
            "DO $$ BEGIN CREATE ROLE {APP_ROLE} LOGIN; \
             EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$"
        ))
        .execute(&admin)
        .await
        .expect("the app role exists");
        sqlx::query(&format!("ALTER DATABASE {database} OWNER TO {APP_ROLE}"))
            .execute(&admin)
            .await
            .expect("the app role owns the test database");
        Self { admin, database }
    }

    /// Terminates every connection the app holds; returns how many there were.
    async fn sever(&self) -> u64 {
        // The app's backends are picked first, in a materialised step: in a single WHERE the planner
        // may call pg_terminate_backend on rows before the name filters have ruled them out.
        let killed: i64 = sqlx::query_scalar(
            "WITH app AS MATERIALIZED (SELECT pid FROM pg_stat_activity \
               WHERE datname = $1 AND usename = $2 AND pid <> pg_backend_pid()) \
             SELECT COUNT(*) FROM app WHERE pg_terminate_backend(pid)",
        )
        .bind(&self.database)
        .bind(APP_ROLE)
        .fetch_one(&self.admin)
        .await
        .expect("terminate the app's connections");
        u64::try_from(killed).unwrap_or(0)
    }

    /// New connections are refused; open ones live on.
    async fn refuse_new(&self, refusal: Refusal) {
        match refusal {
            Refusal::ConnectionLimit => self.alter("CONNECTION LIMIT 0").await,
            Refusal::NotAccepting => self.alter("ALLOW_CONNECTIONS false").await,
        }
    }

    async fn restore(&self) {
        self.alter("CONNECTION LIMIT -1").await;
        self.alter("ALLOW_CONNECTIONS true").await;
    }

    async fn alter(&self, change: &str) {
        sqlx::query(&format!("ALTER DATABASE {} {change}", self.database))
            .execute(&self.admin)
            .await
            .unwrap_or_else(|e| panic!("ALTER DATABASE … {change}: {e}"));
    }
}

/// The same URL with another user name (trust authentication: no password).
fn with_user(url: &str, user: &str) -> String {
    let (scheme, rest) = url.split_once("://").expect("a URL with a scheme");
    let host = rest.split_once('@').map_or(rest, |(_, host)| host);
    format!("{scheme}://{user}@{host}")
}

/// `/readyz` answers 200 again within its checks' reuse (`CHECKS_KEPT`, a second) of the recovery.
async fn ready_again(api: &flashgate_testkit::Api) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let ready = api.get("/readyz", None).await;
        if ready.status == 200 || std::time::Instant::now() > deadline {
            ready.assert_status(200);
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}
