use super::*;
use crate::ids::IdempotencyKey;
use crate::product::{Product, SaleWindow, Stock};
use crate::{Sku, Vnd};
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};
use time::OffsetDateTime;

/// In-memory counters: per product, available units and the epoch; switches for an outage
/// and for failing writes.
#[derive(Default)]
struct Counters {
    state: Mutex<HashMap<ProductId, (i64, i64)>>,
    /// Units per customer (of any product), and the limit every product has, if any.
    held: Mutex<HashMap<CustomerId, i64>>,
    limit: Mutex<Option<i64>>,
    next_epoch: AtomicU64,
    degraded: AtomicBool,
    failing: AtomicBool,
    loads: AtomicU64,
    admits: AtomicU64,
    /// What `changes` answers; `None` (the default) leaves the memory of limits unused.
    changes: Mutex<Option<u64>>,
}

impl Counters {
    fn fail(&self) -> Result<(), CountersError> {
        if self.failing.load(Ordering::SeqCst) {
            return Err(CountersError::unavailable("down"));
        }
        Ok(())
    }
    fn set(&self, product: i64, available: i64) {
        lock(&self.state)
            .entry(ProductId(product))
            .or_insert((0, 1))
            .0 = available;
    }
}

#[async_trait]
impl GateCounters for Counters {
    fn is_degraded(&self) -> bool {
        self.degraded.load(Ordering::SeqCst)
    }
    fn changes(&self, _: ProductId) -> Option<u64> {
        *lock(&self.changes)
    }
    fn fresh_epoch(&self) -> i64 {
        i64::try_from(self.next_epoch.fetch_add(1, Ordering::SeqCst)).unwrap() + 100
    }
    async fn admit(&self, ticket: &Ticket) -> Result<GateAnswer, CountersError> {
        self.fail()?;
        self.admits.fetch_add(1, Ordering::SeqCst);
        let mut state = lock(&self.state);
        let Some((available, epoch)) = state.get_mut(&ticket.product_id) else {
            return Ok(GateAnswer::NotLoaded);
        };
        if *available < ticket.quantity.get() {
            return Ok(GateAnswer::SoldOut { holder: false });
        }
        let mut held = lock(&self.held);
        let held = held.entry(ticket.customer.clone()).or_default();
        if lock(&self.limit).is_some_and(|limit| *held + ticket.quantity.get() > limit) {
            return Ok(GateAnswer::LimitExceeded { may_be_retry: true });
        }
        *held += ticket.quantity.get();
        *available -= ticket.quantity.get();
        Ok(GateAnswer::Admitted { epoch: *epoch })
    }
    async fn held(
        &self,
        product: ProductId,
        customers: &[CustomerId],
    ) -> Result<Option<Vec<Counted>>, CountersError> {
        self.fail()?;
        let epoch = lock(&self.state).get(&product).map(|s| s.1);
        let held = lock(&self.held);
        let held = |customer| held.get(customer).copied().unwrap_or(0);
        Ok(epoch.map(|epoch| {
            let counted = |customer| Counted {
                held: held(customer),
                epoch,
            };
            customers.iter().map(counted).collect()
        }))
    }
    async fn correct_held(
        &self,
        product: ProductId,
        customer: &CustomerId,
        seen: Counted,
        corrected: i64,
    ) -> Result<bool, CountersError> {
        let counted = self.held(product, std::slice::from_ref(customer)).await?;
        if counted.and_then(|c| c.first().copied()) != Some(seen) {
            return Ok(false);
        }
        lock(&self.held).insert(customer.clone(), corrected);
        Ok(true)
    }
    async fn release(&self, _: &Ticket, _: Option<i64>) -> Result<(), CountersError> {
        self.fail()
    }
    async fn give_back(
        &self,
        _: ProductId,
        _: &CustomerId,
        _: Quantity,
        _: i64,
    ) -> Result<(), CountersError> {
        self.fail()
    }
    async fn load(&self, snapshot: &GateSnapshot, epoch: i64) -> Result<(), CountersError> {
        self.fail()?;
        self.loads.fetch_add(1, Ordering::SeqCst);
        // A load takes a while, so that concurrent rebuilds overlap.
        tokio::task::yield_now().await;
        lock(&self.state).insert(snapshot.product_id, (snapshot.available, epoch));
        Ok(())
    }
    async fn available(&self, product: ProductId) -> Result<Option<i64>, CountersError> {
        self.fail()?;
        Ok(lock(&self.state).get(&product).map(|s| s.0))
    }
    async fn epoch(&self, product: ProductId) -> Result<Option<i64>, CountersError> {
        self.fail()?;
        Ok(lock(&self.state).get(&product).map(|s| s.1))
    }
}

