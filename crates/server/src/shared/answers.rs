//! Stored answers remembered in process: an idempotency key's answer never changes once written, so
//! a crowd of retries (a buyer's app resending its purchase) is answered from memory after the
//! first lookup, or at once when this instance wrote the order. Bounded by the answers' bytes.
//!
//! A customer the gate refuses (at their limit, past a sell-out) asks again with a new key each
//! time, which no memory of keys can answer: for them the customer's stored answers are read once,
//! all together, and kept for a few seconds ([`Reservations::lookup_refused`] says why that is
//! enough). The customers refused while such a read is under way are read together by the next
//! one, so a crowd's first refusals cost a few queries, not one per customer.

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
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

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
    reads: Arc<RefusedReads>,
}

/// Refused customers waiting for their stored answers, read together: whoever joins while a read is
/// under way is in the next one. The reads run in a task of their own, so that a request that goes
/// away does not leave the others waiting.
struct RefusedReads {
    inner: Arc<dyn Reservations>,
    queue: Mutex<RefusedQueue>,
}

#[derive(Default)]
struct RefusedQueue {
    waiting: Vec<(CustomerId, oneshot::Sender<Result<Answers, StoreError>>)>,
    reading: bool,
}

impl RefusedReads {
    async fn read(self: &Arc<Self>, customer: &CustomerId) -> Result<Answers, StoreError> {
        let (answer, answered) = oneshot::channel();
        let start = {
            // A poisoned lock only means a panic elsewhere; the queue stays usable.
            let mut queue = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
            queue.waiting.push((customer.clone(), answer));
            !std::mem::replace(&mut queue.reading, true)
        };
        if start {
            tokio::spawn(Arc::clone(self).drain());
        }
        answered
            .await
            .map_err(|_| StoreError::internal("the read of refused customers' answers stopped"))?
    }

    /// Reads until nobody waits.
    async fn drain(self: Arc<Self>) {
        loop {
            let batch = {
                // A poisoned lock only means a panic elsewhere; the queue stays usable.
                let mut queue = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
                if queue.waiting.is_empty() {
                    queue.reading = false;
                    return;
                }
                std::mem::take(&mut queue.waiting)
            };
            let customers: Vec<CustomerId> = batch.iter().map(|(c, _)| c.clone()).collect();
            let listed = match self.inner.answers_of(&customers, REFUSED_AT_MOST).await {
                Ok(all) if all.len() != batch.len() => Err(StoreError::internal(format!(
                    "{} customers' answers asked, {} listed",
                    batch.len(),
                    all.len()
                ))),
                listed => listed,
            };
            match listed {
                Ok(all) => {
                    for ((_, answer), listed) in batch.into_iter().zip(all) {
                        let _ = answer.send(Ok(listed.map(by_key)));
                    }
                }
                Err(error) => {
                    for (_, answer) in batch {
                        let _ = answer.send(Err(error.clone()));
                    }
                }
            }
        }
    }
}

fn by_key(listed: Vec<(IdempotencyKey, StoredAnswer)>) -> Arc<HashMap<String, StoredAnswer>> {
    let by_key = listed
        .into_iter()
        .map(|(key, answer)| (key.as_str().to_owned(), answer));
    Arc::new(by_key.collect())
}

impl RememberedAnswers {
    pub fn new(inner: Arc<dyn Reservations>) -> Self {
        Self {
            answers: quick_cache::sync::Cache::with_weighter(
                usize::try_from(CAPACITY_BYTES / TYPICAL_ANSWER_BYTES).unwrap_or(usize::MAX),
                CAPACITY_BYTES,
                ByBytes,
            ),
            refused: moka::future::Cache::builder()
                .max_capacity(100_000)
                .time_to_live(REFUSED_FOR)
                .build(),
            reads: Arc::new(RefusedReads {
                inner: Arc::clone(&inner),
                queue: Mutex::default(),
            }),
            inner,
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
        let all = self
            .refused
            .try_get_with(customer.as_str().to_owned(), self.reads.read(customer))
            .await
            .map_err(|e| StoreError::clone(&e))?;
        match all {
            Some(all) => Ok(all.get(idempotency_key.as_str()).cloned()),
            None => self.lookup(customer, idempotency_key).await,
        }
    }

    async fn answers_of(
        &self,
        customers: &[CustomerId],
        at_most: usize,
    ) -> Result<Vec<Option<Vec<(IdempotencyKey, StoredAnswer)>>>, StoreError> {
        self.inner.answers_of(customers, at_most).await
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
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    /// Storage that holds one answer (under the key "k1") and counts how often it is asked.
    #[derive(Default)]
    struct Counted {
        lookups: AtomicUsize,
        listings: AtomicUsize,
        stored: Option<StoredAnswer>,
        /// Listings fail while it is set.
        unavailable: AtomicBool,
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
            customers: &[CustomerId],
            at_most: usize,
        ) -> Result<Vec<Option<Vec<(IdempotencyKey, StoredAnswer)>>>, StoreError> {
            self.listings.fetch_add(1, Ordering::SeqCst);
            if self.unavailable.load(Ordering::SeqCst) {
                return Err(StoreError::unavailable("the database is away"));
            }
            let listed = |customer: &CustomerId| {
                let all: Vec<_> = self
                    .stored
                    .iter()
                    .filter(|_| customer.as_str() == "c1")
                    .map(|a| (IdempotencyKey::parse("k1").unwrap(), a.clone()))
                    .collect();
                (all.len() <= at_most).then_some(all)
            };
            Ok(customers.iter().map(listed).collect())
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

    #[tokio::test]
    async fn refused_customers_asking_at_once_are_read_together_each_from_their_own_answers() {
        let answer = answer();
        let storage = storing(&answer);
        let remembered = RememberedAnswers::new(storage.clone());
        let asks = (1..=50).map(|i| {
            let (customer, key) = ids(&format!("c{i}"), "k1");
            let remembered = &remembered;
            async move { remembered.lookup_refused(&customer, &key).await.unwrap() }
        });
        let found = futures_util::future::join_all(asks).await;
        // Only c1 stored a sale under k1: it is replayed, the others are refused.
        assert_eq!(found[0], Some(answer));
        assert!(found[1..].iter().all(Option::is_none), "{found:?}");
        assert_eq!(
            storage.listings.load(Ordering::SeqCst),
            1,
            "one read for all"
        );
    }

    #[tokio::test]
    async fn a_failed_read_of_refused_customers_fails_its_waiters_and_the_next_one_reads_again() {
        let answer = answer();
        let storage = storing(&answer);
        storage.unavailable.store(true, Ordering::SeqCst);
        let remembered = RememberedAnswers::new(storage.clone());
        let (customer, key) = ids("c1", "k1");
        let failed = remembered.lookup_refused(&customer, &key).await;
        assert!(
            matches!(failed, Err(StoreError::Unavailable(_))),
            "{failed:?}"
        );
        storage.unavailable.store(false, Ordering::SeqCst);
        let replayed = remembered.lookup_refused(&customer, &key).await.unwrap();
        assert_eq!(replayed, Some(answer));
        assert_eq!(storage.listings.load(Ordering::SeqCst), 2);
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
