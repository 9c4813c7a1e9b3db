//! The one way a test starts flashgate: a `Spawn` says which backend, strategy, clock, Redis and
//! settings, and how many instances share the test's database; `start` builds each instance through
//! `flashgate::Application`, exactly as the binary does, on port 0.

use crate::app::{Instance, TestApp};
use crate::redis::RedisProcess;
use figment::Figment;
use figment::providers::{Format, Serialized, Toml};
use figment::value::Value;
use flashgate::config::DEFAULTS;
use flashgate::{Application, Settings};
use flashgate_core::{Clock, ManualClock, Strategy, SystemClock};
use flashgate_shared_state::testing::TestRedis;
use flashgate_store::Store;
use flashgate_store::testing::TestDatabase;
use std::sync::{Arc, Mutex};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

impl Backend {
    /// A fresh, empty database of this kind, owned by the test.
    pub async fn database(self) -> TestDatabase {
        match self {
            Self::Postgres => TestDatabase::postgres().await,
            Self::Sqlite => TestDatabase::sqlite(),
        }
    }
}

type Adapt = Arc<dyn Fn(Store) -> Store + Send + Sync>;

/// How to start a test's service. Settings are the defaults file, then the test's overrides by dotted
/// key (figment's form, e.g. `inventory.hold_seconds`), applied in the order given.
#[derive(Clone)]
pub struct Spawn {
    backend: Backend,
    instances: usize,
    clock: Arc<dyn Clock>,
    adapt: Option<Adapt>,
    overrides: Vec<(String, Value)>,
    through_pgbouncer: bool,
}

/// Server connections PgBouncer keeps per database (`default_pool_size` in `scripts/services.sh`):
/// what instances behind it take of PostgreSQL, whatever their own pools.
const PGBOUNCER_SERVER_POOL: u32 = 10;

impl Spawn {
    pub fn new(backend: Backend) -> Self {
        Self {
            backend,
            instances: 1,
            clock: Arc::new(SystemClock),
            adapt: None,
            overrides: Vec::new(),
            through_pgbouncer: false,
        }
        .set("listen", "127.0.0.1:0")
        .set("log.filter", "warn")
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub fn strategy(self, strategy: Strategy) -> Self {
        self.set("inventory.strategy", strategy.as_str())
    }

    pub fn instances(mut self, instances: usize) -> Self {
        self.instances = instances;
        self
    }

    /// The clock of every instance (a `ManualClock` the test drives, say).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The gate, limits, cache and sessions on the shared Redis (or Redis Cluster), under this test's
    /// own key prefix.
    pub fn redis(self, redis: &TestRedis) -> Self {
        self.set("redis_url", redis.url())
            .set("redis.cluster", redis.is_cluster())
            .set("redis.key_prefix", &redis.prefix)
    }

    /// The gate, limits, cache and sessions on a `redis-server` of the test's own, which it may flush
    /// or kill without disturbing anyone else.
    pub fn private_redis(self, redis: &RedisProcess) -> Self {
        self.set("redis_url", redis.url())
            .set("redis.key_prefix", RedisProcess::PREFIX)
    }

    /// The gate, limits, cache and sessions on a Redis Cluster of the test's own (`url` names its
    /// nodes), which it may fail over or kill.
    pub fn private_redis_cluster(self, url: String) -> Self {
        self.set("redis_url", url)
            .set("redis.cluster", true)
            .set("redis.key_prefix", RedisProcess::PREFIX)
    }

    /// The instances reach the test's PostgreSQL database through PgBouncer in transaction pooling
    /// mode, migrating over a direct connection.
    pub fn through_pgbouncer(mut self) -> Self {
        self.through_pgbouncer = true;
        self.set("database.transaction_pooling", true)
    }

    /// A hook on the store's ports before the service decorates them (to count queries, say).
    pub fn adapt(mut self, adapt: impl Fn(Store) -> Store + Send + Sync + 'static) -> Self {
        self.adapt = Some(Arc::new(adapt));
        self
    }

    /// The expirer, reconciler, refunder and webhook dispatcher run only when the test calls them; the
    /// reconciler may ask about an order at once; the bundled simulator retries IPNs quickly and
    /// answers every query.
    pub fn workers_on_demand(self) -> Self {
        self.set("expirer.interval_ms", 3_600_000)
            .set("reconciler.tick_ms", 3_600_000)
            .set("webhooks.interval_ms", 3_600_000)
            .set("reconciler.first_poll_after_seconds", 0)
            .set("reconciler.min_poll_interval_seconds", 1)
            .set("vnpay.sim_ipn_retry_ms", 30)
            .set("vnpay.sim_querydr_min_interval_ms", 0)
    }

    /// Overrides one setting; a later `set` of the same key wins.
    pub fn set(mut self, key: &str, value: impl serde::Serialize) -> Self {
        let value = Value::serialize(value).expect("a serialisable setting");
        self.overrides.push((key.to_owned(), value));
        self
    }

    /// The settings every instance of this spawn gets, on `db`.
    pub fn settings(&self, db: &TestDatabase) -> Settings {
        let mut figment = Figment::from(Toml::string(DEFAULTS));
        figment = if self.through_pgbouncer {
            figment
                .merge(Serialized::default("database_url", db.through_pgbouncer()))
                .merge(Serialized::default("database.migrations_url", &db.url))
        } else {
            figment.merge(Serialized::default("database_url", &db.url))
        };
        for (key, value) in &self.overrides {
            figment = figment.merge(Serialized::default(key, value));
        }
        Settings::from_figment(figment).expect("valid test settings")
    }

    /// Starts the instances on a fresh database of the spawn's backend.
    pub async fn start(self) -> TestApp {
        let db = self.backend.database().await;
        self.start_on(db).await
    }

    /// Starts the instances on a database the test prepared itself.
    pub async fn start_on(self, db: TestDatabase) -> TestApp {
        let mut instances = Vec::with_capacity(self.instances);
        // One after the other, so that only the first applies the migrations.
        for _ in 0..self.instances {
            instances.push(self.instance(&db).await);
        }
        TestApp { instances, db }
    }

    /// One more instance on `db`, which the test keeps (instances of different settings side by side).
    pub async fn instance(&self, db: &TestDatabase) -> Instance {
        let settings = self.settings(db);
        let wanted = if self.through_pgbouncer {
            PGBOUNCER_SERVER_POOL.div_ceil(self.instances as u32)
        } else {
            settings.database.max_connections
        };
        let slots = crate::app::postgres_connections(db, wanted).await;
        // The store's own ports, kept before the test's hook and the service's decorators (cache,
        // gate) wrap them: what the test reads through them is what the database holds.
        let own = Arc::new(Mutex::new(None));
        let (keep, adapt) = (own.clone(), self.adapt.clone());
        let app = Application::build_with_store(settings, self.clock.clone(), move |store| {
            *keep.lock().unwrap() = Some(store.clone());
            match &adapt {
                Some(adapt) => adapt(store),
                None => store,
            }
        })
        .await
        .expect("the application builds");
        let store = own.lock().unwrap().take().expect("the store was opened");
        Instance::run(app, store, slots)
    }
}

/// A clock the test moves by hand, starting now.
pub fn manual_clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(time::OffsetDateTime::now_utc()))
}
