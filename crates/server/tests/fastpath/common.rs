//! Test support: instances of the real service on port 0 over one test database, a Redis key prefix
//! per test (removed afterwards), a private `redis-server` for tests that flush or kill Redis, and a
//! small HTTP client for the API.

use figment::Figment;
use figment::providers::{Format, Serialized, Toml};
use flashgate::config::{DEFAULTS, Settings};
use flashgate::state::AppState;
use flashgate::workers::expirer::Expirer;
use flashgate::workers::gate_keeper::GateKeeper;
use flashgate::{Application, app::open_store};
use flashgate_core::audit::AuditReport;
use flashgate_core::{Clock, CustomerId, ManualClock, SystemClock};
use flashgate_store::Store;
use flashgate_store::testing::TestDatabase;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

pub const ADMIN: &str = "dev-admin-token-change-me";

pub use flashgate_shared_state::testing::{TestRedis, eventually};

/// Key prefix on a private `redis-server`, which no other test shares.
pub const PRIVATE_PREFIX: &str = "fgtest:";

/// Settings for a test instance: defaults, then these overrides.
pub fn settings(database_url: &str, overrides: &[(&str, Value)]) -> Settings {
    let mut figment = Figment::from(Toml::string(DEFAULTS))
        .merge(Serialized::default("listen", "127.0.0.1:0"))
        .merge(Serialized::default("database_url", database_url))
        // Several instances of several tests share one PostgreSQL server.
        .merge(Serialized::default("database.max_connections", 6))
        .merge(Serialized::default("log.filter", "warn"));
    for (key, value) in overrides {
        figment = figment.merge(Serialized::default(key, value.clone()));
    }
    Settings::from_figment(figment).expect("test settings")
}

/// Overrides for a sale under load: the gate, no rate limits, no shedding.
pub fn gated_sale(redis: Option<(&str, &str)>) -> Vec<(&'static str, Value)> {
    let mut o = vec![
        ("inventory.strategy", json!("gated")),
        ("limits.enabled", json!(false)),
        ("shedding.max_concurrent_purchases", json!(100_000)),
        ("shedding.queue_budget_ms", json!(60_000)),
        ("database.acquire_timeout_ms", json!(30_000)),
        // A slow answer under load is not what these tests are about; a lost one would hide a sale.
        ("http.request_timeout_ms", json!(120_000)),
    ];
    if let Some((url, prefix)) = redis {
        o.push(("redis_url", json!(url)));
        o.push(("redis.key_prefix", json!(prefix)));
    }
    o
}

/// One running instance of the service.
pub struct Instance {
    pub url: String,
    pub state: AppState,
    pub keeper: GateKeeper,
    pub expirer: Expirer,
    shutdown: CancellationToken,
}

impl Instance {
    pub async fn start(settings: Settings) -> Self {
        Self::start_with(settings, Arc::new(SystemClock), |s| s).await
    }

    pub async fn start_with(
        settings: Settings,
        clock: Arc<dyn Clock>,
        adapt: impl FnOnce(Store) -> Store,
    ) -> Self {
        let app = Application::build_with_store(settings, clock, adapt)
            .await
            .expect("build the application");
        let addr: SocketAddr = app.local_addr().unwrap();
        let state = app.state().clone();
        let keeper = app.keeper();
        let expirer = app.expirer();
        let shutdown = CancellationToken::new();
        tokio::spawn(app.run(shutdown.clone()));
        Self {
            url: format!("http://{addr}"),
            state,
            keeper,
            expirer,
            shutdown,
        }
    }

    pub fn token(&self, customer: &str) -> String {
        self.state
            .tokens
            .mint(
                &CustomerId::parse(customer).unwrap(),
                time::Duration::hours(1),
            )
            .unwrap()
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(120))
        .build()
        .unwrap()
}

pub async fn create_product(
    http: &reqwest::Client,
    instance: &Instance,
    stock: i64,
    limit: Option<i64>,
) -> i64 {
    let response = http
        .post(format!("{}/admin/products", instance.url))
        .bearer_auth(ADMIN)
        .json(&json!({
            "sku": format!("SKU-{}", uuid::Uuid::new_v4().simple()),
            "name": "Flash phone",
            "price_vnd": 1_000_000,
            "stock": stock,
            "per_customer_limit": limit,
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    response.json::<Value>().await.unwrap()["id"]
        .as_i64()
        .unwrap()
}

/// One purchase: (status, body).
pub async fn buy(
    http: &reqwest::Client,
    instance: &Instance,
    customer: &str,
    key: &str,
    product: i64,
    quantity: i64,
) -> (u16, Value) {
    let response = http
        .post(format!("{}/orders", instance.url))
        .bearer_auth(instance.token(customer))
        .header("idempotency-key", key)
        .json(&json!({"product_id": product, "quantity": quantity}))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body = response.json::<Value>().await.unwrap_or(Value::Null);
    (status, body)
}

pub async fn audit(database_url: &str) -> AuditReport {
    let settings = settings(database_url, &[]);
    let store = open_store(&settings, false).await.unwrap();
    store.auditor.audit().await.unwrap()
}

pub fn assert_clean(report: &AuditReport) {
    for check in &report.checks {
        assert!(
            check.violations.is_empty(),
            "audit {}: {:?}",
            check.name,
            check.violations
        );
    }
}

/// Stock counters straight from the database.
pub async fn stock(database_url: &str, product: i64) -> flashgate_core::product::Stock {
    let settings = settings(database_url, &[]);
    let store = open_store(&settings, false).await.unwrap();
    store
        .catalog
        .get(flashgate_core::ProductId(product))
        .await
        .unwrap()
        .unwrap()
        .stock
}

/// A private Redis server this test may flush, kill and restart without touching anyone else's.
pub struct RedisProcess {
    pub port: u16,
    child: Option<Child>,
}

impl RedisProcess {
    pub async fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut redis = Self { port, child: None };
        redis.restart().await;
        redis
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub async fn restart(&mut self) {
        let child = Command::new("redis-server")
            .args([
                "--port",
                &self.port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("these tests start their own redis-server; is it installed?");
        self.child = Some(child);
        let url = self.url();
        let up = eventually(Duration::from_secs(10), || {
            let url = url.clone();
            async move { ping(&url).is_ok() }
        })
        .await;
        assert!(up, "the private redis-server did not start");
    }

    /// SIGKILL: no goodbye to clients, state gone.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for RedisProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

fn ping(url: &str) -> redis::RedisResult<()> {
    let mut conn = redis::Client::open(url)?.get_connection()?;
    redis::cmd("PING").query::<String>(&mut conn).map(|_| ())
}

pub fn manual_clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(time::OffsetDateTime::now_utc()))
}

/// A fresh database of either kind.
pub async fn database(postgres: bool) -> TestDatabase {
    if postgres {
        TestDatabase::postgres().await
    } else {
        TestDatabase::sqlite()
    }
}

/// A lock on a product's stock row, held by the test: purchases that need the row wait behind it.
pub struct RowLock {
    conn: sqlx::PgConnection,
}

impl RowLock {
    pub async fn hold(database_url: &str, product: i64) -> Self {
        use sqlx::Connection;
        let mut conn = sqlx::PgConnection::connect(database_url).await.unwrap();
        sqlx::query("BEGIN").execute(&mut conn).await.unwrap();
        sqlx::query("SELECT 1 FROM inventory WHERE product_id = $1 FOR UPDATE")
            .bind(product)
            .execute(&mut conn)
            .await
            .unwrap();
        Self { conn }
    }

    pub async fn release(mut self) {
        sqlx::query("COMMIT").execute(&mut self.conn).await.unwrap();
    }
}
