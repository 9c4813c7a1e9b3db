//! The small ports storage adapters implement, one per capability, each handed only to the use cases
//! that need it. PostgreSQL and SQLite both implement every one.

use crate::audit::AuditReport;
use crate::error::StoreError;
use crate::ids::{CustomerId, IdempotencyKey, OrderId, ProductId};
use crate::order::{Order, OrderStatus};
use crate::payment::{GatewayPayment, PaymentEvent};
use crate::product::{NewProduct, Product, ProductPatch};
use crate::purchase::{
    GatedOutcome, GatedReservation, Reservation, ReserveOutcome, StoredAnswer, WriteMode,
};
use async_trait::async_trait;
use time::OffsetDateTime;

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("a product with this sku already exists")]
    DuplicateSku,
    #[error("no such product")]
    NotFound,
    /// The change would break an invariant (e.g. a sale window that ends before it starts).
    #[error("{0}")]
    Invalid(&'static str),
    /// A per-customer limit below what a customer already holds: the audit holds every customer to
    /// the product's limit, so it can only go as low as the largest holding.
    #[error("a customer already holds {0} units")]
    LimitBelowHoldings(i64),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The admin's writes to the catalogue.
#[async_trait]
pub trait Catalog: Send + Sync {
    async fn create(&self, product: &NewProduct) -> Result<Product, CatalogError>;
    async fn update(&self, id: ProductId, patch: &ProductPatch) -> Result<Product, CatalogError>;
    async fn restock(&self, id: ProductId, quantity: i64) -> Result<Product, CatalogError>;
}

/// Reading products: the buyers' routes, the checkout, the gate's rebuilds. The database answers
/// with live stock; the service's cache with what it loaded a moment ago.
#[async_trait]
pub trait Products: Send + Sync {
    async fn get(&self, id: ProductId) -> Result<Option<Product>, StoreError>;
    async fn list(&self) -> Result<Vec<Product>, StoreError>;
}

#[async_trait]
pub trait Reservations: Send + Sync {
    /// The answer already stored for this customer's key, if any.
    async fn lookup(
        &self,
        customer: &CustomerId,
        key: &IdempotencyKey,
    ) -> Result<Option<StoredAnswer>, StoreError>;

    /// The answer stored for this customer's key if this process remembers it, without asking
    /// the database: a stored answer never changes, so a retry it answers needs nothing else.
    fn remembered(&self, customer: &CustomerId, key: &IdempotencyKey) -> Option<StoredAnswer> {
        let _ = (customer, key);
        None
    }

    /// The answer stored for a key the admission gate refused with no memory of admitting it: the
    /// question of every customer the gate holds at their limit or meets past a sell-out, with a
    /// new key each time. An implementation may answer from a copy of the customer's stored answers
    /// a few seconds old (the server's `RememberedAnswers`): a key stored since was admitted by the
    /// gate, which answers its retries as duplicates, or written while the gate could not be asked.
    async fn lookup_refused(
        &self,
        customer: &CustomerId,
        key: &IdempotencyKey,
    ) -> Result<Option<StoredAnswer>, StoreError> {
        self.lookup(customer, key).await
    }

    /// Every answer stored for each customer's keys, in one read for them all, in the customers'
    /// order; `None` for a customer with more than `at_most`, or when the storage does not list them.
    async fn answers_of(
        &self,
        customers: &[CustomerId],
        at_most: usize,
    ) -> Result<Vec<Option<Vec<(IdempotencyKey, StoredAnswer)>>>, StoreError> {
        let _ = at_most;
        Ok(vec![None; customers.len()])
    }

    /// Takes the units, the customer's quota and the idempotency key, and writes the order and its first
    /// ledger row, all in one transaction, or nothing.
    async fn reserve(
        &self,
        mode: WriteMode,
        reservation: &Reservation,
    ) -> Result<ReserveOutcome, StoreError>;

    /// Writes many gated reservations in one transaction (group commit), each exactly as the
    /// conditional write would, under its gate epoch, and so that one refusal does not undo the
    /// others. One outcome per reservation, in order; an error means nothing was written.
    async fn reserve_batch(
        &self,
        batch: &[GatedReservation],
    ) -> Result<Vec<GatedOutcome>, StoreError>;
}

/// What the admission gate of one product is rebuilt from, read in one transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GateSnapshot {
    pub product_id: ProductId,
    pub available: i64,
    pub per_customer_limit: Option<i64>,
    pub window: crate::product::SaleWindow,
    /// Units each customer holds in live and paid orders, 0 for those who bought once and hold nothing now.
    pub holdings: Vec<(CustomerId, i64)>,
}

/// The database side of the gate's fence: a product's stock row carries the epoch of the gate
/// state built from it, gated reservations are written only under that epoch, and every write
/// that takes units without the gate clears it.
#[async_trait]
pub trait GateFence: Send + Sync {
    /// Sets the product's gate epoch and reads the snapshot the gate is rebuilt from, in one
    /// transaction; `None` for an unknown product.
    async fn fence(
        &self,
        product: ProductId,
        epoch: i64,
    ) -> Result<Option<GateSnapshot>, StoreError>;

    /// The units each of `customers` holds of the product in live and paid orders, in their order.
    async fn held(
        &self,
        product: ProductId,
        customers: &[CustomerId],
    ) -> Result<Vec<i64>, StoreError>;

