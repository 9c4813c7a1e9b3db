//! Prometheus metrics: one process-wide recorder, and named helpers so every call site uses the same
//! metric names and labels. Every metric flashgate exports is listed here; `deploy/grafana/flashgate.json`
//! charts every one of them. The dashboard test (`crates/server/tests/dashboard`) holds the three to
//! each other: every metric the code emits is in this table and every row names one it emits, every row
//! is queried by a panel, and every name a panel queries is exported (found on `/metrics` after a sale,
//! or the table's own name with its type's suffix).
//!
//! | metric | type | labels | what an operator reads from it |
//! |---|---|---|---|
//! | `flashgate_http_requests_total` | counter | `method`, `route` (the template, e.g. `/orders/{id}`; `unmatched` for 404s), `status` | request rate and error ratio per route |
//! | `flashgate_http_request_duration_seconds` | histogram | `method`, `route` | latency per route, including time spent waiting for a purchase slot |
//! | `flashgate_purchases_total` | counter | `strategy`, `outcome` (`created`, `replayed` or the problem code: `sold_out`, `limit_exceeded`, …) | purchase outcomes |
//! | `flashgate_gate_answers_total` | counter | `answer` | the admission gate's admissions and rejections |
//! | `flashgate_gate_rebuilds_total` | counter | — | gates rebuilt from the database |
//! | `flashgate_gate_fallbacks_total` | counter | — | purchases that went to the database because the gate could not answer |
//! | `flashgate_gate_over_admitted_total` | counter | — | admissions the database refused: must stay 0 |
//! | `flashgate_gate_limits_corrected_total` | counter | — | customers' gate counts lowered to the database's (admissions never written) |
//! | `flashgate_gate_limits_from_memory_total` | counter | — | limit refusals answered from the memory of customers the database holds at their limit, without a gate round trip (also counted in `flashgate_gate_answers_total`) |
//! | `flashgate_group_commit_batch_size` | histogram | — | reservations per group-commit transaction |
//! | `flashgate_group_commit_abandoned_total` | counter | — | reservations left out of a batch because their caller was gone |
//! | `flashgate_shed_total` | counter | — | purchases answered 503 `overloaded` |
//! | `flashgate_rate_limited_total` | counter | `policy`, `verdict` (`limited`, or `banned` while in the penalty box) | 429 answers |
//! | `flashgate_cache_reads_total` | counter | `served_by` (`l1`, `l2`, `database`) | product-read cache hits and misses |
//! | `flashgate_redis_degraded` | gauge | — | 1 while Redis is configured and does not answer |
//! | `flashgate_oversold_units` | gauge | — | units held by live and paid orders beyond a product's total: must stay 0 |
//! | `flashgate_orders` | gauge | `status` | orders per status, from the database (`payment_review`: money in doubt, waiting on the gateway or an operator; `payment_review_released`: the same for a released hold whose units were gone, none held; `refund_failed`: money owed to a buyer that the gateway would not refund, waiting on an operator) |
//! | `flashgate_stock_units` | gauge | `state` (`available`, `reserved`, `sold`) | units over every product |
//! | `flashgate_db_pool_connections` | gauge | `pool`, `state` (`idle`, `in_use`, `max`) | database pool occupancy |
//! | `flashgate_dashboard_viewers` | gauge | — | admin dashboards connected |
//! | `flashgate_payment_callbacks_total` | counter | `source` (`ipn`, `return`), `outcome` (the RspCode answered) | gateway callbacks |
//! | `flashgate_gateway_queries_total` | counter | `outcome` | querydr calls |
//! | `flashgate_reconciler_catches_total` | counter | `via` (`reconciler`, `expirer`), `to` | orders settled by asking the gateway: lost or late IPNs caught |
//! | `flashgate_reconciler_undecided_total` | counter | — | gateway answers about one order that could not be decided (that order is asked again later, alone) |
//! | `flashgate_connections_refused_total` | counter | — | connections answered 503 and closed because `http.max_connections` were open |
//! | `flashgate_refund_refusals_total` | counter | — | refunds the gateway refused (each order is asked again later, then handed to an operator) |
//! | `flashgate_payment_settle_lag_seconds` | histogram | `via` (`ipn`, `reconciler`, `expirer`) | time from the gateway taking the money to flashgate recording it |
//! | `flashgate_webhook_deliveries_total` | counter | `outcome` (`delivered`, `failed`: retried later, `given_up`) | webhook attempts |
//! | `flashgate_webhook_lag_seconds` | histogram | — | time from an order event to its delivery's acknowledgement |
//! | `flashgate_webhook_endpoints_disabled_total` | counter | — | endpoints disabled after failing for the whole retry schedule |
//! | `flashgate_events_held_back_seconds` | gauge | — | how long the first event the webhooks have not read yet has waited since it was written (the sale monitor's, every `monitor.idle_interval_ms`): past a few `webhooks.interval_ms` the feed is holding events back, on PostgreSQL behind a transaction that took a transaction id anywhere in the cluster, or no dispatcher runs |
//! | `flashgate_jwks_fetches_total` | counter | `outcome` (`fetched`, `failed`: the last good keys stay in use) | fetches of the shop's JWKS (`auth.jwks_url`) |
//! | `flashgate_jwks_keys` | gauge | — | keys from the shop's JWKS that tokens may name |
//! | `flashgate_buyer_auth_refused_total` | counter | `kind` (`token`, `session`: what the buyer sent), `code` (the 401's: `unauthorized`, `unknown_signing_key`, `algorithm_not_allowed`, `invalid_session`, `session_expired`, `credential_not_accepted`; `unavailable` or `internal_error` when the session store failed) | buyers' credentials refused: forged or revoked sessions, a signing key the shop forgot to configure (a missing or malformed `Authorization` header is not counted) |

