//! The admission gate as the service runs it: the fast path's `Gate` (Redis or in process) fenced to
//! the database. A rebuild sets a fresh epoch on the product's stock row and loads the snapshot read
//! in the same transaction under that epoch, so the gate never admits more than the database holds;
//! rebuilds of one product are single-flight per instance.

use crate::config::within;
use async_trait::async_trait;
use flashgate_core::checkout::{AdmissionGate, GateAnswer, GateUnavailable, Ticket};
use flashgate_core::clock::epoch_ms;
use flashgate_core::ports::{GateFence, Products};
use flashgate_core::purchase::{GatedOutcome, ReserveOutcome};
use flashgate_core::{CustomerId, ProductId, Quantity};
use flashgate_shared_state::{
    Admission, AdmitRequest, FastPathError, Gate, GateProduct, RedisHealth,
};
use serde::Deserialize;
use serde_with::{DurationMicroSeconds, DurationMilliSeconds, DurationSeconds, serde_as};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub struct GateService {
    gate: Arc<dyn Gate>,
    fence: Arc<dyn GateFence>,
    /// Live reads of the database's products.
    products: Arc<dyn Products>,
    /// Redis's health; `None` for the in-process gate, which cannot be down.
    health: Option<Arc<RedisHealth>>,
    rebuilding: Mutex<HashMap<ProductId, Arc<tokio::sync::Mutex<()>>>>,
    /// Products whose gate may be off (a give-back or release failed, a write bypassed it): the
    /// keeper rebuilds them.
    suspects: Mutex<HashSet<ProductId>>,
    /// Products the gate called sold out while the database had units, at the last check.
    looked_sold_out: Mutex<HashSet<ProductId>>,
    counters: GateCounters,
}

/// What the gate did since start, for tests and metrics.
#[derive(Debug, Default)]
pub struct GateCounters {
    pub rebuilds: AtomicU64,
    pub fallbacks: AtomicU64,
    /// Admissions the database refused for want of units or quota: the gate was more optimistic
    /// than the database. The fence makes this impossible; a non-zero count is a bug.
    pub over_admitted: AtomicU64,
}

impl GateService {
    pub fn new(
        gate: Arc<dyn Gate>,
        fence: Arc<dyn GateFence>,
        products: Arc<dyn Products>,
        health: Option<Arc<RedisHealth>>,
    ) -> Self {
        Self {
            gate,
            fence,
            products,
            health,
            rebuilding: Mutex::default(),
            suspects: Mutex::default(),
            looked_sold_out: Mutex::default(),
            counters: GateCounters::default(),
        }
    }

    pub fn counters(&self) -> &GateCounters {
        &self.counters
    }

    /// Redis is known to be unreachable: skip it rather than wait for its timeouts.
    pub fn is_degraded(&self) -> bool {
        self.health.as_ref().is_some_and(|h| h.is_degraded())
    }

    /// Units the gate would still admit, for display; `None` when it cannot say.
    pub async fn available(&self, product: ProductId) -> Option<i64> {
        if self.is_degraded() {
            return None;
        }
        self.gate.available(product.0).await.ok().flatten()
    }

    /// The product's gate epoch, read before a hold is released so that the units are given back
    /// only if no rebuild (whose snapshot may already count them) happened in between.
    pub async fn epoch(&self, product: ProductId) -> Result<Option<u64>, FastPathError> {
        if self.is_degraded() {
            return Err(FastPathError::Unavailable("redis is degraded".into()));
        }
        self.gate.epoch(product.0).await
    }

    pub async fn give_back(
        &self,
        product: ProductId,
        customer: &CustomerId,
        quantity: Quantity,
        epoch: u64,
    ) {
        let done = self
            .gate
            .give_back_fenced(product.0, customer.as_str(), quantity.get(), Some(epoch))
            .await;
        if let Err(error) = done {
            tracing::warn!(product_id = product.0, %error, "gate give-back failed; the product will be rebuilt");
            self.suspect(product);
        }
    }

    pub fn suspect(&self, product: ProductId) {
        if let Ok(mut suspects) = self.suspects.lock() {
            suspects.insert(product);
        }
    }

    fn suspect_all(&self, products: &[ProductId]) {
        if let Ok(mut suspects) = self.suspects.lock() {
            suspects.extend(products.iter().copied());
        }
    }

    fn take_suspects(&self) -> Vec<ProductId> {
        self.suspects
            .lock()
            .map(|mut s| s.drain().collect())
            .unwrap_or_default()
    }

    /// Rebuilds the product now, whatever its state (after a restock or an admin change).
    pub async fn rebuild_now(&self, product: ProductId) -> Result<(), GateUnavailable> {
        let lock = self.lock_for(product);
        let _one_at_a_time = lock.lock().await;
        self.rebuild_from_database(product).await
    }