/// The database: products 1 and 2 with the given available units; counts fences.
struct Database {
    available: Mutex<HashMap<ProductId, i64>>,
    /// Units per customer in live and paid orders.
    held: Mutex<HashMap<CustomerId, i64>>,
    /// Keys with a stored answer, per customer.
    keys: Mutex<HashMap<CustomerId, Vec<IdempotencyKey>>>,
    /// Every product's per-customer limit.
    limit: Mutex<Option<i64>>,
    fences: AtomicU64,
    /// Counters whose change count moves while holdings are read, as a give-back racing the read.
    moved_while_read: Mutex<Option<Arc<Counters>>>,
}

impl Database {
    fn with(units: &[(i64, i64)]) -> Arc<Self> {
        Arc::new(Self {
            available: Mutex::new(units.iter().map(|&(p, n)| (ProductId(p), n)).collect()),
            held: Mutex::default(),
            keys: Mutex::default(),
            limit: Mutex::default(),
            fences: AtomicU64::new(0),
            moved_while_read: Mutex::default(),
        })
    }
}

fn product(id: ProductId, available: i64) -> Product {
    Product {
        id,
        sku: Sku::parse(&format!("P{}", id.0)).unwrap(),
        name: "Phone".into(),
        price: Vnd::price(10_000).unwrap(),
        stock: Stock {
            total: available,
            available,
            reserved: 0,
            sold: 0,
        },
        per_customer_limit: None,
        window: SaleWindow::default(),
    }
}

#[async_trait]
impl GateFence for Database {
    async fn fence(&self, product: ProductId, _: i64) -> Result<Option<GateSnapshot>, StoreError> {
        self.fences.fetch_add(1, Ordering::SeqCst);
        Ok(lock(&self.available)
            .get(&product)
            .map(|&available| GateSnapshot {
                product_id: product,
                available,
                per_customer_limit: None,
                window: SaleWindow::default(),
                holdings: lock(&self.held)
                    .iter()
                    .map(|(customer, held)| (customer.clone(), *held))
                    .collect(),
            }))
    }
    async fn held(&self, _: ProductId, customers: &[CustomerId]) -> Result<Vec<i64>, StoreError> {
        if let Some(counters) = lock(&self.moved_while_read).as_ref() {
            let mut changes = lock(&counters.changes);
            *changes = changes.map(|n| n + 1);
        }
        let held = lock(&self.held);
        let held = |customer| held.get(customer).copied().unwrap_or(0);
        Ok(customers.iter().map(held).collect())
    }
    async fn stored_keys(
        &self,
        customers: &[CustomerId],
        at_most: usize,
    ) -> Result<Vec<Option<Vec<IdempotencyKey>>>, StoreError> {
        let keys = lock(&self.keys);
        let keys = |customer| {
            let keys = keys.get(customer).cloned().unwrap_or_default();
            (keys.len() <= at_most).then_some(keys)
        };
        Ok(customers.iter().map(keys).collect())
    }
}

#[async_trait]
impl Products for Database {
    async fn get(&self, id: ProductId) -> Result<Option<Product>, StoreError> {
        let limit = *lock(&self.limit);
        Ok(lock(&self.available).get(&id).map(|&n| Product {
            per_customer_limit: limit,
            ..product(id, n)
        }))
    }
    async fn list(&self) -> Result<Vec<Product>, StoreError> {
        let mut all: Vec<_> = lock(&self.available)
            .iter()
            .map(|(&id, &n)| product(id, n))
            .collect();
        all.sort_by_key(|p| p.id.0);
        Ok(all)
    }
}

