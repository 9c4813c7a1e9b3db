//! Stored answers remembered in process: an idempotency key's answer never changes once written, so
//! a crowd of retries (a buyer's app resending its purchase) is answered from memory after the
//! first lookup, or at once when this instance wrote the order. Bounded by the answers' bytes.
//!
//! A customer the gate refuses (at their limit, past a sell-out) asks again with a new key each
//! time, which no memory of keys can answer: for them the customer's stored answers are read once,
//! all together, and kept for a few seconds ([`Reservations::lookup_refused`] says why that is
//! enough).

use async_trait::async_trait;
use flashgate_core::StoreError;
use flashgate_core::ports::Reservations;
use flashgate_core::purchase::{
    GatedOutcome, GatedReservation, Reservation, ReserveOutcome, StoredAnswer, WriteMode,
};
use flashgate_core::{CustomerId, IdempotencyKey};
use quick_cache::{Equivalent, Weighter};
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// At most this many bytes of answers are kept; the least used go first.
const CAPACITY_BYTES: u64 = 16 << 20;
/// What a typical answer weighs (key, fingerprint, the order's JSON), to size the table.
const TYPICAL_ANSWER_BYTES: u64 = 640;
/// A remembered answer is dropped after this, so memory follows the current sale, not the day's.
const REMEMBERED_FOR: Duration = Duration::from_secs(3600);
/// How long a refused customer's stored answers are answered from memory. A key stored since that
/// the gate does not answer as a duplicate was written while the gate could not be asked; the
/// retry that finds the gate answering again and refusing it (at a limit the gate counts without
/// that sale) is answered with the refusal until this has passed, then with the sale. A crowd of
/// refused customers costs one read of each per this long.
const REFUSED_FOR: Duration = Duration::from_secs(5);
/// A customer with more stored answers than this is looked up key by key.
const REFUSED_AT_MOST: usize = 32;

/// A customer's stored answers by key; `None`: too many to keep.
type Answers = Option<Arc<HashMap<String, StoredAnswer>>>;

pub struct RememberedAnswers {
    inner: Arc<dyn Reservations>,
    answers: quick_cache::sync::Cache<AnswerKey, Remembered, ByBytes>,
    /// Refused customers' stored answers, by customer.
    refused: moka::future::Cache<String, Answers>,
}

impl RememberedAnswers {
    pub fn new(inner: Arc<dyn Reservations>) -> Self {
        Self {
            inner,
            answers: quick_cache::sync::Cache::with_weighter(
                usize::try_from(CAPACITY_BYTES / TYPICAL_ANSWER_BYTES).unwrap_or(usize::MAX),
                CAPACITY_BYTES,
                ByBytes,
            ),
            refused: moka::future::Cache::builder()
                .max_capacity(100_000)
                .time_to_live(REFUSED_FOR)
                .build(),
        }
    }

    fn remember(&self, customer: &CustomerId, key: &IdempotencyKey, answer: StoredAnswer) {
        let key = AnswerKey {
            customer: customer.as_str().to_owned(),
            key: key.as_str().to_owned(),
        };
        let until = Instant::now() + REMEMBERED_FOR;
        self.answers.insert(key, (until, Arc::new(answer)));
    }

    fn remember_written(&self, r: &Reservation) {
        let answer = StoredAnswer {
            request_hash: r.request_hash.clone(),
            status: r.answer_status,
            body: r.answer_body.clone(),
        };
        self.remember(&r.order.customer, &r.idempotency_key, answer);
    }
}

/// A remembered answer and when it is dropped.
type Remembered = (Instant, Arc<StoredAnswer>);

/// A stored answer's (customer, key), hashed as its two strings one after the other, which a
/// borrowed [`AnswerRef`] repeats so that it finds the same entry: every purchase asks, and building
/// an owned key for a lookup that mostly misses cost more than the lookup.
#[derive(PartialEq, Eq, Hash)]
struct AnswerKey {
    customer: String,
    key: String,
}

struct AnswerRef<'a> {
    customer: &'a str,
    key: &'a str,
}

impl Hash for AnswerRef<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.customer.hash(state);
        self.key.hash(state);
    }
}

impl Equivalent<AnswerKey> for AnswerRef<'_> {
    fn equivalent(&self, owned: &AnswerKey) -> bool {
        self.customer == owned.customer && self.key == owned.key
    }
}

/// An answer weighs its bytes.
#[derive(Clone)]
struct ByBytes;

impl Weighter<AnswerKey, Remembered> for ByBytes {
    fn weight(&self, key: &AnswerKey, (_, answer): &Remembered) -> u64 {
        let bytes =
            key.customer.len() + key.key.len() + answer.body.len() + answer.request_hash.len();
        u64::try_from(bytes).unwrap_or(u64::MAX)
    }
}

#[async_trait]
impl Reservations for RememberedAnswers {
    async fn lookup(
        &self,
        customer: &CustomerId,
        idempotency_key: &IdempotencyKey,
    ) -> Result<Option<StoredAnswer>, StoreError> {
        if let Some(answer) = self.remembered(customer, idempotency_key) {
            return Ok(Some(answer));
        }
        let stored = self.inner.lookup(customer, idempotency_key).await?;
        if let Some(answer) = &stored {
            self.remember(customer, idempotency_key, answer.clone());
        }
        Ok(stored)
    }

