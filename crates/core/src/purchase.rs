//! Placing an order: the purchase strategies, what a reservation carries to storage, and the use case
//! that turns a buyer's request into exactly one order per idempotency key.

use crate::clock::Clock;
use crate::error::StoreError;
use crate::ids::{CustomerId, IdempotencyKey, OrderId, ProductId};
use crate::money::Quantity;
use crate::order::{Order, OrderStatus};
use crate::ports::{Catalog, Reservations};
use crate::product::Product;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::Duration;

/// How the units of a purchase are taken (setting `inventory.strategy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// The classic answer: lock the stock row (`SELECT … FOR UPDATE`; SQLite `BEGIN IMMEDIATE`), check,
    /// decrement, insert, commit.
    Pessimistic,
    /// One atomic `UPDATE … WHERE available >= n` that also inserts the order; the lock is held for a
    /// single statement.
    Conditional,
    /// An admission gate takes units, quota and key first, so losers cost no database write; the
    /// winners are written in small batches through the conditional update (see [`crate::gated`]).
    /// Storage asked to `reserve` with it, without an admission, writes conditionally.
    Gated,
}

impl Strategy {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pessimistic => "pessimistic",
            Self::Conditional => "conditional",
            Self::Gated => "gated",
        }
    }
}

/// A first answer kept for an idempotency key, replayed byte for byte to every retry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredAnswer {
    pub request_hash: String,
    pub status: u16,
    pub body: Vec<u8>,
}

/// Everything storage needs to write an order in one transaction; the answer is rendered beforehand so
/// that it is stored with the order and replays are identical to the first response.
#[derive(Debug, Clone)]
pub struct Reservation {
    pub order: Order,
    pub idempotency_key: IdempotencyKey,
    pub request_hash: String,
    pub answer_status: u16,
    pub answer_body: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReserveOutcome {
    Created,
    /// Another request with the same key got there first; its answer stands.
    Duplicate(StoredAnswer),
    SoldOut,
    LimitExceeded,
    UnknownProduct,
    /// A gated reservation whose gate epoch is no longer the database's (the gate was rebuilt, or
    /// a write bypassed it, since the admission): nothing was written.
    StaleGate,
}

/// A reservation the admission gate let through, fenced to the gate epoch it was admitted under:
/// storage writes it only while the product's stock row still carries that epoch.
#[derive(Debug, Clone)]
pub struct GatedReservation {
    pub reservation: Reservation,
    pub gate_epoch: i64,
}

/// What a buyer asked for, already parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PurchaseRequest {
    pub product_id: ProductId,
    pub quantity: Quantity,
}

impl PurchaseRequest {
    /// A fingerprint of the request's meaning (not its bytes), so a retry with reordered JSON keys is
    /// still the same request.
    pub fn fingerprint(&self) -> String {
        let canonical = format!("v1:{}:{}", self.product_id.0, self.quantity.get());
        hex::encode(Sha256::digest(canonical.as_bytes()))
    }
}

#[derive(Debug)]
pub enum PlaceOrderOutcome {
    /// The first answer for this key: a new order.
    Created { status: u16, body: Vec<u8> },
    /// A retry: the first answer, byte for byte.
    Replayed { status: u16, body: Vec<u8> },
}

#[derive(Debug, thiserror::Error)]
pub enum PlaceOrderError {
    #[error("the product is sold out")]
    SoldOut,
    #[error("the sale is not active")]
    SaleNotActive,
    #[error("the customer's limit for this product is reached")]
    LimitExceeded,
    #[error("no such product")]
    UnknownProduct,
    #[error("this idempotency key was used with a different request")]
    IdempotencyConflict,
    #[error("the amount is too large")]
    AmountTooLarge,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Renders the answer for a new order (the HTTP body) and its payment link.
pub trait OrderAnswer: Send + Sync {
    fn payment_url(&self, order: &Order) -> Option<String>;
    fn render(&self, order: &Order) -> Vec<u8>;
}

pub struct PlaceOrder<'a> {
    pub catalog: &'a dyn Catalog,
    pub reservations: &'a dyn Reservations,
    pub answer: &'a dyn OrderAnswer,
    pub clock: &'a dyn Clock,
    pub strategy: Strategy,
    pub hold: Duration,
}

