//! The gated checkout: an admission gate answers sold-out, over-limit and duplicate buyers without a
//! database write, and only the admitted reach storage, through a group commit fenced to the gate's
//! epoch. The database stays the last word: whatever the gate says, a write still goes through the
//! conditional update, and when the gate cannot be asked the purchase takes the database path.

use super::{
    Checkout, DirectCheckout, OrderAnswer, PlaceOrderError, PlaceOrderOutcome, Purchaser, Strategy,
    draft, order_time, outcome_of, payable_amount, replay, replay_or,
};
use crate::error::StoreError;
use crate::ids::{CustomerId, IdempotencyKey, ProductId};
use crate::money::Quantity;
use crate::ports::Products;
use crate::purchase::{
    GatedOutcome, GatedReservation, PurchaseRequest, ReserveOutcome, StoredAnswer,
};
use async_trait::async_trait;
use std::sync::Arc;
use time::OffsetDateTime;

/// One purchaser's request as the gate sees it.
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
    Admitted { epoch: i64 },
    /// `holder`: the customer holds units of the product by the gate's count, so this may be the
    /// retry of a sale whose answer is stored. A customer who holds nothing gets a final answer.
    SoldOut { holder: bool },
    /// Only a holder can exceed a limit. `may_be_retry`: the request may be the retry of a sale
    /// whose answer is stored; not when the key is known to have none.
    LimitExceeded { may_be_retry: bool },
    /// The sale is over (or not begun); the request may be the retry of a sale made in it.
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
    /// database's answer, `None` when nothing was sent to it. Best effort: a failure leaves the gate
    /// more pessimistic than the database, which the next rebuild heals.
    async fn release(&self, ticket: &Ticket, epoch: i64, refused: Option<&GatedOutcome>);

    /// The write under this admission failed, and it may have committed all the same (the
    /// connection was lost around the commit, or the answer after it): giving the admission back
    /// could leave the gate counting units the database sold. It stays taken, and the product is
    /// rebuilt from the database, which knows.
    fn unsure(&self, ticket: &Ticket);

    /// Rebuilds the product's gate from the database, unless it has moved on from `seen` (the epoch
    /// the caller found stale, `None` for "not loaded") since: someone else rebuilt it already.
    async fn rebuild(&self, product: ProductId, seen: Option<i64>) -> Result<(), GateUnavailable>;
}

