//! Every port's contract, checked below HTTP on PostgreSQL and on SQLite alike: each test is an
//! `async fn(Fixture)` that `conformance!` runs once per backend, each run on its own fresh database.
//! Concurrency tests start their tasks together behind a barrier, so they really race.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod catalog;
mod ends;
mod leases;
mod monitor;
mod pooler;
mod records;
mod reservations;
mod stale_gate;
mod transitions;

use flashgate_core::ports::GateSnapshot;
use flashgate_core::purchase::{
    GatedOutcome, GatedReservation, Reservation, ReserveOutcome, StoredAnswer, WriteMode,
};
use flashgate_core::{
    CustomerId, IdempotencyKey, NewProduct, Order, OrderId, OrderStatus, Product, ProductId,
    Quantity, SaleWindow, Sku, Vnd,
};
use flashgate_store::testing::TestDatabase;
use flashgate_store::{PoolSettings, Store};
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use time::OffsetDateTime;
use tokio::sync::Barrier;

/// Runs each named test on PostgreSQL, on PostgreSQL through PgBouncer in transaction pooling mode,
/// and on SQLite.
macro_rules! conformance {
    ($($test:ident),* $(,)?) => {
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $test() {
                    super::$test($crate::Fixture::postgres().await).await;
                }
            )*
        }
        mod pgbouncer {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $test() {
                    super::$test($crate::Fixture::pgbouncer().await).await;
                }
            )*
        }
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $test() {
                    super::$test($crate::Fixture::sqlite().await).await;
                }
            )*
        }
    };
}
pub(crate) use conformance;

pub struct Fixture {
    pub store: Store,
    pub db: TestDatabase,
}

impl Fixture {
    async fn postgres() -> Self {
        let db = TestDatabase::postgres().await;
        Self::open(db.url.clone(), db, PoolSettings::default()).await
    }

    /// The store through PgBouncer; migrations and `plant` go to PostgreSQL directly.
    async fn pgbouncer() -> Self {
        let db = TestDatabase::postgres().await;
        let pool = PoolSettings {
            transaction_pooling: true,
            migrations_url: Some(db.url.clone()),
            ..PoolSettings::default()
        };
        Self::open(db.through_pgbouncer(), db, pool).await
    }

    async fn sqlite() -> Self {
        let db = TestDatabase::sqlite();
        Self::open(db.url.clone(), db, PoolSettings::default()).await
    }

    async fn open(url: String, db: TestDatabase, pool: PoolSettings) -> Self {
        // A generous wait for a connection: the races queue many tasks on a small pool.
        let pool = PoolSettings {
            max_connections: 8,
            acquire_timeout: Duration::from_secs(60),
            ..pool
        };
        let store = Store::open(&url, &pool, true)
            .await
            .unwrap_or_else(|e| panic!("cannot open {url}: {e}"));
        Self { store, db }
    }

    /// A new product with a unique sku.
    pub async fn product(&self, stock: i64, per_customer_limit: Option<i64>) -> Product {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let product = NewProduct {
            sku: Sku::parse(&format!("SKU-{n}")).unwrap(),
            name: format!("Product {n}"),
            price: Vnd::from_stored(100_000),
            stock,
            per_customer_limit,
            window: SaleWindow::default(),
        };
        self.store.catalog.create(&product).await.unwrap()
    }

    /// Runs a SQL statement straight on the database, behind the ports' back.
    pub async fn plant(&self, sql: &str) {
        use sqlx::Connection;
        if self.db.is_postgres() {
            let mut conn = sqlx::PgConnection::connect(&self.db.url).await.unwrap();
            sqlx::query(sql).execute(&mut conn).await.unwrap();
        } else {
            let mut conn = sqlx::SqliteConnection::connect(&self.db.url).await.unwrap();
            sqlx::query(sql).execute(&mut conn).await.unwrap();
        }
    }

    pub async fn reserve(&self, mode: WriteMode, r: &Reservation) -> ReserveOutcome {
        self.store.reservations.reserve(mode, r).await.unwrap()
    }