    fn remembered(
        &self,
        customer: &CustomerId,
        idempotency_key: &IdempotencyKey,
    ) -> Option<StoredAnswer> {
        let (until, answer) = self.answers.get(&AnswerRef {
            customer: customer.as_str(),
            key: idempotency_key.as_str(),
        })?;
        (Instant::now() < until).then(|| StoredAnswer::clone(&answer))
    }

    async fn lookup_refused(
        &self,
        customer: &CustomerId,
        idempotency_key: &IdempotencyKey,
    ) -> Result<Option<StoredAnswer>, StoreError> {
        // What this instance wrote or read (also what it wrote after the customer's answers were
        // read, so nothing written here is missed).
        if let Some(answer) = self.remembered(customer, idempotency_key) {
            return Ok(Some(answer));
        }
        // One read per customer at a time, however many of their requests ask at once.
        let inner = Arc::clone(&self.inner);
        let all = self
            .refused
            .try_get_with(customer.as_str().to_owned(), async move {
                let all = inner.answers_of(customer, REFUSED_AT_MOST).await?;
                Ok::<_, StoreError>(all.map(|all| {
                    let by_key = all
                        .into_iter()
                        .map(|(k, answer)| (k.as_str().to_owned(), answer));
                    Arc::new(by_key.collect())
                }))
            })
            .await
            .map_err(|e| StoreError::clone(&e))?;
        match all {
            Some(all) => Ok(all.get(idempotency_key.as_str()).cloned()),
            None => self.lookup(customer, idempotency_key).await,
        }
    }

    async fn answers_of(
        &self,
        customer: &CustomerId,
        at_most: usize,
    ) -> Result<Option<Vec<(IdempotencyKey, StoredAnswer)>>, StoreError> {
        self.inner.answers_of(customer, at_most).await
    }

    async fn reserve(
        &self,
        mode: WriteMode,
        reservation: &Reservation,
    ) -> Result<ReserveOutcome, StoreError> {
        let outcome = self.inner.reserve(mode, reservation).await?;
        if outcome == ReserveOutcome::Created {
            self.remember_written(reservation);
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
                self.remember_written(&g.reservation);
            }
        }
        Ok(outcomes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Storage that holds one answer (under the key "k1") and counts how often it is asked.
    #[derive(Default)]
    struct Counted {
        lookups: AtomicUsize,
        listings: AtomicUsize,
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

        async fn answers_of(
            &self,
            _: &CustomerId,
            at_most: usize,
        ) -> Result<Option<Vec<(IdempotencyKey, StoredAnswer)>>, StoreError> {
            self.listings.fetch_add(1, Ordering::SeqCst);
            let all: Vec<_> = self
                .stored
                .iter()
                .map(|a| (IdempotencyKey::parse("k1").unwrap(), a.clone()))
                .collect();
            Ok((all.len() <= at_most).then_some(all))
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

    fn answer() -> StoredAnswer {
        StoredAnswer {
            request_hash: "h".into(),
            status: 201,
            body: b"{}".to_vec(),
        }
    }

    fn storing(answer: &StoredAnswer) -> Arc<Counted> {
        Arc::new(Counted {
            stored: Some(answer.clone()),
            ..Counted::default()
        })
    }

    #[tokio::test]
    async fn a_stored_answer_is_read_once_and_an_absent_one_every_time() {
        let answer = answer();
        let storage = storing(&answer);
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

    #[tokio::test]
    async fn a_refused_customer_with_new_keys_is_answered_from_one_read_of_their_answers() {
        let answer = answer();
        let storage = storing(&answer);
        let remembered = RememberedAnswers::new(storage.clone());
        let (customer, _) = ids("c1", "k1");
        let asks = (0..50).map(|i| {
            let key = IdempotencyKey::parse(&format!("new-{i}")).unwrap();
            let (remembered, customer) = (&remembered, &customer);
            async move { remembered.lookup_refused(customer, &key).await.unwrap() }
        });
        let found = futures_util::future::join_all(asks).await;
        assert!(found.iter().all(Option::is_none), "{found:?}");
        // The retry of the stored sale is answered from the same read.
        let (_, stored) = ids("c1", "k1");
        let replayed = remembered.lookup_refused(&customer, &stored).await.unwrap();
        assert_eq!(replayed, Some(answer));
        assert_eq!(storage.listings.load(Ordering::SeqCst), 1);
        assert_eq!(storage.lookups.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn an_answer_is_found_by_its_own_customer_and_key_only() {
        let remembered = RememberedAnswers::new(Arc::new(Counted::default()));
        let (a, b) = ids("c1", "2k");
        let (c, d) = ids("c12", "k");
        remembered.remember(&a, &b, answer());
        assert_eq!(remembered.remembered(&a, &b), Some(answer()));
        assert_eq!(remembered.remembered(&c, &d), None);
    }
}