/// Where admitted reservations are written together.
#[async_trait]
pub trait GroupCommit: Send + Sync {
    async fn commit(&self, reservation: GatedReservation) -> Result<GatedOutcome, StoreError>;

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

pub struct GatedCheckout {
    /// Product reads for the name, price and window; the service hands in its cache, since the
    /// live stock count is the gate's business.
    pub products: Arc<dyn Products>,
    pub gate: Arc<dyn AdmissionGate>,
    pub commits: Arc<dyn GroupCommit>,
    /// The database path, writing conditionally, for when the gate cannot decide.
    pub fallback: DirectCheckout,
}

#[async_trait]
impl Checkout for GatedCheckout {
    #[tracing::instrument(name = "checkout", skip_all, fields(strategy = "gated", product_id = request.product_id.0))]
    async fn place(
        &self,
        purchaser: &Purchaser,
        request: PurchaseRequest,
        answer: &dyn OrderAnswer,
    ) -> Result<PlaceOrderOutcome, PlaceOrderError> {
        // No lookup of a stored answer in the database up front: the gate knows admitted keys
        // (`Duplicate`) and who holds units, so a crowd meeting a sold-out product costs the
        // database nothing. The request's fingerprint (a SHA-256) is only worked out for an answer
        // that needs it: a replay or a write, not a refusal.
        let fingerprint = || request.fingerprint();
        let product = self
            .products
            .get(request.product_id)
            .await?
            .ok_or(PlaceOrderError::UnknownProduct)?;
        let direct = &self.fallback;
        let reservations = direct.reservations.as_ref();
        let now = order_time(direct.clock.as_ref());
        // A retry this process remembers the answer of is answered without asking the gate.
        if let Some(stored) = reservations.remembered(&purchaser.customer, &purchaser.key) {
            return replay(stored, &fingerprint());
        }
        // Refused before the gate takes anything; the order itself (its payment link is an
        // HMAC-SHA512 over the gateway's fields, its answer rendered JSON) is drafted only for a
        // purchase that will be written: the crowd that cannot win costs neither.
        payable_amount(&product, request)?;
        let draft = || draft(answer, now, direct.hold, purchaser, &product, request);
        let ticket = Ticket {
            product_id: product.id,
            customer: purchaser.customer.clone(),
            key: purchaser.key.clone(),
            quantity: request.quantity,
            at: now,
        };
        for _ in 0..ATTEMPTS {
            let answer = match self.gate.admit(&ticket).await {
                Ok(answer) => answer,
                Err(_) => return direct.write(&product, draft()?, &fingerprint()).await,
            };
            // A refusal may be the retry of a sale whose answer is stored, which the gate does not
            // remember admitting (it was rebuilt since, or the sale was written past it).
            let refused = |refusal| async {
                let stored = reservations
                    .lookup_refused(&purchaser.customer, &purchaser.key)
                    .await?;
                replay_or(stored, &fingerprint(), refusal)
            };
            let epoch = match answer {
                GateAnswer::Admitted { epoch } => epoch,
                GateAnswer::SoldOut { holder: false } => return Err(PlaceOrderError::SoldOut),
                GateAnswer::SoldOut { holder: true } => {
                    return refused(PlaceOrderError::SoldOut).await;
                }
                GateAnswer::LimitExceeded {
                    may_be_retry: false,
                } => {
                    return Err(PlaceOrderError::LimitExceeded);
                }
                GateAnswer::LimitExceeded { may_be_retry: true } => {
                    return refused(PlaceOrderError::LimitExceeded).await;
                }
                GateAnswer::SaleNotActive => return refused(PlaceOrderError::SaleNotActive).await,
                GateAnswer::Duplicate => {
                    return match self
                        .commits
                        .await_answer(&purchaser.customer, &purchaser.key)
                        .await?
                    {
                        Some(stored) => replay(stored, &fingerprint()),
                        // The first request never wrote (its process died, or it is stuck):
                        // the database's key claim settles who wins.
                        None => direct.write(&product, draft()?, &fingerprint()).await,
                    };
                }
                GateAnswer::NotLoaded => {
                    if self.gate.rebuild(product.id, None).await.is_err() {
                        return direct.write(&product, draft()?, &fingerprint()).await;
                    }
                    continue;
                }
            };
            let reservation = match draft() {
                Ok(reservation) => reservation,
                Err(e) => {
                    self.gate.release(&ticket, epoch, None).await;
                    return Err(e);
                }
            };
            let gated = GatedReservation {
                reservation: reservation.clone(),
                gate_epoch: epoch,
            };
            let outcome = match self.commits.commit(gated).await {
                Ok(outcome) => outcome,
                Err(e) => {
                    self.gate.unsure(&ticket);
                    return Err(e.into());
                }
            };
            match outcome {
                GatedOutcome::Decided(created @ ReserveOutcome::Created) => {
                    return outcome_of(created, reservation, &fingerprint());
                }
                GatedOutcome::StaleGate => {
                    self.gate.release(&ticket, epoch, Some(&outcome)).await;
                    if self.gate.rebuild(product.id, Some(epoch)).await.is_err() {
                        return direct.write(&product, draft()?, &fingerprint()).await;
                    }
                }
                GatedOutcome::Decided(ref refused) => {
                    self.gate.release(&ticket, epoch, Some(&outcome)).await;
                    return outcome_of(refused.clone(), reservation, &fingerprint());
                }
            }
        }
        // The gate kept being rebuilt under this request: let the database decide.
        direct.write(&product, draft()?, &fingerprint()).await
    }