    /// Rebuilds every product (at start, and after Redis comes back).
    pub async fn rebuild_all(&self) -> Result<usize, GateUnavailable> {
        // Everything is rebuilt below; what is suspected from now on is rebuilt next time.
        let suspects = self.take_suspects();
        let products = self.products.list().await.map_err(|e| {
            self.suspect_all(&suspects);
            GateUnavailable(e.to_string())
        })?;
        for (done, product) in products.iter().enumerate() {
            if let Err(e) = self.rebuild_now(product.id).await {
                let left: Vec<ProductId> = products[done..].iter().map(|p| p.id).collect();
                self.suspect_all(&left);
                return Err(e);
            }
        }
        Ok(products.len())
    }

    /// Rebuilds the products suspected of being off; those that fail stay suspected.
    pub async fn rebuild_suspects(&self) -> Result<usize, GateUnavailable> {
        let suspects = self.take_suspects();
        let mut rebuilt = 0;
        let mut failure = None;
        for product in suspects {
            match self.rebuild_now(product).await {
                Ok(()) => rebuilt += 1,
                Err(e) => {
                    self.suspect(product);
                    failure = Some(e);
                }
            }
        }
        failure.map_or(Ok(rebuilt), Err)
    }

    /// Rebuilds products that the gate calls sold out while the database still has units: units
    /// taken by admissions whose write never came (the instance died, the caller went away). A
    /// product must look so at two checks in a row, so that writes in flight at the first have
    /// landed by the second.
    pub async fn heal_sold_out(&self) -> Result<usize, GateUnavailable> {
        let products = self
            .products
            .list()
            .await
            .map_err(|e| GateUnavailable(e.to_string()))?;
        let mut looks = HashSet::new();
        for product in products.iter().filter(|p| p.stock.available > 0) {
            let gate = self
                .gate
                .available(product.id.0)
                .await
                .map_err(|e| GateUnavailable(e.to_string()))?;
            if gate == Some(0) {
                looks.insert(product.id);
            }
        }
        let before = {
            let mut last = self
                .looked_sold_out
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            std::mem::replace(&mut *last, looks.clone())
        };
        let mut healed = 0;
        for product in looks.intersection(&before) {
            tracing::warn!(
                product_id = product.0,
                "the gate held units the database has; rebuilding"
            );
            self.rebuild_now(*product).await?;
            healed += 1;
        }
        Ok(healed)
    }

    fn lock_for(&self, product: ProductId) -> Arc<tokio::sync::Mutex<()>> {
        let mut map = self
            .rebuilding
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        Arc::clone(map.entry(product).or_default())
    }

    async fn rebuild_from_database(&self, product: ProductId) -> Result<(), GateUnavailable> {
        let epoch = flashgate_shared_state::fresh_epoch();
        let fence_epoch = i64::try_from(epoch).map_err(|e| GateUnavailable(e.to_string()))?;
        let Some(snapshot) = self
            .fence
            .fence(product, fence_epoch)
            .await
            .map_err(|e| GateUnavailable(e.to_string()))?
        else {
            return Ok(());
        };
        let state = GateProduct {
            product_id: product.0,
            available: snapshot.available,
            per_customer_limit: snapshot.per_customer_limit,
            sale_starts_at_ms: snapshot.window.starts_at.map(epoch_ms),
            sale_ends_at_ms: snapshot.window.ends_at.map(epoch_ms),
        };
        let holdings: Vec<(String, i64)> = snapshot
            .holdings
            .into_iter()
            .map(|(customer, held)| (customer.as_str().to_owned(), held))
            .collect();
        self.gate
            .load_fenced(&state, &holdings, epoch)
            .await
            .map_err(|e| {
                // The database already carries the new epoch: until a load succeeds, every gated
                // write is refused as stale, which is safe.
                self.suspect(product);
                GateUnavailable(e.to_string())
            })?;
        self.counters.rebuilds.fetch_add(1, Ordering::Relaxed);
        metrics::counter!("flashgate_gate_rebuilds_total").increment(1);
        tracing::debug!(
            product_id = product.0,
            available = snapshot.available,
            "gate rebuilt"
        );
        Ok(())
    }

    fn fallback(&self, product: ProductId, error: &FastPathError) -> GateUnavailable {
        self.counters.fallbacks.fetch_add(1, Ordering::Relaxed);
        metrics::counter!("flashgate_gate_fallbacks_total").increment(1);
        if !error.is_unavailable() {
            tracing::error!(product_id = product.0, %error, "gate error; taking the database path");
        }
        // The database path clears the fence; rebuild once Redis answers again.
        self.suspect(product);
        GateUnavailable(error.to_string())
    }
}

fn request(ticket: &Ticket) -> AdmitRequest {
    AdmitRequest {
        product_id: ticket.product_id.0,
        customer: ticket.customer.as_str().to_owned(),
        idempotency_key: ticket.key.as_str().to_owned(),
        quantity: ticket.quantity.get(),
        now_ms: epoch_ms(ticket.at),
    }
}

