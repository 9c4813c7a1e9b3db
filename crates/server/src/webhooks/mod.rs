//! Telling the shop by webhook: endpoints are kept through the admin API (`http::webhooks`), and the
//! dispatcher (`dispatcher`) fans the ledger's events out to them and delivers each at least once,
//! in sequence per order, signed as Standard Webhooks says (`signature`), only to public addresses
//! unless told otherwise (`target`).

pub mod dispatcher;
pub mod signature;
pub mod target;

use crate::config::within;
use serde::Deserialize;
use serde_with::{DurationMilliSeconds, DurationSeconds, serde_as};
use std::time::Duration;

/// `[webhooks]`.
#[serde_as]
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSettings {
    /// How often each instance's dispatcher looks for events and due deliveries.
    #[serde_as(as = "DurationMilliSeconds<u64>")]
    #[serde(rename = "interval_ms")]
    pub interval: Duration,
    /// Events fanned out, and deliveries claimed, per step.
    pub batch: i64,
    /// How long a claim keeps other instances off a delivery: longer than a send may take.
    #[serde_as(as = "DurationSeconds<u64>")]
    #[serde(rename = "lease_seconds")]
    pub lease: Duration,
    /// How long an endpoint may take to answer, connection included.
    #[serde_as(as = "DurationMilliSeconds<u64>")]
    #[serde(rename = "timeout_ms")]
    pub timeout: Duration,
    /// How much of an endpoint's answer is read; the rest is dropped.
    pub max_response_bytes: usize,
    /// The waits before each retry of a failed delivery, each stretched or shrunk by up to a tenth
    /// at random; after the last one fails the endpoint is disabled.
    #[serde_as(as = "Vec<DurationMilliSeconds<u64>>")]
    #[serde(rename = "retry_schedule_ms")]
    pub retry_schedule: Vec<Duration>,
    /// How long a rotated-out secret keeps signing beside the new one.
    #[serde_as(as = "DurationSeconds<u64>")]
    #[serde(rename = "previous_secret_seconds")]
    pub previous_secret: Duration,
    /// Whether endpoints may be on loopback or private addresses (and plain http). Unset: only when
    /// flashgate is not exposed (`Settings::private_webhook_targets_allowed`: development).
    #[serde(default)]
    pub allow_private_targets: Option<bool>,
    /// PEM CA certificates trusted for endpoints besides the system's roots; empty: none.
    pub root_ca_file: String,
    /// How long an acknowledged delivery is kept (the event itself stays in the ledger).
    #[serde_as(as = "DurationSeconds<u64>")]
    #[serde(rename = "delivered_retention_seconds")]
    pub delivered_retention: Duration,
}

impl WebhookSettings {
    pub fn validate(&self) -> anyhow::Result<()> {
        let (ms, second, day) = (
            Duration::from_millis(1),
            Duration::from_secs(1),
            Duration::from_secs(24 * 3600),
        );
        within(
            "webhooks.interval_ms",
            self.interval,
            ms,
            Duration::from_secs(3600),
        )?;
        within("webhooks.batch", self.batch, 1, 10_000)?;
        within("webhooks.lease_seconds", self.lease, second, day)?;
        within(
            "webhooks.timeout_ms",
            self.timeout,
            ms,
            Duration::from_secs(300),
        )?;
        within(
            "webhooks.max_response_bytes",
            self.max_response_bytes,
            0,
            16 << 20,
        )?;
        within(
            "webhooks.retry_schedule_ms",
            self.retry_schedule.len(),
            0,
            50,
        )?;
        for wait in &self.retry_schedule {
            within("webhooks.retry_schedule_ms", *wait, ms, 7 * day)?;
        }
        within(
            "webhooks.previous_secret_seconds",
            self.previous_secret,
            Duration::ZERO,
            30 * day,
        )?;
        within(
            "webhooks.delivered_retention_seconds",
            self.delivered_retention,
            second,
            365 * day,
        )?;
        crate::tls::root_ca("webhooks.root_ca_file", &self.root_ca_file)?;
        Ok(())
    }
}
