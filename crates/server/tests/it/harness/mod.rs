//! Test support: real flashgate instances on port 0 sharing one fresh database, an HTTP client speaking
//! to them, direct reads of the database, and a way to fire many requests at the same instant.

#[macro_use]
mod instantiate;
pub mod api;
pub mod database;

use figment::Figment;
use figment::providers::{Format, Serialized, Toml};
use figment::value::Value;
use flashgate::Application;
use flashgate::config::{DEFAULTS, Settings};
use flashgate::state::AppState;
use flashgate::workers::expirer::Expirer;
use flashgate_core::audit::AuditReport;
use flashgate_core::product::Stock;
use flashgate_core::{Clock, ProductId, Strategy, SystemClock};
use flashgate_store::testing::TestDatabase;
use futures_util::future::join_all;
use std::future::Future;
use std::sync::Arc;
use tokio::sync::{Barrier, Semaphore, SemaphorePermit};
use tokio_util::sync::CancellationToken;

pub use api::{Answer, Api};
pub use database::{Direct, StockLock};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

/// How to start a test's service: which backend and strategy, how many instances, which clock, and any
/// setting to override (`key` in figment's dotted form, e.g. `inventory.hold_seconds`).
pub struct Spawn {
    backend: Backend,
    instances: usize,
    clock: Arc<dyn Clock>,
    overrides: Vec<(String, Value)>,
}

impl Spawn {
    pub fn new(backend: Backend) -> Self {
        let spawn = Self {
            backend,
            instances: 1,
            clock: Arc::new(SystemClock),
            overrides: Vec::new(),
        }
        // Workers are driven by the tests through `run_once`; the background loop stays out of the way.
        .set("expirer.interval_ms", 3_600_000);
        match backend {
            // One writer: a burst of purchases queues for it rather than being shed after 3 s.
            Backend::Sqlite => spawn.set("database.acquire_timeout_ms", 10_000),
            Backend::Postgres => spawn,
        }
    }

    pub fn strategy(self, strategy: Strategy) -> Self {
        self.set("inventory.strategy", strategy.as_str())
    }

    pub fn instances(mut self, instances: usize) -> Self {
        self.instances = instances;
        self
    }

    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    pub fn set(mut self, key: &str, value: impl serde::Serialize) -> Self {
        let value = Value::serialize(value).expect("a serialisable setting");
        self.overrides.push((key.to_owned(), value));
        self
    }

    pub async fn start(self) -> TestApp {
        let db = match self.backend {
            Backend::Postgres => TestDatabase::postgres().await,
            Backend::Sqlite => TestDatabase::sqlite(),
        };
        self.start_on(db).await
    }

    /// The settings every instance of this spawn gets, on `db`.
    pub fn settings(&self, db: &TestDatabase) -> Settings {
        let mut figment = Figment::from(Toml::string(DEFAULTS))
            .merge(Serialized::default("listen", "127.0.0.1:0"))
            .merge(Serialized::default("database_url", &db.url))
            // Every test buyer comes from 127.0.0.1 and the crowds are bigger than the purchase slots:
            // rate limits and shedding have their own suite (tests/fastpath).
            .merge(Serialized::default("limits.enabled", false))
            .merge(Serialized::default(
                "shedding.max_concurrent_purchases",
                100_000,
            ))
            .merge(Serialized::default("shedding.queue_budget_ms", 60_000));
        for (key, value) in &self.overrides {
            figment = figment.merge(Serialized::default(key, value));
        }
        Settings::from_figment(figment).expect("valid test settings")
    }

    /// Starts the instances against a database the test prepared itself.
    pub async fn start_on(self, db: TestDatabase) -> TestApp {
        let settings = self.settings(&db);
        let connections =
            u32::try_from(self.instances).unwrap() * settings.database.max_connections;
        let slots = postgres_connections(&db, connections).await;
        let http = Api::client();
        let mut instances = Vec::with_capacity(self.instances);
        // One after the other, so that only the first applies the migrations.
        for _ in 0..self.instances {
            let app = Application::build_with_clock(settings.clone(), self.clock.clone())
                .await
                .expect("the application builds");
            let base = format!("http://{}", app.local_addr().expect("a bound address"));
            let state = app.state().clone();
            let expirer = app.expirer();
            let shutdown = CancellationToken::new();
            tokio::spawn(app.run(shutdown.clone()));
            instances.push(Instance {
                api: Api::new(http.clone(), base, &settings),
                state,
                expirer,
                shutdown,
            });
        }
        TestApp {
            instances,
            db,
            _slots: slots,
        }
    }
}

/// One running flashgate instance.
pub struct Instance {
    pub api: Api,
    pub state: AppState,
    pub expirer: Expirer,
    shutdown: CancellationToken,
}

impl Drop for Instance {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// A test's service: its instances, then the database they share, then its share of the server's
/// connections (dropped in that order).
pub struct TestApp {
    pub instances: Vec<Instance>,
    pub db: TestDatabase,
    _slots: Option<SemaphorePermit<'static>>,
}

/// Connections the PostgreSQL tests of this binary may hold at once: the server allows 100 by default,
/// and tests running in parallel must not starve each other into 503s.
static POSTGRES_CONNECTIONS: Semaphore = Semaphore::const_new(64);

/// Waits until `n` connections to PostgreSQL are free for the test to use (nothing for SQLite).
pub async fn postgres_connections(db: &TestDatabase, n: u32) -> Option<SemaphorePermit<'static>> {
    if !db.is_postgres() {
        return None;
    }
    let n = n.min(64);
    Some(
        POSTGRES_CONNECTIONS
            .acquire_many(n)
            .await
            .expect("the semaphore stays open"),
    )
}

impl TestApp {
    /// The API of instance `i` (modulo the number of instances, so callers can spread load with it).
    pub fn api(&self, i: usize) -> &Api {
        &self.instances[i % self.instances.len()].api
    }

    pub async fn audit(&self) -> AuditReport {
        self.instances[0]
            .state
            .store
            .auditor
            .audit()
            .await
            .expect("the audit runs")
    }

    /// Asserts that every invariant holds, printing the violations when one does not.
    pub async fn assert_audit_clean(&self) -> AuditReport {
        let report = self.audit().await;
        assert!(report.is_clean(), "the audit found violations: {report:#?}");
        report
    }

    /// The product's counters as the store holds them.
    pub async fn stock(&self, product: i64) -> Stock {
        self.instances[0]
            .state
            .store
            .catalog
            .get(ProductId(product))
            .await
            .expect("the catalogue answers")
            .expect("the product exists")
            .stock
    }

    pub async fn direct(&self) -> Direct {
        Direct::connect(&self.db).await
    }
}

/// Runs `n` tasks that each wait at one barrier and then run the future `make(i)` built for them, so
/// that every request is on its way at the same moment; answers come back in task order.
pub async fn all_at_once<F, Fut, T>(n: usize, make: F) -> Vec<T>
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let barrier = Arc::new(Barrier::new(n));
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let work = make(i);
            let barrier = barrier.clone();
            tokio::spawn(async move {
                barrier.wait().await;
                work.await
            })
        })
        .collect();
    join_all(tasks)
        .await
        .into_iter()
        .map(|joined| joined.expect("a request task does not panic"))
        .collect()
}