#[async_trait]
impl AdmissionGate for GateService {
    async fn admit(&self, ticket: &Ticket) -> Result<GateAnswer, GateUnavailable> {
        if self.is_degraded() {
            let error = FastPathError::Unavailable("redis is degraded".into());
            return Err(self.fallback(ticket.product_id, &error));
        }
        let fenced = self
            .gate
            .admit_fenced(&request(ticket))
            .await
            .map_err(|e| self.fallback(ticket.product_id, &e))?;
        let answer = match fenced.admission {
            Admission::Admitted { .. } => GateAnswer::Admitted {
                epoch: i64::try_from(fenced.epoch).unwrap_or(-1),
            },
            Admission::SoldOut => GateAnswer::SoldOut {
                holder: fenced.holder,
            },
            Admission::LimitExceeded => GateAnswer::LimitExceeded,
            Admission::SaleNotActive => GateAnswer::SaleNotActive,
            Admission::Duplicate => GateAnswer::Duplicate,
            Admission::NotLoaded => GateAnswer::NotLoaded,
        };
        metrics::counter!("flashgate_gate_answers_total", "answer" => answer_name(answer))
            .increment(1);
        Ok(answer)
    }

    async fn release(&self, ticket: &Ticket, epoch: i64, refused: Option<&GatedOutcome>) {
        if matches!(
            refused,
            Some(GatedOutcome::Decided(
                ReserveOutcome::SoldOut | ReserveOutcome::LimitExceeded
            ))
        ) {
            self.counters.over_admitted.fetch_add(1, Ordering::Relaxed);
            metrics::counter!("flashgate_gate_over_admitted_total").increment(1);
            tracing::error!(
                product_id = ticket.product_id.0,
                ?refused,
                "the gate admitted what the database refused"
            );
            self.suspect(ticket.product_id);
        }
        let epoch = u64::try_from(epoch).ok();
        if let Err(error) = self.gate.release_fenced(&request(ticket), epoch).await {
            tracing::warn!(product_id = ticket.product_id.0, %error, "gate release failed; the product will be rebuilt");
            self.suspect(ticket.product_id);
        }
    }

    async fn rebuild(&self, product: ProductId, seen: Option<i64>) -> Result<(), GateUnavailable> {
        let lock = self.lock_for(product);
        let _one_at_a_time = lock.lock().await;
        let current = self
            .gate
            .epoch(product.0)
            .await
            .map_err(|e| self.fallback(product, &e))?;
        if current.and_then(|e| i64::try_from(e).ok()) != seen {
            // Someone rebuilt it while this caller waited: try the new state first.
            return Ok(());
        }
        self.rebuild_from_database(product).await
    }
}

fn answer_name(answer: GateAnswer) -> &'static str {
    match answer {
        GateAnswer::Admitted { .. } => "admitted",
        GateAnswer::SoldOut { .. } => "sold_out",
        GateAnswer::LimitExceeded => "limit_exceeded",
        GateAnswer::SaleNotActive => "sale_not_active",
        GateAnswer::Duplicate => "duplicate",
        GateAnswer::NotLoaded => "not_loaded",
    }
}

/// `[gate]`: the admission gate, its group commit and its keeper.
#[serde_as]
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GateSettings {
    pub max_batch: usize,
    #[serde_as(as = "DurationMicroSeconds<u64>")]
    #[serde(rename = "max_wait_us")]
    pub max_wait: Duration,
    pub concurrent_batches: usize,
    #[serde_as(as = "DurationMilliSeconds<u64>")]
    #[serde(rename = "duplicate_wait_ms")]
    pub duplicate_wait: Duration,
    #[serde_as(as = "DurationMilliSeconds<u64>")]
    #[serde(rename = "sold_out_ttl_ms")]
    pub sold_out_ttl: Duration,
    #[serde_as(as = "DurationSeconds<u64>")]
    #[serde(rename = "idempotency_ttl_seconds")]
    pub idempotency_ttl: Duration,
    #[serde_as(as = "DurationMilliSeconds<u64>")]
    #[serde(rename = "keeper_interval_ms")]
    pub keeper_interval: Duration,
}

impl GateSettings {
    pub fn validate(&self) -> anyhow::Result<()> {
        within("gate.max_batch", self.max_batch, 1, 10_000)?;
        within("gate.concurrent_batches", self.concurrent_batches, 1, 1_000)?;
        within(
            "gate.max_wait_us",
            self.max_wait,
            Duration::ZERO,
            Duration::from_secs(1),
        )?;
        within(
            "gate.duplicate_wait_ms",
            self.duplicate_wait,
            Duration::ZERO,
            Duration::from_secs(60),
        )?;
        within(
            "gate.sold_out_ttl_ms",
            self.sold_out_ttl,
            Duration::ZERO,
            Duration::from_secs(3600),
        )?;
        within(
            "gate.idempotency_ttl_seconds",
            self.idempotency_ttl,
            Duration::from_secs(1),
            Duration::from_secs(30 * 24 * 3600),
        )?;
        within(
            "gate.keeper_interval_ms",
            self.keeper_interval,
            Duration::from_millis(1),
            Duration::from_secs(3600),
        )
    }
}
