//! What both adapters share about a reservation attempt: how a transaction's result becomes the port's
//! answer.

use flashgate_core::StoreError;
use flashgate_core::ports::Reservations;
use flashgate_core::purchase::{Reservation, ReserveOutcome};

/// How a reservation transaction ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Attempt {
    Created,
    /// Another request holds (or held) the same idempotency key.
    KeyTaken,
    Rejected(ReserveOutcome),
}

pub(crate) async fn finish(
    store: &dyn Reservations,
    attempt: Attempt,
    r: &Reservation,
) -> Result<ReserveOutcome, StoreError> {
    match attempt {
        Attempt::Created => Ok(ReserveOutcome::Created),
        Attempt::Rejected(outcome) => Ok(outcome),
        // The request that took the key has committed by now (claiming it waited for that), so its
        // answer is visible.
        Attempt::KeyTaken => match store.lookup(&r.order.customer, &r.idempotency_key).await? {
            Some(stored) => Ok(ReserveOutcome::Duplicate(stored)),
            None => Err(StoreError::Internal("idempotency record vanished".into())),
        },
    }
}
