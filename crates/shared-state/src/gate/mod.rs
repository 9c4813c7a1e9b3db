//! The admission gate: per product, one atomic step checks the sale window, takes units and the
//! customer's quota, and remembers the idempotency key, so sold-out and over-limit buyers are
//! answered without touching the database.
//!
//! # The gate is a filter, the database decides
//! The gate may only ever be *more* pessimistic than the database. An `Admitted` answer is a
//! permission to try the database's conditional update (`available >= n`), never a sale by itself.
//! The caller must:
//! - on a failed or rejected database write, call [`Gate::release`] with the same request (it is
//!   idempotent: only the first release of an admission gives anything back);
//! - after an order leaves its hold (expired, payment failed, cancelled) and the database has
//!   committed that, call [`Gate::give_back`] exactly once for it;
//! - on [`Admission::NotLoaded`], at start-up, and after admin writes (restock, limit or window
//!   change), call [`Gate::load`] with a snapshot read in ONE database transaction: `available`
//!   from the stock row and, per customer, the units held in live (`pending_payment`) and paid
//!   orders. Admissions in flight while the snapshot is taken can leave the gate briefly off by
//!   their units; the database's conditional update absorbs that, and `release` of an admission
//!   made before a rebuild gives nothing back, since the snapshot already holds the truth.
//!
//! # Fencing
//! Every load starts a new *epoch* for the product, and every admission names the epoch it was
//! given under ([`Gate::admit_fenced`]). A caller that also records the epoch in the database when
//! it loads ([`Gate::load_fenced`], with an epoch it chose) and writes admitted orders only while
//! the database still holds that epoch gets a gate that never admits more than the database has:
//! writes admitted before a rebuild are refused by the database instead of landing after the
//! snapshot. [`Gate::release_fenced`] and [`Gate::give_back_fenced`] act only while the named
//! epoch is current, so nothing given back can be counted twice across a rebuild.
//!
//! Idempotency keys are scoped to `(product, customer, key)`. A `SoldOut` answer served from a
//! local sold-out flag is only given to customers never admitted for the product (the flag keeps a
//! snapshot of its buyers), so it never shadows a retry of a sale; see [`Fenced::holder`].

mod changes;
mod memory;
mod redis;
mod sold_out;

use std::time::Duration;

use async_trait::async_trait;

use crate::error::SharedStateError;

pub use memory::InProcessGate;
pub use redis::RedisGate;

/// A product's gate state as the database sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GateProduct {
    pub product_id: i64,
    pub available: i64,
    pub per_customer_limit: Option<i64>,
    pub sale_starts_at_ms: Option<i64>,
    /// Exclusive: the sale is over at this instant.
    pub sale_ends_at_ms: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdmitRequest {
    pub product_id: i64,
    pub customer: String,
    pub idempotency_key: String,
    pub quantity: i64,
    pub now_ms: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Units and quota taken; `remaining` units are left for others.
    Admitted {
        remaining: i64,
    },
    /// Fewer than the requested units are left.
    SoldOut,
    /// The customer would hold more than the product's per-customer limit.
    LimitExceeded,
    SaleNotActive,
    /// This `(customer, idempotency key)` was already admitted for this product.
    Duplicate,
    /// The gate holds no state for this product: rebuild it with [`Gate::load`].
    NotLoaded,
}

/// The units a gate counts for one customer, under the epoch of its last rebuild.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CustomerCount {
    pub held: i64,
    pub epoch: u64,
}

#[derive(Debug, Clone)]
pub struct GateConfig {
    /// How long an admitted idempotency key is remembered.
    pub idempotency_ttl: Duration,
    /// How long a local sold-out flag is trusted without asking Redis. It is cleared early by a
    /// `reopen` message; the TTL heals a lost message or a flag set from a reply older than a reopen.
    pub sold_out_ttl: Duration,
}

impl Default for GateConfig {
    fn default() -> Self {
        Self {
            idempotency_ttl: Duration::from_secs(24 * 60 * 60),
            sold_out_ttl: Duration::from_secs(2),
        }
    }
}

/// An admission and the epoch it was given under (0 when the product is not loaded).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fenced {
    pub admission: Admission,
    pub epoch: u64,
    /// The customer holds units of the product by the gate's count. On a refusal this says whether
    /// the request may be a retry of an earlier sale whose stored answer should be replayed; a
    /// refusal to a customer who holds nothing is final, and needs no lookup anywhere.
    pub holder: bool,
}