use crate::config::Secret;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{LazyLock, OnceLock, RwLock};

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Request latencies are milliseconds to seconds; the default buckets below are for payment lags,
/// which run to minutes.
const HTTP_BUCKETS: [f64; 13] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Installs the recorder once per process (tests build many applications in one process) and returns
/// the handle that renders `/metrics`.
pub fn install() -> Option<PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let handle = PrometheusBuilder::new()
                .set_buckets(&[
                    0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 900.0,
                ])
                .ok()?
                .set_buckets_for_metric(
                    Matcher::Full("flashgate_http_request_duration_seconds".into()),
                    &HTTP_BUCKETS,
                )
                .ok()?
                .install_recorder()
                .ok()?;
            // Counters that must stay 0 are exported from the start, so that "0" and "never
            // exported" are not confused and alerts on them can fire.
            for name in [
                "flashgate_gate_over_admitted_total",
                "flashgate_gate_fallbacks_total",
                "flashgate_gate_rebuilds_total",
                "flashgate_group_commit_abandoned_total",
                "flashgate_shed_total",
                "flashgate_webhook_endpoints_disabled_total",
            ] {
                metrics::counter!(name).absolute(0);
            }
            Some(handle)
        })
        .clone()
}

/// One HTTP request, by the route template that matched it.
pub fn http_request(method: &str, route: &str, status: u16, seconds: f64) {
    let (method, route) = (method.to_owned(), route.to_owned());
    metrics::counter!("flashgate_http_requests_total", "method" => method.clone(), "route" => route.clone(), "status" => status.to_string())
        .increment(1);
    metrics::histogram!("flashgate_http_request_duration_seconds", "method" => method, "route" => route)
        .record(seconds);
}

/// A connection refused because `http.max_connections` were open.
pub fn connection_refused() {
    metrics::counter!("flashgate_connections_refused_total").increment(1);
}

/// A payment callback, by source (`ipn`, `return`) and what it was answered.
pub fn callback(source: &'static str, outcome: &str) {
    metrics::counter!("flashgate_payment_callbacks_total", "source" => source, "outcome" => outcome.to_owned())
        .increment(1);
}

/// A querydr call, by outcome (`paid`, `pending`, `failed`, `rate_limited`, `unreachable`, …).
pub fn gateway_query(outcome: &'static str) {
    metrics::counter!("flashgate_gateway_queries_total", "outcome" => outcome).increment(1);
}

/// An order settled by asking the gateway rather than by its webhook: a lost or late IPN caught.
pub fn reconciler_catch(via: &'static str, to: &str) {
    metrics::counter!("flashgate_reconciler_catches_total", "via" => via, "to" => to.to_owned())
        .increment(1);
}

/// A gateway answer about one order that could not be decided.
pub fn reconciler_undecided() {
    metrics::counter!("flashgate_reconciler_undecided_total").increment(1);
}

/// A refund the gateway refused.
pub fn refund_refused() {
    metrics::counter!("flashgate_refund_refusals_total").increment(1);
}

/// Time from the gateway taking the money to flashgate recording it, by the path that recorded it.
pub fn settle_lag(via: &'static str, lag: time::Duration) {
    metrics::histogram!("flashgate_payment_settle_lag_seconds", "via" => via)
        .record(lag.as_seconds_f64().max(0.0));
}

