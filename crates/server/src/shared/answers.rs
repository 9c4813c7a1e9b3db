//! Stored answers remembered in process: an idempotency key's answer never changes once written, so
//! a crowd of retries (a buyer's app resending its purchase) is answered from memory after the
//! first lookup, or at once when this instance wrote the order. Bounded by the answers' bytes.

use async_trait::async_trait;
use flashgate_core::StoreError;
use flashgate_core::ports::Reservations;
use flashgate_core::purchase::{
    GatedOutcome, GatedReservation, Reservation, ReserveOutcome, StoredAnswer, WriteMode,
};
use flashgate_core::{CustomerId, IdempotencyKey};
use std::sync::Arc;

/// At most this many bytes of answers are kept; the least used go first.
const CAPACITY_BYTES: u64 = 16 << 20;
/// A remembered answer is dropped after this, so memory follows the current sale, not the day's.
const REMEMBERED_FOR: std::time::Duration = std::time::Duration::from_secs(3600);

pub struct RememberedAnswers {
    inner: Arc<dyn Reservations>,
    answers: moka::sync::Cache<String, Arc<StoredAnswer>>,
}

impl RememberedAnswers {
    pub fn new(inner: Arc<dyn Reservations>) -> Self {
        Self {
            inner,
            answers: moka::sync::Cache::builder()
                .max_capacity(CAPACITY_BYTES)
                .time_to_live(REMEMBERED_FOR)
                .weigher(|key: &String, answer: &Arc<StoredAnswer>| {
                    let bytes = key.len() + answer.body.len() + answer.request_hash.len();
                    u32::try_from(bytes).unwrap_or(u32::MAX)
                })
                .build(),
        }
    }

    fn remember(&self, r: &Reservation) {
        self.answers.insert(
            key(&r.order.customer, &r.idempotency_key),
            Arc::new(StoredAnswer {
                request_hash: r.request_hash.clone(),
                status: r.answer_status,
                body: r.answer_body.clone(),
            }),
        );
    }
}

/// Length-prefixed, so that no (customer, key) pair can spell another's.
fn key(customer: &CustomerId, key: &IdempotencyKey) -> String {
    let customer = customer.as_str();
    format!("{}:{customer}{}", customer.len(), key.as_str())
}

#[async_trait]
impl Reservations for RememberedAnswers {
    async fn lookup(
        &self,
        customer: &CustomerId,
        idempotency_key: &IdempotencyKey,
    ) -> Result<Option<StoredAnswer>, StoreError> {
        let key = key(customer, idempotency_key);
        if let Some(answer) = self.answers.get(&key) {
            return Ok(Some(StoredAnswer::clone(&answer)));
        }
        let stored = self.inner.lookup(customer, idempotency_key).await?;
        if let Some(answer) = &stored {
            self.answers.insert(key, Arc::new(answer.clone()));
        }
        Ok(stored)
    }

    async fn reserve(
        &self,
        mode: WriteMode,
        reservation: &Reservation,
    ) -> Result<ReserveOutcome, StoreError> {
        let outcome = self.inner.reserve(mode, reservation).await?;
        if outcome == ReserveOutcome::Created {
            self.remember(reservation);
        }
        Ok(outcome)
    }

    async fn reserve_batch(
        &self,
        batch: &[GatedReservation],
    ) -> Result<Vec<GatedOutcome>, StoreError> {
        let outcomes = self.inner.reserve_batch(batch).await?;
        for (outcome, g) in outcomes.iter().zip(batch) {
            if *outcome == GatedOutcome::Decided(ReserveOutcome::Created) {
                self.remember(&g.reservation);
            }
        }
        Ok(outcomes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Storage that holds one answer and counts how often it is asked.
    #[derive(Default)]
    struct Counted {
        lookups: AtomicUsize,
        stored: Option<StoredAnswer>,
    }

    #[async_trait]
    impl Reservations for Counted {
        async fn lookup(
            &self,
            _: &CustomerId,
            _: &IdempotencyKey,
        ) -> Result<Option<StoredAnswer>, StoreError> {
            self.lookups.fetch_add(1, Ordering::SeqCst);
            Ok(self.stored.clone())
        }

        async fn reserve(
            &self,
            _: WriteMode,
            _: &Reservation,
        ) -> Result<ReserveOutcome, StoreError> {
            unreachable!("not exercised")
        }

        async fn reserve_batch(
            &self,
            _: &[GatedReservation],
        ) -> Result<Vec<GatedOutcome>, StoreError> {
            unreachable!("not exercised")
        }
    }

    fn ids(customer: &str, key: &str) -> (CustomerId, IdempotencyKey) {
        (
            CustomerId::parse(customer).unwrap(),
            IdempotencyKey::parse(key).unwrap(),
        )
    }

    #[tokio::test]
    async fn a_stored_answer_is_read_once_and_an_absent_one_every_time() {
        let answer = StoredAnswer {
            request_hash: "h".into(),
            status: 201,
            body: b"{}".to_vec(),
        };
        let storage = Arc::new(Counted {
            stored: Some(answer.clone()),
            ..Counted::default()
        });
        let remembered = RememberedAnswers::new(storage.clone());
        let (customer, key) = ids("c1", "k1");
        for _ in 0..3 {
            let found = remembered.lookup(&customer, &key).await.unwrap();
            assert_eq!(found, Some(answer.clone()));
        }
        assert_eq!(storage.lookups.load(Ordering::SeqCst), 1);

        // "Not stored yet" may change at any moment: never remembered.
        let empty = Arc::new(Counted::default());
        let remembered = RememberedAnswers::new(empty.clone());
        for _ in 0..3 {
            assert_eq!(remembered.lookup(&customer, &key).await.unwrap(), None);
        }
        assert_eq!(empty.lookups.load(Ordering::SeqCst), 3);
    }

    #[test]
    fn no_customer_and_key_pair_spells_another() {
        let (a, b) = ids("c1", "2k");
        let (c, d) = ids("c12", "k");
        assert_ne!(key(&a, &b), key(&c, &d));
    }
}
