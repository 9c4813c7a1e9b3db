//! The admission gate's policy: the shared counters (Redis, or in process) fenced to the database.
//! A rebuild sets a fresh epoch on the product's stock row and loads the snapshot read in the same
//! transaction under that epoch, so the gate never admits more than the database holds; rebuilds of
//! one product are single-flight per instance. Whatever may have put the gate off (a give-back or a
//! release that failed, a write that took the database path) makes the product a suspect, which the
//! gate keeper rebuilds; a product the gate calls sold out while the database has units is healed.

use super::at_limit::AtLimit;
use super::gated::{AdmissionGate, GateAnswer, GateUnavailable, Ticket};
use crate::error::StoreError;
use crate::ids::{CustomerId, IdempotencyKey, ProductId};
use crate::money::Quantity;
use crate::ports::{GateFence, GateSnapshot, Products};
use crate::purchase::{GatedOutcome, ReserveOutcome};
use async_trait::async_trait;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

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

/// How many refused customers the gate remembers between two looks of the keeper: enough for any
/// real crowd of doubts, bounded so that a flood of over-limit requests cannot grow it.
const MAX_DOUBTS: usize = 10_000;
/// A customer with more stored answers than this is not remembered at their limit: the memory
/// checks a new key against each of them.
const STORED_KEYS_AT_MOST: usize = 32;

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

