//! The admission gate's policy: the shared counters (Redis, or in process) fenced to the database.
//! A rebuild sets a fresh epoch on the product's stock row and loads the snapshot read in the same
//! transaction under that epoch, so the gate never admits more than the database holds; rebuilds of
//! one product are single-flight per instance. Whatever may have put the gate off (a give-back or a
//! release that failed, a write that took the database path) makes the product a suspect, which the
//! gate keeper rebuilds; a product the gate calls sold out while the database has units is healed.

use super::at_limit::AtLimit;
use super::gated::{AdmissionGate, GateAnswer, GateUnavailable, Ticket};
use crate::error::StoreError;
use crate::ids::{CustomerId, ProductId};
use crate::money::Quantity;
use crate::ports::{GateFence, GateSnapshot, Products};
use crate::purchase::{GatedOutcome, ReserveOutcome};
use async_trait::async_trait;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

mod limits;

/// The gate's shared counters as the policy drives them; the adapter over Redis or the
/// in-process twin implements it. Epochs are the database's (`inventory.gate_epoch`).
#[async_trait]
pub trait GateCounters: Send + Sync {
    /// The counters are known to be unreachable: skip them rather than wait for their timeouts.
    fn is_degraded(&self) -> bool;

    /// A new epoch, never reused across a loss of the counters.
    fn fresh_epoch(&self) -> i64;

    /// A count that moves whenever units or quota may have come back to the product (a give-back,
    /// a release, a rebuild) or it sold out, as far as this instance hears; `None` when it cannot
    /// vouch for one (it would not hear of a change, or it has the product flagged sold out, whose
    /// answer comes before the limit's). Customers at their limit are answered from memory only
    /// while it stands.
    fn changes(&self, product: ProductId) -> Option<u64>;

    async fn admit(&self, ticket: &Ticket) -> Result<GateAnswer, CountersError>;

    /// Undoes the admission, only if it was made under `epoch` (any epoch when `None`).
    async fn release(&self, ticket: &Ticket, epoch: Option<i64>) -> Result<(), CountersError>;

    /// Returns a released hold's units and quota, only while `epoch` is still the product's.
    async fn give_back(
        &self,
        product: ProductId,
        customer: &CustomerId,
        quantity: Quantity,
        epoch: i64,
    ) -> Result<(), CountersError>;

    async fn load(&self, snapshot: &GateSnapshot, epoch: i64) -> Result<(), CountersError>;

    /// The units the gate counts for each of `customers`, in their order; `None` when the product
    /// is not loaded.
    async fn held(
        &self,
        product: ProductId,
        customers: &[CustomerId],
    ) -> Result<Option<Vec<Counted>>, CountersError>;

    /// Sets the customer's count to `corrected` only if it still is `seen` (same units, same
    /// epoch). `true` when it was set.
    async fn correct_held(
        &self,
        product: ProductId,
        customer: &CustomerId,
        seen: Counted,
        corrected: i64,
    ) -> Result<bool, CountersError>;

    /// Units the gate would still admit; `None` when the product is not loaded.
    async fn available(&self, product: ProductId) -> Result<Option<i64>, CountersError>;

    /// The product's epoch; `None` when it is not loaded.
    async fn epoch(&self, product: ProductId) -> Result<Option<i64>, CountersError>;
}

/// A customer's units by the gate's count, under the epoch of the gate's last rebuild.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counted {
    pub held: i64,
    pub epoch: i64,
}

#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct CountersError {
    /// Unreachable (expected during an outage) rather than a fault worth an error log.
    pub unavailable: bool,
    pub message: String,
}

impl CountersError {
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self {
            unavailable: true,
            message: message.into(),
        }
    }
}

/// What the gate did since start, for tests and metrics.
#[derive(Debug, Default)]
pub struct GateStats {
    pub rebuilds: AtomicU64,
    pub fallbacks: AtomicU64,
    /// Customers' counts lowered to what the database holds: quota taken by admissions that were
    /// never written.
    pub limits_corrected: AtomicU64,
    /// Admissions the database refused for want of units or quota: the gate was more optimistic
    /// than the database. The fence makes this impossible; a non-zero count is a bug.
    pub over_admitted: AtomicU64,
    /// Requests refused for their limit from memory, without asking the counters.
    pub limits_from_memory: AtomicU64,
}

