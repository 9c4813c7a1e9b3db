//! PostgreSQL with `sslmode=verify-full` and Redis over `rediss://`, against the servers the test
//! command starts with TLS on (and nothing else: the PostgreSQL refuses plain connections, the Redis
//! has no plain port) and certificates from a private CA.

use super::{Running, required_env, settings, start};
use flashgate::Application;
use serde_json::{Value, json};
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Executor};
use std::str::FromStr;
use uuid::Uuid;

/// A fresh database on the TLS PostgreSQL; its URL carries `sslmode=verify-full` and no CA.
struct TlsDatabase {
    url: String,
    name: String,
}

fn admin_options() -> PgConnectOptions {
    PgConnectOptions::from_str(&required_env("FLASHGATE_TEST_TLS_DATABASE_URL"))
        .unwrap()
        .ssl_root_cert(required_env("FLASHGATE_TEST_TLS_CA"))
}

impl TlsDatabase {
    async fn create() -> Self {
        let name = format!("fg_test_tls_{}", Uuid::new_v4().simple());
        let mut admin = admin_options().connect().await.unwrap();
        admin
            .execute(format!("CREATE DATABASE {name}").as_str())
            .await
            .unwrap();
        let url = required_env("FLASHGATE_TEST_TLS_DATABASE_URL")
            .replace("/postgres?", &format!("/{name}?"));
        Self { url, name }
    }

    async fn drop_it(self) {
        let mut admin = admin_options().connect().await.unwrap();
        admin
            .execute(format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name).as_str())
            .await
            .unwrap();
    }
}

async fn sells(app: &Running) {
    let product = app.create_product().await;
    let order = app.buy("cus_tls", product).await;
    assert_eq!(order["status"], "pending_payment");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_with_verify_full_works_with_the_private_ca_and_only_with_it() {
    let db = TlsDatabase::create().await;
    let ca = required_env("FLASHGATE_TEST_TLS_CA");

    let without = Application::build(settings(&db.url, &[])).await;
    let error = format!("{:#}", without.err().expect("an unknown CA is refused"));
    assert!(error.starts_with("database_url: cannot open"), "{error}");

    // The CA as a setting: migrations, the catalogue and a purchase, all over verified TLS.
    let app = start(settings(&db.url, &[("database.root_ca_file", json!(ca))])).await;
    sells(&app).await;
    let ready: Value = app.get_json("/readyz").await;
    assert_eq!(ready["checks"]["database"]["status"], "up", "{ready}");
    drop(app);

    // The CA in the URL, as libpq spells it.
    let url = format!("{}&sslrootcert={ca}", db.url);
    let app = start(settings(&url, &[])).await;
    sells(&app).await;
    drop(app);

    let with_ca = [("database.root_ca_file", json!(ca))];
    let app = start(settings(
        &db.url.replace("verify-full", "verify-ca"),
        &with_ca,
    ))
    .await;
    sells(&app).await;
    drop(app);

    // verify-full checks the name too: the certificate is for localhost, not for the address
    // 127.0.0.1 the same server answers on.
    let by_address = db.url.replace("@localhost:", "@127.0.0.1:");
    let error = Application::build(settings(&by_address, &with_ca))
        .await
        .err()
        .map(|e| format!("{e:#}"))
        .expect("a certificate for another name is refused");
    assert!(error.starts_with("database_url: cannot open"), "{error}");
    db.drop_it().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_over_rediss_works_with_the_private_ca_and_only_with_it() {
    let redis_url = required_env("FLASHGATE_TEST_TLS_REDIS_URL");
    let ca = required_env("FLASHGATE_TEST_TLS_CA");
    let database = flashgate_store::testing::TestDatabase::sqlite();
    let prefix = format!("fgtest:{}:", Uuid::new_v4().simple());
    let gated = |extra: &[(&str, Value)]| {
        let mut overrides = vec![
            ("redis_url", json!(redis_url)),
            ("redis.key_prefix", json!(prefix)),
            // The admission gate lives in Redis: a purchase goes through it.
            ("inventory.strategy", json!("gated")),
        ];
        overrides.extend(extra.iter().cloned());
        settings(&database.url, &overrides)
    };

    let app = start(gated(&[("redis.root_ca_file", json!(ca))])).await;
    let ready = app.get_json("/readyz").await;
    assert_eq!(ready["checks"]["redis"]["status"], "up", "{ready}");
    sells(&app).await;
    drop(app);

    // Without the CA the service still starts (Redis is optional) but cannot use this Redis.
    let app = start(gated(&[])).await;
    let ready = app.get_json("/readyz").await;
    assert_eq!(ready["checks"]["redis"]["status"], "degraded", "{ready}");
}
