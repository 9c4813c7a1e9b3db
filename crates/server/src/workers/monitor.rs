//! The sale monitor: once a tick it reads the live sale from the database (counts that one instance
//! keeps up to date for all, at a cost that does not grow with the number of orders, however many
//! dashboards watch), hands the snapshot to every connected admin dashboard and sets the gauges that
//! come from the database and the pools.

use crate::config::within;
use crate::metrics::{self, TallySnapshot};
use crate::shared::SharedState;
use flashgate_core::overview::{ProductStock, SaleOverview};
use flashgate_core::ports::SaleMonitor;
use flashgate_core::webhooks::{DeliveryHealth, WebhookDeliveries};
use flashgate_core::{Clock, StoreError};
use serde::Deserialize;
use serde::Serialize;
use serde_with::{DurationMilliSeconds, serde_as};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use time::OffsetDateTime;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// What a dashboard receives each tick.
#[derive(Debug, Clone, Serialize)]
pub struct SaleSnapshot {
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub products: Vec<ProductStock>,
    /// Orders per status, every status included.
    pub orders: BTreeMap<&'static str, i64>,
    pub orders_total: i64,
    /// Orders created per second since the previous tick.
    pub orders_per_second: f64,
    /// Paid settlements by the path that made them (`ipn`, `reconciler`, `expirer`, `other`).
    pub settlements: BTreeMap<&'static str, i64>,
    pub oversold: i64,
    /// Rejections and 429s answered by this instance since it started.
    #[serde(flatten)]
    pub tally: TallySnapshot,
    pub webhooks: WebhookHealth,
}

/// How the shop's webhooks are doing.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct WebhookHealth {
    pub endpoints: i64,
    /// Disabled by an operator or after failing for the whole retry schedule.
    pub disabled_endpoints: i64,
    /// Deliveries not yet acknowledged, of which `retrying` have failed at least once.
    pub pending: i64,
    pub retrying: i64,
    /// Given up on (their endpoints were disabled).
    pub failed: i64,
    /// How long the oldest pending event has waited, in seconds.
    pub oldest_pending_seconds: f64,
    /// How long the first event not yet fanned out to the endpoints has waited since it was written,
    /// in seconds: past a few `webhooks.interval_ms`, the feed holds events back (on PostgreSQL, a
    /// transaction anywhere in the cluster that took a transaction id before them is still open) or
    /// no dispatcher runs.
    pub feed_held_back_seconds: f64,
}

impl WebhookHealth {
    fn of(h: &DeliveryHealth, now: OffsetDateTime) -> Self {
        let waited = |since: Option<OffsetDateTime>| {
            since.map_or(0.0, |at| (now - at).as_seconds_f64().max(0.0))
        };
        Self {
            endpoints: h.endpoints,
            disabled_endpoints: h.disabled_endpoints,
            pending: h.pending,
            retrying: h.retrying,
            failed: h.failed,
            oldest_pending_seconds: waited(h.oldest_pending_at),
            feed_held_back_seconds: waited(h.unread_event_at),
        }
    }
}

#[derive(Clone)]
pub struct Monitor {
    store: Arc<dyn SaleMonitor>,
    deliveries: Arc<dyn WebhookDeliveries>,
    fast: Arc<SharedState>,
    clock: Arc<dyn Clock>,
    snapshots: Arc<watch::Sender<Option<Arc<SaleSnapshot>>>>,
    /// When and at what order count the previous snapshot was taken, for orders per second.
    previous: Arc<Mutex<Option<(OffsetDateTime, i64)>>>,
    last_read: Arc<Mutex<Option<Instant>>>,
    /// Cancelled at shutdown so that open event streams end and do not hold the drain up.
    closing: CancellationToken,
}

