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
//! Idempotency keys are scoped to `(product, customer, key)`. A `SoldOut` answer served from a
//! local sold-out flag can shadow `Duplicate`: callers replay stored idempotent answers first.

mod memory;
mod redis;
mod sold_out;

use std::time::Duration;

use async_trait::async_trait;

use crate::error::FastPathError;

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

#[async_trait]
pub trait Gate: Send + Sync {
    async fn admit(&self, req: &AdmitRequest) -> Result<Admission, FastPathError>;
    /// Undo an admission whose database commit failed: give units, quota and key back.
    async fn release(&self, req: &AdmitRequest) -> Result<(), FastPathError>;
    /// Units returned by expiry, cancellation or payment failure (quota too).
    async fn give_back(
        &self,
        product_id: i64,
        customer: &str,
        quantity: i64,
    ) -> Result<(), FastPathError>;
    /// (Re)build a product's gate state from a database snapshot: available units and
    /// per-customer holdings. Remembered idempotency keys survive a rebuild.
    async fn load(
        &self,
        product: &GateProduct,
        holdings: &[(String, i64)],
    ) -> Result<(), FastPathError>;
    /// Units the gate would still admit; `None` when the product is not loaded.
    async fn available(&self, product_id: i64) -> Result<Option<i64>, FastPathError>;
}

pub(crate) fn check_quantity(quantity: i64) -> Result<(), FastPathError> {
    if quantity <= 0 {
        return Err(FastPathError::Invalid(format!(
            "quantity must be positive, got {quantity}"
        )));
    }
    Ok(())
}

pub(crate) fn check_snapshot(
    product: &GateProduct,
    holdings: &[(String, i64)],
) -> Result<(), FastPathError> {
    if product.available < 0 || holdings.iter().any(|(_, held)| *held < 0) {
        return Err(FastPathError::Invalid(
            "gate snapshot has negative units".to_owned(),
        ));
    }
    Ok(())
}