impl PlaceOrder<'_> {
    pub async fn run(
        &self,
        customer: &CustomerId,
        key: &IdempotencyKey,
        request: PurchaseRequest,
    ) -> Result<PlaceOrderOutcome, PlaceOrderError> {
        let fingerprint = request.fingerprint();
        // A retry is answered before anything else: the sale may have ended since the first attempt.
        if let Some(stored) = self.reservations.lookup(customer, key).await? {
            return replay(stored, &fingerprint);
        }
        match self.attempt(customer, key, request, &fingerprint).await {
            Err(
                rejection @ (PlaceOrderError::SoldOut
                | PlaceOrderError::LimitExceeded
                | PlaceOrderError::SaleNotActive),
            ) => {
                // A retry racing its own original sees the stock or quota the original just took:
                // the original's answer, if it has one by now, is the answer.
                replay_or(self.reservations, customer, key, &fingerprint, rejection).await
            }
            other => other,
        }
    }

    async fn attempt(
        &self,
        customer: &CustomerId,
        key: &IdempotencyKey,
        request: PurchaseRequest,
        fingerprint: &str,
    ) -> Result<PlaceOrderOutcome, PlaceOrderError> {
        let product = self
            .catalog
            .get(request.product_id)
            .await?
            .ok_or(PlaceOrderError::UnknownProduct)?;
        let now = order_time(self.clock);
        if !product.window.is_open(now) {
            return Err(PlaceOrderError::SaleNotActive);
        }
        if product.stock.available < request.quantity.get() {
            // A cheap early answer; the reservation below is what actually decides.
            return Err(PlaceOrderError::SoldOut);
        }
        let reservation = draft(
            self.answer,
            now,
            self.hold,
            customer,
            key,
            &product,
            request,
        )?;
        let outcome = self
            .reservations
            .reserve(self.strategy, &reservation)
            .await?;
        outcome_of(outcome, reservation, fingerprint)
    }
}

/// Now, at millisecond precision: what every backend stores exactly, so a replay and a later read
/// agree.
pub(crate) fn order_time(clock: &dyn Clock) -> time::OffsetDateTime {
    let now = clock.now();
    now.replace_millisecond(now.millisecond()).unwrap_or(now)
}

/// The new order and its rendered answer, ready for storage.
pub(crate) fn draft(
    answer: &dyn OrderAnswer,
    now: time::OffsetDateTime,
    hold: Duration,
    customer: &CustomerId,
    key: &IdempotencyKey,
    product: &Product,
    request: PurchaseRequest,
) -> Result<Reservation, PlaceOrderError> {
    let amount = product
        .price
        .times(request.quantity)
        .ok_or(PlaceOrderError::AmountTooLarge)?;
    let mut order = Order {
        id: OrderId::new(),
        customer: customer.clone(),
        product_id: product.id,
        quantity: request.quantity,
        amount,
        status: OrderStatus::PendingPayment,
        created_at: now,
        expires_at: now + hold,
        paid_at: None,
        payment_url: None,
        gateway_transaction_no: None,
    };
    order.payment_url = answer.payment_url(&order);
    Ok(Reservation {
        answer_status: 201,
        answer_body: answer.render(&order),
        order,
        idempotency_key: key.clone(),
        request_hash: request.fingerprint(),
    })
}

/// Storage's answer as the use case's.
pub(crate) fn outcome_of(
    outcome: ReserveOutcome,
    reservation: Reservation,
    fingerprint: &str,
) -> Result<PlaceOrderOutcome, PlaceOrderError> {
    match outcome {
        ReserveOutcome::Created => Ok(PlaceOrderOutcome::Created {
            status: reservation.answer_status,
            body: reservation.answer_body,
        }),
        ReserveOutcome::Duplicate(stored) => replay(stored, fingerprint),
        ReserveOutcome::SoldOut => Err(PlaceOrderError::SoldOut),
        ReserveOutcome::LimitExceeded => Err(PlaceOrderError::LimitExceeded),
        ReserveOutcome::UnknownProduct => Err(PlaceOrderError::UnknownProduct),
        ReserveOutcome::StaleGate => Err(PlaceOrderError::Store(StoreError::Internal(
            "a reservation without an admission was refused as stale".into(),
        ))),
    }
}

/// The stored answer of this key, if the request is the retry of one that has it; else `refusal`.
pub(crate) async fn replay_or(
    reservations: &dyn Reservations,
    customer: &CustomerId,
    key: &IdempotencyKey,
    fingerprint: &str,
    refusal: PlaceOrderError,
) -> Result<PlaceOrderOutcome, PlaceOrderError> {
    match reservations.lookup(customer, key).await? {
        Some(stored) => replay(stored, fingerprint),
        None => Err(refusal),
    }
}

pub(crate) fn replay(
    stored: StoredAnswer,
    fingerprint: &str,
) -> Result<PlaceOrderOutcome, PlaceOrderError> {
    if stored.request_hash != fingerprint {
        return Err(PlaceOrderError::IdempotencyConflict);
    }
    Ok(PlaceOrderOutcome::Replayed {
        status: stored.status,
        body: stored.body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(product: i64, quantity: i64) -> PurchaseRequest {
        PurchaseRequest {
            product_id: ProductId(product),
            quantity: Quantity::parse(quantity).unwrap(),
        }
    }

    #[test]
    fn the_same_request_has_the_same_fingerprint() {
        assert_eq!(request(1, 2).fingerprint(), request(1, 2).fingerprint());
    }

    #[test]
    fn a_different_product_or_quantity_changes_the_fingerprint() {
        assert_ne!(request(1, 2).fingerprint(), request(1, 3).fingerprint());
        assert_ne!(request(1, 2).fingerprint(), request(12, 2).fingerprint());
    }

    #[test]
    fn a_replay_with_another_fingerprint_is_a_conflict() {
        let stored = StoredAnswer {
            request_hash: "a".into(),
            status: 201,
            body: b"{}".to_vec(),
        };
        assert!(matches!(
            replay(stored, "b"),
            Err(PlaceOrderError::IdempotencyConflict)
        ));
    }
}