impl Monitor {
    pub fn new(
        store: Arc<dyn SaleMonitor>,
        deliveries: Arc<dyn WebhookDeliveries>,
        fast: Arc<SharedState>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            store,
            deliveries,
            fast,
            clock,
            snapshots: Arc::new(watch::channel(None).0),
            previous: Arc::default(),
            last_read: Arc::default(),
            closing: CancellationToken::new(),
        }
    }

    /// A dashboard's view of the snapshots: the latest at once, then each new one.
    pub fn subscribe(&self) -> watch::Receiver<Option<Arc<SaleSnapshot>>> {
        self.snapshots.subscribe()
    }

    pub fn viewers(&self) -> usize {
        self.snapshots.receiver_count()
    }

    pub fn closing(&self) -> CancellationToken {
        self.closing.clone()
    }

    pub fn close(&self) {
        self.closing.cancel();
    }

    /// Reads the sale as of now, sets the gauges and hands the snapshot to the dashboards.
    pub async fn run_once(&self) -> Result<Arc<SaleSnapshot>, StoreError> {
        self.read(Duration::ZERO).await
    }

    /// Reads the sale with figures no older than `fresh_for` (another instance may have brought
    /// them up to date), sets the gauges and hands the snapshot to the dashboards.
    async fn read(&self, fresh_for: Duration) -> Result<Arc<SaleSnapshot>, StoreError> {
        self.publish_process_gauges();
        // Freshness is a matter of load, not of the sale's time: it is measured on the wall clock
        // (shared by the instances), so a driven clock that stands still never freezes the figures.
        let overview = (self.store)
            .overview(OffsetDateTime::now_utc(), fresh_for)
            .await?;
        if let Ok(mut last) = self.last_read.lock() {
            *last = Some(Instant::now());
        }
        publish_sale_gauges(&overview);
        let webhooks = self.deliveries.health().await?;
        let snapshot = Arc::new(self.snapshot(overview, &webhooks));
        metrics::events_held_back(snapshot.webhooks.feed_held_back_seconds);
        self.snapshots.send_replace(Some(snapshot.clone()));
        Ok(snapshot)
    }

    /// A step of the background loop, ticking every `tick`: the database is read every tick while a
    /// dashboard watches, and every `idle` otherwise (the oversold gauge still needs it); the cheap
    /// gauges every tick.
    pub async fn run_if_due(&self, tick: Duration, idle: Duration) -> Result<(), StoreError> {
        let stale = self
            .last_read
            .lock()
            .map(|last| last.is_none_or(|at| at.elapsed() >= idle))
            .unwrap_or(true);
        // Figures another instance folded within half a period are as good as this one's own; a
        // whole period would let timing jitter skip this instance's fold every other tick.
        if self.viewers() > 0 {
            self.read(tick / 2).await.map(|_| ())
        } else if stale {
            self.read(idle / 2).await.map(|_| ())
        } else {
            self.publish_process_gauges();
            Ok(())
        }
    }

    fn snapshot(&self, overview: SaleOverview, webhooks: &DeliveryHealth) -> SaleSnapshot {
        let at = self.clock.now();
        let orders_total = overview.orders();
        let previous = self
            .previous
            .lock()
            .ok()
            .and_then(|mut previous| previous.replace((at, orders_total)));
        let orders_per_second = match previous {
            Some((then, count)) if at > then => {
                (orders_total - count).max(0) as f64 / (at - then).as_seconds_f64()
            }
            _ => 0.0,
        };
        SaleSnapshot {
            at,
            oversold: overview.oversold(),
            orders: overview
                .orders_by_status
                .iter()
                .map(|(status, n)| (status.as_str(), *n))
                .collect(),
            orders_total,
            orders_per_second,
            settlements: overview
                .settlements
                .iter()
                .map(|(path, n)| (path.as_str(), *n))
                .collect(),
            products: overview.products,
            tally: metrics::tally(),
            webhooks: WebhookHealth::of(webhooks, at),
        }
    }

    fn publish_process_gauges(&self) {
        for pool in self.store.pools() {
            for (state, value) in [
                ("idle", pool.idle),
                ("in_use", pool.in_use()),
                ("max", pool.max),
            ] {
                ::metrics::gauge!("flashgate_db_pool_connections", "pool" => pool.pool, "state" => state)
                    .set(f64::from(value));
            }
        }
        let cache = self.fast.products.stats();
        let misses = cache.l2_hits + cache.loads;
        for (served_by, reads) in [
            ("l1", cache.requests.saturating_sub(misses)),
            ("l2", cache.l2_hits),
            ("database", cache.loads),
        ] {
            ::metrics::counter!("flashgate_cache_reads_total", "served_by" => served_by)
                .absolute(reads);
        }
        ::metrics::gauge!("flashgate_dashboard_viewers").set(self.viewers() as f64);
    }
}

fn publish_sale_gauges(overview: &SaleOverview) {
    ::metrics::gauge!("flashgate_oversold_units").set(overview.oversold() as f64);
    for (status, count) in &overview.orders_by_status {
        ::metrics::gauge!("flashgate_orders", "status" => status.as_str()).set(*count as f64);
    }
    let sum = |units: fn(&ProductStock) -> i64| overview.products.iter().map(units).sum::<i64>();
    for (state, units) in [
        ("available", sum(|p| p.available)),
        ("reserved", sum(|p| p.reserved)),
        ("sold", sum(|p| p.sold)),
    ] {
        ::metrics::gauge!("flashgate_stock_units", "state" => state).set(units as f64);
    }
}

/// `[monitor]`: the sale monitor behind the admin dashboard and the database-derived gauges.
#[serde_as]
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MonitorSettings {
    /// A tick while a dashboard watches.
    #[serde_as(as = "DurationMilliSeconds<u64>")]
    #[serde(rename = "interval_ms")]
    pub interval: Duration,
    /// A tick while none does (the gauges still move).
    #[serde_as(as = "DurationMilliSeconds<u64>")]
    #[serde(rename = "idle_interval_ms")]
    pub idle_interval: Duration,
}

impl MonitorSettings {
    pub fn validate(&self) -> anyhow::Result<()> {
        let (ms, hour) = (Duration::from_millis(1), Duration::from_secs(3600));
        within("monitor.interval_ms", self.interval, ms, hour)?;
        within("monitor.idle_interval_ms", self.idle_interval, ms, hour)
    }
}
