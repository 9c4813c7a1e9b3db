//! The gated purchase: an admission gate answers sold-out, over-limit and duplicate buyers without a
//! database write, and only the admitted reach storage, through a group commit fenced to the gate's
//! epoch. The database stays the last word: whatever the gate says, a write still goes through the
//! conditional update, and when the gate cannot be asked the purchase takes the database path.

use crate::clock::Clock;
use crate::error::StoreError;
use crate::ids::{CustomerId, IdempotencyKey, ProductId};
use crate::money::Quantity;
use crate::ports::{Catalog, Reservations};
use crate::product::Product;
use crate::purchase::{
    GatedReservation, OrderAnswer, PlaceOrderError, PlaceOrderOutcome, PurchaseRequest,
    Reservation, ReserveOutcome, StoredAnswer, Strategy, draft, order_time, replay, settle,
};
use async_trait::async_trait;
use time::{Duration, OffsetDateTime};

/// One buyer's request as the gate sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ticket {
    pub product_id: ProductId,
    pub customer: CustomerId,
    pub key: IdempotencyKey,
    pub quantity: Quantity,
    pub at: OffsetDateTime,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GateAnswer {
    /// Units and quota are taken under this gate epoch; the write must be fenced to it.
    Admitted {
        epoch: i64,
    },
    SoldOut,
    LimitExceeded,
    SaleNotActive,
    /// The same customer and key were admitted before: that request's answer stands.
    Duplicate,
    /// The gate holds nothing for the product: it must be rebuilt from the database.
    NotLoaded,
}

/// The gate cannot be asked right now (unreachable, or a rebuild failed): take the database path.
#[derive(Debug, thiserror::Error)]
#[error("the admission gate is unavailable: {0}")]
pub struct GateUnavailable(pub String);

/// The admission gate, as the purchase sees it.
#[async_trait]
pub trait AdmissionGate: Send + Sync {
    async fn admit(&self, ticket: &Ticket) -> Result<GateAnswer, GateUnavailable>;

    /// Gives back what an admission took when its reservation was not written; `refused` is the
    /// database's answer, `None` when the write failed. Best effort: a failure leaves the gate more
    /// pessimistic than the database, which the next rebuild heals.
    async fn release(&self, ticket: &Ticket, epoch: i64, refused: Option<&ReserveOutcome>);

    /// Rebuilds the product's gate from the database, unless it has moved on from `seen` (the epoch
    /// the caller found stale, `None` for "not loaded") since: someone else rebuilt it already.
    async fn rebuild(&self, product: ProductId, seen: Option<i64>) -> Result<(), GateUnavailable>;
}

/// Where admitted reservations are written together.
#[async_trait]
pub trait GroupCommit: Send + Sync {
    async fn commit(&self, reservation: GatedReservation) -> Result<ReserveOutcome, StoreError>;

    /// The stored answer of a request with this key that another caller was admitted for and may
    /// still be writing; waits a bounded time for it. `None`: it did not appear in time.
    async fn await_answer(
        &self,
        customer: &CustomerId,
        key: &IdempotencyKey,
    ) -> Result<Option<StoredAnswer>, StoreError>;
}

/// How many times one request goes back to the gate after its admission turned out stale.
const ATTEMPTS: usize = 3;

pub struct GatedPurchase<'a> {
    /// Product reads; the service hands in its cache, since only the name and price are used.
    pub catalog: &'a dyn Catalog,
    pub reservations: &'a dyn Reservations,
    pub gate: &'a dyn AdmissionGate,
    pub commits: &'a dyn GroupCommit,
    pub answer: &'a dyn OrderAnswer,
    pub clock: &'a dyn Clock,
    pub hold: Duration,
}

impl GatedPurchase<'_> {
    pub async fn run(
        &self,
        customer: &CustomerId,
        key: &IdempotencyKey,
        request: PurchaseRequest,
    ) -> Result<PlaceOrderOutcome, PlaceOrderError> {
        let fingerprint = request.fingerprint();
        // A retry is answered first: a local sold-out flag would otherwise shadow its replay.
        if let Some(stored) = self.reservations.lookup(customer, key).await? {
            return replay(stored, &fingerprint);
        }
        let product = self
            .catalog
            .get(request.product_id)
            .await?
            .ok_or(PlaceOrderError::UnknownProduct)?;
        let now = order_time(self.clock);
        let reservation = draft(
            self.answer,
            now,
            self.hold,
            customer,
            key,
            &product,
            request,
        )?;
        let ticket = Ticket {
            product_id: product.id,
            customer: customer.clone(),
            key: key.clone(),
            quantity: request.quantity,
            at: now,
        };
        for _ in 0..ATTEMPTS {
            let answer = match self.gate.admit(&ticket).await {
                Ok(answer) => answer,
                Err(_) => return self.direct(&product, reservation, &fingerprint).await,
            };
            let epoch = match answer {
                GateAnswer::Admitted { epoch } => epoch,
                GateAnswer::SoldOut => return Err(PlaceOrderError::SoldOut),
                GateAnswer::LimitExceeded => return Err(PlaceOrderError::LimitExceeded),
                GateAnswer::SaleNotActive => return Err(PlaceOrderError::SaleNotActive),
                GateAnswer::Duplicate => {
                    return match self.commits.await_answer(customer, key).await? {
                        Some(stored) => replay(stored, &fingerprint),
                        // The first request never wrote (its process died, or it is stuck):
                        // the database's key claim settles who wins.
                        None => self.direct(&product, reservation, &fingerprint).await,
                    };
                }
                GateAnswer::NotLoaded => {
                    if self.gate.rebuild(product.id, None).await.is_err() {
                        return self.direct(&product, reservation, &fingerprint).await;
                    }
                    continue;
                }
            };
            let gated = GatedReservation {
                reservation: reservation.clone(),
                gate_epoch: epoch,
            };
            let outcome = match self.commits.commit(gated).await {
                Ok(outcome) => outcome,
                Err(e) => {
                    self.gate.release(&ticket, epoch, None).await;
                    return Err(e.into());
                }
            };
            match outcome {
                ReserveOutcome::Created => return settle(outcome, reservation, &fingerprint),
                ReserveOutcome::StaleGate => {
                    self.gate.release(&ticket, epoch, Some(&outcome)).await;
                    if self.gate.rebuild(product.id, Some(epoch)).await.is_err() {
                        return self.direct(&product, reservation, &fingerprint).await;
                    }
                }
                refused => {
                    self.gate.release(&ticket, epoch, Some(&refused)).await;
                    return settle(refused, reservation, &fingerprint);
                }
            }
        }
        // The gate kept being rebuilt under this request: let the database decide.
        self.direct(&product, reservation, &fingerprint).await
    }

    /// The database path, with the gate left out: what the conditional strategy does. Storage
    /// clears the product's gate fence with the write, so the gate is rebuilt before it is trusted
    /// again.
    async fn direct(
        &self,
        product: &Product,
        reservation: Reservation,
        fingerprint: &str,
    ) -> Result<PlaceOrderOutcome, PlaceOrderError> {
        if !product.window.is_open(reservation.order.created_at) {
            return Err(PlaceOrderError::SaleNotActive);
        }
        let outcome = self
            .reservations
            .reserve(Strategy::Conditional, &reservation)
            .await?;
        settle(outcome, reservation, fingerprint)
    }
}
