//! What a purchase carries to storage and what storage answers: the buyer's request, the reservation
//! written in one transaction, the write modes, and the stored first answer that every retry replays.
//! The use cases that produce them are in [`crate::checkout`].

use crate::ids::{IdempotencyKey, ProductId};
use crate::money::Quantity;
use crate::order::Order;
use sha2::{Digest, Sha256};

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
}

/// How storage takes a reservation's units; the purchase strategy (a setting) picks one, and the
/// gated strategy's fallback writes conditionally.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WriteMode {
    /// Lock the stock row (`SELECT … FOR UPDATE`; SQLite `BEGIN IMMEDIATE`), check, decrement.
    Locking,
    /// One `UPDATE … WHERE available >= n`; the lock is held for a single statement.
    Conditional,
}

/// What became of one reservation of a gated batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GatedOutcome {
    /// Written, or refused, exactly as a direct conditional reservation would be.
    Decided(ReserveOutcome),
    /// Its gate epoch is no longer the database's (the gate was rebuilt, or a write bypassed it,
    /// since the admission): nothing was written.
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
}
