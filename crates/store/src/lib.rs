//! flashgate's storage: every port of `flashgate-core`, each transaction written once over a
//! [`sql::Dialect`] that supplies the connections and the few statements in which the databases differ;
//! each database has its own migrations. PostgreSQL serves production; SQLite (WAL) is the embedded
//! default that needs no server.

mod audit;
mod batch;
mod batch_lite;
mod batch_pg;
mod catalog;
mod error;
mod events;
mod gate_fence;
mod health;
mod leases;
mod order_search;
mod orders;
mod overview;
mod payments;
mod postgres;
mod reservations;
mod rows;
mod sessions;
mod sql;
mod sqlite;
#[cfg(feature = "testing")]
pub mod testing;
mod transitions;
mod webhooks;

use flashgate_core::events::EventFeed;
use flashgate_core::order_search::OrderSearch;
use flashgate_core::ports::GateFence;
use flashgate_core::ports::SaleMonitor;
use flashgate_core::ports::{
    Auditor, Catalog, Health, Leases, OrderQueries, PaymentLog, Products, Reservations, Transitions,
};
use flashgate_core::session::{SessionStore, StaleSessionCopies};
use flashgate_core::webhooks::{WebhookDeliveries, WebhookEndpoints};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub use error::OpenError;

/// Which database a [`Store`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

impl Backend {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Postgres => "postgres",
            Self::Sqlite => "sqlite",
        }
    }
}

/// Pool settings shared by both adapters.
#[derive(Debug, Clone)]
pub struct PoolSettings {
    pub max_connections: u32,
    /// How long a request may wait for a connection before it is answered 503: the pool must never
    /// become an unbounded queue.
    pub acquire_timeout: Duration,
    /// PEM CA certificates trusted for PostgreSQL's TLS besides the built-in roots (`sslmode`
    /// `verify-ca`/`verify-full` against a private CA); like `sslrootcert=` in the URL.
    pub root_ca_file: Option<PathBuf>,
    /// PostgreSQL's URL names a transaction pooler (PgBouncer with `pool_mode = transaction`): every
    /// statement is sent unnamed, and one outside a transaction runs in a transaction of its own.
    pub transaction_pooling: bool,
    /// Where migrations run when they do not run over the pool itself: PostgreSQL directly, behind a
    /// transaction pooler.
    pub migrations_url: Option<String>,
}

impl Default for PoolSettings {
    fn default() -> Self {
        Self {
            max_connections: 16,
            acquire_timeout: Duration::from_secs(3),
            root_ca_file: None,
            transaction_pooling: false,
            migrations_url: None,
        }
    }
}

/// The ports' implementation, generic over the database.
pub(crate) struct SqlStore<D>(D);

/// Every port, backed by one database.
#[derive(Clone)]
pub struct Store {
    pub backend: Backend,
    /// Live product reads.
    pub products: Arc<dyn Products>,
    /// The admin's writes to the catalogue.
    pub catalog: Arc<dyn Catalog>,
    pub reservations: Arc<dyn Reservations>,
    /// The admission gate's fence on the stock rows.
    pub gate_fence: Arc<dyn GateFence>,
    pub orders: Arc<dyn OrderQueries>,
    /// The operator's search over orders and their history.
    pub order_search: Arc<dyn OrderSearch>,
    pub transitions: Arc<dyn Transitions>,
    pub leases: Arc<dyn Leases>,
    pub auditor: Arc<dyn Auditor>,
    pub health: Arc<dyn Health>,
    pub payment_log: Arc<dyn PaymentLog>,
    /// The live sale's aggregates and the pools' occupancy.
    pub monitor: Arc<dyn SaleMonitor>,
    /// Buyers' sessions: every one of them, whether or not Redis keeps copies.
    pub sessions: Arc<dyn SessionStore>,
    /// The session copies on Redis that may be stale.
    pub stale_sessions: Arc<dyn StaleSessionCopies>,
    /// The ledger read as order events, in commit order.
    pub events: Arc<dyn EventFeed>,
    /// The shop's webhook endpoints.
    pub webhooks: Arc<dyn WebhookEndpoints>,
    /// Deliveries of events to them, for the dispatcher.
    pub deliveries: Arc<dyn WebhookDeliveries>,
}

impl Store {
    fn from_adapter<A>(backend: Backend, adapter: A) -> Self
    where
        A: Catalog
            + Products
            + Reservations
            + GateFence
            + OrderQueries
            + OrderSearch
            + Transitions
            + Leases
            + Auditor
            + Health
            + PaymentLog
            + SaleMonitor
            + SessionStore
            + StaleSessionCopies
            + EventFeed
            + WebhookEndpoints
            + WebhookDeliveries
            + 'static,
    {
        let adapter = Arc::new(adapter);
        Self {
            backend,
            products: adapter.clone(),
            catalog: adapter.clone(),
            reservations: adapter.clone(),
            gate_fence: adapter.clone(),
            orders: adapter.clone(),
            order_search: adapter.clone(),
            transitions: adapter.clone(),
            leases: adapter.clone(),
            auditor: adapter.clone(),
            health: adapter.clone(),
            monitor: adapter.clone(),
            payment_log: adapter.clone(),
            sessions: adapter.clone(),
            stale_sessions: adapter.clone(),
            events: adapter.clone(),
            webhooks: adapter.clone(),
            deliveries: adapter,
        }
    }

    /// Opens the database a URL names (`postgres://…` or `sqlite:…`), applying pending migrations when
    /// `migrate` is set.
    pub async fn open(url: &str, pool: &PoolSettings, migrate: bool) -> Result<Self, OpenError> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let db = postgres::Pg::connect(url, pool).await?;
            if migrate {
                db.migrate(pool).await?;
            }
            Ok(Self::from_adapter(Backend::Postgres, SqlStore(db)))
        } else if url.starts_with("sqlite:") {
            let db = sqlite::Lite::connect(url, pool, migrate).await?;
            if migrate {
                db.migrate().await?;
            }
            Ok(Self::from_adapter(Backend::Sqlite, SqlStore(db)))
        } else {
            Err(OpenError::UnsupportedUrl)
        }
    }
}
