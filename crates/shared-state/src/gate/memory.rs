//! The gate in process: one mutex per product makes each operation a single atomic step, the same
//! contract as the Redis scripts. For one instance (the embedded default) or as the fallback twin.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, RwLock};

use async_trait::async_trait;

use super::{
    Admission, AdmitRequest, CustomerCount, Fenced, Gate, GateConfig, GateProduct, check_quantity,
    check_snapshot,
};
use crate::error::SharedStateError;

/// Expired idempotency keys are swept every this many admissions of a product.
const SWEEP_EVERY: u64 = 1024;

#[derive(Debug, Default)]
pub struct InProcessGate {
    config: GateConfig,
    products: RwLock<HashMap<i64, Arc<Mutex<ProductState>>>>,
}

#[derive(Debug, Default)]
struct ProductState {
    loaded: Option<Stock>,
    /// (customer, key) -> admission; kept across rebuilds, like the Redis keys.
    idempotency: HashMap<(String, String), Remembered>,
    /// Every customer ever admitted, or found with a holding (even of none now) at a load: whose
    /// retry after a sell-out may be a sale to replay. Kept across rebuilds, like the Redis set.
    buyers: HashSet<String>,
    admissions: u64,
}

#[derive(Debug)]
struct Stock {
    available: i64,
    limit: Option<i64>,
    starts_ms: Option<i64>,
    ends_ms: Option<i64>,
    held: HashMap<String, i64>,
    epoch: u64,
}

#[derive(Debug, Clone, Copy)]
struct Remembered {
    epoch: u64,
    quantity: i64,
    expires_at_ms: i64,
}

impl InProcessGate {
    pub fn new(config: GateConfig) -> Self {
        Self {
            config,
            products: RwLock::default(),
        }
    }

    /// Lookups never create state, so requests for unknown ids cannot grow the map.
    fn existing(
        &self,
        product_id: i64,
    ) -> Result<Option<Arc<Mutex<ProductState>>>, SharedStateError> {
        let map = self.products.read().map_err(poisoned)?;
        Ok(map.get(&product_id).map(Arc::clone))
    }

    fn entry(&self, product_id: i64) -> Result<Arc<Mutex<ProductState>>, SharedStateError> {
        let mut map = self.products.write().map_err(poisoned)?;
        Ok(Arc::clone(map.entry(product_id).or_default()))
    }

    fn ttl_ms(&self) -> i64 {
        i64::try_from(self.config.idempotency_ttl.as_millis()).unwrap_or(i64::MAX)
    }
}

fn poisoned<T>(_: T) -> SharedStateError {
    SharedStateError::Backend("in-process gate lock poisoned".to_owned())
}

impl Stock {
    fn return_units(&mut self, customer: &str, quantity: i64) {
        self.available += quantity;
        if let Some(held) = self.held.get_mut(customer) {
            *held -= quantity;
            if *held <= 0 {
                self.held.remove(customer);
            }
        }
    }
}

#[async_trait]
impl Gate for InProcessGate {
    async fn admit_fenced(&self, req: &AdmitRequest) -> Result<Fenced, SharedStateError> {
        check_quantity(req.quantity)?;
        let not_loaded = Fenced {
            admission: Admission::NotLoaded,
            epoch: 0,
            holder: false,
        };
        let Some(product) = self.existing(req.product_id)? else {
            return Ok(not_loaded);
        };
        let mut guard = product.lock().map_err(poisoned)?;
        let state = &mut *guard;
        let Some(stock) = state.loaded.as_mut() else {
            return Ok(not_loaded);
        };
        let epoch = stock.epoch;
        let holder = state.buyers.contains(&req.customer);
        let answer = |admission| {
            Ok(Fenced {
                admission,
                epoch,
                holder,
            })
        };
        let idem = (req.customer.clone(), req.idempotency_key.clone());
        if state
            .idempotency
            .get(&idem)
            .is_some_and(|r| r.expires_at_ms > req.now_ms)
        {
            return answer(Admission::Duplicate);
        }
        let before_start = stock.starts_ms.is_some_and(|s| req.now_ms < s);
        let after_end = stock.ends_ms.is_some_and(|e| req.now_ms >= e);
        if before_start || after_end {
            return answer(Admission::SaleNotActive);
        }
        if stock.available < req.quantity {
            return answer(Admission::SoldOut);
        }
        let held = stock.held.get(&req.customer).copied().unwrap_or(0);
        if stock.limit.is_some_and(|limit| held + req.quantity > limit) {
            return answer(Admission::LimitExceeded);
        }
        stock.available -= req.quantity;
        *stock.held.entry(req.customer.clone()).or_insert(0) += req.quantity;
        state.buyers.insert(req.customer.clone());
        let remembered = Remembered {
            epoch: stock.epoch,
            quantity: req.quantity,
            expires_at_ms: req.now_ms.saturating_add(self.ttl_ms()),
        };
        let remaining = stock.available;
        state.idempotency.insert(idem, remembered);
        state.admissions += 1;
        if state.admissions % SWEEP_EVERY == 0 {
            state
                .idempotency
                .retain(|_, r| r.expires_at_ms > req.now_ms);
        }
        answer(Admission::Admitted { remaining })
    }