/// Customers grouped by product, for one read of each product's counts.
fn by_product(
    pairs: impl IntoIterator<Item = (ProductId, CustomerId)>,
) -> HashMap<ProductId, Vec<CustomerId>> {
    let mut by_product: HashMap<ProductId, Vec<CustomerId>> = HashMap::new();
    for (product, customer) in pairs {
        by_product.entry(product).or_default().push(customer);
    }
    by_product
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

    /// Gives customers back the quota that admissions never written still hold in the gate (the
    /// request timed out before its batch failed, or its instance died between admission and
    /// write), so that nobody stays locked out at a limit the database says they have not reached.
    /// A customer refused for the limit is looked at here; one the gate counts above the database
    /// at two checks in a row, with both counts unchanged, gets the database's count: a write in
    /// flight at the first look would have moved one of them by the second. The database enforces
    /// the limit on every write, so a correction that comes too early costs a refused write, never
    /// a unit beyond the limit.
    /// `now` is when the step runs (what the memory of customers at the limit dates its looks by).
    pub async fn heal_limits(&self, now: Instant) -> Result<usize, GateUnavailable> {
        let _one_look_at_a_time = self.looking.lock().await;
        let mut doubted = std::mem::take(&mut *lock(&self.doubted));
        doubted.extend(lock(&self.looked_over_limit).keys().cloned());
        doubted.extend(self.at_limit.take_asked(now));
        // Per product, one read of the gate's counts, then one of the database's: each customer's
        // count in the gate is read before theirs in the database, as a look needs.
        let mut looks = HashMap::new();
        for (product, customers) in by_product(doubted) {
            let counted = self.counters.held(product, &customers).await;
            let Some(counted) = counted.map_err(unavailable)? else {
                continue;
            };
            let held = self.look_at(product, &customers, now).await?;
            if counted.len() != customers.len() {
                return Err(unavailable(format!(
                    "{} customers asked, {} counts in the gate",
                    customers.len(),
                    counted.len()
                )));
            }
            for ((customer, counted), held) in customers.into_iter().zip(counted).zip(held) {
                if counted.held > held {
                    looks.insert((product, customer), (counted, held));
                }
            }
        }
        let before = std::mem::replace(&mut *lock(&self.looked_over_limit), looks.clone());
        let mut corrected = 0;
        for (key, look) in looks {
            if before.get(&key) != Some(&look) {
                continue;
            }
            let (product, customer) = key;
            let (counted, held) = look;
            let done = self
                .counters
                .correct_held(product, &customer, counted, held);
            if done.await.map_err(unavailable)? {
                tracing::warn!(
                    product_id = product.0,
                    gate = counted.held,
                    database = held,
                    "the gate counted units of admissions never written against a customer's limit; corrected"
                );
                self.stats.limits_corrected.fetch_add(1, Ordering::Relaxed);
                metrics::counter!("flashgate_gate_limits_corrected_total").increment(1);
                corrected += 1;
            }
        }
        Ok(corrected)
    }

    /// Resolves once a customer is refused for their limit by the counters since the last
    /// [`FencedGate::remember_refused`]: what the background look waits for.
    pub async fn refused_at_limit(&self) {
        self.refused_at_limit.notified().await;
    }

    /// Looks at once at the customers the counters refused for their limit since the last call and
    /// remembers those the database holds at it, so that a crowd at its limit is refused from memory
    /// a moment after its first refusals rather than at the keeper's next step (each refusal until
    /// then is a round trip to the counters). Their counts stay the keeper's to correct: a
    /// correction needs two looks a keeper interval apart.
    pub async fn remember_refused(&self, now: Instant) -> Result<(), GateUnavailable> {
        let refused = std::mem::take(&mut *lock(&self.to_remember));
        let _one_look_at_a_time = self.looking.lock().await;
        for (product, customers) in by_product(refused) {
            // Nothing could be remembered: not worth the database's read.
            if self.counters.changes(product).is_some() {
                self.look_at(product, &customers, now).await?;
            }
        }
        Ok(())
    }

    /// Reads what the database holds of the product for each of `customers` (in their order) and
    /// remembers those it holds at the limit, under the change count read before it.
    async fn look_at(
        &self,
        product: ProductId,
        customers: &[CustomerId],
        now: Instant,
    ) -> Result<Vec<i64>, GateUnavailable> {
        // Read before the database, so that whatever comes back after the read moves it.
        let changes = self.counters.changes(product);
        let held = self
            .fence
            .held(product, customers)
            .await
            .map_err(unavailable)?;
        if held.len() != customers.len() {
            return Err(unavailable(format!(
                "{} customers asked, {} counts in the database",
                customers.len(),
                held.len()
            )));
        }
        if let Some(changes) = changes
            && let Err(error) = self
                .remember_at_limit(product, changes, customers, &held, now)
                .await
        {
            // Only a saving is lost: these customers' refusals keep asking the counters.
            tracing::warn!(product_id = product.0, %error, "could not read who is at the limit");
        }
        Ok(held)
    }

    /// Remembers the customers among `customers` whom the database holds at the product's limit
    /// (`held`, read after `changes`), with their stored keys read after that, so that their next
    /// new keys are refused without asking the counters; forgets the others. Nobody is remembered
    /// while the database has no units left: the gate's sold-out answer comes before the limit's.
    async fn remember_at_limit(
        &self,
        product: ProductId,
        changes: u64,
        customers: &[CustomerId],
        held: &[i64],
        now: Instant,
    ) -> Result<(), StoreError> {
        let Some(product_now) = self.products.get(product).await? else {
            return Ok(());
        };
        let limit = product_now
            .per_customer_limit
            .filter(|_| product_now.stock.available > 0);
        let at_limit: Vec<CustomerId> = customers
            .iter()
            .zip(held)
            .filter(|(_, held)| limit.is_some_and(|limit| **held >= limit))
            .map(|(customer, _)| customer.clone())
            .collect();
        let mut keys: HashMap<CustomerId, Option<Vec<IdempotencyKey>>> = if at_limit.is_empty() {
            HashMap::new()
        } else {
            let keys = self
                .fence
                .stored_keys(&at_limit, STORED_KEYS_AT_MOST)
                .await?;
            at_limit.into_iter().zip(keys).collect()
        };
        let looked = customers
            .iter()
            .map(|customer| (customer.clone(), keys.remove(customer).flatten()))
            .collect();
        self.at_limit
            .record(product, changes, product_now.window, looked, now);
        Ok(())
    }

    fn doubt(&self, ticket: &Ticket) {
        let refused = (ticket.product_id, ticket.customer.clone());
        {
            let mut doubted = lock(&self.doubted);
            if doubted.len() < MAX_DOUBTS {
                doubted.insert(refused.clone());
            }
        }
        let mut to_remember = lock(&self.to_remember);
        if to_remember.len() < MAX_DOUBTS && to_remember.insert(refused) {
            self.refused_at_limit.notify_one();
        }
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
mod tests {
    use super::*;
    use crate::ids::IdempotencyKey;
    use crate::product::{Product, SaleWindow, Stock};
    use crate::{Sku, Vnd};
    use std::sync::atomic::AtomicBool;
    use std::time::Duration;
    use time::OffsetDateTime;

    /// In-memory counters: per product, available units and the epoch; switches for an outage
    /// and for failing writes.
    #[derive(Default)]
    struct Counters {
        state: Mutex<HashMap<ProductId, (i64, i64)>>,
        /// Units per customer (of any product), and the limit every product has, if any.
        held: Mutex<HashMap<CustomerId, i64>>,
        limit: Mutex<Option<i64>>,
        next_epoch: AtomicU64,
        degraded: AtomicBool,
        failing: AtomicBool,
        loads: AtomicU64,
        admits: AtomicU64,
        /// What `changes` answers; `None` (the default) leaves the memory of limits unused.
        changes: Mutex<Option<u64>>,
    }

    impl Counters {
        fn fail(&self) -> Result<(), CountersError> {
            if self.failing.load(Ordering::SeqCst) {
                return Err(CountersError::unavailable("down"));
            }
            Ok(())
        }
        fn set(&self, product: i64, available: i64) {
            lock(&self.state)
                .entry(ProductId(product))
                .or_insert((0, 1))
                .0 = available;
        }
    }

    #[async_trait]
    impl GateCounters for Counters {
        fn is_degraded(&self) -> bool {
            self.degraded.load(Ordering::SeqCst)
        }
        fn changes(&self, _: ProductId) -> Option<u64> {
            *lock(&self.changes)
        }
        fn fresh_epoch(&self) -> i64 {
            i64::try_from(self.next_epoch.fetch_add(1, Ordering::SeqCst)).unwrap() + 100
        }
        async fn admit(&self, ticket: &Ticket) -> Result<GateAnswer, CountersError> {
            self.fail()?;
            self.admits.fetch_add(1, Ordering::SeqCst);
            let mut state = lock(&self.state);
            let Some((available, epoch)) = state.get_mut(&ticket.product_id) else {
                return Ok(GateAnswer::NotLoaded);
            };
            if *available < ticket.quantity.get() {
                return Ok(GateAnswer::SoldOut { holder: false });
            }
            let mut held = lock(&self.held);
            let held = held.entry(ticket.customer.clone()).or_default();
            if lock(&self.limit).is_some_and(|limit| *held + ticket.quantity.get() > limit) {
                return Ok(GateAnswer::LimitExceeded { may_be_retry: true });
            }
            *held += ticket.quantity.get();
            *available -= ticket.quantity.get();
            Ok(GateAnswer::Admitted { epoch: *epoch })
        }
        async fn held(
            &self,
            product: ProductId,
            customers: &[CustomerId],
        ) -> Result<Option<Vec<Counted>>, CountersError> {
            self.fail()?;
            let epoch = lock(&self.state).get(&product).map(|s| s.1);
            let held = lock(&self.held);
            let held = |customer| held.get(customer).copied().unwrap_or(0);
            Ok(epoch.map(|epoch| {
                let counted = |customer| Counted {
                    held: held(customer),
                    epoch,
                };
                customers.iter().map(counted).collect()
            }))
        }
        async fn correct_held(
            &self,
            product: ProductId,
            customer: &CustomerId,
            seen: Counted,
            corrected: i64,
        ) -> Result<bool, CountersError> {
            let counted = self.held(product, std::slice::from_ref(customer)).await?;
            if counted.and_then(|c| c.first().copied()) != Some(seen) {
                return Ok(false);
            }
            lock(&self.held).insert(customer.clone(), corrected);
            Ok(true)
        }
        async fn release(&self, _: &Ticket, _: Option<i64>) -> Result<(), CountersError> {
            self.fail()
        }
        async fn give_back(
            &self,
            _: ProductId,
            _: &CustomerId,
            _: Quantity,
            _: i64,
        ) -> Result<(), CountersError> {
            self.fail()
        }
        async fn load(&self, snapshot: &GateSnapshot, epoch: i64) -> Result<(), CountersError> {
            self.fail()?;
            self.loads.fetch_add(1, Ordering::SeqCst);
            // A load takes a while, so that concurrent rebuilds overlap.
            tokio::task::yield_now().await;
            lock(&self.state).insert(snapshot.product_id, (snapshot.available, epoch));
            Ok(())
        }
        async fn available(&self, product: ProductId) -> Result<Option<i64>, CountersError> {
            self.fail()?;
            Ok(lock(&self.state).get(&product).map(|s| s.0))
        }
        async fn epoch(&self, product: ProductId) -> Result<Option<i64>, CountersError> {
            self.fail()?;
            Ok(lock(&self.state).get(&product).map(|s| s.1))
        }
    }

    /// The database: products 1 and 2 with the given available units; counts fences.
    struct Database {
        available: Mutex<HashMap<ProductId, i64>>,
        /// Units per customer in live and paid orders.
        held: Mutex<HashMap<CustomerId, i64>>,
        /// Keys with a stored answer, per customer.
        keys: Mutex<HashMap<CustomerId, Vec<IdempotencyKey>>>,
        /// Every product's per-customer limit.
        limit: Mutex<Option<i64>>,
        fences: AtomicU64,
        /// Counters whose change count moves while holdings are read, as a give-back racing the read.
        moved_while_read: Mutex<Option<Arc<Counters>>>,
    }

    impl Database {
        fn with(units: &[(i64, i64)]) -> Arc<Self> {
            Arc::new(Self {
                available: Mutex::new(units.iter().map(|&(p, n)| (ProductId(p), n)).collect()),
                held: Mutex::default(),
                keys: Mutex::default(),
                limit: Mutex::default(),
                fences: AtomicU64::new(0),
                moved_while_read: Mutex::default(),
            })
        }
    }

    fn product(id: ProductId, available: i64) -> Product {
        Product {
            id,
            sku: Sku::parse(&format!("P{}", id.0)).unwrap(),
            name: "Phone".into(),
            price: Vnd::price(10_000).unwrap(),
            stock: Stock {
                total: available,
                available,
                reserved: 0,
                sold: 0,
            },
            per_customer_limit: None,
            window: SaleWindow::default(),
        }
    }

    #[async_trait]
    impl GateFence for Database {
        async fn fence(
            &self,
            product: ProductId,
            _: i64,
        ) -> Result<Option<GateSnapshot>, StoreError> {
            self.fences.fetch_add(1, Ordering::SeqCst);
            Ok(lock(&self.available)
                .get(&product)
                .map(|&available| GateSnapshot {
                    product_id: product,
                    available,
                    per_customer_limit: None,
                    window: SaleWindow::default(),
                    holdings: lock(&self.held)
                        .iter()
                        .map(|(customer, held)| (customer.clone(), *held))
                        .collect(),
                }))
        }
        async fn held(
            &self,
            _: ProductId,
            customers: &[CustomerId],
        ) -> Result<Vec<i64>, StoreError> {
            if let Some(counters) = lock(&self.moved_while_read).as_ref() {
                let mut changes = lock(&counters.changes);
                *changes = changes.map(|n| n + 1);
            }
            let held = lock(&self.held);
            let held = |customer| held.get(customer).copied().unwrap_or(0);
            Ok(customers.iter().map(held).collect())
        }
        async fn stored_keys(
            &self,
            customers: &[CustomerId],
            at_most: usize,
        ) -> Result<Vec<Option<Vec<IdempotencyKey>>>, StoreError> {
            let keys = lock(&self.keys);
            let keys = |customer| {
                let keys = keys.get(customer).cloned().unwrap_or_default();
                (keys.len() <= at_most).then_some(keys)
            };
            Ok(customers.iter().map(keys).collect())
        }
    }

    #[async_trait]
    impl Products for Database {
        async fn get(&self, id: ProductId) -> Result<Option<Product>, StoreError> {
            let limit = *lock(&self.limit);
            Ok(lock(&self.available).get(&id).map(|&n| Product {
                per_customer_limit: limit,
                ..product(id, n)
            }))
        }
        async fn list(&self) -> Result<Vec<Product>, StoreError> {
            let mut all: Vec<_> = lock(&self.available)
                .iter()
                .map(|(&id, &n)| product(id, n))
                .collect();
            all.sort_by_key(|p| p.id.0);
            Ok(all)
        }
    }

    fn gate(units: &[(i64, i64)]) -> (FencedGate, Arc<Counters>, Arc<Database>) {
        let counters = Arc::new(Counters::default());
        let database = Database::with(units);
        let gate = FencedGate::new(counters.clone(), database.clone(), database.clone());
        (gate, counters, database)
    }

    fn ticket(product: i64) -> Ticket {
        Ticket {
            product_id: ProductId(product),
            customer: CustomerId::parse("alice").unwrap(),
            key: IdempotencyKey::parse("key-1").unwrap(),
            quantity: Quantity::parse(1).unwrap(),
            at: OffsetDateTime::UNIX_EPOCH,
        }
    }

    #[tokio::test]
    async fn callers_that_find_the_same_stale_epoch_rebuild_once() {
        let (gate, counters, database) = gate(&[(1, 5)]);
        let gate = Arc::new(gate);
        let callers: Vec<_> = (0..8)
            .map(|_| {
                let gate = gate.clone();
                tokio::spawn(async move { gate.rebuild(ProductId(1), None).await })
            })
            .collect();
        for caller in callers {
            caller.await.unwrap().unwrap();
        }
        assert_eq!(database.fences.load(Ordering::SeqCst), 1);
        assert_eq!(counters.loads.load(Ordering::SeqCst), 1);
        assert_eq!(gate.stats().rebuilds.load(Ordering::SeqCst), 1);
        assert_eq!(gate.available(ProductId(1)).await, Some(5));
    }

    #[tokio::test]
    async fn a_degraded_gate_sends_buyers_to_the_database_and_suspects_the_product() {
        let (gate, counters, database) = gate(&[(1, 5)]);
        gate.rebuild_all().await.unwrap();
        counters.degraded.store(true, Ordering::SeqCst);
        assert!(gate.admit(&ticket(1)).await.is_err());
        assert_eq!(gate.stats().fallbacks.load(Ordering::SeqCst), 1);
        // The database path sold units behind the gate's back.
        lock(&database.available).insert(ProductId(1), 2);
        counters.degraded.store(false, Ordering::SeqCst);
        assert_eq!(gate.rebuild_suspects().await.unwrap(), 1);
        assert_eq!(gate.available(ProductId(1)).await, Some(2));
        assert_eq!(
            gate.rebuild_suspects().await.unwrap(),
            0,
            "suspects are taken once"
        );
    }

    #[tokio::test]
    async fn a_failed_give_back_or_load_leaves_the_product_suspected_until_a_rebuild_succeeds() {
        let (gate, counters, _) = gate(&[(1, 5), (2, 3)]);
        counters.failing.store(true, Ordering::SeqCst);
        let alice = CustomerId::parse("alice").unwrap();
        gate.give_back(ProductId(1), &alice, Quantity::parse(1).unwrap(), 1)
            .await;
        assert!(gate.rebuild_now(ProductId(2)).await.is_err());
        assert!(gate.rebuild_suspects().await.is_err(), "still down");
        counters.failing.store(false, Ordering::SeqCst);
        assert_eq!(gate.rebuild_suspects().await.unwrap(), 2);
        assert_eq!(gate.available(ProductId(2)).await, Some(3));
    }

    #[tokio::test]
    async fn an_admission_the_database_refused_is_counted_and_suspected() {
        let (gate, counters, _) = gate(&[(1, 5)]);
        gate.rebuild_all().await.unwrap();
        let refused = GatedOutcome::Decided(ReserveOutcome::SoldOut);
        gate.release(&ticket(1), 100, Some(&refused)).await;
        assert_eq!(gate.stats().over_admitted.load(Ordering::SeqCst), 1);
        let loads = counters.loads.load(Ordering::SeqCst);
        assert_eq!(gate.rebuild_suspects().await.unwrap(), 1);
        assert_eq!(counters.loads.load(Ordering::SeqCst), loads + 1);
    }

    #[tokio::test]
    async fn a_gate_that_says_sold_out_while_the_database_has_units_heals_at_the_second_look() {
        let (gate, counters, database) = gate(&[(1, 5), (2, 4)]);
        gate.rebuild_all().await.unwrap();
        // Admissions whose writes never came took every unit of product 1; a buyer is told so.
        counters.set(1, 0);
        counters.set(2, 0);
        lock(&database.available).insert(ProductId(2), 0);
        for product in [1, 2] {
            let answer = gate.admit(&ticket(product)).await.unwrap();
            assert_eq!(answer, GateAnswer::SoldOut { holder: false });
        }
        assert_eq!(
            gate.heal_sold_out().await.unwrap(),
            0,
            "the first look waits"
        );
        assert_eq!(gate.heal_sold_out().await.unwrap(), 1);
        assert_eq!(gate.available(ProductId(1)).await, Some(5));
        assert_eq!(
            gate.available(ProductId(2)).await,
            Some(0),
            "really sold out"
        );
        assert_eq!(
            gate.heal_sold_out().await.unwrap(),
            0,
            "nothing left to look at"
        );
    }

    #[tokio::test]
    async fn a_product_no_buyer_was_told_is_sold_out_is_not_looked_at() {
        let (gate, counters, _) = gate(&[(1, 5)]);
        gate.rebuild_all().await.unwrap();
        counters.set(1, 0);
        assert_eq!(gate.heal_sold_out().await.unwrap(), 0);
        assert_eq!(gate.heal_sold_out().await.unwrap(), 0);
        assert_eq!(gate.available(ProductId(1)).await, Some(0));
        gate.admit(&ticket(1)).await.unwrap();
        assert_eq!(gate.heal_sold_out().await.unwrap(), 0);
        assert_eq!(gate.heal_sold_out().await.unwrap(), 1);
    }

    #[tokio::test]
    async fn a_product_that_looked_sold_out_once_is_not_healed() {
        let (gate, counters, _) = gate(&[(1, 5)]);
        gate.rebuild_all().await.unwrap();
        counters.set(1, 0);
        gate.admit(&ticket(1)).await.unwrap();
        assert_eq!(gate.heal_sold_out().await.unwrap(), 0);
        // The writes in flight landed: the gate and the database agree again.
        counters.set(1, 3);
        assert_eq!(gate.heal_sold_out().await.unwrap(), 0);
        assert_eq!(gate.available(ProductId(1)).await, Some(3));
    }

    #[tokio::test]
    async fn a_customer_held_at_the_limit_by_an_admission_never_written_is_let_back_in() {
        let (gate, counters, database) = gate(&[(1, 5)]);
        gate.rebuild_all().await.unwrap();
        *lock(&counters.limit) = Some(1);
        let alice = CustomerId::parse("alice").unwrap();
        // Admitted, and then the write never came: the database holds nothing of alice's.
        assert!(matches!(
            gate.admit(&ticket(1)).await.unwrap(),
            GateAnswer::Admitted { .. }
        ));
        assert_eq!(
            gate.admit(&ticket(1)).await.unwrap(),
            GateAnswer::LimitExceeded { may_be_retry: true }
        );
        assert_eq!(
            gate.heal_limits(Instant::now()).await.unwrap(),
            0,
            "the first look waits"
        );
        assert_eq!(gate.heal_limits(Instant::now()).await.unwrap(), 1);
        assert_eq!(lock(&counters.held).get(&alice), Some(&0));
        assert!(matches!(
            gate.admit(&ticket(1)).await.unwrap(),
            GateAnswer::Admitted { .. }
        ));
        assert_eq!(lock(&database.held).get(&alice), None);
        assert_eq!(gate.stats().limits_corrected.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_customer_the_database_holds_at_the_limit_is_refused_from_memory_until_something_changes()
     {
        let (gate, counters, _) = alice_remembered_at_the_limit().await;
        let asked = counters.admits.load(Ordering::SeqCst);
        for k in ["a-2", "a-3", "a-4"] {
            assert_eq!(gate.admit(&with_key(k)).await.unwrap(), REMEMBERED);
        }
        assert_eq!(counters.admits.load(Ordering::SeqCst), asked);
        assert_eq!(gate.stats().limits_from_memory.load(Ordering::SeqCst), 3);
        // The stored key may be the retry of the sale: the counters answer it.
        gate.admit(&with_key("a-1")).await.unwrap();
        assert_eq!(counters.admits.load(Ordering::SeqCst), asked + 1);
        // Units or quota came back somewhere: the memory no longer stands.
        let refused = GateAnswer::LimitExceeded { may_be_retry: true };
        *lock(&counters.changes) = Some(8);
        assert_eq!(gate.admit(&with_key("a-5")).await.unwrap(), refused);
        *lock(&counters.changes) = None;
        assert_eq!(gate.admit(&with_key("a-6")).await.unwrap(), refused);
        assert_eq!(counters.admits.load(Ordering::SeqCst), asked + 3);
    }

    /// A product of 5 units with a limit of one, loaded, the change count at 7.
    async fn limit_of_one_under_count_seven() -> (FencedGate, Arc<Counters>, Arc<Database>) {
        let (gate, counters, database) = gate(&[(1, 5)]);
        gate.rebuild_all().await.unwrap();
        *lock(&counters.limit) = Some(1);
        *lock(&database.limit) = Some(1);
        *lock(&counters.changes) = Some(7);
        (gate, counters, database)
    }

    /// Alice at a limit of one, her sale written (`a-1`), refused once by the counters and looked at
    /// by the keeper with the change count at 7.
    async fn alice_remembered_at_the_limit() -> (FencedGate, Arc<Counters>, Arc<Database>) {
        let (gate, counters, database) = limit_of_one_under_count_seven().await;
        let alice = CustomerId::parse("alice").unwrap();
        gate.admit(&with_key("a-1")).await.unwrap();
        lock(&database.held).insert(alice.clone(), 1);
        lock(&database.keys).insert(alice, vec![IdempotencyKey::parse("a-1").unwrap()]);
        gate.admit(&with_key("a-2")).await.unwrap();
        gate.heal_limits(Instant::now()).await.unwrap();
        (gate, counters, database)
    }

    fn with_key(key: &str) -> Ticket {
        Ticket {
            key: IdempotencyKey::parse(key).unwrap(),
            ..ticket(1)
        }
    }

    const REMEMBERED: GateAnswer = GateAnswer::LimitExceeded {
        may_be_retry: false,
    };

    #[tokio::test]
    async fn a_remembered_customer_the_database_let_go_without_the_count_moving_is_forgotten_once_looked_at_again()
     {
        let (gate, counters, database) = alice_remembered_at_the_limit().await;
        assert_eq!(gate.admit(&with_key("a-3")).await.unwrap(), REMEMBERED);
        // Her hold went back by a path that did not move the count.
        lock(&database.held).clear();
        // A step before her entry is due leaves her remembered; the first one after forgets her.
        gate.heal_limits(Instant::now()).await.unwrap();
        assert_eq!(gate.admit(&with_key("a-4")).await.unwrap(), REMEMBERED);
        let due = Instant::now() + crate::checkout::at_limit::LOOKED_AGAIN_AFTER;
        gate.heal_limits(due).await.unwrap();
        let asked = counters.admits.load(Ordering::SeqCst);
        assert_ne!(gate.admit(&with_key("a-5")).await.unwrap(), REMEMBERED);
        assert_eq!(counters.admits.load(Ordering::SeqCst), asked + 1);
    }

    #[tokio::test]
    async fn nobody_is_remembered_when_the_count_moves_during_the_keeper_s_read_or_the_product_sold_out()
     {
        for sold_out in [false, true] {
            let (gate, counters, database) = limit_of_one_under_count_seven().await;
            lock(&database.held).insert(CustomerId::parse("alice").unwrap(), 1);
            gate.admit(&with_key("a-1")).await.unwrap();
            if sold_out {
                lock(&database.available).insert(ProductId(1), 0);
            } else {
                *lock(&database.moved_while_read) = Some(counters.clone());
            }
            gate.admit(&with_key("a-2")).await.unwrap();
            gate.heal_limits(Instant::now()).await.unwrap();
            let answer = gate.admit(&with_key("a-3")).await.unwrap();
            assert_ne!(answer, REMEMBERED, "sold out: {sold_out}");
        }
    }

    #[tokio::test]
    async fn customers_the_counters_refuse_for_their_limit_are_remembered_by_the_next_look_not_the_keeper_s_step()
     {
        let (gate, counters, database) = limit_of_one_under_count_seven().await;
        let alice = CustomerId::parse("alice").unwrap();
        gate.admit(&with_key("a-1")).await.unwrap();
        lock(&database.held).insert(alice.clone(), 1);
        lock(&database.keys).insert(alice, vec![IdempotencyKey::parse("a-1").unwrap()]);
        let refused = GateAnswer::LimitExceeded { may_be_retry: true };
        assert_eq!(gate.admit(&with_key("a-2")).await.unwrap(), refused);
        let woken = tokio::time::timeout(Duration::from_secs(5), gate.refused_at_limit());
        woken.await.expect("the refusal wakes the look");
        gate.remember_refused(Instant::now()).await.unwrap();
        let asked = counters.admits.load(Ordering::SeqCst);
        assert_eq!(gate.admit(&with_key("a-3")).await.unwrap(), REMEMBERED);
        assert_eq!(counters.admits.load(Ordering::SeqCst), asked);
        // Nobody new was refused: the next look has no one to look at and nothing wakes it.
        let idle = tokio::time::timeout(Duration::from_millis(1), gate.refused_at_limit());
        assert!(idle.await.is_err(), "a wake-up without a refusal");
    }

    #[tokio::test]
    async fn a_customer_below_the_limit_in_the_database_is_not_remembered() {
        let (gate, _, _) = limit_of_one_under_count_seven().await;
        // Admitted, never written: the gate counts alice at the limit, the database does not.
        gate.admit(&ticket(1)).await.unwrap();
        let refused = GateAnswer::LimitExceeded { may_be_retry: true };
        assert_eq!(gate.admit(&ticket(1)).await.unwrap(), refused);
        gate.heal_limits(Instant::now()).await.unwrap();
        assert_eq!(gate.admit(&ticket(1)).await.unwrap(), refused);
        assert_eq!(gate.stats().limits_from_memory.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn a_count_that_moves_between_looks_is_left_alone() {
        let (gate, counters, database) = gate(&[(1, 5)]);
        gate.rebuild_all().await.unwrap();
        *lock(&counters.limit) = Some(1);
        let alice = CustomerId::parse("alice").unwrap();
        gate.admit(&ticket(1)).await.unwrap();
        assert_eq!(
            gate.admit(&ticket(1)).await.unwrap(),
            GateAnswer::LimitExceeded { may_be_retry: true }
        );
        assert_eq!(gate.heal_limits(Instant::now()).await.unwrap(), 0);
        // The write was in flight at the first look and landed before the second.
        lock(&database.held).insert(alice.clone(), 1);
        assert_eq!(gate.heal_limits(Instant::now()).await.unwrap(), 0);
        assert_eq!(
            gate.heal_limits(Instant::now()).await.unwrap(),
            0,
            "nothing left to doubt"
        );
        assert_eq!(lock(&counters.held).get(&alice), Some(&1));
    }
}
