//! Checkout: the one use case behind `POST /orders`, which turns a buyer's request into exactly one
//! order per idempotency key. The purchase strategy (a setting) is decided once, when the
//! application is assembled, by choosing which [`Checkout`] to build: [`DirectCheckout`] writes
//! through storage with the strategy's [`WriteMode`]; [`GatedCheckout`] asks an admission gate first
//! and writes the admitted in group commits ([`GroupCommitter`]), falling back to a direct
//! conditional write when the gate cannot be asked. [`FencedGate`] is the gate's policy: shared
//! counters fenced to the database, rebuilt when in doubt.

mod at_limit;
mod direct;
mod fenced_gate;
mod gated;
mod group_commit;

pub use direct::DirectCheckout;
pub use fenced_gate::{Counted, CountersError, FencedGate, GateCounters, GateStats};
pub use gated::{AdmissionGate, GateAnswer, GateUnavailable, GatedCheckout, GroupCommit, Ticket};
pub use group_commit::{CommitSettings, GroupCommitter};

use crate::clock::Clock;
use crate::error::StoreError;
use crate::ids::{CustomerId, IdempotencyKey, OrderId};
use crate::money::Vnd;
use crate::order::{Order, OrderStatus};
use crate::product::Product;
use crate::purchase::{PurchaseRequest, Reservation, ReserveOutcome, StoredAnswer};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

/// How the units of a purchase are taken (setting `inventory.strategy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// The classic answer: lock the stock row, check, decrement, insert, commit
    /// ([`WriteMode::Locking`]).
    Pessimistic,
    /// One atomic `UPDATE … WHERE available >= n` that also inserts the order
    /// ([`WriteMode::Conditional`]).
    Conditional,
    /// An admission gate takes units, quota and key first, so losers cost no database write; the
    /// winners are written in group commits through the conditional update ([`GatedCheckout`]).
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

/// Who is buying, under which idempotency key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Purchaser {
    pub customer: CustomerId,
    pub key: IdempotencyKey,
}

/// The use case the purchase handler calls, and nothing else.
#[async_trait]
pub trait Checkout: Send + Sync {
    /// Places the order, or replays the first answer of this purchaser's key. `answer` renders the new
    /// order (its body and payment link, which may depend on the request, e.g. the client's IP).
    async fn place(
        &self,
        purchaser: &Purchaser,
        request: PurchaseRequest,
        answer: &dyn OrderAnswer,
    ) -> Result<PlaceOrderOutcome, PlaceOrderError>;

    /// The strategy this checkout implements, for metrics and logs.
    fn strategy(&self) -> Strategy;
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
    /// Price × quantity is outside what the gateway can take in one payment.
    #[error("the order's amount cannot be paid through the gateway")]
    AmountNotPayable,
    /// The gateway gave no payment link for a payable order: a configuration fault, never a 201.
    #[error("no payment link could be made for the order")]
    NoPaymentLink,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Renders the answer for a new order (the HTTP body) and its payment link.
pub trait OrderAnswer: Send + Sync {
    fn payment_url(&self, order: &Order) -> Option<String>;
    fn render(&self, order: &Order) -> Vec<u8>;
}

/// Now, at millisecond precision: what every backend stores exactly, so a replay and a later read
/// agree.
fn order_time(clock: &dyn Clock) -> OffsetDateTime {
    let now = clock.now();
    now.replace_millisecond(now.millisecond()).unwrap_or(now)
}

/// What the order would cost, if the gateway can take it in one payment.
fn payable_amount(product: &Product, request: PurchaseRequest) -> Result<Vnd, PlaceOrderError> {
    product
        .price
        .times(request.quantity)
        .filter(|amount| crate::payment::is_payable(*amount))
        .ok_or(PlaceOrderError::AmountNotPayable)
}

/// The new order and its rendered answer, ready for storage.
fn draft(
    answer: &dyn OrderAnswer,
    now: OffsetDateTime,
    hold: Duration,
    purchaser: &Purchaser,
    product: &Product,
    request: PurchaseRequest,
) -> Result<Reservation, PlaceOrderError> {
    let amount = payable_amount(product, request)?;
    let mut order = Order {
        id: OrderId::new(),
        customer: purchaser.customer.clone(),
        product_id: product.id,
        quantity: request.quantity,
        amount,
        status: OrderStatus::PendingPayment,
        created_at: now,
        expires_at: now.saturating_add(hold),
        paid_at: None,
        payment_url: None,
        gateway_transaction_no: None,
    };
    order.payment_url = Some(
        answer
            .payment_url(&order)
            .ok_or(PlaceOrderError::NoPaymentLink)?,
    );
    Ok(Reservation {
        answer_status: 201,
        answer_body: answer.render(&order),
        order,
        idempotency_key: purchaser.key.clone(),
        request_hash: request.fingerprint(),
    })
}

/// Storage's answer as the use case's.
fn outcome_of(
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
    }
}

/// The stored answer of this key, if the request is the retry of one that has it; else `refusal`.
fn replay_or(
    stored: Option<StoredAnswer>,
    fingerprint: &str,
    refusal: PlaceOrderError,
) -> Result<PlaceOrderOutcome, PlaceOrderError> {
    match stored {
        Some(stored) => replay(stored, fingerprint),
        None => Err(refusal),
    }
}

fn replay(stored: StoredAnswer, fingerprint: &str) -> Result<PlaceOrderOutcome, PlaceOrderError> {
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