    /// Reserves, and insists the reservation was written.
    pub async fn created(&self, mode: WriteMode, r: &Reservation) {
        assert_eq!(self.reserve(mode, r).await, ReserveOutcome::Created);
    }

    pub async fn batch(&self, batch: &[GatedReservation]) -> Vec<GatedOutcome> {
        self.store.reservations.reserve_batch(batch).await.unwrap()
    }

    /// The answer stored under a reservation's key.
    pub async fn stored(&self, r: &Reservation) -> Option<StoredAnswer> {
        let lookup = self
            .store
            .reservations
            .lookup(&r.order.customer, &r.idempotency_key);
        lookup.await.unwrap()
    }

    pub async fn orders_of(&self, r: &Reservation) -> Vec<Order> {
        self.store
            .orders
            .list_for(&r.order.customer, 100)
            .await
            .unwrap()
    }

    pub async fn fence(&self, product: ProductId, epoch: i64) -> Option<GateSnapshot> {
        self.store.gate_fence.fence(product, epoch).await.unwrap()
    }

    pub async fn stock(&self, product: &Product) -> (i64, i64, i64) {
        let p = self.store.products.get(product.id).await.unwrap().unwrap();
        (p.stock.available, p.stock.reserved, p.stock.sold)
    }

    pub async fn assert_audit_clean(&self) {
        let report = self.store.auditor.audit().await.unwrap();
        let violations: Vec<_> = report
            .checks
            .iter()
            .filter(|c| !c.violations.is_empty())
            .map(|c| (c.name, c.violations.clone()))
            .collect();
        assert!(violations.is_empty(), "audit found {violations:?}");
    }
}

/// Now, to the microsecond both databases keep.
pub fn now() -> OffsetDateTime {
    let now = OffsetDateTime::now_utc();
    now.replace_nanosecond(now.nanosecond() / 1_000 * 1_000)
        .unwrap()
}

pub fn customer(name: &str) -> CustomerId {
    CustomerId::parse(name).unwrap()
}

/// A reservation of `quantity` units under `key`, held for 15 minutes from `at`; its stored answer
/// names the order, so a replay shows which request won.
pub fn reservation_at(
    product: &Product,
    customer_name: &str,
    quantity: i64,
    key: &str,
    at: OffsetDateTime,
) -> Reservation {
    let id = OrderId::new();
    Reservation {
        order: Order {
            id,
            customer: customer(customer_name),
            product_id: product.id,
            quantity: Quantity::parse(quantity).unwrap(),
            amount: Vnd::from_stored(product.price.get() * quantity),
            status: OrderStatus::PendingPayment,
            created_at: at,
            expires_at: at + time::Duration::minutes(15),
            paid_at: None,
            payment_url: Some(format!("https://pay.example/{id}")),
            gateway_transaction_no: None,
        },
        idempotency_key: IdempotencyKey::parse(key).unwrap(),
        request_hash: format!("hash-{product_id}-{quantity}", product_id = product.id.0),
        answer_status: 201,
        answer_body: format!("{{\"order\":\"{id}\"}}").into_bytes(),
    }
}

pub fn reservation(
    product: &Product,
    customer_name: &str,
    quantity: i64,
    key: &str,
) -> Reservation {
    reservation_at(product, customer_name, quantity, key, now())
}

/// How many of the outcomes are `outcome`.
pub fn count<T: PartialEq>(outcomes: &[T], outcome: &T) -> usize {
    outcomes.iter().filter(|o| *o == outcome).count()
}

/// Runs `n` tasks that all start together, and returns their results in task order.
pub async fn race<T, F, Fut>(n: usize, task: F) -> Vec<T>
where
    T: Send + 'static,
    F: Fn(usize) -> Fut,
    Fut: Future<Output = T> + Send + 'static,
{
    let barrier = Arc::new(Barrier::new(n));
    let handles: Vec<_> = (0..n)
        .map(|i| {
            let barrier = barrier.clone();
            let work = task(i);
            tokio::spawn(async move {
                barrier.wait().await;
                work.await
            })
        })
        .collect();
    let mut results = Vec::with_capacity(n);
    for handle in handles {
        results.push(handle.await.unwrap());
    }
    results
}
