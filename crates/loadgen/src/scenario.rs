//! The scenarios: what products exist before the run and what traffic hits them. Setup goes through the
//! admin API, with SKUs unique to the run so several runs can share a database.

use crate::target::{NewProduct, Targets};
use crate::workload::Traffic;
use serde::Serialize;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum ScenarioKind {
    /// One product, small stock, a crowd many times larger.
    Hot,
    /// Purchases spread over many products.
    Many,
    /// Read-heavy: GET /products and GET /products/{id}.
    Browse,
    /// Everyone once, at the instant the sale starts.
    Burst,
    /// The hot product, then the winners pay through the VNPay simulator.
    Pay,
    /// GET /products/{id} of one product only.
    Reads,
    /// GET /healthz: the ceiling of the HTTP stack.
    Healthz,
    /// The hot product at the instant its sale opens, offered open loop (`Load::Spike`): the crowd
    /// that arrives at once, then the traffic after it.
    Spike,
}

impl ScenarioKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Hot => "hot",
            Self::Many => "many",
            Self::Browse => "browse",
            Self::Burst => "burst",
            Self::Pay => "pay",
            Self::Reads => "reads",
            Self::Healthz => "healthz",
            Self::Spike => "spike",
        }
    }

    pub fn buys(self) -> bool {
        matches!(
            self,
            Self::Hot | Self::Many | Self::Burst | Self::Pay | Self::Spike
        )
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Scenario {
    pub kind: ScenarioKind,
    /// Units of each product.
    pub stock: i64,
    /// Distinct customers.
    pub crowd: usize,
    /// Products (many, browse).
    pub products: usize,
    pub per_customer_limit: Option<i64>,
    /// Units per purchase.
    pub quantity: i64,
    /// Share of purchases retried with the same Idempotency-Key.
    pub retry_share: f64,
    /// Share of browse reads that list every product.
    pub list_share: f64,
    /// How far in the future a burst's or a spike's sale starts, leaving time to get ready.
    #[serde(skip)]
    pub burst_lead: Duration,
    /// Before the measured load, every customer of the crowd buys once (unmeasured), so that the
    /// load meets customers who already hold their limit.
    pub presell: bool,
    /// Every purchase of a customer sends the `Idempotency-Key` of their first one: with `presell`,
    /// the measured load is all duplicates of purchases already made.
    pub key_per_customer: bool,
}

impl Scenario {
    pub fn new(kind: ScenarioKind) -> Self {
        Self {
            kind,
            stock: 100,
            crowd: 10_000,
            products: 50,
            per_customer_limit: Some(1),
            quantity: 1,
            retry_share: 0.05,
            list_share: 0.2,
            burst_lead: Duration::from_secs(2),
            presell: false,
            key_per_customer: false,
        }
    }
}

/// A product the run created, with what the audit needs to know about it.
#[derive(Debug, Clone, Serialize)]
pub struct Stocked {
    pub id: i64,
    pub stock: i64,
    pub per_customer_limit: Option<i64>,
}

pub struct Prepared {
    pub traffic: Arc<Traffic>,
    pub products: Vec<Stocked>,
    /// When the load must start (a burst waits for its sale to open).
    pub start: Instant,
    /// The presale's traffic: each customer once, with their own key.
    pub presell: Option<Arc<Traffic>>,
}

impl Scenario {
    pub async fn prepare(&self, targets: &Targets, run_id: &str) -> anyhow::Result<Prepared> {
        let count = match self.kind {
            ScenarioKind::Many | ScenarioKind::Browse => self.products.max(1),
            ScenarioKind::Healthz => 0,
            _ => 1,
        };
        let opens = matches!(self.kind, ScenarioKind::Burst | ScenarioKind::Spike).then(|| {
            // Millisecond precision: what the service stores.
            let at = time::OffsetDateTime::now_utc() + self.burst_lead;
            at.replace_millisecond(at.millisecond()).unwrap_or(at)
        });
        let mut products = Vec::with_capacity(count);
        for n in 0..count {
            let created = targets
                .create_product(&NewProduct {
                    sku: format!("lg-{run_id}-{n}"),
                    name: format!("{} sale item {n}", self.kind.as_str()),
                    price_vnd: 990_000,
                    stock: self.stock,
                    per_customer_limit: self.per_customer_limit,
                    sale_starts_at: opens,
                })
                .await?;
            products.push(Stocked {
                id: created.id,
                stock: self.stock,
                per_customer_limit: created.per_customer_limit,
            });
        }
        let ids: Vec<i64> = products.iter().map(|p| p.id).collect();
        let presell = (self.presell && self.kind.buys()).then(|| {
            Arc::new(Traffic::Purchases {
                products: ids.clone(),
                crowd: self.crowd.max(1),
                quantity: self.quantity.max(1),
                retry_share: 0.0,
                once_each: true,
                key_per_customer: true,
            })
        });
        let traffic = match self.kind {
            ScenarioKind::Browse => Traffic::Reads {
                products: ids,
                list_share: self.list_share,
            },
            ScenarioKind::Reads => Traffic::Reads {
                products: ids,
                list_share: 0.0,
            },
            ScenarioKind::Healthz => Traffic::Fixed {
                path: Arc::from("/healthz"),
            },
            kind => Traffic::Purchases {
                products: ids,
                crowd: self.crowd.max(1),
                quantity: self.quantity.max(1),
                retry_share: self.retry_share,
                once_each: kind == ScenarioKind::Burst,
                key_per_customer: self.key_per_customer,
            },
        };
        // A burst's requests leave just after the sale opens, all meant for the same instant.
        let start = match opens {
            Some(at) => {
                let wait = at - time::OffsetDateTime::now_utc() + time::Duration::milliseconds(20);
                Instant::now() + Duration::try_from(wait).unwrap_or_default()
            }
            None => Instant::now(),
        };
        Ok(Prepared {
            traffic: Arc::new(traffic),
            products,
            start,
            presell,
        })
    }
}