    /// The idempotency keys each of `customers` has a stored answer for (of any product), in their
    /// order; `None` for a customer with more than `at_most`.
    async fn stored_keys(
        &self,
        customers: &[CustomerId],
        at_most: usize,
    ) -> Result<Vec<Option<Vec<IdempotencyKey>>>, StoreError>;
}

#[async_trait]
pub trait OrderQueries: Send + Sync {
    async fn get_for(
        &self,
        customer: &CustomerId,
        id: OrderId,
    ) -> Result<Option<Order>, StoreError>;
    async fn list_for(&self, customer: &CustomerId, limit: i64) -> Result<Vec<Order>, StoreError>;
    async fn get(&self, id: OrderId) -> Result<Option<Order>, StoreError>;
}

/// One step along the state machine, applied only if the order is still in `from`.
#[derive(Debug, Clone)]
pub struct Transition {
    pub order_id: OrderId,
    pub from: OrderStatus,
    pub to: OrderStatus,
    /// Why, in a few words, for the ledger (e.g. `hold_expired`, `ipn_paid`, `querydr_paid`).
    pub reason: String,
    pub at: OffsetDateTime,
    /// The gateway's record of the money, kept on the order when it is paid or refunded.
    pub payment: Option<GatewayPayment>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransitionOutcome {
    Applied(Order),
    /// The order had already moved on: nothing was changed.
    NotInState(OrderStatus),
    /// The transition needs units that are no longer available (late money for a released hold).
    InsufficientStock,
    NotFound,
}

#[async_trait]
pub trait Transitions: Send + Sync {
    async fn apply(&self, transition: &Transition) -> Result<TransitionOutcome, StoreError>;
}

/// Which orders the reconciler asks the gateway about: those whose next poll is due at `now` and that
/// no live lease covers, up to `limit`, leased until `lease_until`.
#[derive(Debug, Clone, Copy)]
pub struct PollClaim {
    pub now: OffsetDateTime,
    /// `pending_payment` orders created at or before this (younger ones may still get their IPN), while
    /// their hold runs: once it has ended, they are the expirer's.
    pub created_before: OffsetDateTime,
    /// `expired` and `payment_failed` orders whose hold ended at or after this: the late-money
    /// window, in which a payment completed at the edge of the hold may still show up.
    /// `payment_review` and `payment_review_released` orders are always due: they wait on the
    /// gateway's word.
    pub late_since: OffsetDateTime,
    pub lease_until: OffsetDateTime,
    pub limit: i64,
}

/// Short leases on orders, so that workers on many instances never act on one order at the same time.
#[async_trait]
pub trait Leases: Send + Sync {
    /// Claims up to `limit` `pending_payment` orders whose hold ended at or before `ended_before`
    /// and that no live lease at `now` covers, leasing them until `lease_until`.
    async fn claim_expired(
        &self,
        now: OffsetDateTime,
        ended_before: OffsetDateTime,
        lease_until: OffsetDateTime,
        limit: i64,
    ) -> Result<Vec<Order>, StoreError>;

    /// Claims the orders whose next gateway poll is due (see [`PollClaim`]).
    async fn claim_for_poll(&self, claim: &PollClaim) -> Result<Vec<Order>, StoreError>;

    /// Claims up to `limit` `refund_pending` orders whose next attempt is due at `now` (set with
    /// `schedule_poll`, as the reconciler's polls) and that no live lease covers.
    async fn claim_refunds(
        &self,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
        limit: i64,
    ) -> Result<Vec<Order>, StoreError>;

    /// Sets when the order's payment is next asked about, and gives its lease back.
    async fn schedule_poll(
        &self,
        id: OrderId,
        next_poll_at: OffsetDateTime,
    ) -> Result<(), StoreError>;

    /// Moves the end of a lease, so the order is claimed again no sooner than `until`.
    async fn hold(&self, id: OrderId, until: OffsetDateTime) -> Result<(), StoreError>;

    /// Gives a lease back early, so another worker may take the order at once.
    async fn release(&self, id: OrderId) -> Result<(), StoreError>;

    /// Counts one more refusal of the order's refund since it last entered `refund_pending`; the
    /// count so far.
    async fn count_refund_refusal(&self, id: OrderId) -> Result<u32, StoreError>;
}

/// The raw record of every gateway message.
#[async_trait]
pub trait PaymentLog: Send + Sync {
    async fn record(&self, event: &PaymentEvent) -> Result<(), StoreError>;

    /// Deletes up to `limit` of the callbacks (IPN, Return) that failed verification and arrived
    /// before `received_before`, oldest first; how many went. Verified ones stay with their orders.
    async fn prune_unverified_callbacks(
        &self,
        received_before: OffsetDateTime,
        limit: i64,
    ) -> Result<u64, StoreError>;
}

#[async_trait]
pub trait Auditor: Send + Sync {
    async fn audit(&self) -> Result<AuditReport, StoreError>;
}

#[async_trait]
pub trait Health: Send + Sync {
    async fn ping(&self) -> Result<(), StoreError>;
}

/// The live sale's aggregates and the pools' occupancy, for the dashboard and the metrics.
#[async_trait]
pub trait SaleMonitor: Send + Sync {
    /// The aggregates, as of a moment no longer than `fresh_for` before `now`: one instance keeps
    /// them for all, so a tick's cost does not grow with the number of orders.
    async fn overview(
        &self,
        now: OffsetDateTime,
        fresh_for: std::time::Duration,
    ) -> Result<crate::overview::SaleOverview, StoreError>;
    fn pools(&self) -> Vec<crate::overview::PoolStats>;
}