    async fn release_fenced(
        &self,
        req: &AdmitRequest,
        epoch: Option<u64>,
    ) -> Result<(), SharedStateError> {
        check_quantity(req.quantity)?;
        let Some(product) = self.existing(req.product_id)? else {
            return Ok(());
        };
        let mut guard = product.lock().map_err(poisoned)?;
        let state = &mut *guard;
        let idem = (req.customer.clone(), req.idempotency_key.clone());
        // A key admitted under another epoch belongs to a later admission: not ours to undo.
        if epoch.is_some_and(|e| state.idempotency.get(&idem).is_some_and(|r| r.epoch != e)) {
            return Ok(());
        }
        let Some(remembered) = state.idempotency.remove(&idem) else {
            return Ok(());
        };
        if remembered.expires_at_ms <= req.now_ms {
            return Ok(());
        }
        // Admitted before the last rebuild: the snapshot already counts these units.
        if let Some(stock) = state
            .loaded
            .as_mut()
            .filter(|s| s.epoch == remembered.epoch)
        {
            stock.return_units(&req.customer, remembered.quantity);
        }
        Ok(())
    }

    async fn give_back_fenced(
        &self,
        product_id: i64,
        customer: &str,
        quantity: i64,
        epoch: Option<u64>,
    ) -> Result<(), SharedStateError> {
        check_quantity(quantity)?;
        let Some(product) = self.existing(product_id)? else {
            return Ok(());
        };
        let mut state = product.lock().map_err(poisoned)?;
        if let Some(stock) = state
            .loaded
            .as_mut()
            .filter(|s| epoch.is_none_or(|e| s.epoch == e))
        {
            stock.return_units(customer, quantity);
        }
        Ok(())
    }

    async fn load_fenced(
        &self,
        product: &GateProduct,
        holdings: &[(String, i64)],
        epoch: u64,
    ) -> Result<(), SharedStateError> {
        check_snapshot(product, holdings)?;
        let mut held: HashMap<String, i64> = HashMap::new();
        for (customer, units) in holdings.iter().filter(|(_, units)| *units > 0) {
            *held.entry(customer.clone()).or_insert(0) += units;
        }
        let entry = self.entry(product.product_id)?;
        let mut state = entry.lock().map_err(poisoned)?;
        state
            .buyers
            .extend(holdings.iter().map(|(customer, _)| customer.clone()));
        state.loaded = Some(Stock {
            available: product.available,
            limit: product.per_customer_limit,
            starts_ms: product.sale_starts_at_ms,
            ends_ms: product.sale_ends_at_ms,
            held,
            epoch,
        });
        Ok(())
    }

    async fn held(
        &self,
        product_id: i64,
        customers: &[&str],
    ) -> Result<Option<Vec<CustomerCount>>, SharedStateError> {
        let Some(product) = self.existing(product_id)? else {
            return Ok(None);
        };
        let state = product.lock().map_err(poisoned)?;
        Ok(state.loaded.as_ref().map(|stock| {
            let count = |customer: &&str| CustomerCount {
                held: stock.held.get(*customer).copied().unwrap_or(0),
                epoch: stock.epoch,
            };
            customers.iter().map(count).collect()
        }))
    }

    async fn correct_held(
        &self,
        product_id: i64,
        customer: &str,
        seen: CustomerCount,
        corrected: i64,
    ) -> Result<bool, SharedStateError> {
        let Some(product) = self.existing(product_id)? else {
            return Ok(false);
        };
        let mut state = product.lock().map_err(poisoned)?;
        let Some(stock) = state.loaded.as_mut().filter(|s| s.epoch == seen.epoch) else {
            return Ok(false);
        };
        if stock.held.get(customer).copied().unwrap_or(0) != seen.held {
            return Ok(false);
        }
        if corrected > 0 {
            stock.held.insert(customer.to_owned(), corrected);
        } else {
            stock.held.remove(customer);
        }
        Ok(true)
    }

    async fn available(&self, product_id: i64) -> Result<Option<i64>, SharedStateError> {
        let Some(product) = self.existing(product_id)? else {
            return Ok(None);
        };
        let state = product.lock().map_err(poisoned)?;
        Ok(state.loaded.as_ref().map(|s| s.available))
    }

    async fn epoch(&self, product_id: i64) -> Result<Option<u64>, SharedStateError> {
        let Some(product) = self.existing(product_id)? else {
            return Ok(None);
        };
        let state = product.lock().map_err(poisoned)?;
        Ok(state.loaded.as_ref().map(|s| s.epoch))
    }

    /// Never vouched for: an admission here costs no round trip, so there is nothing for a memory
    /// of answers to save.
    fn changes(&self, _product_id: i64) -> Option<u64> {
        None
    }
}

impl InProcessGate {
    /// Forget a product's state, as a lost Redis would; the next admit answers `NotLoaded`.
    pub fn forget(&self, product_id: i64) -> Result<(), SharedStateError> {
        self.products.write().map_err(poisoned)?.remove(&product_id);
        Ok(())
    }
}