fn gate(units: &[(i64, i64)]) -> (FencedGate, Arc<Counters>, Arc<Database>) {
    let counters = Arc::new(Counters::default());
    let database = Database::with(units);
    let gate = FencedGate::new(counters.clone(), database.clone(), database.clone());
    (gate, counters, database)
}

fn ticket(product: i64) -> Ticket {
    Ticket {
        product_id: ProductId(product),
        customer: CustomerId::parse("alice").unwrap(),
        key: IdempotencyKey::parse("key-1").unwrap(),
        quantity: Quantity::parse(1).unwrap(),
        at: OffsetDateTime::UNIX_EPOCH,
    }
}

#[tokio::test]
async fn callers_that_find_the_same_stale_epoch_rebuild_once() {
    let (gate, counters, database) = gate(&[(1, 5)]);
    let gate = Arc::new(gate);
    let callers: Vec<_> = (0..8)
        .map(|_| {
            let gate = gate.clone();
            tokio::spawn(async move { gate.rebuild(ProductId(1), None).await })
        })
        .collect();
    for caller in callers {
        caller.await.unwrap().unwrap();
    }
    assert_eq!(database.fences.load(Ordering::SeqCst), 1);
    assert_eq!(counters.loads.load(Ordering::SeqCst), 1);
    assert_eq!(gate.stats().rebuilds.load(Ordering::SeqCst), 1);
    assert_eq!(gate.available(ProductId(1)).await, Some(5));
}

#[tokio::test]
async fn a_degraded_gate_sends_buyers_to_the_database_and_suspects_the_product() {
    let (gate, counters, database) = gate(&[(1, 5)]);
    gate.rebuild_all().await.unwrap();
    counters.degraded.store(true, Ordering::SeqCst);
    assert!(gate.admit(&ticket(1)).await.is_err());
    assert_eq!(gate.stats().fallbacks.load(Ordering::SeqCst), 1);
    // The database path sold units behind the gate's back.
    lock(&database.available).insert(ProductId(1), 2);
    counters.degraded.store(false, Ordering::SeqCst);
    assert_eq!(gate.rebuild_suspects().await.unwrap(), 1);
    assert_eq!(gate.available(ProductId(1)).await, Some(2));
    assert_eq!(
        gate.rebuild_suspects().await.unwrap(),
        0,
        "suspects are taken once"
    );
}

#[tokio::test]
async fn a_failed_give_back_or_load_leaves_the_product_suspected_until_a_rebuild_succeeds() {
    let (gate, counters, _) = gate(&[(1, 5), (2, 3)]);
    counters.failing.store(true, Ordering::SeqCst);
    let alice = CustomerId::parse("alice").unwrap();
    gate.give_back(ProductId(1), &alice, Quantity::parse(1).unwrap(), 1)
        .await;
    assert!(gate.rebuild_now(ProductId(2)).await.is_err());
    assert!(gate.rebuild_suspects().await.is_err(), "still down");
    counters.failing.store(false, Ordering::SeqCst);
    assert_eq!(gate.rebuild_suspects().await.unwrap(), 2);
    assert_eq!(gate.available(ProductId(2)).await, Some(3));
}

#[tokio::test]
async fn an_admission_the_database_refused_is_counted_and_suspected() {
    let (gate, counters, _) = gate(&[(1, 5)]);
    gate.rebuild_all().await.unwrap();
    let refused = GatedOutcome::Decided(ReserveOutcome::SoldOut);
    gate.release(&ticket(1), 100, Some(&refused)).await;
    assert_eq!(gate.stats().over_admitted.load(Ordering::SeqCst), 1);
    let loads = counters.loads.load(Ordering::SeqCst);
    assert_eq!(gate.rebuild_suspects().await.unwrap(), 1);
    assert_eq!(counters.loads.load(Ordering::SeqCst), loads + 1);
}

