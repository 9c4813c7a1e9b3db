//! The gate's per-customer limits against the database: quota held by admissions never written is
//! given back ([`FencedGate::heal_limits`]), and customers the database holds at their limit are
//! remembered so that a crowd of them is refused without asking the counters
//! ([`FencedGate::remember_refused`], the memory itself in `at_limit`).

use super::{FencedGate, lock, unavailable};
use crate::checkout::gated::{GateUnavailable, Ticket};
use crate::error::StoreError;
use crate::ids::{CustomerId, IdempotencyKey, ProductId};
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::time::Instant;
/// How many refused customers the gate remembers between two looks of the keeper: enough for any
/// real crowd of doubts, bounded so that a flood of over-limit requests cannot grow it.
const MAX_DOUBTS: usize = 10_000;
/// A customer with more stored answers than this is not remembered at their limit: the memory
/// checks a new key against each of them.
const STORED_KEYS_AT_MOST: usize = 32;

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

impl FencedGate {
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

    /// The counters refused the ticket's customer for their limit: the keeper looks at them next
    /// step, and the background look at once.
    pub(super) fn doubt(&self, ticket: &Ticket) {
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
}
