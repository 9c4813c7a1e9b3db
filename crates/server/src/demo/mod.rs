//! `flashgate demo`: one command that starts the service on the embedded defaults and runs a flash sale
//! against it over HTTP (a crowd far larger than the stock, payments through the bundled simulator with
//! a share of IPNs lost, the reconciler and expirer settling what the webhooks missed), then audits it.

mod crowd;
mod payments;
mod summary;

pub use summary::Summary;

use crate::app::Application;
use crate::config::Settings;
use crate::state::AppState;
use anyhow::{Context, bail};
use flashgate_core::Strategy;
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use vnpay_sim::SimHandle;

/// What the sale looks like.
#[derive(Debug, Clone)]
pub struct Options {
    /// Buyers, each with its own token, all rushing at once.
    pub crowd: usize,
    /// Units on sale.
    pub stock: i64,
    /// Share of IPNs the simulator never sends, so the reconciler has work.
    pub drop_ipn_percent: u8,
    /// Share of winners who never pay, so the expirer has work.
    pub unpaid_percent: u8,
}

/// Reports a line of progress.
pub type Progress<'a> = &'a (dyn Fn(String) + Send + Sync);

/// The demo's instance: `settings` with the in-process fast path and the bundled simulator, the gated
/// strategy, and workers quick enough for the whole sale to settle within about a minute.
pub fn settings(mut settings: Settings) -> anyhow::Result<Settings> {
    // The demo drives the bundled simulator's controls (pay, drop IPNs), which exist only in-process.
    settings.vnpay.pay_url.clear();
    settings.vnpay.api_url.clear();
    settings.vnpay.public_url.clear();
    settings.vnpay.sim_ipn_retry = Duration::from_secs(2);
    settings.redis_url = None;
    settings.inventory.strategy = Strategy::Gated;
    settings.inventory.hold = Duration::from_secs(20);
    settings.expirer.interval = Duration::from_millis(500);
    // An order the gateway could not vouch for yet (querydr answered 94 because the reconciler had just
    // asked) is retried when its lease ends: keep that within the demo's minute. A lease outlasts the
    // gateway call made under it; the in-process simulator answers at once.
    settings.expirer.lease = Duration::from_secs(5);
    settings.vnpay.api_timeout = Duration::from_secs(2);
    settings.reconciler.tick = Duration::from_millis(500);
    settings.reconciler.first_poll_after = Duration::from_secs(3);
    settings.reconciler.poll_interval = Duration::from_secs(3);
    settings.reconciler.min_poll_interval = Duration::from_secs(1);
    // The whole crowd comes from 127.0.0.1: per-IP limits would refuse all but the first few buyers and
    // show the limiter instead of the sale (the under-load suite covers the limiter).
    settings.limits.enabled = false;
    // The simulator's pay page expires with the hold: the unpaid holds are asked about (and released)
    // within the demo's minute rather than a production-sized grace later.
    settings.payments.expiry_grace = Duration::from_secs(1);
    settings.validate()?;
    settings.check_listening()?;
    Ok(settings)
}

/// A running demo instance.
pub struct Demo {
    base_url: String,
    state: AppState,
    simulator: SimHandle,
    client: reqwest::Client,
    server: JoinHandle<anyhow::Result<()>>,
}

impl Demo {
    /// Builds the service on `settings` (see [`settings`]) and serves it until `shutdown` fires.
    pub async fn start(settings: Settings, shutdown: CancellationToken) -> anyhow::Result<Self> {
        let app = Application::build(settings).await?;
        let Some(simulator) = app.simulator() else {
            bail!("the demo needs the bundled VNPay simulator (vnpay.pay_url must be empty)");
        };
        let base_url = format!("http://{}", app.local_addr()?);
        let state = app.state().clone();
        let server = tokio::spawn(app.run(shutdown));
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .context("the demo's HTTP client")?;
        Ok(Self {
            base_url,
            state,
            simulator,
            client,
            server,
        })
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    pub fn backend(&self) -> &'static str {
        self.state.store.backend.as_str()
    }

    /// Where the admin dashboard is. Its sign-in form asks for the admin token, which is never
    /// printed.
    pub fn dashboard_url(&self) -> String {
        format!(
            "{}/admin/dashboard (sign in with the admin token: setting admin_token)",
            self.base_url
        )
    }

    /// Runs the whole sale: product, crowd, payments, settlement, audit.
    pub async fn sale(&self, options: &Options, progress: Progress<'_>) -> anyhow::Result<Summary> {
        let started = std::time::Instant::now();
        let product = self.create_product(options).await?;
        progress(format!(
            "product {product}: {} units, {} buyers rushing at once",
            options.stock, options.crowd
        ));
        let rush = crowd::rush(self, product, options.crowd, progress).await?;
        progress(format!(
            "sale over: {} won, {} told sold out, {} refused otherwise",
            rush.won.len(),
            rush.sold_out,
            rush.refused
        ));
        let paid = payments::pay(self, &rush.won, options, progress).await?;
        progress(format!("admin dashboard: {}", self.dashboard_url()));
        let settled = payments::settle(self, &rush.won, progress).await?;
        let available = self.available(product).await?;
        let audit = self.state.store.auditor.audit().await.context("audit")?;
        Ok(Summary::new(
            options,
            &rush,
            &paid,
            &settled,
            available,
            audit,
            started.elapsed(),
        ))
    }

    /// Waits for the server to stop (after the shutdown token fires).
    pub async fn wait(self) -> anyhow::Result<()> {
        self.server.await.context("the demo's server task")?
    }

    async fn create_product(&self, options: &Options) -> anyhow::Result<i64> {
        #[derive(serde::Deserialize)]
        struct Created {
            id: i64,
        }
        let sku = format!(
            "DEMO-{}",
            time::OffsetDateTime::now_utc().unix_timestamp_nanos()
        );
        let response = self
            .client
            .post(format!("{}/admin/products", self.base_url))
            .bearer_auth(self.state.settings.admin_token.expose())
            .json(&serde_json::json!({
                "sku": sku,
                "name": "Flash sale phone",
                "price_vnd": 4_990_000,
                "stock": options.stock,
                "per_customer_limit": 1,
            }))
            .send()
            .await
            .context("POST /admin/products")?;
        if !response.status().is_success() {
            bail!(
                "POST /admin/products answered {}: {}",
                response.status(),
                response.text().await.unwrap_or_default()
            );
        }
        Ok(response.json::<Created>().await?.id)
    }

    async fn available(&self, product: i64) -> anyhow::Result<i64> {
        #[derive(serde::Deserialize)]
        struct Product {
            available: i64,
        }
        let product: Product = self
            .client
            .get(format!("{}/products/{product}", self.base_url))
            .send()
            .await
            .context("GET /products/{id}")?
            .error_for_status()?
            .json()
            .await?;
        Ok(product.available)
    }
}