#[tokio::test]
async fn an_admission_whose_write_may_have_committed_stays_taken_until_a_rebuild() {
    let (gate, _, database) = gate(&[(1, 5)]);
    gate.rebuild_all().await.unwrap();
    assert!(matches!(
        gate.admit(&ticket(1)).await.unwrap(),
        GateAnswer::Admitted { .. }
    ));
    // The batch committed; its answer was lost with the connection.
    lock(&database.available).insert(ProductId(1), 4);
    gate.unsure(&ticket(1));
    assert_eq!(
        gate.available(ProductId(1)).await,
        Some(4),
        "not given back"
    );
    assert_eq!(gate.rebuild_suspects().await.unwrap(), 1);
    assert_eq!(gate.available(ProductId(1)).await, Some(4));
}

#[tokio::test]
async fn a_gate_that_says_sold_out_while_the_database_has_units_heals_at_the_second_look() {
    let (gate, counters, database) = gate(&[(1, 5), (2, 4)]);
    gate.rebuild_all().await.unwrap();
    // Admissions whose writes never came took every unit of product 1; a buyer is told so.
    counters.set(1, 0);
    counters.set(2, 0);
    lock(&database.available).insert(ProductId(2), 0);
    for product in [1, 2] {
        let answer = gate.admit(&ticket(product)).await.unwrap();
        assert_eq!(answer, GateAnswer::SoldOut { holder: false });
    }
    assert_eq!(
        gate.heal_sold_out().await.unwrap(),
        0,
        "the first look waits"
    );
    assert_eq!(gate.heal_sold_out().await.unwrap(), 1);
    assert_eq!(gate.available(ProductId(1)).await, Some(5));
    assert_eq!(
        gate.available(ProductId(2)).await,
        Some(0),
        "really sold out"
    );
    assert_eq!(
        gate.heal_sold_out().await.unwrap(),
        0,
        "nothing left to look at"
    );
}

#[tokio::test]
async fn a_product_no_buyer_was_told_is_sold_out_is_not_looked_at() {
    let (gate, counters, _) = gate(&[(1, 5)]);
    gate.rebuild_all().await.unwrap();
    counters.set(1, 0);
    assert_eq!(gate.heal_sold_out().await.unwrap(), 0);
    assert_eq!(gate.heal_sold_out().await.unwrap(), 0);
    assert_eq!(gate.available(ProductId(1)).await, Some(0));
    gate.admit(&ticket(1)).await.unwrap();
    assert_eq!(gate.heal_sold_out().await.unwrap(), 0);
    assert_eq!(gate.heal_sold_out().await.unwrap(), 1);
}

#[tokio::test]
async fn a_product_that_looked_sold_out_once_is_not_healed() {
    let (gate, counters, _) = gate(&[(1, 5)]);
    gate.rebuild_all().await.unwrap();
    counters.set(1, 0);
    gate.admit(&ticket(1)).await.unwrap();
    assert_eq!(gate.heal_sold_out().await.unwrap(), 0);
    // The writes in flight landed: the gate and the database agree again.
    counters.set(1, 3);
    assert_eq!(gate.heal_sold_out().await.unwrap(), 0);
    assert_eq!(gate.available(ProductId(1)).await, Some(3));
}