pub struct FencedGate {
    counters: Arc<dyn GateCounters>,
    fence: Arc<dyn GateFence>,
    /// Live reads of the database's products.
    products: Arc<dyn Products>,
    rebuilding: Mutex<HashMap<ProductId, Arc<tokio::sync::Mutex<()>>>>,
    suspects: Mutex<HashSet<ProductId>>,
    /// Products the gate called sold out while the database had units, at the last check.
    looked_sold_out: Mutex<HashSet<ProductId>>,
    /// Products the gate answered sold out since the last check.
    answered_sold_out: Mutex<HashSet<ProductId>>,
    /// Customers refused for their limit since the last check: the gate may count admissions of
    /// theirs that were never written.
    doubted: Mutex<HashSet<(ProductId, CustomerId)>>,
    /// Customers the gate counted above the database at the last check, and the two counts.
    looked_over_limit: Mutex<HashMap<(ProductId, CustomerId), (Counted, i64)>>,
    /// Customers the database held at their limit at the keeper's last look.
    at_limit: AtLimit,
    /// Customers the counters refused for their limit, not yet looked at for the memory, and what
    /// wakes the look ([`FencedGate::remember_refused`]).
    to_remember: Mutex<HashSet<(ProductId, CustomerId)>>,
    refused_at_limit: tokio::sync::Notify,
    /// One look that records into the memory at a time, so that an older one cannot record over a
    /// newer one's findings.
    looking: tokio::sync::Mutex<()>,
    answers: AnswerCounters,
    stats: GateStats,
}

/// A poisoned lock only means a panic elsewhere; the sets it guards stay usable.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn unavailable(error: impl ToString) -> GateUnavailable {
    GateUnavailable(error.to_string())
}

impl FencedGate {
    pub fn new(
        counters: Arc<dyn GateCounters>,
        fence: Arc<dyn GateFence>,
        products: Arc<dyn Products>,
    ) -> Self {
        Self {
            counters,
            fence,
            products,
            rebuilding: Mutex::default(),
            suspects: Mutex::default(),
            looked_sold_out: Mutex::default(),
            answered_sold_out: Mutex::default(),
            doubted: Mutex::default(),
            looked_over_limit: Mutex::default(),
            at_limit: AtLimit::default(),
            to_remember: Mutex::default(),
            refused_at_limit: tokio::sync::Notify::new(),
            looking: tokio::sync::Mutex::new(()),
            answers: AnswerCounters::new(),
            stats: GateStats::default(),
        }
    }

    pub fn stats(&self) -> &GateStats {
        &self.stats
    }

    pub fn is_degraded(&self) -> bool {
        self.counters.is_degraded()
    }

    /// Units the gate would still admit, for display; `None` when it cannot say.
    pub async fn available(&self, product: ProductId) -> Option<i64> {
        if self.is_degraded() {
            return None;
        }
        self.counters.available(product).await.ok().flatten()
    }

    /// The product's gate epoch, read before a hold is released so that the units are given back
    /// only if no rebuild (whose snapshot may already count them) happened in between.
    pub async fn epoch(&self, product: ProductId) -> Result<Option<i64>, CountersError> {
        if self.is_degraded() {
            return Err(CountersError::unavailable(
                "the gate's counters are degraded",
            ));
        }
        self.counters.epoch(product).await
    }

    pub async fn give_back(
        &self,
        product: ProductId,
        customer: &CustomerId,
        quantity: Quantity,
        epoch: i64,
    ) {
        let done = self
            .counters
            .give_back(product, customer, quantity, epoch)
            .await;
        if let Err(error) = done {
            tracing::warn!(product_id = product.0, %error, "gate give-back failed; the product will be rebuilt");
            self.suspect(product);
        }
    }

    /// The product's gate may be off; the keeper rebuilds it.
    pub fn suspect(&self, product: ProductId) {
        lock(&self.suspects).insert(product);
    }