/// A webhook attempt's outcome.
pub fn webhook_delivery(outcome: &'static str) {
    metrics::counter!("flashgate_webhook_deliveries_total", "outcome" => outcome).increment(1);
}

/// How long the first event not yet fanned out to the webhooks has waited, in seconds.
pub fn events_held_back(seconds: f64) {
    metrics::gauge!("flashgate_events_held_back_seconds").set(seconds);
}

/// Time from an order event to the acknowledgement of its delivery.
pub fn webhook_lag(lag: time::Duration) {
    metrics::histogram!("flashgate_webhook_lag_seconds").record(lag.as_seconds_f64().max(0.0));
}

/// An endpoint disabled after failing for the whole retry schedule.
pub fn webhook_endpoint_disabled() {
    metrics::counter!("flashgate_webhook_endpoints_disabled_total").increment(1);
}

/// A purchase attempt's outcome, by strategy.
pub fn purchase(strategy: &'static str, outcome: &'static str) {
    let count = |counted: &Counted| {
        counted.counter.increment(1);
        counted.since_start.fetch_add(1, Ordering::Relaxed);
    };
    if let Ok(known) = PURCHASES.read()
        && let Some(counted) = known.get(&(strategy, outcome))
    {
        return count(counted);
    }
    let mut known = PURCHASES.write().unwrap_or_else(|e| e.into_inner());
    count(known.entry((strategy, outcome)).or_insert_with(|| Counted {
        counter: metrics::counter!("flashgate_purchases_total", "strategy" => strategy, "outcome" => outcome),
        since_start: AtomicU64::new(0),
    }));
}

/// A request answered 429, by policy; `banned` when the client sits in the penalty box.
pub fn rate_limited(policy: &'static str, banned: bool) {
    let verdict = if banned { "banned" } else { "limited" };
    metrics::counter!("flashgate_rate_limited_total", "policy" => policy, "verdict" => verdict)
        .increment(1);
    RATE_LIMITED.fetch_add(1, Ordering::Relaxed);
}

/// Purchase outcomes by (strategy, outcome): the counter's handle, registered once, and the count
/// since the process started, which the admin dashboard shows (the database knows the rest). A
/// crowd's refusals come thousands a second, and a registry lookup per answer (building and
/// hashing the metric's key) cost more than rendering it. Purchases are only answered by an
/// application, which installs the recorder before it serves, so no handle is taken before it.
static PURCHASES: LazyLock<RwLock<HashMap<Outcome, Counted>>> = LazyLock::new(RwLock::default);

/// (strategy, outcome)
type Outcome = (&'static str, &'static str);

/// 429 answers since the process started, for the dashboard.
static RATE_LIMITED: AtomicU64 = AtomicU64::new(0);

struct Counted {
    counter: metrics::Counter,
    since_start: AtomicU64,
}

/// Purchase rejections by reason and 429 answers since the process started.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct TallySnapshot {
    pub rejections: BTreeMap<&'static str, u64>,
    pub rate_limited: u64,
}

pub fn tally() -> TallySnapshot {
    let mut rejections = BTreeMap::new();
    if let Ok(known) = PURCHASES.read() {
        for (&(_, outcome), counted) in known.iter() {
            if !matches!(outcome, "created" | "replayed") {
                *rejections.entry(outcome).or_default() +=
                    counted.since_start.load(Ordering::Relaxed);
            }
        }
    }
    TallySnapshot {
        rejections,
        rate_limited: RATE_LIMITED.load(Ordering::Relaxed),
    }
}

/// `[metrics]`: where `/metrics` is served and who may read it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsSettings {
    /// A separate address for `/metrics` (an internal network's); empty: the API's own address.
    pub listen: String,
    /// A bearer token `/metrics` asks for, wherever it is served; empty: none.
    pub token: Secret,
}

impl MetricsSettings {
    /// The separate address, if `/metrics` is served apart from the API.
    pub fn listen_addr(&self) -> Option<SocketAddr> {
        self.listen.parse().ok()
    }

    pub fn validate(&self) -> anyhow::Result<()> {
        if !self.listen.is_empty() && self.listen_addr().is_none() {
            anyhow::bail!(
                "metrics.listen: `{}` is not an address such as 10.0.0.5:9090",
                self.listen
            );
        }
        let token = self.token.expose();
        if !token.is_empty() {
            crate::config::within("metrics.token (its length)", token.len(), 16, 4096)?;
        }
        Ok(())
    }
}