#[tokio::test]
async fn a_customer_held_at_the_limit_by_an_admission_never_written_is_let_back_in() {
    let (gate, counters, database) = gate(&[(1, 5)]);
    gate.rebuild_all().await.unwrap();
    *lock(&counters.limit) = Some(1);
    let alice = CustomerId::parse("alice").unwrap();
    // Admitted, and then the write never came: the database holds nothing of alice's.
    assert!(matches!(
        gate.admit(&ticket(1)).await.unwrap(),
        GateAnswer::Admitted { .. }
    ));
    assert_eq!(
        gate.admit(&ticket(1)).await.unwrap(),
        GateAnswer::LimitExceeded { may_be_retry: true }
    );
    assert_eq!(
        gate.heal_limits(Instant::now()).await.unwrap(),
        0,
        "the first look waits"
    );
    assert_eq!(gate.heal_limits(Instant::now()).await.unwrap(), 1);
    assert_eq!(lock(&counters.held).get(&alice), Some(&0));
    assert!(matches!(
        gate.admit(&ticket(1)).await.unwrap(),
        GateAnswer::Admitted { .. }
    ));
    assert_eq!(lock(&database.held).get(&alice), None);
    assert_eq!(gate.stats().limits_corrected.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_customer_the_database_holds_at_the_limit_is_refused_from_memory_until_something_changes()
{
    let (gate, counters, _) = alice_remembered_at_the_limit().await;
    let asked = counters.admits.load(Ordering::SeqCst);
    for k in ["a-2", "a-3", "a-4"] {
        assert_eq!(gate.admit(&with_key(k)).await.unwrap(), REMEMBERED);
    }
    assert_eq!(counters.admits.load(Ordering::SeqCst), asked);
    assert_eq!(gate.stats().limits_from_memory.load(Ordering::SeqCst), 3);
    // The stored key may be the retry of the sale: the counters answer it.
    gate.admit(&with_key("a-1")).await.unwrap();
    assert_eq!(counters.admits.load(Ordering::SeqCst), asked + 1);
    // Units or quota came back somewhere: the memory no longer stands.
    let refused = GateAnswer::LimitExceeded { may_be_retry: true };
    *lock(&counters.changes) = Some(8);
    assert_eq!(gate.admit(&with_key("a-5")).await.unwrap(), refused);
    *lock(&counters.changes) = None;
    assert_eq!(gate.admit(&with_key("a-6")).await.unwrap(), refused);
    assert_eq!(counters.admits.load(Ordering::SeqCst), asked + 3);
}

/// A product of 5 units with a limit of one, loaded, the change count at 7.
async fn limit_of_one_under_count_seven() -> (FencedGate, Arc<Counters>, Arc<Database>) {
    let (gate, counters, database) = gate(&[(1, 5)]);
    gate.rebuild_all().await.unwrap();
    *lock(&counters.limit) = Some(1);
    *lock(&database.limit) = Some(1);
    *lock(&counters.changes) = Some(7);
    (gate, counters, database)
}

/// Alice at a limit of one, her sale written (`a-1`), refused once by the counters and looked at
/// by the keeper with the change count at 7.
async fn alice_remembered_at_the_limit() -> (FencedGate, Arc<Counters>, Arc<Database>) {
    let (gate, counters, database) = limit_of_one_under_count_seven().await;
    let alice = CustomerId::parse("alice").unwrap();
    gate.admit(&with_key("a-1")).await.unwrap();
    lock(&database.held).insert(alice.clone(), 1);
    lock(&database.keys).insert(alice, vec![IdempotencyKey::parse("a-1").unwrap()]);
    gate.admit(&with_key("a-2")).await.unwrap();
    gate.heal_limits(Instant::now()).await.unwrap();
    (gate, counters, database)
}

fn with_key(key: &str) -> Ticket {
    Ticket {
        key: IdempotencyKey::parse(key).unwrap(),
        ..ticket(1)
    }
}

const REMEMBERED: GateAnswer = GateAnswer::LimitExceeded {
    may_be_retry: false,
};

#[tokio::test]
async fn a_remembered_customer_the_database_let_go_without_the_count_moving_is_forgotten_once_looked_at_again()
 {
    let (gate, counters, database) = alice_remembered_at_the_limit().await;
    assert_eq!(gate.admit(&with_key("a-3")).await.unwrap(), REMEMBERED);
    // Her hold went back by a path that did not move the count.
    lock(&database.held).clear();
    // A step before her entry is due leaves her remembered; the first one after forgets her.
    gate.heal_limits(Instant::now()).await.unwrap();
    assert_eq!(gate.admit(&with_key("a-4")).await.unwrap(), REMEMBERED);
    let due = Instant::now() + crate::checkout::at_limit::LOOKED_AGAIN_AFTER;
    gate.heal_limits(due).await.unwrap();
    let asked = counters.admits.load(Ordering::SeqCst);
    assert_ne!(gate.admit(&with_key("a-5")).await.unwrap(), REMEMBERED);
    assert_eq!(counters.admits.load(Ordering::SeqCst), asked + 1);
}

#[tokio::test]
async fn nobody_is_remembered_when_the_count_moves_during_the_keeper_s_read_or_the_product_sold_out()
 {
    for sold_out in [false, true] {
        let (gate, counters, database) = limit_of_one_under_count_seven().await;
        lock(&database.held).insert(CustomerId::parse("alice").unwrap(), 1);
        gate.admit(&with_key("a-1")).await.unwrap();
        if sold_out {
            lock(&database.available).insert(ProductId(1), 0);
        } else {
            *lock(&database.moved_while_read) = Some(counters.clone());
        }
        gate.admit(&with_key("a-2")).await.unwrap();
        gate.heal_limits(Instant::now()).await.unwrap();
        let answer = gate.admit(&with_key("a-3")).await.unwrap();
        assert_ne!(answer, REMEMBERED, "sold out: {sold_out}");
    }
}

#[tokio::test]
async fn customers_the_counters_refuse_for_their_limit_are_remembered_by_the_next_look_not_the_keeper_s_step()
 {
    let (gate, counters, database) = limit_of_one_under_count_seven().await;
    let alice = CustomerId::parse("alice").unwrap();
    gate.admit(&with_key("a-1")).await.unwrap();
    lock(&database.held).insert(alice.clone(), 1);
    lock(&database.keys).insert(alice, vec![IdempotencyKey::parse("a-1").unwrap()]);
    let refused = GateAnswer::LimitExceeded { may_be_retry: true };
    assert_eq!(gate.admit(&with_key("a-2")).await.unwrap(), refused);
    let woken = tokio::time::timeout(Duration::from_secs(5), gate.refused_at_limit());
    woken.await.expect("the refusal wakes the look");
    gate.remember_refused(Instant::now()).await.unwrap();
    let asked = counters.admits.load(Ordering::SeqCst);
    assert_eq!(gate.admit(&with_key("a-3")).await.unwrap(), REMEMBERED);
    assert_eq!(counters.admits.load(Ordering::SeqCst), asked);
    // Nobody new was refused: the next look has no one to look at and nothing wakes it.
    let idle = tokio::time::timeout(Duration::from_millis(1), gate.refused_at_limit());
    assert!(idle.await.is_err(), "a wake-up without a refusal");
}

#[tokio::test]
async fn a_customer_below_the_limit_in_the_database_is_not_remembered() {
    let (gate, _, _) = limit_of_one_under_count_seven().await;
    // Admitted, never written: the gate counts alice at the limit, the database does not.
    gate.admit(&ticket(1)).await.unwrap();
    let refused = GateAnswer::LimitExceeded { may_be_retry: true };
    assert_eq!(gate.admit(&ticket(1)).await.unwrap(), refused);
    gate.heal_limits(Instant::now()).await.unwrap();
    assert_eq!(gate.admit(&ticket(1)).await.unwrap(), refused);
    assert_eq!(gate.stats().limits_from_memory.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_count_that_moves_between_looks_is_left_alone() {
    let (gate, counters, database) = gate(&[(1, 5)]);
    gate.rebuild_all().await.unwrap();
    *lock(&counters.limit) = Some(1);
    let alice = CustomerId::parse("alice").unwrap();
    gate.admit(&ticket(1)).await.unwrap();
    assert_eq!(
        gate.admit(&ticket(1)).await.unwrap(),
        GateAnswer::LimitExceeded { may_be_retry: true }
    );
    assert_eq!(gate.heal_limits(Instant::now()).await.unwrap(), 0);
    // The write was in flight at the first look and landed before the second.
    lock(&database.held).insert(alice.clone(), 1);
    assert_eq!(gate.heal_limits(Instant::now()).await.unwrap(), 0);
    assert_eq!(
        gate.heal_limits(Instant::now()).await.unwrap(),
        0,
        "nothing left to doubt"
    );
    assert_eq!(lock(&counters.held).get(&alice), Some(&1));
}
