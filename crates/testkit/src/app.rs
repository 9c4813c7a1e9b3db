//! A test's running service: its instances (each serving on port 0 until dropped, with handles on the
//! workers the test drives itself) and the database they share.

use crate::api::Api;
use crate::database::Direct;
use flashgate::Application;
use flashgate::state::AppState;
use flashgate::webhooks::dispatcher::Dispatcher;
use flashgate::workers::expirer::Expirer;
use flashgate::workers::gate_keeper::GateKeeper;
use flashgate::workers::reconciler::Reconciler;
use flashgate::workers::refunder::Refunder;
use flashgate_core::audit::AuditReport;
use flashgate_core::product::Stock;
use flashgate_core::{Order, OrderId, ProductId};
use flashgate_store::Store;
use flashgate_store::testing::TestDatabase;
use serde_json::Value;
use std::collections::BTreeSet;
use tokio::sync::{Semaphore, SemaphorePermit};
use tokio_util::sync::CancellationToken;
use vnpay_sim::SimHandle;

/// One running flashgate instance; it stops when dropped.
pub struct Instance {
    pub api: Api,
    pub state: AppState,
    /// The store's own ports, undecorated: reads through them are what the database holds.
    pub store: Store,
    pub expirer: Expirer,
    pub reconciler: Reconciler,
    pub refunder: Refunder,
    pub keeper: GateKeeper,
    /// The webhook dispatcher, for tests that drive it.
    pub dispatcher: Dispatcher,
    /// The bundled VNPay simulator, when it stands in for the gateway (the defaults).
    pub sim: Option<SimHandle>,
    /// Where `/metrics` is served apart from the API (`metrics.listen`), if it is.
    pub metrics: Option<std::net::SocketAddr>,
    shutdown: CancellationToken,
    _slots: Option<SemaphorePermit<'static>>,
}

impl Instance {
    pub(crate) fn run(
        app: Application,
        store: Store,
        slots: Option<SemaphorePermit<'static>>,
    ) -> Self {
        let state = app.state().clone();
        let base = format!("http://{}", app.local_addr().expect("a bound address"));
        let instance = Self {
            api: Api::new(base, &state),
            expirer: app.expirer(),
            reconciler: app.reconciler(),
            refunder: app.refunder(),
            keeper: app.keeper(),
            dispatcher: app.dispatcher(),
            sim: app.simulator(),
            metrics: app.metrics_addr(),
            state,
            store,
            shutdown: CancellationToken::new(),
            _slots: slots,
        };
        tokio::spawn(app.run(instance.shutdown.clone()));
        instance
    }

    /// The bundled simulator; panics when a real gateway is configured.
    pub fn sim(&self) -> &SimHandle {
        self.sim
            .as_ref()
            .expect("the default configuration mounts the simulator")
    }

    /// Runs every invariant check on the instance's database and asserts that none found a violation.
    pub async fn assert_audit_clean(&self) -> AuditReport {
        assert_audit_clean(&self.store).await
    }

    /// The product's counters as the store holds them.
    pub async fn stock(&self, product: i64) -> Stock {
        self.store
            .products
            .get(ProductId(product))
            .await
            .expect("the catalogue answers")
            .expect("the product exists")
            .stock
    }

    /// The order behind an answer of `POST /orders`, as the store holds it.
    pub async fn order(&self, answer: &Value) -> Order {
        self.store
            .orders
            .get(OrderId(crate::api::order_uuid(answer)))
            .await
            .expect("the store answers")
            .expect("the order exists")
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// Runs every invariant check on `store`'s database and asserts that none found a violation.
pub async fn assert_audit_clean(store: &Store) -> AuditReport {
    let report = store.auditor.audit().await.expect("the audit runs");
    let failed: Vec<_> = report
        .checks
        .iter()
        .filter(|check| !check.violations.is_empty())
        .collect();
    assert!(failed.is_empty(), "the audit found violations: {failed:#?}");
    report
}

/// A test's service: its instances, then the database they share (dropped in that order).
pub struct TestApp {
    pub instances: Vec<Instance>,
    pub db: TestDatabase,
}

impl TestApp {
    /// Instance `i` (modulo the number of instances, so callers can spread load with it).
    pub fn instance(&self, i: usize) -> &Instance {
        &self.instances[i % self.instances.len()]
    }

    /// The API of instance `i`, modulo the number of instances.
    pub fn api(&self, i: usize) -> &Api {
        &self.instance(i).api
    }

    pub async fn assert_audit_clean(&self) -> AuditReport {
        self.instance(0).assert_audit_clean().await
    }

    pub async fn stock(&self, product: i64) -> Stock {
        self.instance(0).stock(product).await
    }

    pub async fn direct(&self) -> Direct {
        Direct::connect(&self.db).await
    }
}

/// Connections the PostgreSQL tests of one binary may hold at once: the server allows 100 by default,
/// and tests running in parallel must not starve each other into 503s.
const POSTGRES_BUDGET: u32 = 64;
static POSTGRES_CONNECTIONS: Semaphore = Semaphore::const_new(POSTGRES_BUDGET as usize);

/// Databases whose test already waited for its share of the budget.
static WAITED: std::sync::Mutex<BTreeSet<String>> = std::sync::Mutex::new(BTreeSet::new());

/// Waits until `n` connections to PostgreSQL are free for the test to use (nothing for SQLite).
/// Only a test's first instance waits: a test that already holds part of the budget takes what
/// is free for its next instances and never waits again, since two tests each holding part of
/// it and waiting for the rest would wait for each other forever.
pub async fn postgres_connections(db: &TestDatabase, n: u32) -> Option<SemaphorePermit<'static>> {
    if !db.is_postgres() {
        return None;
    }
    let n = n.min(POSTGRES_BUDGET);
    let first = WAITED
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .insert(db.url.clone());
    if first {
        Some(
            POSTGRES_CONNECTIONS
                .acquire_many(n)
                .await
                .expect("the semaphore stays open"),
        )
    } else {
        POSTGRES_CONNECTIONS.try_acquire_many(n).ok()
    }
}
