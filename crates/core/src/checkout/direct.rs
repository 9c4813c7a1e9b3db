//! The direct checkout: storage takes the units in one transaction, by a row lock or a conditional
//! update. What the pessimistic and conditional strategies run, and the gated checkout's fallback.

use super::{
    Checkout, OrderAnswer, PlaceOrderError, PlaceOrderOutcome, Purchaser, Strategy, draft,
    order_time, outcome_of, replay, replay_or,
};
use crate::clock::Clock;
use crate::ports::{Products, Reservations};
use crate::product::Product;
use crate::purchase::{PurchaseRequest, Reservation, WriteMode};
use async_trait::async_trait;
use std::sync::Arc;
use time::Duration;

pub struct DirectCheckout {
    /// Live reads: the stock count decides the cheap early "sold out".
    pub products: Arc<dyn Products>,
    pub reservations: Arc<dyn Reservations>,
    pub clock: Arc<dyn Clock>,
    pub mode: WriteMode,
    pub hold: Duration,
}

impl DirectCheckout {
    /// Writes a reservation already drafted (by the gated checkout, whose gate could not decide).
    pub(super) async fn write(
        &self,
        product: &Product,
        reservation: Reservation,
        fingerprint: &str,
    ) -> Result<PlaceOrderOutcome, PlaceOrderError> {
        if !product.window.is_open(reservation.order.created_at) {
            return Err(PlaceOrderError::SaleNotActive);
        }
        let outcome = self.reservations.reserve(self.mode, &reservation).await?;
        outcome_of(outcome, reservation, fingerprint)
    }

    async fn attempt(
        &self,
        purchaser: &Purchaser,
        request: PurchaseRequest,
        answer: &dyn OrderAnswer,
        fingerprint: &str,
    ) -> Result<PlaceOrderOutcome, PlaceOrderError> {
        let product = self
            .products
            .get(request.product_id)
            .await?
            .ok_or(PlaceOrderError::UnknownProduct)?;
        let now = order_time(self.clock.as_ref());
        if !product.window.is_open(now) {
            return Err(PlaceOrderError::SaleNotActive);
        }
        if product.stock.available < request.quantity.get() {
            // A cheap early answer; the reservation below is what actually decides.
            return Err(PlaceOrderError::SoldOut);
        }
        let reservation = draft(answer, now, self.hold, purchaser, &product, request)?;
        self.write(&product, reservation, fingerprint).await
    }
}

#[async_trait]
impl Checkout for DirectCheckout {
    #[tracing::instrument(name = "checkout", skip_all, fields(strategy = self.strategy().as_str(), product_id = request.product_id.0))]
    async fn place(
        &self,
        purchaser: &Purchaser,
        request: PurchaseRequest,
        answer: &dyn OrderAnswer,
    ) -> Result<PlaceOrderOutcome, PlaceOrderError> {
        let fingerprint = request.fingerprint();
        // A retry is answered before anything else: the sale may have ended since the first attempt.
        if let Some(stored) = self
            .reservations
            .lookup(&purchaser.customer, &purchaser.key)
            .await?
        {
            return replay(stored, &fingerprint);
        }
        match self.attempt(purchaser, request, answer, &fingerprint).await {
            Err(
                rejection @ (PlaceOrderError::SoldOut
                | PlaceOrderError::LimitExceeded
                | PlaceOrderError::SaleNotActive),
            ) => {
                // A retry racing its own original sees the stock or quota the original just took:
                // the original's answer, if it has one by now, is the answer.
                let stored = self
                    .reservations
                    .lookup(&purchaser.customer, &purchaser.key)
                    .await?;
                replay_or(stored, &fingerprint, rejection)
            }
            other => other,
        }
    }

    fn strategy(&self) -> Strategy {
        match self.mode {
            WriteMode::Locking => Strategy::Pessimistic,
            WriteMode::Conditional => Strategy::Conditional,
        }
    }
}
