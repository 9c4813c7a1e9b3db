//! What a merchant needs before going live: TLS to PostgreSQL and Redis with a private CA, the
//! refusal of an unsafe start off loopback (by starting the binary), and callbacks that are not ours
//! (another terminal's, unverifiable ones: refused, struck, pruned), against real PostgreSQL, SQLite
//! and Redis.

mod callbacks;
mod off_loopback;
mod tls_backends;

use figment::Figment;
use figment::providers::{Format, Serialized, Toml};
use flashgate::Application;
use flashgate::auth::BuyerTokens;
use flashgate::config::{DEFAULTS, Settings};
use flashgate::workers::callback_pruner::CallbackPruner;
use flashgate_core::{Clock, CustomerId, SystemClock};
use flashgate_store::Store;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

pub const ADMIN: &str = "dev-admin-token-change-me";
pub const JWT_SECRET: &[u8] = b"dev-jwt-secret-change-me-0123456789abcdef";
pub const VNPAY_SECRET: &str = "dev-vnpay-secret-change-me";

/// A variable the test command sets; these tests never skip, so its absence is a failure.
pub fn required_env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: scripts/test.sh starts the TLS PostgreSQL and Redis and sets it")
    })
}

/// The defaults on loopback, port 0, with `overrides`.
pub fn settings(database_url: &str, overrides: &[(&str, Value)]) -> Settings {
    let mut figment = Figment::from(Toml::string(DEFAULTS))
        .merge(Serialized::default("listen", "127.0.0.1:0"))
        .merge(Serialized::default("database_url", database_url))
        .merge(Serialized::default("log.filter", "warn"))
        .merge(Serialized::default("limits.enabled", false));
    for (key, value) in overrides {
        figment = figment.merge(Serialized::default(key, value));
    }
    Settings::from_figment(figment).unwrap()
}

/// A served instance; stops when dropped.
pub struct Running {
    pub addr: SocketAddr,
    pub store: Store,
    pub pruner: CallbackPruner,
    stop: CancellationToken,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

pub async fn start(settings: Settings) -> Running {
    start_with_clock(settings, Arc::new(SystemClock)).await
}

pub async fn start_with_clock(settings: Settings, clock: Arc<dyn Clock>) -> Running {
    let app = Application::build_with_clock(settings, clock)
        .await
        .unwrap();
    let running = Running {
        addr: app.local_addr().unwrap(),
        store: app.state().store.clone(),
        pruner: app.callback_pruner(),
        stop: CancellationToken::new(),
    };
    tokio::spawn(app.run(running.stop.clone()));
    running
}

impl Running {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub async fn get_json(&self, path: &str) -> Value {
        reqwest::get(self.url(path))
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    pub async fn create_product(&self) -> i64 {
        let response = reqwest::Client::new()
            .post(self.url("/admin/products"))
            .bearer_auth(ADMIN)
            .json(&json!({"sku": format!("SKU-{}", Uuid::new_v4().simple()), "name": "Phone", "price_vnd": 150_000, "stock": 5}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
        response.json::<Value>().await.unwrap()["id"]
            .as_i64()
            .unwrap()
    }

    /// One unit of `product` for `customer`; the order's JSON answer.
    pub async fn buy(&self, customer: &str, product: i64) -> Value {
        let token = BuyerTokens::new(JWT_SECRET)
            .mint(
                &CustomerId::parse(customer).unwrap(),
                time::Duration::hours(1),
            )
            .unwrap();
        let response = reqwest::Client::new()
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
}