#[async_trait]
pub trait Gate: Send + Sync {
    /// Admits (or not) and names the epoch of the answer; see "Fencing" above.
    async fn admit_fenced(&self, req: &AdmitRequest) -> Result<Fenced, SharedStateError>;

    async fn admit(&self, req: &AdmitRequest) -> Result<Admission, SharedStateError> {
        Ok(self.admit_fenced(req).await?.admission)
    }

    /// Undo an admission whose database commit failed: give units, quota and key back. With an
    /// epoch, only an admission made under that epoch is undone (a retry of the same key admitted
    /// under a later epoch is left alone).
    async fn release_fenced(
        &self,
        req: &AdmitRequest,
        epoch: Option<u64>,
    ) -> Result<(), SharedStateError>;

    async fn release(&self, req: &AdmitRequest) -> Result<(), SharedStateError> {
        self.release_fenced(req, None).await
    }

    /// Units returned by expiry, cancellation or payment failure (quota too). With an epoch,
    /// nothing happens unless it is still the product's epoch.
    async fn give_back_fenced(
        &self,
        product_id: i64,
        customer: &str,
        quantity: i64,
        epoch: Option<u64>,
    ) -> Result<(), SharedStateError>;

    async fn give_back(
        &self,
        product_id: i64,
        customer: &str,
        quantity: i64,
    ) -> Result<(), SharedStateError> {
        self.give_back_fenced(product_id, customer, quantity, None)
            .await
    }

    /// (Re)build a product's gate state from a database snapshot (available units and
    /// per-customer holdings) under the given epoch. Remembered idempotency keys survive.
    async fn load_fenced(
        &self,
        product: &GateProduct,
        holdings: &[(String, i64)],
        epoch: u64,
    ) -> Result<(), SharedStateError>;

    /// [`Gate::load_fenced`] under a fresh random epoch.
    async fn load(
        &self,
        product: &GateProduct,
        holdings: &[(String, i64)],
    ) -> Result<(), SharedStateError> {
        self.load_fenced(product, holdings, fresh_epoch()).await
    }

    /// The units the gate counts for each of `customers`, in their order, each with the epoch of
    /// its count; `None` when the product is not loaded. One read for many customers: the keeper
    /// looks at every customer refused for a limit, a whole crowd of them during a sale.
    async fn held(
        &self,
        product_id: i64,
        customers: &[&str],
    ) -> Result<Option<Vec<CustomerCount>>, SharedStateError>;

    /// Sets a customer's count to `corrected` only if it still is `seen` (same count, same epoch):
    /// quota taken by admissions that were never written goes back. `true` when it was set.
    async fn correct_held(
        &self,
        product_id: i64,
        customer: &str,
        seen: CustomerCount,
        corrected: i64,
    ) -> Result<bool, SharedStateError>;

    /// Units the gate would still admit; `None` when the product is not loaded.
    async fn available(&self, product_id: i64) -> Result<Option<i64>, SharedStateError>;

    /// The product's current epoch; `None` when it is not loaded.
    async fn epoch(&self, product_id: i64) -> Result<Option<u64>, SharedStateError>;

    /// A count that moves whenever units or quota may have come back to the product, or it sold
    /// out, on any instance this one hears from; `None` when it cannot vouch for one. Whoever keeps
    /// an answer in memory (a customer at their limit) keeps it only while the count stands.
    fn changes(&self, product_id: i64) -> Option<u64>;
}

/// A random epoch in `1..=i64::MAX`, so it also fits a signed 64-bit database column. Random, not
/// a counter: a counter restarts after the state is lost and would let a stale admission pass as
/// current.
pub fn fresh_epoch() -> u64 {
    rand::random_range(1..=i64::MAX.unsigned_abs())
}

pub(crate) fn check_quantity(quantity: i64) -> Result<(), SharedStateError> {
    if quantity <= 0 {
        return Err(SharedStateError::Invalid(format!(
            "quantity must be positive, got {quantity}"
        )));
    }
    Ok(())
}

pub(crate) fn check_snapshot(
    product: &GateProduct,
    holdings: &[(String, i64)],
) -> Result<(), SharedStateError> {
    if product.available < 0 || holdings.iter().any(|(_, held)| *held < 0) {
        return Err(SharedStateError::Invalid(
            "gate snapshot has negative units".to_owned(),
        ));
    }
    Ok(())
}
