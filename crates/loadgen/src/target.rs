//! The service under load: one shared HTTP/1.1 client with keep-alive, spreading requests round-robin
//! over one or several instances, plus the admin and read calls that set a scenario up and check it.

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// The instances and the client that talks to them.
#[derive(Clone)]
pub struct Targets {
    pub client: reqwest::Client,
    bases: Arc<Vec<String>>,
    next: Arc<AtomicUsize>,
    admin_token: Arc<str>,
}

/// A product as the admin API creates it.
#[derive(Debug, Clone, Serialize)]
pub struct NewProduct {
    pub sku: String,
    pub name: String,
    pub price_vnd: i64,
    pub stock: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub per_customer_limit: Option<i64>,
    #[serde(
        skip_serializing_if = "Option::is_none",
        with = "time::serde::rfc3339::option"
    )]
    pub sale_starts_at: Option<time::OffsetDateTime>,
}

/// The fields of a product this tool reads back.
#[derive(Debug, Clone, Deserialize)]
pub struct Product {
    pub id: i64,
    pub available: i64,
    pub per_customer_limit: Option<i64>,
}

impl Targets {
    /// A client whose idle pool keeps `pool` connections per instance, so a run at that concurrency
    /// reuses its connections instead of opening new ones.
    pub fn new(
        bases: Vec<String>,
        admin_token: &str,
        pool: usize,
        timeout: Duration,
    ) -> anyhow::Result<Self> {
        if bases.is_empty() {
            bail!("at least one target URL is required");
        }
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(pool.max(1))
            .pool_idle_timeout(Duration::from_secs(90))
            .tcp_nodelay(true)
            .timeout(timeout)
            .connect_timeout(Duration::from_secs(5))
            .build()
            .context("building the HTTP client")?;
        let bases = bases
            .into_iter()
            .map(|b| b.trim_end_matches('/').to_owned())
            .collect();
        Ok(Self {
            client,
            bases: Arc::new(bases),
            next: Arc::new(AtomicUsize::new(0)),
            admin_token: Arc::from(admin_token),
        })
    }

    /// The next instance, round-robin.
    pub fn base(&self) -> &str {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        &self.bases[n % self.bases.len()]
    }

    pub fn first(&self) -> &str {
        &self.bases[0]
    }

    pub fn bases(&self) -> &[String] {
        &self.bases
    }

    pub async fn create_product(&self, product: &NewProduct) -> anyhow::Result<Product> {
        let response = self
            .client
            .post(format!("{}/admin/products", self.first()))
            .bearer_auth(&*self.admin_token)
            .json(product)
            .send()
            .await
            .context("POST /admin/products")?;
        let status = response.status();
        if status != reqwest::StatusCode::CREATED {
            let body = response.text().await.unwrap_or_default();
            bail!("POST /admin/products answered {status}: {body}");
        }
        response.json().await.context("reading the created product")
    }

    pub async fn product(&self, id: i64) -> anyhow::Result<Product> {
        let response = self
            .client
            .get(format!("{}/products/{id}", self.first()))
            .send()
            .await
            .with_context(|| format!("GET /products/{id}"))?;
        let status = response.status();
        if !status.is_success() {
            bail!("GET /products/{id} answered {status}");
        }
        response.json().await.context("reading a product")
    }

    /// Waits until every instance answers `/readyz` with 200, or fails after `within`.
    pub async fn wait_ready(&self, within: Duration) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + within;
        for base in self.bases.iter() {
            loop {
                let ready = self
                    .client
                    .get(format!("{base}/readyz"))
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_success());
                if ready {
                    break;
                }
                if tokio::time::Instant::now() >= deadline {
                    bail!("{base}/readyz did not answer 200 within {within:?}");
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        Ok(())
    }
}