    fn strategy(&self) -> Strategy {
        Strategy::Gated
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::order::Order;
    use crate::ports::Reservations;
    use crate::product::{Product, SaleWindow, Stock};
    use crate::purchase::{Reservation, WriteMode};
    use crate::{Sku, Vnd};
    use std::collections::VecDeque;
    use std::sync::Mutex;
    use time::Duration;

    struct OneProduct;

    #[async_trait]
    impl Products for OneProduct {
        async fn get(&self, id: ProductId) -> Result<Option<Product>, StoreError> {
            Ok((id == ProductId(1)).then(|| Product {
                id,
                sku: Sku::parse("P1").unwrap(),
                name: "Phone".into(),
                price: Vnd::price(10_000).unwrap(),
                stock: Stock {
                    total: 10,
                    available: 10,
                    reserved: 0,
                    sold: 0,
                },
                per_customer_limit: Some(2),
                window: SaleWindow::default(),
            }))
        }
        async fn list(&self) -> Result<Vec<Product>, StoreError> {
            Ok(Vec::new())
        }
    }

    /// Storage that remembers what it was asked: a stored answer to replay (`remembered`: as if
    /// this process held it in memory), direct writes.
    #[derive(Default)]
    struct Storage {
        stored: Option<StoredAnswer>,
        remembered: bool,
        direct: Mutex<Vec<WriteMode>>,
    }

    #[async_trait]
    impl Reservations for Storage {
        fn remembered(&self, _: &CustomerId, _: &IdempotencyKey) -> Option<StoredAnswer> {
            self.stored.clone().filter(|_| self.remembered)
        }
        async fn lookup(
            &self,
            _: &CustomerId,
            _: &IdempotencyKey,
        ) -> Result<Option<StoredAnswer>, StoreError> {
            Ok(self.stored.clone())
        }
        async fn reserve(
            &self,
            mode: WriteMode,
            _: &Reservation,
        ) -> Result<ReserveOutcome, StoreError> {
            self.direct.lock().unwrap().push(mode);
            Ok(ReserveOutcome::Created)
        }
        async fn reserve_batch(
            &self,
            _: &[GatedReservation],
        ) -> Result<Vec<GatedOutcome>, StoreError> {
            Err(StoreError::Internal(
                "batches go through the group commit".into(),
            ))
        }
    }

    /// A gate that gives scripted answers and records releases and rebuilds.
    #[derive(Default)]
    struct Scripted {
        answers: Mutex<VecDeque<Result<GateAnswer, GateUnavailable>>>,
        released: Mutex<Vec<(i64, Option<GatedOutcome>)>>,
        unsure: Mutex<Vec<Ticket>>,
        rebuilt: Mutex<Vec<Option<i64>>>,
    }

    impl Scripted {
        fn answering(answers: Vec<Result<GateAnswer, GateUnavailable>>) -> Self {
            Self {
                answers: Mutex::new(answers.into()),
                ..Self::default()
            }
        }
    }

    #[async_trait]
    impl AdmissionGate for Scripted {
        async fn admit(&self, _: &Ticket) -> Result<GateAnswer, GateUnavailable> {
            self.answers
                .lock()
                .unwrap()
                .pop_front()
                .expect("the gate was asked more often than scripted")
        }
        async fn release(&self, _: &Ticket, epoch: i64, refused: Option<&GatedOutcome>) {
            self.released
                .lock()
                .unwrap()
                .push((epoch, refused.cloned()));
        }
        fn unsure(&self, ticket: &Ticket) {
            self.unsure.lock().unwrap().push(ticket.clone());
        }
        async fn rebuild(&self, _: ProductId, seen: Option<i64>) -> Result<(), GateUnavailable> {
            self.rebuilt.lock().unwrap().push(seen);
            Ok(())
        }
    }

    /// A group commit with scripted outcomes that records the epochs it was handed.
    #[derive(Default)]
    struct Commits {
        outcomes: Mutex<VecDeque<Result<GatedOutcome, StoreError>>>,
        epochs: Mutex<Vec<i64>>,
        answer: Option<StoredAnswer>,
    }

    impl Commits {
        fn answering(outcomes: Vec<Result<GatedOutcome, StoreError>>) -> Self {
            Self {
                outcomes: Mutex::new(outcomes.into()),
                ..Self::default()
            }
        }
    }

    #[async_trait]
    impl GroupCommit for Commits {
        async fn commit(&self, r: GatedReservation) -> Result<GatedOutcome, StoreError> {
            self.epochs.lock().unwrap().push(r.gate_epoch);
            self.outcomes
                .lock()
                .unwrap()
                .pop_front()
                .expect("more commits than scripted")
        }
        async fn await_answer(
            &self,
            _: &CustomerId,
            _: &IdempotencyKey,
        ) -> Result<Option<StoredAnswer>, StoreError> {
            Ok(self.answer.clone())
        }
    }

    struct Body;

    impl OrderAnswer for Body {
        fn payment_url(&self, order: &Order) -> Option<String> {
            Some(format!("https://pay.example/{}", order.id))
        }
        fn render(&self, order: &Order) -> Vec<u8> {
            order.id.to_string().into_bytes()
        }
    }

    fn request() -> PurchaseRequest {
        PurchaseRequest {
            product_id: ProductId(1),
            quantity: Quantity::parse(1).unwrap(),
        }
    }

    async fn purchase(
        storage: &Arc<Storage>,
        gate: &Arc<Scripted>,
        commits: &Arc<Commits>,
    ) -> Result<PlaceOrderOutcome, PlaceOrderError> {
        let checkout = GatedCheckout {
            products: Arc::new(OneProduct),
            gate: gate.clone(),
            commits: commits.clone(),
            fallback: DirectCheckout {
                products: Arc::new(OneProduct),
                reservations: storage.clone(),
                clock: Arc::new(ManualClock::new(OffsetDateTime::UNIX_EPOCH)),
                mode: WriteMode::Conditional,
                hold: Duration::minutes(15),
            },
        };
        let purchaser = Purchaser {
            customer: CustomerId::parse("c1").unwrap(),
            key: IdempotencyKey::parse("k1").unwrap(),
        };
        checkout.place(&purchaser, request(), &Body).await
    }

    fn admitted(epoch: i64) -> Result<GateAnswer, GateUnavailable> {
        Ok(GateAnswer::Admitted { epoch })
    }

    #[tokio::test]
    async fn a_sold_out_answer_from_the_gate_writes_nothing() {
        let (storage, commits) = (Arc::new(Storage::default()), Arc::new(Commits::default()));
        let gate = Arc::new(Scripted::answering(vec![Ok(GateAnswer::SoldOut {
            holder: false,
        })]));
        let outcome = purchase(&storage, &gate, &commits).await;
        assert!(matches!(outcome, Err(PlaceOrderError::SoldOut)));
        assert!(commits.epochs.lock().unwrap().is_empty());
        assert!(storage.direct.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_retry_whose_answer_is_remembered_is_replayed_without_asking_the_gate() {
        let stored = StoredAnswer {
            request_hash: request().fingerprint(),
            status: 201,
            body: b"first".to_vec(),
        };
        let storage = Arc::new(Storage {
            stored: Some(stored),
            remembered: true,
            ..Storage::default()
        });
        // Asked, this gate would panic: it has no answers scripted.
        let (gate, commits) = (Arc::new(Scripted::default()), Arc::new(Commits::default()));
        let outcome = purchase(&storage, &gate, &commits).await;
        assert!(
            matches!(outcome, Ok(PlaceOrderOutcome::Replayed { status: 201, ref body }) if body == b"first"),
            "{outcome:?}"
        );
        assert!(commits.epochs.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_sold_out_customer_who_holds_nothing_is_answered_without_a_lookup() {
        // A stored answer that a lookup would replay: the gate's word is final for this customer.
        let storage = Arc::new(Storage {
            stored: Some(stored()),
            ..Storage::default()
        });
        let gate = Arc::new(Scripted::answering(vec![Ok(GateAnswer::SoldOut {
            holder: false,
        })]));
        let outcome = purchase(&storage, &gate, &Arc::new(Commits::default())).await;
        assert!(matches!(outcome, Err(PlaceOrderError::SoldOut)));
    }

    #[tokio::test]
    async fn an_admission_is_written_through_the_group_commit_under_its_epoch() {
        let storage = Arc::new(Storage::default());
        let gate = Arc::new(Scripted::answering(vec![admitted(7)]));
        let commits = Arc::new(Commits::answering(vec![Ok(GatedOutcome::Decided(
            ReserveOutcome::Created,
        ))]));
        let outcome = purchase(&storage, &gate, &commits).await;
        assert!(matches!(
            outcome,
            Ok(PlaceOrderOutcome::Created { status: 201, .. })
        ));
        assert_eq!(*commits.epochs.lock().unwrap(), [7]);
        assert!(gate.released.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_refused_write_gives_the_admission_back() {
        let storage = Arc::new(Storage::default());
        let gate = Arc::new(Scripted::answering(vec![admitted(7)]));
        let commits = Arc::new(Commits::answering(vec![Ok(GatedOutcome::Decided(
            ReserveOutcome::LimitExceeded,
        ))]));
        let refused = purchase(&storage, &gate, &commits).await;
        assert!(matches!(refused, Err(PlaceOrderError::LimitExceeded)));
        assert_eq!(
            *gate.released.lock().unwrap(),
            [(
                7,
                Some(GatedOutcome::Decided(ReserveOutcome::LimitExceeded))
            )]
        );
        assert!(gate.unsure.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_failed_write_keeps_its_admission_and_has_the_gate_rebuilt() {
        // The batch may have committed with its answer lost: a give-back would let the gate admit
        // a unit the database sold.
        let storage = Arc::new(Storage::default());
        let gate = Arc::new(Scripted::answering(vec![admitted(7)]));
        let commits = Arc::new(Commits::answering(vec![Err(StoreError::unavailable(
            "connection lost",
        ))]));
        let failed = purchase(&storage, &gate, &commits).await;
        assert!(matches!(
            failed,
            Err(PlaceOrderError::Store(StoreError::Unavailable(_)))
        ));
        assert!(gate.released.lock().unwrap().is_empty());
        let unsure = gate.unsure.lock().unwrap();
        assert_eq!(unsure.len(), 1);
        assert_eq!(unsure[0].product_id, ProductId(1));
    }

    #[tokio::test]
    async fn a_stale_admission_is_given_back_and_retried_after_a_rebuild() {
        let storage = Arc::new(Storage::default());
        let gate = Arc::new(Scripted::answering(vec![admitted(1), admitted(2)]));
        let commits = Arc::new(Commits::answering(vec![
            Ok(GatedOutcome::StaleGate),
            Ok(GatedOutcome::Decided(ReserveOutcome::Created)),
        ]));
        let outcome = purchase(&storage, &gate, &commits).await;
        assert!(matches!(outcome, Ok(PlaceOrderOutcome::Created { .. })));
        assert_eq!(*commits.epochs.lock().unwrap(), [1, 2]);
        assert_eq!(*gate.rebuilt.lock().unwrap(), [Some(1)]);
        assert_eq!(
            *gate.released.lock().unwrap(),
            [(1, Some(GatedOutcome::StaleGate))]
        );
    }

    #[tokio::test]
    async fn a_gate_that_holds_nothing_is_rebuilt_and_asked_again() {
        let storage = Arc::new(Storage::default());
        let gate = Arc::new(Scripted::answering(vec![
            Ok(GateAnswer::NotLoaded),
            admitted(3),
        ]));
        let commits = Arc::new(Commits::answering(vec![Ok(GatedOutcome::Decided(
            ReserveOutcome::Created,
        ))]));
        let outcome = purchase(&storage, &gate, &commits).await;
        assert!(matches!(outcome, Ok(PlaceOrderOutcome::Created { .. })));
        assert_eq!(*gate.rebuilt.lock().unwrap(), [None]);
    }

    #[tokio::test]
    async fn an_unreachable_gate_leaves_the_decision_to_the_conditional_write() {
        let (storage, commits) = (Arc::new(Storage::default()), Arc::new(Commits::default()));
        let gate = Arc::new(Scripted::answering(vec![Err(GateUnavailable(
            "redis down".into(),
        ))]));
        let outcome = purchase(&storage, &gate, &commits).await;
        assert!(matches!(outcome, Ok(PlaceOrderOutcome::Created { .. })));
        assert_eq!(*storage.direct.lock().unwrap(), [WriteMode::Conditional]);
        assert!(commits.epochs.lock().unwrap().is_empty());
    }

    fn stored() -> StoredAnswer {
        StoredAnswer {
            request_hash: request().fingerprint(),
            status: 201,
            body: b"first".to_vec(),
        }
    }

    #[tokio::test]
    async fn a_refused_holder_whose_sale_is_stored_gets_it_replayed() {
        for refusal in [
            GateAnswer::SoldOut { holder: true },
            GateAnswer::LimitExceeded { may_be_retry: true },
            GateAnswer::SaleNotActive,
        ] {
            let storage = Arc::new(Storage {
                stored: Some(stored()),
                ..Storage::default()
            });
            let gate = Arc::new(Scripted::answering(vec![Ok(refusal)]));
            let commits = Arc::new(Commits::default());
            let outcome = purchase(&storage, &gate, &commits).await;
            assert!(
                matches!(outcome, Ok(PlaceOrderOutcome::Replayed { ref body, .. }) if body == b"first"),
                "{refusal:?}: {outcome:?}"
            );
            assert!(commits.epochs.lock().unwrap().is_empty());
        }
    }

    #[tokio::test]
    async fn a_refused_holder_without_a_stored_answer_gets_the_refusal() {
        let storage = Arc::new(Storage::default());
        let gate = Arc::new(Scripted::answering(vec![Ok(GateAnswer::SoldOut {
            holder: true,
        })]));
        let outcome = purchase(&storage, &gate, &Arc::new(Commits::default())).await;
        assert!(matches!(outcome, Err(PlaceOrderError::SoldOut)));
    }

    #[tokio::test]
    async fn a_limit_refusal_of_a_key_known_to_have_no_stored_answer_looks_up_nothing() {
        // The storage would replay a sale if asked: the gate's word that the key has none stands.
        let storage = Arc::new(Storage {
            stored: Some(stored()),
            ..Storage::default()
        });
        let gate = Arc::new(Scripted::answering(vec![Ok(GateAnswer::LimitExceeded {
            may_be_retry: false,
        })]));
        let outcome = purchase(&storage, &gate, &Arc::new(Commits::default())).await;
        assert!(matches!(outcome, Err(PlaceOrderError::LimitExceeded)));
    }

    #[tokio::test]
    async fn a_duplicate_in_flight_replays_the_first_answer_once_it_is_stored() {
        let storage = Arc::new(Storage::default());
        let gate = Arc::new(Scripted::answering(vec![Ok(GateAnswer::Duplicate)]));
        let commits = Arc::new(Commits {
            answer: Some(stored()),
            ..Commits::default()
        });
        let outcome = purchase(&storage, &gate, &commits).await;
        assert!(
            matches!(outcome, Ok(PlaceOrderOutcome::Replayed { body, .. }) if body == b"first")
        );
        assert!(storage.direct.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_duplicate_whose_first_request_never_wrote_is_settled_by_the_database() {
        let (storage, commits) = (Arc::new(Storage::default()), Arc::new(Commits::default()));
        let gate = Arc::new(Scripted::answering(vec![Ok(GateAnswer::Duplicate)]));
        let outcome = purchase(&storage, &gate, &commits).await;
        assert!(matches!(outcome, Ok(PlaceOrderOutcome::Created { .. })));
        assert_eq!(*storage.direct.lock().unwrap(), [WriteMode::Conditional]);
    }
}
