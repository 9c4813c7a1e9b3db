//! Prometheus metrics: one process-wide recorder, and named helpers so every call site uses the same
//! metric names and labels.

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the recorder once per process (tests build many applications in one process) and returns
/// the handle that renders `/metrics`.
pub fn install() -> Option<PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            PrometheusBuilder::new()
                .set_buckets(&[
                    0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 900.0,
                ])
                .ok()?
                .install_recorder()
                .ok()
        })
        .clone()
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

/// Time from the gateway taking the money to flashgate recording it, by the path that recorded it.
pub fn settle_lag(via: &'static str, lag: time::Duration) {
    metrics::histogram!("flashgate_payment_settle_lag_seconds", "via" => via)
        .record(lag.as_seconds_f64().max(0.0));
}

/// A purchase attempt's outcome, by strategy.
pub fn purchase(strategy: &'static str, outcome: &'static str) {
    metrics::counter!("flashgate_purchases_total", "strategy" => strategy, "outcome" => outcome)
        .increment(1);
}