    fn suspect_all(&self, products: impl IntoIterator<Item = ProductId>) {
        lock(&self.suspects).extend(products);
    }

    fn take_suspects(&self) -> Vec<ProductId> {
        lock(&self.suspects).drain().collect()
    }

    /// Rebuilds the product now, whatever its state (after a restock or an admin change).
    pub async fn rebuild_now(&self, product: ProductId) -> Result<(), GateUnavailable> {
        let lock = self.lock_for(product);
        let _one_at_a_time = lock.lock().await;
        self.rebuild_from_database(product).await
    }

    /// Rebuilds every product (at start, and after the counters come back).
    pub async fn rebuild_all(&self) -> Result<usize, GateUnavailable> {
        // Everything is rebuilt below; what is suspected from now on is rebuilt next time.
        let suspects = self.take_suspects();
        let products = self.products.list().await.map_err(|e| {
            self.suspect_all(suspects);
            unavailable(e)
        })?;
        for (done, product) in products.iter().enumerate() {
            if let Err(e) = self.rebuild_now(product.id).await {
                self.suspect_all(products[done..].iter().map(|p| p.id));
                return Err(e);
            }
        }
        Ok(products.len())
    }

    /// Rebuilds the products suspected of being off; those that fail stay suspected.
    pub async fn rebuild_suspects(&self) -> Result<usize, GateUnavailable> {
        let mut rebuilt = 0;
        let mut failure = None;
        for product in self.take_suspects() {
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
    /// landed by the second. Only products the gate answered sold out since the last check are
    /// looked at, so a check costs what the sale's sold-out answers name, not the catalogue.
    pub async fn heal_sold_out(&self) -> Result<usize, GateUnavailable> {
        let mut candidates = std::mem::take(&mut *lock(&self.answered_sold_out));
        candidates.extend(lock(&self.looked_sold_out).iter().copied());
        let mut looks = HashSet::new();
        for id in candidates {
            let product = self.products.get(id).await.map_err(unavailable)?;
            if product.is_none_or(|p| p.stock.available == 0) {
                continue;
            }
            let gate = self.counters.available(id).await.map_err(unavailable)?;
            if gate == Some(0) {
                looks.insert(id);
            }
        }
        let before = std::mem::replace(&mut *lock(&self.looked_sold_out), looks.clone());
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
        Arc::clone(lock(&self.rebuilding).entry(product).or_default())
    }

    async fn rebuild_from_database(&self, product: ProductId) -> Result<(), GateUnavailable> {
        let epoch = self.counters.fresh_epoch();
        let fenced: Result<_, StoreError> = self.fence.fence(product, epoch).await;
        let Some(snapshot) = fenced.map_err(unavailable)? else {
            return Ok(());
        };
        self.counters.load(&snapshot, epoch).await.map_err(|e| {
            // The database already carries the new epoch: until a load succeeds, every gated
            // write is refused as stale, which is safe.
            self.suspect(product);
            unavailable(e)
        })?;
        self.stats.rebuilds.fetch_add(1, Ordering::Relaxed);
        metrics::counter!("flashgate_gate_rebuilds_total").increment(1);
        tracing::debug!(
            product_id = product.0,
            available = snapshot.available,
            "gate rebuilt"
        );
        Ok(())
    }

    fn fallback(&self, product: ProductId, error: &CountersError) -> GateUnavailable {
        self.stats.fallbacks.fetch_add(1, Ordering::Relaxed);
        metrics::counter!("flashgate_gate_fallbacks_total").increment(1);
        if !error.unavailable {
            tracing::error!(product_id = product.0, %error, "gate error; taking the database path");
        }
        // The database path clears the fence; rebuild once the counters answer again.
        self.suspect(product);
        unavailable(error)
    }
}

#[async_trait]
impl AdmissionGate for FencedGate {
    async fn admit(&self, ticket: &Ticket) -> Result<GateAnswer, GateUnavailable> {
        if self.is_degraded() {
            let error = CountersError::unavailable("the gate's counters are degraded");
            return Err(self.fallback(ticket.product_id, &error));
        }
        if self
            .at_limit
            .refuses(ticket, || self.counters.changes(ticket.product_id))
        {
            self.stats
                .limits_from_memory
                .fetch_add(1, Ordering::Relaxed);
            self.answers.limit_exceeded.increment(1);
            self.answers.limits_from_memory.increment(1);
            return Ok(GateAnswer::LimitExceeded {
                may_be_retry: false,
            });
        }
        let answer = self
            .counters
            .admit(ticket)
            .await
            .map_err(|e| self.fallback(ticket.product_id, &e))?;
        self.answers.of(answer).increment(1);
        match answer {
            GateAnswer::LimitExceeded { .. } => self.doubt(ticket),
            GateAnswer::SoldOut { .. } => {
                lock(&self.answered_sold_out).insert(ticket.product_id);
            }
            _ => {}
        }
        Ok(answer)
    }

    async fn release(&self, ticket: &Ticket, epoch: i64, refused: Option<&GatedOutcome>) {
        if matches!(
            refused,
            Some(GatedOutcome::Decided(
                ReserveOutcome::SoldOut | ReserveOutcome::LimitExceeded
            ))
        ) {
            self.stats.over_admitted.fetch_add(1, Ordering::Relaxed);
            metrics::counter!("flashgate_gate_over_admitted_total").increment(1);
            tracing::error!(
                product_id = ticket.product_id.0,
                ?refused,
                "the gate admitted what the database refused"
            );
            self.suspect(ticket.product_id);
        }
        let epoch = (epoch > 0).then_some(epoch);
        if let Err(error) = self.counters.release(ticket, epoch).await {
            tracing::warn!(product_id = ticket.product_id.0, %error, "gate release failed; the product will be rebuilt");
            self.suspect(ticket.product_id);
        }
    }

    fn unsure(&self, ticket: &Ticket) {
        // The group commit has logged the failure; the keeper's rebuild also sets the customer's
        // count to what the database holds.
        self.suspect(ticket.product_id);
    }

    async fn rebuild(&self, product: ProductId, seen: Option<i64>) -> Result<(), GateUnavailable> {
        let lock = self.lock_for(product);
        let _one_at_a_time = lock.lock().await;
        let current = self
            .counters
            .epoch(product)
            .await
            .map_err(|e| self.fallback(product, &e))?;
        if current != seen {
            // Someone rebuilt it while this caller waited: try the new state first.
            return Ok(());
        }
        self.rebuild_from_database(product).await
    }
}

/// `flashgate_gate_answers_total` by answer, and the limit refusals answered from memory: handles
/// taken once, when the gate is built, since a crowd's refusals come thousands a second and a
/// registry lookup per answer (building and hashing the metric's key) cost more than the answer.
struct AnswerCounters {
    admitted: metrics::Counter,
    sold_out: metrics::Counter,
    limit_exceeded: metrics::Counter,
    sale_not_active: metrics::Counter,
    duplicate: metrics::Counter,
    not_loaded: metrics::Counter,
    limits_from_memory: metrics::Counter,
}

impl AnswerCounters {
    fn new() -> Self {
        let answered = |answer: &'static str| metrics::counter!("flashgate_gate_answers_total", "answer" => answer);
        Self {
            admitted: answered("admitted"),
            sold_out: answered("sold_out"),
            limit_exceeded: answered("limit_exceeded"),
            sale_not_active: answered("sale_not_active"),
            duplicate: answered("duplicate"),
            not_loaded: answered("not_loaded"),
            limits_from_memory: metrics::counter!("flashgate_gate_limits_from_memory_total"),
        }
    }

    fn of(&self, answer: GateAnswer) -> &metrics::Counter {
        match answer {
            GateAnswer::Admitted { .. } => &self.admitted,
            GateAnswer::SoldOut { .. } => &self.sold_out,
            GateAnswer::LimitExceeded { .. } => &self.limit_exceeded,
            GateAnswer::SaleNotActive => &self.sale_not_active,
            GateAnswer::Duplicate => &self.duplicate,
            GateAnswer::NotLoaded => &self.not_loaded,
        }
    }
}

#[cfg(test)]
mod tests;
