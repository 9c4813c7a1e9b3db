//! A flashgate instance (or several sharing one database) with a driven clock and the bundled
//! simulator, plus the few requests the payment tests make.

use figment::Figment;
use figment::providers::{Format, Serialized, Toml};
use flashgate::Application;
use flashgate::auth::BuyerTokens;
use flashgate::config::{DEFAULTS, Settings};
use flashgate::workers::expirer::Expirer;
use flashgate::workers::reconciler::Reconciler;
use flashgate::workers::refunder::Refunder;
use flashgate_core::{CustomerId, ManualClock, Order, OrderId};
use flashgate_store::Store;
use flashgate_store::testing::TestDatabase;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::Arc;
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;
use vnpay_sim::SimHandle;

pub const ADMIN: &str = "dev-admin-token-change-me";
pub const SECRET: &str = "dev-vnpay-secret-change-me";

pub enum Backend {
    Postgres,
    Sqlite,
}

pub async fn database(backend: Backend) -> TestDatabase {
    match backend {
        Backend::Postgres => TestDatabase::postgres().await,
        Backend::Sqlite => TestDatabase::sqlite(),
    }
}

pub struct Instance {
    pub addr: SocketAddr,
    pub store: Store,
    pub sim: SimHandle,
    pub expirer: Expirer,
    pub reconciler: Reconciler,
    pub refunder: Refunder,
    stop: CancellationToken,
}

impl Drop for Instance {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

pub fn settings(db: &TestDatabase) -> Settings {
    settings_with(db, &[])
}

pub fn settings_with(db: &TestDatabase, overrides: &[(&str, Value)]) -> Settings {
    let mut figment = Figment::from(Toml::string(DEFAULTS))
        .merge(Serialized::default("listen", "127.0.0.1:0"))
        .merge(Serialized::default("database_url", &db.url))
        .merge(Serialized::default("database.acquire_timeout_ms", 10_000))
        .merge(Serialized::default("log.filter", "warn"))
        // Buyers and the simulator's callbacks all come from 127.0.0.1: rate limits have their own suite.
        .merge(Serialized::default("limits.enabled", false))
        // Tests drive the workers themselves.
        .merge(Serialized::default("expirer.interval_ms", 3_600_000))
        .merge(Serialized::default("reconciler.tick_ms", 3_600_000))
        .merge(Serialized::default(
            "reconciler.first_poll_after_seconds",
            0,
        ))
        .merge(Serialized::default(
            "reconciler.min_poll_interval_seconds",
            1,
        ))
        .merge(Serialized::default("vnpay.sim_ipn_retry_ms", 30))
        .merge(Serialized::default("vnpay.sim_querydr_min_interval_ms", 0));
    for (key, value) in overrides {
        figment = figment.merge(Serialized::default(key, value));
    }
    Settings::from_figment(figment).unwrap()
}

pub async fn spawn(settings: Settings, clock: Arc<ManualClock>) -> Instance {
    let app = Application::build_with_clock(settings, clock)
        .await
        .unwrap();
    let instance = Instance {
        addr: app.local_addr().unwrap(),
        store: app.state().store.clone(),
        sim: app
            .simulator()
            .expect("the default configuration mounts the simulator"),
        expirer: app.expirer(),
        reconciler: app.reconciler(),
        refunder: app.refunder(),
        stop: CancellationToken::new(),
    };
    tokio::spawn(app.run(instance.stop.clone()));
    instance
}

pub fn clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(OffsetDateTime::now_utc()))
}

pub fn client() -> reqwest::Client {
    reqwest::Client::new()
}

impl Instance {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub async fn create_product(&self, stock: i64) -> i64 {
        let response = client()
            .post(self.url("/admin/products"))
            .bearer_auth(ADMIN)
            .json(&json!({"sku": format!("SKU-{}", Uuid::new_v4().simple()), "name": "Phone", "price_vnd": 150_000, "stock": stock}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
        response.json::<Value>().await.unwrap()["id"]
            .as_i64()
            .unwrap()
    }

    /// Places an order for one unit as `customer`; returns the order's JSON answer.
    pub async fn buy(&self, customer: &str, product: i64) -> Value {
        let token = BuyerTokens::new(b"dev-jwt-secret-change-me-0123456789abcdef")
            .mint(
                &CustomerId::parse(customer).unwrap(),
                time::Duration::hours(1),
            )
            .unwrap();
        let response = client()
            .post(self.url("/orders"))
            .bearer_auth(token)
            .header("Idempotency-Key", Uuid::new_v4().to_string())
            .json(&json!({"product_id": product, "quantity": 1}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201, "{}", response.text().await.unwrap());
        response.json().await.unwrap()
    }

    pub async fn order(&self, answer: &Value) -> Order {
        let id = OrderId(Uuid::parse_str(answer["id"].as_str().unwrap()).unwrap());
        self.store.orders.get(id).await.unwrap().unwrap()
    }

    pub async fn available(&self, product: i64) -> i64 {
        let body: Value = client()
            .get(self.url(&format!("/products/{product}")))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        body["available"].as_i64().unwrap()
    }

    pub async fn assert_audit_clean(&self) {
        let report = self.store.auditor.audit().await.unwrap();
        assert!(
            report.is_clean(),
            "audit: {:#?}",
            report
                .checks
                .iter()
                .filter(|c| !c.violations.is_empty())
                .collect::<Vec<_>>()
        );
    }

    /// Sends a raw IPN query and returns the RspCode answered.
    pub async fn ipn(&self, query: &str) -> String {
        let response = client()
            .get(format!("{}?{query}", self.url("/payments/vnpay/ipn")))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        body["RspCode"].as_str().unwrap().to_owned()
    }
}

pub fn payment_url(answer: &Value) -> &str {
    answer["payment_url"]
        .as_str()
        .expect("a new order carries a payment link")
}

pub fn order_uuid(answer: &Value) -> Uuid {
    Uuid::parse_str(answer["id"].as_str().unwrap()).unwrap()
}

/// Runs the same async test body against each backend.
#[macro_export]
macro_rules! on_both_backends {
    ($name:ident, $body:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn on_postgres() {
                super::$body($crate::harness::Backend::Postgres).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn on_sqlite() {
                super::$body($crate::harness::Backend::Sqlite).await;
            }
        }
    };
}
